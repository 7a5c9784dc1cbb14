//! From per-token BIO tags (a token-classification model's output) to
//! entity [`Span`]s in the original text, under per-kind thresholds (the
//! precision knob, [`ModelThresholds`]).
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

/// One tagged token: its byte range in the text, its likeliest entity label
/// and how likely it is part of any entity.
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedToken {
    /// Byte range in the analyzed text.
    pub range: Range<usize>,
    /// Index of the likeliest label other than `O` (into the [`TagScheme`]).
    pub label: usize,
    /// Probability that the token is part of an entity: `1 − p(O)`.
    pub prob: f32,
}

impl TaggedToken {
    /// Reads one token's label probabilities (in the scheme's order).
    pub fn from_probs(scheme: &TagScheme, range: Range<usize>, probs: &[f32]) -> Self {
        let outside = probs
            .iter()
            .enumerate()
            .filter(|&(i, _)| scheme.tag(i) == Tag::Outside)
            .map(|(_, p)| p)
            .sum::<f32>();
        let label = probs
            .iter()
            .enumerate()
            .filter(|&(i, _)| scheme.tag(i) != Tag::Outside)
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i);
        Self {
            range,
            label,
            prob: (1.0 - outside).clamp(0.0, 1.0),
        }
    }
}

/// How likely a word piece must be part of an entity, per kind, before the
/// model's span is kept: the precision knob of the model layer.
///
/// A lower threshold leaks fewer names and tags more ordinary words; the
/// presets and their measured precision and recall are in docs/shield.md.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelThresholds {
    person: f32,
    location: f32,
    organization: f32,
    other: f32,
}

/// The named settings of [`ModelThresholds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelPreset {
    /// Tuned to leak as few names as possible (the default).
    #[default]
    Recall,
    /// Tuned to change as few ordinary words as possible.
    Precision,
}

impl FromStr for ModelPreset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "recall" => Ok(Self::Recall),
            "precision" => Ok(Self::Precision),
            _ => Err(format!("unknown model preset `{s}`: expected `recall` or `precision`")),
        }
    }
}

impl Default for ModelThresholds {
    fn default() -> Self {
        Self::preset(ModelPreset::default())
    }
}

impl ModelThresholds {
    /// The thresholds of a preset.
    pub fn preset(preset: ModelPreset) -> Self {
        match preset {
            // Chosen on the development set (docs/shield.md), never on the final slice.
            ModelPreset::Recall => Self {
                person: 0.2,
                location: 0.3,
                organization: 0.3,
                other: 0.3,
            },
            ModelPreset::Precision => Self {
                person: 0.85,
                location: 0.85,
                organization: 0.7,
                other: 0.85,
            },
        }
    }

    /// One threshold for every kind (`0.0..=1.0`).
    pub fn uniform(t: f32) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&t) {
            return Err(format!("a model threshold must be between 0 and 1, got {t}"));
        }
        Ok(Self {
            person: t,
            location: t,
            organization: t,
            other: t,
        })
    }

    /// The threshold for `kind`.
    pub fn get(&self, kind: EntityKind) -> f32 {
        match kind {
            EntityKind::Person => self.person,
            EntityKind::Location => self.location,
            EntityKind::Organization => self.organization,
            _ => self.other,
        }
    }
}

