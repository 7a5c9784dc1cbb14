//! `tandem gguf`: inspect GGUF files and dequantize tensors.

use crate::models;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;
use tandem_gguf::{Gguf, Value};

/// Subcommands of `tandem gguf`.
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Print the metadata and tensor table of a GGUF file (a path or a model name).
    Info {
        /// File path or model name (e.g. `smollm2-135m`).
        model: String,
        /// Print every tensor, not only a summary by type.
        #[arg(long)]
        tensors: bool,
    },
    /// Write one tensor, dequantized, as little-endian f32 in ggml element order.
    Dequant {
        /// File path or model name.
        model: String,
        /// Tensor name, e.g. `token_embd.weight`.
        #[arg(long)]
        tensor: String,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

pub(crate) fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Info { model, tensors } => info(&model, tensors),
        Command::Dequant { model, tensor, out } => dequant(&model, &tensor, &out),
    }
}

fn read(model: &str) -> Result<tandem_gguf::Bytes> {
    models::read_gguf(&models::resolve(model)?)
}

fn info(model: &str, all_tensors: bool) -> Result<()> {
    let bytes = read(model)?;
    let gguf = Gguf::parse(bytes).with_context(|| format!("parsing {model}"))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "GGUF v{}, {} metadata keys, {} tensors, alignment {}",
        gguf.version,
        gguf.metadata.len(),
        gguf.tensors.len(),
        gguf.alignment
    )?;
    for (key, value) in &gguf.metadata {
        writeln!(out, "  {key} = {}", short(value))?;
    }
    let mut by_type = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for t in &gguf.tensors {
        let e = by_type.entry(format!("{:?}", t.ty)).or_default();
        e.0 += 1;
        e.1 += t.n_bytes;
        if all_tensors {
            writeln!(out, "  {:<40} {:<6} {:?}", t.name, format!("{:?}", t.ty), t.dims)?;
        }
    }
    for (ty, (n, bytes)) in by_type {
        writeln!(out, "  {ty:<6} {n:>4} tensors, {bytes:>12} bytes")?;
    }
    Ok(())
}

fn dequant(model: &str, name: &str, path: &PathBuf) -> Result<()> {
    let bytes = read(model)?;
    let gguf = Gguf::parse(bytes).with_context(|| format!("parsing {model}"))?;
    let info = gguf
        .tensor(name)
        .with_context(|| format!("no tensor `{name}` in {model}"))?;
    let values = gguf.tensor_f32(info)?;
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, raw).with_context(|| format!("writing {}", path.display()))
}

/// A one-line rendering of a metadata value (long arrays abbreviated).
fn short(v: &Value) -> String {
    match v {
        Value::String(s) if s.len() > 80 => format!("{:?}… ({} bytes)", &s[..s.floor_char_boundary(80)], s.len()),
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) if items.len() > 6 => {
            let head: Vec<String> = items.iter().take(3).map(short).collect();
            format!("[{}, … {} items]", head.join(", "), items.len())
        }
        Value::Array(items) => format!("[{}]", items.iter().map(short).collect::<Vec<_>>().join(", ")),
        other => format!("{other:?}"),
    }
}
