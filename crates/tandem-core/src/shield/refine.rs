//! The model's spans cut to the policy (docs/shield.md, "What the shield finds").
//!
//! A token classifier sees word pieces; the policy speaks of names. Where the
//! two disagree in ways a rule can settle, these rules settle it after
//! decoding:
//!
//! - **Titles, kinship and greetings are not part of a name.** "Hallo Frau
//!   Berger" is `Berger`; a span that began with a personal title ("Mme
//!   Perrin", "Dr. Yilmaz") is a PERSON whatever the model voted.
//! - **A name starts and ends with a capital** in text that uses capitals:
//!   lower-case words at a span's edges ("hermana Elena y", "Northgate Home
//!   Insurance claims") are dropped, and a person's span splits at an inner
//!   lower-case word that is no name particle ("Brian Kowalczyk and Alicia
//!   Kowalczyk"; `van`, `de`, `y` stay). All-lower-case spans ("jamal") are
//!   informal typing and keep their words.
//! - **Columns and dashes separate fields**: two or more spaces, a tab, or a
//!   free-standing dash or bar split a span ("Margaret Ellison   DOB",
//!   "Rocío Gil – RRHH").
//! - **Function words, calendar words and form labels alone are no entity**
//!   ("Ihre", "sábado", "Vorname"), except first names that are also words
//!   ("Will", "May"), which the model decides.
//! - **Elisions and German abstract nouns are no names**: a last one-letter
//!   word before an apostrophe ("c" of "c'est") leaves the span, and one
//!   word of eight letters or more ending in `-ung`, `-heit`, `-keit`,
//!   `-schaft`, `-nis` or `-tät` ("Fehlermeldung", "Arbeitsverhältnis") is a
//!   noun, never a name.
//! - **Pets and lone letters are nobody**: a name within four words after
//!   "dog", "cat", "Katze", "perro"… in the same sentence ("my cat Pickle"),
//!   and a single letter ("J" of "J'habite"). Placeholders such as "John Doe"
//!   stay redacted: a real person may carry the name, and redacting a
//!   placeholder costs the reply nothing.
//! - **An organization keeps its legal form**, dots included ("Inc.",
//!   "S.L.", "e.V."), also when the model stopped just before it.
//! - **Ordinary words are no entity, and gazetteers fix kinds** (word lists
//!   of `lexicon`): a span made only of words common in one of the seven
//!   languages that are no name or place ("Vermieter", "mañana",
//!   "Insurance") is dropped; a known place that is no name is a location
//!   ("Utrecht" the model called a person); one first name that is no place
//!   is a person ("Priya" it called an organization); a location, a comma
//!   and a known region are one location ("Austin, Texas"). A span after a
//!   title or a relation word ("my sister becca") keeps what the model and
//!   the title made it.
//!
//! The word lists in this file are closed classes of the languages the
//! shield is evaluated in (English, German, French, Spanish, Italian, Dutch,
//! Portuguese), not names; `lexicon`'s are generated from public corpora
//! and gazetteers.

use super::{Span, context, lexicon};
use std::ops::Range;
use tandem_protocol::EntityKind;

/// Applies the rules above to the model's spans (in text order).
pub(crate) fn refine(text: &str, spans: Vec<Span>) -> Vec<Span> {
    let mut out = Vec::with_capacity(spans.len());
    for span in spans {
        for piece in split_fields(text, span.range.clone()) {
            refine_piece(text, &span, piece, &mut out);
        }
    }
    join_regions(text, out)
}

/// "Austin" + ", " + "Texas" is one place: a location followed by a comma
/// and a known region (country, state, province) joins it.
fn join_regions(text: &str, spans: Vec<Span>) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        if let Some(prev) = out.last_mut()
            && prev.kind == EntityKind::Location
            && span.kind == EntityKind::Location
            && prev.range.end <= span.range.start
            && matches!(&text[prev.range.end..span.range.start], "," | ", ")
            && lexicon::regions().contains(&phrase(&words(text, span.range.clone())))
        {
            prev.range.end = span.range.end;
            prev.score = prev.score.max(span.score);
            continue;
        }
        out.push(span);
    }
    out
}

/// A span's words as the word lists write them: lower case, one space
/// between, no final dots.
fn phrase(words: &[Word<'_>]) -> String {
    words.iter().map(Word::bare_lower).collect::<Vec<_>>().join(" ")
}

/// A word of a span: its byte range and its core (without surrounding
/// punctuation, but with a final `.` kept: "Dr.", "S.L.").
struct Word<'t> {
    range: Range<usize>,
    core: &'t str,
}

