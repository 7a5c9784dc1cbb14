//! A drafter's output head cut to the tokens it is likely to propose.
//!
//! A small drafter's output head is its largest matrix: Qwen2.5-Coder-0.5B's
//! tied head is 151,936 × 896 `Q8_0`, 145 MB, about 30 % of what a decode
//! step reads. A draft only has to be likely, since the target verifies
//! every token: a drafter that scores only a shortlist of frequent tokens
//! keeps the answer exact and reads a fraction of its head ("FR-Spec",
//! Zhao et al., 2025). Tokens off the list get a logit of −∞: the drafter
//! never proposes them, and in sampled rounds their draft probability is 0,
//! which the target's rejection rule accounts for like any other draft
//! distribution.
//!
//! Which tokens: the most frequent ones of a corpus under the model's
//! tokenizer, ranked in a list shipped with native builds ([`RankedTokens::SHIPPED`], built by
//! `tandem models rank-tokens`), plus the caller's must-haves (the stop tokens),
//! plus, per answer, the tokens of the conversation itself
//! ([`Shortlist::with_tokens`]): what a code edit copies is often rare.
//!
//! Only the fused CPU decoder runs a shortlist ([`crate::Model::shortlist`]);
//! elsewhere the drafter keeps its whole head.

use std::collections::HashSet;
use std::sync::Arc;

use tandem_quant::QMatrix;

use crate::error::ModelError;
use crate::tokenizer::TextTokenizer;

/// Rows of a shortlisted head come in groups of this many, so that the
/// x86 kernels read them interleaved (`tandem_quant::Layout::Interleaved`);
/// a short group repeats its last token, whose logit is then written twice.
const GROUP: usize = 8;

/// The output head's rows for a list of tokens, and where their logits go.
#[derive(Clone)]
pub struct Shortlist {
    vocab: usize,
    /// Runs of listed tokens with their head rows: the ranked list, then
    /// what [`Shortlist::with_tokens`] added.
    parts: Vec<Part>,
    /// Every listed token once.
    listed: Arc<HashSet<u32>>,
}

impl std::fmt::Debug for Shortlist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shortlist")
            .field("tokens", &self.len())
            .field("vocab", &self.vocab)
            .field("parts", &self.parts.len())
            .finish()
    }
}

#[derive(Clone)]
struct Part {
    ids: Vec<u32>,
    head: Arc<QMatrix>,
}

impl Part {
    fn new(head: &QMatrix, mut ids: Vec<u32>) -> Result<Self, ModelError> {
        if let Some(&last) = ids.last() {
            ids.resize(ids.len().next_multiple_of(GROUP), last);
        }
        let rows = head
            .select_rows(&ids)
            .map_err(|e| ModelError::Input(format!("shortlist: {e}")))?;
        Ok(Self {
            ids,
            head: Arc::new(rows.into_fastest_layout()),
        })
    }
}

impl Shortlist {
    /// The rows of `head` (`[vocab, hidden]`) for `ids`, each once, in
    /// their first order. Refuses an empty list and ids outside the vocabulary.
    pub(crate) fn new(head: &QMatrix, ids: &[u32]) -> Result<Self, ModelError> {
        let vocab = head.rows();
        if ids.is_empty() {
            return Err(ModelError::Input("a shortlist needs at least one token".into()));
        }
        if let Some(&bad) = ids.iter().find(|&&t| t as usize >= vocab) {
            return Err(ModelError::Input(format!(
                "shortlist token {bad} is outside the vocabulary of {vocab}"
            )));
        }
        let mut listed = HashSet::with_capacity(ids.len());
        let ids: Vec<u32> = ids.iter().copied().filter(|&t| listed.insert(t)).collect();
        Ok(Self {
            vocab,
            parts: vec![Part::new(head, ids)?],
            listed: Arc::new(listed),
        })
    }

    /// This list plus the tokens of `tokens` it lacks (a conversation's, so
    /// that the drafter can copy from it), whose rows come from `model`'s
    /// head. The ranked part is shared, not copied; tokens outside the
    /// vocabulary are refused.
    pub fn with_tokens(&self, model: &crate::Model, tokens: &[u32]) -> Result<Self, ModelError> {
        let head = model.host_head().ok_or_else(no_host_head)?;
        if head.rows() != self.vocab {
            return Err(ModelError::Input("this shortlist was made for another model".into()));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.vocab) {
            return Err(ModelError::Input(format!(
                "token {bad} is outside the vocabulary of {}",
                self.vocab
            )));
        }
        let mut seen = HashSet::new();
        let extra: Vec<u32> = tokens
            .iter()
            .copied()
            .filter(|t| !self.listed.contains(t) && seen.insert(*t))
            .collect();
        if extra.is_empty() {
            return Ok(self.clone());
        }
        // The ranked part and earlier additions stay; only the new rows are gathered.
        let mut parts = self.parts.clone();
        parts.push(Part::new(head, extra)?);
        let mut listed = (*self.listed).clone();
        listed.extend(seen);
        Ok(Self {
            vocab: self.vocab,
            parts,
            listed: Arc::new(listed),
        })
    }

