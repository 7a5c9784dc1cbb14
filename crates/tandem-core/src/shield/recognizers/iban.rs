//! IBAN_CODE: International Bank Account Numbers (ISO 13616).

use super::{is_word_char, lazy_regex};
use crate::shield::context::{char_before, near};
use crate::shield::{Recognizer, Span};
use tandem_protocol::EntityKind;

/// Finds IBANs: country code, per-country length and the mod-97 check.
///
/// A number of the right shape whose check fails is still someone's account
/// number with a typo in it (or a redacted one's neighbour): next to a bank
/// word ("IBAN", "account", "Konto", "cuenta", "RIB"…) it is reported with a
/// lower score; without one it is not.
///
/// Printed IBANs are grouped by four with spaces; the scanner reads exactly
/// as many characters as the country's IBAN has, so a word after the IBAN
/// ("… 1234 is mine") is never swallowed.
#[derive(Debug, Clone, Copy, Default)]
pub struct IbanRecognizer;

lazy_regex!(START = r"(?i)\b[a-z]{2}\d{2}[ ]?[a-z0-9]");

/// IBAN lengths by country (SWIFT IBAN registry).
const LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BI", 27),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DJ", 27),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FK", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MN", 20),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NI", 28),
    ("NL", 18),
    ("NO", 15),
    ("OM", 23),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("RU", 33),
    ("SA", 24),
    ("SC", 31),
    ("SD", 18),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("SO", 23),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
    ("YE", 30),
];

impl Recognizer for IbanRecognizer {
    fn name(&self) -> &'static str {
        "iban"
    }

    fn kinds(&self) -> &'static [EntityKind] {
        &[EntityKind::IbanCode]
    }

    fn recognize(&self, text: &str, out: &mut Vec<Span>) {
        let mut from = 0;
        while let Some(m) = START.find_at(text, from) {
            from = m.start() + 1;
            if char_before(text, &m.range()).is_some_and(is_word_char) {
                continue;
            }
            let Some((end, checked)) = scan(text, m.start()) else {
                continue;
            };
            let score = if checked {
                0.95
            } else if near(text, &(m.start()..end), BANK_WORDS) {
                0.6
            } else {
                continue;
            };
            out.push(Span::new(EntityKind::IbanCode, m.start()..end, score, self.name()));
            from = end;
        }
    }
}

/// Words that say a number is a bank account.
const BANK_WORDS: &[&str] = &[
    "iban",
    "account",
    "acct",
    "bank",
    "konto",
    "kontonummer",
    "bankverbindung",
    "cuenta",
    "rib",
    "compte",
    "conto",
    "rekening",
    "transfer",
    "wire",
    "überweisung",
    "virement",
    "bonifico",
    "transferencia",
];

/// Reads an IBAN-shaped number starting at `start`: its end and whether its
/// mod-97 check holds.
fn scan(text: &str, start: usize) -> Option<(usize, bool)> {
    let bytes = text.as_bytes();
    let country = text.get(start..start + 2)?.to_ascii_uppercase();
    let &(_, len) = LENGTHS.iter().find(|(c, _)| *c == country)?;
    let mut chars = Vec::with_capacity(len);
    let mut i = start;
    while chars.len() < len {
        let b = *bytes.get(i)?;
        if b.is_ascii_alphanumeric() {
            chars.push(b.to_ascii_uppercase());
            i += 1;
        } else if b == b' ' && chars.len() % 4 == 0 && bytes.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) {
            i += 1; // a group separator, only between groups of four
        } else {
            return None;
        }
    }
    if bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        return None; // longer than this country's IBAN
    }
    chars[2..4]
        .iter()
        .all(u8::is_ascii_digit)
        .then(|| (i, mod97(&chars) == 1))
}

/// ISO 7064 mod 97-10 over the rearranged IBAN (letters as 10..35).
fn mod97(iban: &[u8]) -> u32 {
    iban[4..].iter().chain(&iban[..4]).fold(0u32, |acc, &c| {
        if c.is_ascii_digit() {
            (acc * 10 + u32::from(c - b'0')) % 97
        } else {
            (acc * 100 + u32::from(c - b'A' + 10)) % 97
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::found;
    use tandem_protocol::EntityKind::IbanCode as I;

    #[test]
    fn finds_valid_ibans_in_print_and_electronic_form() {
        for n in [
            "GB82 WEST 1234 5698 7654 32",
            "GB82WEST12345698765432",
            "DE89 3704 0044 0532 0130 00",
            "FR14 2004 1010 0505 0001 3M02 606",
            "NO9386011117947",
            "gb82west12345698765432",
        ] {
            assert_eq!(found(&format!("My IBAN is {n} thanks"), I), [n], "{n}");
        }
        // The trailing group belongs to the next word, not the IBAN.
        assert_eq!(
            found("GB82 WEST 1234 5698 7654 32 1234 is it", I),
            ["GB82 WEST 1234 5698 7654 32"]
        );
    }

    #[test]
    fn a_failed_check_needs_a_bank_word() {
        assert_eq!(
            found("IBAN: GB47 BARC 2031 5874 1209 63", I),
            ["GB47 BARC 2031 5874 1209 63"]
        );
        assert_eq!(
            found("The account I paid was GB16 LOYD 3094 5561 2287 40.", I),
            ["GB16 LOYD 3094 5561 2287 40"]
        );
        assert!(found("build GB47 BARC 2031 5874 1209 63 failed", I).is_empty());
    }

    #[test]
    fn rejects_bad_checksums_lengths_and_countries() {
        assert!(found("GB83WEST12345698765432", I).is_empty());
        assert!(found("GB82WEST1234569876543", I).is_empty());
        assert!(found("GB82WEST123456987654321", I).is_empty());
        assert!(found("ZZ82WEST12345698765432", I).is_empty());
    }
}
