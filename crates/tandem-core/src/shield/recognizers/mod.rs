//! Pattern recognizers, one module per entity kind.
//!
//! Each pairs a linear-time candidate regex with a validator and context
//! rules. Scores follow one scale: ≥ 0.85 means validated beyond doubt
//! (checksums, issuer ranges, fixed token formats), 0.6–0.85 validated but
//! ambiguous, below 0.5 only with supporting context.

use super::Recognizer;
use std::sync::Arc;

mod address;
mod credit_card;
mod date_of_birth;
mod email;
mod iban;
mod ip;
mod phone;
mod secret;
mod ssn;
mod url;

pub use address::AddressRecognizer;
pub use credit_card::CreditCardRecognizer;
pub use date_of_birth::DateOfBirthRecognizer;
pub use email::EmailRecognizer;
pub use iban::IbanRecognizer;
pub use ip::IpRecognizer;
pub use phone::PhoneRecognizer;
pub use secret::SecretRecognizer;
pub use ssn::SsnRecognizer;
pub use url::UrlRecognizer;

/// Every pattern recognizer.
pub fn all() -> Vec<Arc<dyn Recognizer>> {
    vec![
        Arc::new(EmailRecognizer),
        Arc::new(PhoneRecognizer),
        Arc::new(CreditCardRecognizer),
        Arc::new(IbanRecognizer),
        Arc::new(SsnRecognizer),
        Arc::new(IpRecognizer),
        Arc::new(UrlRecognizer),
        Arc::new(SecretRecognizer),
        Arc::new(DateOfBirthRecognizer),
        Arc::new(AddressRecognizer),
    ]
}

/// Declares a lazily compiled, process-wide regex.
macro_rules! lazy_regex {
    ($(#[$doc:meta])* $name:ident = $re:expr) => {
        $(#[$doc])*
        static $name: std::sync::LazyLock<regex::Regex> =
            std::sync::LazyLock::new(|| regex::Regex::new($re).expect("pattern is a valid regex"));
    };
}
pub(crate) use lazy_regex;

/// Digits of `s`, as numbers.
pub(crate) fn digits(s: &str) -> Vec<u8> {
    s.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect()
}

/// True if `c` continues a word or number (so a match next to it is part of
/// a longer token and must be rejected).
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
pub(crate) mod test_util {
    use crate::shield::{Shield, ShieldConfig};
    use tandem_protocol::EntityKind;

    /// Texts the full shield reports as `kind` (after threshold and overlap resolution).
    pub(crate) fn found(text: &str, kind: EntityKind) -> Vec<String> {
        Shield::new(ShieldConfig::default())
            .analyze(text)
            .unwrap()
            .into_iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.text(text).to_owned())
            .collect()
    }
}
