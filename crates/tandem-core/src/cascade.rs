//! The cascade: start the local answer, and hand the query to the cloud when
//! the local model's own confidence over its first tokens is too low.
//!
//! The router decides before a single token exists; the cascade looks at
//! what the local model actually does. Per generated token it keeps the
//! model's log-probability of that token and the entropy of its
//! distribution (both from the raw logits, before any sampling rule), and
//! after [`CascadeBar::tokens`] tokens (or the end of a shorter answer) it
//! says whether to keep the local answer. The caller holds those first
//! tokens back until then, so a switched answer never shows local text.
//!
//! ```
//! use tandem_core::cascade::{CascadeBar, Confidence, token_confidence};
//!
//! let bar = CascadeBar { tokens: 2, min_mean_logprob: -1.0 };
//! let mut c = Confidence::default();
//! c.push(token_confidence(&[5.0, 0.0, 0.0], 0)); // sure
//! assert_eq!(bar.verdict(&c, false), None); // not enough tokens yet
//! c.push(token_confidence(&[0.0, 0.0, 0.0], 1)); // a guess among three
//! assert!(bar.verdict(&c, false).unwrap().keep_local); // mean -0.56 >= -1.0
//! ```

use serde::{Deserialize, Serialize};
use tandem_decoding::math;

/// How sure the model was of one token it produced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenConfidence {
    /// Natural log of the model's probability of the token (≤ 0).
    pub logprob: f32,
    /// Entropy of the model's next-token distribution, in nats.
    pub entropy: f32,
}

/// The model's confidence in `chosen` under `logits` (softmax at
/// temperature 1; non-finite logits get no mass). A chosen token with no
/// mass has log-probability `-inf`'s stand-in, `f32::MIN`.
pub fn token_confidence(logits: &[f32], chosen: u32) -> TokenConfidence {
    let Some((max, log_z)) = math::log_sum_exp(logits) else {
        return TokenConfidence {
            logprob: f32::MIN,
            entropy: 0.0,
        };
    };
    // The entropy is log Z − E[l − max] under the softmax. Logits more than
    // 87 below the maximum (`exp`'s floor), non-finite ones included, add
    // nothing: below it `e^d · d` is under 1e-36 in truth, but `exp` clamps
    // and `d` does not, so `f32::MIN` would have added -5.6.
    let mean = math::sum_of(logits, |l| {
        let d = l - max;
        if d >= -87.0 { math::exp(d) * d } else { 0.0 }
    }) / log_z.exp();
    let logprob = match logits.get(chosen as usize) {
        Some(&l) if l.is_finite() => l - max - log_z,
        _ => f32::MIN,
    };
    TokenConfidence {
        logprob,
        entropy: (log_z - mean).max(0.0),
    }
}

/// The confidence of an answer's first tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Confidence {
    tokens: Vec<TokenConfidence>,
}

impl Confidence {
    /// Adds the next token's confidence.
    pub fn push(&mut self, token: TokenConfidence) {
        self.tokens.push(token);
    }

    /// Tokens seen.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// No token yet.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The mean log-probability of the first `n` tokens (0 for none).
    pub fn mean_logprob(&self, n: usize) -> f32 {
        mean(self.tokens.iter().take(n).map(|t| t.logprob))
    }

    /// The mean entropy of the first `n` tokens (0 for none).
    pub fn mean_entropy(&self, n: usize) -> f32 {
        mean(self.tokens.iter().take(n).map(|t| t.entropy))
    }
}

fn mean(values: impl Iterator<Item = f32>) -> f32 {
    let (sum, n) = values.fold((0.0f64, 0usize), |(s, n), v| (s + f64::from(v.max(-100.0)), n + 1));
    if n == 0 { 0.0 } else { (sum / n as f64) as f32 }
}

/// When a local answer is handed to the cloud.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CascadeBar {
    /// How many first tokens are judged (and held back meanwhile).
    pub tokens: usize,
    /// Keep the local answer when their mean log-probability is at least this.
    pub min_mean_logprob: f32,
}

/// What the cascade decided, and on what.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CascadeVerdict {
    /// Keep the local answer (else: switch to the cloud).
    pub keep_local: bool,
    /// The mean log-probability it was decided on.
    pub mean_logprob: f32,
    /// Tokens it was decided on.
    pub tokens: usize,
}

