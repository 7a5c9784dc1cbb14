//! DATE_OF_BIRTH: a date stated as somebody's birth date, not any date.

use super::lazy_regex;
use crate::shield::context::{before, contains_word};
use crate::shield::{Recognizer, Span};
use regex::Captures;
use std::ops::Range;
use tandem_protocol::EntityKind;

/// Finds dates of birth.
///
/// A date (numeric, ISO or with a month name) is reported only when birth
/// context ("born on", "DOB", "date of birth", "birthday") precedes it in the
/// same sentence, and only when it is a real calendar date.
#[derive(Debug, Clone, Copy, Default)]
pub struct DateOfBirthRecognizer;

/// Month names and abbreviations in English, German, French, Spanish and Italian, longest first
/// where one is the prefix of another; [`month_number`] reads them.
const MONTHS: &str = r"jan(?:uary|uar|vier)?|ene(?:ro)?|genn(?:aio)?|feb(?:ruary|ruar|rero|braio)?|févr(?:ier)?|fevr(?:ier)?|mär(?:z)?|maerz|mar(?:ch|s|zo)?|apr(?:il|ile)?|avr(?:il)?|abr(?:il)?|mai|mayo|may|magg(?:io)?|jun(?:e|i|io)?|juin|giu(?:gno)?|jul(?:y|i|io)?|juil(?:let)?|lug(?:lio)?|aug(?:ust)?|août|aout|ago(?:sto)?|sep(?:t(?:ember|embre|iembre)?)?|sett(?:embre)?|setiembre|oct(?:ober|obre|ubre)?|okt(?:ober)?|ott(?:obre)?|nov(?:ember|embre|iembre)?|dec(?:ember)?|déc(?:embre)?|dez(?:ember)?|dic(?:iembre|embre)?";

lazy_regex!(NUMERIC = r"\b(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})\b");
lazy_regex!(ISO = r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b");
// "14th March 1979", "3. Oktober 1992", "2 de febrero de 1951", "18 juin 1995".
lazy_regex!(
    DAY_MONTH = &format!(
        r"(?i)\b(\d{{1,2}})(?:st|nd|rd|th|er|º)?\.?(?:\s+of|\s+de)?\s+({MONTHS})\b\.?,?(?:\s+de)?\s+(\d{{4}})\b"
    )
);
lazy_regex!(MONTH_DAY = &format!(r"(?i)\b({MONTHS})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b"));

const CONTEXT: &[&str] = &[
    "born",
    "birth",
    "birthday",
    "birthdate",
    "date of birth",
    "dob",
    "d.o.b",
    "d.o.b.",
    "b-day",
    "bday",
    "né",
    "née",
    "geboren",
    "geburtsdatum",
    "fecha de nacimiento",
    "fecha_nacimiento",
    "date_of_birth",
    "birth_date",
    "geb",
    "geb.",
    "nacido",
    "nacida",
    "nato",
    "nata",
    "data di nascita",
    "date de naissance",
];

impl Recognizer for DateOfBirthRecognizer {
    fn name(&self) -> &'static str {
        "date_of_birth"
    }

    fn kinds(&self) -> &'static [EntityKind] {
        &[EntityKind::DateOfBirth]
    }

    fn recognize(&self, text: &str, out: &mut Vec<Span>) {
        let mut emit = |range: Range<usize>| {
            if contains_word(sentence_before(text, &range), CONTEXT) {
                out.push(Span::new(EntityKind::DateOfBirth, range, 0.85, self.name()));
            }
        };
        for c in NUMERIC.captures_iter(text) {
            let (a, b, y) = (num(&c, 1), num(&c, 2), year(num(&c, 3)));
            // Either month/day or day/month order.
            if valid_date(y, a, b) || valid_date(y, b, a) {
                emit(whole(&c));
            }
        }
        for c in ISO.captures_iter(text) {
            if valid_date(num(&c, 1), num(&c, 2), num(&c, 3)) {
                emit(whole(&c));
            }
        }
        for (re, day_group, month_group) in [(&*DAY_MONTH, 1, 2), (&*MONTH_DAY, 2, 1)] {
            for c in re.captures_iter(text) {
                let month = month_number(c.get(month_group).map_or("", |m| m.as_str()));
                if valid_date(num(&c, 3), month, num(&c, day_group)) {
                    emit(whole(&c));
                }
            }
        }
    }
}

fn whole(c: &Captures<'_>) -> Range<usize> {
    c.get(0).map_or(0..0, |m| m.range())
}

fn num(c: &Captures<'_>, i: usize) -> u32 {
    c.get(i).and_then(|m| m.as_str().parse().ok()).unwrap_or(0)
}

