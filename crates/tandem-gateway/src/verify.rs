//! `POST /v1/verify`: one round of speculative decoding, verified here.
//!
//! The gateway runs the acceptance rule itself
//! ([`tandem_decoding::speculative::round::judge`]) and asks a target engine for
//! the target model's scores of the draft positions. Two engines exist:
//!
//! * a [`TargetEngine`] in the same process (`tandem serve --target`, which
//!   runs the model on burn and keeps each session's KV cache), giving full
//!   distributions, so sampled rounds are exact;
//! * any OpenAI-compatible `/v1/completions` upstream that returns prompt
//!   log-probabilities (vLLM's `prompt_logprobs` extension), greedy rounds
//!   only. The gateway then keeps each session's tokens and
//!   sends the whole sequence each round; the serving engine's prefix cache
//!   makes that cheap. `tandem serve --target` serves this endpoint too.

use crate::response::Response;
use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};
use std::collections::HashMap;
use tandem_decoding::speculative::round::TargetScores;
use tandem_protocol::verify::{TargetStats, VerifyRequest};

/// Longest session (prompt, output and draft) a round may build.
pub const MAX_SESSION_TOKENS: usize = 32_768;
/// Tokens the gateway keeps for all sessions of completions targets together
/// (4 bytes each); the least recently used sessions are forgotten beyond it.
const SESSION_TOKEN_BUDGET: usize = 4 << 20;

/// The target model's side of a round.
pub trait TargetEngine {
    /// Whether this engine serves the public model name `model`.
    fn serves(&self, model: &str) -> bool;

    /// The public model names served (for `/v1/models`).
    fn models(&self) -> Vec<String>;

    /// Scores the draft positions of `round` (`draft.len() + 1` of them),
    /// keeping the session's state for the next round.
    fn score<'a>(&'a self, round: &'a VerifyRequest) -> LocalBoxFuture<'a, Result<Scored, TargetError>>;

    /// Answers `POST /v1/completions` (vLLM's `prompt_logprobs` shape), the
    /// endpoint through which another gateway or worker reaches this target.
    /// The gateway admits the request (auth, rate limit, size) first.
    fn completions<'a>(&'a self, body: &'a [u8]) -> LocalBoxFuture<'a, Response>;
}

/// A target engine's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Per position: argmax or distribution.
    pub scores: TargetScores,
    /// What it cost.
    pub stats: TargetStats,
}

/// Why a target could not score a round.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetError {
    /// The target no longer holds the session up to `base` (evicted,
    /// restarted, or another instance): the client resends it from base 0.
    #[error("the session holds {held} tokens, fewer than the round's base; resend it from base 0")]
    SessionLost {
        /// Tokens the target still holds for the session.
        held: usize,
    },
    /// The round does not fit this target (too long, token outside the vocabulary).
    #[error("{0}")]
    Invalid(String),
    /// The target's queue is full: the client retries after `retry_after_s`.
    #[error("the target is busy; retry in {retry_after_s} s")]
    Busy {
        /// Seconds to wait before retrying.
        retry_after_s: u64,
    },
    /// The round waited or ran past its deadline.
    #[error("the target did not answer within {0} s")]
    TimedOut(u64),
    /// The target failed.
    #[error("the target failed: {0}")]
    Failed(String),
}

impl TargetError {
    /// The client-facing response.
    pub fn response(&self) -> Response {
        match self {
            Self::SessionLost { .. } => Response::error(409, "invalid_request_error", "session_lost", self.to_string()),
            Self::Invalid(_) => {
                Response::error(400, "invalid_request_error", "invalid_verify_request", self.to_string())
            }
            Self::Busy { retry_after_s } => {
                let mut resp = Response::error(503, "overloaded_error", "target_busy", self.to_string());
                resp.headers.push(("retry-after".into(), retry_after_s.to_string()));
                resp
            }
            Self::TimedOut(_) => Response::error(504, "upstream_error", "target_timeout", self.to_string()),
            Self::Failed(_) => Response::error(502, "upstream_error", "target_failed", self.to_string()),
        }
    }
}

/// Tokens of each session a completions target has seen, least recently
/// used forgotten first when over budget. Kept by the [`SharedState`](crate::SharedState).
#[derive(Debug, Default)]
pub struct Sessions {
    map: HashMap<String, (Vec<u32>, u64)>,
    tick: u64,
    total: usize,
}

impl Sessions {
    /// The session's first `base` tokens, or how many it holds when fewer.
    pub fn prefix(&mut self, session: &str, base: usize) -> Result<Vec<u32>, usize> {
        if base == 0 {
            return Ok(Vec::new());
        }
        self.tick += 1;
        match self.map.get_mut(session) {
            Some((tokens, used)) if tokens.len() >= base => {
                *used = self.tick;
                Ok(tokens[..base].to_vec())
            }
            held => Err(held.map_or(0, |(t, _)| t.len())),
        }
    }

