//! A model file received in pieces straight into this module's memory,
//! hashed as it arrives. Loading from it, the page never holds a second
//! copy of the file: a `Uint8Array` of the whole file, handed to
//! `LocalModel.fromGguf`, is copied into this memory and so is held twice
//! at its peak (2.3 GB for a 1.1 GB file, where this holds 1.1 GB).

use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;

/// A model file's bytes, filled chunk by chunk from a stream
/// (`response.body`), with their sha256 computed on the way.
#[wasm_bindgen]
pub struct ModelBuffer {
    bytes: Vec<u8>,
    hasher: Sha256,
}

#[wasm_bindgen]
impl ModelBuffer {
    /// An empty buffer with room for `expected` bytes: the response's
    /// `content-length` or the manifest's size. Without it the buffer grows
    /// as chunks arrive, and growing holds the old and the new buffer at
    /// once (2.25× the file at its peak). Throws where this module cannot
    /// hold that much.
    #[wasm_bindgen(constructor)]
    pub fn new(expected: Option<f64>) -> Result<ModelBuffer, JsError> {
        let mut bytes = Vec::new();
        let expected = expected.unwrap_or(0.0);
        if !(expected.is_finite() && expected >= 0.0) {
            return Err(JsError::new(&format!(
                "expected bytes must be a length, not {expected}"
            )));
        }
        bytes
            .try_reserve_exact(expected as usize)
            .map_err(|_| too_large(expected))?;
        Ok(ModelBuffer {
            bytes,
            hasher: Sha256::new(),
        })
    }

    /// Appends the next chunk of the file. Throws, keeping what arrived so
    /// far, where this module's memory cannot hold it.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        let needed = self.bytes.len() + chunk.len();
        if needed > self.bytes.capacity() {
            // More than announced (or nothing was): a quarter more, not
            // twice as much, since growing holds the old and the new buffer
            // at once and a model file is most of the memory there is.
            let grown = needed.max(self.bytes.len() + self.bytes.len() / 4);
            self.bytes
                .try_reserve_exact(grown - self.bytes.len())
                .map_err(|_| too_large(needed as f64))?;
        }
        self.bytes.extend_from_slice(chunk);
        self.hasher.update(chunk);
        Ok(())
    }

    /// The bytes received so far.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> f64 {
        self.bytes.len() as f64
    }

    /// The sha256 of the bytes received so far, in lowercase hex (as a
    /// model manifest names it).
    pub fn sha256(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

impl ModelBuffer {
    /// The bytes, for a loader that takes them over.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

fn too_large(bytes: f64) -> JsError {
    JsError::new(&format!(
        "a model file of {:.0} MB does not fit in this page's WebAssembly memory (4 GiB at most, shared with everything loaded)",
        bytes / 1e6
    ))
}
