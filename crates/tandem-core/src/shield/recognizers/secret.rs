//! SECRET: API keys, tokens, private keys and passwords given in plain text.

use super::{is_word_char, lazy_regex};
use crate::shield::context::{char_after, char_before};
use crate::shield::{Recognizer, Span};
use base64::Engine;
use regex::Regex;
use std::ops::Range;
use tandem_protocol::EntityKind;

/// Finds credentials.
///
/// Fixed-format tokens (AWS, GitHub, OpenAI, Stripe, Slack, Google, JWT, PEM
/// private keys) are recognised by their prefixes and shapes; a password or
/// key assigned in prose or config ("password: hunter22", `api_key = …`) is
/// recognised by the assignment, and only the value is reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecretRecognizer;

lazy_regex!(AWS_ACCESS_KEY = r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b");
lazy_regex!(GITHUB = r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})\b");
lazy_regex!(OPENAI = r"\bsk-(?:proj-|svcacct-|admin-|ant-api03-)?[A-Za-z0-9_\-]{20,200}");
lazy_regex!(STRIPE = r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}\b");
lazy_regex!(SLACK_TOKEN = r"\bxox[abposre]-[A-Za-z0-9\-]{10,250}|\bxapp-\d-[A-Za-z0-9\-]{10,250}");
lazy_regex!(
    SLACK_WEBHOOK =
        r"https://hooks\.slack\.com/(?:services|workflows)/T[A-Z0-9]{6,12}/[AB][A-Z0-9]{6,12}/[A-Za-z0-9]{16,64}"
);
lazy_regex!(GOOGLE_API_KEY = r"\bAIza[0-9A-Za-z_\-]{35}\b");
lazy_regex!(JWT = r"\beyJ[A-Za-z0-9_\-]{5,4096}\.eyJ[A-Za-z0-9_\-]{5,8192}\.[A-Za-z0-9_\-]{10,4096}");
lazy_regex!(PEM_BEGIN = r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----");
lazy_regex!(PEM_END = r"-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----");
// "password is X", "pwd: X", "password = 'X'": group 1 is the value.
lazy_regex!(
    PASSWORD = r#"(?i)\b(?:password|passwd|passwort|mot de passe|contraseña|pwd|passcode|passphrase|pass phrase|pw)\b(?:[ \t]+(?:is|was|will be|=|:)|[ \t]*[:=])[ \t]*["'`]?([^\s"'`]{4,128})"#
);
// api_key = "…", client_secret: …, aws_secret_access_key=…
lazy_regex!(
    ASSIGNED = r#"(?i)\b(?:[a-z0-9]+[_\-])*(?:api[_\-]?key|secret[_\-]?key|secret|access[_\-]?token|auth[_\-]?token|refresh[_\-]?token|bearer[_\-]?token|client[_\-]?secret|private[_\-]?key|token)["']?[ \t]*[:=][ \t]*["'`]?([A-Za-z0-9_\-./+=]{16,512})"#
);
lazy_regex!(BEARER = r"(?i)\bAuthorization:[ \t]*Bearer[ \t]+([A-Za-z0-9_\-.~+/]{16,4096}=*)");
// npm, GitLab, Hugging Face, SendGrid tokens; the key of an Azure storage connection string.
lazy_regex!(
    MORE_TOKENS = r"\b(?:npm_[A-Za-z0-9]{36}|glpat-[A-Za-z0-9_\-]{20,64}|hf_[A-Za-z0-9]{30,64}|SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{30,64})\b"
);
lazy_regex!(AZURE_ACCOUNT_KEY = r"(?i)\bAccountKey=([A-Za-z0-9+/]{40,128}={0,2})");
// The password of a connection URL: postgres://user:PASSWORD@host, rediss://:PASSWORD@host.
lazy_regex!(URL_PASSWORD = r#"(?i)\b[a-z][a-z0-9+.\-]{1,20}://[^\s:/@"'`]{0,64}:([^\s@/"'`]{3,128})@"#);
// A config or environment entry whose key names a password, secret or session:
// DB_PASSWORD=…, POSTGRES_PASSWORD: …, ansible_become_pass=…, SECRET_KEY = "…", sessionid=….
lazy_regex!(
    KEYED = r#"(?i)\b[a-z0-9_\-]*(?:password|passwd|_pass|_pwd|secret_key|app_key|account_key|sessionid|session_id)["']?[ \t]*[:=][ \t]*["'`]?([^\s"'`;,]{6,256})"#
);

/// Values that stand for a secret without being one: variables, masks and placeholder words
/// (`${DB_PASSWORD}`, `<password>`, `****`, `changeme`, `your-secret-key-here`). A value that
/// merely contains such a word ("Password123!") is a real, weak password and stays a secret.
fn is_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    value.starts_with(['$', '<', '{', '%', '*'])
        || value.chars().all(|c| matches!(c, 'x' | 'X' | '*' | '.'))
        || [
            "changeme",
            "password",
            "secret",
            "none",
            "null",
            "redacted",
            "placeholder",
        ]
        .contains(&lower.as_str())
        || ["your_", "your-", "example", "placeholder"]
            .iter()
            .any(|p| lower.starts_with(p))
}

/// Words that follow "password is" without being a password.
const NOT_PASSWORDS: &[&str] = &[
    "required",
    "incorrect",
    "wrong",
    "correct",
    "invalid",
    "valid",
    "expired",
    "empty",
    "missing",
    "strong",
    "weak",
    "too",
    "not",
    "the",
    "same",
    "different",
    "reset",
    "changed",
    "set",
    "blank",
    "hidden",
    "secure",
    "protected",
    "case-sensitive",
    "mandatory",
    "optional",
    "needed",
    "below",
    "above",
    "here",
    "there",
    "saved",
    "stored",
    "encrypted",
    "hashed",
    "forgotten",
    "known",
    "unknown",
    "enabled",
    "disabled",
    "your",
    "my",
    "their",
    "his",
    "her",
    "this",
    "that",
    "being",
    "still",
    "only",
    "also",
    "now",
    "long",
    "short",
    "easy",
    "hard",
    "simple",
    // The keywords themselves ("password: password: …" is a form, not a value).
    "password",
    "passwd",
    "passcode",
    "passphrase",
    "pwd",
    "pass",
];

impl Recognizer for SecretRecognizer {
    fn name(&self) -> &'static str {
        "secret"
    }

    fn kinds(&self) -> &'static [EntityKind] {
        &[EntityKind::Secret]
    }

    fn recognize(&self, text: &str, out: &mut Vec<Span>) {
        let mut push =
            |range: Range<usize>, score: f32| out.push(Span::new(EntityKind::Secret, range, score, "secret"));
        for re in [
            &*AWS_ACCESS_KEY,
            &*GITHUB,
            &*STRIPE,
            &*SLACK_TOKEN,
            &*SLACK_WEBHOOK,
            &*GOOGLE_API_KEY,
            &*MORE_TOKENS,
        ] {
            for m in re.find_iter(text) {
                push(m.range(), 0.95);
            }
        }
        for m in OPENAI.find_iter(text) {
            if !char_before(text, &m.range()).is_some_and(is_word_char)
                && m.as_str().chars().any(|c| c.is_ascii_digit())
            {
                push(m.range(), 0.9);
            }
        }
        for m in JWT.find_iter(text) {
            if jwt_header_ok(m.as_str()) {
                push(m.range(), 0.95);
            }
        }
        for range in pem_blocks(text) {
            push(range, 1.0);
        }
        // Only a password said in prose (`prose`) loses a trailing ! or ?: in
        // a config entry or a URL they are part of it.
        for (re, score, prose) in [
            (&*PASSWORD, 0.75, true),
            (&*ASSIGNED, 0.8, false),
            (&*BEARER, 0.9, false),
            (&*AZURE_ACCOUNT_KEY, 0.95, false),
            (&*URL_PASSWORD, 0.9, false),
            (&*KEYED, 0.8, false),
        ] {
            for range in assigned_values(re, text, prose) {
                if !is_placeholder(&text[range.clone()]) {
                    push(range, score);
                }
            }
        }
    }
}

