//! Weights that stay quantized: ggml block matrices ([`QMatrix`]) and fused
//! quantized matrix products on the CPU.
//!
//! A GGUF file's 4- to 8-bit blocks are kept as they are in memory (7 of
//! ggml's types: `Q8_0`, `Q4_0`, `Q4_1`, `Q5_0`, `Q4_K`, `Q5_K`, `Q6_K`),
//! and dense `f32` weights can be quantized to `Q8_0` at load
//! ([`QMatrix::quantize_q8_0`]). [`QMatrix::matmul`] quantizes the
//! activations to 8-bit blocks and computes integer dot products block by
//! block, like llama.cpp's `vec_dot` kernels, reading each weight block once
//! for all rows of the input.
//!
//! # Speed without `unsafe`
//!
//! The kernels are safe Rust shaped for LLVM's vectorizer. A run-time
//! dispatch (the workspace's one `unsafe` call, in `dispatch.rs`) compiles
//! them a second time for AVX2 and FMA on x86-64 and picks that copy when
//! the CPU has them; aarch64 has NEON as its baseline, and the wasm build
//! enables `simd128`. With the `parallel` feature (the native binary turns
//! it on), rows are split across rayon's thread pool ([`set_threads`]);
//! without it (wasm) they run on the calling thread.
//!
//! # Correctness
//!
//! `tests/kernels.rs` checks every type against [`QMatrix::dequantize`]
//! (ggml's reference dequantization, in `tandem-gguf`) times an `f32`
//! product, on random blocks, odd shapes and several input rows.

mod activation;
mod dot;
mod error;
mod matmul;
mod matrix;
mod simd;
mod threads;

pub use error::QuantError;
pub use matrix::QMatrix;
pub use threads::set_threads;
