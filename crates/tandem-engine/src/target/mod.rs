//! The target model's side of speculative decoding, on burn: scores drafts
//! for many sessions and answers prompt log-probability queries, keeping KV
//! caches between calls under a memory budget.
//!
//! Two kinds of cache entries share the budget:
//! * per session ([`Target::score`]): a `/v1/verify` round names its session
//!   and the position it builds on; the entry is truncated there (dropping a
//!   rejected draft) and extended by the new tokens only;
//! * by prefix ([`Target::prompt_logprobs`]): a completions request carries
//!   its whole prompt; the entry sharing the longest prefix is reused, as a
//!   serving engine's prefix cache would. Each position's log-probability
//!   record is kept with it, so reused positions need no recomputation.
//!
//! Least recently used entries are evicted when the budget is exceeded
//! (every byte an entry holds counts; see `store`); a session that was
//! evicted, or whose last round failed while running, answers
//! [`TargetError::SessionLost`] and the client resends it from the start.

use crate::EngineError;
use burn::tensor::Tensor;
use tandem_decoding::sampling::{History, Sampler, SamplingConfig, argmax};
use tandem_decoding::speculative::round::{self, TargetScores};
use tandem_models::{KvCache, Model, ModelError};
use tandem_protocol::verify::VerifyRequest;

mod store;
use store::{Entry, Key, Store, common_prefix, scope_of};

/// Log-probabilities kept per position for prompt queries (vLLM's default `max_logprobs`).
pub const MAX_TOP_LOGPROBS: usize = 20;
/// Positions run per forward pass when a long prompt is scored whole.
const CHUNK: usize = 64;

/// Why a target could not answer.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The session is not held up to the round's base (evicted or never seen).
    #[error("the session holds {held} tokens, fewer than the round's base {base}")]
    SessionLost {
        /// Tokens still held.
        held: usize,
        /// The base asked for.
        base: usize,
    },
    /// The request does not fit the model or the budget.
    #[error("{0}")]
    Invalid(String),
    /// Running the model failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<ModelError> for TargetError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Input(m) => Self::Invalid(m),
            other => Self::Engine(other.into()),
        }
    }
}

/// A scored verification round.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredRound {
    /// The target's choice or distribution at each draft position and the one after.
    pub scores: TargetScores,
    /// Tokens run through the model.
    pub forward_tokens: usize,
    /// Tokens reused from the cache.
    pub cached_tokens: usize,
}

/// One prompt position's log-probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionLogprobs {
    /// The token at (or, for the generated token, chosen after) this position.
    pub token: u32,
    /// Its log-probability.
    pub logprob: f32,
    /// Its rank (1 = most likely).
    pub rank: usize,
    /// The most likely tokens, best first, with their log-probabilities.
    pub top: Vec<(u32, f32)>,
}

/// The answer to a prompt query: a record for every prompt position after
/// the first, and the greedy next token.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptScores {
    /// `prompt.len() - 1` records, for positions `1..`.
    pub prompt: Vec<PositionLogprobs>,
    /// The argmax after the prompt.
    pub next: PositionLogprobs,
    /// Prompt tokens reused from the cache.
    pub cached_tokens: usize,
}

/// A target model with its cached sessions.
#[derive(Debug)]
pub struct Target {
    model: Model,
    store: Store,
    budget_bytes: usize,
}

