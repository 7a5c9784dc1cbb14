//! Speculative decoding against target-only decoding on tiny synthetic models:
//! greedy speculation must give the target's exact output for every prompt,
//! draft length and pipelining depth; sampled speculation must give the
//! target's distribution (a chi-square test at significance 0.001, which a
//! wrong residual step fails). The generations run through the one state
//! machine, `Speculation`, that the native and browser clients drive, against
//! a toy verifier that can lose sessions and lie about its verdicts.

use proptest::prelude::*;
use tandem_decoding::sampling::{Sampler, SamplingConfig, argmax};
use tandem_decoding::speculative::round::{self, TargetScores};
use tandem_decoding::speculative::{
    CloudTokens, DraftLength, DraftPolicy, Finish, Speculation, SpeculationConfig, SpeculationError, SpeculationStats,
    Step, Verdict, residual, verify_greedy_dists, verify_sampled,
};
use tandem_protocol::verify::{TargetStats, VerifyReply};

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

/// How the toy verifier of [`run`] misbehaves.
#[derive(Clone, Copy, Default)]
struct Faults {
    /// Loses the session before every `n`th round (0: never).
    lose_every: usize,
    /// Claims one more accepted token than the draft holds.
    over_accept: bool,
    /// Prompt lookup proposes drafts too (not a fault: a second drafter).
    lookup: bool,
    /// Every `n`th request (resends included) is applied by the verifier
    /// but its reply never arrives (0: never).
    stall_every: usize,
    /// Start from costs measured over a long link with a poor drafter: plain
    /// rounds that ask the target to continue by itself (`extend`).
    far_link: bool,
}

/// What a client learns over a 100 ms link to a target taking 200 ms a
/// position, with a drafter that is never right: plain rounds, continued by
/// the target.
fn far_link_costs() -> DraftLength {
    let mut d = DraftLength::new(1, 8, 0.1, 0.5).with_plain();
    for i in 0..40 {
        let positions = 2 + i % 7;
        let forward = 200.0 * positions as f64;
        d.observe_round(positions, 0, forward, forward + 100.0);
        d.observe_draft_ms(70.0);
        d.observe(4, 0);
    }
    assert!(d.next() == 0 && d.extension() > 0, "{d:?}");
    d
}

/// The toy verifier's answer to a request, as the driver receives it.
enum Arrival {
    Reply(VerifyReply),
    /// HTTP 409: the session is gone.
    Lost,
    /// Nothing, ever: the driver's deadline passes.
    Stalled,
}

/// The harness's round timeout (ms); a stalled reply is reported as this much time passing.
const TIMEOUT_MS: f64 = 1000.0;

