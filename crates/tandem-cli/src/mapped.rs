//! Model files mapped into memory instead of read into it.
//!
//! A mapped GGUF file is shared with the quantized matrices that view it
//! (`tandem_gguf::Gguf::tensor_data`), so a model costs one copy of its file
//! at most, paged in as the weights are first read, as with llama.cpp's
//! default `mmap`. Reading the file into a `Vec` would cost the same at
//! rest but has to read every byte before the first token.
#![allow(unsafe_code)]

use anyhow::{Context, Result};
use std::path::Path;
use tandem_gguf::Bytes;

/// The bytes of the file at `path`, mapped read-only.
pub(crate) fn map(path: &Path) -> Result<Bytes> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: a mapping shows later writes to the file, and reading a page
    // of a file truncated meanwhile raises SIGBUS. Model files are written
    // once: pkg-scripts/fetch_models.py renames a complete, checked download
    // into the cache, and a file given by path must not be rewritten while
    // a model runs from it (llama.cpp's mmap has the same contract).
    let map = unsafe { memmap2::Mmap::map(&file) }.with_context(|| format!("mapping {}", path.display()))?;
    Ok(Bytes::from_owner(map))
}