/// Two-digit years are read as 19xx/20xx the way people write birth years.
fn year(y: u32) -> u32 {
    match y {
        0..=29 => 2000 + y,
        30..=99 => 1900 + y,
        _ => y,
    }
}

/// The month (1–12) of a name matched by [`MONTHS`], in any of its languages.
fn month_number(name: &str) -> u32 {
    const PREFIXES: [&[&str]; 12] = [
        &["jan", "ene", "gen"],
        &["feb", "fév", "fev"],
        &["mär", "mae", "mar"],
        &["apr", "avr", "abr"],
        &["mai", "may", "mag"],
        &["juin", "jun", "giu"],
        &["juil", "jul", "lug"],
        &["aug", "aoû", "aou", "ago"],
        &["sep", "set"],
        &["oct", "okt", "ott"],
        &["nov"],
        &["dec", "déc", "dez", "dic"],
    ];
    let lower = name.to_lowercase();
    PREFIXES
        .iter()
        .position(|ps| ps.iter().any(|p| lower.starts_with(p)))
        .map_or(0, |i| i as u32 + 1)
}

fn valid_date(year: u32, month: u32, day: u32) -> bool {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1870..=2100).contains(&year) && (1..=days).contains(&day)
}

/// The text before `range` in the same sentence (at most 64 bytes), or in
/// the previous one too when the date's own sentence has barely begun
/// ("What is your date of birth? It's 6/24/1991").
///
/// A sentence ends at a newline or at ". " after a lowercase word, so that
/// "D.O.B. 01/02/1990" keeps its context but "born in Paris. The invoice is
/// due 3/4/2024" does not.
fn sentence_before<'t>(text: &'t str, range: &Range<usize>) -> &'t str {
    let window = before(text, range, 64);
    let bytes = window.as_bytes();
    let mut cut = 0;
    for i in 1..bytes.len() {
        let ends_sentence = matches!(bytes[i], b'.' | b'!' | b'?')
            && bytes.get(i + 1).is_some_and(|b| b.is_ascii_whitespace())
            && bytes[i - 1].is_ascii_lowercase()
            && i >= 2
            && bytes[i - 2].is_ascii_alphabetic();
        if ends_sentence {
            cut = i + 1;
        }
    }
    if window.len() - cut <= SHORT_LEAD {
        window
    } else {
        &window[cut..]
    }
}

/// How long the start of a sentence may be for the previous sentence to
/// still count as context ("It's ", "Mine is ").
const SHORT_LEAD: usize = 12;

#[cfg(test)]
mod tests {
    use super::super::test_util::found;
    use tandem_protocol::EntityKind::DateOfBirth as D;

    #[test]
    fn finds_dates_stated_as_birth_dates() {
        assert_eq!(found("She was born on 2/8/1935 in Lyon", D), ["2/8/1935"]);
        assert_eq!(found("Tell me your date of birth. It's 6/24/1991", D), ["6/24/1991"]);
        assert_eq!(found("date of birth: 6/24/1991", D), ["6/24/1991"]);
        assert_eq!(found("DOB 1988-02-29", D), ["1988-02-29"]);
        assert_eq!(found("D.O.B. 14th March 1979", D), ["14th March 1979"]);
        assert_eq!(found("my birthday is March 14, 1979!", D), ["March 14, 1979"]);
    }

    #[test]
    fn reads_birth_dates_in_other_languages() {
        assert_eq!(found("Geburtsdatum: 3. Oktober 1992", D), ["3. Oktober 1992"]);
        assert_eq!(found("Frau Gisela Brandstätter, geb. 12.04.1941", D), ["12.04.1941"]);
        assert_eq!(
            found("Mi madre, nacida el 2 de febrero de 1951", D),
            ["2 de febrero de 1951"]
        );
        assert_eq!(found("née le 18 juin 1995 à Lyon", D), ["18 juin 1995"]);
        assert_eq!(
            found("Giuseppe Carbone, nato il 2 febbraio 1950", D),
            ["2 febbraio 1950"]
        );
        assert_eq!(found(r#""fecha_nacimiento": "1979-06-30""#, D), ["1979-06-30"]);
    }

    #[test]
    fn ignores_other_dates_and_impossible_ones() {
        assert!(found("The meeting is on 3/4/2024", D).is_empty());
        assert!(found("I was born in Paris. The invoice is due 3/4/2024", D).is_empty());
        assert!(found("born on 1989-02-29", D).is_empty(), "not a leap year");
        assert!(found("born 31/31/1980", D).is_empty());
    }
}
