//! Tandem's models on burn: a decoder-only transformer covering the `llama`
//! and `qwen2` architectures, loaded from GGUF or Hugging Face safetensors.
//!
//! The model is written against burn 0.22's backend-free tensors: the
//! [`burn::tensor::Device`] chosen at run time (CPU `flex`, `wgpu` on Vulkan
//! or WebGPU) decides where it runs.

mod cache;
mod config;
mod error;
mod model;
mod rope;
mod tokenizer;
mod weights;

pub use cache::KvCache;
pub use config::{Architecture, Config, RopeScaling};
pub use error::ModelError;
pub use model::Model;
pub use tokenizer::TextTokenizer;
pub use weights::{GgufWeights, SafetensorsWeights, Weight, WeightSource};
