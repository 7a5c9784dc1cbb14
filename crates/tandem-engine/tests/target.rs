//! The target side of speculative decoding on a tiny random Qwen2 model
//! (fixture of tandem-models, made by pkg-scripts/model_fixtures.py): cached
//! rounds and prefix reuse give exactly what a fresh full pass gives, and the
//! memory budget evicts the least recently used session.

use tandem_decoding::sampling::argmax;
use tandem_decoding::speculative::round::TargetScores;
use tandem_engine::Target;
use tandem_engine::target::TargetError;
use tandem_models::{Model, WeightFormat};

fn model() -> Model {
    model_as(WeightFormat::F32)
}

/// The fixture with its matrices in `format` (`Q8_0` runs the fused CPU
/// decoder, whose KV cache lives in host memory).
fn model_as(format: WeightFormat) -> Model {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tandem-models/tests/fixtures/tiny-qwen2"
    );
    let config = std::fs::read_to_string(format!("{dir}/config.json")).unwrap();
    let weights = std::fs::read(format!("{dir}/model.safetensors")).unwrap();
    Model::from_safetensors_as(&config, &weights, &burn::tensor::Device::flex(), format).unwrap()
}

/// The argmax after each prefix `tokens[..=i]`, from one fresh pass.
fn full_argmax(model: &Model, tokens: &[u32]) -> Vec<u32> {
    let logits = model.forward(tokens, &mut model.new_cache()).unwrap();
    let v: Vec<f32> = logits.into_data().try_to_vec::<f32>().unwrap();
    v.chunks(model.config().vocab_size).map(|r| argmax(r) as u32).collect()
}

fn tokens(seed: u32, n: usize) -> Vec<u32> {
    (0..n as u32).map(|i| (i * 37 + seed * 11 + 5) % 96).collect()
}

#[test]
fn rounds_on_a_cached_session_score_like_a_fresh_pass() {
    let model = model();
    let mut target = Target::new(model.clone(), 64 << 20);
    let all = tokens(1, 30);
    let expected = full_argmax(&model, &all);
    // Round 1: prompt of 10, draft of 4. Round 2 rejects two draft tokens
    // (base 12) and drafts 5 more. Round 3 only steps (empty draft).
    let rounds = [(0, 10, 4), (12, 2, 5), (19, 3, 0)];
    for (base, context, draft) in rounds {
        let ctx = &all[base..base + context];
        let d = &all[base + context..base + context + draft];
        let scored = target.score("s", base, ctx, d, None).unwrap();
        let end = base + context + draft;
        assert_eq!(
            scored.scores,
            TargetScores::Argmax(expected[end - draft - 1..end].to_vec()),
            "round at base {base}"
        );
        assert!(scored.forward_tokens <= context + draft + 1, "only new tokens run");
    }
    assert!(matches!(
        target.score("s", 40, &[1], &[], None),
        Err(TargetError::SessionLost { held: 22, base: 40 })
    ));
    assert!(matches!(
        target.score("unknown", 3, &[1], &[], None),
        Err(TargetError::SessionLost { held: 0, .. })
    ));
}

#[test]
fn a_new_session_starts_from_the_prompt_another_session_of_its_scope_holds() {
    let all = tokens(7, 26);
    let model = model();
    let expected = full_argmax(&model, &all);
    let mut target = Target::new(model, 64 << 20);
    target.score("app\u{1f}a", 0, &all[..16], &all[16..20], None).unwrap();
    // Same scope, the same first 20 tokens: only the rest of the context and the draft run.
    let b = target.score("app\u{1f}b", 0, &all[..22], &all[22..25], None).unwrap();
    assert_eq!((b.cached_tokens, b.forward_tokens), (20, 5));
    assert_eq!(b.scores, TargetScores::Argmax(expected[21..25].to_vec()));
    // The copy is b's own: a's session goes on from where it was.
    let a = target.score("app\u{1f}a", 18, &all[18..19], &[], None).unwrap();
    assert_eq!((a.cached_tokens, a.forward_tokens), (18, 1));
    assert_eq!(a.scores, TargetScores::Argmax(vec![expected[18]]));
    let b = target.score("app\u{1f}b", 25, &all[25..26], &[], None).unwrap();
    assert_eq!(b.scores, TargetScores::Argmax(vec![expected[25]]));
    // Another scope, or none, shares nothing.
    let other = target.score("other\u{1f}c", 0, &all[..22], &[], None).unwrap();
    assert_eq!(other.cached_tokens, 0);
    assert_eq!(target.score("d", 0, &all[..22], &[], None).unwrap().cached_tokens, 0);
}

