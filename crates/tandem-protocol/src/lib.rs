//! Wire types shared by every Tandem component.
//!
//! This crate is the bottom of the dependency graph (`protocol ← core ← models
//! ← engine ← wasm/cli`, and the edge worker). It holds only plain data types
//! with their serde representation, so that the browser, the CLI and the
//! worker agree on one JSON shape. No logic beyond parsing and naming lives
//! here.

mod entity;
mod shield;

pub use entity::{EntityKind, UnknownEntityKind};
pub use shield::{Action, Detection, RedactedEntity, Redaction};

pub mod openai;
pub mod sealed;