/// A speculative generation through the one state machine, [`Speculation`],
/// against a toy verifier over [`target`] whose reply takes `rtt_steps`
/// draft steps to arrive. `drafter` gives the draft distribution.
#[allow(clippy::too_many_arguments)] // a test harness: every knob is a test's parameter
fn run(
    prompt: &[u32],
    n: usize,
    draft_policy: DraftPolicy,
    rtt_steps: usize,
    greedy: bool,
    seed: u64,
    faults: Faults,
    drafter: fn(&[u32]) -> Vec<f32>,
) -> Result<(Vec<u32>, SpeculationStats), SpeculationError> {
    let sampling = if greedy {
        SamplingConfig::greedy()
    } else {
        SamplingConfig {
            temperature: 1.0,
            seed,
            ..SamplingConfig::greedy()
        }
    };
    let config = SpeculationConfig {
        model: "toy".into(),
        session: "s".into(),
        max_tokens: n,
        draft: draft_policy,
        pipelined: rtt_steps > 0,
        sampling,
        stops: Vec::new(),
        lookup: faults.lookup,
        round_timeout_ms: TIMEOUT_MS,
    };
    let learned = faults.far_link.then(far_link_costs);
    let mut spec = Speculation::resume(prompt.to_vec(), config, learned)?;
    let mut rng = sampler(seed ^ 0x5EED);
    let mut held: Vec<u32> = Vec::new();
    let mut rounds = 0usize;
    // The reply on its way, and the draft steps until it arrives.
    let mut on_the_way: Option<(Arrival, usize)> = None;
    let deliver = |spec: &mut Speculation, arrival: Arrival| match arrival {
        Arrival::Reply(reply) => spec.verdict(&reply, None).map(drop),
        Arrival::Lost => spec.session_lost(),
        Arrival::Stalled => {
            // Short of the deadline nothing happens; at it, the round is sent again.
            spec.time_passed(TIMEOUT_MS / 2.0)?;
            assert!(spec.in_flight());
            spec.time_passed(spec.deadline().expect("a round is in flight"))
        }
    };
    loop {
        match spec.next_step() {
            Step::Draft { context } => {
                if matches!(on_the_way, Some((_, 0))) {
                    let (reply, _) = on_the_way.take().expect("matched");
                    deliver(&mut spec, reply)?;
                    continue;
                }
                if let Some((_, steps)) = on_the_way.as_mut() {
                    *steps -= 1;
                }
                let q = drafter(&context);
                let t = if greedy { argmax(&q) as u32 } else { rng.draw(&q) };
                spec.drafted(t, if greedy { Vec::new() } else { q }, None);
            }
            Step::Send(req) => {
                rounds += 1;
                let lost = faults.lose_every > 0 && rounds.is_multiple_of(faults.lose_every) && req.base > 0;
                let stalled = faults.stall_every > 0 && rounds.is_multiple_of(faults.stall_every);
                let reply = if lost || req.base > held.len() {
                    held.clear();
                    Arrival::Lost
                } else {
                    let mut tokens = held[..req.base].to_vec();
                    tokens.extend_from_slice(&req.context);
                    let start = tokens.len();
                    tokens.extend_from_slice(&req.draft);
                    let ps: Vec<Vec<f32>> = (0..=req.draft.len()).map(|i| target(&tokens[..start + i])).collect();
                    let mut verdict = round::judge(&req, &TargetScores::Dists(ps)).unwrap();
                    if faults.over_accept {
                        verdict.accepted = req.draft.len() + 1;
                    }
                    held = tokens[..start + verdict.accepted.min(req.draft.len())].to_vec();
                    let stats = TargetStats {
                        forward_tokens: req.context.len() + req.draft.len(),
                        ..TargetStats::default()
                    };
                    let mut reply = round::reply(&req, verdict, stats);
                    if !faults.over_accept {
                        // A plain round's continuation, drawn as the target would.
                        let extended = continue_round(&req, &held, verdict.next);
                        held.push(verdict.next);
                        held.extend_from_slice(&extended[..extended.len().saturating_sub(1)]);
                        if extended.is_empty() {
                            held.pop();
                        }
                        reply = reply.with_extension(extended);
                    }
                    if stalled {
                        Arrival::Stalled
                    } else {
                        Arrival::Reply(reply)
                    }
                };
                on_the_way = Some((reply, rtt_steps));
            }
            Step::Wait => {
                let (reply, _) = on_the_way.take().expect("a round is in flight");
                deliver(&mut spec, reply)?;
            }
            Step::Done(_) => break,
        }
    }
    Ok((spec.output().to_vec(), spec.stats()))
}

/// The toy target's own continuation of a plain round after `next`
/// (`req.extend` tokens at most, ending after a stop token).
fn continue_round(req: &tandem_protocol::verify::VerifyRequest, held: &[u32], next: u32) -> Vec<u32> {
    if req.extend == 0 || req.stop.contains(&next) {
        return Vec::new();
    }
    let mut sampler = round::continuation_sampler(req).unwrap();
    let mut context = held.to_vec();
    context.push(next);
    let mut out = Vec::new();
    while out.len() < req.extend {
        let p = target(&context);
        let t = match &mut sampler {
            None => argmax(&p) as u32,
            Some(s) => s.draw(&p),
        };
        out.push(t);
        if req.stop.contains(&t) {
            break;
        }
        context.push(t);
    }
    out
}

/// A drafter that never proposes the target's choice.
fn contrary(context: &[u32]) -> Vec<f32> {
    let best = argmax(&target(context));
    let mut q = vec![0.0; VOCAB];
    q[(best + 1) % VOCAB] = 1.0;
    q
}

