// The interleaved tiles (`group_tiles.rs`) on AVX-512's
// 512-bit registers, two groups side by side (lanes 0–7: the first group's
// eight rows, 8–15: the second's). Included by `simd.rs` into the
// `avx512_pairs` module. Each `vpdpbusd` then multiplies sixteen rows by one
// broadcast of four activation bytes: where the CPU runs two 512-bit
// multiply-adds a cycle (the Intel host of docs/models.md: 418 G byte
// products a second against 224 G on 256-bit registers) that is twice the
// products per instruction, and half the unpacking and broadcast loads per
// row. Zen 4 splits each 512-bit operation in two, so there it costs what
// two 256-bit ones do.

use super::block_sum;
use crate::activation::{Q8Block, QK};
use crate::dot::SuperActs;
use crate::interleaved;
use std::arch::x86_64::*;

/// Whether this CPU runs this module: [`super::Kernel::Avx512Vnni`]'s
/// features and AVX-512 BW (the 512-bit byte shifts and widenings).
pub(in crate::simd) fn available() -> bool {
    super::Kernel::Avx512Vnni.available() && std::arch::is_x86_feature_detected!("avx512bw")
}

group_tiles!("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni");

/// An integer vector of the tiles: sixteen `i32` lanes, one per row.
type I = __m512i;
/// A float vector of the tiles.
type F = __m512;
/// Groups side by side in a vector.
const GROUPS: usize = 2;
/// Tiles of eight input rows: 32 vector registers hold their accumulators
/// (`Q4_K` at M = 8 on an Intel Xeon: 0.81–0.87 → 0.73 ms).
const EIGHT_ROW_TILES: bool = true;
/// `Q6_K`'s tiles keep four runs' sums per input row: 32 registers hold them.
const Q6K_IN_PAIRS: bool = false;

lane_ops!("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni", imm = u32,
    and = _mm512_and_si512, or = _mm512_or_si512, add32 = _mm512_add_epi32, sub32 = _mm512_sub_epi32,
    mullo32 = _mm512_mullo_epi32, shl32 = _mm512_slli_epi32, shr32 = _mm512_srli_epi32,
    shl16 = _mm512_slli_epi16, shr16 = _mm512_srli_epi16, srl32 = _mm512_srl_epi32,
    splat_i8 = _mm512_set1_epi8, splat_i32 = _mm512_set1_epi32, zero_i = _mm512_setzero_si512,
    zero_f = _mm512_setzero_ps, splat_f = _mm512_set1_ps, to_f = _mm512_cvtepi32_ps,
    fmadd = _mm512_fmadd_ps, fnmadd = _mm512_fnmadd_ps, mul = _mm512_mul_ps);

/// The first `N` bytes at `at` of each group's block.
#[inline]
fn bytes<const N: usize, const L: usize>(block: [&[u8; L]; GROUPS], at: usize) -> [&[u8]; GROUPS] {
    block.map(|b| &b[at..at + N])
}

/// 32 bytes of each group's block at `at`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn load_i<const L: usize>(block: [&[u8; L]; GROUPS], at: usize) -> I {
    let [a, b] = bytes::<32, L>(block, at);
    // SAFETY: each load reads the 32 bytes of its slice, unaligned.
    unsafe {
        _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_loadu_si256(a.as_ptr().cast())),
            _mm256_loadu_si256(b.as_ptr().cast()),
        )
    }
}

/// Sixteen bytes of each group's block at `at`, side by side.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn load_16s<const L: usize>(block: [&[u8; L]; GROUPS], at: usize) -> __m256i {
    let [a, b] = bytes::<16, L>(block, at);
    // SAFETY: each load reads the 16 bytes of its slice, unaligned.
    unsafe {
        _mm256_inserti128_si256::<1>(
            _mm256_castsi128_si256(_mm_loadu_si128(a.as_ptr().cast())),
            _mm_loadu_si128(b.as_ptr().cast()),
        )
    }
}