impl Target {
    /// A target running `model`, keeping at most `budget_bytes` of KV cache.
    pub fn new(model: Model, budget_bytes: usize) -> Self {
        Self {
            model,
            store: Store::default(),
            budget_bytes,
        }
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// KV-cache bytes one position takes (keys and values of every layer, f32).
    pub fn bytes_per_token(&self) -> usize {
        let c = self.model.config();
        c.n_layers * 2 * c.n_kv_heads * c.head_dim * 4
    }

    /// Bytes held by the cache entries: KV positions in use, tokens, log-probability
    /// records and last-logits rows (the KV buffers grow by doubling, so they may hold up to
    /// twice their positions).
    pub fn held_bytes(&self) -> usize {
        self.store.held()
    }

    /// Number of cached entries (sessions and prefixes).
    pub fn entries(&self) -> usize {
        self.store.len()
    }

    /// Scores a verification round of `session`: truncates its cache to
    /// `base`, runs `context` and `draft`, and returns the target's view of
    /// each draft position and the next one. `sampling` gives distributions
    /// (for exact sampled verification); `None` gives the argmax.
    ///
    /// A new session starts from the longest prefix of its context that
    /// another session of the same scope holds: the text of its id up to
    /// the first U+001F (the gateway puts the client's name there), or the
    /// empty scope. Those positions are copied, not run (`cached_tokens`).
    pub fn score(
        &mut self,
        session: &str,
        base: usize,
        context: &[u32],
        draft: &[u32],
        sampling: Option<&SamplingConfig>,
    ) -> Result<ScoredRound, TargetError> {
        // A round the model cannot run is refused before any session state changes.
        self.check_vocab(context.iter().chain(draft))?;
        self.check_fits(base + context.len() + draft.len())?;
        let mut entry = match self.store.take_session(session) {
            Some(entry) => entry,
            None if base == 0 => self.new_session(session, context),
            None => return Err(TargetError::SessionLost { held: 0, base }),
        };
        if entry.tokens.len() < base {
            let held = entry.tokens.len();
            self.put_back(entry);
            return Err(TargetError::SessionLost { held, base });
        }
        // Held positions past the base that the context repeats (a new session's prompt that
        // another session ran, a resent context) are kept, not run again.
        let held = entry.tokens.len().min(entry.cache.len());
        let kept = base + common_prefix(entry.tokens.get(base..held).unwrap_or_default(), context);
        entry.tokens.truncate(kept);
        entry.tokens.extend_from_slice(&context[kept - base..]);
        entry.tokens.extend_from_slice(draft);
        let total = entry.tokens.len();
        // The position before the draft must be run too (its logits score draft[0]).
        let start = kept.min(total - draft.len() - 1);
        let result = self.run_round(&mut entry, start, draft.len(), sampling);
        // A round that failed while running leaves no entry behind: the next
        // round of the session is told it was lost and starts again.
        if result.is_ok() {
            self.put_back(entry);
        }
        result
    }

    /// A new entry for `session`, starting from the longest prefix of
    /// `context` that another session of its scope holds (a copy of those
    /// positions), so that a prompt shared by a conversation's answers, or by
    /// one system prompt, runs once.
    fn new_session(&self, session: &str, context: &[u32]) -> Entry {
        let mut entry = self.new_entry(Key::Session(session.to_owned()));
        if let Some((source, n)) = self.store.best_session_prefix(scope_of(session), context) {
            entry.tokens = source.tokens[..n].to_vec();
            entry.cache = source.cache.copy_prefix(n);
        }
        entry
    }

    /// Runs `entry`'s tokens from `start` and scores the last `draft_len + 1` positions.
    fn run_round(
        &self,
        entry: &mut Entry,
        start: usize,
        draft_len: usize,
        sampling: Option<&SamplingConfig>,
    ) -> Result<ScoredRound, TargetError> {
        entry.cache.truncate(start);
        let logits = self.run(&entry.tokens[start..], &mut entry.cache, draft_len + 1)?;
        let scores = match sampling {
            None => TargetScores::Argmax(logits.iter().map(|row| argmax(row) as u32).collect()),
            Some(config) => {
                let sampler = Sampler::new(config.clone()).map_err(|e| TargetError::Invalid(e.to_string()))?;
                TargetScores::Dists(
                    logits
                        .iter()
                        .map(|row| sampler.distribution(row, History::NONE))
                        .collect(),
                )
            }
        };
        Ok(ScoredRound {
            scores,
            forward_tokens: entry.tokens.len() - start,
            cached_tokens: start,
        })
    }

    /// Scores a `/v1/verify` round (argmax when greedy, distributions when sampled).
    pub fn score_round(&mut self, req: &VerifyRequest) -> Result<ScoredRound, TargetError> {
        let sampling = round::requested_sampling(req);
        self.score(&req.session, req.base, &req.context, &req.draft, sampling.as_ref())
    }

    /// Continues a judged plain round on its own (the round's `extend`): runs
    /// `next`, draws the following token, and so on, up to `req.extend`
    /// tokens or a stop token, greedily or with the round's sampling. The
    /// session must hold exactly what the round's reply says (`held`);
    /// afterwards it also holds `next` and every continuation token but the
    /// last. Returns the continuation (one position was run per token).
    pub fn extend_round(&mut self, req: &VerifyRequest, held: usize, next: u32) -> Result<Vec<u32>, TargetError> {
        let mut sampler = round::continuation_sampler(req).map_err(|e| TargetError::Invalid(e.to_string()))?;
        let n = req
            .extend
            .min(self.model.config().max_position.saturating_sub(held + 1));
        if n == 0 || req.stop.contains(&next) {
            return Ok(Vec::new());
        }
        self.check_vocab([next].iter())?;
        self.check_fits(held + n)?;
        let Some(mut entry) = self.store.take_session(&req.session) else {
            return Err(TargetError::SessionLost { held: 0, base: held });
        };
        if entry.tokens.len() != held {
            let had = entry.tokens.len();
            self.put_back(entry);
            return Err(TargetError::SessionLost { held: had, base: held });
        }
        let mut out = Vec::with_capacity(n);
        let mut last = next;
        entry.cache.truncate(held);
        let result = (|| {
            while out.len() < n {
                let row = self.run(&[last], &mut entry.cache, 1)?.remove(0);
                entry.tokens.push(last);
                last = match &mut sampler {
                    None => argmax(&row) as u32,
                    Some(s) => s.sample(&row, History::NONE),
                };
                out.push(last);
                if req.stop.contains(&last) {
                    break;
                }
            }
            Ok::<_, TargetError>(())
        })();
        // As for a round: one that failed while running leaves no entry behind.
        result?;
        self.put_back(entry);
        Ok(out)
    }

    /// vLLM-style prompt log-probabilities of `prompt` (top `top_n` per
    /// position) and the greedy next token, reusing the cached entry that
    /// shares the longest prefix.
    pub fn prompt_logprobs(&mut self, prompt: &[u32], top_n: usize) -> Result<PromptScores, TargetError> {
        if prompt.is_empty() {
            return Err(TargetError::Invalid("the prompt is empty".into()));
        }
        if top_n > MAX_TOP_LOGPROBS {
            return Err(TargetError::Invalid(format!(
                "at most {MAX_TOP_LOGPROBS} log-probabilities per position"
            )));
        }
        self.check_vocab(prompt)?;
        self.check_fits(prompt.len())?;
        let mut entry = match self.store.take_best_prefix(prompt) {
            Some(entry) => entry,
            None => {
                let key = self.store.prefix_key();
                self.new_entry(key)
            }
        };
        let common = common_prefix(&entry.tokens, prompt).min(prompt.len());
        let reuse = if common == entry.tokens.len() && entry.tail.is_some() {
            // The prompt extends this entry: its last logits score the next position.
            common
        } else {
            // Run the last shared position again: its logits give the record of
            // the position after it. Records of positions `1..=reuse` stand.
            entry.tail = None;
            common.saturating_sub(1)
        };
        entry.tokens.truncate(reuse);
        entry.records.truncate(reuse);
        entry.cache.truncate(reuse);
        // A query that failed while running leaves no entry behind.
        let next = self.extend_records(&mut entry, prompt)?;
        let scores = PromptScores {
            prompt: entry.records.iter().map(|r| trim(r, top_n)).collect(),
            next: trim(&next, top_n),
            cached_tokens: reuse,
        };
        self.put_back(entry);
        Ok(scores)
    }

    /// Runs `prompt[entry.tokens.len()..]`, appending a record per new
    /// position; returns the record of the greedy next token.
    fn extend_records(&self, entry: &mut Entry, prompt: &[u32]) -> Result<PositionLogprobs, TargetError> {
        let start = entry.tokens.len();
        // The entry's last logits score the first new position (or the next token).
        if let Some(tail) = entry.tail.take() {
            match prompt.get(start) {
                Some(&token) => entry.records.push(record(&tail, token)),
                None => {
                    let next = record(&tail, argmax(&tail) as u32);
                    entry.tail = Some(tail);
                    return Ok(next);
                }
            }
        }
        let mut next = None;
        for chunk in prompt[start..].chunks(CHUNK) {
            let logits = self.run(chunk, &mut entry.cache, chunk.len())?;
            for row in logits {
                let pos = entry.tokens.len() + 1;
                entry.tokens.push(prompt[pos - 1]);
                match prompt.get(pos) {
                    Some(&token) => entry.records.push(record(&row, token)),
                    None => {
                        next = Some(record(&row, argmax(&row) as u32));
                        entry.tail = Some(row);
                    }
                }
            }
        }
        next.ok_or_else(|| TargetError::Invalid("nothing to run".into()))
    }

    /// Runs `tokens` and reads back the logits of the last `rows` positions
    /// (the output head runs on those only).
    fn run(&self, tokens: &[u32], cache: &mut KvCache, rows: usize) -> Result<Vec<Vec<f32>>, TargetError> {
        if rows == 0 || rows > tokens.len() {
            return Err(TargetError::Invalid(format!(
                "{rows} positions to score among {} run",
                tokens.len()
            )));
        }
        let logits: Tensor<2> = self.model.forward_tail(tokens, cache, rows)?;
        let vocab = self.model.config().vocab_size;
        let flat = logits
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| EngineError::Readback(format!("{e:?}")))?;
        Ok(flat.chunks(vocab).map(<[f32]>::to_vec).collect())
    }