    /// How many distinct tokens are listed.
    pub fn len(&self) -> usize {
        self.listed.len()
    }

    /// Whether no token is listed (never: a shortlist is built from at least one).
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    /// Whether `token` may be proposed.
    pub fn contains(&self, token: u32) -> bool {
        self.listed.contains(&token)
    }

    /// The vocabulary size of the model it was made for.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Logits `[rows, vocab]` of `normed` (`[rows, hidden]`, the final
    /// norm's output): the listed tokens' as the whole head computes them,
    /// −∞ for every other.
    pub(crate) fn logits(&self, normed: &[f32], rows: usize) -> Vec<f32> {
        let mut logits = vec![f32::NEG_INFINITY; rows * self.vocab];
        for part in &self.parts {
            let scores = part
                .head
                .matmul(normed, rows)
                .expect("input widths are fixed by the model's shapes");
            for (out, row) in logits
                .chunks_exact_mut(self.vocab)
                .zip(scores.chunks_exact(part.ids.len()))
            {
                for (&id, &score) in part.ids.iter().zip(row) {
                    out[id as usize] = score;
                }
            }
        }
        logits
    }
}

pub(crate) fn no_host_head() -> ModelError {
    ModelError::Input("a shortlisted head needs the fused CPU decoder (every matrix quantized, on the CPU)".into())
}

/// Tokens ranked by how often they occur in a corpus, most frequent first,
/// by their text in a tokenizer's vocabulary, so that a list serves every
/// model whose tokenizer has the same tokens (Qwen2.5's family shares one).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct RankedTokens {
    /// [`RankedTokens::FORMAT`].
    pub format: String,
    /// The tokenizer the corpus was counted with.
    pub tokenizer: String,
    /// What was counted, and how.
    pub corpus: String,
    /// Vocabulary entries, most frequent first.
    pub tokens: Vec<String>,
}

impl RankedTokens {
    /// The file format this type reads and writes.
    pub const FORMAT: &str = "tandem-ranked-tokens/1";

    /// The shipped list, with the feature `ranked-tokens`: Qwen2.5's
    /// tokenizer counted over code, its documentation and English prose
    /// (`pkg-scripts/rank-tokens`; its `corpus` field says which).
    #[cfg(feature = "ranked-tokens")]
    pub const SHIPPED: Option<&[u8]> = Some(include_bytes!("../assets/ranked-tokens-qwen2.5.json"));
    /// The shipped list: none in a build without the feature `ranked-tokens`.
    #[cfg(not(feature = "ranked-tokens"))]
    pub const SHIPPED: Option<&[u8]> = None;

    /// Share of a list's tokens a tokenizer must know for the list to be
    /// about that tokenizer at all.
    const MIN_KNOWN: f64 = 0.95;

    /// Parses a list and checks its format.
    pub fn parse(bytes: &[u8]) -> Result<Self, ModelError> {
        let list: Self =
            serde_json::from_slice(bytes).map_err(|e| ModelError::Config(format!("ranked tokens: {e}")))?;
        if list.format != Self::FORMAT {
            return Err(ModelError::Config(format!(
                "ranked tokens: format `{}`, expected `{}`",
                list.format,
                Self::FORMAT
            )));
        }
        Ok(list)
    }

    /// The ids of the first `n` tokens in `tokenizer`, or `None` when the
    /// tokenizer knows under [`Self::MIN_KNOWN`] of them (another family's
    /// vocabulary: the counts would say nothing about it).
    pub fn ids(&self, tokenizer: &TextTokenizer, n: usize) -> Option<Vec<u32>> {
        let first = &self.tokens[..n.min(self.tokens.len())];
        let ids: Vec<u32> = first.iter().filter_map(|t| tokenizer.token_id(t)).collect();
        (!first.is_empty() && ids.len() as f64 >= Self::MIN_KNOWN * first.len() as f64).then_some(ids)
    }
}
