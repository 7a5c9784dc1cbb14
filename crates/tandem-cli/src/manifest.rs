//! `tandem models manifest`: the manifest `@tandem/web` reads (`ModelManifest` in the package's
//! `types.ts`), written from a folder of model files. Every file is hashed (sha256, with a
//! progress bar); files the registry knows get its name, the targets they draft for and their
//! parameter count, so nobody computes a hash by hand.

use crate::digest;
use crate::models::{Known, registry};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Options of `tandem models manifest`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The folder the app serves its model files from: GGUF files, and at most one encoder
    /// folder (config.json, model.safetensors, tokenizer.json).
    dir: PathBuf,
    /// Where to write the manifest (default: DIR/manifest.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Put before every file's path in its URL (URLs are relative to the manifest's own URL).
    #[arg(long, default_value = "")]
    url_prefix: String,
    /// Only these models: registry names, GGUF file names without `.gguf`, or encoder folder names.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// The manifest, in the package's shape.
#[derive(Debug, Serialize)]
pub(crate) struct Manifest {
    /// Changes whenever any file does: the package then drops the old files from its cache.
    version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    local: Vec<LocalEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    analyzer: Option<Analyzer>,
}

/// One file: where it is, relative to the manifest, and what it must hash to.
#[derive(Debug, Serialize)]
struct FileRef {
    url: String,
    sha256: String,
    bytes: u64,
}

/// A local causal LM.
#[derive(Debug, Serialize)]
struct LocalEntry {
    name: String,
    file: FileRef,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    drafts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<u64>,
}

/// The encoder of the router and the shield's NER (its heads ship inside the wasm).
#[derive(Debug, Serialize)]
struct Analyzer {
    config: FileRef,
    model: FileRef,
    tokenizer: FileRef,
}

/// The files an encoder folder needs.
const ENCODER_FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

pub(crate) fn run(args: Args) -> Result<()> {
    let known = registry()?;
    let manifest = build(&args.dir, &known, &args.url_prefix, &args.only, true)?;
    let out = args.out.unwrap_or_else(|| args.dir.join("manifest.json"));
    let json = serde_json::to_string_pretty(&manifest)? + "\n";
    std::fs::write(&out, json).with_context(|| format!("writing {}", out.display()))?;
    let names: Vec<&str> = manifest.local.iter().map(|l| l.name.as_str()).collect();
    eprintln!(
        "{}: {} local model(s) [{}], {} (version {})",
        out.display(),
        manifest.local.len(),
        names.join(", "),
        if manifest.analyzer.is_some() {
            "an encoder"
        } else {
            "no encoder"
        },
        manifest.version
    );
    Ok(())
}

/// The manifest of `dir`: its GGUF files and its encoder folder, hashed.
pub(crate) fn build(
    dir: &Path,
    known: &BTreeMap<String, Known>,
    url_prefix: &str,
    only: &[String],
    show_progress: bool,
) -> Result<Manifest> {
    let mut ggufs = Vec::new();
    let mut encoders = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_file() && name.ends_with(".gguf") {
            ggufs.push(path);
        } else if path.is_dir() && ENCODER_FILES.iter().all(|f| path.join(f).is_file()) {
            encoders.push(path);
        }
    }
    if ggufs.is_empty() && encoders.is_empty() {
        bail!(
            "{} has no .gguf file and no encoder folder ({})",
            dir.display(),
            ENCODER_FILES.join(", ")
        );
    }
    let files: Vec<PathBuf> = ggufs
        .iter()
        .cloned()
        .chain(encoders.iter().flat_map(|e| ENCODER_FILES.map(|f| e.join(f))))
        .collect();
    let hashes = hash_all(&files, show_progress)?;
    let file_ref = |path: &Path| -> FileRef {
        let rel = path.strip_prefix(dir).unwrap_or(path);
        let (sha256, bytes) = hashes[path].clone();
        FileRef {
            url: format!("{url_prefix}{}", rel.to_string_lossy().replace('\\', "/")),
            sha256,
            bytes,
        }
    };
    let wanted = |names: &[&str]| only.is_empty() || names.iter().any(|n| only.iter().any(|o| o == n));

    let mut local = Vec::new();
    for path in &ggufs {
        let file = file_ref(path);
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let entry = known.iter().find(|(_, k)| k.sha256.as_deref() == Some(&file.sha256));
        if !wanted(&[stem.as_str(), entry.map_or("", |(n, _)| n.as_str())]) {
            continue;
        }
        local.push(match entry {
            Some((name, k)) => LocalEntry {
                name: name.clone(),
                file,
                drafts: k.drafts.clone(),
                parameters: k.parameters,
            },
            None => {
                eprintln!(
                    "{}: not a model the registry knows; named `{stem}` after its file",
                    path.display()
                );
                LocalEntry {
                    name: stem,
                    file,
                    drafts: Vec::new(),
                    parameters: None,
                }
            }
        });
    }

    let mut analyzers = Vec::new();
    for folder in &encoders {
        let folder_name = folder
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let model = file_ref(&folder.join("model.safetensors"));
        let entry = known.iter().find(|(_, k)| {
            k.files
                .get("model.safetensors")
                .is_some_and(|f| f.sha256 == model.sha256)
        });
        if !wanted(&[folder_name.as_str(), entry.map_or("", |(n, _)| n.as_str())]) {
            continue;
        }
        analyzers.push((
            folder_name,
            Analyzer {
                config: file_ref(&folder.join("config.json")),
                model,
                tokenizer: file_ref(&folder.join("tokenizer.json")),
            },
        ));
    }
    if analyzers.len() > 1 {
        let names: Vec<&str> = analyzers.iter().map(|(n, _)| n.as_str()).collect();
        bail!(
            "more than one encoder folder ({}): pick one with --only",
            names.join(", ")
        );
    }
    if local.is_empty() && analyzers.is_empty() {
        bail!("no model in {} matches --only {}", dir.display(), only.join(","));
    }

    let mut version = Sha256::new();
    for l in &local {
        version.update(l.file.sha256.as_bytes());
    }
    for (_, a) in &analyzers {
        for f in [&a.config, &a.model, &a.tokenizer] {
            version.update(f.sha256.as_bytes());
        }
    }
    Ok(Manifest {
        version: format!("sha256-{}", &hex::encode(version.finalize())[..16]),
        local,
        analyzer: analyzers.pop().map(|(_, a)| a),
    })
}

