//! STREET_ADDRESS: postal addresses by grammar, in many countries' formats.
//!
//! An address is found from its *street core*, the part no address lacks and little else looks
//! like: a house number with a street name and a street type, in the order the country writes
//! them ("221 Baker Street", "12 rue de la Paix", "Lindenstraße 42", "Calle Mayor 5"). From
//! there the span grows to the right over the parts that follow an address (unit, city, state,
//! postcode, country; across commas, semicolons and line breaks) and to the left over a unit or
//! building ("Flat 3, Albion Court, "). The recipient's name is never part of it.
//!
//! A core that stands on its own ("Calle", a capitalized English street) is reported at 0.6; an
//! ambiguous one ("via Slack 2", an all-lowercase street, "Am Montag 3") only when a postcode
//! follows it or address context ("address:", "live at", "Anschrift") precedes it.

use super::lazy_regex;
use crate::shield::context::{BOOST, near};
use crate::shield::{Recognizer, Span};
use crate::text::ceil_boundary;
use regex::Regex;
use std::ops::Range;
use tandem_protocol::EntityKind;

/// Finds street addresses.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddressRecognizer;

/// A house number: "12", "12a", "6/22", "45/12", "17-19".
const NUM: &str = r"\d{1,5}[A-Za-z]?(?:[/-]\d{1,5}[A-Za-z]?)?";
/// English street types (full and abbreviated), matched case-insensitively.
const EN_TYPES: &str = "street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|terrace|tce|way|circle|cir|highway|hwy|parkway|pkwy|square|sq|crescent|cres|close|grove|gardens|gdns|row|mews|trail|trl|walk|rise|parade|pde|esplanade|loop|pike|alley|plaza|hollow|hill|park|green|wharf|quay|cove|ridge|heights|path|glen|grange|meadows?|vale|broadway|expressway|turnpike";
/// Compass points before or after an English street name.
const COMPASS: &str = "N|S|E|W|NE|NW|SE|SW|North|South|East|West";
/// A capitalized word of a name (street, city): "Alcalá", "O'Connell", "Co.", "Saint-Denis".
const CAP: &str = r"[\p{Lu}][\p{L}'’.\-]*";
/// A name word that may also start with a digit ("5 de Mayo").
const CAP_OR_NUM: &str = r"[\p{Lu}\d][\p{L}\d'’.\-]*";
/// A word of an English street name, any case: letters first, or an ordinal ("8th").
const EN_WORD: &str = r"(?:[\p{L}][\p{L}\d'’.\-]*|\d{1,3}(?i:st|nd|rd|th))";
/// Small words inside Romance and German place names.
const LINK: &str = r"(?:de|del|de la|dei|della|delle|di|do|da|dos|das|du|des|la|le|les|l'|d'|y|e|et|am|an der|im|in der|sur|sous|upon|on)";