#[test]
fn a_copied_host_cache_goes_on_like_the_sequence_it_was_copied_from() {
    let model = model_as(WeightFormat::Q8_0);
    assert!(model.fused_cpu(), "Q8_0 runs the fused decoder and its host cache");
    let all = tokens(8, 20);
    let vocab = model.config().vocab_size;
    let rows = |t: burn::tensor::Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
    let mut first = model.new_cache();
    let whole = rows(model.forward(&all, &mut first).unwrap());
    let mut copy = first.copy_prefix(12);
    assert_eq!(copy.len(), 12);
    let rest = rows(model.forward(&all[12..], &mut copy).unwrap());
    for (a, b) in rest.iter().zip(&whole[12 * vocab..]) {
        assert!((a - b).abs() < 1e-3, "{a} vs {b}");
    }
    // Writing into the copy left the original alone.
    first.truncate(19);
    let last = rows(model.forward(&all[19..], &mut first).unwrap());
    for (a, b) in last.iter().zip(&whole[19 * vocab..]) {
        assert!((a - b).abs() < 1e-3, "{a} vs {b}");
    }
}

#[test]
fn prompt_logprobs_reuse_prefixes_without_changing_a_number() {
    let model = model();
    let long = tokens(2, 24);
    let mut fresh = Target::new(model.clone(), 64 << 20);
    let expected = fresh.prompt_logprobs(&long, 5).unwrap();
    assert_eq!(expected.prompt.len(), long.len() - 1);
    assert_eq!(expected.cached_tokens, 0);
    assert_eq!(expected.next.token, *full_argmax(&model, &long).last().unwrap());
    for (i, r) in expected.prompt.iter().enumerate() {
        assert_eq!(r.token, long[i + 1]);
        assert!(r.rank >= 1 && r.logprob <= 0.0);
        assert_eq!(r.top.len(), 5);
    }
    // A shorter prompt first, then one diverging at 18: the cache is reused and the numbers match.
    let mut cached = Target::new(model, 64 << 20);
    cached.prompt_logprobs(&long[..12], 5).unwrap();
    let mut diverging = long.clone();
    diverging[18] = (diverging[18] + 1) % 96;
    cached.prompt_logprobs(&diverging, 5).unwrap();
    let again = cached.prompt_logprobs(&long, 5).unwrap();
    assert_eq!(again.cached_tokens, 17);
    for (a, b) in again.prompt.iter().zip(&expected.prompt) {
        assert_eq!((a.token, a.rank), (b.token, b.rank));
        assert!((a.logprob - b.logprob).abs() < 1e-4, "{a:?} vs {b:?}");
    }
    assert_eq!(again.next.token, expected.next.token);
    // Decoding step by step extends the entry without running any position twice.
    let mut step = long.clone();
    step.push(again.next.token);
    let extended = cached.prompt_logprobs(&step, 5).unwrap();
    assert_eq!(
        extended.cached_tokens,
        long.len(),
        "the tail logits scored the new position"
    );
    assert_eq!(extended.prompt[..again.prompt.len()], again.prompt[..]);
    assert_eq!(extended.prompt.last().unwrap().token, again.next.token);
    assert_eq!(extended.prompt.last().unwrap().rank, 1);
    assert_eq!(extended.next.token, *full_argmax(fresh.model(), &step).last().unwrap());
    let same = cached.prompt_logprobs(&step, 5).unwrap();
    assert_eq!((&same.prompt, &same.next), (&extended.prompt, &extended.next));
    assert_eq!(same.cached_tokens, step.len(), "an identical prompt runs nothing");
    assert!(cached.prompt_logprobs(&long, 21).is_err(), "at most 20 per position");
    assert!(cached.prompt_logprobs(&[], 1).is_err());
}