impl Word<'_> {
    fn lower(&self) -> String {
        self.core.to_lowercase()
    }

    fn bare_lower(&self) -> String {
        self.core.trim_end_matches('.').to_lowercase()
    }

    fn starts_upper(&self) -> bool {
        self.core
            .chars()
            .find(|c| c.is_alphabetic())
            .is_some_and(char::is_uppercase)
    }

    fn starts_lower(&self) -> bool {
        self.core
            .chars()
            .find(|c| c.is_alphabetic())
            .is_some_and(char::is_lowercase)
    }
}

fn words(text: &str, range: Range<usize>) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let s = &text[range.clone()];
    let mut offset = 0;
    for piece in s.split_whitespace() {
        let at = s[offset..].find(piece).map_or(offset, |i| offset + i);
        offset = at + piece.len();
        let start = range.start + at;
        let lead = piece.len() - piece.trim_start_matches(|c: char| !c.is_alphanumeric()).len();
        let trimmed = piece.trim_end_matches(|c: char| !c.is_alphanumeric());
        if trimmed.len() <= lead {
            continue;
        }
        // keep one final dot: "Dr.", "Inc.", "S.L."
        let end = if piece[trimmed.len()..].starts_with('.') {
            trimmed.len() + 1
        } else {
            trimmed.len()
        };
        out.push(Word {
            range: start + lead..start + end,
            core: &piece[lead..end],
        });
    }
    out
}

/// Splits `range` at field separators: two or more spaces, a tab, or a
/// free-standing dash or bar.
fn split_fields(text: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let s = &text[range.clone()];
    let blank = |c: char| c == ' ' || c == '\t';
    let mut out = Vec::new();
    let (mut start, mut from) = (0, 0);
    while let Some(gap) = s[from..].find(blank).map(|i| from + i) {
        let gap_end = s[gap..].find(|c| !blank(c)).map_or(s.len(), |i| gap + i);
        let after = &s[gap_end..];
        let dash = ["-", "–", "—", "|", "/"]
            .into_iter()
            .find(|d| after.strip_prefix(d).is_some_and(|r| r.starts_with(blank)));
        if gap_end - gap >= 2 || s[gap..gap_end].contains('\t') || dash.is_some() {
            out.push(range.start + start..range.start + gap);
            start = gap_end + dash.map_or(0, str::len);
        }
        from = gap_end.max(start);
    }
    out.push(range.start + start..range.end);
    out.retain(|r| r.start < r.end);
    out
}

fn refine_piece(text: &str, span: &Span, piece: Range<usize>, out: &mut Vec<Span>) {
    let mut ws = words(text, piece);
    let mut kind = span.kind;
    // Greetings, then titles, at the start.
    while ws.first().is_some_and(|w| GREETINGS.contains(&w.bare_lower().as_str())) {
        ws.remove(0);
    }
    let mut titled = false;
    while ws.first().is_some_and(is_title) {
        ws.remove(0);
        titled = true;
    }
    if titled && !ws.is_empty() {
        kind = EntityKind::Person;
    }
    let cased = ws.iter().any(Word::starts_upper);
    if cased {
        while ws.first().is_some_and(Word::starts_lower) {
            ws.remove(0);
        }
        while ws.last().is_some_and(Word::starts_lower) {
            ws.pop();
        }
    }
    while ws
        .last()
        .is_some_and(|w| w.core.chars().count() == 1 && text[w.range.end..].starts_with(['\'', '’']))
    {
        ws.pop();
    }
    let groups: Vec<&[Word<'_>]> = if cased && kind == EntityKind::Person {
        ws.split(|w| w.starts_lower() && !is_particle(w))
            .filter(|g| !g.is_empty())
            .collect()
    } else {
        vec![&ws[..]]
    };
    for group in groups {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        if group.iter().all(is_non_name_word) || is_nobody(text, group) {
            continue;
        }
        // a title or a relation is stronger evidence than any word list
        // ("Frau Krämer", "my sister becca")
        let Some(kind) = (if titled || after_relation(text, first) {
            Some(kind)
        } else {
            lexicon_kind(group, kind)
        }) else {
            continue;
        };
        let mut end = last.range.end;
        if kind == EntityKind::Organization {
            end = with_legal_form(text, group, end);
        } else if last.core.ends_with('.') {
            end -= 1; // "Berger." -> "Berger"; only legal forms keep their dot
        }
        if first.range.start < end {
            out.push(Span::new(kind, first.range.start..end, span.score, span.recognizer));
        }
    }
}

