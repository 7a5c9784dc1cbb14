//! Parity with Hugging Face `transformers` (PyTorch, f32) on tiny random
//! Llama and Qwen2 models, on every device (fixtures: pkg-scripts/model_fixtures.py).

mod common;

use common::{devices, fixture, greedy, rel_error, run_chunks, to_vec};
use serde::Deserialize;
use tandem_models::{Model, WeightFormat};

#[derive(Deserialize)]
struct Reference {
    tokens: Vec<u32>,
    vocab: usize,
    greedy_prompt: Vec<u32>,
    greedy_continuation: Vec<u32>,
}

fn load(name: &str, device: &burn::tensor::Device) -> (Model, Reference, Vec<f32>) {
    load_as(name, device, WeightFormat::Stored)
}

fn load_as(name: &str, device: &burn::tensor::Device, format: WeightFormat) -> (Model, Reference, Vec<f32>) {
    let config = std::fs::read_to_string(fixture(&format!("{name}/config.json"))).unwrap();
    let weights = std::fs::read(fixture(&format!("{name}/model.safetensors"))).unwrap();
    let model = Model::from_safetensors_as(&config, &weights, device, format).unwrap();
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(fixture(&format!("{name}/reference.json"))).unwrap()).unwrap();
    let logits: Vec<f32> = std::fs::read(fixture(&format!("{name}/logits.f32")))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(logits.len(), reference.tokens.len() * reference.vocab);
    (model, reference, logits)
}

fn check(name: &str) {
    for (device_name, device) in devices() {
        let (model, reference, expected) = load(name, &device);
        // One pass over the whole sequence: logits of every position.
        let mut cache = model.new_cache();
        let all = run_chunks(&model, &mut cache, &reference.tokens, &[reference.tokens.len()]);
        let err = rel_error(&all, &expected);
        assert!(err < 1e-4, "{name} on {device_name}: relative error {err}");
        // The KV cache path (prefill, then chunks, then single tokens) agrees.
        let mut cache = model.new_cache();
        let chunked = run_chunks(&model, &mut cache, &reference.tokens, &[5, 1, 7, 1, 1, 9]);
        let err = rel_error(&chunked, &expected);
        assert!(err < 1e-4, "{name} on {device_name}, cached: relative error {err}");
        // Greedy decoding matches transformers' generate().
        assert_eq!(
            greedy(&model, &reference.greedy_prompt, reference.greedy_continuation.len()),
            reference.greedy_continuation,
            "{name} on {device_name}"
        );
    }
}

#[test]
fn tiny_llama_matches_transformers() {
    check("tiny-llama");
}

#[test]
fn tiny_qwen2_matches_transformers() {
    check("tiny-qwen2");
}

/// The quantized path (weights quantized to `Q8_0` at load; on the CPU
/// backend activations to 8 bits and the fused kernels, on wgpu the GPU
/// kernel with `f32` activations) against `transformers`: close to the
/// logits, and the cached path agrees with one pass over the prompt.
#[test]
fn q8_0_weights_stay_close_to_transformers() {
    for (device_name, device) in devices() {
        for name in ["tiny-llama", "tiny-qwen2"] {
            let (model, reference, expected) = load_as(name, &device, WeightFormat::Q8_0);
            let (dense, _, _) = load_as(name, &device, WeightFormat::F32);
            // Q8_0 holds 34 bytes a block of 32 on the CPU, 40 on a GPU
            // (codes and an f32 scale and offset), against 128 as f32.
            let ratio = model.matrix_bytes() as f64 / dense.matrix_bytes() as f64;
            assert!(
                ratio < 0.32,
                "{name} on {device_name}: weights take {ratio} of f32's bytes"
            );
            let mut cache = model.new_cache();
            let all = run_chunks(&model, &mut cache, &reference.tokens, &[reference.tokens.len()]);
            let err = rel_error(&all, &expected);
            // These random models (initializer range 0.3) have sharp attention that
            // amplifies rounding: measured 0.064 (Llama) and 0.102 (Qwen2) on the
            // CPU. A wiring error (a transposed or misplaced matrix) gives errors
            // near 1.
            assert!(err < 0.15, "{name} on {device_name}, Q8_0: relative error {err}");
            assert!(err > 0.0, "{name} on {device_name}: the Q8_0 path ran dense f32");
            let mut cache = model.new_cache();
            let chunked = run_chunks(&model, &mut cache, &reference.tokens, &[5, 1, 7, 1, 1, 9]);
            let err = rel_error(&chunked, &all);
            assert!(
                err < 1e-5,
                "{name} on {device_name}, Q8_0 cached: relative error {err} against one pass"
            );
        }
    }
    // Greedy decoding still follows transformers here, on every device; the
    // wasm build must give the same tokens (tandem-wasm's tests/model.rs).
    for (device_name, device) in devices() {
        let (model, reference, _) = load_as("tiny-llama", &device, WeightFormat::Q8_0);
        assert_eq!(
            greedy(&model, &reference.greedy_prompt, reference.greedy_continuation.len()),
            reference.greedy_continuation,
            "Q8_0 on {device_name}"
        );
    }
}

