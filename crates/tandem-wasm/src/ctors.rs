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
//! The start function runs them in pages; [`run_once`] is also called
//! before any model picks its device, because wasm-bindgen's test harness
//! does not call the library's start function, and CubeCL's compiler needs
//! pliron's registrations.
//!
//! The crate's only `unsafe`: `__wasm_call_ctors` is synthesized by the
//! linker, takes nothing and returns nothing, and runs at most once (a
//! `Once` guards it).

#![allow(unsafe_code)]

unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// Runs every static constructor of the module, the first time only (see
/// the module docs).
pub(crate) fn run_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: see the module docs.
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}