/// Eight `f16` values of each group's block at `at`, widened.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn load_f16<const L: usize>(block: [&[u8; L]; GROUPS], at: usize) -> F {
    _mm512_cvtph_ps(load_16s(block, at))
}

/// Eight signed bytes of each group's block at `at`, one per `i32` lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn load_i8_i32<const L: usize>(block: [&[u8; L]; GROUPS], at: usize) -> I {
    let [a, b] = bytes::<8, L>(block, at);
    // SAFETY: each load reads the 8 bytes of its slice, unaligned.
    let both = unsafe { _mm_unpacklo_epi64(_mm_loadl_epi64(a.as_ptr().cast()), _mm_loadl_epi64(b.as_ptr().cast())) };
    _mm512_cvtepi8_epi32(both)
}

/// Sixteen signed bytes of each group's block at `at` (eight rows' bytes,
/// then eight more), as each row's pair of `i16` in its lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn load_pairs_i16<const L: usize>(block: [&[u8; L]; GROUPS], at: usize) -> I {
    let both = load_16s(block, at);
    // Within each 128-bit half (one group): the rows' first bytes beside their second.
    _mm512_cvtepi8_epi16(_mm256_unpacklo_epi8(both, _mm256_srli_si256::<8>(both)))
}

/// Activations `run[at..at + 4]` broadcast to every 32-bit lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn quad(run: &[i8; QK], at: usize) -> I {
    let four = &run[at..at + 4];
    // SAFETY: reads the four bytes of `four`, unaligned.
    _mm512_broadcastd_epi32(unsafe { _mm_loadu_si32(four.as_ptr().cast()) })
}

/// `acc` plus unsigned weights `w` times four activation bytes `q` per lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn run_sum(acc: I, w: I, q: I) -> I {
    _mm512_dpbusd_epi32(acc, w, q)
}

/// [`run_sum`] for weights up to 63 (`Q6_K`): the same, `vpdpbusd` sums in `i32`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn run_sum_wide(acc: I, w: I, q: I) -> I {
    run_sum(acc, w, q)
}

/// `Q8_0`'s signed weights `w` flipped to `w + 128`, the byte products'
/// unsigned operand (`vpdpbusd` sums into `i32`: nothing saturates).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn signed_operand(w: I) -> I {
    _mm512_xor_si512(w, _mm512_set1_epi8(i8::MIN))
}

/// `acc` plus signed weights (as [`signed_operand`] made them) times four
/// activation bytes `q` per lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn signed_run_sum(acc: I, operand: I, _w: I, q: I) -> I {
    run_sum(acc, operand, q)
}

/// What [`signed_operand`] added to each weight, taken off as a multiple of
/// the activations' sum.
const SIGNED_OFFSET: i32 = 128;

/// `acc` plus a run's sums times each row's scale.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn run_scaled(acc: I, run: I, scale: I) -> I {
    _mm512_add_epi32(acc, _mm512_mullo_epi32(run, scale))
}

/// `acc` plus the `i16` pairs `p` times `s`, summed in pairs.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn scaled(acc: I, p: I, s: I) -> I {
    _mm512_dpwssd_epi32(acc, p, s)
}

/// The tiles' outputs (`acc[t]`, lane `j`: row `j` of the pair) into the
/// two groups' rows.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn write_groups<const N: usize>(acc: [F; N], out: [&mut [f32]; GROUPS], t0: usize, m: usize) {
    let [out_a, out_b] = out;
    for (t, &acc) in acc.iter().enumerate() {
        let mut lanes = [0f32; 16];
        // SAFETY: `lanes` is 16 floats, the width of an unaligned 512-bit store.
        unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), acc) };
        for (j, &v) in lanes.iter().enumerate() {
            let (out, j) = if j < 8 { (&mut *out_a, j) } else { (&mut *out_b, j - 8) };
            if let Some(o) = out.get_mut(j * m + t0 + t) {
                *o = v;
            }
        }
    }
}