/// With every matrix quantized, the CPU backend runs the fused decoder
/// (host loops, host KV cache); burn's graph on the same weights is its
/// reference. Covers GQA and llama3 RoPE (Llama), biases, MQA and a tied
/// head (Qwen2), in one pass, in cached chunks and after truncation.
#[test]
fn fused_cpu_decoder_equals_burns_graph() {
    for name in ["tiny-llama", "tiny-qwen2"] {
        let (fused, reference, _) = load_as(name, &burn::tensor::Device::flex(), WeightFormat::Q8_0);
        assert!(fused.fused_cpu(), "{name}: every matrix is quantized");
        let graph = fused.clone().without_fused_cpu();
        assert!(!graph.fused_cpu());
        // The same products; only the order of float operations around them
        // differs (and with it, rarely, an activation's 8-bit rounding).
        fused_equals_graph(&format!("{name}, CPU"), &fused, &graph, &reference, 1e-3);
    }
}

/// The fused decoders give each position the same logits, to the bit,
/// whether the position runs alone (decoding), in a chunk (a speculative
/// round's draft) or in one pass with the whole prompt: every step treats
/// each position on its own (products, norms, attention rows). So a
/// verifier scores a draft exactly as `tandem generate` decodes it, and
/// greedy speculation with quantized weights prints the target's own greedy
/// text. On the CPU and on wgpu (lavapipe here), past the GPU decoder's
/// first 64 positions too.
#[test]
fn fused_logits_do_not_depend_on_how_positions_are_batched() {
    for (device_name, device) in devices() {
        for name in ["tiny-llama", "tiny-qwen2"] {
            let (model, reference, _) = load_as(name, &device, WeightFormat::Q8_0);
            assert!(model.fused_cpu() || model.fused_gpu(), "{name} on {device_name}: fused");
            let long: Vec<u32> = (0..100u32).map(|i| (i * 37 + 11) % reference.vocab as u32).collect();
            for tokens in [&reference.tokens, &long] {
                let one_pass = run_chunks(&model, &mut model.new_cache(), tokens, &[tokens.len()]);
                let mut chunks = vec![5, 1, 7, 1, 1, 9];
                let rest = tokens.len().saturating_sub(chunks.iter().sum::<usize>());
                chunks.extend((rest > 0).then_some(rest));
                for chunks in [chunks, vec![1; tokens.len()]] {
                    let chunked = run_chunks(&model, &mut model.new_cache(), tokens, &chunks);
                    let differ = chunked
                        .iter()
                        .zip(&one_pass)
                        .filter(|(a, b)| a.to_bits() != b.to_bits())
                        .count();
                    assert_eq!(
                        differ,
                        0,
                        "{name} on {device_name}, {} tokens in chunks {chunks:?}: logits differ from one pass",
                        tokens.len()
                    );
                }
            }
        }
    }
}

