//! One round of speculative decoding across the link (`POST /v1/verify`):
//! the client sends what is new since the last round and its draft; the
//! verifier answers how much of the draft the target keeps and the token
//! after it.
//!
//! The verifier keeps each session's target state (its KV cache), so a round
//! carries only new tokens: `base` says how many tokens of the session the
//! client builds on (the verifier truncates its cache there: a rejected draft
//! from the last round, or a speculative continuation, is dropped), and
//! `context` the tokens appended since.

use serde::{Deserialize, Serialize};

/// A verification round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyRequest {
    /// The target model (a public name the gateway maps).
    pub model: String,
    /// Chosen by the client; the verifier keeps the session's target state under it.
    pub session: String,
    /// Tokens of the session the client builds on (0 in the first round).
    pub base: usize,
    /// Tokens appended after `base` and before the draft: the prompt in the
    /// first round, then the accepted tokens and the correction of the last.
    pub context: Vec<u32>,
    /// The draft to verify (may be empty: the target then just takes a step).
    pub draft: Vec<u32>,
    /// For exact sampling: the distribution each draft token was drawn from.
    /// Absent in greedy mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_dists: Option<Vec<SparseDist>>,
    /// How the target samples.
    pub sampling: VerifySampling,
    /// Plain continuation: with an empty draft, the target may go on
    /// generating up to this many tokens after `next` on its own, in this one
    /// round (the reply's `extended`). A client asks for it when drafting
    /// does not pay and one token per round trip would waste the link.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub extend: usize,
    /// Tokens that end the answer: an extension stops after one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<u32>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A probability distribution over a few token ids (the rest have probability 0):
/// a draft sampled with top-k or top-p has small support.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparseDist {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Their probabilities, in the same order.
    pub probs: Vec<f32>,
}

impl SparseDist {
    /// The dense vector over `vocab` tokens, or `None` if the ids and
    /// probabilities do not match up or fall outside the vocabulary.
    pub fn to_dense(&self, vocab: usize) -> Option<Vec<f32>> {
        if self.ids.len() != self.probs.len() {
            return None;
        }
        let mut dense = vec![0.0; vocab];
        for (&id, &p) in self.ids.iter().zip(&self.probs) {
            if !(p.is_finite() && p >= 0.0) {
                return None;
            }
            *dense.get_mut(id as usize)? += p;
        }
        Some(dense)
    }
}

/// The target's sampling settings for a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifySampling {
    /// 0 = greedy verification.
    pub temperature: f32,
    /// Top-k of the target's distribution (none: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<usize>,
    /// Top-p of the target's distribution (none: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Seed of this round's random draws (reproducible verification).
    #[serde(default)]
    pub seed: u64,
}

/// The verifier's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReply {
    /// How many draft tokens the target keeps (a prefix of the draft).
    pub accepted: usize,
    /// The token after them: the target's correction, or its bonus token.
    pub next: u32,
    /// Tokens of the session the target now holds (`base + context + accepted`;
    /// `next` is not yet in its cache).
    pub session_len: usize,
    /// What the round cost the target.
    pub stats: TargetStats,
    /// The target's own continuation after `next` (at most the round's
    /// `extend` tokens, ending early after a stop token). `next` and all of
    /// these but the last are now held in the session.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extended: Vec<u32>,
}

impl VerifyReply {
    /// Adds the target's continuation after `next`: the session now holds
    /// `next` and all of `tokens` but the last.
    pub fn with_extension(mut self, tokens: Vec<u32>) -> Self {
        self.session_len += tokens.len();
        self.extended = tokens;
        self
    }

    /// Checks this reply against the round it answers, so that a client never
    /// trusts a verifier's counts: `accepted` is at most the draft's length,
    /// `extended` at most the round's `extend`, and `session_len` is
    /// `base + context + accepted + extended`. Returns `session_len`.
    pub fn checked_session_len(&self, round: &VerifyRequest) -> Result<usize, String> {
        if self.accepted > round.draft.len() {
            return Err(format!(
                "the verifier accepted {} tokens of a {}-token draft",
                self.accepted,
                round.draft.len()
            ));
        }
        if self.extended.len() > round.extend {
            return Err(format!(
                "the verifier extended by {} tokens, more than the {} asked for",
                self.extended.len(),
                round.extend
            ));
        }
        let expected = round.base + round.context.len() + self.accepted + self.extended.len();
        if self.session_len != expected {
            return Err(format!(
                "the verifier holds {} tokens of the session, not the {expected} the round implies",
                self.session_len
            ));
        }
        Ok(expected)
    }
}

/// Target-side figures of a round.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetStats {
    /// Tokens run through the target in this round.
    pub forward_tokens: usize,
    /// Tokens that were already in its cache.
    pub cached_tokens: usize,
    /// Time of the forward pass, in milliseconds.
    pub forward_ms: f64,
}