proptest! {
    #[test]
    fn the_state_machine_gives_the_targets_greedy_output(
        prompt in proptest::collection::vec(0u32..VOCAB as u32, 1..6),
        k in 1usize..9,
        rtt_steps in 0usize..10,
        n in 1usize..24,
        lose_every in 0usize..4,
        stall_every in prop_oneof![Just(0usize), 2usize..5],
        lookup: bool,
        far_link: bool,
    ) {
        let faults = Faults { lose_every, lookup, stall_every, far_link, ..Faults::default() };
        let policy = if far_link {
            DraftPolicy::Adaptive { min: 1, max: k, draft_cost: 0.1 }
        } else {
            DraftPolicy::Fixed(k)
        };
        let (out, stats) = run(&prompt, n, policy, rtt_steps, true, 0, faults, draft).unwrap();
        prop_assert_eq!(&out, &target_greedy(&prompt, n));
        prop_assert!(stats.pipeline.accepted <= stats.pipeline.sent);
        prop_assert_eq!(stats.extended > 0, far_link && n > 1, "{:?}", stats);
    }

    #[test]
    fn adaptive_lengths_and_a_contrary_drafter_still_give_the_targets_output(
        prompt in proptest::collection::vec(0u32..VOCAB as u32, 1..6),
        rtt_steps in 0usize..6,
        n in 1usize..24,
    ) {
        let adaptive = DraftPolicy::Adaptive { min: 1, max: 8, draft_cost: 0.1 };
        let (out, _) = run(&prompt, n, adaptive, rtt_steps, true, 0, Faults::default(), draft).unwrap();
        prop_assert_eq!(&out, &target_greedy(&prompt, n));
        let (out, stats) = run(&prompt, n, DraftPolicy::Fixed(4), rtt_steps, true, 0, Faults::default(), contrary).unwrap();
        prop_assert_eq!(&out, &target_greedy(&prompt, n));
        prop_assert_eq!(stats.pipeline.accepted, 0);
    }
}

#[test]
fn pipelining_reuses_drafted_ahead_tokens_when_the_draft_agrees() {
    let (_, stats) = run(
        &[3, 1],
        200,
        DraftPolicy::Fixed(4),
        6,
        true,
        0,
        Faults::default(),
        draft,
    )
    .unwrap();
    assert!(stats.pipeline.reused > 0, "{stats:?}");
    assert!(stats.pipeline.rounds > 0 && stats.pipeline.accepted <= stats.pipeline.sent);
}

#[test]
fn sampled_rounds_of_the_state_machine_have_the_targets_distribution() {
    let prompt = [3u32, 1];
    // The last case starts plain over a long link: its second token comes from the
    // target's own continuation (`extend`).
    for (k, rtt_steps, far_link) in [(1, 0, false), (3, 0, false), (2, 3, false), (2, 0, true)] {
        let policy = if far_link {
            DraftPolicy::Adaptive {
                min: 1,
                max: k,
                draft_cost: 0.1,
            }
        } else {
            DraftPolicy::Fixed(k)
        };
        let faults = Faults {
            far_link,
            ..Faults::default()
        };
        let stat = chi_square(&prompt, 40_000, |seed| {
            run(&prompt, 2, policy, rtt_steps, false, seed, faults, draft)
                .unwrap()
                .0
        });
        assert!(
            stat < CHI2_63_P001,
            "k={k}, rtt {rtt_steps}: chi-square {stat:.1} >= {CHI2_63_P001} (significance 0.001)"
        );
    }
}

#[test]
fn prompt_lookup_drafts_a_repeated_run_and_is_counted_apart() {
    // A prompt that repeats itself: the target's greedy continuation of it
    // repeats too, and lookup proposes it from the prompt without model steps.
    let mut prompt = target_greedy(&[3, 1], 40);
    prompt.splice(0..0, [3, 1]);
    let faults = Faults {
        lookup: true,
        ..Faults::default()
    };
    let adaptive = DraftPolicy::Adaptive {
        min: 1,
        max: 8,
        draft_cost: 0.1,
    };
    let (out, stats) = run(&prompt, 40, adaptive, 0, true, 0, faults, contrary).unwrap();
    assert_eq!(out, target_greedy(&prompt, 40));
    assert!(stats.lookup_rounds > 0 && stats.lookup_accepted > 0, "{stats:?}");
    assert!(stats.lookup_acceptance() > stats.model_acceptance(), "{stats:?}");
    assert!(stats.pipeline.rounds < 40, "lookup saved target passes: {stats:?}");
    // Sampled rounds accept lookup tokens too (a one-hot proposal, exact by the same rule).
    let (_, sampled) = run(&prompt, 40, adaptive, 0, false, 1, faults, contrary).unwrap();
    assert!(sampled.lookup_accepted > 0, "{sampled:?}");
}

/// The draft of the first lookup round a client sends on `prompt` (answering
/// every earlier round from the toy target, untimed).
fn first_lookup_draft(prompt: &[u32], draft: DraftPolicy) -> Vec<u32> {
    let config = SpeculationConfig {
        model: "toy".into(),
        session: "s".into(),
        max_tokens: 40,
        draft,
        pipelined: false,
        sampling: SamplingConfig::greedy(),
        stops: Vec::new(),
        lookup: true,
        round_timeout_ms: TIMEOUT_MS,
    };
    let mut spec = Speculation::resume(prompt.to_vec(), config, None).unwrap();
    let mut held = Vec::new();
    loop {
        match spec.next_step() {
            Step::Draft { context } => spec.drafted(argmax(&contrary(&context)) as u32, Vec::new(), None),
            Step::Send(req) => {
                if spec.stats().lookup_rounds > 0 {
                    return req.draft;
                }
                let verdict = judge_at_once(&req, &mut held);
                let reply = round::reply(&req, verdict, TargetStats::default());
                spec.verdict(&reply, None).unwrap();
            }
            other => panic!("no lookup round: {other:?}"),
        }
    }
}

