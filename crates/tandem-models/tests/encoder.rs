//! The BERT encoder against `transformers` on the real all-MiniLM-L6-v2
//! (fetched and sha256-pinned by `pkg-scripts/setup`): word-piece ids,
//! sentence embeddings (cosine ≥ 0.9999, batched with padding), and the
//! shipped heads (LoRA merged at load) giving the same NER tags and routing
//! probability as the PyTorch modules they were trained as. Fixtures:
//! `pkg-scripts/encoder_fixtures.py`.

mod common;

use common::{devices, fixture};
use serde::Deserialize;
use std::path::PathBuf;
use tandem_models::{
    Encoder, EncoderConfig, Heads, ModelError, PieceTokenizer, SafetensorsWeights, TaggingEncoder, WeightFormat,
    l2_normalize, mean_pool,
};

#[derive(Deserialize)]
struct Sentence {
    text: String,
    ids: Vec<u32>,
    embedding: Vec<f32>,
    /// Word-shape bits per token, flattened (what the tagger feeds the heads).
    shape_bits: Vec<f32>,
    ner_labels: Vec<String>,
    ner_top_prob: Vec<f32>,
    route_probability: f32,
}

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<Sentence>,
}

fn reference() -> Reference {
    serde_json::from_str(&std::fs::read_to_string(fixture("minilm_reference.json")).expect("fixture")).expect("json")
}

fn base_dir() -> PathBuf {
    let cache = std::env::var_os("TANDEM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/tandem"));
    cache.join("models/all-minilm-l6-v2")
}

fn read(name: &str) -> Vec<u8> {
    let path = base_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run pkg-scripts/setup", path.display()))
}

fn heads_bytes() -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/minilm-shield-router.safetensors"))
        .expect("heads asset")
}

fn base_sha() -> String {
    String::from_utf8(read("model.safetensors.sha256"))
        .unwrap()
        .trim()
        .to_owned()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (n(a) * n(b))
}

#[test]
fn word_pieces_match_transformers() {
    let tok = PieceTokenizer::from_json(&read("tokenizer.json")).unwrap();
    for s in reference().sentences {
        let (ids, ranges) = tok.pieces(&s.text).unwrap();
        let mut full = vec![tok.cls()];
        full.extend(&ids);
        full.push(tok.sep());
        assert_eq!(full, s.ids, "{}", s.text);
        // Byte ranges land on char boundaries of the original text.
        for r in ranges {
            assert!(s.text.get(r.clone()).is_some(), "{r:?} in {}", s.text);
        }
    }
}

#[test]
fn sentence_embeddings_match_sentence_transformers() {
    let r = reference();
    let config = String::from_utf8(read("config.json")).unwrap();
    let weights = read("model.safetensors");
    let rows: Vec<Vec<u32>> = r.sentences.iter().map(|s| s.ids.clone()).collect();
    for (name, device) in devices() {
        let encoder = Encoder::from_safetensors(&config, &weights, &device).unwrap();
        // One padded batch: padding must not change any row.
        let encoded = encoder.forward(&rows).unwrap();
        let emb = l2_normalize(mean_pool(&encoded))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (i, s) in r.sentences.iter().enumerate() {
            let got = &emb[i * 384..(i + 1) * 384];
            let c = cosine(got, &s.embedding);
            assert!(c >= 0.9999, "{name}: cosine {c} for {:?}", s.text);
        }
    }
}

