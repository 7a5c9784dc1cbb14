//! CREDIT_CARD: Luhn-valid numbers in a known issuer range and length.

use super::{digits, is_word_char, lazy_regex};
use crate::shield::context::{char_after, char_before, near};
use crate::shield::{Recognizer, Span};
use tandem_protocol::EntityKind;

/// Finds payment card numbers.
///
/// A candidate must pass the Luhn check *and* start with a prefix that an
/// issuer uses for numbers of that length, so a 16-digit order number that
/// fails Luhn is never a card.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreditCardRecognizer;

// 12–19 digits, optionally in groups separated by one space or dash.
lazy_regex!(CANDIDATE = r"\b\d(?:[ \-]?\d){11,18}\b");

const CONTEXT: &[&str] = &[
    "card",
    "credit",
    "debit",
    "visa",
    "mastercard",
    "amex",
    "american express",
    "discover",
    "jcb",
    "diners",
    "maestro",
    "cc",
    "payment",
    "pay",
    "cvv",
    "expiry",
];

/// One issuer range: numbers whose first `digits` digits lie in `lo..=hi`.
struct Issuer {
    lo: u32,
    hi: u32,
    lengths: &'static [usize],
}

const fn iss(lo: u32, hi: u32, lengths: &'static [usize]) -> Issuer {
    Issuer { lo, hi, lengths }
}

/// Issuer prefixes (IIN ranges) and the lengths their numbers have.
const ISSUERS: &[Issuer] = &[
    iss(4, 4, &[13, 16, 19]),                       // Visa
    iss(51, 55, &[16]),                             // Mastercard
    iss(2221, 2720, &[16]),                         // Mastercard 2-series
    iss(34, 34, &[15]),                             // American Express
    iss(37, 37, &[15]),                             // American Express
    iss(6011, 6011, &[16, 17, 18, 19]),             // Discover
    iss(644, 649, &[16, 17, 18, 19]),               // Discover
    iss(65, 65, &[16, 17, 18, 19]),                 // Discover / RuPay
    iss(300, 305, &[14, 15, 16, 17, 18, 19]),       // Diners Club
    iss(36, 36, &[14, 15, 16, 17, 18, 19]),         // Diners Club
    iss(38, 39, &[14, 15, 16, 17, 18, 19]),         // Diners Club
    iss(3095, 3095, &[14, 15, 16, 17, 18, 19]),     // Diners Club
    iss(3528, 3589, &[16, 17, 18, 19]),             // JCB
    iss(2131, 2131, &[15]),                         // JCB (legacy)
    iss(1800, 1800, &[15]),                         // JCB (legacy)
    iss(62, 62, &[16, 17, 18, 19]),                 // UnionPay
    iss(2200, 2204, &[16, 17, 18, 19]),             // Mir
    iss(50, 50, &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    iss(56, 69, &[12, 13, 14, 15, 16, 17, 18, 19]), // Maestro
    iss(60, 60, &[16]),                             // RuPay
    iss(508, 508, &[16]),                           // RuPay
    iss(506099, 506198, &[16, 19]),                 // Verve
    iss(650002, 650027, &[16, 19]),                 // Verve
];

impl Recognizer for CreditCardRecognizer {
    fn name(&self) -> &'static str {
        "credit_card"
    }

    fn kinds(&self) -> &'static [EntityKind] {
        &[EntityKind::CreditCard]
    }

    fn recognize(&self, text: &str, out: &mut Vec<Span>) {
        for m in CANDIDATE.find_iter(text) {
            let range = m.range();
            if char_before(text, &range).is_some_and(|c| is_word_char(c) || matches!(c, '-' | '.'))
                || char_after(text, &range).is_some_and(|c| matches!(c, '-'))
                || !consistent_grouping(m.as_str())
            {
                continue;
            }
            let d = digits(m.as_str());
            if !luhn(&d) || !known_issuer(&d) {
                continue;
            }
            let score = if near(text, &range, CONTEXT) { 1.0 } else { 0.85 };
            out.push(Span::new(EntityKind::CreditCard, range, score, self.name()));
        }
    }
}

/// Separators, if any, are all the same character and never doubled.
fn consistent_grouping(s: &str) -> bool {
    let mut seps = s.chars().filter(|c| !c.is_ascii_digit());
    match seps.next() {
        None => true,
        Some(first) => seps.all(|c| c == first),
    }
}

/// The Luhn (mod 10) checksum used by every card scheme.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

fn known_issuer(d: &[u8]) -> bool {
    ISSUERS.iter().any(|iss| {
        let width = iss.hi.to_string().len();
        if d.len() < width || !iss.lengths.contains(&d.len()) {
            return false;
        }
        let prefix = d[..width].iter().fold(0u32, |acc, &x| acc * 10 + u32::from(x));
        (iss.lo..=iss.hi).contains(&prefix)
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::found;
    use super::*;
    use EntityKind::CreditCard as C;

    #[test]
    fn luhn_matches_known_values() {
        assert!(luhn(&digits("4111 1111 1111 1111")));
        assert!(luhn(&digits("79927398713")));
        assert!(!luhn(&digits("4111 1111 1111 1112")));
    }

    #[test]
    fn finds_cards_of_many_issuers() {
        for n in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5500000000000004",
            "2223000048400011",
            "378282246310005",
            "6011111111111117",
            "30569309025904",
            "3530111333300000",
            "6304000000000000",
            "4454794511390933",
        ] {
            assert_eq!(found(&format!("My card {n} expired"), C), [n], "{n}");
        }
    }

    #[test]
    fn luhn_failures_and_unknown_issuers_are_not_cards() {
        // A 16-digit order number that fails Luhn.
        assert!(found("Order number 4111111111111112 shipped", C).is_empty());
        // Luhn-valid but no issuer uses prefix 99.
        assert!(found("ref 9999999999999995", C).is_empty());
        // Mixed separators are not how cards are written.
        assert!(found("4111 1111-1111 1111", C).is_empty());
        // Part of a longer token.
        assert!(found("id-4111111111111111", C).is_empty());
    }
}
