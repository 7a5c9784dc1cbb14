//! `POST /v1/verify`: one round of speculative decoding, verified here.
//!
//! The gateway runs the acceptance rule itself
//! ([`tandem_decoding::speculative::round::judge`]) and asks a target engine for
//! the target model's scores of the draft positions. Two engines exist:
//!
//! * a [`TargetScorer`] in the same process (`tandem serve --target`, which
//!   runs the model on burn and keeps each session's KV cache), giving full
//!   distributions, so sampled rounds are exact;
//! * any OpenAI-compatible `/v1/completions` upstream that returns prompt
//!   log-probabilities (vLLM's `prompt_logprobs` extension), greedy rounds
//!   only. The gateway then keeps each session's tokens and
//!   sends the whole sequence each round; the serving engine's prefix cache
//!   makes that cheap. `tandem serve --target` serves this endpoint too.

use crate::response::Response;
use futures_util::future::LocalBoxFuture;
use std::collections::HashMap;
use tandem_decoding::speculative::round::TargetScores;
use tandem_protocol::completions::{CompletionReply, CompletionRequest};
use tandem_protocol::verify::{TargetStats, VerifyRefusal, VerifyRequest};

/// Longest session (prompt, output and draft) a round may build.
pub const MAX_SESSION_TOKENS: usize = 32_768;
/// Tokens the gateway keeps for all sessions of completions targets together
/// (4 bytes each); the least recently used sessions are forgotten beyond it.
const SESSION_TOKEN_BUDGET: usize = 4 << 20;

/// The target model's side of a round.
pub trait TargetScorer {
    /// Whether this engine serves the public model name `model`.
    fn serves(&self, model: &str) -> bool;

    /// The public model names served (for `/v1/models`).
    fn models(&self) -> Vec<String>;

    /// Scores the draft positions of `round` (`draft.len() + 1` of them),
    /// keeping the session's state for the next round.
    fn score<'a>(&'a self, round: &'a VerifyRequest) -> LocalBoxFuture<'a, Result<Scored, ScoreError>>;

    /// Continues a judged plain round by up to `round.extend` tokens after
    /// `next` (the session holds `held` tokens); the continuation and what it
    /// cost. A target that cannot continue answers with none.
    fn extend<'a>(
        &'a self,
        round: &'a VerifyRequest,
        held: usize,
        next: u32,
    ) -> LocalBoxFuture<'a, Result<(Vec<u32>, TargetStats), ScoreError>> {
        let _ = (round, held, next);
        Box::pin(async { Ok((Vec::new(), TargetStats::default())) })
    }

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
pub enum ScoreError {
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

impl ScoreError {
    /// The wire's name for this refusal.
    pub fn refusal(&self) -> VerifyRefusal {
        match self {
            Self::SessionLost { .. } => VerifyRefusal::SessionLost,
            Self::Invalid(_) => VerifyRefusal::Invalid,
            Self::Busy { .. } => VerifyRefusal::TargetBusy,
            Self::TimedOut(_) => VerifyRefusal::TargetTimeout,
            Self::Failed(_) => VerifyRefusal::TargetFailed,
        }
    }