/// Value ranges (capture group 1) of `re`, trimmed of sentence punctuation
/// and screened against words that are not secrets.
fn assigned_values<'t>(re: &'t Regex, text: &'t str, prose: bool) -> impl Iterator<Item = Range<usize>> + 't {
    re.captures_iter(text).filter_map(move |caps| {
        let value = caps.get(1)?;
        let trimmed = if prose {
            value
                .as_str()
                .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']'])
        } else {
            value.as_str().trim_end_matches(['.', ',', ';', ':', ')', ']'])
        };
        let range = value.start()..value.start() + trimmed.len();
        let lower = trimmed.to_ascii_lowercase();
        let ok = trimmed.chars().count() >= 4
            && !NOT_PASSWORDS.contains(&lower.as_str())
            && !char_after(text, &(range.start..value.end())).is_some_and(is_word_char);
        ok.then_some(range)
    })
}

/// A JWT's header must decode to JSON naming an algorithm.
fn jwt_header_ok(token: &str) -> bool {
    let header = token.split('.').next().unwrap_or("");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains("\"alg\""))
}

/// PEM private key blocks, BEGIN to END line (or to the end of the text when
/// truncated, since a partial key is still a secret).
fn pem_blocks(text: &str) -> Vec<Range<usize>> {
    let mut blocks = Vec::new();
    let mut from = 0;
    while let Some(begin) = PEM_BEGIN.find_at(text, from) {
        let end = PEM_END.find_at(text, begin.end()).map_or(text.len(), |e| e.end());
        blocks.push(begin.start()..end);
        from = end;
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::super::test_util::found;
    use tandem_protocol::EntityKind::Secret as S;

    #[test]
    fn finds_fixed_format_tokens() {
        let tokens = [
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_1234567890abcdefghijABCDEFGHIJ123456",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456",
            "sk-proj-abc123DEF456ghi789JKL012mno345",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ];
        for t in tokens {
            assert_eq!(found(&format!("token: {t} ok"), S), [t], "{t}");
        }
    }

    #[test]
    fn finds_private_key_blocks() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----";
        assert_eq!(found(&format!("key:\n{pem}\nthanks"), S), [pem]);
        let truncated = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg";
        assert_eq!(found(truncated, S), [truncated]);
    }

    #[test]
    fn finds_passwords_and_assigned_keys() {
        assert_eq!(found("my password is hunter22.", S), ["hunter22"]);
        assert_eq!(found("pwd: S3cr3t!x", S), ["S3cr3t!x"]);
        assert_eq!(found("Passwort = 'geheim123'", S), ["geheim123"]);
        assert_eq!(found("api_key = \"abcd1234efgh5678ijkl\"", S), ["abcd1234efgh5678ijkl"]);
        assert_eq!(
            found("Authorization: Bearer abcdefghijklmnop1234", S),
            ["abcdefghijklmnop1234"]
        );
    }

    #[test]
    fn finds_config_entries_connection_urls_and_more_token_formats() {
        assert_eq!(
            found("DATABASE_URL=postgres://app:Tr0ub4dor&3x@db:5432/x", S),
            ["Tr0ub4dor&3x"]
        );
        assert_eq!(
            found("DATABASE_URL=postgresql://camille:Rivoli_1789!@db/x", S),
            ["Rivoli_1789!"]
        );
        assert_eq!(found("SMTP_PASS=Ceramica_2023!\n", S), ["Ceramica_2023!"]);
        assert_eq!(
            found("BROKER = \"rediss://:Jv3pW8sQ2nLx5Rb1@cache:6380/0\"", S),
            ["Jv3pW8sQ2nLx5Rb1"]
        );
        assert_eq!(found("  POSTGRES_PASSWORD: Kx9!vR2m#pLq", S), ["Kx9!vR2m#pLq"]);
        assert_eq!(found("ansible_become_pass=Bl4ckP3pper#22", S), ["Bl4ckP3pper#22"]);
        assert_eq!(
            found("SECRET_KEY: \"q8#x!v2m@9zr$k1w^t7h\"", S),
            ["q8#x!v2m@9zr$k1w^t7h"]
        );
        assert_eq!(
            found("Cookie: sessionid=emJrB91_9s0cf1zcEHVo5Z4E", S),
            ["emJrB91_9s0cf1zcEHVo5Z4E"]
        );
        let npm = "npm_87J6dnZL33Npct4vmsVZvOolBXLa1CWGTuxh";
        assert_eq!(found(&format!("//registry.npmjs.org/:_authToken={npm}"), S), [npm]);
        assert_eq!(
            found("key glpat-H0bb1c5B97BeOIUIUhPI here", S),
            ["glpat-H0bb1c5B97BeOIUIUhPI"]
        );
    }

    #[test]
    fn placeholders_in_config_are_not_secrets() {
        assert!(found("DB_PASSWORD=${DB_PASSWORD}", S).is_empty());
        assert!(found("POSTGRES_PASSWORD: changeme", S).is_empty());
        assert!(found("postgres://user:<password>@host/db", S).is_empty());
        assert!(found("SECRET_KEY = your-secret-key-here", S).is_empty());
        // A weak password is still a password.
        assert_eq!(found("DB_PASSWORD=Password123#", S), ["Password123#"]);
        assert_eq!(found("my password is Secret2024", S), ["Secret2024"]);
    }

    #[test]
    fn ignores_talk_about_passwords_and_fake_tokens() {
        assert!(found("the password is incorrect", S).is_empty());
        assert!(found("password reset link sent", S).is_empty());
        assert!(found("a sk-learn-style-model-selection tutorial", S).is_empty());
        assert!(
            found("eyJub3QiOiJqd3QifQ.eyJhIjoiYiJ9.abcdefghijkl", S).is_empty(),
            "header without alg"
        );
    }
}