#[test]
fn a_long_match_may_draft_past_the_models_longest_draft_only_when_lengths_adapt() {
    // A passage of 60 tokens, then its first 20 again: the end matches the passage for 16
    // tokens (a long match), and lookup offers the 40 that followed it there.
    let passage = target_greedy(&[3, 1], 60);
    let mut prompt = vec![3, 1];
    prompt.extend_from_slice(&passage);
    prompt.extend_from_slice(&[3, 1]);
    prompt.extend_from_slice(&passage[..20]);
    let adaptive = DraftPolicy::Adaptive {
        min: 1,
        max: 8,
        draft_cost: 0.1,
    };
    assert_eq!(
        first_lookup_draft(&prompt, adaptive),
        passage[20..36],
        "16 tokens, past the model's 8"
    );
    assert_eq!(
        first_lookup_draft(&prompt, DraftPolicy::Fixed(4)),
        passage[20..24],
        "a fixed k bounds lookup too"
    );
    // After a short match (two tokens), the model's longest draft is the cap.
    let mut short = vec![5, 6];
    short.extend_from_slice(&passage[..30]);
    short.extend_from_slice(&[7, 5, 6]);
    let draft = first_lookup_draft(&short, adaptive);
    assert!(
        !draft.is_empty() && draft.len() <= 8,
        "a short match drafts at most the model's 8: {draft:?}"
    );
}

#[test]
fn over_a_long_link_plain_continuation_wins_over_prompt_lookup() {
    // The repeating prompt of the lookup test, from costs learned over a long link.
    let mut prompt = target_greedy(&[3, 1], 40);
    prompt.splice(0..0, [3, 1]);
    let faults = Faults {
        lookup: true,
        far_link: true,
        ..Faults::default()
    };
    let adaptive = DraftPolicy::Adaptive {
        min: 1,
        max: 8,
        draft_cost: 0.1,
    };
    let (out, stats) = run(&prompt, 20, adaptive, 0, true, 0, faults, draft).unwrap();
    assert_eq!(out, target_greedy(&prompt, 20));
    assert_eq!(stats.lookup_rounds, 0, "{stats:?}");
    assert!(stats.extended >= 10, "{stats:?}");
    // Billed like a plain cloud answer: every token generated once, as output.
    assert_eq!(stats.cloud_tokens().output, out.len(), "{stats:?}");
}

#[test]
fn a_verifier_that_accepts_more_than_was_sent_is_an_error_not_a_panic() {
    let faults = Faults {
        over_accept: true,
        ..Faults::default()
    };
    for rtt_steps in [0, 3] {
        let err = run(&[3, 1], 16, DraftPolicy::Fixed(4), rtt_steps, true, 0, faults, draft).unwrap_err();
        assert!(
            err.to_string().contains("accepted 5 tokens of a 4-token draft"),
            "{err}"
        );
    }
}

#[test]
fn a_round_that_times_out_is_sent_again_once_then_the_answer_fails() {
    for rtt_steps in [0, 3] {
        // Every other request stalls: each stalled round goes through on its resend.
        let faults = Faults {
            stall_every: 2,
            ..Faults::default()
        };
        let (out, stats) = run(&[3, 1], 16, DraftPolicy::Fixed(3), rtt_steps, true, 0, faults, draft).unwrap();
        assert_eq!(out, target_greedy(&[3, 1], 16));
        assert!(stats.timed_out > 0, "{stats:?}");
        // Every request stalls: the resend stalls too, and the answer ends with a clear error.
        let faults = Faults {
            stall_every: 1,
            ..Faults::default()
        };
        let err = run(&[3, 1], 16, DraftPolicy::Fixed(3), rtt_steps, true, 0, faults, draft).unwrap_err();
        assert_eq!(err, SpeculationError::TimedOut { ms: 1000, attempts: 2 });
        assert!(err.to_string().contains("within 1000 ms (2 attempts)"), "{err}");
    }
}

