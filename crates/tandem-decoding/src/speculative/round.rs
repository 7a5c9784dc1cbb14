//! One verification round as a verifier runs it, whatever computes the
//! target's side: the target's scores for the draft positions go in, the
//! [`Verdict`] comes out. The gateway (`/v1/verify`) and the in-process
//! verifier of `tandem-engine` both call [`judge`], so the acceptance rule
//! lives in one place.

use super::{SpeculationError, Verdict, verify_greedy, verify_greedy_dists, verify_sampled};
use crate::sampling::{Sampler, SamplingConfig};
use tandem_protocol::verify::{SparseDist, TargetStats, VerifyReply, VerifyRequest, VerifySampling};

/// Most draft tokens one round may carry.
pub const MAX_DRAFT: usize = 64;
/// Most tokens a plain round may ask the target to continue by.
pub const MAX_EXTEND: usize = 64;
/// Most stop tokens a round may name.
pub const MAX_STOP: usize = 16;

/// What the target says about each draft position and the one after it
/// (`draft.len() + 1` entries).
#[derive(Debug, Clone, PartialEq)]
pub enum TargetScores {
    /// The target's argmax at each position: enough for greedy verification,
    /// and all an OpenAI-compatible `prompt_logprobs` endpoint gives.
    Argmax(Vec<u32>),
    /// The target's sampling distribution at each position (temperature,
    /// top-k and top-p applied): needed for exact sampled verification.
    Dists(Vec<Vec<f32>>),
}

impl TargetScores {
    /// Number of positions scored.
    pub fn len(&self) -> usize {
        match self {
            Self::Argmax(v) => v.len(),
            Self::Dists(v) => v.len(),
        }
    }

