//! JavaScript bindings of Tandem.
//!
//! The only crate that says `#[wasm_bindgen]`. It converts JavaScript
//! values to Rust types and back and turns errors into thrown `Error`s; all
//! logic lives in `tandem-core`. Results are plain objects (via
//! `serde-wasm-bindgen`) whose TypeScript types are generated from
//! [`js_types`] into [`TS_SHIELD_TYPES`] and [`TS_MODEL_TYPES`]; every offset crossing this boundary is in UTF-16 code
//! units, the unit of JavaScript string indices.
//!
//! Nothing here panics on bad input: strings with unpaired surrogates,
//! unknown entity kinds and oversized inputs are rejected with a message.

#[cfg(feature = "cpu-models")]
mod analyzer;
#[cfg(target_arch = "wasm32")]
mod ctors;
pub mod js_types;
#[cfg(all(feature = "cpu-models", target_arch = "wasm32"))]
mod kernels;
#[cfg(feature = "cpu-models")]
mod model;
#[cfg(feature = "cpu-models")]
mod model_buffer;
mod options;
#[cfg(feature = "seal")]
mod seal;
mod shield;
#[cfg(feature = "cpu-models")]
mod speculate;
#[cfg(feature = "ts")]
pub mod ts;

#[cfg(feature = "cpu-models")]
pub use analyzer::{Analyzer, SentenceEncoder};
#[cfg(all(feature = "threads", target_arch = "wasm32"))]
pub use kernels::start_threads;
#[cfg(all(feature = "cpu-models", target_arch = "wasm32"))]
pub use kernels::{enable_relaxed_simd, quant_kernel, use_quant_kernel};
#[cfg(feature = "cpu-models")]
pub use model::LocalModel;
#[cfg(feature = "cpu-models")]
pub use model_buffer::ModelBuffer;
pub use options::ShieldOptions;
#[cfg(feature = "seal")]
pub use seal::{SealClient, SealedExchange};
pub use shield::{Shield, StreamRestorer};

use wasm_bindgen::prelude::*;

/// TypeScript declarations of the shield's objects, generated from the
/// Rust types (`ts/shield.d.ts`; see [`ts`] for how it is made and checked).
#[wasm_bindgen(typescript_custom_section)]
pub const TS_SHIELD_TYPES: &str = include_str!("../ts/shield.d.ts");

/// TypeScript declarations of the router's, generation's and speculation's
/// objects ([`js_types`]; `ts/models.d.ts`).
#[cfg(feature = "cpu-models")]
#[wasm_bindgen(typescript_custom_section)]
pub const TS_MODEL_TYPES: &str = include_str!("../ts/models.d.ts");

/// Runs the module's static constructors once ([`ctors`]) and installs a
/// panic hook so that a bug shows a readable message in the console.
#[wasm_bindgen(start)]
pub fn start() {
    #[cfg(target_arch = "wasm32")]
    ctors::run_once();
    console_error_panic_hook::set_once();
}
