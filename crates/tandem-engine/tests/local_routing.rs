//! Routing heads per local model on the real all-MiniLM-L6-v2 with the
//! shipped heads (CPU backend): the head shipped for SmolLM2-135M sends a
//! knowledge question and a code-debugging question to the cloud and keeps
//! a simple fact it answers right local, while the weak/strong head
//! (trained on Mixtral-8x7B) keeps all of them local; heads trained on
//! another heads file, and unknown models, are refused.

use std::path::PathBuf;
use tandem_engine::{Tagger, TaggerFiles};
use tandem_models::{ROUTING_HEAD_FORMAT, RoutingHead};

fn base(name: &str) -> Vec<u8> {
    let cache = std::env::var_os("TANDEM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/tandem"));
    let path = cache.join("models/all-minilm-l6-v2").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run pkg-scripts/setup", path.display()))
}

fn tagger() -> Tagger {
    let config = String::from_utf8(base("config.json")).unwrap();
    let sha = String::from_utf8(base("model.safetensors.sha256")).unwrap();
    let (model, tokenizer) = (base("model.safetensors"), base("tokenizer.json"));
    let files = TaggerFiles {
        config_json: &config,
        model: &model,
        model_sha256: sha.trim(),
        tokenizer_json: &tokenizer,
        heads: tandem_models::DEFAULT_HEADS,
    };
    Tagger::load_as(files, &burn::tensor::Device::flex(), Tagger::DEFAULT_FORMAT).unwrap()
}

const KNOWLEDGE: &str = "Which element has the highest electronegativity, and why?";
const CODE: &str = "Why does my React component crash with 'TypeError: Cannot read properties of undefined (reading 'length')' after fetching data?";
/// SmolLM2-135M answers it ("… Paris, France …", tests/data/local).
const SIMPLE_FACT: &str = "What is the capital of France?";

#[test]
fn the_smollm2_head_sends_what_it_cannot_answer_to_the_cloud() {
    let mut t = tagger();
    let p = |t: &Tagger, q: &str| t.analyze(q).unwrap().p_local;
    let weak_strong = [p(&t, KNOWLEDGE), p(&t, CODE), p(&t, SIMPLE_FACT)];
    assert!(
        weak_strong.iter().all(|&p| p >= 0.5),
        "the weak/strong head keeps all local: {weak_strong:?}"
    );
    assert!(t.route_for("smollm2-135m").unwrap());
    assert_eq!(t.model().routing_for(), Some("smollm2-135m"));
    let local = [p(&t, KNOWLEDGE), p(&t, CODE), p(&t, SIMPLE_FACT)];
    assert!(
        local[0] < 0.5 && local[1] < 0.5,
        "knowledge and code go to the cloud: {local:?}"
    );
    assert!(local[2] >= 0.5, "a simple fact it answers stays local: {local:?}");
    // Swapping the local model swaps the head.
    assert!(t.route_for("qwen2.5-coder-0.5b").unwrap());
    assert_eq!(t.model().routing_for(), Some("qwen2.5-coder-0.5b"));
    assert_ne!(p(&t, KNOWLEDGE), local[0]);
}

#[test]
fn unknown_models_and_foreign_heads_are_refused() {
    let mut t = tagger();
    let before = t.analyze(KNOWLEDGE).unwrap().p_local;
    assert!(!t.route_for("no-such-model").unwrap());
    assert_eq!(t.model().routing_for(), None);
    assert_eq!(t.analyze(KNOWLEDGE).unwrap().p_local, before);

    // The shipped head with another heads file's digest: refused, and the head in use stays.
    let shipped = tandem_models::routing_head_for("smollm2-135m").unwrap();
    let head = RoutingHead::parse(shipped).unwrap();
    assert_eq!(head.info().heads_sha256, t.model().info().sha256);
    let digest = head.info().heads_sha256.as_bytes();
    let at = shipped.windows(digest.len()).position(|w| w == digest).unwrap();
    let mut foreign = shipped.to_vec();
    foreign[at..at + digest.len()].fill(b'0');
    let err = t.set_routing_head(&RoutingHead::parse(&foreign).unwrap()).unwrap_err();
    assert!(err.to_string().contains("was trained on heads file"), "{err}");
    assert_eq!(t.analyze(KNOWLEDGE).unwrap().p_local, before);

    // Not a routing head: a clear error, no panic.
    let err = RoutingHead::parse(tandem_models::DEFAULT_HEADS).err().unwrap();
    assert!(err.to_string().contains(ROUTING_HEAD_FORMAT), "{err}");
    assert!(RoutingHead::parse(b"\x08\x00\x00\x00\x00\x00\x00\x00{}").is_err());
    assert!(RoutingHead::parse(b"").is_err());
}