    /// Records what the target now holds for `session`.
    pub fn store(&mut self, session: &str, tokens: Vec<u32>) {
        self.tick += 1;
        self.total += tokens.len();
        if let Some((old, _)) = self.map.insert(session.to_owned(), (tokens, self.tick)) {
            self.total -= old.len();
        }
        while self.total > SESSION_TOKEN_BUDGET {
            let Some(oldest) = self
                .map
                .iter()
                .filter(|(k, _)| k.as_str() != session)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((t, _)) = self.map.remove(&oldest) {
                self.total -= t.len();
            }
        }
    }
}

/// The `/v1/completions` body asking an OpenAI-compatible server for the
/// target's choices along `prompt` (vLLM's `prompt_logprobs`) and its next token.
pub(crate) fn completions_body(model: &str, prompt: &[u32]) -> Vec<u8> {
    json!({
        "model": model,
        "prompt": prompt,
        "max_tokens": 1,
        "temperature": 0,
        "prompt_logprobs": 1,
        "logprobs": 1,
        "return_tokens_as_token_ids": true,
    })
    .to_string()
    .into_bytes()
}

/// The target's argmax at the last `draft_len` prompt positions and the
/// token after the prompt, from a completions reply; and the prompt tokens
/// the server reports as cached.
pub fn parse_completions(body: &[u8], prompt_len: usize, draft_len: usize) -> Result<(Vec<u32>, usize), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let choice = v.pointer("/choices/0").ok_or("no choices in the completions reply")?;
    let logprobs = choice
        .get("prompt_logprobs")
        .and_then(Value::as_array)
        .ok_or("the completions reply has no `prompt_logprobs` (the target must support vLLM's extension)")?;
    if logprobs.len() != prompt_len {
        return Err(format!(
            "`prompt_logprobs` has {} entries for a {prompt_len}-token prompt",
            logprobs.len()
        ));
    }
    let mut choices = Vec::with_capacity(draft_len + 1);
    for entry in &logprobs[prompt_len - draft_len..] {
        let top = entry
            .as_object()
            .and_then(|m| m.iter().find(|(_, e)| e.get("rank").and_then(Value::as_u64) == Some(1)))
            .and_then(|(id, _)| id.parse::<u32>().ok())
            .ok_or("a `prompt_logprobs` entry has no rank-1 token id")?;
        choices.push(top);
    }
    let next = choice
        .pointer("/logprobs/tokens/0")
        .and_then(Value::as_str)
        .and_then(|t| t.strip_prefix("token_id:"))
        .and_then(|t| t.parse::<u32>().ok())
        .ok_or("the completions reply does not name its token as `token_id:N` (return_tokens_as_token_ids)")?;
    choices.push(next);
    let cached = v
        .pointer("/usage/prompt_tokens_details/cached_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    // The upstream's figure, never more than the prompt it was asked about.
    let cached = usize::try_from(cached).unwrap_or(usize::MAX).min(prompt_len);
    Ok((choices, cached))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_hand_back_prefixes_and_report_loss() {
        let mut s = Sessions::default();
        assert_eq!(s.prefix("a", 0).unwrap(), Vec::<u32>::new());
        assert_eq!(s.prefix("a", 2), Err(0));
        s.store("a", vec![1, 2, 3]);
        assert_eq!(s.prefix("a", 2).unwrap(), vec![1, 2]);
        assert_eq!(s.prefix("a", 4), Err(3));
    }

    #[test]
    fn sessions_forget_the_least_recently_used_over_budget() {
        let mut s = Sessions::default();
        s.store("old", vec![0; SESSION_TOKEN_BUDGET / 2]);
        s.store("mid", vec![0; SESSION_TOKEN_BUDGET / 2]);
        s.prefix("old", 1).unwrap();
        s.store("new", vec![0; 10]);
        assert!(s.prefix("mid", 1).is_err(), "mid was least recently used");
        assert!(s.prefix("old", 1).is_ok());
        assert_eq!(s.total, SESSION_TOKEN_BUDGET / 2 + 10);
    }

    #[test]
    fn completions_replies_give_argmax_choices() {
        let body = json!({
            "choices": [{
                "prompt_logprobs": [null,
                    {"7": {"logprob": -0.1, "rank": 1}},
                    {"9": {"logprob": -2.0, "rank": 4}, "5": {"logprob": -0.3, "rank": 1}}],
                "logprobs": {"tokens": ["token_id:11"]}
            }],
            "usage": {"prompt_tokens_details": {"cached_tokens": 1}}
        });
        let bytes = body.to_string().into_bytes();
        assert_eq!(parse_completions(&bytes, 3, 2).unwrap(), (vec![7, 5, 11], 1));
        assert!(parse_completions(&bytes, 4, 2).is_err(), "length mismatch");
        let boast = body
            .to_string()
            .replace("\"cached_tokens\":1", "\"cached_tokens\":18446744073709551615");
        assert_eq!(
            parse_completions(boast.as_bytes(), 3, 2).unwrap().1,
            3,
            "cached is capped at the prompt"
        );
        let plain = json!({"choices": [{"text": "x"}]}).to_string().into_bytes();
        assert!(parse_completions(&plain, 3, 2).unwrap_err().contains("prompt_logprobs"));
    }
}
