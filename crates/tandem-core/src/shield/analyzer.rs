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
    /// Spans scoring below this are dropped. Validated matches score 0.6 and
    /// up; shapes that only match with supporting context need it to pass.
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
        Ok(resolve(spans))
    }
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
    fn reports_the_pattern_kinds() {
        let kinds = Shield::default().kinds();
        assert!(kinds.contains(&EntityKind::EmailAddress));
        assert!(kinds.contains(&EntityKind::DateOfBirth));
        assert!(!kinds.contains(&EntityKind::Person));
    }
}