#[test]
fn a_speculative_answer_is_billed_by_target_positions_and_passes() {
    let prompt = [3, 1];
    let (out, stats) = run(&prompt, 24, DraftPolicy::Fixed(4), 0, true, 0, Faults::default(), draft).unwrap();
    let billed = stats.cloud_tokens();
    let plain = CloudTokens::plain(prompt.len(), out.len());
    // One output token per pass: fewer than a plain answer's when drafts are kept.
    assert_eq!(billed.output, stats.pipeline.rounds);
    assert!(billed.output < plain.output, "{stats:?}");
    // Every position the target ran is read: the prompt, each token but the last, and the
    // drafts it rejected.
    let rejected = stats.pipeline.sent - stats.pipeline.accepted;
    assert_eq!(billed.input, plain.input + out.len() - 1 + rejected, "{stats:?}");
    assert_eq!(CloudTokens { input: 3, output: 2 }.price(1.0, 4.0), 11.0);
}

/// Greedy, not pipelined, no lookup, drafts of 1..=8 chosen by the cost model.
fn adaptive_greedy(max_tokens: usize) -> SpeculationConfig {
    SpeculationConfig {
        model: "toy".into(),
        session: "s".into(),
        max_tokens,
        draft: DraftPolicy::Adaptive {
            min: 1,
            max: 8,
            draft_cost: 0.1,
        },
        pipelined: false,
        sampling: SamplingConfig::greedy(),
        stops: Vec::new(),
        lookup: false,
        round_timeout_ms: TIMEOUT_MS,
    }
}

/// The toy target's verdict on `req`, answered at once, against the `held`
/// tokens of its session, which it updates.
fn judge_at_once(req: &tandem_protocol::verify::VerifyRequest, held: &mut Vec<u32>) -> Verdict {
    let mut tokens = held[..req.base].to_vec();
    tokens.extend_from_slice(&req.context);
    let start = tokens.len();
    tokens.extend_from_slice(&req.draft);
    let ps: Vec<Vec<f32>> = (0..=req.draft.len()).map(|i| target(&tokens[..start + i])).collect();
    let verdict = round::judge(req, &TargetScores::Dists(ps)).unwrap();
    *held = tokens[..start + verdict.accepted].to_vec();
    verdict
}

#[test]
fn a_resumed_generation_starts_from_the_costs_it_learned() {
    // Costs of a CPU target with a poor drafter: plain rounds win.
    let mut learned = DraftLength::new(1, 8, 0.1, 0.5).with_plain();
    for i in 0..40 {
        let positions = 2 + i % 7;
        let forward = 200.0 * positions as f64;
        learned.observe_round(positions, 0, forward, forward);
        learned.observe_draft_ms(70.0);
        learned.observe(4, 0);
    }
    // Both send their first round plain; the fresh client then times the drafter on the
    // prompt's first token, the resumed one goes on with plain rounds.
    let config = || adaptive_greedy(8);
    let mut clients = [
        Speculation::new(vec![1, 2], config()).unwrap(),
        Speculation::resume(vec![1, 2], config(), Some(learned)).unwrap(),
    ];
    let mut second = Vec::new();
    for spec in &mut clients {
        let Step::Send(round) = spec.next_step() else {
            panic!("the first round goes out at once")
        };
        assert!(round.draft.is_empty());
        let mut held = Vec::new();
        let verdict = judge_at_once(&round, &mut held);
        let stats = TargetStats {
            forward_ms: 400.0,
            ..TargetStats::default()
        };
        spec.verdict(&round::reply(&round, verdict, stats), Some(400.0))
            .unwrap();
        second.push(spec.next_step());
    }
    assert_eq!(second[0], Step::Draft { context: vec![1] }, "a drafter timing step");
    assert!(
        matches!(&second[1], Step::Send(round) if round.draft.is_empty()),
        "{:?}",
        second[1]
    );
}

/// A fresh adaptive client against a target whose forward costs `f0 + f1 · positions` ms,
/// with draft steps of `draft_ms`: the contexts the drafter was run on, and the stats. Its
/// answer must be the target's.
fn drafter_contexts(prompt: &[u32], n: usize, f0: f64, f1: f64, draft_ms: f64) -> (Vec<Vec<u32>>, SpeculationStats) {
    let (contexts, spec) = drafter_run(prompt, n, None, (f0, f1), (draft_ms, 0.0));
    (contexts, spec.stats())
}

