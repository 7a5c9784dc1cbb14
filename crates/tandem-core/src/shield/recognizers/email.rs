//! EMAIL_ADDRESS: plain addresses and spelled-out ones ("jo dot x at host dot com").

use super::lazy_regex;
use crate::shield::context::near;
use crate::shield::{Recognizer, Span};
use tandem_protocol::EntityKind;

/// Finds e-mail addresses, including obfuscated forms.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmailRecognizer;

// Unicode letters are allowed in both parts (RFC 6531 addresses, IDN
// domains). Repetition is unbounded here (bounded Unicode classes make huge
// automata); lengths are checked after matching.
lazy_regex!(
    PLAIN = r"[\p{L}\p{N}][\p{L}\p{N}._%+\-]*@[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?)*\.\p{L}{2,}\b"
);

// "at" / "dot" written out, bracketed or spoken: "jo [at] x [dot] com", "jo at x dot com".
lazy_regex!(
    SPELLED = r"(?ix)
    \b([a-z0-9][a-z0-9_%+\-]{0,63}(?:(?:\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+|\.)[a-z0-9_%+\-]{1,63}){0,4})
    (\s*[\[({<]\s*at\s*[\])}>]\s*|\s+at\s+)
    ([a-z0-9\-]{1,63}(?:(?:\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+|\.)[a-z0-9\-]{1,63}){1,4})\b"
);

/// Top-level domains accepted in spelled-out addresses (which have no `@`
/// to prove they are addresses, so the domain must look real).
const SPELLED_TLDS: &[&str] = &[
    "com", "org", "net", "edu", "gov", "mil", "int", "io", "co", "ai", "app", "dev", "info", "biz", "me", "uk", "us",
    "de", "fr", "es", "it", "nl", "be", "ch", "at", "se", "no", "dk", "fi", "pl", "cz", "pt", "ie", "ru", "ua", "jp",
    "cn", "in", "br", "mx", "ca", "au", "nz", "za", "eu", "hu", "gr", "ro", "tr", "il", "kr",
];

const CONTEXT: &[&str] = &["email", "e-mail", "mail", "contact", "write to", "reach me", "address"];

impl Recognizer for EmailRecognizer {
    fn name(&self) -> &'static str {
        "email"
    }

    fn kinds(&self) -> &'static [EntityKind] {
        &[EntityKind::EmailAddress]
    }

    fn recognize(&self, text: &str, out: &mut Vec<Span>) {
        for m in PLAIN.find_iter(text) {
            let local = &m.as_str()[..m.as_str().find('@').unwrap_or(0)];
            let tld = m.as_str().rsplit('.').next().unwrap_or("");
            if local.ends_with('.')
                || local.contains("..")
                || local.len() > 64
                || m.as_str().len() > 254
                || tld.chars().count() > 24
            {
                continue;
            }
            // A '.' right before the match means we cut a longer local part.
            if text[..m.start()].ends_with(|c: char| c == '.' || super::is_word_char(c)) {
                continue;
            }
            // `scheme://user:secret@host` holds credentials, not an address.
            let token = text[..m.start()].rsplit(char::is_whitespace).next().unwrap_or("");
            if token.contains("://") {
                continue;
            }
            out.push(Span::new(EntityKind::EmailAddress, m.range(), 0.95, self.name()));
        }
        for caps in SPELLED.captures_iter(text) {
            let (Some(all), Some(local), Some(at), Some(domain)) = (caps.get(0), caps.get(1), caps.get(2), caps.get(3))
            else {
                continue;
            };
            let tld = domain
                .as_str()
                .rsplit(['.', ' ', ']', ')', '}', '>'])
                .next()
                .unwrap_or("");
            if !SPELLED_TLDS.iter().any(|t| t.eq_ignore_ascii_case(tld)) {
                continue;
            }
            let bracketed = at.as_str().trim().starts_with(['[', '(', '{', '<']);
            let spoken_dot_in_local = local.as_str().len() != local.as_str().trim_matches('.').len()
                || local.as_str().to_ascii_lowercase().contains(" dot ")
                || local.as_str().contains('.');
            let mut score = if bracketed {
                0.8
            } else if spoken_dot_in_local {
                0.6
            } else {
                0.4
            };
            if near(text, &all.range(), CONTEXT) {
                score += 0.3;
            }
            out.push(Span::new(EntityKind::EmailAddress, all.range(), score, self.name()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::found;
    use EntityKind::EmailAddress as E;
    use tandem_protocol::EntityKind;

    #[test]
    fn finds_plain_addresses() {
        assert_eq!(
            found("write to Jane.Doe+news@mail.example.co.uk today", E),
            ["Jane.Doe+news@mail.example.co.uk"]
        );
        assert_eq!(
            found("Contact: UtaKortig@jourrapide.com.", E),
            ["UtaKortig@jourrapide.com"]
        );
        assert_eq!(found("écrivez à émile@exemple.fr", E), ["émile@exemple.fr"]);
        assert_eq!(found("用户@例子.中国", E), ["用户@例子.中国"]);
    }

    #[test]
    fn finds_spelled_out_addresses() {
        assert_eq!(
            found("mail me: jane dot doe at example dot com", E),
            ["jane dot doe at example dot com"]
        );
        assert_eq!(found("jane[at]example[dot]org", E), ["jane[at]example[dot]org"]);
        assert_eq!(
            found("my email is bob at example dot com", E),
            ["bob at example dot com"]
        );
    }

    #[test]
    fn credentials_in_urls_are_not_addresses() {
        assert!(found("mongodb+srv://app:m29Ot6hmFp@cluster0.mongodb.net/db", E).is_empty());
        assert!(found("origin https://ghp_abc123@github.com/x/y.git", E).is_empty());
        assert_eq!(found("mailto:jo@example.com", E), ["jo@example.com"]);
    }

    #[test]
    fn ignores_non_addresses() {
        assert!(found("look at things dot com later", E).is_empty());
        assert!(found("meet at noon", E).is_empty());
        assert!(found("user@localhost and a@b", E).is_empty());
        assert!(found("broken..dots@example.com", E).is_empty());
    }
}
