//! A reader for GGUF, the file format of llama.cpp's model weights.
//!
//! Written against the GGUF specification (versions 2 and 3): header,
//! typed metadata key/values, tensor infos and the aligned data section.
//! The reader shares the file's bytes (JavaScript fetches them, or the
//! CLI reads them) and never copies tensor data: [`Gguf::tensor_data`] is a
//! view of the file, and [`dequantize`] widens only what it is asked to.
//!
//! Files are untrusted input. Every count and length in a header is checked
//! against the bytes that remain before anything is allocated, nesting is
//! bounded, tensor extents must lie inside the file, so a truncated or lying
//! file yields a [`GgufError`] naming what is wrong and where, never a panic
//! or an allocation the file cannot back.
//!
//! [`dequantize`] turns ggml blocks into `f32` for F32, F16, BF16, Q8_0,
//! Q4_0, Q4_1, Q5_0, Q4_K, Q5_K and Q6_K, bit-exact with the reference
//! implementation in ggml (checked against the `gguf` Python package).

mod dequant;
mod error;
mod k_scale;
mod reader;
mod types;
mod value;

pub use dequant::dequantize;
pub use error::GgufError;
pub use k_scale::k_scale_min;
pub use reader::{Gguf, TensorInfo};
pub use types::GgmlType;
pub use value::Value;

/// The shared byte buffer a [`Gguf`] holds and hands out views of.
pub use bytes::Bytes;