lazy_regex!(
    /// "221B Baker Street", "455 SW 8th St", "18 elm grove" (any case: checked after).
    EN_CORE = &format!(
        r"\b{NUM}\s+(?:(?i:{COMPASS})\.?\s+)?(?:{EN_WORD}\s+){{0,3}}{EN_WORD}\s+(?i:{EN_TYPES})\b\.?(?:\s+(?:{COMPASS})\b)?"
    )
);
lazy_regex!(
    /// "12 rue de la Paix", "5 bis rue des Tanneurs", "27 boulevard de la Liberté".
    FR_CORE = &format!(
        r"\b{NUM}(?:\s?(?i:bis|ter))?,?\s+(?i:rue|avenue|av\.|boulevard|bd|place|allée|allee|chemin|impasse|quai|route|cours|square|passage|esplanade|faubourg|promenade|cité|voie|sentier|rond-point)\s+(?:{LINK}\s*)*{CAP}(?:\s+(?:{LINK}\s*)*{CAP}){{0,4}}"
    )
);
lazy_regex!(
    /// "Lindenstraße 42", "Kölner Straße 214", "Karl-Marx-Allee 5", "Prinsengracht 263".
    DE_CORE = &format!(
        r"\b(?:[\p{{Lu}}][\p{{L}}\-]*(?:er|e)\s+)?(?:[\p{{Lu}}][\p{{L}}\-]*(?i:straße|strasse|str\.|weg|gasse|platz|allee|damm|ufer|chaussee|steig|pfad|markt|stieg|graben|kamp|twiete|zeile|straat|laan|plein|gracht|kade|dijk|singel|steeg)|[\p{{Lu}}][\p{{L}}\-]{{3,}}ring)\s*{NUM}\b"
    )
);
lazy_regex!(
    /// Kölner Straße 214: the type as its own word after an adjective.
    DE_SPLIT_CORE = &format!(
        r"\b[\p{{Lu}}][\p{{L}}\-]*(?:er|e)\s+(?:Straße|Strasse|Str\.|Allee|Weg|Platz|Ring|Damm|Ufer|Chaussee|Gasse|Markt|Steig|Landstraße)\s*{NUM}\b"
    )
);
lazy_regex!(
    /// "Am Lindenhof 3", "An der Alster 4": ambiguous ("Am Montag 3") until a postcode follows.
    DE_PREP_CORE = &format!(r"\b(?:Am|An der|An den|Im|In der|Auf dem|Auf der|Zum|Zur|Unter den)\s+{CAP}\s+{NUM}\b")
);
lazy_regex!(
    /// "Calle de Alcalá 154", "Av. Corrientes 1234", "Via Garibaldi 27", "ul. Długa 17/4".
    PREFIX_CORE = &format!(
        r"(?:\b(?i:(calle|avenida|avda\.?|avd\.|paseo|pso\.|plaza|pza\.|ronda|camino|carrera|travesía|carretera|ctra\.|rúa|rua|via|viale|piazza|piazzale|corso|largo|vicolo|ul\.|al\.|av\.|alameda|praça|travessa|estrada))|\b(c/|C/|Pº))\s+(?:{LINK}\s+)*{CAP_OR_NUM}(?:\s+(?:{LINK}\s+)*{CAP_OR_NUM}){{0,5}}?,?\s+(?:(?i:nº|n\.º|no\.|n\.)\s*)?{NUM}\b"
    )
);

/// Prefixes that also begin ordinary words or phrases ("via email", "largo", "plaza" as a mall).
const WEAK_PREFIXES: &[&str] = &[
    "via", "plaza", "ronda", "camino", "carrera", "corso", "largo", "al.", "av.", "alameda",
];
/// Words that never stand inside an English street name: they reveal a sentence ("5 Ways To Find Your Place").
const NOT_IN_STREET_NAMES: &[&str] = &[
    "to", "your", "my", "our", "his", "her", "their", "a", "an", "and", "or", "for", "with", "in", "on", "at", "is",
    "are", "was", "be", "i", "you", "we", "it", "this", "that", "from", "by", "into", "ways", "tips", "times", "days",
    "years", "minutes", "hours",
];
/// Words before an address that say it is one.
const CONTEXT: &[&str] = &[
    "address",
    "addr",
    "live at",
    "lives at",
    "living at",
    "located at",
    "ship to",
    "deliver to",
    "send to",
    "moved to",
    "residence",
    "resides at",
    "adresse",
    "anschrift",
    "wohne",
    "wohnhaft",
    "dirección",
    "direccion",
    "domicilio",
    "indirizzo",
    "j'habite",
    "vivo en",
    "endereço",
    "adr",
];

