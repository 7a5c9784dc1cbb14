//! Offsets in the three units callers use.
//!
//! Rust strings are indexed by UTF-8 bytes, JavaScript strings by UTF-16 code
//! units, and labeled data sets (Python) by Unicode code points. The shield
//! works in bytes internally and converts at the boundary with an
//! [`OffsetCursor`], which walks the text once for offsets given in
//! increasing order.

use serde::{Deserialize, Serialize};

/// The unit an offset is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetUnit {
    /// UTF-8 bytes (Rust `str` indices).
    Utf8,
    /// UTF-16 code units (JavaScript `String` indices).
    Utf16,
    /// Unicode scalar values (Python `str` indices).
    CodePoint,
}

impl OffsetUnit {
    fn width(self, c: char) -> usize {
        match self {
            OffsetUnit::Utf8 => c.len_utf8(),
            OffsetUnit::Utf16 => c.len_utf16(),
            OffsetUnit::CodePoint => 1,
        }
    }
}

/// Converts byte offsets of one text to another unit, and back.
///
/// Conversions are amortised O(1) when queried in increasing order (the
/// cursor only moves forward); a query behind the cursor restarts it from the
/// beginning, so any order is correct.
#[derive(Debug, Clone)]
pub struct OffsetCursor<'a> {
    text: &'a str,
    unit: OffsetUnit,
    byte: usize,
    unit_pos: usize,
}

impl<'a> OffsetCursor<'a> {
    /// A cursor over `text` converting to and from `unit`.
    pub fn new(text: &'a str, unit: OffsetUnit) -> Self {
        Self {
            text,
            unit,
            byte: 0,
            unit_pos: 0,
        }
    }

    /// Converts a byte offset to `unit`. Offsets inside a character or past
    /// the end are clamped to the next character boundary / the end.
    pub fn from_byte(&mut self, byte: usize) -> usize {
        if self.unit == OffsetUnit::Utf8 {
            return byte.min(self.text.len());
        }
        if byte < self.byte {
            self.byte = 0;
            self.unit_pos = 0;
        }
        for c in self.text[self.byte..].chars() {
            if self.byte >= byte {
                break;
            }
            self.byte += c.len_utf8();
            self.unit_pos += self.unit.width(c);
        }
        self.unit_pos
    }

    /// Converts an offset in `unit` to a byte offset. Returns `None` when it
    /// is past the end or falls inside a character (e.g. between the two
    /// halves of a UTF-16 surrogate pair).
    pub fn to_byte(&mut self, pos: usize) -> Option<usize> {
        if self.unit == OffsetUnit::Utf8 {
            return self.text.is_char_boundary(pos).then_some(pos);
        }
        if pos < self.unit_pos {
            self.byte = 0;
            self.unit_pos = 0;
        }
        for c in self.text[self.byte..].chars() {
            if self.unit_pos >= pos {
                break;
            }
            self.byte += c.len_utf8();
            self.unit_pos += self.unit.width(c);
        }
        (self.unit_pos == pos).then_some(self.byte)
    }
}

/// The largest char boundary of `text` that is `<= i`.
pub(crate) fn floor_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary of `text` that is `>= i`.
pub(crate) fn ceil_boundary(text: &str, i: usize) -> usize {
    let mut i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "né 🎉 ok";

    #[test]
    fn converts_bytes_to_each_unit() {
        // n=1 byte, é=2 bytes, space, 🎉=4 bytes (2 UTF-16 units), space, ok
        let mut u16c = OffsetCursor::new(TEXT, OffsetUnit::Utf16);
        let mut cp = OffsetCursor::new(TEXT, OffsetUnit::CodePoint);
        let bytes = [0, 1, 3, 4, 8, 9, 11];
        let utf16 = [0, 1, 2, 3, 5, 6, 8];
        let points = [0, 1, 2, 3, 4, 5, 7];
        for i in 0..bytes.len() {
            assert_eq!(u16c.from_byte(bytes[i]), utf16[i]);
            assert_eq!(cp.from_byte(bytes[i]), points[i]);
        }
        // Going backwards restarts the cursor and stays correct.
        assert_eq!(u16c.from_byte(4), 3);
        for i in (0..bytes.len()).rev() {
            assert_eq!(u16c.to_byte(utf16[i]), Some(bytes[i]));
            assert_eq!(cp.to_byte(points[i]), Some(bytes[i]));
        }
    }

    #[test]
    fn rejects_offsets_inside_a_character() {
        let mut u16c = OffsetCursor::new(TEXT, OffsetUnit::Utf16);
        assert_eq!(u16c.to_byte(4), None, "between the surrogates of 🎉");
        assert_eq!(u16c.to_byte(99), None);
        let mut u8c = OffsetCursor::new(TEXT, OffsetUnit::Utf8);
        assert_eq!(u8c.to_byte(2), None, "inside é");
    }

    #[test]
    fn boundaries_clamp() {
        assert_eq!(floor_boundary(TEXT, 2), 1);
        assert_eq!(ceil_boundary(TEXT, 2), 3);
        assert_eq!(ceil_boundary(TEXT, 99), TEXT.len());
    }
}
