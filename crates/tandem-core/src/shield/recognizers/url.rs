//! URL: web addresses with a scheme, `www.` names and bare domain names,
//! when they can point at a person (docs/shield.md: profiles, personal sites,
//! scheduling links, file shares), not at a machine or a project.

use super::lazy_regex;
use crate::shield::context::char_before;
use crate::shield::{Recognizer, Span};
use tandem_protocol::EntityKind;

/// Finds URLs and domain names.
///
/// Trailing punctuation that ends the sentence is not part of the URL, and
/// a closing bracket is kept only when the URL opened it. Addresses of
/// machines and projects are skipped ([`impersonal`]): local and API hosts,
/// mail servers, documentation and package registries, repositories.
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
                if end > m.start() && !impersonal(&text[m.start()..end]) {
                    out.push(Span::new(EntityKind::Url, m.start()..end, score, self.name()));
                }
            }
        }
    }
}

/// Hosts whose first label names a machine's role, not a person's page.
const SERVICE_LABELS: &[&str] = &[
    "api",
    "apis",
    "docs",
    "doc",
    "developer",
    "developers",
    "registry",
    "mx",
    "smtp",
    "imap",
    "pop",
    "pop3",
    "cdn",
    "static",
    "assets",
    "auth",
    "login",
    "status",
    "sandbox",
    "staging",
    "localhost",
];

/// Domains of infrastructure, documentation and package registries.
const SERVICE_DOMAINS: &[&str] = &[
    "readthedocs.io",
    "core.windows.net",
    "amazonaws.com",
    "googleapis.com",
    "cloudfront.net",
    "npmjs.org",
    "npmjs.com",
    "pypi.org",
    "crates.io",
    "docs.rs",
    "w3.org",
    "schema.org",
];

/// Code hosts where one path segment is a person's profile and more is a project.
const CODE_HOSTS: &[&str] = &[
    "github.com",
    "gitlab.com",
    "bitbucket.org",
    "huggingface.co",
    "codeberg.org",
];

/// Whether `url` addresses a machine or a project rather than something of a
/// person's: a local or numeric host, a service host (`api.`, `docs.`,
/// `smtp.`…), a registry or documentation domain, an API path (`/api/`,
/// `/v2/`, `/login`), or a code host's front page or repository (its
/// one-segment profile pages stay personal).
pub(crate) fn impersonal(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (host, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    if host.parse::<std::net::Ipv4Addr>().is_ok() || host.starts_with('[') {
        return true;
    }
    let first = host.split('.').next().unwrap_or("");
    let under = |d: &str| host == d || host.ends_with(&format!(".{d}"));
    if SERVICE_LABELS.contains(&first) || SERVICE_DOMAINS.iter().any(|d| under(d)) {
        return true;
    }
    let path = path.split(['?', '#']).next().unwrap_or("").to_ascii_lowercase();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let api_segment = |s: &&str| {
        matches!(
            *s,
            "api" | "graphql" | "login" | "oauth" | "oauth2" | "auth" | "package" | "packages"
        ) || (s.len() >= 2 && s.starts_with('v') && s[1..].bytes().all(|b| b.is_ascii_digit()))
    };
    if segments.iter().any(api_segment) {
        return true;
    }
    CODE_HOSTS.contains(&host) && segments.len() != 1
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
    fn machines_and_projects_are_not_personal() {
        for url in [
            "http://localhost:3000",
            "http://0.0.0.0:5000",
            "https://api.orderly.dev/v2/orders",
            "https://docs.github.com/en/rest/users/users",
            "https://registry.npmjs.org/",
            "https://geoclip.readthedocs.io/en/latest/",
            "https://github.com/geoclip/geoclip",
            "https://gitlab.com/",
            "https://portal.clinic-example.com/api/appointments?week=2024-W19",
            "smtp.gmail.com",
        ] {
            assert!(found(&format!("see {url} now"), U).is_empty(), "{url}");
        }
        for url in [
            "https://github.com/rkapoor-dev",
            "linkedin.com/in/farah-siddiqui",
            "https://calendly.com/achebe-tutoring/intro-call",
            "https://albrecht.codes",
            "instagram.com/theo.markham",
        ] {
            assert_eq!(found(&format!("see {url} now"), U), [url], "{url}");
        }
    }

    #[test]
    fn email_domains_and_file_names_are_not_urls() {
        assert!(found("main.rs and lib.py", U).is_empty());
        assert_eq!(found("jo@example.com", U), Vec::<String>::new());
    }
}
