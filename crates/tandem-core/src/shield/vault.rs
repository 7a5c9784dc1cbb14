//! The vault: placeholders and the originals they stand for.

use std::collections::{HashMap, HashSet};
use tandem_protocol::EntityKind;

/// Maps placeholders (`[EMAIL_1]`) to original values for one session.
///
/// The same value (after light normalization: case for e-mails, separators
/// for numbers) always gets the same placeholder, so the cloud model sees a
/// consistent conversation. Placeholders that already occur literally in the
/// user's text are never issued, so restoring cannot corrupt the user's own
/// words.
#[derive(Debug, Clone, Default)]
pub struct Vault {
    by_value: HashMap<(EntityKind, String), String>,
    originals: HashMap<String, String>,
    counters: HashMap<EntityKind, u32>,
    reserved: HashSet<String>,
}

impl Vault {
    /// An empty vault.
    pub fn new() -> Self {
        Self::default()
    }

    /// The placeholder for `value`, issuing a new one on first sight.
    pub fn placeholder(&mut self, kind: EntityKind, value: &str) -> String {
        let key = (kind, normalize(kind, value));
        if let Some(existing) = self.by_value.get(&key) {
            return existing.clone();
        }
        let counter = self.counters.entry(kind).or_insert(0);
        let placeholder = loop {
            *counter += 1;
            let candidate = format!("[{}_{}]", kind.placeholder_label(), counter);
            if !self.reserved.contains(&candidate) {
                break candidate;
            }
        };
        self.originals.insert(placeholder.clone(), value.to_owned());
        self.by_value.insert(key, placeholder.clone());
        placeholder
    }

    /// The original behind `placeholder` (with brackets), if this vault issued it.
    pub fn original(&self, placeholder: &str) -> Option<&str> {
        self.originals.get(placeholder).map(String::as_str)
    }

    /// Marks every placeholder-shaped token in `text` as taken.
    pub fn reserve_literals(&mut self, text: &str) {
        let mut rest = text;
        while let Some(open) = rest.find('[') {
            rest = &rest[open..];
            match super::restore::placeholder_len(rest) {
                super::restore::Scan::Complete(len) => {
                    if !self.originals.contains_key(&rest[..len]) {
                        self.reserved.insert(rest[..len].to_owned());
                    }
                    rest = &rest[len..];
                }
                _ => rest = &rest[1..],
            }
        }
    }

    /// How many placeholders were issued.
    pub fn len(&self) -> usize {
        self.originals.len()
    }

    /// True if no placeholder was issued.
    pub fn is_empty(&self) -> bool {
        self.originals.is_empty()
    }

    /// Forgets everything: a new session.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

fn normalize(kind: EntityKind, value: &str) -> String {
    match kind {
        EntityKind::EmailAddress | EntityKind::Url => value.to_lowercase(),
        EntityKind::CreditCard | EntityKind::IbanCode | EntityKind::UsSsn | EntityKind::PhoneNumber => value
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '+')
            .collect::<String>()
            .to_uppercase(),
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_same_placeholder() {
        let mut v = Vault::new();
        let a = v.placeholder(EntityKind::EmailAddress, "Jo@X.com");
        let b = v.placeholder(EntityKind::EmailAddress, "jo@x.com");
        let c = v.placeholder(EntityKind::EmailAddress, "other@x.com");
        let card = v.placeholder(EntityKind::CreditCard, "4111 1111 1111 1111");
        assert_eq!(a, "[EMAIL_1]");
        assert_eq!(a, b);
        assert_eq!(c, "[EMAIL_2]");
        assert_eq!(v.placeholder(EntityKind::CreditCard, "4111-1111-1111-1111"), card);
        assert_eq!(v.original("[EMAIL_1]"), Some("Jo@X.com"));
        assert_eq!(v.original("[EMAIL_9]"), None);
    }

    #[test]
    fn never_issues_a_placeholder_the_user_typed() {
        let mut v = Vault::new();
        v.reserve_literals("see [EMAIL_1] and [CARD_2]");
        assert_eq!(v.placeholder(EntityKind::EmailAddress, "a@b.com"), "[EMAIL_2]");
    }
}
