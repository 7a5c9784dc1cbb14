//! Wire types shared by every Tandem component.
//!
//! This crate is the bottom of the dependency graph (`protocol ← core ← models
//! ← engine ← wasm/cli`, and the edge worker). It holds only plain data types
//! with their serde representation, so that the browser, the CLI and the
//! worker agree on one JSON shape. No logic beyond parsing and naming lives
//! here.
//!
//! * the shield's entities and redactions (crate root);
//! * [`openai`]: the OpenAI chat completion shapes the gateway reads;
//! * [`sealed`]: what travels inside the sealed channel;
//! * [`verify`]: one round of speculative decoding across the link, and
//!   why a round is refused;
//! * [`completions`]: OpenAI's `/v1/completions` with vLLM's
//!   `prompt_logprobs`, through which a verifier reads a serving engine.

mod entity;
mod shield;

pub use entity::{EntityKind, UnknownEntityKind};
pub use shield::{Action, Detection, RedactedEntity, Redaction};

pub mod completions;
pub mod openai;
pub mod sealed;
pub mod verify;