#[test]
fn the_budget_evicts_the_least_recently_used_session_and_refuses_oversized_rounds() {
    let model = model();
    let per_token = Target::new(model.clone(), 0).bytes_per_token();
    let mut target = Target::new(model, per_token * 50);
    target.score("a", 0, &tokens(3, 20), &[], None).unwrap();
    target.score("b", 0, &tokens(4, 20), &[], None).unwrap();
    target.score("a", 20, &[7], &[], None).unwrap(); // a is now the most recent
    target.score("c", 0, &tokens(5, 20), &[], None).unwrap();
    assert!(target.held_bytes() <= per_token * 50);
    assert!(matches!(
        target.score("b", 20, &[1], &[], None),
        Err(TargetError::SessionLost { .. })
    ));
    assert!(target.score("a", 21, &[1], &[], None).is_ok(), "a survived");
    assert!(matches!(
        target.score("d", 0, &tokens(6, 60), &[], None),
        Err(TargetError::Invalid(_))
    ));
}

#[test]
fn token_ids_outside_the_vocabulary_are_refused_before_any_work() {
    let model = model();
    let vocab = model.config().vocab_size as u32;
    let mut target = Target::new(model, 64 << 20);
    let refused =
        |r: Result<_, TargetError>| matches!(r, Err(TargetError::Invalid(m)) if m.contains("outside the vocabulary"));
    assert!(refused(target.score("s", 0, &[1, vocab], &[], None).map(|_| ())));
    assert!(refused(target.score("s", 0, &[1, 2], &[u32::MAX], None).map(|_| ())));
    assert!(refused(target.prompt_logprobs(&[3, vocab + 7], 2).map(|_| ())));
    // The target still serves good rounds afterwards.
    assert!(target.score("s", 0, &[1, 2], &[3], None).is_ok());
    assert!(target.prompt_logprobs(&[3, 4], 2).is_ok());
    // A refused round leaves the session as it was: the next round from base 3
    // scores like the same tokens in a fresh session.
    assert!(refused(target.score("s", 1, &[vocab], &[5], None).map(|_| ())));
    let resumed = target.score("s", 3, &[4], &[5, 6], None).unwrap();
    let fresh = target.score("t", 0, &[1, 2, 3, 4], &[5, 6], None).unwrap();
    assert_eq!(resumed.scores, fresh.scores);
    assert_eq!(resumed.cached_tokens, 3);
}

#[test]
fn a_plain_rounds_continuation_is_the_targets_greedy_decoding_and_the_session_follows() {
    use tandem_decoding::speculative::round;
    use tandem_protocol::verify::{VerifyRequest, VerifySampling};
    let model = model();
    let mut target = Target::new(model.clone(), 64 << 20);
    let prompt = tokens(3, 8);
    // The target's greedy decoding of 7 tokens after the prompt, one fresh pass per token.
    let mut greedy = prompt.clone();
    for _ in 0..7 {
        let next = *full_argmax(&model, &greedy).last().unwrap();
        greedy.push(next);
    }
    let plain = |base: usize, context: Vec<u32>, extend: usize, stop: Vec<u32>| VerifyRequest {
        model: "m".into(),
        session: "s".into(),
        base,
        context,
        draft: Vec::new(),
        draft_dists: None,
        sampling: VerifySampling {
            temperature: 0.0,
            top_k: None,
            top_p: None,
            seed: 0,
        },
        extend,
        stop,
    };
    let req = plain(0, prompt.clone(), 4, Vec::new());
    let scored = target.score_round(&req).unwrap();
    let verdict = round::judge(&req, &scored.scores).unwrap();
    let extended = target.extend_round(&req, 8, verdict.next).unwrap();
    assert_eq!(verdict.next, greedy[8]);
    assert_eq!(extended, greedy[9..13], "the continuation is greedy decoding");
    assert_eq!(extended.len(), 4);
    // The session holds the prompt, next and all but the last continuation token: 12.
    let req = plain(12, vec![greedy[12]], 3, vec![greedy[14]]);
    let scored = target.score_round(&req).unwrap();
    let verdict = round::judge(&req, &scored.scores).unwrap();
    assert_eq!(verdict.next, greedy[13]);
    let extended = target.extend_round(&req, 13, verdict.next).unwrap();
    assert_eq!(extended, [greedy[14]], "ends at the stop token, included");
    // A continuation asked of a session that does not hold what the reply said is refused.
    assert!(matches!(
        target.extend_round(&req, 20, verdict.next),
        Err(TargetError::SessionLost { .. })
    ));
}
