//! The extension point for finding entities.

use super::Span;

/// Something that finds entities in text.
///
/// The pattern recognizers in [`super::recognizers`] implement it; a
/// model-based recognizer (names, places, organizations) plugs in the same
/// way through [`super::Shield::with_recognizer`].
pub trait Recognizer: Send + Sync {
    /// A short stable name, reported with every span it produces.
    fn name(&self) -> &'static str;

    /// The entity kinds it can produce (used to report coverage).
    fn kinds(&self) -> &'static [tandem_protocol::EntityKind];

    /// Appends every candidate span in `text` to `out`, with its score.
    ///
    /// Must run in time linear in `text.len()` and never panic.
    fn recognize(&self, text: &str, out: &mut Vec<Span>);
}
