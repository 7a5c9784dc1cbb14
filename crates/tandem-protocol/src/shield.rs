//! Shapes of shield results as they cross a boundary (JS, JSON, CLI output).

use crate::EntityKind;
use serde::{Deserialize, Serialize};

/// What the shield does with a detected entity of a given kind.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Replace with a typed placeholder (`[EMAIL_1]`) that can be restored later.
    #[default]
    Redact,
    /// Replace with a partial mask (`****1234`); irreversible, nothing is stored.
    Mask,
    /// Leave the value in the text; it is still reported as detected.
    Allow,
}

/// One entity found in a text.
///
/// Offsets are half-open `[start, end)` in the unit of the API that returned
/// it: UTF-16 code units for JavaScript callers, bytes for Rust callers, code
/// points in evaluation files. The API's documentation names the unit.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The entity kind.
    pub kind: EntityKind,
    /// Start offset (inclusive).
    pub start: usize,
    /// End offset (exclusive).
    pub end: usize,
    /// Confidence in `[0, 1]` after validation and context rules.
    pub score: f32,
    /// The recognizer that produced it, for debugging and reports.
    pub recognizer: String,
}

/// One entity as it was handled by redaction.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedactedEntity {
    /// Where the entity was in the original text.
    #[serde(flatten)]
    pub detection: Detection,
    /// What the policy did with it.
    pub action: Action,
    /// The text that now stands in its place (the original, when allowed).
    pub replacement: String,
    /// Start of `replacement` in the redacted text.
    pub redacted_start: usize,
    /// End of `replacement` in the redacted text.
    pub redacted_end: usize,
}

/// The result of redacting one text.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Redaction {
    /// The text safe to send off the device.
    pub text: String,
    /// Every detected entity in order of position, with what was done to it.
    pub entities: Vec<RedactedEntity>,
}