/// A drafter's shortlisted head scores each listed token as the whole head
/// does and every other token −∞, so greedy drafting picks the best listed
/// token; tokens added per answer join the list. It needs the fused CPU
/// decoder: a GPU model and bad lists are refused.
#[test]
fn a_shortlisted_head_scores_its_tokens_as_the_whole_head_and_no_other() {
    for (device_name, device) in devices() {
        for name in ["tiny-llama", "tiny-qwen2"] {
            let (model, reference, _) = load_as(name, &device, WeightFormat::Q8_0);
            let v = reference.vocab as u32;
            let listed = [3, v - 1, 17, 3, 40];
            if !model.fused_cpu() {
                let err = model.shortlist(&listed).unwrap_err().to_string();
                assert!(err.contains("fused CPU decoder"), "{name} on {device_name}: {err}");
                continue;
            }
            let tokens = &reference.tokens;
            let whole = to_vec(model.forward_last(tokens, &mut model.new_cache()).unwrap());
            let base = model.shortlist(&listed).unwrap();
            assert_eq!(base.len(), 4, "duplicates are listed once");
            let list = base.with_tokens(&model, &[5, 17, 5]).unwrap();
            assert_eq!((list.len(), list.contains(5), base.contains(5)), (5, true, false));
            let short = to_vec(
                model
                    .forward_last_shortlisted(tokens, &mut model.new_cache(), &list)
                    .unwrap(),
            );
            assert_eq!(short.len(), whole.len());
            for (id, (&s, &w)) in short.iter().zip(&whole).enumerate() {
                if list.contains(id as u32) {
                    assert!(
                        (s - w).abs() <= 1e-5 * w.abs().max(1.0),
                        "{name}: token {id}: {s} against {w}"
                    );
                } else {
                    assert_eq!(s, f32::NEG_INFINITY, "{name}: token {id} is not listed");
                }
            }
            let best_listed = [3, v - 1, 17, 40, 5]
                .into_iter()
                .max_by(|&a, &b| whole[a as usize].total_cmp(&whole[b as usize]))
                .unwrap();
            assert_eq!(tandem_decoding::sampling::argmax(&short) as u32, best_listed);
            // Refused: an empty list, a token outside the vocabulary.
            assert!(model.shortlist(&[]).is_err());
            assert!(
                model
                    .shortlist(&[v])
                    .unwrap_err()
                    .to_string()
                    .contains("outside the vocabulary")
            );
            assert!(base.with_tokens(&model, &[v + 3]).is_err());
        }
    }
}

/// With every matrix quantized on a GPU device, the GPU decoder (a few
/// kernels a layer, device KV buffers written in place) runs; burn's graph
/// on the same weights and the same product kernel is its reference.
#[test]
fn fused_gpu_decoder_equals_burns_graph() {
    let Some((_, device)) = devices().into_iter().find(|(name, _)| *name == "wgpu") else {
        return;
    };
    for name in ["tiny-llama", "tiny-qwen2"] {
        let (fused, reference, _) = load_as(name, &device, WeightFormat::Q8_0);
        assert!(
            fused.fused_gpu() && !fused.fused_cpu(),
            "{name}: every matrix is quantized on the GPU"
        );
        let graph = fused.clone().without_fused_gpu();
        assert!(!graph.fused_gpu());
        // The same product kernel on the same inputs: only the order of the
        // norms', softmax's and attention's float operations differs.
        fused_equals_graph(&format!("{name}, GPU"), &fused, &graph, &reference, 1e-5);
        // Past the first 64 positions: the cache's buffers grow (keeping
        // what they held) and attention takes its keys in two chunks.
        let long: Vec<u32> = (0..100u32).map(|i| (i * 37 + 11) % reference.vocab as u32).collect();
        let v = reference.vocab;
        let expected = run_chunks(&graph, &mut graph.new_cache(), &long, &[long.len()]);
        let mut cache = fused.new_cache();
        let chunked = run_chunks(&fused, &mut cache, &long, &[60, 1, 3, 1, 35]);
        let err = rel_error(&chunked, &expected);
        assert!(err < 1e-5, "{name}, GPU: 100 positions in chunks, relative error {err}");
        // A copied prefix shares the buffers until either writes: each then
        // continues from the prefix without seeing the other's positions.
        let mut copy = cache.copy_prefix(50);
        cache.truncate(50);
        let a = run_chunks(&fused, &mut copy, &long[50..], &[50]);
        let b = run_chunks(&fused, &mut cache, &long[50..60], &[10]);
        assert!(rel_error(&a, &expected[50 * v..]) < 1e-5, "{name}, GPU: the copy");
        assert!(
            rel_error(&b, &expected[50 * v..60 * v]) < 1e-5,
            "{name}, GPU: the original"
        );
        let again = run_chunks(&fused, &mut copy, &long[99..], &[1]);
        assert_eq!(copy.len(), 101);
        assert!(again.iter().all(|x| x.is_finite()));
        // A prefix copied from a full cache (60 positions in 64) grows while
        // its buffers are still shared: both go on from position 60.
        let mut cache = fused.new_cache();
        run_chunks(&fused, &mut cache, &long[..60], &[60]);
        let mut copy = cache.copy_prefix(60);
        let a = run_chunks(&fused, &mut copy, &long[60..], &[40]);
        let b = run_chunks(&fused, &mut cache, &long[60..], &[1, 39]);
        assert!(rel_error(&a, &expected[60 * v..]) < 1e-5, "{name}, GPU: the grown copy");
        assert!(rel_error(&b, &expected[60 * v..]) < 1e-5, "{name}, GPU: its original");
    }
}