/// sha256 and size of every file, with one progress bar over their bytes.
fn hash_all(files: &[PathBuf], show_progress: bool) -> Result<BTreeMap<PathBuf, (String, u64)>> {
    let total: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()))
        .sum::<std::io::Result<u64>>()?;
    let bar = digest::bar(total, "hashing", show_progress);
    let mut out = BTreeMap::new();
    for path in files {
        bar.set_message(
            path.file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let what = path.display().to_string();
        out.insert(
            path.clone(),
            digest::copy_hashing(&mut file, &mut std::io::sink(), &bar, &what)?,
        );
    }
    bar.finish_and_clear();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn registry_with(name: &str, gguf: &[u8]) -> BTreeMap<String, Known> {
        let json = serde_json::json!({
            name: {"description": "test", "bytes": gguf.len(), "sha256": sha(gguf), "drafts": ["big"], "parameters": 7}
        });
        serde_json::from_value(json).unwrap()
    }

    fn folder(files: &[(&str, &[u8])]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tandem-manifest-{}-{}",
            std::process::id(),
            sha(files[0].0.as_bytes())
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, bytes) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        dir
    }

    #[test]
    fn known_files_get_their_registry_name_and_unknown_ones_their_file_name() {
        let dir = folder(&[
            ("a-file.gguf", b"known weights"),
            ("mine.gguf", b"other weights"),
            ("enc/config.json", b"{}"),
            ("enc/model.safetensors", b"m"),
            ("enc/tokenizer.json", b"{}"),
            ("notes.txt", b"ignored"),
        ]);
        let m = build(&dir, &registry_with("tiny", b"known weights"), "models/", &[], false).unwrap();
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["local"][0]["name"], "tiny");
        assert_eq!(json["local"][0]["drafts"], serde_json::json!(["big"]));
        assert_eq!(json["local"][0]["parameters"], 7);
        assert_eq!(json["local"][0]["file"]["url"], "models/a-file.gguf");
        assert_eq!(json["local"][0]["file"]["sha256"], sha(b"known weights"));
        assert_eq!(json["local"][0]["file"]["bytes"], 13);
        assert_eq!(json["local"][1]["name"], "mine");
        assert!(json["local"][1].get("drafts").is_none());
        assert_eq!(json["analyzer"]["model"]["url"], "models/enc/model.safetensors");
        assert_eq!(json["analyzer"]["tokenizer"]["sha256"], sha(b"{}"));
        assert!(m.version.starts_with("sha256-"));

        // --only keeps what it names; the version follows the files.
        let only = build(
            &dir,
            &registry_with("tiny", b"known weights"),
            "",
            &["tiny".into()],
            false,
        )
        .unwrap();
        assert_eq!(only.local.len(), 1);
        assert!(only.analyzer.is_none());
        assert_ne!(only.version, m.version);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_empty_folder_two_encoders_and_an_unmatched_only_are_clear_errors() {
        let empty = folder(&[("readme.txt", b"x")]);
        let err = build(&empty, &BTreeMap::new(), "", &[], false).unwrap_err().to_string();
        assert!(err.contains("no .gguf file"), "{err}");
        let two = folder(&[
            ("a/config.json", b"{}"),
            ("a/model.safetensors", b"1"),
            ("a/tokenizer.json", b"{}"),
            ("b/config.json", b"{}"),
            ("b/model.safetensors", b"2"),
            ("b/tokenizer.json", b"{}"),
        ]);
        let err = build(&two, &BTreeMap::new(), "", &[], false).unwrap_err().to_string();
        assert!(err.contains("more than one encoder"), "{err}");
        let err = build(&two, &BTreeMap::new(), "", &["zzz".into()], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("matches --only"), "{err}");
        for d in [empty, two] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn the_shipped_registry_parses() {
        let known = registry().unwrap();
        assert!(known["smollm2-135m"].drafts.contains(&"smollm2-135m".to_owned()));
        assert_eq!(known["all-minilm-l6-v2"].files.len(), 3);
    }
}
