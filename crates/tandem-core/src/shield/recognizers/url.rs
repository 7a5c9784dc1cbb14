//! URL: web addresses with a scheme, `www.` names and bare domain names.

use super::lazy_regex;
use crate::shield::context::char_before;
use crate::shield::{Recognizer, Span};
use tandem_protocol::EntityKind;

/// Finds URLs and domain names.
///
/// Trailing punctuation that ends the sentence is not part of the URL, and
/// a closing bracket is kept only when the URL opened it.
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlRecognizer;

lazy_regex!(WITH_SCHEME = r#"(?i)\b(?:https?|ftp|wss?)://[^\s<>"'`]+"#);
lazy_regex!(WWW = r#"(?i)\bwww\.[\p{L}\p{N}\-]+(?:\.[\p{L}\p{N}\-]+)+[^\s<>"'`]*"#);
lazy_regex!(
    BARE = r#"(?i)\b[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?)*\.(?:com|org|net|edu|gov|io|co|ai|app|dev|info|biz|me|uk|us|de|fr|es|it|nl|be|ch|se|no|dk|fi|pl|cz|pt|ie|ru|jp|cn|in|br|mx|ca|au|nz|eu|hu|gr|ro|tr|il|kr)\b(?:/[^\s<>"'`]*)?"#
);

impl Recognizer for UrlRecognizer {
    fn name(&self) -> &'static str {
        "url"
    }

    fn kinds(&self) -> &'static [EntityKind] {
        &[EntityKind::Url]
    }

    fn recognize(&self, text: &str, out: &mut Vec<Span>) {
        for (re, score) in [(&*WITH_SCHEME, 0.85), (&*WWW, 0.75), (&*BARE, 0.5)] {
            for m in re.find_iter(text) {
                // An e-mail's domain or a longer token is not a URL of its own.
                if char_before(text, &m.range()).is_some_and(|c| matches!(c, '@' | '.' | '-' | '_' | '/')) {
                    continue;
                }
                let end = m.start() + trim_trailing(m.as_str());
                if end > m.start() {
                    out.push(Span::new(EntityKind::Url, m.start()..end, score, self.name()));
                }
            }
        }
    }
}

/// Length of `url` without sentence punctuation and unbalanced closing brackets.
fn trim_trailing(url: &str) -> usize {
    let mut s = url;
    loop {
        let Some(last) = s.chars().next_back() else {
            return 0;
        };
        let unbalanced = |open: char, close: char| last == close && s.matches(open).count() < s.matches(close).count();
        if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '*')
            || unbalanced('(', ')')
            || unbalanced('[', ']')
            || unbalanced('{', '}')
        {
            s = &s[..s.len() - last.len_utf8()];
        } else {
            return s.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::found;
    use tandem_protocol::EntityKind::Url as U;

    #[test]
    fn finds_urls() {
        assert_eq!(
            found("My website is http://www.ScrapbookInsider.com.pt/.", U),
            ["http://www.ScrapbookInsider.com.pt/"]
        );
        assert_eq!(
            found("see (https://en.wikipedia.org/wiki/Rust_(language)) now", U),
            ["https://en.wikipedia.org/wiki/Rust_(language)"]
        );
        assert_eq!(
            found("go to www.example.org/path?q=1, then", U),
            ["www.example.org/path?q=1"]
        );
        assert_eq!(found("visit example.com today", U), ["example.com"]);
    }

    #[test]
    fn email_domains_and_file_names_are_not_urls() {
        assert!(found("main.rs and lib.py", U).is_empty());
        assert_eq!(found("jo@example.com", U), Vec::<String>::new());
    }
}