/// Decodes tagged tokens (in text order) into entity spans scored by the
/// mean entity probability of their tokens. A token below its kind's
/// threshold counts as outside any entity.
///
/// Entity tokens separated by nothing but spaces form one span, whatever
/// their tags say: a model that reads "Jürgen" as a person and "Müller" as a
/// place, or "Wohnbau" as a person and "Nord GmbH" as an organization, still
/// means one name. The span takes the kind with the most probability mass.
/// The spans are then cut to the policy (titles, greetings, function words,
/// legal forms: `refine`).
pub fn decode(scheme: &TagScheme, text: &str, tokens: &[TaggedToken], thresholds: &ModelThresholds) -> Vec<Span> {
    struct Open {
        votes: Vec<(EntityKind, f32)>,
        start: usize,
        end: usize,
        prob_sum: f32,
        n: usize,
    }
    impl Open {
        fn add(&mut self, kind: EntityKind, prob: f32) {
            match self.votes.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, sum)) => *sum += prob,
                None => self.votes.push((kind, prob)),
            }
            self.prob_sum += prob;
            self.n += 1;
        }
    }
    let mut out = Vec::new();
    let mut open: Option<Open> = None;
    let close = |o: Open, out: &mut Vec<Span>| {
        let kind = o.votes.iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|(k, _)| *k);
        if let (Some(kind), Some(range)) = (kind, snap(text, o.start..o.end)) {
            out.push(Span::new(kind, range, o.prob_sum / o.n as f32, MODEL_RECOGNIZER));
        }
    };
    for t in tokens {
        if t.range.start >= t.range.end || t.range.end > text.len() {
            continue;
        }
        let kind = match scheme.tag(t.label) {
            Tag::Begin(k) | Tag::Inside(k) if t.prob >= thresholds.get(k) => k,
            _ => {
                if let Some(o) = open.take() {
                    close(o, &mut out);
                }
                continue;
            }
        };
        let joins = open.as_ref().is_some_and(|o| {
            o.end <= t.range.start && text[o.end..t.range.start].chars().all(|c| c == ' ' || c == '\t')
        });
        if !joins && let Some(o) = open.take() {
            close(o, &mut out);
        }
        let o = open.get_or_insert_with(|| Open {
            votes: Vec::new(),
            start: t.range.start,
            end: t.range.end,
            prob_sum: 0.0,
            n: 0,
        });
        o.end = t.range.end;
        o.add(kind, t.prob);
    }
    if let Some(o) = open {
        close(o, &mut out);
    }
    super::refine::refine(text, out)
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
        let text = "Hi, I'm Jane Dow from Paris.";
        let tokens = vec![
            tok(text, "Hi", 0, 0),
            tok(text, "Jane", 0, 1),
            tok(text, "Dow", 0, 2),
            tok(text, "from", 0, 0),
            tok(text, "Par", 0, 3),
            // the last word piece mis-tagged O: the span still covers the word
            tok(text, "is", 22, 0),
            tok(text, ".", 0, 0),
        ];
        let spans = decode(&scheme(), text, &tokens, &ModelThresholds::default());
        let got: Vec<_> = spans.iter().map(|s| (s.kind, s.text(text))).collect();
        assert_eq!(
            got,
            vec![(EntityKind::Person, "Jane Dow"), (EntityKind::Location, "Paris")]
        );
        assert!((spans[0].score - 0.9).abs() < 1e-6);
        assert_eq!(spans[0].recognizer, MODEL_RECOGNIZER);
    }

    #[test]
    fn neighbours_across_a_space_are_one_span_of_the_likeliest_kind() {
        let text = "Jürgen Müller, Paris\nBerlin";
        let mut tokens = vec![
            tok(text, "Jürgen", 0, 2),
            tok(text, "Müller", 0, 3),
            tok(text, "Paris", 0, 4),
            tok(text, "Berlin", 0, 3),
        ];
        tokens[0].prob = 0.95;
        tokens[1].prob = 0.6;
        let spans = decode(&scheme(), text, &tokens, &ModelThresholds::default());
        let got: Vec<_> = spans.iter().map(|s| (s.kind, s.text(text))).collect();
        assert_eq!(
            got,
            vec![
                (EntityKind::Person, "Jürgen Müller"),
                (EntityKind::Location, "Paris"),
                (EntityKind::Location, "Berlin")
            ]
        );
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
        assert!(decode(&scheme(), text, &tokens, &ModelThresholds::default()).is_empty());
    }

    #[test]
    fn multibyte_words_snap_on_char_boundaries() {
        let text = "Müller wohnt in Köln";
        let tokens = vec![tok(text, "Mü", 0, 1), tok(text, "Kö", 0, 3)];
        let spans = decode(&scheme(), text, &tokens, &ModelThresholds::default());
        let got: Vec<_> = spans.iter().map(|s| s.text(text)).collect();
        assert_eq!(got, vec!["Müller", "Köln"]);
    }

    #[test]
    fn thresholds_trade_recall_for_precision() {
        let text = "ask Will about it";
        let probs = [0.45, 0.5, 0.02, 0.03, 0.0]; // p(O) 0.45: an entity at 0.55
        let start = text.find("Will").unwrap();
        let token = TaggedToken::from_probs(&scheme(), start..start + 4, &probs);
        assert_eq!(token.label, 1);
        assert!((token.prob - 0.55).abs() < 1e-6);
        let tokens = [token];
        let recall = decode(&scheme(), text, &tokens, &ModelThresholds::preset(ModelPreset::Recall));
        assert_eq!(recall.len(), 1);
        assert!((recall[0].score - 0.55).abs() < 1e-6);
        let precision = ModelThresholds::preset(ModelPreset::Precision);
        assert!(decode(&scheme(), text, &tokens, &precision).is_empty());
        assert!(ModelThresholds::uniform(1.5).is_err());
        assert_eq!("precision".parse::<ModelPreset>(), Ok(ModelPreset::Precision));
        assert!("loose".parse::<ModelPreset>().is_err());
    }

    #[test]
    fn schemes_refuse_unknown_labels() {
        assert!(TagScheme::parse(&["O", "B-NOPE"]).is_err());
        assert!(TagScheme::parse(&["B-PERSON"]).is_err());
        assert!(TagScheme::parse(&["O", "X-PERSON"]).is_err());
        assert_eq!(scheme().kinds(), vec![EntityKind::Person, EntityKind::Location]);
    }
}