/// [`drafter_contexts`] for a client resuming from `learned` (fresh where `None`), whose draft
/// steps take `draft.0` ms plus `draft.1` for each position past the first that a step reads;
/// returns the finished client.
fn drafter_run(
    prompt: &[u32],
    n: usize,
    learned: Option<DraftLength>,
    (f0, f1): (f64, f64),
    (step_ms, read_ms): (f64, f64),
) -> (Vec<Vec<u32>>, Speculation) {
    let mut spec = Speculation::resume(prompt.to_vec(), adaptive_greedy(n), learned).unwrap();
    let mut held: Vec<u32> = Vec::new();
    let mut contexts: Vec<Vec<u32>> = Vec::new();
    loop {
        match spec.next_step() {
            Step::Draft { context } => {
                // What the drafter has read: the longest prefix it shares with its last context.
                let seen = contexts
                    .last()
                    .map_or(0, |last| last.iter().zip(&context).take_while(|(a, b)| a == b).count());
                let read = context.len().saturating_sub(seen).max(1);
                let ms = step_ms + read_ms * (read - 1) as f64;
                contexts.push(context.clone());
                spec.drafted(argmax(&draft(&context)) as u32, Vec::new(), Some(ms));
            }
            Step::Send(req) => {
                let verdict = judge_at_once(&req, &mut held);
                let positions = req.context.len() + req.draft.len();
                let ms = f0 + f1 * positions as f64;
                let stats = TargetStats {
                    forward_tokens: positions,
                    forward_ms: ms,
                    ..TargetStats::default()
                };
                spec.verdict(&round::reply(&req, verdict, stats), Some(ms)).unwrap();
            }
            Step::Wait => unreachable!("replies are delivered at once"),
            Step::Done(_) => break,
        }
    }
    assert_eq!(spec.output(), target_greedy(prompt, n));
    (contexts, spec)
}

#[test]
fn a_drafter_that_reads_slowly_is_timed_and_not_probed_where_reading_would_cost_too_much() {
    // The 1.5B target on two cores (25 ms a pass, 10 a position) and a drafter of 16 ms a
    // step that reads positions it missed at 8 ms each (the 0.5B beside the target, where the
    // scaled estimate says 4.6). A 400-token answer probes: the probe times the catch-up, and
    // the step's own time stays 16 ms.
    let prompt: Vec<u32> = (0..41).map(|i| (i * 7 % 11) as u32).collect();
    let (contexts, spec) = drafter_run(&prompt, 400, None, (25.0, 10.0), (16.0, 8.0));
    assert!(contexts.iter().any(|c| c.len() > prompt.len()), "probed");
    let learned = spec.draft_length().clone();
    let per_position = learned.catch_up_ms_per_position().expect("a catch-up was timed");
    // A step reading r positions takes 16 + 8·(r − 1) ms: a little over 8 a position.
    assert!((8.0..=8.5).contains(&per_position), "{per_position}");
    assert_eq!(learned.draft_step_ms(), Some(16.0));
    // Resumed from those costs, a 300-token answer on a new 60-token prompt does not make the
    // drafter read it: 61 positions at 8 ms cost more than 2.5 % of 300 plain tokens. A
    // 3000-token answer does.
    let prompt: Vec<u32> = (0..60).map(|i| (i * 5 % 13) as u32).collect();
    let (contexts, _) = drafter_run(&prompt, 300, Some(learned.clone()), (25.0, 10.0), (16.0, 8.0));
    assert!(contexts.is_empty(), "{} draft steps", contexts.len());
    let (contexts, _) = drafter_run(&prompt, 3000, Some(learned), (25.0, 10.0), (16.0, 8.0));
    assert!(contexts.iter().any(|c| c.len() > prompt.len()), "probed");
}

#[test]
fn a_fresh_client_against_a_cpu_target_never_makes_the_drafter_read_the_prompt() {
    // A target whose forward costs 18 ms plus 10 ms a position and a drafter step of 22 ms:
    // the first two plain rounds price drafting, which could not pay even if every draft were
    // kept, so the drafter only runs its two timing steps and is never probed, not even after
    // 150 plain rounds, when the prompt's round has little weight left in the fit.
    let prompt = [5u32, 2, 7, 1, 4, 4];
    let (contexts, stats) = drafter_contexts(&prompt, 150, 18.0, 10.0, 22.0);
    assert_eq!(contexts, [vec![5], vec![5, 2]]);
    assert_eq!(
        (stats.draft_steps, stats.pipeline.sent, stats.plain_rounds),
        (2, 0, 150),
        "{stats:?}"
    );
    // The 1.5B and 0.5B models as measured on two cores (25 ms a pass, 10 a position, 16 a
    // draft step): a drafter that was always right would save a little, but not enough in a
    // 40-token answer to pay for reading a 41-token prompt first. In a long answer it is probed.
    let long_prompt: Vec<u32> = (0..41).map(|i| (i * 7 % 11) as u32).collect();
    let (contexts, stats) = drafter_contexts(&long_prompt, 40, 25.0, 10.0, 16.0);
    assert_eq!(contexts.len(), 2, "{stats:?}");
    let (contexts, _) = drafter_contexts(&long_prompt, 400, 25.0, 10.0, 16.0);
    assert!(contexts.iter().any(|c| c.len() > long_prompt.len()), "probed");
}

