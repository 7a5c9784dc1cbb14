//! `tandem models rank-tokens`: counts how often each token of a model's
//! tokenizer occurs in a corpus of text files and writes them ranked, most
//! frequent first (`tandem_models::RankedTokens`). A drafter then scores only
//! the front of that list (`tandem_models::Shortlist`); the shipped list is
//! `crates/tandem-models/assets/ranked-tokens-qwen2.5.json`.

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tandem_models::{RankedTokens, TextTokenizer};

/// Options of `tandem models rank-tokens`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The model whose tokenizer counts (name or GGUF path).
    #[arg(long, default_value = "qwen2.5-coder-0.5b")]
    model: String,
    /// Files or folders to count (folders are walked; only files whose
    /// extension is in `--ext` are read).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// File extensions to read in folders.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "py,rs,js,ts,md,rst,html,css,toml,sh,c,h,go,java"
    )]
    ext: Vec<String>,
    /// Most bytes to read per extension, so that no one kind swamps the counts.
    #[arg(long, default_value_t = 20_000_000)]
    max_bytes_per_ext: usize,
    /// How many tokens to keep.
    #[arg(long, default_value_t = 32_768)]
    top: usize,
    /// What the corpus was, for the file's `corpus` field.
    #[arg(long)]
    corpus: String,
    /// Where to write the list.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `tandem models rank-tokens`.
pub(crate) fn run(args: Args) -> Result<()> {
    let path = crate::models::resolve(&args.model)?;
    let gguf = tandem_gguf::Gguf::parse(crate::models::read_gguf(&path)?)?;
    let tokenizer = TextTokenizer::from_gguf(&gguf)?;
    let mut files = Vec::new();
    for p in &args.paths {
        walk(p, &args.ext, &mut files).with_context(|| format!("reading {}", p.display()))?;
    }
    // A fixed shuffle (by a hash of the path), so that a capped extension
    // samples the whole tree rather than its alphabetical front.
    files.sort_by_key(|f| fnv1a(f.to_string_lossy().as_bytes()));
    let mut counts: HashMap<u32, u64> = HashMap::new();
    let mut read: HashMap<String, usize> = HashMap::new();
    let (mut used, mut tokens) = (0usize, 0u64);
    for file in &files {
        let ext = extension(file).unwrap_or_default();
        let budget = read.entry(ext).or_default();
        if *budget >= args.max_bytes_per_ext {
            continue;
        }
        // Not UTF-8 (binaries, other encodings), generated tables and minified code: skipped.
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        if text.len() > MAX_FILE_BYTES || text.len() / (text.lines().count() + 1) > MAX_MEAN_LINE {
            continue;
        }
        *budget += text.len();
        used += 1;
        for id in tokenizer.encode(&text)? {
            *counts.entry(id).or_default() += 1;
            tokens += 1;
        }
    }
    if counts.is_empty() {
        bail!("no text found under the given paths with extensions {:?}", args.ext);
    }
    let mut ranked: Vec<(u32, u64)> = counts.into_iter().collect();
    // Most frequent first; ties by id, so that the file is reproducible.
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let kept = args.top.min(ranked.len());
    let covered: u64 = ranked[..kept].iter().map(|&(_, n)| n).sum();
    let list = RankedTokens {
        format: RankedTokens::FORMAT.into(),
        tokenizer: format!("{} ({} tokens)", args.model, tokenizer.vocab_size()),
        corpus: args.corpus.clone(),
        tokens: ranked[..kept]
            .iter()
            .map(|&(id, _)| tokenizer.token_text(id).context("a counted id has no text"))
            .collect::<Result<_>>()?,
    };
    std::fs::write(&args.out, serde_json::to_string(&list)? + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    let per_ext: Vec<String> = {
        let mut v: Vec<_> = read
            .iter()
            .map(|(e, b)| format!("{e}: {:.1} MB", *b as f64 / 1e6))
            .collect();
        v.sort();
        v
    };
    eprintln!(
        "{used} files ({}), {tokens} tokens, {} distinct; the first {kept} cover {:.2} % of them",
        per_ext.join(", "),
        ranked.len(),
        100.0 * covered as f64 / tokens as f64
    );
    Ok(())
}

/// Larger files are mostly generated (tables, bundles): they would swamp the counts.
const MAX_FILE_BYTES: usize = 512 * 1024;
/// Files whose lines average more than this are minified or data.
const MAX_MEAN_LINE: usize = 200;

/// FNV-1a, for a shuffle that is the same on every machine.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn extension(path: &Path) -> Option<String> {
    path.extension().map(|e| e.to_string_lossy().to_lowercase())
}

/// Every file under `path` (itself if a file) whose extension is in `exts`;
/// a file named directly is taken whatever its extension.
fn walk(path: &Path, exts: &[String], out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
    } else if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?.path();
            let kind = std::fs::symlink_metadata(&entry)?;
            if kind.is_dir() {
                walk(&entry, exts, out)?;
            } else if kind.is_file() && extension(&entry).is_some_and(|e| exts.contains(&e)) {
                out.push(entry);
            }
        }
    }
    Ok(())
}
