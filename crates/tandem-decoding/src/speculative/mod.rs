//! Speculative decoding's acceptance rules: a small draft model proposes
//! tokens, the target model scores them all in one pass, and these rules
//! decide how many to keep so that the output is exactly what the target
//! alone would have produced.
//!
//! * [`verify_greedy`]: keep the longest prefix that matches the target's
//!   argmax, then take the target's own next token.
//! * [`verify_sampled`]: rejection sampling (Leviathan et al. 2023; Chen et
//!   al. 2023). Draft token `x` drawn from `q` is kept with probability
//!   `min(1, p(x) / q(x))`; at the first rejection the replacement is drawn
//!   from the residual `max(0, p - q)` renormalized; if every draft token is
//!   kept, a bonus token is drawn from the target's next distribution. Each
//!   emitted token is then distributed exactly as the target's.
//! * [`DraftLength`]: how many tokens to draft next, from the running
//!   acceptance rate and the cost of a draft step relative to a round.
//!
//! * [`pipeline`]: the client's state when it keeps drafting while a
//!   verification is in flight.
//! * [`round`]: a verifier's side of one `/v1/verify` round (validation and
//!   the verdict from the target's scores), shared by every verifier.
//!
//! Pure functions over probability vectors: no model, no I/O.

pub mod pipeline;
pub mod round;

use crate::sampling::{Sampler, argmax};

/// The outcome of verifying one draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// How many draft tokens are kept (a prefix of the draft).
    pub accepted: usize,
    /// The token after them: the target's correction, or its bonus token
    /// when the whole draft was kept.
    pub next: u32,
}

/// Inputs that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpeculationError {
    /// The target must score every draft position plus one.
    #[error("{draft} draft tokens need {} target positions, got {target}", draft + 1)]
    Positions {
        /// Draft length.
        draft: usize,
        /// Target positions given.
        target: usize,
    },
    /// A distribution is empty or of the wrong size, or a token is out of range.
    #[error("invalid distribution or token: {0}")]
    Invalid(String),
}

/// Greedy verification. `target_argmax[i]` is the target's choice after the
/// context and `draft[..i]`; it has `draft.len() + 1` entries.
pub fn verify_greedy(draft: &[u32], target_argmax: &[u32]) -> Result<Verdict, SpeculationError> {
    if target_argmax.len() != draft.len() + 1 {
        return Err(SpeculationError::Positions {
            draft: draft.len(),
            target: target_argmax.len(),
        });
    }
    let accepted = draft.iter().zip(target_argmax).take_while(|(d, t)| d == t).count();
    Ok(Verdict {
        accepted,
        next: target_argmax[accepted],
    })
}

/// Greedy verification from the target's distributions (argmax of each).
pub fn verify_greedy_dists(draft: &[u32], target: &[Vec<f32>]) -> Result<Verdict, SpeculationError> {
    let choices: Vec<u32> = target.iter().map(|p| argmax(p) as u32).collect();
    verify_greedy(draft, &choices)
}

/// Exact stochastic verification. `draft_dists[i]` is the distribution
/// `draft[i]` was drawn from; `target_dists[i]` the target's distribution at
/// the same position (`draft.len() + 1` of them, the last for the bonus
/// token). Randomness comes from `rng` (seeded, so runs are reproducible).
pub fn verify_sampled(
    draft: &[u32],
    draft_dists: &[Vec<f32>],
    target_dists: &[Vec<f32>],
    rng: &mut Sampler,
) -> Result<Verdict, SpeculationError> {
    if target_dists.len() != draft.len() + 1 {
        return Err(SpeculationError::Positions {
            draft: draft.len(),
            target: target_dists.len(),
        });
    }
    if draft_dists.len() != draft.len() {
        return Err(SpeculationError::Invalid(format!(
            "{} draft tokens but {} draft distributions",
            draft.len(),
            draft_dists.len()
        )));
    }
    let vocab = target_dists[0].len();
    if vocab == 0 || target_dists.iter().chain(draft_dists).any(|d| d.len() != vocab) {
        return Err(SpeculationError::Invalid(
            "distributions must share one non-zero size".into(),
        ));
    }
    for (i, (&x, (q, p))) in draft.iter().zip(draft_dists.iter().zip(target_dists)).enumerate() {
        let x = x as usize;
        if x >= vocab {
            return Err(SpeculationError::Invalid(format!(
                "draft token {x} is outside the vocabulary"
            )));
        }
        let (px, qx) = (f64::from(p[x]), f64::from(q[x]));
        // qx == 0 cannot have been drawn; treat it as a rejection.
        let keep = qx > 0.0 && rng.uniform() < (px / qx).min(1.0);
        if !keep {
            return Ok(Verdict {
                accepted: i,
                next: rng.draw(&residual(p, q)),
            });
        }
    }
    Ok(Verdict {
        accepted: draft.len(),
        next: rng.draw(&target_dists[draft.len()]),
    })
}

/// `max(0, p - q)` renormalized; `p` itself when that is all zero (`p == q`,
/// where a rejection has probability zero anyway).
pub fn residual(p: &[f32], q: &[f32]) -> Vec<f32> {
    let r: Vec<f32> = p.iter().zip(q).map(|(a, b)| (a - b).max(0.0)).collect();
    let total: f64 = r.iter().map(|&v| f64::from(v)).sum();
    if total <= 0.0 {
        return p.to_vec();
    }
    r.iter().map(|&v| (f64::from(v) / total) as f32).collect()
}

