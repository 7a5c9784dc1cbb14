//! tandem-quant's kernel tests, run by the browser build: the wasm `simd128`
//! kernel against ggml's dequantization, exactly as natively.
//! Run: `cargo test -p tandem-wasm --features models --target wasm32-unknown-unknown --test quant`

#[path = "../../tandem-quant/tests/kernels.rs"]
mod kernels;

#[path = "../../tandem-quant/tests/int8.rs"]
mod int8;