/// `fused` (a fused decoder) against `graph` (burn's operations on the same
/// weights): one pass within `tolerance` of the graph, and its own cached
/// chunks, truncation, last rows and tails within 1e-5 of that pass.
fn fused_equals_graph(name: &str, fused: &Model, graph: &Model, reference: &Reference, tolerance: f32) {
    let t = &reference.tokens;
    let expected = run_chunks(graph, &mut graph.new_cache(), t, &[t.len()]);
    let all = run_chunks(fused, &mut fused.new_cache(), t, &[t.len()]);
    let err = rel_error(&all, &expected);
    assert!(err < tolerance, "{name}: fused against graph, relative error {err}");
    let mut cache = fused.new_cache();
    let chunked = run_chunks(fused, &mut cache, t, &[5, 1, 7, 1, 1, 9]);
    let err = rel_error(&chunked, &all);
    assert!(
        err < 1e-5,
        "{name}: fused cached against one pass, relative error {err}"
    );
    cache.truncate(10);
    let v = reference.vocab;
    let rest = run_chunks(fused, &mut cache, &t[10..], &[t.len() - 10]);
    let err = rel_error(&rest, &all[10 * v..]);
    assert!(err < 1e-5, "{name}: fused after truncation, relative error {err}");
    // Only the last position's logits, on both paths, are that row of all.
    for model in [fused, graph] {
        let last = common::to_vec(model.forward_last(t, &mut model.new_cache()).unwrap());
        let err = rel_error(&last, &all[(t.len() - 1) * v..]);
        assert!(err < tolerance.max(1e-5), "{name}: forward_last, relative error {err}");
        // The last three (a verification round's draft and the one after), and a tail
        // longer than the run, which is all of it.
        let tail = model.forward_tail(t, &mut model.new_cache(), 3).unwrap();
        assert_eq!(tail.dims(), [3, v]);
        let err = rel_error(&common::to_vec(tail), &all[(t.len() - 3) * v..]);
        assert!(err < tolerance.max(1e-5), "{name}: forward_tail, relative error {err}");
        let whole = common::to_vec(model.forward_tail(t, &mut model.new_cache(), t.len() + 5).unwrap());
        assert!(
            rel_error(&whole, &all) < tolerance.max(1e-5),
            "{name}: a tail past the run"
        );
    }
    // A cache of the other kind is refused, not misread.
    assert!(fused.forward(&t[..1], &mut graph.new_cache()).is_err());
    assert!(graph.forward(&t[..1], &mut fused.new_cache()).is_err());
}

#[test]
fn truncating_the_cache_rewinds_exactly() {
    for (device_name, device) in devices() {
        let (model, reference, expected) = load("tiny-qwen2", &device);
        let t = &reference.tokens;
        let v = reference.vocab;
        let mut cache = model.new_cache();
        // Run 16 tokens (as if a draft of 8 was verified), reject the last 6, continue differently.
        run_chunks(&model, &mut cache, &t[..16], &[8, 8]);
        cache.truncate(10);
        assert_eq!(cache.len(), 10);
        let rest = run_chunks(&model, &mut cache, &t[10..], &[t.len() - 10]);
        let err = rel_error(&rest, &expected[10 * v..]);
        assert!(err < 1e-4, "{device_name}: relative error {err} after truncation");
        cache.truncate(0);
        assert!(cache.is_empty());
    }
}

#[test]
fn bad_input_is_an_error() {
    let (model, _, _) = load("tiny-llama", &burn::tensor::Device::flex());
    let mut cache = model.new_cache();
    assert!(model.forward(&[], &mut cache).is_err());
    assert!(
        model
            .forward(&[96], &mut cache)
            .unwrap_err()
            .to_string()
            .contains("outside the vocabulary")
    );
    let too_long = vec![1u32; 129];
    assert!(
        model
            .forward(&too_long, &mut cache)
            .unwrap_err()
            .to_string()
            .contains("exceeds")
    );
    assert!(Model::from_safetensors("{}", &[], &burn::tensor::Device::flex()).is_err());
    let config = std::fs::read_to_string(fixture("tiny-llama/config.json")).unwrap();
    let err = Model::from_safetensors(&config, b"not safetensors", &burn::tensor::Device::flex()).unwrap_err();
    assert!(err.to_string().starts_with("safetensors"), "{err}");
}