    /// The client-facing response.
    pub fn response(&self) -> Response {
        let refusal = self.refusal();
        let mut resp = Response::error(refusal.status(), refusal.error_type(), refusal.code(), self.to_string());
        if let Self::Busy { retry_after_s } = self {
            resp.headers.push(("retry-after".into(), retry_after_s.to_string()));
        }
        resp
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
/// target's choices along `prompt` (vLLM's `prompt_logprobs`) and its next token;
/// with `extend` above 0, also its greedy continuation of up to that many tokens,
/// ending after any of `stop` (vLLM's `stop_token_ids`).
pub(crate) fn completions_body(model: &str, prompt: &[u32], extend: usize, stop: &[u32]) -> Vec<u8> {
    let mut request = CompletionRequest::target_choices(model, prompt.to_vec());
    if extend > 0 {
        request = request.continued(extend, stop.to_vec());
    }
    serde_json::to_vec(&request).expect("a completions request serializes")
}

/// What a completions target answered for a round.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteChoices {
    /// The target's argmax at the draft's positions, then its next token.
    pub choices: Vec<u32>,
    /// Prompt tokens the server reports as cached.
    pub cached: usize,
    /// Its continuation after the next token: at most `extend` tokens, cut
    /// after the first of `stop` (or after the next token, when that is one).
    pub continuation: Vec<u32>,
}

/// Reads a completions reply's bytes for a round of `draft_len` drafted tokens
/// ending a `prompt_len`-token prompt. A server that generates past `extend`
/// or past a stop token is cut back, never trusted.
pub fn parse_completions(
    body: &[u8],
    prompt_len: usize,
    draft_len: usize,
    extend: usize,
    stop: &[u32],
) -> Result<RemoteChoices, String> {
    let reply: CompletionReply = serde_json::from_slice(body).map_err(|e| format!("not a completions reply: {e}"))?;
    let (choices, cached) = reply.target_choices(prompt_len, draft_len)?;
    let next = *choices.last().expect("target_choices ends with the next token");
    let mut continuation = Vec::new();
    if extend > 0 && !stop.contains(&next) {
        for token in reply.continuation()?.into_iter().take(extend) {
            continuation.push(token);
            if stop.contains(&token) {
                break;
            }
        }
    }
    Ok(RemoteChoices {
        choices,
        cached,
        continuation,
    })
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
    fn a_continuation_is_cut_at_extend_and_after_a_stop_token() {
        let reply = |tokens: &[u32]| {
            let names: Vec<String> = tokens.iter().map(|t| format!("token_id:{t}")).collect();
            serde_json::to_vec(&serde_json::json!({"choices": [{
                "prompt_logprobs": [null, {"3": {"logprob": -0.1, "rank": 1}}],
                "logprobs": {"tokens": names}
            }]}))
            .unwrap()
        };
        let parse =
            |tokens: &[u32], extend, stop: &[u32]| parse_completions(&reply(tokens), 2, 0, extend, stop).unwrap();
        assert_eq!(
            parse(&[5, 6, 7, 8], 2, &[]).continuation,
            vec![6, 7],
            "at most `extend`"
        );
        assert_eq!(
            parse(&[5, 6, 0, 8], 3, &[0]).continuation,
            vec![6, 0],
            "ends after a stop token"
        );
        assert_eq!(
            parse(&[0, 6], 3, &[0]).continuation,
            Vec::<u32>::new(),
            "the next token stopped it"
        );
        assert_eq!(parse(&[5, 6], 0, &[]).continuation, Vec::<u32>::new(), "not asked for");
        assert_eq!(parse(&[5, 6], 0, &[]).choices, vec![5]);
        let body = completions_body("t", &[1, 2], 4, &[0]);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (v["max_tokens"].as_u64(), v["stop_token_ids"].clone()),
            (Some(5), serde_json::json!([0]))
        );
    }

    #[test]
    fn completions_bytes_parse_through_the_protocol_types() {
        let body = br#"{"choices":[{"prompt_logprobs":[null,{"7":{"logprob":-0.1,"rank":1}}],
            "logprobs":{"tokens":["token_id:11"]}}]}"#;
        let parsed = parse_completions(body, 2, 1, 0, &[]).unwrap();
        assert_eq!((parsed.choices, parsed.cached), (vec![7, 11], 0));
        assert!(
            parse_completions(b"not json", 2, 1, 0, &[])
                .unwrap_err()
                .contains("not a completions reply")
        );
        let sent: serde_json::Value = serde_json::from_slice(&completions_body("t", &[1, 2], 0, &[])).unwrap();
        assert!(sent.get("stop_token_ids").is_none());
        assert_eq!(sent["prompt_logprobs"], 1);
    }
}
