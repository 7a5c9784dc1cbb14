//! Model names (`smollm2-135m`, …) and the cache where `pkg-scripts/fetch_models.py` puts them.

use anyhow::{Result, bail};
use std::path::PathBuf;

/// The manifest of real models the project can fetch (name -> packages, sha256).
const MANIFEST: &str = include_str!("../../../pkg-scripts/models.json");

/// Where fetched models live: `$TANDEM_CACHE/models` (default `~/.cache/tandem/models`).
fn cache_dir() -> PathBuf {
    std::env::var_os("TANDEM_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tandem")))
        .unwrap_or_else(|| PathBuf::from(".cache/tandem"))
        .join("models")
}

/// Resolves a path or a known model name to a file.
pub(crate) fn resolve(model: &str) -> Result<PathBuf> {
    let path = PathBuf::from(model);
    if path.is_file() {
        return Ok(path);
    }
    let manifest: serde_json::Value = serde_json::from_str(MANIFEST)?;
    let known: Vec<&str> = manifest
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .filter(|k| !k.starts_with('_'))
        .collect();
    if !known.contains(&model) {
        bail!("`{model}` is neither a file nor a known model ({})", known.join(", "));
    }
    let cached = cache_dir().join(format!("{model}.gguf"));
    if !cached.is_file() {
        bail!("model `{model}` is not fetched yet: run `python3 pkg-scripts/fetch_models.py {model}`");
    }
    Ok(cached)
}

/// Reads the model `model` (name or path) and loads it with its tokenizer and chat template.
pub(crate) fn load_engine(model: &str, device: &burn::tensor::Device) -> Result<(tandem_engine::Engine, PathBuf)> {
    use anyhow::Context;
    let path = resolve(model)?;
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok((tandem_engine::Engine::from_gguf(&bytes, device)?, path))
}