#[test]
fn round_seeds_stay_exact_in_javascript_numbers() {
    let sampling = SamplingConfig {
        temperature: 1.0,
        seed: u64::MAX,
        ..SamplingConfig::greedy()
    };
    let config = SpeculationConfig {
        model: "toy".into(),
        session: "s".into(),
        max_tokens: 8,
        draft: DraftPolicy::Fixed(1),
        pipelined: false,
        sampling,
        stops: Vec::new(),
        lookup: false,
        round_timeout_ms: TIMEOUT_MS,
    };
    let mut spec = Speculation::new(vec![1, 2], config).unwrap();
    spec.drafted(3, vec![0.0, 0.0, 0.0, 1.0], None);
    let Step::Send(round) = spec.next_step() else {
        panic!("a drafted token is sent")
    };
    assert!(round.sampling.seed < 1 << 53, "{}", round.sampling.seed);
}

#[test]
fn a_session_lost_on_a_full_resend_is_an_error() {
    let mut spec = Speculation::new(
        vec![1, 2],
        SpeculationConfig {
            model: "toy".into(),
            session: "s".into(),
            max_tokens: 4,
            draft: DraftPolicy::Fixed(2),
            pipelined: false,
            sampling: SamplingConfig::greedy(),
            stops: Vec::new(),
            lookup: false,
            round_timeout_ms: TIMEOUT_MS,
        },
    )
    .unwrap();
    spec.drafted(3, Vec::new(), None);
    spec.drafted(4, Vec::new(), None);
    let Step::Send(round) = spec.next_step() else {
        panic!("two drafted tokens are sent")
    };
    assert_eq!(
        (round.base, round.context.as_slice(), round.draft.as_slice()),
        (0, &[1, 2][..], &[3, 4][..])
    );
    let err = spec.session_lost().unwrap_err();
    assert!(err.to_string().contains("whole context"), "{err}");
}

#[test]
fn a_stop_token_ends_the_answer_without_being_emitted() {
    let prompt = [3u32, 1];
    let full = target_greedy(&prompt, 12);
    let stop = full[5];
    let cut = full.iter().position(|&t| t == stop).unwrap();
    let mut spec = Speculation::new(
        prompt.to_vec(),
        SpeculationConfig {
            model: "toy".into(),
            session: "s".into(),
            max_tokens: 12,
            draft: DraftPolicy::Fixed(3),
            pipelined: false,
            sampling: SamplingConfig::greedy(),
            stops: vec![stop],
            lookup: false,
            round_timeout_ms: TIMEOUT_MS,
        },
    )
    .unwrap();
    let mut held: Vec<u32> = Vec::new();
    let finish = loop {
        match spec.next_step() {
            Step::Draft { context } => spec.drafted(argmax(&draft(&context)) as u32, Vec::new(), None),
            Step::Send(req) => {
                let verdict = judge_at_once(&req, &mut held);
                spec.verdict(&round::reply(&req, verdict, TargetStats::default()), None)
                    .unwrap();
            }
            Step::Wait => unreachable!("replies are delivered at once"),
            Step::Done(finish) => break finish,
        }
    };
    assert_eq!(finish, Finish::Stop);
    assert_eq!(spec.output(), &full[..cut]);
}

