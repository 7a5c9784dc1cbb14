//! Context rules: words near a candidate that make it more (or less) likely.

use crate::text::{ceil_boundary, floor_boundary};
use std::ops::Range;

/// How far (in bytes) before a candidate to look for context words.
pub(crate) const BEFORE: usize = 48;
/// How far after.
pub(crate) const AFTER: usize = 24;
/// Score added when context is present (Presidio uses the same boost).
pub(crate) const BOOST: f32 = 0.35;

/// The text before `range`, at most `window` bytes, on the same line.
pub(crate) fn before<'t>(text: &'t str, range: &Range<usize>, window: usize) -> &'t str {
    let start = ceil_boundary(text, range.start.saturating_sub(window));
    let slice = &text[start..range.start];
    match slice.rfind('\n') {
        Some(nl) => &slice[nl + 1..],
        None => slice,
    }
}

/// The text after `range`, at most `window` bytes, on the same line.
pub(crate) fn after<'t>(text: &'t str, range: &Range<usize>, window: usize) -> &'t str {
    let end = floor_boundary(text, range.end.saturating_add(window));
    let slice = &text[range.end..end];
    match slice.find('\n') {
        Some(nl) => &slice[..nl],
        None => slice,
    }
}

/// True if `haystack` contains one of `words` as a whole word, ignoring ASCII case.
///
/// Words may contain spaces ("date of birth"); a word boundary is any
/// character that is not alphanumeric.
pub(crate) fn contains_word(haystack: &str, words: &[&str]) -> bool {
    let lower = haystack.to_ascii_lowercase();
    words.iter().any(|w| {
        lower.match_indices(w).any(|(i, _)| {
            let ok_before = lower[..i].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
            let ok_after = lower[i + w.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric());
            ok_before && ok_after
        })
    })
}

/// True if one of `words` stands near `range`: on the same line, up to
/// [`BEFORE`] bytes before it or [`AFTER`] bytes after it. Some labels stand
/// on the line above ("Phone:\n555 0100"), so the previous line's end is
/// searched too.
pub(crate) fn near(text: &str, range: &Range<usize>, words: &[&str]) -> bool {
    let same_line_before = before(text, range, BEFORE);
    if contains_word(same_line_before, words) || contains_word(after(text, range, AFTER), words) {
        return true;
    }
    // The line above, when the candidate starts its own line.
    if same_line_before.trim().is_empty() {
        let line_start = range.start - same_line_before.len();
        if line_start > 0 {
            let prev = line_start - 1..line_start - 1;
            return contains_word(before(text, &prev, BEFORE), words);
        }
    }
    false
}

/// The character just before `range`, if any.
pub(crate) fn char_before(text: &str, range: &Range<usize>) -> Option<char> {
    text[..range.start].chars().next_back()
}

/// The character just after `range`, if any.
pub(crate) fn char_after(text: &str, range: &Range<usize>) -> Option<char> {
    text[range.end..].chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_whole_words_only() {
        assert!(contains_word("Call me at", &["call"]));
        assert!(!contains_word("recall that", &["call"]));
        assert!(contains_word("my Date of Birth:", &["date of birth"]));
    }

    #[test]
    fn looks_on_the_same_line_and_the_label_line_above() {
        let text = "Phone:\n555 0100\nnothing here 555 0199";
        let first = 7..15;
        assert!(near(text, &first, &["phone"]));
        let second = text.len() - 8..text.len();
        assert!(!near(text, &second, &["phone"]));
    }

    #[test]
    fn windows_respect_char_boundaries() {
        let text = "ééééééééééééééééééééééééééééééééé 1";
        let r = text.len() - 1..text.len();
        assert!(before(text, &r, 5).len() <= 5);
        assert_eq!(after(text, &(0..2), 5), "éé");
    }
}