impl CascadeBar {
    /// The decision once `tokens` tokens are in, or the answer `ended`
    /// sooner; `None` while undecided.
    pub fn verdict(&self, confidence: &Confidence, ended: bool) -> Option<CascadeVerdict> {
        if confidence.len() < self.tokens && !ended {
            return None;
        }
        let n = confidence.len().min(self.tokens);
        let mean_logprob = confidence.mean_logprob(n);
        Some(CascadeVerdict {
            keep_local: mean_logprob >= self.min_mean_logprob,
            mean_logprob,
            tokens: n,
        })
    }
}

/// Holds a local answer's first pieces back until the bar has judged them, so that an answer
/// handed to the cloud never shows local text. Without a bar every piece passes at once.
///
/// ```
/// use tandem_core::cascade::{CascadeBar, Gate, GateStep, token_confidence};
///
/// let mut gate = Gate::new(Some(CascadeBar { tokens: 2, min_mean_logprob: -1.0 }));
/// assert_eq!(gate.push("Hel", token_confidence(&[9.0, 0.0], 0)), GateStep::Hold);
/// assert_eq!(gate.push("lo", token_confidence(&[9.0, 0.0], 0)), GateStep::Release(vec!["Hel", "lo"]));
/// assert_eq!(gate.push("!", token_confidence(&[0.0, 0.0], 0)), GateStep::Release(vec!["!"]));
/// ```
#[derive(Debug, Clone)]
pub struct Gate<T> {
    bar: Option<CascadeBar>,
    confidence: Confidence,
    held: Vec<T>,
    verdict: Option<CascadeVerdict>,
}

/// What to do after a piece, or at the end of the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum GateStep<T> {
    /// Undecided: the piece is held back.
    Hold,
    /// Show these pieces (the held ones first, in order).
    Release(Vec<T>),
    /// The bar failed: stop the local answer and ask the cloud. The held pieces are dropped.
    Switch(CascadeVerdict),
}

impl<T> Gate<T> {
    /// A gate for one answer; `None`: no cascade.
    pub fn new(bar: Option<CascadeBar>) -> Self {
        Self {
            bar,
            confidence: Confidence::default(),
            held: Vec::new(),
            verdict: None,
        }
    }

    /// The next piece of the answer and the model's confidence in its token.
    pub fn push(&mut self, piece: T, confidence: TokenConfidence) -> GateStep<T> {
        if self.verdict.is_some() || self.bar.is_none() {
            return GateStep::Release(vec![piece]);
        }
        self.confidence.push(confidence);
        self.held.push(piece);
        self.judge(false)
    }

    /// The answer ended: a short answer is judged on the tokens it has.
    pub fn finish(&mut self) -> GateStep<T> {
        if self.verdict.is_some() || self.bar.is_none() {
            return GateStep::Release(Vec::new());
        }
        self.judge(true)
    }

    /// The verdict, once there is one (`None` without a bar, or while undecided).
    pub fn verdict(&self) -> Option<CascadeVerdict> {
        self.verdict
    }

