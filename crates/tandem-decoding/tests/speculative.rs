//! Speculative decoding against target-only decoding on tiny synthetic models:
//! greedy speculation must give the target's exact output for every prompt and
//! draft length; sampled speculation must give the target's distribution (a
//! chi-square test at significance 0.001, which a wrong residual step fails).

use proptest::prelude::*;
use tandem_decoding::sampling::{Sampler, SamplingConfig, argmax};
use tandem_decoding::speculative::pipeline::{Pipeline, PipelineStats};
use tandem_decoding::speculative::{residual, verify_greedy_dists, verify_sampled};

const VOCAB: usize = 8;

/// A deterministic toy language model: the distribution after `context`.
fn model(context: &[u32], salt: u64) -> Vec<f32> {
    let n = context.len() as u64;
    let last = context.last().copied().unwrap_or(0) as u64;
    let prev = if context.len() > 1 {
        context[context.len() - 2] as u64
    } else {
        7
    };
    let logits: Vec<f64> = (0..VOCAB as u64)
        .map(|v| {
            let mut h = (v + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (last << 17) ^ (prev << 29) ^ (n << 41) ^ salt;
            h ^= h >> 31;
            h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            h ^= h >> 29;
            (h % 1000) as f64 / 400.0
        })
        .collect();
    let max = logits.iter().cloned().fold(f64::MIN, f64::max);
    let exps: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter().map(|e| (e / total) as f32).collect()
}

fn target(context: &[u32]) -> Vec<f32> {
    model(context, 0)
}

/// The draft: the target blended with an unrelated model, so they often disagree.
fn draft(context: &[u32]) -> Vec<f32> {
    let other = model(context, 0xDEAD_BEEF);
    target(context)
        .iter()
        .zip(other)
        .map(|(t, o)| 0.5 * t + 0.5 * o)
        .collect()
}

fn sampler(seed: u64) -> Sampler {
    Sampler::new(SamplingConfig {
        temperature: 1.0,
        seed,
        ..SamplingConfig::greedy()
    })
    .unwrap()
}

/// How a rejected position is resampled: the correct residual, or (to show the test's power) `p`.
#[derive(Clone, Copy)]
enum Rejection {
    Residual,
    TargetInstead,
}

/// Speculative decoding of `n` tokens with drafts of `k`, greedy or sampled.
fn speculate(prompt: &[u32], n: usize, k: usize, greedy: bool, seed: u64, rejection: Rejection) -> Vec<u32> {
    let mut rng = sampler(seed);
    let mut out = prompt.to_vec();
    while out.len() < prompt.len() + n {
        let mut ctx = out.clone();
        let (mut tokens, mut qs) = (Vec::new(), Vec::new());
        for _ in 0..k {
            let q = draft(&ctx);
            let t = if greedy { argmax(&q) as u32 } else { rng.draw(&q) };
            ctx.push(t);
            tokens.push(t);
            qs.push(q);
        }
        // The target scores every draft position plus one, as one forward pass would.
        let ps: Vec<Vec<f32>> = (0..=k).map(|i| target(&ctx[..out.len() + i])).collect();
        let verdict = if greedy {
            verify_greedy_dists(&tokens, &ps).unwrap()
        } else {
            match rejection {
                Rejection::Residual => verify_sampled(&tokens, &qs, &ps, &mut rng).unwrap(),
                Rejection::TargetInstead => broken_verify(&tokens, &qs, &ps, &mut rng),
            }
        };
        out.extend_from_slice(&tokens[..verdict.accepted]);
        out.push(verdict.next);
    }
    out.truncate(prompt.len() + n);
    out[prompt.len()..].to_vec()
}

/// Rejection sampling with the residual step replaced by sampling from `p`: wrong.
fn broken_verify(
    draft: &[u32],
    qs: &[Vec<f32>],
    ps: &[Vec<f32>],
    rng: &mut Sampler,
) -> tandem_decoding::speculative::Verdict {
    for (i, &x) in draft.iter().enumerate() {
        let (p, q) = (f64::from(ps[i][x as usize]), f64::from(qs[i][x as usize]));
        if rng.uniform() >= (p / q).min(1.0) {
            return tandem_decoding::speculative::Verdict {
                accepted: i,
                next: rng.draw(&ps[i]),
            };
        }
    }
    tandem_decoding::speculative::Verdict {
        accepted: draft.len(),
        next: rng.draw(&ps[draft.len()]),
    }
}

fn target_greedy(prompt: &[u32], n: usize) -> Vec<u32> {
    let mut out = prompt.to_vec();
    for _ in 0..n {
        out.push(argmax(&target(&out)) as u32);
    }
    out[prompt.len()..].to_vec()
}

proptest! {
    #[test]
    fn greedy_speculation_equals_the_target_alone(
        prompt in proptest::collection::vec(0u32..VOCAB as u32, 1..6),
        k in 1usize..9,
        n in 1usize..24,
    ) {
        prop_assert_eq!(speculate(&prompt, n, k, true, 0, Rejection::Residual), target_greedy(&prompt, n));
    }
}

/// Chi-square statistic of the two-token sequences `sample(seed)` produces
/// over `runs` seeds, against the target's exact distribution of them after `prompt`.
fn chi_square(prompt: &[u32], runs: u64, sample: impl Fn(u64) -> Vec<u32>) -> f64 {
    let mut counts = vec![0u64; VOCAB * VOCAB];
    for seed in 0..runs {
        let t = sample(seed);
        counts[t[0] as usize * VOCAB + t[1] as usize] += 1;
    }
    let p1 = target(prompt);
    let mut stat = 0.0;
    for a in 0..VOCAB {
        let mut ctx = prompt.to_vec();
        ctx.push(a as u32);
        let p2 = target(&ctx);
        for b in 0..VOCAB {
            let expected = runs as f64 * f64::from(p1[a]) * f64::from(p2[b]);
            let observed = counts[a * VOCAB + b] as f64;
            stat += (observed - expected).powi(2) / expected;
        }
    }
    stat
}

/// The 0.999 quantile of chi-square with 63 degrees of freedom (64 cells - 1).
const CHI2_63_P001: f64 = 103.44;

#[test]
fn sampled_speculation_has_the_targets_distribution() {
    // Every cell's expected count must be large enough for the chi-square approximation.
    let prompt = [3u32, 1];
    let runs = 40_000;
    let p1 = target(&prompt);
    assert!(p1.iter().all(|&p| p > 0.01), "{p1:?}");
    for k in [1, 3, 6] {
        let stat = chi_square(&prompt, runs, |seed| {
            speculate(&prompt, 2, k, false, seed, Rejection::Residual)
        });
        assert!(
            stat < CHI2_63_P001,
            "k={k}: chi-square {stat:.1} >= {CHI2_63_P001} (significance 0.001)"
        );
    }
}

#[test]
fn the_test_catches_a_wrong_residual_step() {
    let stat = chi_square(&[3, 1], 40_000, |seed| {
        speculate(&[3, 1], 2, 3, false, seed, Rejection::TargetInstead)
    });
    assert!(stat > CHI2_63_P001, "a biased sampler passed: chi-square {stat:.1}");
}

#[test]
fn the_residual_is_the_positive_part_renormalized() {
    let r = residual(&[0.5, 0.3, 0.2], &[0.2, 0.6, 0.2]);
    assert!((r[0] - 1.0).abs() < 1e-6 && r[1] == 0.0 && r[2] == 0.0);
}

/// Speculative decoding through a [`Pipeline`]: while a draft is "in flight"
/// for `rtt_steps` draft steps, the client keeps drafting (up to `ahead` tokens).
fn speculate_pipelined(
    prompt: &[u32],
    n: usize,
    k: usize,
    rtt_steps: usize,
    greedy: bool,
    seed: u64,
) -> (Vec<u32>, PipelineStats) {
    let mut rng = sampler(seed);
    let mut pipe = Pipeline::new(prompt.to_vec());
    let draft_step = |pipe: &mut Pipeline, rng: &mut Sampler| {
        let q = draft(&pipe.draft_context());
        let t = if greedy { argmax(&q) as u32 } else { rng.draw(&q) };
        pipe.push_draft(t, q);
    };
    while pipe.output().len() < n {
        while pipe.pending() < k {
            draft_step(&mut pipe, &mut rng);
        }
        let sent = pipe.send(k).unwrap();
        // The verifier scores the draft on the committed context (as the target would).
        let mut ctx = prompt.to_vec();
        ctx.extend_from_slice(pipe.output());
        assert_eq!(ctx.len(), sent.base);
        ctx.extend_from_slice(&sent.tokens);
        let ps: Vec<Vec<f32>> = (0..=sent.tokens.len()).map(|i| target(&ctx[..sent.base + i])).collect();
        let verdict = if greedy {
            verify_greedy_dists(&sent.tokens, &ps).unwrap()
        } else {
            verify_sampled(&sent.tokens, &sent.dists, &ps, &mut rng).unwrap()
        };
        // Meanwhile, the client drafts ahead.
        for _ in 0..rtt_steps {
            draft_step(&mut pipe, &mut rng);
        }
        pipe.receive(verdict).unwrap();
    }
    let mut out = pipe.output().to_vec();
    out.truncate(n);
    (out, pipe.stats())
}

proptest! {
    #[test]
    fn pipelined_greedy_speculation_equals_the_target_alone(
        prompt in proptest::collection::vec(0u32..VOCAB as u32, 1..6),
        k in 1usize..7,
        rtt_steps in 0usize..10,
        n in 1usize..24,
    ) {
        let (out, _) = speculate_pipelined(&prompt, n, k, rtt_steps, true, 0);
        prop_assert_eq!(out, target_greedy(&prompt, n));
    }
}

#[test]
fn pipelining_reuses_drafted_ahead_tokens_when_the_draft_agrees() {
    // With the draft equal to the target's argmax most of the time, some rounds keep their continuation.
    let (_, stats) = speculate_pipelined(&[3, 1], 200, 4, 6, true, 0);
    assert!(stats.reused > 0, "{stats:?}");
    assert!(stats.rounds > 0 && stats.accepted <= stats.sent);
}

#[test]
fn pipelined_sampled_speculation_has_the_targets_distribution() {
    let prompt = [3u32, 1];
    let stat = chi_square(&prompt, 40_000, |seed| {
        speculate_pipelined(&prompt, 2, 2, 3, false, seed).0
    });
    assert!(
        stat < CHI2_63_P001,
        "chi-square {stat:.1} >= {CHI2_63_P001} (significance 0.001)"
    );
}