/// Chooses the draft length from the running acceptance rate.
///
/// With per-token acceptance probability `a`, a draft of `k` yields
/// `(1 - a^(k+1)) / (1 - a)` tokens per round, and a round costs
/// `k * draft_cost + 1` (the target pass, and the round trip, as the unit).
/// The length that maximizes tokens per unit of cost is chosen, within
/// `[min, max]`. The rate is an exponential moving average over rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftLength {
    rate: f64,
    min: usize,
    max: usize,
    draft_cost: f64,
    smoothing: f64,
}

impl DraftLength {
    /// Starts from `initial_rate`; `draft_cost` is a draft step's cost relative to a round.
    pub fn new(min: usize, max: usize, draft_cost: f64, initial_rate: f64) -> Self {
        let min = min.max(1);
        Self {
            rate: initial_rate.clamp(0.0, 0.999),
            min,
            max: max.max(min),
            draft_cost: draft_cost.max(1e-6),
            smoothing: 0.3,
        }
    }

    /// The current acceptance-rate estimate.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Updates a draft step's cost relative to a round (as measured by the caller).
    pub fn set_draft_cost(&mut self, draft_cost: f64) {
        if draft_cost.is_finite() {
            self.draft_cost = draft_cost.max(1e-6);
        }
    }

    /// Records a round: `accepted` of `proposed` draft tokens kept.
    pub fn observe(&mut self, proposed: usize, accepted: usize) {
        if proposed == 0 {
            return;
        }
        // Tokens up to and including the first rejection are the trials.
        let trials = (accepted + usize::from(accepted < proposed)) as f64;
        let observed = accepted as f64 / trials;
        self.rate = ((1.0 - self.smoothing) * self.rate + self.smoothing * observed).clamp(0.0, 0.999);
    }

    /// The draft length for the next round.
    pub fn next(&self) -> usize {
        let a = self.rate;
        let value = |k: usize| {
            let tokens = (1.0 - a.powi(k as i32 + 1)) / (1.0 - a);
            tokens / (k as f64 * self.draft_cost + 1.0)
        };
        (self.min..=self.max)
            .max_by(|&x, &y| value(x).total_cmp(&value(y)).then(y.cmp(&x)))
            .unwrap_or(self.min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::SamplingConfig;

    fn rng(seed: u64) -> Sampler {
        Sampler::new(SamplingConfig {
            temperature: 1.0,
            seed,
            ..SamplingConfig::greedy()
        })
        .unwrap()
    }

    #[test]
    fn greedy_keeps_the_matching_prefix_then_the_targets_token() {
        assert_eq!(
            verify_greedy(&[5, 6, 7], &[5, 6, 9, 1]).unwrap(),
            Verdict { accepted: 2, next: 9 }
        );
        assert_eq!(
            verify_greedy(&[5, 6], &[5, 6, 3]).unwrap(),
            Verdict { accepted: 2, next: 3 }
        );
        assert_eq!(verify_greedy(&[], &[4]).unwrap(), Verdict { accepted: 0, next: 4 });
        assert!(verify_greedy(&[1, 2], &[1, 2]).is_err());
    }

    #[test]
    fn identical_draft_and_target_accept_everything() {
        let p = vec![0.2, 0.5, 0.3];
        let v = verify_sampled(
            &[1, 2],
            &[p.clone(), p.clone()],
            &[p.clone(), p.clone(), p],
            &mut rng(1),
        )
        .unwrap();
        assert_eq!(v.accepted, 2);
    }

    #[test]
    fn a_token_the_target_never_picks_is_always_rejected() {
        let q = vec![0.0, 1.0, 0.0];
        let p = vec![0.5, 0.0, 0.5];
        for seed in 0..50 {
            let v = verify_sampled(&[1], std::slice::from_ref(&q), &[p.clone(), p.clone()], &mut rng(seed)).unwrap();
            assert_eq!(v.accepted, 0);
            assert_ne!(v.next, 1, "the replacement comes from the residual");
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let p = vec![1.0];
        assert!(verify_sampled(&[0], std::slice::from_ref(&p), std::slice::from_ref(&p), &mut rng(0)).is_err());
        assert!(verify_sampled(&[3], std::slice::from_ref(&p), &[p.clone(), p.clone()], &mut rng(0)).is_err());
        assert!(verify_sampled(&[0], &[vec![0.5, 0.5]], &[p.clone(), p], &mut rng(0)).is_err());
    }

    #[test]
    fn draft_length_grows_with_acceptance_and_shrinks_without() {
        let mut d = DraftLength::new(1, 8, 0.05, 0.5);
        let start = d.next();
        for _ in 0..20 {
            d.observe(8, 8);
        }
        assert_eq!(d.next(), 8, "rate {}", d.rate());
        for _ in 0..20 {
            d.observe(4, 0);
        }
        assert_eq!(d.next(), 1, "rate {}", d.rate());
        assert!((1..=8).contains(&start));
        // Expensive drafting keeps drafts short even at a good rate.
        let costly = DraftLength::new(1, 8, 1.0, 0.8);
        assert!(costly.next() <= 2);
    }
}
