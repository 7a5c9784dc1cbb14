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
//! * [`cost`]: how many tokens to draft next ([`DraftLength`]), from the
//!   running acceptance rate and the measured costs of a draft step and of a
//!   verification round of each length, down to no drafting at all.
//! * [`lookup`]: a free drafter, prompt lookup (n-gram matches in the
//!   conversation itself).
//! * [`pipeline`]: the client's tokens when it keeps drafting while a
//!   verification is in flight.
//! * [`session`]: the client's whole speculative generation as one state
//!   machine without I/O ([`Speculation`]); the native and the browser
//!   drivers are thin loops around it.
//! * [`round`]: a verifier's side of one `/v1/verify` round (validation and
//!   the verdict from the target's scores), shared by every verifier.
//!
//! Pure functions over probability vectors: no model, no I/O.

pub mod cost;
pub mod lookup;
pub mod pipeline;
pub mod round;
pub mod session;

pub use cost::{Choice, DraftLength, PlainReason};
pub use session::{
    CloudTokens, DraftPolicy, Finish, PlainRounds, Speculation, SpeculationConfig, SpeculationStats, Step,
};

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
    /// Something does not fit: a distribution empty or of the wrong size, a
    /// token out of range, a setting out of bounds, or a verifier's reply
    /// that contradicts its round.
    #[error("{0}")]
    Invalid(String),
    /// The verifier did not answer a round in time, however often it was sent.
    #[error("the verifier did not answer a round within {ms} ms ({attempts} attempts)")]
    TimedOut {
        /// The time allowed per attempt (ms).
        ms: u64,
        /// How often the round was sent.
        attempts: usize,
    },
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
}
