//! Errors of model loading and running.

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The GGUF container is malformed.
    #[error(transparent)]
    Gguf(#[from] tandem_gguf::GgufError),
    /// A configuration value is missing, inconsistent or unsupported.
    #[error("model configuration: {0}")]
    Config(String),
    /// A weight is missing or has the wrong shape.
    #[error("weight `{name}`: {reason}")]
    Weight {
        /// Canonical (Hugging Face) weight name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The tokenizer could not be built or used.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Safetensors data is malformed.
    #[error("safetensors: {0}")]
    Safetensors(String),
    /// Token ids outside the vocabulary, empty input, or a context too long.
    #[error("input: {0}")]
    Input(String),
}

pub(crate) fn config_err(msg: impl Into<String>) -> ModelError {
    ModelError::Config(msg.into())
}
