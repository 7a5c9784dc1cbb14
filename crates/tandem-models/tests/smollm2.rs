//! The real SmolLM2-135M-Instruct GGUF (fetched by pkg-scripts/setup) against
//! `transformers` loading the same file (pkg-scripts/model_fixtures.py):
//! the same tokens, the same top-1 token at every position of a 64-token
//! prompt, and the same 32-token greedy continuation, on the `f32` reference
//! path.
//!
//! The quantized path (the default: `Q4_1`/`Q8_0` blocks kept, activations
//! quantized to 8 bits like llama.cpp) is held to llama.cpp on the same file
//! (pkg-scripts/llamacpp_fixtures.py): llama.cpp's 32-token greedy
//! continuation, teacher-forced, is our top-1 or a near-tie of it at every
//! step; and `transformers`' top-1 wherever its top-2 margin is not a
//! near-tie.

mod common;

use common::{fixture, greedy, run_chunks};
use serde::Deserialize;
use tandem_decoding::chat::{ChatTemplate, Message, Role};
use tandem_gguf::Gguf;
use tandem_models::{Model, TextTokenizer, WeightFormat};

#[derive(Deserialize)]
struct Reference {
    prompt: String,
    prompt_ids: Vec<u32>,
    argmax: Vec<u32>,
    top2_margin: Vec<f32>,
    greedy_32: Vec<u32>,
    chat_prompt: String,
    chat_ids: Vec<u32>,
}

fn model_bytes() -> Vec<u8> {
    let cache = std::env::var_os("TANDEM_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/tandem"));
    let path = cache.join("models/smollm2-135m.gguf");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run pkg-scripts/setup to fetch it", path.display()))
}

fn reference() -> Reference {
    serde_json::from_str(&std::fs::read_to_string(fixture("smollm2_reference.json")).unwrap()).unwrap()
}

#[test]
fn tokenizer_and_chat_template_match_transformers() {
    let bytes = model_bytes();
    let gguf = Gguf::parse(bytes).unwrap();
    let tok = TextTokenizer::from_gguf(&gguf).unwrap();
    let r = reference();
    let ids = tok.encode(&r.prompt).unwrap();
    assert_eq!(&ids[..64], &r.prompt_ids[..]);
    let text = |id: Option<u32>| tok.token_text(id.unwrap()).unwrap();
    let template = ChatTemplate::from_jinja(
        gguf.get_str("tokenizer.chat_template").unwrap(),
        &text(tok.bos()),
        &text(tok.eos()),
    )
    .unwrap();
    let chat = template.render(&[Message::new(Role::User, "What is 2+2?")]).unwrap();
    assert_eq!(chat, r.chat_prompt);
    assert_eq!(tok.encode(&chat).unwrap(), r.chat_ids);
    assert_eq!(tok.decode(&r.prompt_ids).unwrap(), tok.decode(&ids[..64]).unwrap());
    assert_eq!(tok.token_id("<|im_end|>"), Some(2));
}

#[test]
fn logits_and_greedy_decoding_match_transformers() {
    let bytes = model_bytes();
    let gguf = Gguf::parse(bytes).unwrap();
    let r = reference();
    // The CPU backend; the 135M model is too slow for lavapipe in CI.
    let device = burn::tensor::Device::flex();
    let model = Model::from_gguf_as(&gguf, &device, WeightFormat::F32).unwrap();
    let vocab = model.config().vocab_size;
    let mut cache = model.new_cache();
    let logits = run_chunks(&model, &mut cache, &r.prompt_ids, &[64]);
    let argmax: Vec<u32> = logits
        .chunks_exact(vocab)
        .map(|row| tandem_decoding::sampling::argmax(row) as u32)
        .collect();
    let differing: Vec<usize> = (0..64).filter(|&i| argmax[i] != r.argmax[i]).collect();
    assert!(differing.is_empty(), "top-1 differs at positions {differing:?}");
    assert_eq!(greedy(&model, &r.prompt_ids, 32), r.greedy_32);
}

#[derive(Deserialize)]
struct LlamaCpp {
    prompt_ids: Vec<u32>,
    greedy_32: Vec<u32>,
}

/// Logits closer than this between transformers' first and second choice
/// are near-ties that 8-bit activations may flip (measured: the two flipped
/// positions of 64 have margins 0.018 and 0.068).
const NEAR_TIE: f32 = 0.25;

/// How far below our top-1 llama.cpp's greedy token may be (see below).
const LLAMA_CPP_TIE: f32 = 0.5;

#[test]
fn quantized_weights_decode_like_llama_cpp() {
    let bytes = model_bytes();
    let gguf = Gguf::parse(bytes).unwrap();
    for (device_name, device) in common::devices() {
        let model = Model::from_gguf(&gguf, &device).unwrap();
        quantized_model_decodes_like_llama_cpp(&model, device_name);
    }
}

/// The checks of [`quantized_weights_decode_like_llama_cpp`] on one device.
fn quantized_model_decodes_like_llama_cpp(model: &Model, device_name: &str) {
    let r = reference();
    let vocab = model.config().vocab_size;
    let mut cache = model.new_cache();
    let logits = run_chunks(model, &mut cache, &r.prompt_ids, &[64]);
    let differing: Vec<usize> = (0..64)
        .filter(|&i| r.top2_margin[i] >= NEAR_TIE)
        .filter(|&i| tandem_decoding::sampling::argmax(&logits[i * vocab..(i + 1) * vocab]) as u32 != r.argmax[i])
        .collect();
    assert!(
        differing.is_empty(),
        "{device_name}: top-1 differs from transformers at clear positions {differing:?}"
    );
    // llama.cpp's continuation, teacher-forced: at each of its 32 steps our
    // top-1 is its token, or its token is a near-tie of ours. Free-running
    // greedy decoding cannot match token for token: llama.cpp keeps its KV
    // cache in f16 and orders sums differently, so a near-tie flips and the
    // texts part. Measured: 27 of 32 steps agree, the others within 0.33
    // logits; the f32 reference path (transformers' arithmetic) disagrees
    // with llama.cpp at four of the same steps, by up to 0.28.
    let llama_cpp: LlamaCpp =
        serde_json::from_str(&std::fs::read_to_string(fixture("smollm2_llamacpp.json")).unwrap()).unwrap();
    assert_eq!(llama_cpp.prompt_ids, r.prompt_ids);
    let forced: Vec<u32> = r.prompt_ids.iter().chain(&llama_cpp.greedy_32).copied().collect();
    let mut cache = model.new_cache();
    let logits = run_chunks(model, &mut cache, &forced, &[forced.len()]);
    let mut exact = 0;
    for (step, &token) in llama_cpp.greedy_32.iter().enumerate() {
        let row = &logits[(63 + step) * vocab..(64 + step) * vocab];
        let ours = tandem_decoding::sampling::argmax(row);
        let gap = row[ours] - row[token as usize];
        assert!(
            gap < LLAMA_CPP_TIE,
            "{device_name}, step {step}: llama.cpp's token {token} is {gap} below our top-1 {ours}"
        );
        exact += usize::from(ours == token as usize);
    }
    assert!(
        exact >= 27,
        "{device_name}: only {exact} of 32 steps agree exactly with llama.cpp"
    );
}
