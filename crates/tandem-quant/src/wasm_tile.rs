// The `simd128` block tile, shared by the main module's wasm kernel
// (`simd.rs`) and the relaxed-SIMD module (`relaxed/kernel.rs`): both expand
// `tiled_rows!` around this `tile`, and each defines the things that
// differ: `dot16::<K>(w, q)`, the sums of 16 products in four `i32` lanes;
// `pairs16::<K>(w, q)`, the products of 16 values summed in pairs to 16
// bits; and `Q6K_RAW` with `q6k_offsets(block, acts)`: whether `Q6_K`'s
// products take its 6-bit codes as they are (`0..=63`, a valid 7-bit operand
// of relaxed SIMD's dot product) and take the offset of 32 off once per
// block, and that offset's share.
// Expects `Q8Block`, `QK`, `BlockKernel`, `SuperActs`, `widen_f16` and
// `core::arch::wasm32::*` in scope.

/// Input rows per tile.
const TILE: usize = 4;

/// One weight row times the first `N` input rows of `acts` (each
/// `per_row` blocks long) into `sums`: the tile of the row's type. Each
/// reads its blocks' bytes into registers, never storing unpacked values to
/// read them back, and computes the same integer products and float terms
/// as the portable kernel's unpacked blocks (`dot.rs`).
#[inline(always)]
fn tile<K: BlockKernel, const N: usize>(row: &[u8], acts: &[Q8Block], per_row: usize, sums: &mut [f32]) {
    // Each input row's activation blocks; `get`, not indexing, so that
    // nothing here can panic (the relaxed-SIMD module must not carry panic
    // messages). The callers pass whole rows.
    let rows: [&[Q8Block]; N] = std::array::from_fn(|t| acts.get(t * per_row..(t + 1) * per_row).unwrap_or(&[]));
    if K::GGML_ID == <Q4KKernel as BlockKernel>::GGML_ID {
        k4_tile::<false, N>(row, &rows, sums);
    } else if K::GGML_ID == <Q5KKernel as BlockKernel>::GGML_ID {
        k4_tile::<true, N>(row, &rows, sums);
    } else if K::GGML_ID == <Q6KKernel as BlockKernel>::GGML_ID {
        q6k_tile(row, &rows, sums);
    } else {
        small_tile::<K, N>(row, &rows, sums);
    }
}

/// [`tile`] for the 32-value types (`Q8_0`, `Q4_0`, `Q4_1`, `Q5_0`): each
/// block's weights put together in two registers ([`small_weights`]), never
/// stored and reloaded as unpacking to an array does; one float scale per
/// block and row. The same products and float terms as the portable
/// kernel's unpacked blocks, so the same results.
#[inline(always)]
fn small_tile<K: BlockKernel, const N: usize>(row: &[u8], rows: &[&[Q8Block]; N], sums: &mut [f32]) {
    let mut acc = [f32x4_splat(0.0); N];
    let mut rest = [0f32; N];
    for (b, block) in row.chunks_exact(K::BYTES).enumerate() {
        let Some((w0, w1, d, m)) = small_weights::<K>(block) else {
            continue;
        };
        for t in 0..N {
            let Some(a) = rows[t].get(b) else {
                continue;
            };
            let (q0, q1) = pair(&a.q);
            let both = f32x4_convert_i32x4(i32x4_add(dot16::<K>(w0, q0), dot16::<K>(w1, q1)));
            acc[t] = f32x4_add(acc[t], f32x4_mul(f32x4_splat(d * a.d), both));
            if K::HAS_REST {
                rest[t] += m * a.s;
            }
        }
    }
    finish(acc, rest, sums);
}