#[test]
fn drafted_rounds_that_cost_more_per_token_than_plain_ones_turn_drafting_off() {
    // The verifier reports a flat 30 ms forward and draft steps take 3 ms; drafted rounds
    // take 300 ms as the client lives them (an overhead the verifier does not report, such
    // as a drafter slowing a proxy down on shared cores), plain ones 31 ms. By its parts,
    // with the link's share averaged over both kinds of round, drafting pays whenever a few
    // plain rounds have pulled that average down; the realized costs say it never does.
    // The client must settle on plain rounds, and its answer is still the target's.
    let prompt = [5u32, 2, 7];
    let n = 120;
    let mut spec = Speculation::new(prompt.to_vec(), adaptive_greedy(n)).unwrap();
    let mut held: Vec<u32> = Vec::new();
    let mut drafted_after_settling = 0;
    let mut rounds = 0;
    loop {
        match spec.next_step() {
            // The drafter is the target itself: every draft is kept.
            Step::Draft { context } => spec.drafted(argmax(&target(&context)) as u32, Vec::new(), Some(3.0)),
            Step::Send(req) => {
                rounds += 1;
                if rounds > 10 && !req.draft.is_empty() {
                    drafted_after_settling += 1;
                }
                let verdict = judge_at_once(&req, &mut held);
                let stats = TargetStats {
                    forward_tokens: req.context.len() + req.draft.len(),
                    forward_ms: 30.0,
                    ..TargetStats::default()
                };
                let round_ms = if req.draft.is_empty() { 31.0 } else { 300.0 };
                spec.verdict(&round::reply(&req, verdict, stats), Some(round_ms))
                    .unwrap();
            }
            Step::Wait => unreachable!("replies are delivered at once"),
            Step::Done(_) => break,
        }
    }
    assert_eq!(spec.output(), target_greedy(&prompt, n));
    let (drafted, plain) = spec
        .draft_length()
        .realized_ms_per_token()
        .expect("both kinds of round");
    assert!(drafted > plain, "{drafted} against {plain}");
    let stats = spec.stats();
    // Past the first rounds, only probes draft: one after 8 plain rounds, then 16, 32, 64.
    assert!(
        drafted_after_settling <= 4,
        "{drafted_after_settling} drafted rounds, {stats:?}"
    );
    assert!(stats.plain_rounds > 80, "{stats:?}");
    // The report says why: most plain rounds were the realized costs' decision.
    let why = stats.plain_why;
    assert!(why.realized > 60, "{stats:?}");
    assert!(why.predicted + why.realized + why.probes <= stats.plain_rounds);
}

/// Runs a pipelined adaptive client whose replies arrive after three draft
/// steps (or at once when it waits); drafted rounds take `drafted_ms` and
/// plain ones 31 ms as the client lives them. Returns the draft steps it took
/// ahead (while a round was in flight) and how many of those came before its
/// realized costs showed drafting winning.
fn ahead_steps(drafted_ms: f64) -> (usize, usize) {
    let prompt = [5u32, 2, 7];
    let n = 120;
    let config = SpeculationConfig {
        pipelined: true,
        ..adaptive_greedy(n)
    };
    let mut spec = Speculation::new(prompt.to_vec(), config).unwrap();
    let mut held: Vec<u32> = Vec::new();
    let mut on_the_way: Option<(VerifyReply, f64, usize)> = None;
    let (mut ahead, mut ahead_unproven) = (0, 0);
    loop {
        let step = spec.next_step();
        if let Some((reply, ms, 0)) = &on_the_way {
            spec.verdict(reply, Some(*ms)).unwrap();
            on_the_way = None;
            continue;
        }
        match step {
            // A drafter timing step (shorter than the prompt) is not a draft.
            Step::Draft { context } if context.len() < prompt.len() => {
                spec.drafted(0, Vec::new(), Some(3.0));
            }
            Step::Draft { context } => {
                if let Some((_, _, steps)) = on_the_way.as_mut() {
                    *steps -= 1;
                    ahead += 1;
                    let proven = spec
                        .draft_length()
                        .realized_ms_per_token()
                        .is_some_and(|(drafted, plain)| drafted < plain);
                    ahead_unproven += usize::from(!proven);
                }
                spec.drafted(argmax(&target(&context)) as u32, Vec::new(), Some(3.0));
            }
            Step::Send(req) => {
                let verdict = judge_at_once(&req, &mut held);
                let stats = TargetStats {
                    forward_tokens: req.context.len() + req.draft.len(),
                    forward_ms: 30.0,
                    ..TargetStats::default()
                };
                let ms = if req.draft.is_empty() { 31.0 } else { drafted_ms };
                on_the_way = Some((round::reply(&req, verdict, stats), ms, 3));
            }
            Step::Wait => {
                let (reply, ms, _) = on_the_way.take().expect("a round in flight");
                spec.verdict(&reply, Some(ms)).unwrap();
            }
            Step::Done(_) => break,
        }
    }
    assert_eq!(spec.output(), target_greedy(&prompt, n));
    (ahead, ahead_unproven)
}

#[test]
fn a_fresh_client_drafts_ahead_only_once_drafted_rounds_have_paid() {
    // Every draft is kept, and a drafted round of up to 9 tokens takes 40 ms against a plain
    // round's 31 ms per token: once both are timed, drafting ahead pays and goes on.
    let (ahead, unproven) = ahead_steps(40.0);
    assert_eq!(unproven, 0, "drafted ahead before drafting was shown to pay");
    assert!(ahead > 10, "{ahead} steps ahead");
    // Drafted rounds of 600 ms never pay: the client never drafts ahead.
    assert_eq!(ahead_steps(600.0), (0, 0));
}