    /// Refuses token ids the model has no embedding for, before any row is read with them.
    fn check_vocab<'t>(&self, tokens: impl IntoIterator<Item = &'t u32>) -> Result<(), TargetError> {
        let vocab = self.model.config().vocab_size;
        match tokens.into_iter().find(|&&t| t as usize >= vocab) {
            Some(t) => Err(TargetError::Invalid(format!(
                "token {t} is outside the vocabulary of {vocab}"
            ))),
            None => Ok(()),
        }
    }

    fn check_fits(&self, tokens: usize) -> Result<(), TargetError> {
        let max = self.model.config().max_position;
        if tokens > max {
            return Err(TargetError::Invalid(format!(
                "{tokens} tokens exceed the model's context of {max}"
            )));
        }
        if tokens * self.bytes_per_token() > self.budget_bytes {
            return Err(TargetError::Invalid(format!(
                "{tokens} tokens need more KV cache than the target's budget of {} MiB",
                self.budget_bytes >> 20
            )));
        }
        Ok(())
    }

    fn new_entry(&self, key: Key) -> Entry {
        Entry::new(key, self.model.new_cache())
    }

    /// Returns `entry` to the store as the most recent, evicting the least
    /// recently used others while over budget.
    fn put_back(&mut self, entry: Entry) {
        let per_token = self.bytes_per_token();
        self.store.put(entry, per_token, self.budget_bytes);
    }
}

