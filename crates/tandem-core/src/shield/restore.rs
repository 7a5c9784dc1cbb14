//! Putting originals back into a reply, whole or streamed.

use super::Vault;

/// Longest placeholder: `[` + 16 letters + `_` + 9 digits + `]`.
const MAX_PLACEHOLDER: usize = 28;

/// Result of reading a placeholder at the start of a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// A whole placeholder of this many bytes.
    Complete(usize),
    /// The string ends in what may still become a placeholder.
    Partial,
    /// Not a placeholder.
    No,
}

/// Reads the placeholder grammar `[LABEL_N]` (`LABEL` = 1–16 of `A-Z`,
/// `N` = 1–9 digits) at the start of `s`, which starts with `[`.
pub(crate) fn placeholder_len(s: &str) -> Scan {
    let b = s.as_bytes();
    let mut i = 1;
    let letters = b[i.min(b.len())..]
        .iter()
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    i += letters;
    if letters > 16 {
        return Scan::No;
    }
    if i == b.len() {
        return Scan::Partial;
    }
    if letters == 0 || b[i] != b'_' {
        return Scan::No;
    }
    i += 1;
    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    i += digits;
    if digits > 9 {
        return Scan::No;
    }
    if i == b.len() {
        return Scan::Partial;
    }
    if digits > 0 && b[i] == b']' {
        Scan::Complete(i + 1)
    } else {
        Scan::No
    }
}

/// Replaces every placeholder issued by `vault` in `text` with its original.
/// Unknown placeholder-shaped text is left alone.
pub fn restore(text: &str, vault: &Vault) -> String {
    restore_prefix(text, vault, true).0
}

/// Restores `text`; unless `at_end`, stops before a trailing partial
/// placeholder. Returns the output and how many bytes of `text` it consumed.
fn restore_prefix(text: &str, vault: &Vault, at_end: bool) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(offset) = text[i..].find('[') {
        let open = i + offset;
        out.push_str(&text[i..open]);
        match placeholder_len(&text[open..]) {
            Scan::Complete(len) => {
                let token = &text[open..open + len];
                out.push_str(vault.original(token).unwrap_or(token));
                i = open + len;
            }
            Scan::Partial if !at_end && text.len() - open < MAX_PLACEHOLDER => return (out, open),
            Scan::Partial | Scan::No => {
                out.push('[');
                i = open + 1;
            }
        }
    }
    out.push_str(&text[i..]);
    (out, text.len())
}

/// Restores placeholders in a reply that arrives in chunks.
///
/// A placeholder may be split anywhere (`"[EMA"`, `"IL_1]"`); the restorer
/// holds back at most one partial placeholder (≤ 28 bytes) and emits
/// everything else immediately, so streaming stays streaming.
#[derive(Debug, Clone)]
pub struct StreamRestorer {
    vault: Vault,
    pending: String,
}

impl StreamRestorer {
    /// A restorer for placeholders issued by `vault` (a snapshot).
    pub fn new(vault: Vault) -> Self {
        Self {
            vault,
            pending: String::new(),
        }
    }

    /// Feeds one chunk; returns the restored text that is final so far.
    pub fn push(&mut self, chunk: &str) -> String {
        self.pending.push_str(chunk);
        let (out, consumed) = restore_prefix(&self.pending, &self.vault, false);
        self.pending.drain(..consumed);
        out
    }

    /// Ends the stream; returns whatever was held back.
    pub fn finish(&mut self) -> String {
        let (out, _) = restore_prefix(&self.pending, &self.vault, true);
        self.pending.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tandem_protocol::EntityKind;

    fn vault() -> Vault {
        let mut v = Vault::new();
        v.placeholder(EntityKind::EmailAddress, "jo@example.com");
        v.placeholder(EntityKind::PhoneNumber, "+44 20 7946 0958");
        v.placeholder(EntityKind::Person, "Zoë Ñúñez");
        v
    }

    #[test]
    fn grammar() {
        assert_eq!(placeholder_len("[EMAIL_1] x"), Scan::Complete(9));
        assert_eq!(placeholder_len("[EMAIL_"), Scan::Partial);
        assert_eq!(placeholder_len("["), Scan::Partial);
        assert_eq!(placeholder_len("[email_1]"), Scan::No);
        assert_eq!(placeholder_len("[EMAIL_]"), Scan::No);
        assert_eq!(placeholder_len("[_1]"), Scan::No);
    }

    #[test]
    fn restores_known_placeholders_only() {
        let v = vault();
        assert_eq!(
            restore("Mail [EMAIL_1], call [PHONE_1], not [EMAIL_7] or [x] or [EMAIL_1", &v),
            "Mail jo@example.com, call +44 20 7946 0958, not [EMAIL_7] or [x] or [EMAIL_1"
        );
    }

    #[test]
    fn holds_back_only_a_partial_placeholder() {
        let mut r = StreamRestorer::new(vault());
        assert_eq!(r.push("Hi [PER"), "Hi ");
        assert_eq!(r.push("SON_1], [array] ["), "Zoë Ñúñez, [array] ");
        assert_eq!(r.push("EMAIL_1]"), "jo@example.com");
        assert_eq!(r.push(" end ["), " end ");
        assert_eq!(r.finish(), "[");
    }

    proptest! {
        /// Any split of the reply into chunks restores exactly like the whole.
        #[test]
        fn chunking_never_changes_the_result(
            words in proptest::collection::vec(prop_oneof![
                Just("[EMAIL_1]"), Just("[PHONE_1]"), Just("[PERSON_1]"), Just("[EMAIL_9]"),
                Just("["), Just("]"), Just("_1"), Just("EMAIL"), Just(" é "), Just("🎉"), Just("text"),
            ], 0..30),
            cuts in proptest::collection::vec(0usize..200, 0..12),
        ) {
            let v = vault();
            let reply: String = words.concat();
            let mut bounds: Vec<usize> = cuts.into_iter().map(|c| c % (reply.len() + 1)).filter(|&c| reply.is_char_boundary(c)).collect();
            bounds.push(0);
            bounds.push(reply.len());
            bounds.sort_unstable();
            let mut r = StreamRestorer::new(v.clone());
            let mut streamed = String::new();
            for w in bounds.windows(2) {
                streamed += &r.push(&reply[w[0]..w[1]]);
            }
            streamed += &r.finish();
            prop_assert_eq!(streamed, restore(&reply, &v));
        }
    }
}
