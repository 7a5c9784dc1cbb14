//! Pipelined speculation, client side, without I/O: while a draft is being
//! verified across the link, keep drafting as if it will be accepted whole
//! and the target's next token will be the draft's own guess. When the
//! verdict confirms both, the continuation is ready to send at once; when
//! not, it is discarded. This hides the draft time behind the round trip.
//!
//! The caller owns the models and the network: it asks [`Pipeline::draft_context`]
//! what to extend, reports each drafted token with [`Pipeline::push_draft`],
//! takes drafts to send with [`Pipeline::send`], and hands back verdicts with
//! [`Pipeline::receive`], which returns the tokens that became final.

use super::Verdict;

/// A draft on its way to the verifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// How many committed tokens (prompt included) it builds on.
    pub base: usize,
    /// The drafted tokens.
    pub tokens: Vec<u32>,
    /// The distribution each was drawn from (for exact sampled verification).
    pub dists: Vec<Vec<f32>>,
}

/// Counters for choosing draft lengths and for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Verification rounds completed.
    pub rounds: usize,
    /// Draft tokens sent for verification.
    pub sent: usize,
    /// Draft tokens the target kept.
    pub accepted: usize,
    /// Drafted-ahead tokens that a verdict confirmed (sent without drafting again).
    pub reused: usize,
    /// Drafted-ahead tokens thrown away.
    pub discarded: usize,
}

/// Why a pipeline call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    /// A verdict arrived with no draft in flight.
    #[error("no draft is being verified")]
    NothingInFlight,
    /// The verdict keeps more tokens than were sent.
    #[error("the verdict accepts {accepted} of {sent} tokens")]
    BadVerdict {
        /// Accepted count in the verdict.
        accepted: usize,
        /// Tokens sent.
        sent: usize,
    },
}

/// The client's state: committed tokens, the draft in flight, the drafted-ahead tokens.
#[derive(Debug, Clone)]
pub struct Pipeline {
    committed: Vec<u32>,
    prompt_len: usize,
    /// The tokens of the draft being verified.
    in_flight: Option<Vec<u32>>,
    /// Drafted after the in-flight draft (or, with none in flight, after the
    /// committed tokens), each with its distribution.
    pending: Vec<(u32, Vec<f32>)>,
    stats: PipelineStats,
}

impl Pipeline {
    /// A pipeline continuing `prompt`.
    pub fn new(prompt: Vec<u32>) -> Self {
        Self {
            prompt_len: prompt.len(),
            committed: prompt,
            in_flight: None,
            pending: Vec::new(),
            stats: PipelineStats::default(),
        }
    }

    /// The tokens the draft model should extend next.
    pub fn draft_context(&self) -> Vec<u32> {
        let mut ctx = self.committed.clone();
        if let Some(tokens) = &self.in_flight {
            ctx.extend_from_slice(tokens);
        }
        ctx.extend(self.pending.iter().map(|(t, _)| *t));
        ctx
    }

    /// The committed tokens (prompt included): what the verifier's session will hold.
    pub fn committed(&self) -> &[u32] {
        &self.committed
    }

    /// The last token of [`Self::draft_context`] if it lies beyond the prompt
    /// (without building the context).
    pub fn last_generated(&self) -> Option<u32> {
        self.pending
            .last()
            .map(|(t, _)| *t)
            .or_else(|| self.in_flight.as_ref().and_then(|t| t.last().copied()))
            .or_else(|| self.output().last().copied())
    }

    /// Records a token the draft model drew from `dist` on [`Self::draft_context`].
    pub fn push_draft(&mut self, token: u32, dist: Vec<f32>) {
        self.pending.push((token, dist));
    }

    /// Tokens drafted and not yet sent.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether a draft awaits its verdict.
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Takes up to `k` drafted tokens to send, if no draft is in flight.
    pub fn send(&mut self, k: usize) -> Option<Draft> {
        if self.in_flight.is_some() {
            return None;
        }
        let n = k.min(self.pending.len());
        let (tokens, dists): (Vec<u32>, _) = self.pending.drain(..n).unzip();
        self.stats.sent += n;
        self.in_flight = Some(tokens.clone());
        Some(Draft {
            base: self.committed.len(),
            tokens,
            dists,
        })
    }

    /// Applies the verdict on the draft in flight; returns the tokens that are now final.
    pub fn receive(&mut self, verdict: Verdict) -> Result<Vec<u32>, PipelineError> {
        let sent = self.in_flight.as_ref().ok_or(PipelineError::NothingInFlight)?.len();
        if verdict.accepted > sent {
            return Err(PipelineError::BadVerdict {
                accepted: verdict.accepted,
                sent,
            });
        }
        let tokens = self.in_flight.take().unwrap_or_default();
        self.stats.rounds += 1;
        self.stats.accepted += verdict.accepted;
        let mut fresh = tokens[..verdict.accepted].to_vec();
        fresh.push(verdict.next);
        let all_kept = verdict.accepted == sent;
        if all_kept && self.pending.first().is_some_and(|(t, _)| *t == verdict.next) {
            // The guess was the target's token: the rest of the drafted-ahead tokens stand.
            self.pending.remove(0);
            self.stats.reused += self.pending.len();
        } else {
            self.stats.discarded += self.pending.len();
            self.pending.clear();
        }
        self.committed.extend_from_slice(&fresh);
        Ok(fresh)
    }

    /// Commits tokens the target generated by itself after a verdict (a
    /// plain round's continuation); drafted-ahead tokens no longer follow
    /// and are discarded.
    pub fn commit(&mut self, tokens: &[u32]) {
        self.stats.discarded += self.pending.len();
        self.pending.clear();
        self.committed.extend_from_slice(tokens);
    }

    /// The generated tokens so far (after the prompt).
    pub fn output(&self) -> &[u32] {
        &self.committed[self.prompt_len..]
    }

    /// The counters.
    pub fn stats(&self) -> PipelineStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confirmed_guess_keeps_the_drafted_ahead_tokens() {
        let mut p = Pipeline::new(vec![1]);
        p.push_draft(2, vec![]);
        p.push_draft(3, vec![]);
        let d = p.send(2).unwrap();
        assert_eq!((d.base, d.tokens.clone()), (1, vec![2, 3]));
        // While in flight: the guess (4) and one more (5).
        assert_eq!(p.draft_context(), vec![1, 2, 3]);
        p.push_draft(4, vec![]);
        p.push_draft(5, vec![]);
        assert!(p.send(2).is_none(), "one round at a time");
        assert_eq!(p.receive(Verdict { accepted: 2, next: 4 }).unwrap(), vec![2, 3, 4]);
        assert_eq!(p.pending(), 1, "5 is ready to send");
        assert_eq!(p.draft_context(), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_rejection_discards_the_drafted_ahead_tokens() {
        let mut p = Pipeline::new(vec![1]);
        p.push_draft(2, vec![]);
        p.push_draft(3, vec![]);
        p.send(2).unwrap();
        p.push_draft(4, vec![]);
        assert_eq!(p.receive(Verdict { accepted: 1, next: 9 }).unwrap(), vec![2, 9]);
        assert_eq!(p.pending(), 0);
        assert_eq!(p.output(), &[2, 9]);
        assert_eq!(p.stats().discarded, 1);
        assert_eq!(
            p.receive(Verdict { accepted: 0, next: 1 }),
            Err(PipelineError::NothingInFlight)
        );
    }
}