/// The log-probability record of `token` under `logits`. Non-finite logits
/// (a masked token's −∞, a broken model's NaN) stay out of `top` and the
/// normalization: a NaN there would sort first and reach the wire as `null`.
fn record(logits: &[f32], token: u32) -> PositionLogprobs {
    let log_z = tandem_decoding::math::log_sum_exp(logits).map_or(f32::NAN, |(max, lse)| max + lse);
    let own = logits[token as usize];
    // One pass for the rank and the best few, kept sorted best first (ties to
    // the lower id): no index buffer the size of the vocabulary and no
    // selection over it. A completion writes two records per generated token;
    // this saved about 1.5 ms a token on Qwen2.5-Coder-1.5B's 151,936 ids
    // (docs/speculative.md, stop 49).
    let mut top: Vec<(u32, f32)> = Vec::with_capacity(MAX_TOP_LOGPROBS + 1);
    let mut above = 0;
    for (i, &l) in logits.iter().enumerate() {
        if !l.is_finite() {
            continue;
        }
        above += usize::from(l > own);
        if top.len() == MAX_TOP_LOGPROBS && top.last().is_some_and(|&(_, worst)| l.total_cmp(&worst).is_le()) {
            continue;
        }
        // Ids arrive in order, so an equal logit goes after its equals.
        let at = top.partition_point(|&(_, t)| t.total_cmp(&l).is_ge());
        top.insert(at, (i as u32, l));
        top.truncate(MAX_TOP_LOGPROBS);
    }
    PositionLogprobs {
        token,
        logprob: own - log_z,
        rank: 1 + above,
        top: top.into_iter().map(|(i, l)| (i, l - log_z)).collect(),
    }
}

