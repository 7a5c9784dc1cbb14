//! Fuzzing harnesses: one function per target, each taking arbitrary bytes
//! and required to return without panicking, whatever the bytes are. Errors
//! are the expected answer to hostile input; a panic, an overflow or an
//! allocation the input did not pay for is a bug.
//!
//! `fuzz/` wraps each function for cargo-fuzz (libFuzzer, nightly):
//! `pkg-scripts/fuzz [SECONDS]` runs them all. `tests/corpus.rs` replays
//! every seed (the real fixtures, the files under `corpus/`) on stable, so
//! CI checks that no seed or recorded crash panics.

use std::sync::OnceLock;
use tandem_core::shield::{Redactor, Shield, StreamRestorer, to_detections};
use tandem_core::text::OffsetUnit;
use tandem_gateway::sse::SseParser;
use tandem_gguf::Gguf;
use tandem_models::{Config, Heads, Model, TextTokenizer};
use tandem_protocol::verify::VerifyRequest;
use tandem_seal::{KeyConfig, ResponseOpener, ServerKey, ServerKeys};

/// The names of the targets, as `fuzz/` and `pkg-scripts/fuzz` know them.
pub const TARGETS: [&str; 7] = ["gguf", "safetensors", "tokenizer", "sse", "seal", "verify", "shield"];

/// Runs target `name` on `data` (for the corpus replay).
pub fn run(name: &str, data: &[u8]) {
    match name {
        "gguf" => gguf(data),
        "safetensors" => safetensors(data),
        "tokenizer" => tokenizer(data),
        "sse" => sse(data),
        "seal" => seal(data),
        "verify" => verify(data),
        "shield" => shield(data),
        other => panic!("no fuzz target `{other}`"),
    }
}

fn device() -> burn::tensor::Device {
    burn::tensor::Device::flex()
}

/// A GGUF file through the reader, the configuration, the tokenizer and the
/// whole model loader.
pub fn gguf(data: &[u8]) {
    let Ok(g) = Gguf::parse(data.to_vec()) else { return };
    let _ = Config::from_gguf(&g);
    let _ = TextTokenizer::from_gguf(&g);
    let _ = Model::from_gguf(&g, &device());
}

/// The configuration of the tiny test model, for safetensors inputs.
const TINY_LLAMA: &str = include_str!("../../tandem-models/tests/fixtures/tiny-llama/config.json");

/// A safetensors file as model weights (under the tiny model's configuration) and as shield heads.
pub fn safetensors(data: &[u8]) {
    let _ = Model::from_safetensors(TINY_LLAMA, data, &device());
    let _ = Heads::parse(data);
}

/// A tokenizer: `tokenizer.json` bytes, and GGUF tokenizer metadata.
pub fn tokenizer(data: &[u8]) {
    if let Ok(t) = TextTokenizer::from_json(data) {
        let _ = t.encode("Hello, wörld! 🎉 [EMAIL_1]");
    }
    if let Ok(g) = Gguf::parse(data.to_vec())
        && let Ok(t) = TextTokenizer::from_gguf(&g)
    {
        let _ = t.encode("Hello, wörld! 🎉");
    }
}

/// An event stream, cut into chunks where the first byte says.
pub fn sse(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let mut parser = SseParser::new();
    for chunk in rest.chunks(usize::from(step).max(1)) {
        if parser.push(chunk).is_err() {
            return;
        }
    }
}

/// The server's keys and a client's key configuration, fixed for the run.
fn seal_fixture() -> &'static (ServerKeys, KeyConfig) {
    static KEYS: OnceLock<(ServerKeys, KeyConfig)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let secret = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA";
        let key = ServerKey::from_secret(1, secret, None).expect("a valid X25519 secret");
        let config = key.config();
        (ServerKeys::new(vec![key]).expect("one key"), config)
    })
}

/// Bytes as a sealed request (opened by the server) and as a sealed response
/// (opened by a client that sent a real request), split where the first byte says.
pub fn seal(data: &[u8]) {
    let (keys, config) = seal_fixture();
    let _ = tandem_seal::open_request(keys, data, 0.0);
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let Ok(sealed) = tandem_seal::seal_request(config, b"{}") else {
        return;
    };
    let mut opener: ResponseOpener = sealed.opener;
    for chunk in rest.chunks(usize::from(step).max(1)) {
        if opener.push(chunk).is_err() {
            return;
        }
    }
    let _ = opener.finish();
}

/// A `/v1/verify` round (parsed and validated), and a completions reply as
/// the gateway parses a target's answer.
pub fn verify(data: &[u8]) {
    if let Ok(round) = serde_json::from_slice::<VerifyRequest>(data) {
        let _ = tandem_decoding::speculative::round::validate(&round);
    }
    let _ = tandem_gateway::verify::parse_completions(data, 8, 3, 0, &[]);
    // A plain round's continuation: cut at `extend` and after a stop token, whatever the reply.
    if let Ok(parsed) = tandem_gateway::verify::parse_completions(data, 8, 0, 4, &[0]) {
        assert!(parsed.continuation.len() <= 4);
    }
}

/// Text as UTF-8 and as UTF-16 through the shield: analysis, offsets in both
/// units, redaction and restoring (whole and streamed).
pub fn shield(data: &[u8]) {
    let utf8 = String::from_utf8_lossy(data);
    let units: Vec<u16> = data.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect();
    let utf16 = String::from_utf16_lossy(&units);
    for text in [utf8.as_ref(), utf16.as_str()] {
        let shield = Shield::default();
        if let Ok(spans) = shield.analyze(text) {
            let _ = to_detections(text, &spans, OffsetUnit::Utf16);
            let _ = to_detections(text, &spans, OffsetUnit::Utf8);
        }
        let mut redactor = Redactor::new(shield);
        if let Ok(redacted) = redactor.redact(text) {
            let _ = redactor.restore(&redacted.text);
            let _ = redactor.restore(text);
            let mut restorer: StreamRestorer = redactor.restorer();
            for piece in text.as_bytes().chunks(7) {
                let _ = restorer.push(&String::from_utf8_lossy(piece));
            }
            let _ = restorer.finish();
        }
    }
}