/// What the word lists say of a span the model found: `None` when it is made
/// of ordinary words only ("Vermieter", "mañana", "Insurance"; an
/// organization only when it is one word or not in title case: "Emerald
/// Travel Cover" is a name, "LIFE INSURANCE" a heading), else its kind,
/// corrected where a gazetteer is sure: a known place that is no name is a
/// location ("Utrecht"), and one first name that is no place is a person
/// ("Priya").
fn lexicon_kind(group: &[Word<'_>], kind: EntityKind) -> Option<EntityKind> {
    let lower: Vec<String> = group.iter().map(Word::bare_lower).collect();
    let place = lexicon::places().contains(&lower.join(" "));
    let one_word = lower.len() == 1;
    // an organization's name is often ordinary words in title case ("Emerald
    // Travel Cover"); all in capitals or all in lower case, they are a form's
    // heading ("LIFE INSURANCE") or prose ("salle de bains")
    let headline = group.iter().all(|w| w.core.chars().all(|c| !c.is_lowercase()))
        || group.iter().all(|w| w.core.chars().all(|c| !c.is_uppercase()));
    let may_drop = kind != EntityKind::Organization || one_word || headline;
    if !place && may_drop && lower.iter().all(|w| lexicon::common_words().contains(w)) {
        return None;
    }
    Some(match kind {
        EntityKind::Person | EntityKind::Organization if place => EntityKind::Location,
        EntityKind::Location | EntityKind::Organization if one_word && lexicon::first_names().contains(&lower[0]) => {
            EntityKind::Person
        }
        _ => kind,
    })
}

/// Whether the word before `first` names a relation ("my sister becca", "mi
/// amiga Luz"): then even an ordinary word is a name.
fn after_relation(text: &str, first: &Word<'_>) -> bool {
    context::before(text, &first.range, 24)
        .split(|c: char| !c.is_alphanumeric())
        .rfind(|w| !w.is_empty())
        .is_some_and(|w| RELATIONS.contains(&w.to_lowercase().as_str()))
}

/// A pet's name or a single letter.
fn is_nobody(text: &str, group: &[Word<'_>]) -> bool {
    let Some(first) = group.first() else {
        return true;
    };
    if group.len() == 1 && first.core.trim_end_matches('.').chars().count() == 1 {
        return true;
    }
    if group.len() == 1 && is_german_abstract_noun(first.core) {
        return true;
    }
    let before = context::before(text, &first.range, 64);
    let sentence = before.rsplit(['.', '!', '?', ';']).next().unwrap_or(before);
    sentence
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .rev()
        .take(4)
        .any(|w| PETS.contains(&w.to_lowercase().as_str()))
}

/// "Fehlermeldung", "Kleinschreibung", "Arbeitsverhältnisses": German
/// abstract nouns, capitalized like names, by their suffix.
fn is_german_abstract_noun(word: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "ung", "ungen", "heit", "heiten", "keit", "keiten", "schaft", "schaften", "nis", "nisse", "nisses", "tät",
    ];
    let lower = word.to_lowercase();
    lower.chars().count() >= 8 && lower.chars().all(char::is_alphabetic) && SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// The end of an organization's span: its legal form with the dot, also a
/// legal form right after the span ("Logística Miramar" + " S.A.").
fn with_legal_form(text: &str, group: &[Word<'_>], end: usize) -> usize {
    let last = group.last().map(|w| (w.core, w.bare_lower()));
    let Some((core, bare)) = last else { return end };
    let end = end - usize::from(core.ends_with('.'));
    if is_legal_form(&bare) {
        return end + usize::from(keeps_dot(&bare) && text[end..].starts_with('.'));
    }
    // a legal form just after: ", Inc." / " GmbH" / " S.L."
    let rest = &text[end..];
    let after = rest.strip_prefix(", ").or_else(|| rest.strip_prefix(' ')).unwrap_or("");
    let word: String = after
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '.' || *c == '&')
        .collect();
    let bare = word.trim_end_matches('.').to_lowercase();
    // "GmbH", "Inc.", "e.V.": capitalized or dotted, never an ordinary word ("as", "spa")
    let shaped = word.starts_with(char::is_uppercase) || bare.contains('.');
    if shaped && is_legal_form(&bare) {
        let with = if keeps_dot(&bare) && word.ends_with('.') {
            word.len()
        } else {
            word.trim_end_matches('.').len()
        };
        return end + (rest.len() - after.len()) + with;
    }
    end
}

fn is_legal_form(bare: &str) -> bool {
    LEGAL_FORMS.contains(&bare) || (bare.contains('.') && bare.len() <= 7 && bare.split('.').all(|p| p.len() <= 3))
}

/// Legal forms written as abbreviations keep their final dot ("Inc.", "S.L.").
fn keeps_dot(bare: &str) -> bool {
    bare.contains('.') || ["inc", "co", "corp", "ltd", "bros", "cie", "cía"].contains(&bare)
}

/// `van`, `de`, `y`, and elided ones: "d'Alembert", "dell'Orto".
fn is_particle(w: &Word<'_>) -> bool {
    let lower = w.lower();
    PARTICLES.contains(&lower.as_str())
        || lower
            .split_once(['\'', '’'])
            .is_some_and(|(head, tail)| head.chars().count() <= 4 && tail.starts_with(char::is_alphabetic))
}

fn is_title(w: &Word<'_>) -> bool {
    let bare = w.bare_lower();
    if bare.chars().count() == 1 {
        // "M." (Monsieur); other single letters are initials
        return w.core == "M.";
    }
    TITLES.contains(&bare.as_str())
}

fn is_non_name_word(w: &Word<'_>) -> bool {
    let lower = w.bare_lower();
    if WORD_NAMES.contains(&lower.as_str()) {
        return false;
    }
    FUNCTION_WORDS.contains(&lower.as_str())
        || CALENDAR.contains(&lower.as_str())
        || LABELS.contains(&lower.as_str())
        || GREETINGS.contains(&lower.as_str())
}

/// Personal titles, honorifics, kinship and role words that precede a name.
const TITLES: &[&str] = &[
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "prof",
    "sir",
    "dame",
    "herr",
    "herrn",
    "frau",
    "fräulein",
    "hr",
    "fr",
    "mme",
    "mlle",
    "mmes",
    "me",
    "sr",
    "sra",
    "srta",
    "don",
    "doña",
    "dña",
    "sig",
    "sig.ra",
    "sig.na",
    "dott",
    "dott.ssa",
    "avv",
    "ing",
    "dhr",
    "mevr",
    "mw",
    "señor",
    "señora",
    "señorita",
    "monsieur",
    "madame",
    "mademoiselle",
    "signor",
    "signora",
    "signorina",
    "meneer",
    "mevrouw",
    "senhor",
    "senhora",
    "aunt",
    "auntie",
    "uncle",
    "tante",
    "onkel",
    "tía",
    "tío",
    "tita",
    "tito",
    "zia",
    "zio",
    "oma",
    "opa",
    "grandma",
    "grandpa",
    "granny",
    "nonna",
    "nonno",
    "mamie",
    "papi",
    "abuela",
    "abuelo",
    "mum",
    "mom",
    "mama",
    "papa",
    "dad",
    "colleague",
    "kollege",
    "kollegin",
    "collègue",
    "compañero",
    "compañera",
    "collega",
    "patient",
    "patientin",
    "patiente",
    "paciente",
    "paziente",
    "herren",
    "damen",
];

/// Greetings and sign-off words that precede a name ("Hi Marcus", "Thanks,
/// Gráinne") and self-introductions ("Soy Tomás").
const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "dear",
    "hallo",
    "servus",
    "moin",
    "liebe",
    "lieber",
    "hola",
    "querida",
    "querido",
    "estimada",
    "estimado",
    "bonjour",
    "bonsoir",
    "salut",
    "coucou",
    "cher",
    "chère",
    "ciao",
    "caro",
    "cara",
    "gentile",
    "buongiorno",
    "hoi",
    "beste",
    "olá",
    "oi",
    "thanks",
    "thank",
    "danke",
    "merci",
    "gracias",
    "grazie",
    "bedankt",
    "obrigado",
    "obrigada",
    "cheers",
    "regards",
    "soy",
    "ich",
    "je",
    "sono",
    "ik",
    "eu",
    "yo",
];

/// Name particles that stay inside a person's name.
const PARTICLES: &[&str] = &[
    "van", "von", "de", "der", "den", "del", "della", "delle", "di", "da", "do", "dos", "das", "du", "des", "la", "le",
    "el", "y", "i", "e", "ter", "ten", "zu", "bin", "ibn", "al", "af", "av", "mac", "mc", "o", "st",
];

/// First names that are also ordinary words: the model decides them.
const WORD_NAMES: &[&str] = &[
    "will", "may", "june", "april", "august", "bill", "rose", "grace", "mark", "hope", "faith", "summer", "frank",
    "art", "jack", "pat", "sky", "dawn", "iris", "ivy", "joy", "max", "rob", "sue", "ray", "don", "penny", "mai",
    // names that are function or calendar words of another language
    "mia", "ben", "jun", "ella", "lei", "sun", "mar", "mei", "juli",
];

/// Closed-class words (articles, pronouns, prepositions, conjunctions,
/// auxiliaries, common adverbs) of the shield's languages.
const FUNCTION_WORDS: &[&str] = &[
    // English
    "a", "an", "the", "and", "or", "but", "if", "of", "in", "on", "at", "to", "for", "from", "with", "by", "about",
    "as", "into", "over", "after", "before", "i", "me", "my", "you", "your", "he", "him", "his", "she", "her", "it",
    "its", "we", "us", "our", "they", "them", "their", "this", "that", "these", "those", "is", "are", "was", "were",
    "be", "been", "am", "do", "does", "did", "have", "has", "had", "can", "could", "would", "should", "shall", "must",
    "might", "not", "no", "yes", "so", "too", "very", "just", "also", "here", "there", "what", "who", "when", "where",
    "why", "how", "which", "pls", "plz", "please", "ok", "okay", "thx", "lol", "btw", // German
    "der", "die", "das", "den", "dem", "des", "ein", "eine", "einen", "einem", "einer", "und", "oder", "aber", "von",
    "vom", "zu", "zum", "zur", "mit", "bei", "beim", "für", "auf", "aus", "nach", "im", "ins", "am", "an", "ich", "du",
    "er", "sie", "es", "wir", "ihr", "ihre", "ihrer", "ihren", "ihrem", "ihnen", "sein", "seine", "mein", "meine",
    "meinen", "dein", "deine", "unser", "unsere", "euer", "ist", "sind", "war", "hat", "haben", "wird", "werden",
    "kann", "können", "muss", "soll", "bitte", "danke", "nicht", "kein", "keine", "ja", "nein", "auch", "noch",
    "schon", "wie", "was", "wer", "wo", "wann", "warum", // French
    "le", "la", "les", "un", "une", "des", "du", "et", "ou", "mais", "de", "à", "au", "aux", "en", "dans", "pour",
    "par", "sur", "avec", "sans", "chez", "je", "tu", "il", "elle", "nous", "vous", "ils", "elles", "mon", "ma", "mes",
    "ton", "ta", "tes", "son", "sa", "ses", "notre", "votre", "leur", "leurs", "est", "sont", "suis", "es", "peux",
    "peut", "veux", "veut", "dois", "doit", "ai", "as", "avons", "avez", "ont", "être", "avoir", "pas", "ne", "oui",
    "non", "stp", "svp", "merci", "aussi", "très", "qui", "que", "quoi", "où", "quand", "comment",
    // Spanish
    "el", "los", "las", "uno", "una", "unos", "unas", "y", "o", "pero", "del", "al", "con", "sin", "para", "por", "yo",
    "tú", "él", "ella", "nosotros", "vosotros", "ellos", "ellas", "mi", "mis", "tu", "tus", "su", "sus", "nuestro",
    "nuestra", "es", "son", "soy", "eres", "está", "están", "estoy", "hay", "puedo", "puede", "quiero", "tengo",
    "tiene", "no", "sí", "porfa", "gracias", "también", "muy", "qué", "quién", "dónde", "cuándo", "cómo",
    // Italian
    "il", "lo", "gli", "uno", "e", "ma", "di", "da", "in", "con", "su", "per", "tra", "fra", "io", "lui", "lei", "noi",
    "voi", "loro", "mio", "mia", "tuo", "tua", "suo", "sua", "è", "sono", "ho", "ha", "abbiamo", "hanno", "posso",
    "può", "voglio", "non", "sì", "grazie", "anche", "molto", "che", "chi", "dove", "quando", "come",
    // Dutch
    "het", "een", "en", "of", "maar", "van", "naar", "met", "voor", "bij", "op", "uit", "ik", "jij", "je", "hij", "zij",
    "ze", "wij", "we", "jullie", "mijn", "jouw", "zijn", "haar", "ons", "onze", "hun", "is", "ben", "bent", "heb",
    "hebt", "heeft", "hebben", "kan", "kunnen", "wil", "niet", "geen", "ja", "nee", "dank", "ook", "wat", "wie",
    "waar", "wanneer", "hoe", // Portuguese
    "os", "as", "um", "uma", "e", "ou", "mas", "do", "da", "dos", "das", "no", "na", "nos", "nas", "em", "com", "sem",
    "para", "por", "eu", "ele", "ela", "nós", "eles", "elas", "meu", "minha", "seu", "sua", "é", "são", "sou", "está",
    "tenho", "tem", "posso", "pode", "não", "sim", "obrigado", "obrigada", "também", "muito",
];

/// Month and day names and their common abbreviations.
const CALENDAR: &[&str] = &[
    "january",
    "february",
    "march",
    "july",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "mon",
    "tue",
    "tues",
    "wed",
    "thu",
    "thur",
    "thurs",
    "fri",
    "sat",
    "sun",
    "januar",
    "februar",
    "märz",
    "juni",
    "juli",
    "oktober",
    "dezember",
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "samstag",
    "sonntag",
    "mo",
    "di",
    "mi",
    "do",
    "fr",
    "sa",
    "so",
    "janvier",
    "février",
    "mars",
    "avril",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
    "lunes",
    "martes",
    "miércoles",
    "jueves",
    "viernes",
    "sábado",
    "domingo",
    "gennaio",
    "febbraio",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "settembre",
    "ottobre",
    "dicembre",
    "lunedì",
    "martedì",
    "mercoledì",
    "giovedì",
    "venerdì",
    "domenica",
    "januari",
    "februari",
    "maart",
    "mei",
    "augustus",
    "maandag",
    "dinsdag",
    "woensdag",
    "donderdag",
    "vrijdag",
    "zaterdag",
    "zondag",
    "janeiro",
    "fevereiro",
    "março",
    "maio",
    "junho",
    "julho",
    "setembro",
    "outubro",
    "dezembro",
    "segunda",
    "terça",
    "quarta",
    "quinta",
    "sexta",
];

/// Labels of forms, records and headers.
const LABELS: &[&str] = &[
    "name",
    "names",
    "first",
    "last",
    "surname",
    "firstname",
    "lastname",
    "fullname",
    "vorname",
    "nachname",
    "familienname",
    "nombre",
    "nombres",
    "apellido",
    "apellidos",
    "prénom",
    "nom",
    "cognome",
    "naam",
    "voornaam",
    "achternaam",
    "nome",
    "sobrenome",
    "dob",
    "d.o.b",
    "birth",
    "geburtsdatum",
    "fecha",
    "datum",
    "date",
    "data",
    "tel",
    "phone",
    "mobile",
    "telefon",
    "teléfono",
    "téléphone",
    "telefono",
    "email",
    "e-mail",
    "adresse",
    "address",
    "dirección",
    "domicilio",
    "indirizzo",
    "adres",
    "endereço",
    "user",
    "username",
    "benutzer",
    "usuario",
    "utilisateur",
    "utente",
    "gebruiker",
    "client",
    "kunde",
    "cliente",
    "signature",
    "unterschrift",
    "subject",
    "betreff",
    "asunto",
    "objet",
    "oggetto",
    "re",
    "fw",
    "fwd",
    "cc",
    "bcc",
    "id",
];

/// Animals people name: a name right after one is a pet's.
const PETS: &[&str] = &[
    "dog", "dogs", "cat", "cats", "puppy", "kitten", "pup", "tortoise", "turtle", "hamster", "rabbit", "bunny",
    "parrot", "budgie", "horse", "pony", "pet", "pets", "goldfish", "ferret", "hund", "hunde", "katze", "katzen",
    "kater", "perro", "perra", "perros", "gato", "gata", "gatos", "chien", "chienne", "chat", "chatte", "chats",
    "cane", "gatto", "gatta", "hond", "kat", "cachorro", "cachorra",
];

/// Words for people one is related to, lives or works with, that come right
/// before a name.
const RELATIONS: &[&str] = &[
    "sister",
    "sis",
    "brother",
    "bro",
    "wife",
    "husband",
    "bf",
    "gf",
    "boyfriend",
    "girlfriend",
    "partner",
    "fiance",
    "fiancé",
    "fiancée",
    "roommate",
    "flatmate",
    "housemate",
    "friend",
    "bestie",
    "son",
    "daughter",
    "cousin",
    "niece",
    "nephew",
    "boss",
    "coworker",
    "neighbor",
    "neighbour",
    "ex",
    "schwester",
    "bruder",
    "freund",
    "freundin",
    "sohn",
    "tochter",
    "cousine",
    "mitbewohner",
    "mitbewohnerin",
    "nachbar",
    "nachbarin",
    "hermana",
    "hermano",
    "amigo",
    "amiga",
    "hijo",
    "hija",
    "primo",
    "prima",
    "novio",
    "novia",
    "esposa",
    "esposo",
    "vecino",
    "vecina",
    "sœur",
    "soeur",
    "frère",
    "frere",
    "ami",
    "amie",
    "copain",
    "copine",
    "fils",
    "fille",
    "voisin",
    "voisine",
    "sorella",
    "fratello",
    "amico",
    "amica",
    "figlio",
    "figlia",
    "ragazzo",
    "ragazza",
    "zus",
    "broer",
    "vriend",
    "vriendin",
    "irmã",
    "irmão",
    "filho",
    "filha",
];

/// Legal forms of companies and associations.
const LEGAL_FORMS: &[&str] = &[
    "inc", "co", "corp", "ltd", "llc", "llp", "lp", "plc", "bros", "cie", "cía", "gmbh", "ag", "kg", "ohg", "ug",
    "mbh", "sarl", "sas", "sa", "sl", "slu", "srl", "spa", "bv", "nv", "pty", "ab", "oy", "as",
];

#[cfg(test)]
mod tests {
    use super::*;
    use EntityKind::*;

    /// The spans `refine` makes of one model span covering `part` of `text`.
    fn run(text: &str, kind: EntityKind, part: &str) -> Vec<(EntityKind, String)> {
        let start = text.find(part).unwrap();
        let spans = vec![Span::new(kind, start..start + part.len(), 0.9, "ner")];
        refine(text, spans)
            .into_iter()
            .map(|s| (s.kind, s.text(text).to_owned()))
            .collect()
    }

    /// Text, the model's kind and span, and what must come out.
    type Case<'a> = (&'a str, EntityKind, &'a str, &'a [(EntityKind, &'a str)]);

    fn check(cases: &[Case<'_>]) {
        for (text, kind, part, want) in cases {
            let want: Vec<_> = want.iter().map(|(k, s)| (*k, (*s).to_owned())).collect();
            assert_eq!(run(text, *kind, part), want, "{text:?} / {part:?}");
        }
    }

    #[test]
    fn greetings_and_titles_leave_the_name() {
        check(&[
            (
                "Hallo Frau Berger, danke",
                Person,
                "Hallo Frau Berger",
                &[(Person, "Berger")],
            ),
            ("Hi Marcus, yes", Person, "Hi Marcus", &[(Person, "Marcus")]),
            (
                "M. Bernard Faure, né",
                Person,
                "M. Bernard Faure",
                &[(Person, "Bernard Faure")],
            ),
            // a title makes it a person, whatever the model voted
            ("Mme Perrin a appelé", Organization, "Mme Perrin", &[(Person, "Perrin")]),
            // a title alone is nothing
            ("Sehr geehrte Damen und Herren,", Location, "Herren", &[]),
            // initials stay
            ("ask J. Smith", Person, "J. Smith", &[(Person, "J. Smith")]),
        ]);
    }

    #[test]
    fn lower_case_edges_go_and_people_split_at_inner_words() {
        check(&[
            ("mi hermana Elena y yo", Person, "hermana Elena y", &[(Person, "Elena")]),
            (
                "Northgate Home Insurance claims.",
                Organization,
                "Northgate Home Insurance claims",
                &[(Organization, "Northgate Home Insurance")],
            ),
            (
                "Brian Kowalczyk and Alicia Kowalczyk\n",
                Person,
                "Brian Kowalczyk and Alicia Kowalczyk",
                &[(Person, "Brian Kowalczyk"), (Person, "Alicia Kowalczyk")],
            ),
            (
                "Ludwig van Beethoven",
                Person,
                "Ludwig van Beethoven",
                &[(Person, "Ludwig van Beethoven")],
            ),
            // inner lower-case words of organizations stay
            (
                "Clinique des Tilleuls",
                Organization,
                "Clinique des Tilleuls",
                &[(Organization, "Clinique des Tilleuls")],
            ),
            // informal typing keeps its words
            ("ask jamal b.", Person, "jamal b", &[(Person, "jamal b")]),
        ]);
    }

    #[test]
    fn columns_and_dashes_split_fields() {
        check(&[
            (
                "Margaret Ellison   DOB: 1961",
                Person,
                "Margaret Ellison   DOB",
                &[(Person, "Margaret Ellison")],
            ),
            ("Rocío Gil – RRHH", Person, "Rocío Gil – RRHH", &[(Person, "Rocío Gil")]),
            (
                "Ostsee-Treuhand GmbH",
                Organization,
                "Ostsee-Treuhand GmbH",
                &[(Organization, "Ostsee-Treuhand GmbH")],
            ),
        ]);
    }

    #[test]
    fn function_words_and_labels_alone_are_dropped_but_word_names_are_the_models() {
        check(&[
            ("wir berichten über Ihre Patientin", Person, "Ihre", &[]),
            ("el sábado a valencia", Location, "sábado", &[]),
            ("Name;Vorname;Geburtsdatum", Person, "Vorname", &[]),
            ("Will is out until Tuesday", Person, "Will", &[(Person, "Will")]),
        ]);
    }

    #[test]
    fn pets_and_lone_letters_are_nobody() {
        check(&[
            ("and my cat Pickle. write", Person, "Pickle", &[]),
            ("my dog is named Bruce Wayne", Person, "Bruce Wayne", &[]),
            ("mi gata se llama Dulcinea.", Location, "Dulcinea", &[]),
            ("J'habite à Genève", Person, "J", &[]),
            // the animal must be in the same sentence, within four words
            ("cat friendly. contact maya at", Person, "maya", &[(Person, "maya")]),
            (
                "the cat was sick all week so Anna Berg took it to the vet",
                Person,
                "Anna Berg",
                &[(Person, "Anna Berg")],
            ),
        ]);
    }

    #[test]
    fn elisions_and_german_abstract_nouns_leave() {
        check(&[
            (
                "la sogerim c'est dumont",
                Organization,
                "sogerim c",
                &[(Organization, "sogerim")],
            ),
            ("stp, c'est pour", Organization, "stp, c", &[]),
            ("Die Fehlermeldung lautet", Person, "Fehlermeldung", &[]),
            (
                "Kündigung meines Arbeitsverhältnisses",
                Organization,
                "Arbeitsverhältnisses",
                &[],
            ),
            ("Herr Hartung kommt", Person, "Hartung", &[(Person, "Hartung")]),
        ]);
    }

    #[test]
    fn organizations_keep_their_legal_form() {
        check(&[
            (
                "at Greenvale Foods Inc.\n",
                Organization,
                "Greenvale Foods Inc",
                &[(Organization, "Greenvale Foods Inc.")],
            ),
            (
                "en Logística Miramar S.A.\n",
                Organization,
                "Logística Miramar S.A",
                &[(Organization, "Logística Miramar S.A.")],
            ),
            (
                "Talleres Gómez S.L., Murcia",
                Organization,
                "Talleres Gómez",
                &[(Organization, "Talleres Gómez S.L.")],
            ),
            (
                "Wohnbau Nord GmbH.",
                Organization,
                "Wohnbau Nord",
                &[(Organization, "Wohnbau Nord GmbH")],
            ),
            // not an ordinary word after the span, and other kinds end before a dot
            (
                "Acme Corp as a vendor",
                Organization,
                "Acme Corp",
                &[(Organization, "Acme Corp")],
            ),
            ("Grüße an Berger.", Person, "Berger.", &[(Person, "Berger")]),
        ]);
    }

    #[test]
    fn ordinary_words_are_dropped_and_gazetteers_fix_kinds() {
        check(&[
            // common words of any of the seven languages
            ("Der Vermieter sagt", Person, "Vermieter", &[]),
            ("nos vemos mañana", Location, "mañana", &[]),
            ("Check the Insurance tab", Organization, "Insurance", &[]),
            ("corta la cebolla", Location, "cebolla", &[]),
            // an organization of ordinary words in title case is a name; in
            // capitals or lower case it is a heading or prose
            (
                "Insurer: Emerald Travel Cover",
                Organization,
                "Emerald Travel Cover",
                &[(Organization, "Emerald Travel Cover")],
            ),
            ("LIFE INSURANCE POLICY", Organization, "LIFE INSURANCE", &[]),
            // names and places are never ordinary words, however frequent
            ("Weber kommt", Person, "Weber", &[(Person, "Weber")]),
            (
                "vivo en Buenos Aires",
                Location,
                "Buenos Aires",
                &[(Location, "Buenos Aires")],
            ),
            // a title or a relation before outweighs the word list
            ("my sister becca says", Person, "becca", &[(Person, "becca")]),
            ("Frau Krämer ruft an", Person, "Frau Krämer", &[(Person, "Krämer")]),
            ("ask becca", Person, "becca", &[]),
            // kinds a gazetteer is sure of
            ("Tell Priya", Organization, "Priya", &[(Person, "Priya")]),
            ("moving to Utrecht", Person, "Utrecht", &[(Location, "Utrecht")]),
            // a place that is also a name stays the model's call
            ("Georgia said", Person, "Georgia", &[(Person, "Georgia")]),
        ]);
    }

    #[test]
    fn a_place_and_its_region_are_one_location() {
        let text = "we moved from Austin, Texas to Paris, Lyon and Nice";
        let span = |part: &str| {
            let start = text.find(part).unwrap();
            Span::new(Location, start..start + part.len(), 0.9, "ner")
        };
        let got: Vec<_> = refine(text, ["Austin", "Texas", "Paris", "Lyon"].map(span).to_vec())
            .iter()
            .map(|s| s.text(text).to_owned())
            .collect();
        // a list of cities stays a list
        assert_eq!(got, ["Austin, Texas", "Paris", "Lyon"]);
    }
}