    /// True when nothing was scored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The sampler settings a round's target distributions are computed with.
pub fn target_sampling(s: &VerifySampling) -> SamplingConfig {
    SamplingConfig {
        temperature: s.temperature,
        top_k: s.top_k,
        top_p: s.top_p,
        seed: s.seed,
        ..SamplingConfig::greedy()
    }
}

/// Whether the round asks for exact sampled verification.
pub fn is_sampled(req: &VerifyRequest) -> bool {
    req.sampling.temperature > 0.0
}

/// The target sampling a round asks for: `None` for greedy (argmax suffices).
pub fn requested_sampling(req: &VerifyRequest) -> Option<SamplingConfig> {
    is_sampled(req).then(|| target_sampling(&req.sampling))
}

/// The reply to a judged round: the session now holds `base + context + accepted` tokens.
pub fn reply(req: &VerifyRequest, verdict: Verdict, stats: TargetStats) -> VerifyReply {
    VerifyReply {
        accepted: verdict.accepted,
        next: verdict.next,
        session_len: req.base + req.context.len() + verdict.accepted,
        stats,
        extended: Vec::new(),
    }
}

/// The sampler a plain round's continuation (`extend`) is drawn with:
/// `None` for greedy (argmax), else the round's target sampling with a seed
/// of its own, apart from the verdict's draws.
pub fn continuation_sampler(req: &VerifyRequest) -> Result<Option<Sampler>, SpeculationError> {
    requested_sampling(req)
        .map(|config| {
            Sampler::new(SamplingConfig {
                seed: config.seed ^ 0xC0DE_C0DE,
                ..config
            })
            .map_err(|e| SpeculationError::Invalid(e.to_string()))
        })
        .transpose()
}

/// Checks a round before any target work is spent on it.
pub fn validate(req: &VerifyRequest) -> Result<(), SpeculationError> {
    let invalid = |m: String| Err(SpeculationError::Invalid(m));
    if req.session.is_empty() || req.session.len() > 128 {
        return invalid("session must be 1 to 128 characters".into());
    }
    if req.draft.len() > MAX_DRAFT {
        return invalid(format!(
            "a draft holds at most {MAX_DRAFT} tokens, got {}",
            req.draft.len()
        ));
    }
    if req.extend > MAX_EXTEND {
        return invalid(format!(
            "a round may ask for at most {MAX_EXTEND} more tokens, got {}",
            req.extend
        ));
    }
    if req.extend > 0 && !req.draft.is_empty() {
        return invalid("`extend` continues a plain round: send it with an empty draft".into());
    }
    if req.stop.len() > MAX_STOP {
        return invalid(format!("a round names at most {MAX_STOP} stop tokens"));
    }
    if req.base == 0 && req.context.is_empty() {
        return invalid("the first round must carry the prompt in `context`".into());
    }
    target_sampling(&req.sampling)
        .validate()
        .map_err(|e| SpeculationError::Invalid(e.to_string()))?;
    match (&req.draft_dists, is_sampled(req)) {
        (Some(d), true) if d.len() == req.draft.len() => Ok(()),
        (Some(d), true) => invalid(format!(
            "{} draft tokens but {} draft distributions",
            req.draft.len(),
            d.len()
        )),
        (None, true) if req.draft.is_empty() => Ok(()),
        (None, true) => invalid("sampled verification needs `draft_dists`".into()),
        (_, false) => Ok(()),
    }
}

/// Decides the round: greedy when the temperature is 0, exact rejection
/// sampling (seeded by the round's seed) otherwise.
pub fn judge(req: &VerifyRequest, scores: &TargetScores) -> Result<Verdict, SpeculationError> {
    match (is_sampled(req), scores) {
        (false, TargetScores::Argmax(choices)) => verify_greedy(&req.draft, choices),
        (false, TargetScores::Dists(dists)) => verify_greedy_dists(&req.draft, dists),
        (true, TargetScores::Argmax(_)) => Err(SpeculationError::Invalid(
            "sampled verification needs the target's distributions; this target gives only its argmax (use temperature 0)"
                .into(),
        )),
        (true, TargetScores::Dists(target)) => {
            let vocab = target.first().map_or(0, Vec::len);
            let draft_dists = dense(req.draft_dists.as_deref().unwrap_or_default(), vocab)?;
            let mut rng = Sampler::new(SamplingConfig {
                temperature: 1.0,
                seed: req.sampling.seed,
                ..SamplingConfig::greedy()
            })
            .map_err(|e| SpeculationError::Invalid(e.to_string()))?;
            verify_sampled(&req.draft, &draft_dists, target, &mut rng)
        }
    }
}

fn dense(dists: &[SparseDist], vocab: usize) -> Result<Vec<Vec<f32>>, SpeculationError> {
    dists
        .iter()
        .map(|d| {
            d.to_dense(vocab).ok_or_else(|| {
                SpeculationError::Invalid(format!(
                    "a draft distribution has mismatched ids and probabilities, or ids outside the vocabulary of {vocab}"
                ))
            })
        })
        .collect()
}

/// The sparse form of a draft distribution: its non-zero entries.
pub fn sparse(dist: &[f32]) -> SparseDist {
    let (ids, probs) = dist
        .iter()
        .enumerate()
        .filter(|(_, p)| **p > 0.0)
        .map(|(i, p)| (i as u32, *p))
        .unzip();
    SparseDist { ids, probs }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(draft: Vec<u32>, temperature: f32, dists: Option<Vec<SparseDist>>) -> VerifyRequest {
        VerifyRequest {
            model: "m".into(),
            session: "s".into(),
            base: 0,
            context: vec![1],
            draft,
            draft_dists: dists,
            sampling: VerifySampling {
                temperature,
                top_k: None,
                top_p: None,
                seed: 7,
            },
            extend: 0,
            stop: Vec::new(),
        }
    }

    #[test]
    fn greedy_rounds_take_argmax_or_distributions() {
        let req = round(vec![2, 3], 0.0, None);
        validate(&req).unwrap();
        let v = judge(&req, &TargetScores::Argmax(vec![2, 4, 0])).unwrap();
        assert_eq!(v, Verdict { accepted: 1, next: 4 });
        let one_hot = |i: usize| (0..5).map(|j| f32::from(u8::from(i == j))).collect::<Vec<_>>();
        let v = judge(&req, &TargetScores::Dists(vec![one_hot(2), one_hot(3), one_hot(1)])).unwrap();
        assert_eq!(v, Verdict { accepted: 2, next: 1 });
    }

    #[test]
    fn sampled_rounds_need_distributions_on_both_sides() {
        let q = sparse(&[0.0, 0.0, 1.0, 0.0]);
        assert_eq!((q.ids.clone(), q.probs.clone()), (vec![2], vec![1.0]));
        assert!(validate(&round(vec![2], 0.8, None)).is_err());
        assert!(validate(&round(vec![2], 0.8, Some(vec![q.clone(), q.clone()]))).is_err());
        let req = round(vec![2], 0.8, Some(vec![q]));
        validate(&req).unwrap();
        assert!(judge(&req, &TargetScores::Argmax(vec![2, 1])).is_err());
        let p = vec![0.0, 0.0, 1.0, 0.0];
        let v = judge(&req, &TargetScores::Dists(vec![p.clone(), p])).unwrap();
        assert_eq!(v, Verdict { accepted: 1, next: 2 });
        let outside = round(vec![2], 0.8, Some(vec![sparse(&[0.0, 0.0, 0.0, 0.0, 1.0])]));
        assert!(judge(&outside, &TargetScores::Dists(vec![vec![0.25; 4]; 2])).is_err());
    }

    #[test]
    fn malformed_rounds_are_refused() {
        let mut req = round(vec![1; MAX_DRAFT + 1], 0.0, None);
        assert!(validate(&req).is_err());
        req.draft.clear();
        req.context.clear();
        assert!(validate(&req).is_err(), "no prompt");
        req.context = vec![1];
        req.session.clear();
        assert!(validate(&req).is_err(), "no session");
        req.session = "s".into();
        req.sampling.temperature = f32::NAN;
        assert!(validate(&req).is_err());
        req.sampling.temperature = 0.0;
        req.extend = MAX_EXTEND;
        validate(&req).unwrap();
        req.extend = MAX_EXTEND + 1;
        assert!(validate(&req).is_err(), "too long an extension");
        req.extend = 1;
        req.draft = vec![1];
        assert!(validate(&req).is_err(), "an extension after a draft");
    }
}
