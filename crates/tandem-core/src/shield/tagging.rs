//! From per-token BIO tags (a token-classification model's output) to
//! entity [`Span`]s in the original text.
//!
//! The model tags word pieces; users think in words. Decoding is lenient
//! (an `I-` tag without a `B-` opens an entity) and snaps each entity out to
//! whole words and in past surrounding punctuation, so "Doe" in "Doe's" or a
//! mis-tagged last word piece never leaves half a name in the clear.

use super::Span;
use std::ops::Range;
use std::str::FromStr;
use tandem_protocol::EntityKind;

/// The name model spans report as their recognizer.
pub const MODEL_RECOGNIZER: &str = "ner";

/// One tag of a BIO scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// Not part of an entity.
    Outside,
    /// The first token of an entity.
    Begin(EntityKind),
    /// A later token of an entity.
    Inside(EntityKind),
}

/// A model's output labels (`O`, `B-PERSON`, `I-PERSON`, …) as [`Tag`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagScheme {
    tags: Vec<Tag>,
}

impl TagScheme {
    /// Parses label names; entity names are the shield's (Presidio's) names.
    pub fn parse<S: AsRef<str>>(labels: &[S]) -> Result<Self, String> {
        let tags = labels
            .iter()
            .map(|l| {
                let l = l.as_ref();
                if l == "O" {
                    return Ok(Tag::Outside);
                }
                let (prefix, name) = l.split_once('-').ok_or_else(|| format!("label `{l}` is not BIO"))?;
                let kind = EntityKind::from_str(name).map_err(|e| format!("label `{l}`: {e}"))?;
                match prefix {
                    "B" => Ok(Tag::Begin(kind)),
                    "I" => Ok(Tag::Inside(kind)),
                    _ => Err(format!("label `{l}` is not BIO")),
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        if !tags.contains(&Tag::Outside) {
            return Err("labels lack `O`".into());
        }
        Ok(Self { tags })
    }

    /// How many labels the model outputs.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether the scheme has no labels (never true for a parsed scheme).
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// The tag of label index `i` (`Outside` when out of range).
    pub fn tag(&self, i: usize) -> Tag {
        self.tags.get(i).copied().unwrap_or(Tag::Outside)
    }

    /// The entity kinds the scheme can produce.
    pub fn kinds(&self) -> Vec<EntityKind> {
        let mut kinds: Vec<EntityKind> = self
            .tags
            .iter()
            .filter_map(|t| match t {
                Tag::Begin(k) | Tag::Inside(k) => Some(*k),
                Tag::Outside => None,
            })
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

/// One tagged token: its byte range in the text, the chosen label and its probability.
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedToken {
    /// Byte range in the analyzed text.
    pub range: Range<usize>,
    /// Index of the label (into the [`TagScheme`]).
    pub label: usize,
    /// The label's probability.
    pub prob: f32,
}

/// Decodes tagged tokens (in text order) into entity spans scored by the
/// mean probability of their tokens.
pub fn decode(scheme: &TagScheme, text: &str, tokens: &[TaggedToken]) -> Vec<Span> {
    struct Open {
        kind: EntityKind,
        start: usize,
        end: usize,
        prob_sum: f32,
        n: usize,
    }
    let mut out = Vec::new();
    let mut open: Option<Open> = None;
    let close = |o: Open, out: &mut Vec<Span>| {
        if let Some(range) = snap(text, o.start..o.end) {
            out.push(Span::new(o.kind, range, o.prob_sum / o.n as f32, MODEL_RECOGNIZER));
        }
    };
    for t in tokens {
        if t.range.start >= t.range.end || t.range.end > text.len() {
            continue;
        }
        match scheme.tag(t.label) {
            Tag::Inside(kind) if open.as_ref().is_some_and(|o| o.kind == kind) => {
                let o = open.as_mut().expect("checked above");
                o.end = t.range.end;
                o.prob_sum += t.prob;
                o.n += 1;
            }
            Tag::Begin(kind) | Tag::Inside(kind) => {
                if let Some(o) = open.take() {
                    close(o, &mut out);
                }
                open = Some(Open {
                    kind,
                    start: t.range.start,
                    end: t.range.end,
                    prob_sum: t.prob,
                    n: 1,
                });
            }
            Tag::Outside => {
                if let Some(o) = open.take() {
                    close(o, &mut out);
                }
            }
        }
    }
    if let Some(o) = open {
        close(o, &mut out);
    }
    out
}

/// Widens `range` to whole words, then trims surrounding whitespace and
/// punctuation; `None` when nothing alphanumeric remains.
fn snap(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let is_word = |c: char| c.is_alphanumeric();
    let mut start = range.start;
    if text[start..].chars().next().is_some_and(is_word) {
        for (i, c) in text[..start].char_indices().rev() {
            if !is_word(c) {
                break;
            }
            start = i;
        }
    }
    let mut end = range.end;
    if text[..end].chars().next_back().is_some_and(is_word) {
        for c in text[end..].chars() {
            if !is_word(c) {
                break;
            }
            end += c.len_utf8();
        }
    }
    trim(text, start..end)
}

/// `range` without leading and trailing whitespace or punctuation (the `.`
/// of "Corp." stays outside too); `None` when nothing alphanumeric remains.
pub(crate) fn trim(text: &str, range: Range<usize>) -> Option<Range<usize>> {
    let s = &text[range.clone()];
    let keep = |c: char| c.is_alphanumeric();
    let first = s.char_indices().find(|&(_, c)| keep(c))?.0;
    let (last, c) = s.char_indices().rev().find(|&(_, c)| keep(c))?;
    Some(range.start + first..range.start + last + c.len_utf8())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme() -> TagScheme {
        TagScheme::parse(&["O", "B-PERSON", "I-PERSON", "B-LOCATION", "I-LOCATION"]).unwrap()
    }

    fn tok(text: &str, piece: &str, from: usize, label: usize) -> TaggedToken {
        let start = text[from..].find(piece).unwrap() + from;
        TaggedToken {
            range: start..start + piece.len(),
            label,
            prob: 0.9,
        }
    }

    #[test]
    fn bio_tokens_become_word_spans() {
        let text = "Hi, I'm Jane Doe from Paris.";
        let tokens = vec![
            tok(text, "Hi", 0, 0),
            tok(text, "Jane", 0, 1),
            tok(text, "Doe", 0, 2),
            tok(text, "from", 0, 0),
            tok(text, "Par", 0, 3),
            // the last word piece mis-tagged O: the span still covers the word
            tok(text, "is", 22, 0),
            tok(text, ".", 0, 0),
        ];
        let spans = decode(&scheme(), text, &tokens);
        let got: Vec<_> = spans.iter().map(|s| (s.kind, s.text(text))).collect();
        assert_eq!(
            got,
            vec![(EntityKind::Person, "Jane Doe"), (EntityKind::Location, "Paris")]
        );
        assert!((spans[0].score - 0.9).abs() < 1e-6);
        assert_eq!(spans[0].recognizer, MODEL_RECOGNIZER);
    }

    #[test]
    fn inside_without_begin_opens_and_kind_change_splits() {
        let text = "Jane Paris";
        let tokens = vec![tok(text, "Jane", 0, 2), tok(text, "Paris", 0, 4)];
        let spans = decode(&scheme(), text, &tokens);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].kind, EntityKind::Person);
        assert_eq!(spans[1].kind, EntityKind::Location);
    }

    #[test]
    fn punctuation_only_spans_vanish_and_bad_ranges_are_skipped() {
        let text = "-- ok";
        let tokens = vec![
            TaggedToken {
                range: 0..2,
                label: 1,
                prob: 1.0,
            },
            TaggedToken {
                range: 3..99,
                label: 1,
                prob: 1.0,
            },
        ];
        assert!(decode(&scheme(), text, &tokens).is_empty());
    }

    #[test]
    fn multibyte_words_snap_on_char_boundaries() {
        let text = "Müller wohnt in Köln";
        let tokens = vec![tok(text, "Mü", 0, 1), tok(text, "Kö", 0, 3)];
        let spans = decode(&scheme(), text, &tokens);
        let got: Vec<_> = spans.iter().map(|s| s.text(text)).collect();
        assert_eq!(got, vec!["Müller", "Köln"]);
    }

    #[test]
    fn schemes_refuse_unknown_labels() {
        assert!(TagScheme::parse(&["O", "B-NOPE"]).is_err());
        assert!(TagScheme::parse(&["B-PERSON"]).is_err());
        assert!(TagScheme::parse(&["O", "X-PERSON"]).is_err());
        assert_eq!(scheme().kinds(), vec![EntityKind::Person, EntityKind::Location]);
    }
}
