//! PHONE_NUMBER: international and national formats, validated with
//! libphonenumber's metadata (the `phonenumber` crate).

use super::{digits, is_word_char, lazy_regex};
use crate::shield::context::{BOOST, char_after, char_before, near};
use crate::shield::{Recognizer, Span};
use phonenumber::country::Id;
use tandem_protocol::EntityKind;

/// Finds telephone numbers.
///
/// Candidates are digit groups with the separators people use. A number in
/// international form (`+44 …`, `0044 …`) must be valid for its country
/// code; a national one must be valid in one of [`REGIONS`]. Shapes that
/// validate nowhere count only next to words such as "phone" or "fax".
#[derive(Debug, Clone, Copy, Default)]
pub struct PhoneRecognizer;

/// Regions tried for numbers written without a country code.
pub(crate) const REGIONS: &[Id] = &[
    Id::US,
    Id::GB,
    Id::DE,
    Id::FR,
    Id::ES,
    Id::IT,
    Id::NL,
    Id::BE,
    Id::CH,
    Id::AT,
    Id::SE,
    Id::PL,
    Id::PT,
    Id::IE,
    Id::AU,
    Id::IN,
    Id::BR,
    Id::IL,
    Id::CA,
    Id::FI,
];

lazy_regex!(
    CANDIDATE = r"(?:\+[ \t]?|\b00[ \t]?|\()?\d[\d \t\-./()]{4,24}\d(?:[ \t]*(?:x|ext\.?|extension)[ \t]*\d{1,6})?"
);
lazy_regex!(
    DATE_OR_TIME = r"^(?:\d{4}[\-./]\d{1,2}[\-./]\d{1,2}|\d{1,2}[\-./]\d{1,2}[\-./]\d{2,4})(?:[ T]\d{1,2}(?::\d{2}){0,2})?$|^\d{1,2}:\d{2}"
);
// IPv4-like quads and decimal numbers ("3.14159265358").
lazy_regex!(DOTTED_QUAD = r"^\d{1,3}(?:\.\d{1,3}){3}$|^\d+\.\d+$");
lazy_regex!(EXTENSION = r"(?i)[ \t]*(?:x|ext\.?|extension)[ \t]*\d{1,6}$");

const CONTEXT: &[&str] = &[
    "phone",
    "telephone",
    "tel",
    "mobile",
    "cell",
    "cellphone",
    "call",
    "fax",
    "desk",
    "office",
    "whatsapp",
    "sms",
    "text me",
    "contact",
    "landline",
    "hotline",
    "dial",
    "ring",
];

impl Recognizer for PhoneRecognizer {
    fn name(&self) -> &'static str {
        "phone"
    }

    fn kinds(&self) -> &'static [EntityKind] {
        &[EntityKind::PhoneNumber]
    }

    fn recognize(&self, text: &str, out: &mut Vec<Span>) {
        for m in CANDIDATE.find_iter(text) {
            let mut range = m.range();
            // A candidate that starts with '(' but never closes it is just digits in brackets.
            let mut cand = m.as_str();
            if cand.starts_with('(') && !cand.contains(')') {
                range.start += 1;
                cand = &cand[1..];
            }
            if char_before(text, &range).is_some_and(|c| is_word_char(c) || matches!(c, '.' | '-' | '/' | '+'))
                || char_after(text, &range).is_some_and(is_word_char)
                || text[range.end..].starts_with('-') && text[range.end + 1..].starts_with(|c: char| c.is_ascii_digit())
            {
                continue;
            }
            let Some(score) = score(cand, || near(text, &range, CONTEXT)) else {
                continue;
            };
            out.push(Span::new(EntityKind::PhoneNumber, range, score, self.name()));
        }
    }
}

