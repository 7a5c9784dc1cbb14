//! Tandem's models on burn: a decoder-only transformer covering the `llama`
//! and `qwen2` architectures, loaded from GGUF or Hugging Face safetensors,
//! and a BERT encoder ([`Encoder`]) whose fine-tuned heads
//! ([`TaggingEncoder`]) tag PII and score routing in one pass.
//!
//! The model is written against burn 0.22's backend-free tensors: the
//! [`burn::tensor::Device`] chosen at run time (CPU `flex`, `wgpu` on Vulkan
//! or WebGPU) decides where it runs.
//!
//! # Design
//!
//! * [`Config`] comes from GGUF metadata (`{arch}.*` keys, tensor presence
//!   for tied output and q/k/v biases, `rope_freqs.weight` for Llama 3 RoPE
//!   factors) or from a `config.json` (transformers 4 and 5 field layouts).
//! * Every [`WeightSource`] speaks Hugging Face names and PyTorch shapes.
//!   [`GgufWeights`] maps GGUF names, reverses ggml's dimension order and
//!   undoes llama.cpp's permutation of Llama q/k rows (ggml's interleaved
//!   RoPE), so one rotate-half RoPE serves all.
//! * On the CPU backend, weight matrices stay in their ggml blocks
//!   ([`WeightFormat::Stored`]) and run through `tandem-quant`'s fused
//!   kernels: embedding rows are dequantized on gather and a tied output
//!   head reads the quantized embedding. [`WeightFormat::F32`] widens every
//!   matrix to `f32`, the reference path;
//!   [`WeightFormat::Q8_0`] also quantizes dense safetensors weights, and
//!   [`WeightFormat::Int8`] quantizes them per row to 8 bits (the encoder's
//!   default: integer tiles over all of a text's tokens).
//! * On GPU devices (burn's wgpu backend, with this crate's `wgpu`
//!   feature) quantized matrices are uploaded as 4- to 8-bit codes with a
//!   scale and offset per group (`tandem_quant::GroupedMatrix`) and
//!   multiplied by one CubeCL kernel that widens them in registers (`gpu/`):
//!   no subgroups and 8 KiB of workgroup memory, so it runs on WebGPU in
//!   Chromium. Matrices past WebGPU's 128 MiB binding limit are held in
//!   runs of rows. The embedding stays in host memory, gathered by row.
//! * With every matrix quantized on the CPU backend, [`Model::forward`] and
//!   [`Encoder::forward`] skip burn's operation graph: the fused passes
//!   (`fused/`) run the rest of each layer as loops over host slices (with
//!   a host KV cache for the decoder), and burn's graph on the same weights
//!   is their tested reference ([`Model::without_fused_cpu`],
//!   [`Encoder::without_fused_cpu`]).
//! * [`Model::forward`] runs any number of new tokens against the
//!   [`KvCache`] and returns the logits of every one of them: one pass
//!   verifies a whole speculative draft (reading each weight once), and
//!   [`KvCache::truncate`] rewinds after rejected tokens in O(1). The cache
//!   is written in place. Shapes carry a batch dimension throughout.
//! * [`TextTokenizer`] rebuilds byte-level BPE tokenizers from GGUF
//!   vocabulary and merges (with the pre-tokenizer llama.cpp uses for the
//!   file's `tokenizer.ggml.pre`) in the `tokenizers` crate, or loads a
//!   `tokenizer.json`.
//!
//! # Correctness
//!
//! `tests/parity_tiny.rs` checks logits against `transformers` (PyTorch,
//! f32) within 1e-4 relative on random tiny Llama (GQA, llama3 RoPE scaling,
//! untied output) and Qwen2 (biases, MQA, tied) models, on the CPU backend
//! and on wgpu (Mesa lavapipe in CI), including cached decoding and cache
//! truncation; with `Q8_0` weights, within 0.15 (these random models'
//! sharp attention amplifies rounding). `tests/smollm2.rs` checks the real
//! SmolLM2-135M-Instruct GGUF against `transformers` loading the same file:
//! same token ids (plain and chat-templated), and on the `f32` path the same
//! top-1 token at all 64 prompt positions and an identical 32-token greedy
//! continuation. On the quantized path, llama.cpp's greedy continuation of
//! the same file (teacher-forced) must be our top-1 or within 0.5 logits of
//! it at every step (measured: 27 of 32 exact, the rest within 0.33, where
//! the f32 path also disagrees with llama.cpp), and transformers' top-1 must
//! hold wherever it is not a near-tie (top-2 margin under 0.25). Fixtures:
//! `pkg-scripts/model_fixtures.py`, `pkg-scripts/llamacpp_fixtures.py`.
//!
//! # WebGPU in the browser
//!
//! burn's `autotune` feature makes CubeCL emit `enable subgroups;`, which
//! Chromium's WebGPU rejects: that is the `Invalid ShaderModule
//! "matmul_entry_…"` failure. This workspace builds burn with
//! `default-features = false` and no `autotune`. With that, the tiny Llama
//! fixture runs in headless Chromium on WebGPU (SwiftShader) and yields the
//! native greedy tokens (`crates/tandem-wasm/tests/model.rs`, run by
//! `pkg-scripts/test`). Where WebGPU is missing, wgpu panics while creating
//! its instance (a trap in wasm), so `tandem-wasm` first checks
//! `navigator.gpu` and an adapter itself and falls back to the CPU backend
//! with the reason (the same test passes in Node that way).

mod cache;
mod config;
mod encoder;
mod error;
mod fused;
#[cfg(feature = "wgpu")]
mod gpu;
mod heads;
mod linear;
mod model;
mod rope;
mod routing;
mod shortlist;
mod tokenizer;
mod weights;

pub use cache::KvCache;
pub use config::{Architecture, Config, RopeScaling};
pub use encoder::{Encoded, Encoder, EncoderConfig, l2_normalize, mean_pool};
pub use error::ModelError;
pub use heads::{DEFAULT_HEADS, HEADS_FORMAT, Heads, HeadsInfo, TaggingEncoder, TaggingOutput};
pub use linear::WeightFormat;
pub use model::Model;
pub use routing::{ROUTING_HEAD_FORMAT, ROUTING_HEADS, RoutingHead, RoutingHeadInfo, routing_head_for};
pub use shortlist::{RankedTokens, Shortlist};
pub use tokenizer::{PieceTokenizer, TextTokenizer};
pub use weights::{GgufWeights, SafetensorsWeights, Weight, WeightSource, lay_out_in_place};