/// Why a `/v1/verify` round was refused: its HTTP status and error code,
/// named once for the gateway that sends them and the clients that read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyRefusal {
    /// The verifier no longer holds the session up to the round's `base`
    /// (evicted, restarted, another instance): resend from base 0.
    SessionLost,
    /// The round is malformed or does not fit the target.
    Invalid,
    /// The target's queue is full: retry after the `retry-after` header.
    TargetBusy,
    /// The target did not answer in time.
    TargetTimeout,
    /// The target failed.
    TargetFailed,
}

impl VerifyRefusal {
    /// The HTTP status.
    pub const fn status(self) -> u16 {
        match self {
            Self::SessionLost => 409,
            Self::Invalid => 400,
            Self::TargetBusy => 503,
            Self::TargetTimeout => 504,
            Self::TargetFailed => 502,
        }
    }

    /// The error's `code` in the OpenAI error body.
    pub const fn code(self) -> &'static str {
        match self {
            Self::SessionLost => "session_lost",
            Self::Invalid => "invalid_verify_request",
            Self::TargetBusy => "target_busy",
            Self::TargetTimeout => "target_timeout",
            Self::TargetFailed => "target_failed",
        }
    }

    /// The error's `type` in the OpenAI error body.
    pub const fn error_type(self) -> &'static str {
        match self {
            Self::SessionLost | Self::Invalid => "invalid_request_error",
            Self::TargetBusy => "overloaded_error",
            Self::TargetTimeout | Self::TargetFailed => "upstream_error",
        }
    }

    /// Whether a reply's HTTP status means the session was lost.
    pub const fn is_session_lost(status: u16) -> bool {
        status == Self::SessionLost.status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_whose_counts_do_not_fit_the_round_is_refused() {
        let round = VerifyRequest {
            model: "m".into(),
            session: "s".into(),
            base: 10,
            context: vec![1, 2],
            draft: vec![3, 4, 5],
            draft_dists: None,
            sampling: VerifySampling {
                temperature: 0.0,
                top_k: None,
                top_p: None,
                seed: 0,
            },
            extend: 0,
            stop: Vec::new(),
        };
        let reply = |accepted, session_len| VerifyReply {
            accepted,
            next: 0,
            session_len,
            stats: TargetStats {
                forward_tokens: 0,
                cached_tokens: 0,
                forward_ms: 0.0,
            },
            extended: Vec::new(),
        };
        assert_eq!(reply(2, 14).checked_session_len(&round), Ok(14));
        assert!(reply(2, 1_000_000).checked_session_len(&round).is_err());
        assert!(reply(2, 3).checked_session_len(&round).is_err());
        assert!(reply(4, 16).checked_session_len(&round).is_err());
        // A plain round asking for up to 3 more tokens.
        let plain = VerifyRequest {
            draft: Vec::new(),
            extend: 3,
            ..round
        };
        assert_eq!(
            reply(0, 12).with_extension(vec![7, 8]).checked_session_len(&plain),
            Ok(14)
        );
        assert!(
            reply(0, 12)
                .with_extension(vec![7; 4])
                .checked_session_len(&plain)
                .is_err()
        );
        assert!(
            reply(0, 13)
                .with_extension(vec![7, 8])
                .checked_session_len(&plain)
                .is_err()
        );
    }

    #[test]
    fn a_round_survives_json_and_sparse_dists_expand() {
        let req = VerifyRequest {
            model: "qwen2.5-coder-1.5b".into(),
            session: "s1".into(),
            base: 12,
            context: vec![5, 6],
            draft: vec![7, 8, 9],
            draft_dists: Some(vec![
                SparseDist {
                    ids: vec![7, 1],
                    probs: vec![0.75, 0.25]
                };
                3
            ]),
            sampling: VerifySampling {
                temperature: 0.7,
                top_k: None,
                top_p: Some(0.9),
                seed: 3,
            },
            extend: 0,
            stop: vec![2],
        };
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(serde_json::from_str::<VerifyRequest>(&json).unwrap(), req);
        let dense = req.draft_dists.unwrap()[0].to_dense(10).unwrap();
        assert_eq!((dense[7], dense[1], dense[0]), (0.75, 0.25, 0.0));
        assert!(
            SparseDist {
                ids: vec![10],
                probs: vec![1.0]
            }
            .to_dense(10)
            .is_none()
        );
        assert!(
            SparseDist {
                ids: vec![1, 2],
                probs: vec![1.0]
            }
            .to_dense(10)
            .is_none()
        );
        assert!(
            SparseDist {
                ids: vec![1],
                probs: vec![f32::NAN]
            }
            .to_dense(10)
            .is_none()
        );
    }
}
