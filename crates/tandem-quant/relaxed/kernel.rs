//! The relaxed-SIMD module: the integer products of the browser build
//! with `i32x4.relaxed_dot_i8x16_i7x16_add_s`, for browsers that have
//! relaxed SIMD (Chromium since 114): `int8_sums` for [`Int8Matrix`] (the
//! encoder) and `block_rows` for [`QMatrix`] rows of every ggml type but
//! `Q8_0` (the decoder). A module that holds one relaxed instruction does
//! not compile where relaxed SIMD is missing (Safari), and wasm has no
//! run-time feature test, so this is a module of its own, beside the main
//! one: `build.rs` compiles this file with `rustc` (a `no_std` cdylib with
//! fat LTO, no dependencies) and the main module embeds the bytes
//! (`tandem_quant::RELAXED_SIMD_MODULE`).
//!
//! Nothing here is written twice: the tile loops (`int8_tiles.rs`,
//! `tiled_rows.rs`), the block tile (`wasm_tile.rs`), the block formats
//! (`dot.rs`, `q8.rs`) and the k-quant scales (`tandem-gguf`'s
//! `k_scale.rs`) are the main crates' own files, included. Only the
//! innermost products differ.
//!
//! It works in the main module's memory, which it imports, so it must not
//! bring anything of its own into that memory: `build.rs` refuses the
//! build if it has data segments or imports anything else (fat LTO lets
//! LLVM drop the panic messages of bounds checks, since the panic handler
//! ignores them), and its stack pointer is exported so that the host points
//! it at a region the main module set aside before the first call.
//!
//! [`Int8Matrix`]: ../src/int8.rs
//! [`QMatrix`]: ../src/matrix.rs

#![no_std]

// `dot.rs` names `std::array` and `std::marker`, and `tandem_gguf::k_scale_min`.
extern crate core as std;
extern crate self as tandem_gguf;

use core::arch::wasm32::*;

/// The activation blocks, as the main module lays them out.
#[path = "../src/q8.rs"]
mod activation;
/// The ggml block formats and their runs of 32 products.
#[allow(dead_code)]
#[path = "../src/dot.rs"]
mod dot;
#[path = "../../tandem-gguf/src/k_scale.rs"]
mod k_scale;

pub use k_scale::k_scale_min;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    unreachable()
}

/// The encoder's products.
mod int8 {
    use core::arch::wasm32::*;

    include!("../src/int8_tiles.rs");

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
}

/// The decoder's products.
mod blocks {
    use crate::activation::{Q8Block, QK};
    use crate::dot::{BlockKernel, KQuant, Q4_0, Q4_1, Q4K, Q5_0, Q5K, Q6K, SuperActs, widen_f16};
    use core::arch::wasm32::*;

    include!("../src/tiled_rows.rs");
    include!("../src/wasm_tile.rs");

    /// `n` consecutive rows of ggml blocks of type `ggml_id` (`row_bytes`
    /// apart, `cols` values each) times `m` rows of activation blocks
    /// (`cols / 32` each): `out[i·m + t]`, as the main module's `simd128`
    /// kernel computes it but for the products. An unknown type or `Q8_0`
    /// (whose bytes do not fit the 7-bit operand) writes nothing; the main
    /// module never sends them.
    ///
    /// # Safety
    /// `w` points to `n·row_bytes` bytes of whole blocks, `acts` to
    /// `m·cols/32` blocks and `out` to `n·m` writable `f32`s, all in the
    /// imported memory.
    #[unsafe(no_mangle)]
    #[allow(clippy::too_many_arguments)]
    pub unsafe extern "C" fn block_rows(
        ggml_id: u32,
        w: *const u8,
        row_bytes: usize,
        cols: usize,
        n: usize,
        acts: *const Q8Block,
        m: usize,
        out: *mut f32,
    ) {
        // SAFETY: the caller's contract above.
        let rows = Rows { w, row_bytes, cols };
        let acts = unsafe { core::slice::from_raw_parts(acts, m * (cols / QK)) };
        let out = unsafe { core::slice::from_raw_parts_mut(out, n * m) };
        // The ids are the types' own `BlockKernel::GGML_ID`s, which the main
        // module sends.
        match ggml_id {
            <Q4_0 as BlockKernel>::GGML_ID => tiled_rows!(Q4_0, rows, 0, out, acts, m),
            <Q4_1 as BlockKernel>::GGML_ID => tiled_rows!(Q4_1, rows, 0, out, acts, m),
            <Q5_0 as BlockKernel>::GGML_ID => tiled_rows!(Q5_0, rows, 0, out, acts, m),
            <KQuant<Q4K> as BlockKernel>::GGML_ID => tiled_rows!(KQuant<Q4K>, rows, 0, out, acts, m),
            <KQuant<Q5K> as BlockKernel>::GGML_ID => tiled_rows!(KQuant<Q5K>, rows, 0, out, acts, m),
            <Q6K as BlockKernel>::GGML_ID => tiled_rows!(Q6K, rows, 0, out, acts, m),
            _ => {}
        }
    }