/// A 32-value block's weights, values 0–15 and 16–31, as `i8` lanes
/// (the values `dot.rs` unpacks them to), and its scale and minimum (zero
/// for the types without one); `None` for a block of another type.
#[inline(always)]
fn small_weights<K: BlockKernel>(block: &[u8]) -> Option<(v128, v128, f32, f32)> {
    let f16 = |at: usize| -> Option<f32> { Some(widen_f16(u16::from_le_bytes([*block.get(at)?, *block.get(at + 1)?]))) };
    let low = u8x16_splat(0x0F);
    // A 16-bit shift and the mask (wasm has no 8-bit shift).
    let nibbles = |x: v128| (v128_and(x, low), v128_and(u16x8_shr(x, 4), low));
    match K::GGML_ID {
        // Q8_0: `d, q: [i8; 32]`.
        <crate::dot::Q8_0 as BlockKernel>::GGML_ID => Some((load16(block, 2), load16(block, 18), f16(0)?, 0.0)),
        // Q4_0: `d, qs: [u8; 16]`, values q − 8.
        <crate::dot::Q4_0 as BlockKernel>::GGML_ID => {
            let (lo, hi) = nibbles(load16(block, 2));
            let eight = i8x16_splat(8);
            Some((i8x16_sub(lo, eight), i8x16_sub(hi, eight), f16(0)?, 0.0))
        }
        // Q4_1: `d, m, qs: [u8; 16]`, values q.
        <crate::dot::Q4_1 as BlockKernel>::GGML_ID => {
            let (lo, hi) = nibbles(load16(block, 4));
            Some((lo, hi, f16(0)?, f16(2)?))
        }
        // Q5_0: `d, qh: u32, qs: [u8; 16]`, values q − 16 with bit j of `qh`
        // the fifth bit of value j. Each byte takes the `qh` byte that holds
        // its bit (a swizzle), keeps that bit (a mask per lane) and compares:
        // where the bit is clear, value q − 16 is q with its top four bits
        // set (`0xF0 | q`, as llama.cpp's `vec_dot_q5_0_q8_0` makes it).
        <crate::dot::Q5_0 as BlockKernel>::GGML_ID => {
            let (lo, hi) = nibbles(load16(block, 6));
            let qh = u32x4_splat(u32::from_le_bytes([*block.get(2)?, *block.get(3)?, *block.get(4)?, *block.get(5)?]));
            let bit = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
            let top = u8x16_splat(0xF0);
            let fifth = |spread: v128, q: v128| {
                let set = i8x16_eq(v128_and(spread, bit), bit);
                v128_or(q, v128_andnot(top, set))
            };
            let first = i8x16_swizzle(qh, u8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
            let second = i8x16_swizzle(qh, u8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
            Some((fifth(first, lo), fifth(second, hi), f16(0)?, 0.0))
        }
        _ => None,
    }
}

/// Each row's four lanes summed, plus its rest, into `sums`.
#[inline(always)]
fn finish<const N: usize>(acc: [v128; N], rest: [f32; N], sums: &mut [f32]) {
    for ((sum, v), rest) in sums.iter_mut().zip(acc).zip(rest) {
        *sum = f32x4_extract_lane::<0>(v)
            + f32x4_extract_lane::<1>(v)
            + f32x4_extract_lane::<2>(v)
            + f32x4_extract_lane::<3>(v)
            + rest;
    }
}

/// `Q4_K`'s and `Q5_K`'s kernels, named for [`k4_tile`].
type Q4KKernel = crate::dot::KQuant<crate::dot::Q4K>;
type Q5KKernel = crate::dot::KQuant<crate::dot::Q5K>;

/// [`tile`] for `Q4_K` or, with `FIVE`, `Q5_K`, from the block's bytes, as
/// llama.cpp's `vec_dot_q4_K_q8_K` and `vec_dot_q5_K_q8_K` read them: each
/// 16 bytes of nibbles split in registers into two runs' halves, `Q5_K`'s
/// fifth bits put in from `qh` by a mask and a compare, the scales and
/// minimums decoded together from their packed words (the two types share
/// that header). A block's eight runs share one activation scale per row
/// (`quantize_superblocks_into`), so they are summed in integers, weighted
/// by their 6-bit scales, and converted and multiplied once per block and
/// row.
#[inline(always)]
fn k4_tile<const FIVE: bool, const N: usize>(row: &[u8], rows: &[&[Q8Block]; N], sums: &mut [f32]) {
    let bytes = if FIVE { <Q5KKernel as BlockKernel>::BYTES } else { <Q4KKernel as BlockKernel>::BYTES };
    let low = u8x16_splat(0x0F);
    let five = u8x16_splat(0x10);
    let mut acc = [f32x4_splat(0.0); N];
    let mut rest = [0f32; N];
    for (b, block) in row.chunks_exact(bytes).enumerate() {
        let (Some((header, body)), Some(blocks)) = (block.split_first_chunk::<16>(), superblock(rows, b)) else {
            continue;
        };
        // `Q5_K`: 32 bytes of fifth bits (bit c of byte l: value l of run c),
        // then the nibbles.
        let (qh0, qh1) = if FIVE { (load16(body, 0), load16(body, 16)) } else { (five, five) };
        let qs = if FIVE { body.get(32..).unwrap_or(&[]) } else { body };
        let (scales, mins) = crate::dot::q4k_scales_mins(header);
        let d = widen_f16(u16::from_le_bytes([header[0], header[1]]));
        let dmin = widen_f16(u16::from_le_bytes([header[2], header[3]]));
        let mut isum = [i32x4_splat(0); N];
        for (c, bytes) in qs.chunks_exact(QK).take(4).enumerate() {
            let Some(bytes) = bytes.first_chunk::<QK>() else {
                continue;
            };
            let (x0, x1) = pair(bytes);
            // Run 2c is the low nibbles, run 2c + 1 the high ones (a 16-bit
            // shift and the mask: wasm has no 8-bit shift).
            let (mut lo0, mut lo1) = (v128_and(x0, low), v128_and(x1, low));
            let (mut hi0, mut hi1) = (v128_and(u16x8_shr(x0, 4), low), v128_and(u16x8_shr(x1, 4), low));
            if FIVE {
                // 16 where the run's bit of the byte is set.
                let fifth = |qh: v128, run: usize| {
                    let bit = u8x16_splat(1 << run);
                    v128_and(i8x16_eq(v128_and(qh, bit), bit), five)
                };
                (lo0, lo1) = (v128_or(lo0, fifth(qh0, 2 * c)), v128_or(lo1, fifth(qh1, 2 * c)));
                (hi0, hi1) = (v128_or(hi0, fifth(qh0, 2 * c + 1)), v128_or(hi1, fifth(qh1, 2 * c + 1)));
            }
            let scale = |j: usize| i16x8_splat(((scales >> (8 * j)) & 0xFF) as i16);
            let (s_lo, s_hi) = (scale(2 * c), scale(2 * c + 1));
            for t in 0..N {
                let (Some(a_lo), Some(a_hi)) = (blocks[t].get(2 * c), blocks[t].get(2 * c + 1)) else {
                    continue;
                };
                // Four products of weights ≤ 31 and |q| ≤ 127 sum to at most
                // 15,748 per `i16` lane.
                let (q0, q1) = pair(&a_lo.q);
                let p = i16x8_add(pairs16::<Q4KKernel>(lo0, q0), pairs16::<Q4KKernel>(lo1, q1));
                isum[t] = i32x4_add(isum[t], i32x4_dot_i16x8(p, s_lo));
                let (q0, q1) = pair(&a_hi.q);
                let p = i16x8_add(pairs16::<Q4KKernel>(hi0, q0), pairs16::<Q4KKernel>(hi1, q1));
                isum[t] = i32x4_add(isum[t], i32x4_dot_i16x8(p, s_hi));
            }
        }
        for t in 0..N {
            let a = blocks[t];
            acc[t] = f32x4_add(acc[t], f32x4_mul(f32x4_splat(d * a[0].d), f32x4_convert_i32x4(isum[t])));
            let mut m = 0f32;
            for (j, a) in a.iter().enumerate() {
                m += f32::from((mins >> (8 * j)) as u8) * a.s;
            }
            rest[t] += -dmin * m;
        }
    }
    finish(acc, rest, sums);
}

/// `Q6_K`'s kernel, named for [`q6k_tile`].
type Q6KKernel = crate::dot::Q6K;

/// [`tile`] for `Q6_K`, from the block's bytes, as llama.cpp's
/// `vec_dot_q6_K_q8_K` reads them: each 16 values of a run put together in
/// registers from their low four bits (`ql`) and high two (`qh`), less the
/// offset of 32, never stored and reloaded. The same integer sums and
/// float terms as the portable kernel's unpacked blocks, so the same results.
#[inline(always)]
fn q6k_tile<const N: usize>(row: &[u8], rows: &[&[Q8Block]; N], sums: &mut [f32]) {
    let (low, high, offset) = (u8x16_splat(0x0F), u8x16_splat(0x30), i8x16_splat(32));
    let mut acc = [f32x4_splat(0.0); N];
    for (b, block) in row.chunks_exact(<Q6KKernel as BlockKernel>::BYTES).enumerate() {
        let (Some(block), Some(blocks)) = (block.first_chunk::<210>(), superblock(rows, b)) else {
            continue;
        };
        let d = widen_f16(u16::from_le_bytes([block[208], block[209]]));
        let mut isum = [i32x4_splat(0); N];
        // Each half of the block is four runs; each piece is values 0–15 or
        // 16–31 of those runs, with a scale of its own.
        for half in 0..2 {
            for piece in 0..2 {
                let ql0 = load16(block, 64 * half + 16 * piece);
                let ql1 = load16(block, 64 * half + 32 + 16 * piece);
                let qh = load16(block, 128 + 32 * half + 16 * piece);
                // Run k of this half, made when it is used (all four at once
                // left too few registers for the tile's sums). Shifts of
                // 16-bit lanes, each followed by a mask that keeps only bits of
                // the same byte (wasm has no 8-bit shift, and the engines
                // emulate one with a 16-bit shift and a mask).
                let run = |k: usize| match k {
                    0 => v128_or(v128_and(ql0, low), v128_and(i16x8_shl(qh, 4), high)),
                    1 => v128_or(v128_and(ql1, low), v128_and(i16x8_shl(qh, 2), high)),
                    2 => v128_or(v128_and(u16x8_shr(ql0, 4), low), v128_and(qh, high)),
                    _ => v128_or(v128_and(u16x8_shr(ql1, 4), low), v128_and(u16x8_shr(qh, 2), high)),
                };
                for k in 0..4 {
                    let w = run(k);
                    let j = 4 * half + k;
                    let w = if Q6K_RAW { w } else { i8x16_sub(w, offset) };
                    let scale = block.get(192 + 2 * j + piece).map_or(0, |&s| s as i8);
                    let s = i16x8_splat(i16::from(scale));
                    for t in 0..N {
                        let Some(a) = blocks[t].get(j) else {
                            continue;
                        };
                        let q = load16(&a.q, 16 * piece);
                        isum[t] = i32x4_add(isum[t], i32x4_dot_i16x8(pairs16::<Q6KKernel>(w, q), s));
                    }
                }
            }
        }
        for t in 0..N {
            let isum = if Q6K_RAW { i32x4_sub(isum[t], q6k_offsets(block, blocks[t])) } else { isum[t] };
            acc[t] = f32x4_add(acc[t], f32x4_mul(f32x4_splat(d * blocks[t][0].d), f32x4_convert_i32x4(isum)));
        }
    }
    finish(acc, [0.0; N], sums);
}

/// The 16 bytes of `bytes` at `at` (`i8` or `u8`), or zeros past its end
/// (the callers read inside it; `get`, so that nothing here can panic).
#[inline(always)]
fn load16<B>(bytes: &[B], at: usize) -> v128 {
    const { assert!(size_of::<B>() == 1) };
    match bytes.get(at..at + 16) {
        // SAFETY: the slice is 16 bytes long (`v128_load` has no alignment
        // requirement).
        Some(b) => unsafe { v128_load(b.as_ptr().cast()) },
        None => i8x16_splat(0),
    }
}

/// Each input row's eight activation blocks of superblock `b`, or `None`
/// where a row is short (the callers pass whole rows).
#[inline(always)]
fn superblock<'a, const N: usize>(rows: &[&'a [Q8Block]; N], b: usize) -> Option<[&'a SuperActs; N]> {
    let block = |t: usize| -> Option<&'a SuperActs> { rows.get(t)?.get(b * 8..b * 8 + 8)?.try_into().ok() };
    let mut blocks = [block(0)?; N];
    for (t, slot) in blocks.iter_mut().enumerate().skip(1) {
        *slot = block(t)?;
    }
    Some(blocks)
}

/// Both 16-byte halves of a run of 32 bytes (`i8` or `u8`).
#[inline(always)]
fn pair<B>(bytes: &[B; QK]) -> (v128, v128) {
    const { assert!(size_of::<B>() == 1) };
    // SAFETY: each load reads 16 bytes at offset 0 or 16 of a 32-byte
    // array (`v128_load` has no alignment requirement).
    unsafe { (v128_load(bytes.as_ptr().cast()), v128_load(bytes.as_ptr().add(16).cast())) }
}

