//! DATE_OF_BIRTH: a date stated as somebody's birth date, not any date.

use super::lazy_regex;
use crate::shield::context::{before, contains_word};
use crate::shield::{Recognizer, Span};
use crate::text::floor_boundary;
use regex::Captures;
use std::ops::Range;
use tandem_protocol::EntityKind;

/// Finds dates of birth.
///
/// A date (numeric, ISO or with a month name) is reported only when birth
/// context ("born on", "DOB", "date of birth", "birthday") precedes it in the
/// same sentence, and only when it is a real calendar date. In data the field
/// decides: the value of a `dob`/`birthday`/`BDAY` key (JSON, YAML, env,
/// vCard, also `--0817` and `03-21` without a year) or a cell under such a
/// column header (CSV, TSV, semicolons, pipes) is one, and a date under
/// another key (`"start_date": …`) is not, whatever the sentence says.
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
// A birthday without its year, right after "birthday is", "born on": "March 3", "3rd of May".
lazy_regex!(
    NO_YEAR = &format!(
        r"(?i)\b(?:birthday|bday|b-day|born on|born)\b(?:\s+(?:is|was|on|falls on))*\s+(?:({MONTHS})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?|(\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+({MONTHS}))\b"
    )
);
lazy_regex!(YEAR_AFTER = r"^(?:st|nd|rd|th)?,?\s+\d{4}\b");
// The value of a birth-date key: `"dob": "…"`, `birthday: …`, `BDAY;VALUE=date:--0817`.
lazy_regex!(
    KEYED = r#"(?i)["']?\b(dob|d\.o\.b\.?|birthday|birthdate|birth_?date|date_?of_?birth|bday|geburtsdatum|geburtstag|fecha_?(?:de_?)?nacimiento|data_?di_?nascita|date_?de_?naissance|date_?naissance)\b["']?(?:;[^:\n]*)?\s*[:=]\s*["']?(--\d{2}-?\d{2}|\d{1,4}[./\-]\d{1,2}(?:[./\-]\d{2,4})?|\d{8})\b"#
);
// Any other data key's value: `"start_date": "…"`, `appt_date: …`, `since=…`
// (quoted, snake_case or `=`; "Me: …" in a chat is a speaker, not a key).
lazy_regex!(
    OTHER_KEY = r#"(?:["']([A-Za-z_][A-Za-z0-9_]*)["']\s*:|\b([A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+)\s*[:=]|\b([A-Za-z_][A-Za-z0-9_]*)\s*=)\s*["']?$"#
);

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
        let mut fields = Vec::new();
        for c in KEYED.captures_iter(text) {
            if let Some(v) = c.get(2) {
                let value = v.as_str().trim_end();
                if value.bytes().any(|b| b.is_ascii_digit()) {
                    fields.push(v.start()..v.start() + value.len());
                }
            }
        }
        fields.extend(column_cells(text));
        for c in NO_YEAR.captures_iter(text) {
            let (month, day) = match (c.get(1), c.get(4)) {
                (Some(m), _) => (month_number(m.as_str()), num(&c, 2)),
                (None, Some(m)) => (month_number(m.as_str()), num(&c, 3)),
                _ => continue,
            };
            let followed_by_year = YEAR_AFTER.is_match(&text[whole(&c).end..]);
            if valid_date(2000, month, day) && !followed_by_year {
                let start = c.get(1).or(c.get(3)).map_or(0, |m| m.start());
                fields.push(start..whole(&c).end);
            }
        }
        for range in &fields {
            out.push(Span::new(EntityKind::DateOfBirth, range.clone(), 0.85, self.name()));
        }
        let mut emit = |range: Range<usize>| {
            if fields.iter().any(|f| f.start < range.end && range.start < f.end) {
                return;
            }
            let lead = before(text, &range, 48);
            if let Some(key) = OTHER_KEY
                .captures(lead)
                .and_then(|c| c.get(1).or(c.get(2)).or(c.get(3)))
            {
                // In data, the key says what the date is.
                if !contains_word(key.as_str(), CONTEXT) {
                    return;
                }
            }
            if contains_word(sentence_before(text, &range), CONTEXT) || asked_on_the_line_above(text, &range) {
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

/// Names a table column of birth dates may have.
const COLUMNS: &[&str] = &[
    "dob",
    "d.o.b",
    "d.o.b.",
    "birthday",
    "birthdate",
    "birth date",
    "birth_date",
    "date of birth",
    "date_of_birth",
    "dateofbirth",
    "bday",
    "geburtsdatum",
    "geb.",
    "geb",
    "fecha de nacimiento",
    "fecha_nacimiento",
    "nacimiento",
    "data di nascita",
    "data_nascita",
    "date de naissance",
    "date_naissance",
    "born",
];

/// Cells under a birth-date column header of a delimited table (`,` `;`
/// tab or `|`), while the following lines keep the header's shape; only
/// cells that hold a digit.
fn column_cells(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut column: Option<(char, usize, usize)> = None; // delimiter, index, cells per row
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let body = line.trim_end_matches(['\n', '\r']);
        if let Some((delim, index, width)) = column {
            let cells: Vec<&str> = body.split(delim).collect();
            if cells.len() == width {
                let before: usize = cells[..index].iter().map(|c| c.len() + delim.len_utf8()).sum();
                let cell = cells[index];
                let trimmed = cell.trim().trim_matches(['"', '\'']);
                if trimmed.bytes().any(|b| b.is_ascii_digit()) {
                    let at = start + before + cell.find(trimmed).unwrap_or(0);
                    out.push(at..at + trimmed.len());
                }
                continue;
            }
            column = None;
        }
        for delim in [',', ';', '\t', '|'] {
            let cells: Vec<&str> = body.split(delim).collect();
            if cells.len() < 2 {
                continue;
            }
            let name = |c: &str| c.trim().trim_matches(['"', '\'']).to_lowercase();
            if let Some(index) = cells.iter().position(|c| COLUMNS.contains(&name(c).as_str())) {
                column = Some((delim, index, cells.len()));
                break;
            }
        }
    }
    out
}

/// A reply on its own line to a question about the birth date on the line
/// above: "Agent: can you confirm your date of birth?\nMe: Oliver Grant, 5/2/2017".
fn asked_on_the_line_above(text: &str, range: &Range<usize>) -> bool {
    let lead = before(text, range, 32);
    let line_start = range.start - lead.len();
    if lead.len() > 24 || line_start == 0 {
        return false;
    }
    let above = &text[floor_boundary(text, line_start.saturating_sub(96))..line_start - 1];
    let above = above.rsplit('\n').next().unwrap_or(above);
    above.trim_end().ends_with('?') && contains_word(above, CONTEXT)
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
    fn in_data_the_field_decides() {
        let json = r#"{"name": "Ann", "dob": "1986-10-21", "start_date": "2019-04-01", "birthday": "03-21"}"#;
        assert_eq!(found(json, D), ["1986-10-21", "03-21"]);
        assert_eq!(found("BEGIN:VCARD\nBDAY:--0817\nEND:VCARD", D), ["--0817"]);
        assert_eq!(found("BDAY;VALUE=date:19870312\n", D), ["19870312"]);
        let csv = "id,name,dob,appt_date\nA-1,Walter Greaves,1949-06-30,2025-06-02\nA-2,Sunita Rao,17.01.1978,2025-06-03\n\nnext 1990-01-01";
        assert_eq!(found(csv, D), ["1949-06-30", "17.01.1978"]);
        let semicolons = "Name;Vorname;Geburtsdatum;Eintritt\nSchulz;Katrin;03.05.1985;01.04.2019";
        assert_eq!(found(semicolons, D), ["03.05.1985"]);
    }

    #[test]
    fn birthdays_without_a_year_and_answers_on_the_next_line() {
        assert_eq!(found("Her birthday is March 3, remind me", D), ["March 3"]);
        assert_eq!(found("my bday is the 3rd of May", D), Vec::<String>::new());
        assert_eq!(found("born on 14th July", D), ["14th July"]);
        assert_eq!(
            found("Agent: can you confirm your date of birth?\nMe: 11/22/1990", D),
            ["11/22/1990"]
        );
        assert!(found("Agent: the date of birth field is optional.\nMe: ok, 11/22/2023", D).is_empty());
    }

    #[test]
    fn ignores_other_dates_and_impossible_ones() {
        assert!(found("The meeting is on 3/4/2024", D).is_empty());
        assert!(found("I was born in Paris. The invoice is due 3/4/2024", D).is_empty());
        assert!(found("born on 1989-02-29", D).is_empty(), "not a leap year");
        assert!(found("born 31/31/1980", D).is_empty());
    }
}
