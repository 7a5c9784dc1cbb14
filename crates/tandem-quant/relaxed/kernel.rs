//! The relaxed-SIMD module: `int8_sums` of [`Int8Matrix`] products with
//! `i32x4.relaxed_dot_i8x16_i7x16_add_s`, for browsers that have relaxed
//! SIMD (Chromium since 114). A module that holds one relaxed instruction
//! does not compile where relaxed SIMD is missing (Safari), and wasm has no
//! run-time feature test, so this is a module of its own, beside the main
//! one: `build.rs` compiles this file with `rustc` (a `no_std` cdylib, no
//! dependencies) and the main module embeds the bytes
//! (`tandem_quant::RELAXED_SIMD_MODULE`).
//!
//! It works in the main module's memory, which it imports, so it must not
//! bring anything of its own into that memory: `build.rs` refuses the
//! build if it has data segments or imports anything else, and its stack
//! pointer is exported so that the host points it at a region the main
//! module set aside before the first call.
//!
//! [`Int8Matrix`]: ../src/int8.rs

#![no_std]

use core::arch::wasm32::*;

include!("../src/int8_tiles.rs");

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    unreachable()
}

/// `out[t·n + r] = Σₖ w[r·s + k] · a[t·s + k]` for `n` weight rows of
/// signed bytes and `m` input rows of 7-bit codes, `s` bytes apart.
///
/// # Safety
/// `w` points to `n·s` bytes, `a` to `m·s` codes below 128, `out` to `m·n`
/// writable `i32`s, all in the imported memory, and `s` is a multiple of 16.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn int8_sums(w: *const i8, n: usize, s: usize, a: *const u8, m: usize, out: *mut i32) {
    int8_sums!(w, n, s, a, m, out);
}

/// The integer sums of `R` weight rows and `T` input rows: one relaxed dot
/// product per 16 values of each pair, whose four lanes are summed at the end.
///
/// # Safety
/// As [`int8_sums`].
#[inline(always)]
unsafe fn tile<const R: usize, const T: usize>(w: *const i8, a: *const u8, s: usize) -> [[i32; T]; R] {
    let mut acc = [[i32x4_splat(0); T]; R];
    let mut k = 0;
    while k < s {
        // SAFETY: `k + 16 ≤ s`; loads of 16 bytes, no alignment needed.
        let av: [v128; T] = core::array::from_fn(|j| unsafe { v128_load(a.add(j * s + k).cast()) });
        for (i, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let wv = unsafe { v128_load(w.add(i * s + k).cast()) };
            for (acc, &av) in acc.iter_mut().zip(&av) {
                // Codes are below 128, so every CPU gives the exact sum.
                *acc = i32x4_relaxed_dot_i8x16_i7x16_add(wv, av, *acc);
            }
        }
        k += 16;
    }
    core::array::from_fn(|i| {
        core::array::from_fn(|j| {
            let v = acc[i][j];
            i32x4_extract_lane::<0>(v)
                .wrapping_add(i32x4_extract_lane::<1>(v))
                .wrapping_add(i32x4_extract_lane::<2>(v))
                .wrapping_add(i32x4_extract_lane::<3>(v))
        })
    })
}
