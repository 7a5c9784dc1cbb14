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
//! On x86 CPUs, `Q4_K`, `Q6_K`, `Q5_0` and `Q8_0` matrices read fastest with the blocks of
//! eight rows interleaved ([`Layout::Interleaved`], made by
//! [`QMatrix::into_fastest_layout`], or in a loader's own buffer by
//! [`QMatrix::interleave_in_place`]): the same bytes moved, so that the
//! kernels keep one row per vector lane and finish eight outputs at once.
//!
//! On a GPU the same values are read from one uniform layout
//! ([`GroupedMatrix`]: integer codes and a scale and offset per group), so
//! that one kernel serves every type.
//!
//! # SIMD, with `unsafe` in one module
//!
//! Block layouts and their products are described once, in safe Rust
//! (`dot.rs`). `simd.rs`, the crate's only module allowed `unsafe`,
//! holds the kernels that run them: AVX-VNNI and AVX2 with FMA and F16C
//! (chosen at run time), wasm `simd128` (chosen at compile time), NEON on
//! aarch64 (the `simd128` kernel's tile on NEON registers), and a portable
//! kernel for every other CPU. For [`Int8Matrix`] products and
//! the block products of every type but `Q8_0`, the browser build also
//! carries a second module with relaxed SIMD's 8-bit dot product
//! ([`RELAXED_SIMD_MODULE`], built from `relaxed/kernel.rs` by `build.rs`;
//! it includes this crate's block formats and tile loops, so only the
//! innermost products are its own): the host starts it where the browser
//! has relaxed SIMD and hands it over with [`use_relaxed_simd`]. [`kernel`] says which one runs and
//! [`use_kernel`] picks another (benchmarks compare them in one process). Each keeps vector accumulators per input row and
//! sums them once per row. With the `parallel` feature (the native binary
//! turns it on), the calling thread and rayon's pool share each product's
//! rows ([`set_threads`]); without it (wasm) they run on the calling thread.
//!
//! # Correctness
//!
//! `tests/kernels.rs` checks every type against [`QMatrix::dequantize`]
//! (ggml's reference dequantization, in `tandem-gguf`) times an `f32`
//! product, on random blocks, odd shapes and several input rows: natively,
//! in the wasm build, and for aarch64 under qemu-user (`pkg-scripts/test`);
//! a unit test holds the SIMD kernels to the portable one, and
//! `tandem-wasm`'s `tests/relaxed.rs` holds the relaxed-SIMD module to the
//! `simd128` kernel, bit for bit, in Chromium.

mod activation;
mod dot;
mod error;
mod groups;
mod int8;
mod interleaved;
mod matmul;
mod matrix;
#[cfg(all(feature = "parallel", not(target_arch = "wasm32")))]
mod pool_choice;
mod q8;
mod simd;
mod threads;

pub use error::QuantError;
pub use groups::{GroupLayout, GroupedMatrix};
pub use int8::{Int8Matrix, MAX_COLS};
pub use matrix::{Layout, QMatrix};
#[cfg(target_arch = "wasm32")]
pub use simd::RELAXED_SIMD_MODULE;
pub use simd::{Kernel, RelaxedKernels, kernel, use_kernel, use_relaxed_simd};
pub use threads::{par_rows, set_threads};