    fn judge(&mut self, ended: bool) -> GateStep<T> {
        let Some(verdict) = self.bar.and_then(|bar| bar.verdict(&self.confidence, ended)) else {
            return GateStep::Hold;
        };
        self.verdict = Some(verdict);
        if verdict.keep_local {
            GateStep::Release(std::mem::take(&mut self.held))
        } else {
            self.held.clear();
            GateStep::Switch(verdict)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_confidence_is_the_log_softmax_and_its_entropy() {
        let t = token_confidence(&[0.0, 0.0, 0.0, 0.0], 2);
        assert!((t.logprob - (0.25f32).ln()).abs() < 1e-6);
        assert!((t.entropy - (4.0f32).ln()).abs() < 1e-6);
        let sure = token_confidence(&[30.0, 0.0, f32::NAN], 0);
        assert!(sure.logprob > -1e-6 && sure.entropy < 1e-6);
        assert_eq!(token_confidence(&[1.0, f32::NEG_INFINITY], 1).logprob, f32::MIN);
        assert_eq!(token_confidence(&[f32::NAN], 0).logprob, f32::MIN);
        assert_eq!(token_confidence(&[1.0], 7).logprob, f32::MIN, "out of range");
    }

    #[test]
    fn token_confidence_over_a_full_vocabulary_matches_f64() {
        let logits: Vec<f32> = (0..151_936u32)
            .map(|i| ((i * 7919 % 4093) as f32) / 200.0 - 12.0)
            .collect();
        let max = f64::from(logits.iter().copied().fold(f32::NEG_INFINITY, f32::max));
        let z: f64 = logits.iter().map(|&l| (f64::from(l) - max).exp()).sum();
        let mean: f64 = logits
            .iter()
            .map(|&l| (f64::from(l) - max).exp() * (f64::from(l) - max))
            .sum::<f64>()
            / z;
        let t = token_confidence(&logits, 4242);
        let logprob = f64::from(logits[4242]) - max - z.ln();
        assert!(
            (f64::from(t.logprob) - logprob).abs() < 1e-3,
            "{} vs {logprob}",
            t.logprob
        );
        assert!(
            (f64::from(t.entropy) - (z.ln() - mean)).abs() < 1e-3,
            "{} vs {}",
            t.entropy,
            z.ln() - mean
        );
        // Masks by the most negative finite values carry no mass and no entropy.
        for mask in [f32::MIN, -1e30, -1e6] {
            let t = token_confidence(&[0.0, mask, mask], 0);
            assert!(t.logprob.abs() < 1e-6 && t.entropy.abs() < 1e-6, "{mask}: {t:?}");
        }
    }

    #[test]
    fn the_bar_waits_for_its_tokens_or_the_end() {
        let bar = CascadeBar {
            tokens: 3,
            min_mean_logprob: -1.0,
        };
        let mut c = Confidence::default();
        assert_eq!(bar.verdict(&c, false), None);
        c.push(token_confidence(&[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 0)); // ln(1/8) = -2.08
        assert_eq!(bar.verdict(&c, false), None);
        let short = bar.verdict(&c, true).unwrap();
        assert!(!short.keep_local && short.tokens == 1);
        c.push(token_confidence(&[20.0, 0.0], 0));
        c.push(token_confidence(&[20.0, 0.0], 0));
        let v = bar.verdict(&c, false).unwrap();
        assert!(v.keep_local, "mean -0.69 >= -1: {v:?}");
        c.push(token_confidence(&[f32::NAN, 0.0], 0));
        assert_eq!(bar.verdict(&c, false), Some(v), "only the first three count");
        // an impossible token counts as -100, not -inf: one bad token does not poison a mean
        assert!(c.mean_logprob(4) > -30.0);
    }

    #[test]
    fn the_gate_holds_then_releases_or_switches() {
        let sure = token_confidence(&[20.0, 0.0], 0);
        let guess = token_confidence(&[0.0; 16], 3); // ln(1/16) = -2.77
        let bar = Some(CascadeBar {
            tokens: 3,
            min_mean_logprob: -1.0,
        });
        let mut gate = Gate::new(bar);
        assert_eq!(gate.push(1, sure), GateStep::Hold);
        assert_eq!(gate.push(2, guess), GateStep::Hold);
        assert_eq!(gate.push(3, sure), GateStep::Release(vec![1, 2, 3]), "mean -0.92");
        assert_eq!(gate.push(4, guess), GateStep::Release(vec![4]), "decided once");
        assert_eq!(gate.finish(), GateStep::Release(vec![]));
        assert!(gate.verdict().unwrap().keep_local);

        let mut gate = Gate::new(bar);
        gate.push(1, guess);
        gate.push(2, guess);
        let GateStep::Switch(v) = gate.push(3, sure) else {
            panic!("mean -1.85 fails the bar")
        };
        assert!(!v.keep_local && v.tokens == 3);
        assert_eq!(
            gate.push(4, sure),
            GateStep::Release(vec![4]),
            "the caller stops; nothing is held after"
        );

        // A short answer is judged at its end.
        let mut gate = Gate::new(bar);
        assert_eq!(gate.push("ok", sure), GateStep::Hold);
        assert_eq!(gate.finish(), GateStep::Release(vec!["ok"]));
        let mut gate = Gate::new(bar);
        gate.push("hm", guess);
        assert!(matches!(gate.finish(), GateStep::Switch(_)));

        // No bar: everything passes at once, and there is no verdict.
        let mut gate = Gate::new(None);
        assert_eq!(gate.push('a', guess), GateStep::Release(vec!['a']));
        assert_eq!(gate.finish(), GateStep::Release(vec![]));
        assert_eq!(gate.verdict(), None);
    }
}
