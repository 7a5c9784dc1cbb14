//! Replays every seed of every target on stable (CI): the real fixtures the
//! targets start from, and the files under `corpus/`, including the inputs of
//! crashes found and fixed. None may panic.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// The seed directories and files of `target`.
fn seeds(target: &str) -> Vec<PathBuf> {
    let crates = root().join("..");
    let mut paths = vec![root().join("corpus").join(target)];
    match target {
        "gguf" | "tokenizer" => {
            paths.push(crates.join("tandem-gguf/tests/fixtures/all_types.gguf"));
            paths.push(root().join("corpus/gguf/tiny-llama.gguf"));
        }
        "safetensors" => {
            paths.push(crates.join("tandem-models/tests/fixtures/tiny-llama/model.safetensors"));
            paths.push(crates.join("tandem-models/assets/minilm-shield-router.safetensors"));
        }
        _ => {}
    }
    paths
}

fn files(path: &Path) -> Vec<PathBuf> {
    if path.is_dir() {
        let mut out: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        out.sort();
        out
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        Vec::new()
    }
}

#[test]
fn every_seed_of_every_target_runs_without_a_panic() {
    for target in tandem_fuzz::TARGETS {
        let inputs: Vec<PathBuf> = seeds(target).iter().flat_map(|p| files(p)).collect();
        assert!(!inputs.is_empty(), "{target} has no seeds");
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            tandem_fuzz::run(target, &data);
            // And cut short: a truncated file is the commonest hostile one.
            tandem_fuzz::run(target, &data[..data.len() / 2]);
        }
    }
}

#[test]
fn the_tiny_gguf_seed_is_a_whole_model() {
    // Valid through every stage (pkg-scripts/tiny_gguf.py), so that mutations reach the loader's last.
    let data = std::fs::read(root().join("corpus/gguf/tiny-llama.gguf")).unwrap();
    let g = tandem_gguf::Gguf::parse(data).unwrap();
    let config = tandem_models::Config::from_gguf(&g).unwrap();
    assert_eq!((config.n_layers, config.vocab_size), (2, 96));
    let tokenizer = tandem_models::TextTokenizer::from_gguf(&g).unwrap();
    assert!(!tokenizer.encode("the theory").unwrap().is_empty());
    tandem_models::Model::from_gguf(&g, &burn::tensor::Device::flex()).unwrap();
}
