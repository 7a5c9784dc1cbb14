//! Word lists the span rules consult: common words that are no names, first
//! names, places and regions.
//!
//! The NER model over-tags capitalized nouns ("Vermieter", "Insurance") and
//! words of other languages ("mañana"), and it mixes up kinds ("Bilbao" as a
//! person, "Priya" as an organization). A word's frequency in ordinary text
//! and a gazetteer settle most of these without the model: see
//! `refine::lexicon_kind` and `refine::join_regions`. The lists are written by
//! `pkg-scripts/shield_lexicon.py` from wordfreq, Faker, the US census and
//! GeoNames (sources and licences in `data/shield/README.md`), and decoded
//! once, on first use.

use std::sync::OnceLock;

/// A sorted set of lower-case words, decoded from a front-coded list.
pub(crate) struct WordList {
    /// The words, each followed by `\n`.
    text: String,
    /// Where each word starts in `text`, in sorted order.
    starts: Vec<u32>,
}

impl WordList {
    /// Decodes a front-coded list: `#` lines are comments; every other line is
    /// a digit k and the word's characters after the first k of the previous
    /// word.
    ///
    /// # Panics
    /// On a malformed or unsorted list. The lists are compiled in and checked
    /// by tests, so this cannot happen at run time.
    fn decode(front_coded: &str) -> Self {
        let mut text = String::with_capacity(front_coded.len() * 2);
        let mut starts = Vec::new();
        let mut prev = 0..0;
        for line in front_coded.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let mut chars = line.chars();
            let shared = chars
                .next()
                .and_then(|c| c.to_digit(10))
                .expect("front-coded line starts with a digit");
            let start = text.len();
            let prefix_bytes: usize = text[prev.clone()]
                .chars()
                .take(shared as usize)
                .map(char::len_utf8)
                .sum();
            text.extend_from_within(prev.start..prev.start + prefix_bytes);
            text.push_str(chars.as_str());
            assert!(
                text[prev.clone()] < text[start..],
                "word list is not sorted at {:?}",
                &text[start..]
            );
            text.push('\n');
            starts.push(u32::try_from(start).expect("word list under 4 GiB"));
            prev = start..text.len() - 1;
        }
        Self { text, starts }
    }

    /// Whether `word` (lower case) is in the list.
    pub(crate) fn contains(&self, word: &str) -> bool {
        self.starts
            .binary_search_by(|&start| self.word(start).cmp(word))
            .is_ok()
    }

    fn word(&self, start: u32) -> &str {
        let rest = &self.text[start as usize..];
        &rest[..rest.find('\n').unwrap_or(rest.len())]
    }

    /// How many words the list holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.starts.len()
    }
}

macro_rules! word_list {
    ($(#[$doc:meta])* $name:ident, $file:literal) => {
        $(#[$doc])*
        pub(crate) fn $name() -> &'static WordList {
            static LIST: OnceLock<WordList> = OnceLock::new();
            LIST.get_or_init(|| WordList::decode(include_str!(concat!("../../data/shield/", $file))))
        }
    };
}

word_list!(
    /// Words of seven languages that occur at least once per million words
    /// and are no first name, surname or place.
    common_words,
    "common-words.txt"
);
word_list!(
    /// First names of many locales that are no place.
    first_names,
    "first-names.txt"
);
word_list!(
    /// Countries, US states and cities of 100,000 people or more, that are no
    /// name; words joined by one space, without dots.
    places,
    "places.txt"
);
word_list!(
    /// Countries, US states, and states, provinces and regions of many
    /// countries: what may follow a city after a comma.
    regions,
    "regions.txt"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_coding_round_trips_multibyte_prefixes() {
        let list = WordList::decode("# header\n0größe\n4er\n2üne\n0zz\n");
        for w in ["größe", "größer", "grüne", "zz"] {
            assert!(list.contains(w), "{w}");
        }
        for w in ["grö", "größ", "gr", "", "zzz", "a"] {
            assert!(!list.contains(w), "{w}");
        }
        assert_eq!(list.len(), 4);
    }

    #[test]
    #[should_panic(expected = "not sorted")]
    fn an_unsorted_list_is_refused() {
        WordList::decode("0b\n0a\n");
    }

    #[test]
    fn the_shipped_lists_decode_and_hold_what_they_promise() {
        assert!(common_words().len() > 100_000);
        for w in [
            "vermieter",
            "mañana",
            "insurance",
            "wohnzimmer",
            "cebolla",
            "dernière",
            "ledger",
        ] {
            assert!(common_words().contains(w), "{w} is a common word");
        }
        // names and places are never common words, however frequent
        for w in ["john", "maria", "weber", "hope", "will", "essen", "paris", "reading"] {
            assert!(!common_words().contains(w), "{w} is a name or place");
        }
        for w in ["priya", "giulia", "frieda", "odette", "kwame"] {
            assert!(first_names().contains(w), "{w} is a first name");
        }
        for w in ["paris", "jordan", "georgia", "florence"] {
            assert!(!first_names().contains(w), "{w} is also a place");
        }
        for w in ["rostock", "utrecht", "wien", "buenos aires", "new york", "münchen"] {
            assert!(places().contains(w), "{w} is a place");
        }
        assert!(!places().contains("washington"), "also a name");
    }
}