/// The score of a candidate, or `None` when it cannot be a phone number.
///
/// Validation against libphonenumber's metadata is the expensive step, so
/// it runs only where it can change the outcome: always for international
/// numbers, for national ones only with phone context or when the shape
/// alone (separated groups, nine digits or more) could pass without it.
fn score(cand: &str, context: impl FnOnce() -> bool) -> Option<f32> {
    let number = EXTENSION.find(cand).map_or(cand, |ext| &cand[..ext.start()]);
    let n_digits = digits(number).len();
    if !(7..=15).contains(&n_digits) || DATE_OR_TIME.is_match(number) || DOTTED_QUAD.is_match(number) {
        return None;
    }
    if number.matches(['(', ')']).count() > 2 || number.contains("  ") || implausible_groups(number) {
        return None;
    }
    let boost = if context() { BOOST } else { 0.0 };
    let separated = number.trim_start_matches('+').contains([' ', '\t', '-', '.', '(', '/']);
    if number.starts_with('+') || number.starts_with("00") {
        let normalized = format!("+{}", number.trim_start_matches('+').trim_start_matches("00"));
        return Some(boost + if valid(None, &normalized) { 0.9 } else { 0.3 });
    }
    let shape_could_pass = separated && n_digits >= 9;
    if boost == 0.0 && !shape_could_pass {
        return None; // below the threshold whether valid or not
    }
    let valid_somewhere = REGIONS.iter().any(|&region| valid(Some(region), number));
    // Short national numbers validate in some region by chance: they need context.
    Some(
        boost
            + match (valid_somewhere, shape_could_pass) {
                (true, true) => 0.6,
                (true, false) => 0.4,
                (false, _) if separated => 0.3,
                (false, _) => 0.1,
            },
    )
}

/// Digit runs like "1 1 1 1 1 1 1" or "111 111 1111" are not written phone
/// numbers: at most one lone digit group (a country or trunk prefix), and
/// not every digit the same.
fn implausible_groups(number: &str) -> bool {
    let groups: Vec<&str> = number
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    let lone = groups.iter().filter(|g| g.len() == 1).count();
    let d = digits(number);
    lone > 1 || d.iter().all(|&x| x == d[0])
}

fn valid(region: Option<Id>, number: &str) -> bool {
    phonenumber::parse(region, number).is_ok_and(|n| phonenumber::is_valid(&n))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::found;
    use tandem_protocol::EntityKind::PhoneNumber as P;

    #[test]
    fn finds_international_numbers() {
        for n in [
            "+44 20 7946 0958",
            "+1 650-253-0000",
            "+41 (0)44 668 18 00",
            "+33 1 42 68 53 00",
            "0049 30 901820",
        ] {
            assert_eq!(found(&format!("reach us at {n}."), P), [n], "{n}");
        }
    }

    #[test]
    fn finds_national_numbers() {
        for n in ["(212) 555-0147", "905-674-3793", "020 7946 0958", "030 901820"] {
            assert_eq!(found(&format!("They're not answering at {n}"), P), [n], "{n}");
        }
        // Unvalidated shapes count with context.
        assert_eq!(found("Phone:\n60-56-85-91", P), ["60-56-85-91"]);
        assert_eq!(found("Desk: 345-899-3560x4587", P), ["345-899-3560x4587"]);
        // A label glued on with a dash: "020 7946 0958-Office".
        assert_eq!(found("020 7946 0958-Office", P), ["020 7946 0958"]);
    }

    #[test]
    fn ignores_numbers_that_are_not_phones() {
        assert!(found("released 2024-03-14 10:30", P).is_empty());
        assert!(found("version 10.2.3.4", P).is_empty());
        assert!(found("order 4411 2233", P).is_empty());
        assert!(found("pi is 3.14159265358", P).is_empty());
        assert!(found("serial 1234567890123456789012", P).is_empty());
        assert!(found("1 1 1 1 1 1 1 1 1 1 1 1 1", P).is_empty());
        assert!(found("call 111 111 1111", P).is_empty());
    }
}