// The parts that may follow a street core, each anchored at the end of the span so far.
/// Comma, semicolon(s), line break or " - " between parts.
const SEP_STRONG: &str = r"(?:[ \t]*[,;]+[ \t]*\r?\n?[ \t]*|[ \t]*\r?\n[ \t]*|[ \t]+-[ \t]+)";
/// The same or just spaces.
const SEP_ANY: &str = r"(?:[ \t]*[,;]+[ \t]*\r?\n?[ \t]*|[ \t]*\r?\n[ \t]*|[ \t]+-[ \t]+|[ \t]+)";
/// A city or district: capitalized words with links, and a district number ("Dublin 3").
/// Words stay on one line; only a short abbreviation may carry a dot ("Co. Dublin", "St. Louis"),
/// so that "Paris. Thanks" ends at "Paris".
const CITY: &str = r"(?:[\p{Lu}][\p{L}]{0,3}\.[ \t]*)?[\p{Lu}][\p{L}'’\-]*(?:[ \t]+(?:(?:am|an|im|in|der|de|del|la|le|les|sur|sous|upon|on|di|do|da|dos)[ \t]+)?[\p{Lu}][\p{L}'’\-]*){0,3}(?:[ \t]+\d{1,2}\b)?";
/// A UK postcode or an Irish Eircode, any case.
const UK_IE_POST: &str = r"(?i:[a-z]{1,2}\d[a-z\d]?\s?\d[a-z]{2}|[a-z]\d{2}\s?[a-z\d]{4})\b";
/// Numeric and alphanumeric postcodes: DE/FR/ES/IT/US 5 digits, AT/CH/AU/NL 4 (NL with letters),
/// PL 2-3, BR 5-3, AR C1043AAZ, JP 3-4.
const POST: &str = r"(?:\d{5}(?:-\d{3,4})?|\d{4}(?:\s?[A-Z]{2}\b)?|\d{2}-\d{3}|[A-Z]\d{4}[A-Z]{3}|\d{3}-\d{4})\b";
/// US, Canadian and Australian states and provinces with their codes.
const STATE_ZIP: &str = r"(?:[A-Z]{2}|NSW|VIC|QLD|TAS|ACT)[,;\s]+(?:\d{5}(?:-\d{4})?|\d{4}|[A-Z]\d[A-Z]\s?\d[A-Z]\d)\b";
const COUNTRIES: &str = "usa|united states|united kingdom|uk|england|scotland|wales|ireland|germany|deutschland|austria|österreich|switzerland|schweiz|suisse|france|spain|españa|italy|italia|netherlands|nederland|belgium|belgique|portugal|poland|polska|argentina|mexico|méxico|brazil|brasil|canada|australia|japan|new zealand|denmark|sweden|norway|finland|chile|colombia|peru|perú";

