//! Runs the static constructors once, when the module starts.
//!
//! wasm-ld treats a module that never calls `__wasm_call_ctors` itself as a
//! command and wraps every export in a call to it. pliron (CubeCL's compiler,
//! linked for WebGPU) registers itself through `inventory` constructors, so
//! every call from JavaScript re-ran those registrations: about a tenth of
//! an analyzer pass in Chromium (CPU profile of `Analyzer.analyze`). Calling
//! them once from the start function, as a reactor module does, makes the
//! linker leave the exports alone.
//!
//! The crate's only `unsafe`: `__wasm_call_ctors` is synthesized by the linker,
//! takes nothing and returns nothing, and is called exactly once, from the
//! start function, before any other export can run.

#![allow(unsafe_code)]

unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// Runs every static constructor of the module (see the module docs).
pub(crate) fn run_once() {
    // SAFETY: see the module docs; wasm-bindgen calls the start function once.
    unsafe { __wasm_call_ctors() }
}
