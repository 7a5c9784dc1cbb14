//! Per-kind policies: redact, mask or allow.

use tandem_protocol::{Action, EntityKind};

/// What to do with each entity kind. Every kind is redacted by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    actions: [Action; EntityKind::ALL.len()],
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            actions: [Action::Redact; EntityKind::ALL.len()],
        }
    }
}

impl Policy {
    /// Sets the action for one kind.
    pub fn set(&mut self, kind: EntityKind, action: Action) -> &mut Self {
        self.actions[index(kind)] = action;
        self
    }

    /// Builder form of [`Self::set`].
    pub fn with(mut self, kind: EntityKind, action: Action) -> Self {
        self.set(kind, action);
        self
    }

    /// The action for `kind`.
    pub fn action(&self, kind: EntityKind) -> Action {
        self.actions[index(kind)]
    }
}

fn index(kind: EntityKind) -> usize {
    EntityKind::ALL.iter().position(|&k| k == kind).unwrap_or(0)
}

/// The partial mask shown for a value under [`Action::Mask`].
///
/// Numbers keep their last four characters and their layout
/// (`**** **** **** 1111`), e-mails their first letter and domain
/// (`j***@example.com`); secrets show nothing of themselves, not even their
/// length.
pub fn mask(kind: EntityKind, value: &str) -> String {
    match kind {
        EntityKind::Secret => "********".to_owned(),
        EntityKind::EmailAddress => match value.rsplit_once('@') {
            Some((local, domain)) => {
                let first = local.chars().next().map(String::from).unwrap_or_default();
                format!("{first}***@{domain}")
            }
            None => keep_last(value, 0),
        },
        EntityKind::CreditCard
        | EntityKind::IbanCode
        | EntityKind::UsSsn
        | EntityKind::PhoneNumber
        | EntityKind::DateOfBirth => keep_last(value, 4),
        _ => keep_last(value, 0),
    }
}

/// Stars every alphanumeric character but the last `keep`, keeping separators.
fn keep_last(value: &str, keep: usize) -> String {
    let total = value.chars().filter(|c| c.is_alphanumeric()).count();
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                seen += 1;
                if seen + keep > total { c } else { '*' }
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_layout_and_last_four() {
        assert_eq!(
            mask(EntityKind::CreditCard, "4111 1111 1111 1111"),
            "**** **** **** 1111"
        );
        assert_eq!(mask(EntityKind::UsSsn, "460-89-9847"), "***-**-9847");
        assert_eq!(mask(EntityKind::EmailAddress, "jane@example.com"), "j***@example.com");
        assert_eq!(mask(EntityKind::Secret, "hunter22"), "********");
        assert_eq!(mask(EntityKind::Url, "a.io"), "*.**");
    }

    #[test]
    fn policy_defaults_to_redact_and_is_settable() {
        let p = Policy::default()
            .with(EntityKind::Url, Action::Allow)
            .with(EntityKind::CreditCard, Action::Mask);
        assert_eq!(p.action(EntityKind::Url), Action::Allow);
        assert_eq!(p.action(EntityKind::CreditCard), Action::Mask);
        assert_eq!(p.action(EntityKind::EmailAddress), Action::Redact);
    }
}