/// With quantized matrices the encoder runs on host slices (`fused/encoder.rs`);
/// burn's graph on the same weights is its reference, and both stay near
/// `sentence-transformers`' `f32` embeddings.
#[test]
fn the_host_pass_matches_burns_graph_on_the_same_quantized_weights() {
    let r = reference();
    let config = EncoderConfig::from_hf_json(&String::from_utf8(read("config.json")).unwrap()).unwrap();
    let bytes = read("model.safetensors");
    let weights = SafetensorsWeights::parse(&bytes).unwrap();
    let rows: Vec<Vec<u32>> = r.sentences.iter().map(|s| s.ids.clone()).collect();
    let cpu = burn::tensor::Device::flex();
    // Relative tolerances: a rounding step that flips between the two paths
    // moves its products by one step, 1/127 of a token's range with `Int8`'s
    // 7-bit codes (measured: 3.5e-2 of the largest hidden value), 1/127 of a
    // block of 32's largest value with `Q8_0` (4.9e-3). The cosine to
    // sentence-transformers' embeddings: 0.9908–0.9980 with `Int8` on these
    // sentences (the one-word "a" lowest), 0.9993–0.9998 with `Q8_0`; the
    // shield's and the router's own scores did not move (docs/shield.md).
    for (format, tolerance, cosine_min) in [(WeightFormat::Int8, 5e-2, 0.99), (WeightFormat::Q8_0, 1e-2, 0.999)] {
        let host = Encoder::load_as(config.clone(), &weights, &cpu, format).unwrap();
        assert!(host.fused_cpu(), "{format:?}");
        let graph = host.clone().without_fused_cpu();
        assert!(!graph.fused_cpu());
        let (a, b) = (host.forward(&rows).unwrap(), graph.forward(&rows).unwrap());
        let mask = a.mask.clone().into_data().try_to_vec::<f32>().unwrap();
        let (ha, hb) = (
            a.hidden.clone().into_data().try_to_vec::<f32>().unwrap(),
            b.hidden.clone().into_data().try_to_vec::<f32>().unwrap(),
        );
        let (mut worst, mut largest) = (0f32, 0f32);
        for (pos, &m) in mask.iter().enumerate() {
            if m > 0.0 {
                for k in pos * 384..(pos + 1) * 384 {
                    worst = worst.max((ha[k] - hb[k]).abs());
                    largest = largest.max(hb[k].abs());
                }
            }
        }
        // Only the order of float additions and erf's implementation differ,
        // which can move an activation across a rounding step of the
        // integer products.
        assert!(
            worst < tolerance * largest,
            "{format:?}: hidden states differ by {worst} (largest {largest})"
        );
        let emb = l2_normalize(mean_pool(&a)).into_data().try_to_vec::<f32>().unwrap();
        for (i, s) in r.sentences.iter().enumerate() {
            let c = cosine(&emb[i * 384..(i + 1) * 384], &s.embedding);
            assert!(c >= cosine_min, "{format:?}: cosine {c} for {:?}", s.text);
        }
    }
}

#[test]
fn shipped_heads_match_their_pytorch_modules() {
    let r = reference();
    let config = String::from_utf8(read("config.json")).unwrap();
    let heads = Heads::parse(&heads_bytes()).unwrap();
    for (name, device) in devices() {
        let model = TaggingEncoder::load(&config, &read("model.safetensors"), &base_sha(), &heads, &device).unwrap();
        let labels = &model.info().ner_labels;
        for s in &r.sentences {
            let out = model
                .forward(std::slice::from_ref(&s.ids), std::slice::from_ref(&s.shape_bits))
                .unwrap();
            let probs = out.ner.into_data().try_to_vec::<f32>().unwrap();
            let route = out.route_logit.into_data().try_to_vec::<f32>().unwrap()[0];
            let p = 1.0 / (1.0 + (-route).exp());
            assert!(
                (p - s.route_probability).abs() < 1e-3,
                "{name}: route {p} vs {}",
                s.route_probability
            );
            for (t, (want, &top)) in s.ner_labels.iter().zip(&s.ner_top_prob).enumerate() {
                let row = &probs[t * labels.len()..(t + 1) * labels.len()];
                let (arg, &max) = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
                assert!((max - top).abs() < 2e-3, "{name}: token {t} prob {max} vs {top}");
                if top > 0.6 {
                    assert_eq!(&labels[arg], want, "{name}: token {t} of {:?}", s.text);
                }
            }
        }
    }
}

#[test]
fn heads_refuse_the_wrong_base_and_malformed_files() {
    let config = String::from_utf8(read("config.json")).unwrap();
    let heads = Heads::parse(&heads_bytes()).unwrap();
    let device = burn::tensor::Device::flex();
    let err = TaggingEncoder::load(&config, b"", &"0".repeat(64), &heads, &device).unwrap_err();
    assert!(err.to_string().contains("trained on base model"), "{err}");
    assert!(matches!(
        Heads::parse(b"not a safetensors file"),
        Err(ModelError::Safetensors(_))
    ));
    let bad_config = config.replace("\"bert\"", "\"llama\"");
    let err = TaggingEncoder::load(&bad_config, b"", &base_sha(), &heads, &device).unwrap_err();
    assert!(err.to_string().contains("not a BERT encoder"), "{err}");
    // Truncated weights: a clear error, no panic.
    let weights = read("model.safetensors");
    let err = Encoder::from_safetensors(&config, &weights[..weights.len() / 2], &device).unwrap_err();
    assert!(matches!(err, ModelError::Safetensors(_)), "{err}");
}

#[test]
fn oversized_and_out_of_vocabulary_inputs_are_refused() {
    let config = String::from_utf8(read("config.json")).unwrap();
    let encoder =
        Encoder::from_safetensors(&config, &read("model.safetensors"), &burn::tensor::Device::flex()).unwrap();
    let err = encoder.forward(&[vec![101; 513]]).unwrap_err();
    assert!(err.to_string().contains("513 tokens exceed"), "{err}");
    let err = encoder.forward(&[vec![101, 40_000, 102]]).unwrap_err();
    assert!(err.to_string().contains("outside the vocabulary"), "{err}");
    assert!(encoder.forward(&[]).is_err());
}