lazy_regex!(
    /// "Apt 12B", ", Unit 4", ", 3º B", ", 2º izq", ", Piso 7 B", ", apto 52", ", 2nd floor".
    UNIT = &format!(
        r"^{SEP_ANY}(?:(?:(?i:apartment|apt|unit|suite|ste|flat|floor|fl|piso|planta|pta|puerta|interior|apto|depto|dpto|nave|bloque|escalera|esc|stiege|etage|étage|bâtiment|bât|appartement)\b\.?|(?i:int)\.|#)\s*#?(?:[\p{{L}}]?\d[\p{{L}}\d\-]{{0,5}}|[A-Za-z]\b)(?:\s[A-Za-z]\b)?|\d{{1,2}}\s?[ºª°]\s?(?:(?i:izq(?:da)?|dcha|der|izda)\.?|[A-Za-z]{{1,2}}\b)?|\d{{1,2}}(?i:st|nd|rd|th)\s+(?i:floor))"
    )
);
lazy_regex!(
    /// ", 10969 Berlin", ", C1043AAZ CABA", ", 10122 Torino TO", ", 1017 AB Amsterdam".
    POST_CITY = &format!(r"^{SEP_ANY}(?:[A-Z]-)?{POST}\s+{CITY}(?:\s+\(?[A-Z]{{2}}\)?\b)?")
);
lazy_regex!(
    /// ", Columbus, OH 43221", ", Toronto, ON M5H 2M5", " Katoomba NSW 2780".
    CITY_STATE_ZIP = &format!(r"^{SEP_ANY}{CITY}[,;]?\s*{STATE_ZIP}")
);
lazy_regex!(
    /// "OH 43221" after a city part, ";CO;80202".
    STATE_ZIP_PART = &format!(r"^{SEP_ANY}{STATE_ZIP}")
);
lazy_regex!(
    /// ", Leeds LS6 1HS", " leeds ls6 2ah", ", Co. Dublin A96 K2F3".
    CITY_UK_POST = &format!(r"^{SEP_ANY}(?:[\p{{L}}'’.\-]+(?:\s+[\p{{L}}'’.\-]+){{0,2}}?\s+)?{UK_IE_POST}")
);
lazy_regex!(
    /// A postcode on its own: ", 01426-001", ", D03 K2W7".
    POST_ONLY = &format!(r"^{SEP_ANY}(?:{POST}|{UK_IE_POST})")
);
lazy_regex!(
    /// ", Germany", ";France".
    COUNTRY = &format!(r"^{SEP_STRONG}(?i:{COUNTRIES})\b")
);
lazy_regex!(
    /// ", Springfield", ", São Paulo - SP", ", Col. Cuauhtémoc": a bare city or district.
    CITY_PART = &format!(r"^{SEP_STRONG}{CITY}(?:[ \t]*-[ \t]*[A-Z]{{2}}\b)?")
);
lazy_regex!(
    /// A unit or building written before the street: "Flat 3, ", "Unit 9, ", "Flat 7, Albion Court, ".
    LEFT_UNIT = r"(?i:\b(?:flat|unit|apt|apartment|suite|ste)\.?\s*#?\d{1,4}[a-z]?)(?:,?\s+[\p{Lu}][\p{L}'’\-]*(?:\s+[\p{Lu}][\p{L}'’\-]*){0,2}\s+(?:Court|House|Building|Tower|Apartments|Mansions|Lodge|Hall))?[ \t]*(?:[,;][ \t]*)?\r?\n?[ \t]*$"
);

/// What a part adds to the evidence that the span is an address.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Unit,
    Postal,
    Country,
    City,
}

/// The parts tried after a street core, in order.
fn parts() -> [(&'static Regex, Part); 8] {
    [
        (&UNIT, Part::Unit),
        (&POST_CITY, Part::Postal),
        (&CITY_STATE_ZIP, Part::Postal),
        (&CITY_UK_POST, Part::Postal),
        (&STATE_ZIP_PART, Part::Postal),
        (&POST_ONLY, Part::Postal),
        (&COUNTRY, Part::Country),
        (&CITY_PART, Part::City),
    ]
}

/// At most this many parts follow a core (keeps the scan linear).
const MAX_PARTS: usize = 7;

impl Recognizer for AddressRecognizer {
    fn name(&self) -> &'static str {
        "street_address"
    }

    fn kinds(&self) -> &'static [EntityKind] {
        &[EntityKind::StreetAddress]
    }

    fn recognize(&self, text: &str, out: &mut Vec<Span>) {
        let mut cores: Vec<(Range<usize>, bool)> = Vec::new();
        for m in EN_CORE.find_iter(text) {
            if let Some(strong) = english_core(m.as_str()) {
                cores.push((m.range(), strong));
            }
        }
        for m in FR_CORE.find_iter(text) {
            cores.push((m.range(), true));
        }
        // "Arbeitsmarkt 2024" is a year, not a house number.
        for m in DE_CORE.find_iter(text).chain(DE_SPLIT_CORE.find_iter(text)) {
            cores.push((m.range(), !ends_with_year(m.as_str())));
        }
        for m in DE_PREP_CORE.find_iter(text) {
            cores.push((m.range(), false));
        }
        for c in PREFIX_CORE.captures_iter(text) {
            let prefix = c.get(1).or_else(|| c.get(2)).map_or("", |p| p.as_str()).to_lowercase();
            let strong = !WEAK_PREFIXES.contains(&prefix.as_str());
            cores.push((c.get(0).map_or(0..0, |m| m.range()), strong));
        }
        for (core, strong) in cores {
            let (end, postal) = extend_right(text, core.end);
            let start = extend_left(text, core.start);
            let range = start..without_final_dot(text, start..end);
            let context = near(text, &(start..start), CONTEXT);
            let score = match (strong, postal, context) {
                (_, true, _) => 0.85,
                (true, false, true) => 0.6 + BOOST,
                (true, false, false) => 0.6,
                (false, false, true) => 0.5 + BOOST,
                (false, false, false) => continue,
            };
            out.push(Span::new(EntityKind::StreetAddress, range, score, self.name()));
        }
    }
}

