//! Run-time SIMD dispatch: the one place in the workspace allowed `unsafe`.
//!
//! The kernels are generic safe Rust marked `#[inline(always)]`. Here they
//! are instantiated a second time inside a function compiled for AVX2 and
//! FMA, and that copy is chosen when the CPU reports both features. Other
//! targets get their baseline (NEON on aarch64; `simd128` in the wasm build,
//! enabled by the build's target features).

#![allow(unsafe_code)]

/// Runs `f` compiled with AVX2 and FMA when this CPU has them, else as is.
///
/// `f` must be `#[inline(always)]` all the way down for the wider
/// instructions to reach its loops.
#[inline(always)]
pub(crate) fn with_best_simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: `avx2_fma` only requires that the CPU supports AVX2 and
            // FMA, which was detected on the line above.
            return unsafe { avx2_fma(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn avx2_fma<R>(f: impl FnOnce() -> R) -> R {
    f()
}