fn trim(r: &PositionLogprobs, n: usize) -> PositionLogprobs {
    PositionLogprobs {
        top: r.top[..n.min(r.top.len())].to_vec(),
        ..r.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_rank_and_normalize() {
        let r = record(&[0.0, 2.0, 1.0, 2.0], 2);
        assert_eq!(r.rank, 3);
        assert_eq!(r.top[0].0, 1, "ties go to the lower id");
        assert_eq!(r.top.len(), 4);
        let total: f32 = r.top.iter().map(|(_, l)| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-5);
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4]), 2);
        // Non-finite logits are in neither the top list nor the normalization.
        let r = record(&[0.0, f32::NAN, 1.0, f32::NEG_INFINITY, f32::INFINITY], 2);
        assert_eq!(r.top.iter().map(|&(i, _)| i).collect::<Vec<_>>(), [2, 0]);
        assert!(r.top.iter().all(|&(_, l)| l.is_finite()), "{r:?}");
        let total: f32 = r.top.iter().map(|(_, l)| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-5, "{r:?}");
        assert_eq!(r.rank, 1);
    }

    /// The record as first written: every finite id sorted by a partial
    /// selection. The one-pass [`record`] must agree with it exactly.
    fn record_by_selection(logits: &[f32], token: u32) -> PositionLogprobs {
        let log_z = tandem_decoding::math::log_sum_exp(logits).map_or(f32::NAN, |(max, lse)| max + lse);
        let mut order: Vec<u32> = (0..logits.len() as u32)
            .filter(|&i| logits[i as usize].is_finite())
            .collect();
        let k = MAX_TOP_LOGPROBS.min(order.len());
        order.select_nth_unstable_by(k.saturating_sub(1), |&a, &b| {
            logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b))
        });
        order.truncate(k);
        order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b)));
        let own = logits[token as usize];
        PositionLogprobs {
            token,
            logprob: own - log_z,
            rank: 1 + logits.iter().filter(|&&l| l.is_finite() && l > own).count(),
            top: order.iter().map(|&i| (i, logits[i as usize] - log_z)).collect(),
        }
    }

    #[test]
    fn one_pass_records_match_the_selection() {
        // Random logits from a few levels (many ties), with some non-finite
        // ones, over vocabularies shorter and longer than the top list.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..400 {
            let n = 1 + (next() % if case % 2 == 0 { 30 } else { 3000 }) as usize;
            let logits: Vec<f32> = (0..n)
                .map(|_| match next() % 50 {
                    0 => f32::NAN,
                    1 => f32::NEG_INFINITY,
                    2 => f32::INFINITY,
                    3 => -0.0,
                    v => (v % 13) as f32 * 0.5 - 3.0,
                })
                .collect();
            let token = (next() % n as u64) as u32;
            let (fast, slow) = (record(&logits, token), record_by_selection(&logits, token));
            assert_eq!(fast.token, slow.token);
            assert_eq!(fast.rank, slow.rank, "case {case}");
            assert_eq!(fast.logprob.to_bits(), slow.logprob.to_bits(), "case {case}");
            let bits = |r: &PositionLogprobs| r.top.iter().map(|&(i, l)| (i, l.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&slow), "case {case}: {logits:?}");
        }
    }
}
