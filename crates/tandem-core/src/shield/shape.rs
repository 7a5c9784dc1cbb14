//! Word-shape bits for the tagger's input, one set per word piece.
//!
//! The base encoder lower-cases its input, so capitals, the strongest signal
//! for names, never reach it. The tagger adds one learned vector per bit to
//! each piece's input embedding, so every layer sees the shape of the piece's
//! word and of its neighbours. `pkg-scripts/ner_features.py` is the reference
//! the model was trained with; a fixture test keeps the two identical.

use std::ops::Range;

/// The bits, in the order the model's `shape_features` metadata lists them.
pub const SHAPE_FEATURES: [&str; 13] = [
    "capitalized",
    "all_caps",
    "lower",
    "inner_upper",
    "digit",
    "non_ascii",
    "code_token",
    "line_start",
    "sentence_start",
    "after_field",
    "prev_capitalized",
    "next_capitalized",
    "punctuation",
];

/// One piece's shape: bit `i` is [`SHAPE_FEATURES`]`[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape(u16);

impl Shape {
    /// Whether bit `i` is set.
    pub fn get(self, i: usize) -> bool {
        i < SHAPE_FEATURES.len() && self.0 & (1 << i) != 0
    }

    fn set(&mut self, i: usize, on: bool) {
        if on {
            self.0 |= 1 << i;
        }
    }

    /// The bits as `0.0`/`1.0`, ready for a tensor row.
    pub fn to_f32(self) -> [f32; SHAPE_FEATURES.len()] {
        std::array::from_fn(|i| if self.get(i) { 1.0 } else { 0.0 })
    }
}

const CODE_CHARS: &str = "_/\\=<>{}[]@#$%^*|~`";
const FIELD_CHARS: &str = ":=\"'>|,;([{";

/// Shapes of the pieces at byte ranges `pieces` of `text`.
pub fn shapes(text: &str, pieces: &[Range<usize>]) -> Vec<Shape> {
    let chars: Vec<char> = text.chars().collect();
    let starts: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    let char_at = |byte: usize| starts.partition_point(|&b| b < byte);
    let words = words(&chars);
    let mut owner = vec![usize::MAX; chars.len()];
    for (k, w) in words.iter().enumerate() {
        owner[w.clone()].fill(k);
    }
    let bits: Vec<Shape> = words.iter().map(|w| word_shape(&chars, w.clone())).collect();
    let capital = |k: usize| bits[k].get(0) || bits[k].get(1);
    pieces
        .iter()
        .map(|p| {
            let (s, e) = (char_at(p.start), char_at(p.end).min(chars.len()));
            match (s..e).map(|i| owner[i]).find(|&k| k != usize::MAX) {
                None => {
                    let mut shape = Shape::default();
                    shape.set(12, true);
                    shape
                }
                Some(k) => {
                    let mut shape = bits[k];
                    shape.set(10, k > 0 && capital(k - 1));
                    shape.set(11, k + 1 < words.len() && capital(k + 1));
                    shape
                }
            }
        })
        .collect()
}

/// Maximal runs of alphanumeric characters, as char ranges.
fn words(chars: &[char]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_alphanumeric() {
            let start = i;
            while i < chars.len() && chars[i].is_alphanumeric() {
                i += 1;
            }
            out.push(start..i);
        } else {
            i += 1;
        }
    }
    out
}

fn word_shape(chars: &[char], w: Range<usize>) -> Shape {
    let word = &chars[w.clone()];
    let letters: Vec<char> = word.iter().copied().filter(|c| c.is_alphabetic()).collect();
    let upper = |c: &char| c.is_uppercase();
    let lower = |c: &char| c.is_lowercase();
    let mut s = Shape::default();
    s.set(0, letters.first().is_some_and(upper) && letters.iter().any(lower));
    s.set(1, letters.len() >= 2 && letters.iter().all(upper));
    s.set(2, !letters.is_empty() && letters.iter().all(lower));
    s.set(3, letters.windows(2).any(|p| lower(&p[0]) && upper(&p[1])));
    s.set(4, word.iter().any(char::is_ascii_digit));
    s.set(5, letters.iter().any(|c| !c.is_ascii()));
    let (mut a, mut b) = (w.start, w.end);
    while a > 0 && !chars[a - 1].is_whitespace() {
        a -= 1;
    }
    while b < chars.len() && !chars[b].is_whitespace() {
        b += 1;
    }
    s.set(6, chars[a..b].iter().any(|c| CODE_CHARS.contains(*c)));
    // Walk back over blanks on this line, then over bullets and quotes.
    let mut p = w.start;
    while p > 0 && chars[p - 1].is_whitespace() && chars[p - 1] != '\n' {
        p -= 1;
    }
    let mut q = p;
    while q > 0 && chars[q - 1] != '\n' && !chars[q - 1].is_alphanumeric() {
        q -= 1;
    }
    let line_start = q == 0 || chars[q - 1] == '\n';
    s.set(7, line_start);
    while p > 0 && chars[p - 1].is_whitespace() {
        p -= 1;
    }
    let prev = p.checked_sub(1).map(|i| chars[i]);
    s.set(8, !line_start && matches!(prev, Some('.' | '!' | '?')));
    s.set(9, prev.is_some_and(|c| FIELD_CHARS.contains(c)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(text: &str, piece: &str) -> Shape {
        let start = text.find(piece).unwrap();
        let piece = start..start + piece.len();
        shapes(text, std::slice::from_ref(&piece))[0]
    }

    fn on(s: Shape) -> Vec<&'static str> {
        (0..SHAPE_FEATURES.len())
            .filter(|&i| s.get(i))
            .map(|i| SHAPE_FEATURES[i])
            .collect()
    }

    #[test]
    fn names_look_different_from_code_words() {
        let text = "Hi, I'm Sabine Krüger. My JSON parser calls getUser(id)";
        assert_eq!(on(shape_of(text, "Sabine")), ["capitalized", "next_capitalized"]);
        assert_eq!(
            on(shape_of(text, "Krüger")),
            ["capitalized", "non_ascii", "prev_capitalized", "next_capitalized"]
        );
        assert_eq!(on(shape_of(text, "JSON")), ["all_caps", "prev_capitalized"]);
        assert_eq!(on(shape_of(text, "getUser")), ["inner_upper"]);
        assert!(shape_of("see user_id=7", "user").get(6), "code_token");
        assert_eq!(on(shape_of(text, "(")), ["punctuation"]);
    }

    #[test]
    fn position_in_line_and_field() {
        let text = "Note. Then\n- anna\nName: Bob";
        assert!(shape_of(text, "Note").get(7));
        assert!(shape_of(text, "Then").get(8));
        assert!(shape_of(text, "anna").get(7), "a bullet does not hide the line start");
        assert!(shape_of(text, "Bob").get(9));
        assert!(!shape_of(text, "Bob").get(7));
    }
}
