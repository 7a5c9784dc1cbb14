//! Scoring entity recognizers against labeled data, routers against
//! known weak/strong model outcomes ([`routing`]), and a local model's
//! answers to simple prompts ([`answers`]).
//!
//! Reads the two formats the field uses, Presidio's JSON (`full_text` with
//! `spans` of `entity_type`/`start_position`/`end_position`) and JSONL
//! lines `{"text", "spans": [{"label", "start", "end"}]}`, with offsets in
//! Unicode code points, and reports span-level precision, recall and F1 per
//! label and micro-averaged, under exact or overlap matching.
//!
//! Labels a system cannot produce are reported apart (as "not covered"),
//! never silently dropped, and predictions of labels the data set does not
//! annotate are counted apart too, since they can be neither right nor
//! wrong against it.

pub mod answers;
mod dataset;
mod metrics;
pub mod routing;

pub use dataset::{DatasetError, Example, LabeledSpan, canonical_label, parse_dataset, spans_from_detections};
pub use metrics::{Counts, MatchMode, Report, score};
