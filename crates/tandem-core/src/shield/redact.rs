//! Redaction: applying a policy to what the analyzer found.

use super::{Policy, RestorePolicy, Shield, ShieldError, Span, StreamRestorer, Vault, mask, restore_with};
use crate::text::{OffsetCursor, OffsetUnit};
use std::ops::Range;
use tandem_protocol::{Action, RedactedEntity, Redaction};

/// One entity as handled by [`Redactor::redact`].
#[derive(Debug, Clone, PartialEq)]
pub struct RedactedSpan {
    /// The entity in the original text.
    pub span: Span,
    /// The action the policy chose.
    pub action: Action,
    /// What stands in its place in the redacted text.
    pub replacement: String,
    /// Byte range of `replacement` in the redacted text.
    pub redacted_range: Range<usize>,
}

/// The output of [`Redactor::redact`], with byte offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct Redacted {
    /// The text safe to send.
    pub text: String,
    /// Entities in order of position.
    pub entities: Vec<RedactedSpan>,
}

impl Redacted {
    /// The wire form with offsets in `unit`; `original` is the redacted input.
    pub fn to_wire(&self, original: &str, unit: OffsetUnit) -> Redaction {
        let mut in_original = OffsetCursor::new(original, unit);
        let mut in_redacted = OffsetCursor::new(&self.text, unit);
        let entities = self
            .entities
            .iter()
            .map(|e| RedactedEntity {
                detection: e.span.to_detection(&mut in_original),
                action: e.action,
                replacement: e.replacement.clone(),
                redacted_start: in_redacted.from_byte(e.redacted_range.start),
                redacted_end: in_redacted.from_byte(e.redacted_range.end),
            })
            .collect();
        Redaction {
            text: self.text.clone(),
            entities,
        }
    }
}

/// A redaction session: a shield, a policy and the vault of issued placeholders.
#[derive(Debug, Clone)]
pub struct Redactor {
    shield: Shield,
    policy: Policy,
    restore_policy: RestorePolicy,
    vault: Vault,
}

impl Redactor {
    /// A session redacting every kind.
    pub fn new(shield: Shield) -> Self {
        Self::with_policy(shield, Policy::default())
    }

    /// A session with a policy.
    pub fn with_policy(shield: Shield, policy: Policy) -> Self {
        Self {
            shield,
            policy,
            restore_policy: RestorePolicy::default(),
            vault: Vault::new(),
        }
    }

    /// The shield in use.
    pub fn shield(&self) -> &Shield {
        &self.shield
    }

    /// The policy in use.
    pub fn policy_mut(&mut self) -> &mut Policy {
        &mut self.policy
    }

    /// The placeholders issued so far.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Forgets the issued placeholders (a new conversation).
    pub fn reset(&mut self) {
        self.vault.clear();
    }

    /// Redacts `text` under the policy; placeholders persist for the session.
    pub fn redact(&mut self, text: &str) -> Result<Redacted, ShieldError> {
        self.redact_with(text, Vec::new())
    }

    /// Like [`Self::redact`], with entities a model found merged in (see
    /// [`Shield::analyze_with`]).
    pub fn redact_with(&mut self, text: &str, model_spans: Vec<Span>) -> Result<Redacted, ShieldError> {
        let spans = self.shield.analyze_with(text, model_spans)?;
        self.vault.reserve_literals(text);
        let mut out = String::with_capacity(text.len());
        let mut entities = Vec::with_capacity(spans.len());
        let mut last = 0;
        for span in spans {
            out.push_str(&text[last..span.range.start]);
            let value = span.text(text);
            let action = self.policy.action(span.kind);
            let replacement = match action {
                Action::Redact => self.vault.placeholder(span.kind, value),
                Action::Mask => mask(span.kind, value),
                Action::Allow => value.to_owned(),
            };
            let start = out.len();
            out.push_str(&replacement);
            last = span.range.end;
            entities.push(RedactedSpan {
                redacted_range: start..out.len(),
                span,
                action,
                replacement,
            });
        }
        out.push_str(&text[last..]);
        Ok(Redacted { text: out, entities })
    }

    /// Where replies may get originals back (by default not in links or markup).
    pub fn set_restore_policy(&mut self, policy: RestorePolicy) {
        self.restore_policy = policy;
    }

    /// Restores this session's placeholders in a whole reply (where the restore policy allows).
    pub fn restore(&self, reply: &str) -> String {
        restore_with(reply, &self.vault, self.restore_policy).text
    }

    /// A restorer for a streamed reply, knowing every placeholder issued so far.
    pub fn restorer(&self) -> StreamRestorer {
        StreamRestorer::with_policy(self.vault.clone(), self.restore_policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_protocol::EntityKind;

    const TEXT: &str = "Zoë's card 4111 1111 1111 1111, mail zoë@exemple.fr, again zoë@exemple.fr 🎉, site example.com";

    #[test]
    fn redacts_consistently_and_restores() {
        let mut r = Redactor::new(Shield::default());
        let out = r.redact(TEXT).unwrap();
        assert_eq!(
            out.text,
            "Zoë's card [CARD_1], mail [EMAIL_1], again [EMAIL_1] 🎉, site [URL_1]"
        );
        assert_eq!(r.restore(&out.text), TEXT);
        // Placeholders persist across messages of one session.
        assert_eq!(r.redact("from zoë@exemple.fr").unwrap().text, "from [EMAIL_1]");
        r.reset();
        assert!(r.vault().is_empty());
    }

    #[test]
    fn policies_mask_and_allow() {
        let policy = Policy::default()
            .with(EntityKind::CreditCard, Action::Mask)
            .with(EntityKind::Url, Action::Allow);
        let mut r = Redactor::with_policy(Shield::default(), policy);
        let out = r.redact(TEXT).unwrap();
        assert!(out.text.contains("**** **** **** 1111"));
        assert!(out.text.ends_with("site example.com"));
        assert_eq!(out.entities.len(), 4, "allowed entities are still reported");
    }

    #[test]
    fn offsets_are_right_in_every_unit() {
        let mut r = Redactor::new(Shield::default());
        let out = r.redact(TEXT).unwrap();
        for unit in [OffsetUnit::Utf8, OffsetUnit::Utf16, OffsetUnit::CodePoint] {
            let wire = out.to_wire(TEXT, unit);
            let slice = |s: &str, a: usize, b: usize| -> String {
                match unit {
                    OffsetUnit::Utf8 => s[a..b].to_owned(),
                    OffsetUnit::Utf16 => String::from_utf16(&s.encode_utf16().collect::<Vec<_>>()[a..b]).unwrap(),
                    OffsetUnit::CodePoint => s.chars().skip(a).take(b - a).collect(),
                }
            };
            for (e, core) in wire.entities.iter().zip(&out.entities) {
                assert_eq!(
                    slice(TEXT, e.detection.start, e.detection.end),
                    core.span.text(TEXT),
                    "{unit:?}"
                );
                assert_eq!(
                    slice(&wire.text, e.redacted_start, e.redacted_end),
                    e.replacement,
                    "{unit:?}"
                );
            }
        }
    }
}
