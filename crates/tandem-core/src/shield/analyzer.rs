//! The analyzer: runs recognizers and resolves their proposals.

use super::recognizers;
use super::resolve::resolve;
use super::{Recognizer, Span};
use std::collections::BTreeSet;
use std::sync::Arc;
use tandem_protocol::EntityKind;

/// Tunables of a [`Shield`].
#[derive(Debug, Clone, PartialEq)]
pub struct ShieldConfig {
    /// Pattern spans scoring below this are dropped. Validated matches score
    /// 0.6 and up; shapes that only match with supporting context need it to
    /// pass. (Model spans have their own per-kind thresholds,
    /// [`super::tagging::ModelThresholds`], applied when they are decoded.)
    pub min_score: f32,
    /// Inputs longer than this (bytes) are refused with
    /// [`ShieldError::InputTooLarge`] instead of being processed.
    pub max_input_bytes: usize,
}

impl Default for ShieldConfig {
    fn default() -> Self {
        Self {
            min_score: 0.5,
            max_input_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Why the shield refused an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShieldError {
    /// The input exceeds [`ShieldConfig::max_input_bytes`].
    #[error("input is {len} bytes, more than the shield's limit of {max} bytes; split it into smaller parts")]
    InputTooLarge {
        /// Input size in bytes.
        len: usize,
        /// The configured limit.
        max: usize,
    },
}

/// Finds PII and secrets in text.
///
/// Cheap to clone (recognizers are shared). `Shield::default()` holds every
/// pattern recognizer in [`recognizers::all`].
#[derive(Clone)]
pub struct Shield {
    recognizers: Vec<Arc<dyn Recognizer>>,
    config: ShieldConfig,
}

impl Default for Shield {
    fn default() -> Self {
        Self::new(ShieldConfig::default())
    }
}

impl std::fmt::Debug for Shield {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.recognizers.iter().map(|r| r.name()).collect();
        f.debug_struct("Shield")
            .field("recognizers", &names)
            .field("config", &self.config)
            .finish()
    }
}

impl Shield {
    /// A shield with every pattern recognizer and the given settings.
    pub fn new(config: ShieldConfig) -> Self {
        Self {
            recognizers: recognizers::all(),
            config,
        }
    }

    /// A shield with no recognizers, to be built up with [`Self::with_recognizer`].
    pub fn empty(config: ShieldConfig) -> Self {
        Self {
            recognizers: Vec::new(),
            config,
        }
    }

    /// Adds a recognizer (e.g. a model-based one for names).
    pub fn with_recognizer(mut self, recognizer: Arc<dyn Recognizer>) -> Self {
        self.recognizers.push(recognizer);
        self
    }

    /// The settings in force.
    pub fn config(&self) -> &ShieldConfig {
        &self.config
    }

    /// The entity kinds this shield can report.
    pub fn kinds(&self) -> BTreeSet<EntityKind> {
        self.recognizers
            .iter()
            .flat_map(|r| r.kinds().iter().copied())
            .collect()
    }

    /// Every entity in `text`, non-overlapping, sorted by position, with
    /// byte offsets.
    pub fn analyze(&self, text: &str) -> Result<Vec<Span>, ShieldError> {
        self.analyze_with(text, Vec::new())
    }

    /// Like [`Self::analyze`], merging in spans a model found in `text`
    /// (e.g. decoded by [`super::tagging::decode`]).
    ///
    /// Pattern spans are resolved first and always win: a validator (Luhn,
    /// mod-97, libphonenumber…) is more reliable than a model where it
    /// applies. A kind that a recognizer of this shield finds by rule
    /// (STREET_ADDRESS, by its grammar) belongs to the rules: the model's
    /// spans of that kind are dropped. On the development set the model's
    /// addresses were 282 false positives (versions, hashes, "Tesla Model 3")
    /// against 5 overlapping a real address. A model span that overlaps a
    /// pattern span is cut around it and keeps its longest remaining piece; model spans then resolve among
    /// themselves like pattern spans (score, length, position). The result
    /// depends only on the inputs, not on their order.
    pub fn analyze_with(&self, text: &str, model_spans: Vec<Span>) -> Result<Vec<Span>, ShieldError> {
        if text.len() > self.config.max_input_bytes {
            return Err(ShieldError::InputTooLarge {
                len: text.len(),
                max: self.config.max_input_bytes,
            });
        }
        let mut spans = Vec::new();
        for recognizer in &self.recognizers {
            recognizer.recognize(text, &mut spans);
        }
        spans.retain(|s| s.score >= self.config.min_score && s.range.start < s.range.end);
        let patterns = resolve(spans);
        let by_rule = self.kinds();
        let mut model: Vec<Span> = model_spans
            .into_iter()
            .filter(|s| s.range.end <= text.len())
            .filter(|s| !by_rule.contains(&s.kind))
            .filter_map(|s| cut_around(text, s, &patterns))
            .collect();
        if model.is_empty() {
            return Ok(patterns);
        }
        model = resolve(model);
        model.extend(patterns);
        model.sort_by_key(|s| s.range.start);
        Ok(model)
    }
}

/// The longest piece of `span` outside every `kept` span (sorted, disjoint),
/// trimmed of whitespace and punctuation; `None` when nothing is left. A span
/// that overlaps nothing is kept as it is (with the dot of "S.L." that
/// `refine` gave it).
fn cut_around(text: &str, span: Span, kept: &[Span]) -> Option<Span> {
    let overlapping = kept
        .iter()
        .filter(|k| k.range.start < span.range.end && k.range.end > span.range.start);
    if overlapping.clone().next().is_none() {
        return Some(span);
    }
    // The longest trimmed piece, the first of equal ones.
    let mut best: Option<std::ops::Range<usize>> = None;
    let mut consider = |piece: std::ops::Range<usize>| {
        if let Some(piece) = super::tagging::trim(text, piece)
            && best.as_ref().is_none_or(|b| piece.len() > b.len())
        {
            best = Some(piece);
        }
    };
    let mut from = span.range.start;
    for k in overlapping {
        if k.range.start > from {
            consider(from..k.range.start);
        }
        from = from.max(k.range.end);
    }
    if from < span.range.end {
        consider(from..span.range.end);
    }
    Some(Span { range: best?, ..span })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_oversized_input_with_a_clear_error() {
        let shield = Shield::new(ShieldConfig {
            max_input_bytes: 10,
            ..Default::default()
        });
        let err = shield.analyze("01234567890").unwrap_err();
        assert!(err.to_string().contains("11 bytes"), "{err}");
        assert!(shield.analyze("0123456789").is_ok());
    }

    #[test]
    fn empty_input_has_no_entities() {
        assert!(Shield::default().analyze("").unwrap().is_empty());
    }

    #[test]
    fn validated_patterns_win_and_model_spans_are_cut_around_them() {
        use crate::shield::tagging::MODEL_RECOGNIZER;
        let text = "Write to Jane Doe jane.doe@example.com today";
        let email = text.find("jane.doe").unwrap();
        // A model span that swallowed the e-mail, and one inside it.
        let model = vec![
            Span::new(EntityKind::Person, 9..email + 8, 0.9, MODEL_RECOGNIZER),
            Span::new(EntityKind::Person, email..email + 8, 0.99, MODEL_RECOGNIZER),
        ];
        let spans = Shield::default().analyze_with(text, model.clone()).unwrap();
        let got: Vec<_> = spans.iter().map(|s| (s.kind, s.text(text))).collect();
        assert_eq!(
            got,
            vec![
                (EntityKind::Person, "Jane Doe"),
                (EntityKind::EmailAddress, "jane.doe@example.com")
            ]
        );
        // Order of the model's proposals does not matter.
        let mut reversed = model;
        reversed.reverse();
        assert_eq!(Shield::default().analyze_with(text, reversed).unwrap(), spans);
    }

    #[test]
    fn a_model_span_that_overlaps_nothing_keeps_its_edges() {
        // refine gave the organization its legal form's dot; only a cut trims
        let text = "Su último día en Distribuciones Levante S.L. será el 15 de julio.";
        let start = text.find("Distribuciones").unwrap();
        let end = text.find(" será").unwrap();
        let model = vec![Span::new(EntityKind::Organization, start..end, 0.9, "ner")];
        let spans = Shield::default().analyze_with(text, model).unwrap();
        assert_eq!(spans[0].text(text), "Distribuciones Levante S.L.");
    }

    #[test]
    fn out_of_range_model_spans_are_dropped_and_model_scores_are_the_models_business() {
        let text = "Jane Doe";
        let model = vec![Span::new(EntityKind::Person, 0..80, 0.9, "ner")];
        assert!(Shield::default().analyze_with(text, model).unwrap().is_empty());
        // The model's own thresholds decided already (tagging::ModelThresholds):
        // min_score, the patterns' knob, does not drop a span it kept.
        let weak = vec![Span::new(EntityKind::Person, 0..8, 0.4, "ner")];
        assert_eq!(Shield::default().analyze_with(text, weak).unwrap().len(), 1);
    }

    #[test]
    fn kinds_found_by_rule_drop_the_models_spans_of_that_kind() {
        let text = "Ship it to 42 Baker Street, London NW1 6XE or to the JSON parser";
        let parser = text.find("JSON parser").unwrap();
        let model = vec![
            Span::new(EntityKind::StreetAddress, parser..parser + 11, 0.9, "ner"),
            Span::new(EntityKind::Location, 11..23, 0.9, "ner"),
        ];
        let got: Vec<_> = Shield::default()
            .analyze_with(text, model)
            .unwrap()
            .iter()
            .map(|s| (s.kind, s.text(text).to_owned()))
            .collect();
        assert_eq!(
            got,
            vec![(EntityKind::StreetAddress, "42 Baker Street, London NW1 6XE".to_owned())]
        );
    }

    #[test]
    fn reports_the_pattern_kinds() {
        let kinds = Shield::default().kinds();
        assert!(kinds.contains(&EntityKind::EmailAddress));
        assert!(kinds.contains(&EntityKind::DateOfBirth));
        assert!(!kinds.contains(&EntityKind::Person));
    }
}
