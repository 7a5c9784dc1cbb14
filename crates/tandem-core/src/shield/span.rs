//! A typed, scored region of text.

use std::ops::Range;
use tandem_protocol::{Detection, EntityKind};

use crate::text::{OffsetCursor, OffsetUnit};

/// A region of the analyzed text that holds an entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// What was found.
    pub kind: EntityKind,
    /// Byte range in the analyzed text (always on char boundaries).
    pub range: Range<usize>,
    /// Confidence in `[0, 1]`.
    pub score: f32,
    /// Name of the recognizer that found it.
    pub recognizer: &'static str,
}

impl Span {
    /// A span; the score is clamped to `[0, 1]`.
    pub fn new(kind: EntityKind, range: Range<usize>, score: f32, recognizer: &'static str) -> Self {
        Self {
            kind,
            range,
            score: score.clamp(0.0, 1.0),
            recognizer,
        }
    }

    /// The covered text.
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        &text[self.range.clone()]
    }

    /// The wire form, with offsets converted by `cursor`.
    pub fn to_detection(&self, cursor: &mut OffsetCursor<'_>) -> Detection {
        Detection {
            kind: self.kind,
            start: cursor.from_byte(self.range.start),
            end: cursor.from_byte(self.range.end),
            score: self.score,
            recognizer: self.recognizer.to_owned(),
        }
    }
}

/// Converts spans (sorted by start) to wire detections in `unit`.
pub fn to_detections(text: &str, spans: &[Span], unit: OffsetUnit) -> Vec<Detection> {
    let mut cursor = OffsetCursor::new(text, unit);
    spans.iter().map(|s| s.to_detection(&mut cursor)).collect()
}