/// Whether an English core is well formed: `Some(true)` when its name is capitalized (or the
/// whole core is upper case), `Some(false)` when it is lower case (needs a postcode or context),
/// `None` when its words give away an ordinary sentence.
fn english_core(core: &str) -> Option<bool> {
    let words: Vec<&str> = core.split_whitespace().skip(1).collect();
    let (name, _street_type) = words.split_at(words.len().saturating_sub(1));
    if name.is_empty()
        || name
            .iter()
            .any(|w| NOT_IN_STREET_NAMES.contains(&w.to_lowercase().as_str()))
    {
        return None;
    }
    let capitalized = words
        .iter()
        .all(|w| w.chars().next().is_some_and(|c| c.is_uppercase() || c.is_ascii_digit()));
    Some(capitalized)
}

/// True when `core` ends in a number that reads as a year (1900–2099).
fn ends_with_year(core: &str) -> bool {
    let start = core.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let digits = &core[start..];
    digits.len() == 4 && (digits.starts_with("19") || digits.starts_with("20"))
}

/// Grows the span over the parts after a core; returns the new end and whether a postcode or a
/// country was among them. A bare city at the end stays only where the clause ends with it.
fn extend_right(text: &str, mut end: usize) -> (usize, bool) {
    let mut postal = false;
    let mut confirmed_end = end;
    // Whether the bare city parts after `confirmed_end` began on a new line.
    let mut unconfirmed_crosses_line = false;
    for _ in 0..MAX_PARTS {
        let rest = &text[end..];
        let Some((len, part)) = parts()
            .into_iter()
            .find_map(|(re, part)| re.find(rest).filter(|m| m.end() > 0).map(|m| (m.end(), part)))
        else {
            break;
        };
        let crosses_line = rest[..len].contains('\n');
        end += len;
        match part {
            Part::City => unconfirmed_crosses_line |= crosses_line,
            Part::Postal | Part::Country => {
                postal = true;
                confirmed_end = end;
                unconfirmed_crosses_line = false;
            }
            Part::Unit => {
                confirmed_end = end;
                unconfirmed_crosses_line = false;
            }
        }
    }
    // Trailing bare city parts ("…, Springfield."): kept when they end the clause on the
    // street's own line; a capitalized line after an address ("Thanks, Bob") is not its city.
    if end > confirmed_end && !unconfirmed_crosses_line && ends_clause(&text[end..]) {
        confirmed_end = end;
    }
    (confirmed_end, postal)
}

/// Abbreviations whose dot belongs to the address when it ends one.
const ABBREVIATIONS: &[&str] = &[
    "st", "rd", "ave", "av", "blvd", "dr", "ln", "ct", "pl", "sq", "hwy", "pkwy", "cres", "co", "col", "str", "avda",
    "int", "apt", "ste", "fl", "bd",
];

/// The end of `range` without a sentence's full stop (kept after an abbreviation: "Main St.").
fn without_final_dot(text: &str, range: Range<usize>) -> usize {
    let span = &text[range.clone()];
    let Some(body) = span.strip_suffix('.') else {
        return range.end;
    };
    let last_word = body.rsplit(|c: char| !c.is_alphanumeric()).next().unwrap_or("");
    if ABBREVIATIONS.contains(&last_word.to_lowercase().as_str()) {
        range.end
    } else {
        range.end - 1
    }
}

