//! Streaming text out of a growing token list.

/// What a growing decode adds since the last call. A token can end inside a
/// multi-byte character, which decodes as U+FFFD until the next token
/// completes it: such a tail is held back. One home for every streaming loop
/// (plain generation, and speculation natively and in the browser).
#[derive(Debug, Clone, Default)]
pub struct TextDelta {
    emitted: usize,
}

impl TextDelta {
    /// The part of `text` (the whole decode so far) not yet handed out;
    /// empty while it ends in an incomplete character.
    pub fn next<'a>(&mut self, text: &'a str) -> &'a str {
        match text.get(self.emitted..) {
            Some(fresh) if !text.ends_with('\u{FFFD}') => {
                self.emitted = text.len();
                fresh
            }
            _ => "",
        }
    }

    /// Everything of the final `text` not yet handed out, incomplete tail included.
    pub fn rest<'a>(&mut self, text: &'a str) -> &'a str {
        let rest = text.get(self.emitted..).unwrap_or_default();
        self.emitted = text.len();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incomplete_character_is_held_back_until_completed() {
        let mut d = TextDelta::default();
        assert_eq!(d.next("Hi"), "Hi");
        assert_eq!(d.next("Hi \u{FFFD}"), "");
        assert_eq!(d.next("Hi é"), " é");
        assert_eq!(d.next("Hi é"), "");
        assert_eq!(d.rest("Hi é\u{FFFD}"), "\u{FFFD}");
    }
}