    /// Rows of blocks in the imported memory, as `tiled_rows!` reads a matrix.
    struct Rows {
        w: *const u8,
        row_bytes: usize,
        cols: usize,
    }

    impl Rows {
        /// The raw blocks of row `i`.
        #[inline(always)]
        fn row(&self, i: usize) -> &[u8] {
            // SAFETY: `i < n` in `tiled_rows!` (and in its `touch_ahead!`),
            // and `block_rows`' caller vouched for `n` rows.
            unsafe { core::slice::from_raw_parts(self.w.add(i * self.row_bytes), self.row_bytes) }
        }

        /// Values per row.
        #[inline(always)]
        fn cols(&self) -> usize {
            self.cols
        }
    }

    /// `Σ w·q` over 16 values in four lanes, one relaxed dot product.
    /// Weights of the types with a minimum are never negative (at most 31)
    /// and go in as they are; the others that lie in `-64..=63` go in offset
    /// by 64 and the offset's share, `64·Σq`, is taken back. `Q8_0`'s bytes
    /// (`WIDE`) fit no 7-bit operand: the main module never sends them, and
    /// they would take the `simd128` products.
    #[inline(always)]
    fn dot16<K: BlockKernel>(w: v128, q: v128) -> v128 {
        let zero = i32x4_splat(0);
        if K::UNSIGNED {
            i32x4_relaxed_dot_i8x16_i7x16_add(q, w, zero)
        } else if K::WIDE {
            i32x4_extadd_pairwise_i16x8(pairs16::<K>(w, q))
        } else {
            let off = i8x16_splat(64);
            i32x4_sub(
                i32x4_relaxed_dot_i8x16_i7x16_add(q, i8x16_add(w, off), zero),
                i32x4_relaxed_dot_i8x16_i7x16_add(q, off, zero),
            )
        }
    }

    /// The products of 16 weights and activations summed in pairs to eight
    /// `i16` lanes, for the k-quants' integer sums: one relaxed dot product
    /// for the types with a minimum (weights `0..=31`, a valid 7-bit
    /// operand; a pair sums to at most 2·31·127) and for `Q6_K`'s codes as
    /// they are ([`Q6K_RAW`]: `0..=63`, a pair at most 2·63·127).
    #[inline(always)]
    fn pairs16<K: BlockKernel>(w: v128, q: v128) -> v128 {
        if K::UNSIGNED || (Q6K_RAW && K::GGML_ID == <Q6K as BlockKernel>::GGML_ID) {
            i16x8_relaxed_dot_i8x16_i7x16(q, w)
        } else {
            i16x8_add(i16x8_extmul_low_i8x16(w, q), i16x8_extmul_high_i8x16(w, q))
        }
    }

    /// `Q6_K`'s codes go into the relaxed dot product as they are, `c` in
    /// `0..=63` for the weight `c − 32` (`wasm_tile.rs`), so that a run of 16
    /// takes one instruction instead of a subtraction and two widening
    /// multiplies; the offset's share, `32·Σ scale·Σq`, is taken off once per
    /// block by [`q6k_offsets`].
    const Q6K_RAW: bool = true;

    /// `32·Σⱼ scaleⱼ·Σ qⱼ` over a `Q6_K` block's sixteen runs of 16 values in
    /// four `i32` lanes (summed with the block's other lanes at the end): the
    /// runs' 8-bit scales (bytes 192–207, in the order of the activation
    /// blocks' halves) times the halves' sums the activation blocks carry
    /// ([`Q8Block::h`]: two `i16`, the first half low), as two `i16`
    /// dot products. At most 32·16·127·2032 in all, far inside `i32`.
    #[inline(always)]
    fn q6k_offsets(block: &[u8; 210], acts: &SuperActs) -> v128 {
        let scales = load16(block, 192);
        let h = |j: usize| acts[j].h;
        let low = i32x4(h(0), h(1), h(2), h(3));
        let high = i32x4(h(4), h(5), h(6), h(7));
        let sums = i32x4_add(
            i32x4_dot_i16x8(low, i16x8_extend_low_i8x16(scales)),
            i32x4_dot_i16x8(high, i16x8_extend_high_i8x16(scales)),
        );
        i32x4_shl(sums, 5)
    }
}
