//! Errors for malformed or unsupported files.

/// Why a GGUF file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GgufError {
    /// The file does not start with `GGUF`.
    #[error("not a GGUF file (magic bytes are {0:02x?}, expected \"GGUF\")")]
    BadMagic([u8; 4]),
    /// A version this reader does not implement.
    #[error("GGUF version {0} is not supported (supported: 2, 3)")]
    UnsupportedVersion(u32),
    /// The file ends before a field it declares.
    #[error("file truncated: {what} at byte {offset} needs {needed} bytes, {available} remain")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Where it starts.
        offset: usize,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left in the file.
        available: usize,
    },
    /// A string that is not UTF-8.
    #[error("{what} at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        what: &'static str,
        /// Where it starts.
        offset: usize,
    },
    /// A metadata value type id outside the spec.
    #[error("unknown metadata value type {id} for key `{key}`")]
    UnknownValueType {
        /// The key being read.
        key: String,
        /// The type id found.
        id: u32,
    },
    /// Arrays nested deeper than the reader allows.
    #[error("metadata key `{0}` nests arrays too deeply")]
    TooDeep(String),
    /// A key that appears twice.
    #[error("metadata key `{0}` appears twice")]
    DuplicateKey(String),
    /// A tensor type id this reader does not know.
    #[error("tensor `{name}` has unknown ggml type {id}")]
    UnknownTensorType {
        /// Tensor name.
        name: String,
        /// The type id found.
        id: u32,
    },
    /// A tensor whose shape, offset or size is impossible.
    #[error("tensor `{name}`: {reason}")]
    BadTensor {
        /// Tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A metadata key that is missing or has another type than needed.
    #[error("metadata `{key}`: {reason}")]
    Metadata {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor whose bytes a loader rewrote in place (`Gguf::rewrite_tensors`).
    #[error("tensor `{0}` was rewritten in place into another layout; read it through its loader")]
    Rewritten(String),
    /// A tensor type that can be read but not dequantized (yet).
    #[error("dequantizing {0:?} is not supported")]
    UnsupportedType(crate::GgmlType),
    /// A buffer whose length does not match the element count.
    #[error("{ty:?} data for {elements} elements must be {expected} bytes, got {got}")]
    DataLength {
        /// The tensor type.
        ty: crate::GgmlType,
        /// Elements requested.
        elements: usize,
        /// Bytes expected.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}
