//! US_SSN: Social Security numbers, checked against the SSA's numbering rules.

use super::{digits, is_word_char, lazy_regex};
use crate::shield::context::{BOOST, char_after, char_before, near};
use crate::shield::{Recognizer, Span};
use tandem_protocol::EntityKind;

/// Finds US Social Security numbers.
///
/// Area 000, 666 and 900–999, group 00 and serial 0000 are never issued;
/// neither are the numbers made famous by advertising. Dashed numbers are
/// likely SSNs; spaced or bare nine-digit numbers need context ("SSN").
#[derive(Debug, Clone, Copy, Default)]
pub struct SsnRecognizer;

lazy_regex!(CANDIDATE = r"\b\d{3}-\d{2}-\d{4}\b|\b\d{3} \d{2} \d{4}\b|\b\d{3}\.\d{2}\.\d{4}\b|\b\d{9}\b");

const CONTEXT: &[&str] = &[
    "ssn",
    "social security",
    "social",
    "security number",
    "ss#",
    "ssn#",
    "taxpayer",
    "tin",
];

/// Numbers that appeared on sample cards and in advertising; never valid.
const KNOWN_INVALID: &[&str] = &["078051120", "219099999", "123456789", "457555462"];

impl Recognizer for SsnRecognizer {
    fn name(&self) -> &'static str {
        "us_ssn"
    }

    fn kinds(&self) -> &'static [EntityKind] {
        &[EntityKind::UsSsn]
    }

    fn recognize(&self, text: &str, out: &mut Vec<Span>) {
        for m in CANDIDATE.find_iter(text) {
            let range = m.range();
            if char_before(text, &range).is_some_and(|c| is_word_char(c) || matches!(c, '-' | '.' | '+'))
                || char_after(text, &range)
                    .is_some_and(|c| matches!(c, '-') || (c == '.' && next_is_digit(text, range.end)))
            {
                continue;
            }
            let d = digits(m.as_str());
            if !valid(&d) {
                continue;
            }
            let base = match m.as_str().as_bytes()[3] {
                b'-' => 0.65,
                b' ' | b'.' => 0.4,
                _ => 0.2,
            };
            let score = if near(text, &range, CONTEXT) {
                base + BOOST
            } else {
                base
            };
            out.push(Span::new(EntityKind::UsSsn, range, score, self.name()));
        }
    }
}

fn next_is_digit(text: &str, i: usize) -> bool {
    text.as_bytes().get(i + 1).is_some_and(u8::is_ascii_digit)
}

/// `d`: the ASCII digits of a candidate. The pattern's `\d` also matches other
/// scripts' digits, which `digits` drops: such a candidate is not an SSN.
fn valid(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let num = |r: std::ops::Range<usize>| d[r].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let (area, group, serial) = (num(0..3), num(3..5), num(5..9));
    let as_string: String = d.iter().map(|x| char::from(b'0' + x)).collect();
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && !d.iter().all(|&x| x == d[0])
        && !KNOWN_INVALID.contains(&as_string.as_str())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::found;
    use tandem_protocol::EntityKind::UsSsn as S;

    #[test]
    fn digits_of_other_scripts_are_not_ssns_and_never_panic() {
        // Found by `pkg-scripts/fuzz` (target shield): `\d` matched them, `valid` indexed 9 ASCII digits.
        assert!(found("SSN ١٢٣-٤٥-٦٧٨٩", S).is_empty());
        assert!(found("ssn ４６０８９９８４７", S).is_empty());
        assert!(found("ssn 46០-89-9847", S).is_empty());
    }

    #[test]
    fn finds_ssns() {
        assert_eq!(found("Here's my SSN: 460-89-9847", S), ["460-89-9847"]);
        assert_eq!(found("His social security number is 853 37 1694", S), ["853 37 1694"]);
        assert_eq!(found("ssn 514690360", S), ["514690360"]);
    }

    #[test]
    fn rejects_numbers_never_issued() {
        for n in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
            "078-05-1120",
            "111-11-1111",
        ] {
            assert!(found(&format!("SSN {n}"), S).is_empty(), "{n}");
        }
    }

    #[test]
    fn bare_digits_need_context() {
        assert!(found("invoice 514690360 paid", S).is_empty());
    }
}