/// True when `rest` starts at the end of a clause: end of text, a line break or closing punctuation.
fn ends_clause(rest: &str) -> bool {
    let trimmed = rest.trim_start_matches([' ', '\t']);
    trimmed
        .chars()
        .next()
        .is_none_or(|c| matches!(c, '\n' | '\r' | '.' | '!' | '?' | ')' | ']' | '"' | '”'))
}

/// Grows the span left over a unit or building written before the street.
fn extend_left(text: &str, start: usize) -> usize {
    let from = ceil_boundary(text, start.saturating_sub(64));
    LEFT_UNIT.find(&text[from..start]).map_or(start, |m| from + m.start())
}

#[cfg(test)]
mod tests {
    use super::super::test_util::found;
    use tandem_protocol::EntityKind::StreetAddress as A;

    #[test]
    fn finds_addresses_of_many_countries() {
        for address in [
            "2281 Maple Ridge Dr, Columbus, OH 43221",
            "455 SW 8th St Apt 12B, Miami, FL 33130",
            "Lindenstraße 42, 10969 Berlin, Germany",
            "Flat 3, 41 Cranbrook Road, Bristol BS6 7BS",
            "88 Queen Street West, Unit 4, Toronto, ON M5H 2M5",
            "6/22 Burnley Street, Richmond VIC 3121",
            "Calle de Alcalá 154, 3º B, 28028 Madrid, España",
            "Av. Corrientes 1234, 7º B, C1043AAZ CABA, Argentina",
            "Mariahilfer Straße 45/12, 1060 Wien, Österreich",
            "12 rue de la Paix, 75002 Paris",
            "5 bis rue des Tanneurs, 67000 Strasbourg",
            "Via Giuseppe Garibaldi 27, 10122 Torino TO, Italy",
            "ul. Długa 17/4, 31-147 Kraków, Poland",
            "Kölner Straße 214, 40227 Düsseldorf",
            "Am Lindenhof 3, 71032 Böblingen",
            "77 Harbour Rd, Apt 4, Dún Laoghaire, Co. Dublin A96 K2F3",
            "Rua Oscar Freire 379, apto 52, Jardim Paulista, São Paulo - SP, 01426-001, Brazil",
            "88 WILLOW CRESCENT, GALWAY H91 E2K4, IRELAND",
            "CALLE ALFONSO I 14, 3º B, 50003 ZARAGOZA",
        ] {
            let text = format!("Please send it to {address}. Thanks!");
            assert_eq!(found(&text, A), [address], "in {text:?}");
        }
    }

    #[test]
    fn spans_line_breaks_and_vcard_fields_but_not_the_name() {
        let text = "Jane Smith\nFlat 3\n41 Cranbrook Road\nBristol\nBS6 7BS\n\nThanks";
        assert_eq!(found(text, A), ["Flat 3\n41 Cranbrook Road\nBristol\nBS6 7BS"]);
        let vcard = "ADR;TYPE=home:;;8 place Bellecour;Lyon;;69002;France\nTEL:+33 4 72 00 00 00";
        assert_eq!(found(vcard, A), ["8 place Bellecour;Lyon;;69002;France"]);
    }

    #[test]
    fn lower_case_needs_a_postcode_or_context() {
        assert_eq!(
            found("its flat 3 18 elm grove leeds ls6 2ah btw", A),
            ["flat 3 18 elm grove leeds ls6 2ah"]
        );
        assert!(found("we have 2 kids in the court today", A).is_empty());
        assert!(found("sent it via Slack 2 times", A).is_empty());
        assert!(found("Am Montag 3 Termine", A).is_empty());
    }

    #[test]
    fn sentences_and_trailing_words_stay_out() {
        assert!(found("Top 5 Ways To Find Your Place", A).is_empty());
        assert_eq!(found("I live at 12 Main Street, Tom said", A), ["12 Main Street"]);
        assert_eq!(
            found("I live at 12 Main Street, Springfield.", A),
            ["12 Main Street, Springfield"]
        );
        assert_eq!(found("12 Main Street\nThanks, Bob", A), ["12 Main Street"]);
    }
}
