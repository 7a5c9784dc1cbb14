//! The real SmolLM2-135M-Instruct GGUF (fetched by pkg-scripts/setup) against
//! `transformers` loading the same file (pkg-scripts/model_fixtures.py):
//! the same tokens, the same top-1 token at every position of a 64-token
//! prompt, and the same 32-token greedy continuation.

mod common;

use common::{fixture, greedy, run_chunks};
use serde::Deserialize;
use tandem_core::chat::{ChatTemplate, Message, Role};
use tandem_gguf::Gguf;
use tandem_models::{Model, TextTokenizer};

#[derive(Deserialize)]
struct Reference {
    prompt: String,
    prompt_ids: Vec<u32>,
    argmax: Vec<u32>,
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
    let gguf = Gguf::parse(&bytes).unwrap();
    let tok = TextTokenizer::from_gguf(&gguf).unwrap();
    let r = reference();
    let ids = tok.encode(&r.prompt).unwrap();
    assert_eq!(&ids[..64], &r.prompt_ids[..]);
    let template = ChatTemplate::detect(gguf.get_str("tokenizer.chat_template").unwrap());
    let chat = template.render(&[Message::new(Role::User, "What is 2+2?")]);
    assert_eq!(chat, r.chat_prompt);
    assert_eq!(tok.encode(&chat).unwrap(), r.chat_ids);
    assert_eq!(tok.decode(&r.prompt_ids).unwrap(), tok.decode(&ids[..64]).unwrap());
    assert_eq!(tok.token_id("<|im_end|>"), Some(2));
}

#[test]
fn logits_and_greedy_decoding_match_transformers() {
    let bytes = model_bytes();
    let gguf = Gguf::parse(&bytes).unwrap();
    let r = reference();
    // The CPU backend; the 135M model is too slow for lavapipe in CI.
    let device = burn::tensor::Device::flex();
    let model = Model::from_gguf(&gguf, &device).unwrap();
    let vocab = model.config().vocab_size;
    let mut cache = model.new_cache();
    let logits = run_chunks(&model, &mut cache, &r.prompt_ids, &[64]);
    let argmax: Vec<u32> = logits
        .chunks_exact(vocab)
        .map(|row| tandem_core::sampling::argmax(row) as u32)
        .collect();
    let differing: Vec<usize> = (0..64).filter(|&i| argmax[i] != r.argmax[i]).collect();
    assert!(differing.is_empty(), "top-1 differs at positions {differing:?}");
    assert_eq!(greedy(&model, &r.prompt_ids, 32), r.greedy_32);
}
