//! Shared helpers: devices to test on and fixture loading.

#![allow(dead_code, missing_docs, unreachable_pub)]

use burn::tensor::{Device, Tensor};
use std::path::PathBuf;
use tandem_models::{KvCache, Model};

/// Every device the suite runs on: the CPU backend, and wgpu (Vulkan; Mesa's
/// lavapipe on machines without a GPU, installed by pkg-scripts/setup).
pub fn devices() -> Vec<(&'static str, Device)> {
    let mut out = vec![("flex", Device::flex())];
    if std::env::var_os("TANDEM_SKIP_WGPU").is_none() {
        out.push(("wgpu", Device::wgpu(Default::default())));
    }
    out
}

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

pub fn to_vec(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 logits")
}

/// Runs `tokens` through `model` in the given chunk sizes, concatenating the logits.
pub fn run_chunks(model: &Model, cache: &mut KvCache, tokens: &[u32], chunks: &[usize]) -> Vec<f32> {
    let mut out = Vec::new();
    let mut at = 0;
    for &n in chunks {
        out.extend(to_vec(model.forward(&tokens[at..at + n], cache).expect("forward")));
        at += n;
    }
    assert_eq!(at, tokens.len());
    out
}

/// Greedy continuation with the KV cache, one token at a time.
pub fn greedy(model: &Model, prompt: &[u32], n: usize) -> Vec<u32> {
    let vocab = model.config().vocab_size;
    let mut cache = model.new_cache();
    let mut logits = to_vec(model.forward(prompt, &mut cache).expect("prefill"));
    let mut out = Vec::new();
    for _ in 0..n {
        let last = &logits[logits.len() - vocab..];
        let next = tandem_decoding::sampling::argmax(last) as u32;
        out.push(next);
        logits = to_vec(model.forward(&[next], &mut cache).expect("decode"));
    }
    out
}

/// max |a - b| / max |b|
pub fn rel_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, x| m.max(x.abs()));
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}
