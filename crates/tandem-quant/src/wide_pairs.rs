// Two interleaved groups side by side on AVX-512's 512-bit registers (lanes
// 0–7: the first group's eight rows, 8–15: the second's), included by
// `simd.rs` into the `avx512_pairs` module. Each `vpdpbusd` then multiplies
// sixteen rows by one broadcast of four activation bytes: where the CPU runs
// two 512-bit multiply-adds a cycle (Intel's server cores) that is twice the
// products of the 256-bit tiles per instruction, and half the unpacking and
// broadcast loads per row. Zen 4 splits each 512-bit operation in two, so
// there it costs what two 256-bit ones do.

use crate::activation::{Q8Block, QK};
use crate::interleaved;
use std::arch::x86_64::*;

/// Whether this CPU runs this module: [`super::Kernel::Avx512Vnni`]'s
/// features and AVX-512 BW.
pub(in crate::simd) fn available() -> bool {
    super::Kernel::Avx512Vnni.available() && std::arch::is_x86_feature_detected!("avx512bw")
}

/// Sixteen interleaved `Q4_K` rows (`pair`: two groups of eight, superblock
/// by superblock) times `N` input rows of `acts`, into outputs `t0..t0 + N`
/// of each row (`out`: the two groups' eight rows of `m`). The arithmetic of
/// the 256-bit `q4k_group_tile`, on both groups at once.
///
/// Its features (those of [`super::Kernel::Avx512Vnni`] and AVX-512 BW, for
/// the 512-bit byte shifts) are checked by the caller ([`available`]).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(in crate::simd) fn q4k_pair_tile<const N: usize>(
    pair: [&[u8]; 2],
    acts: &[Q8Block],
    per_row: usize,
    out: [&mut [f32]; 2],
    t0: usize,
    m: usize,
) {
    const GROUP: usize = interleaved::q4k::GROUP;
    let low = _mm512_set1_epi8(0x0F);
    let (low6, low4, low2) = (
        _mm512_set1_epi32(0x3F3F_3F3F),
        _mm512_set1_epi32(0x0F0F_0F0F),
        _mm512_set1_epi32(0x0303_0303),
    );
    let byte = _mm512_set1_epi32(0xFF);
    let mut acc = [_mm512_setzero_ps(); N];
    let next = pair[0].len() * 2;
    for (b, (ga, gb)) in pair[0].chunks_exact(GROUP).zip(pair[1].chunks_exact(GROUP)).enumerate() {
        let (Some(ga), Some(gb)) = (ga.first_chunk::<GROUP>(), gb.first_chunk::<GROUP>()) else {
            continue;
        };
        if t0 == 0 {
            // The next pair's block (see `prefetch_span`).
            for line in (0..2 * GROUP).step_by(64) {
                _mm_prefetch::<_MM_HINT_T0>(ga.as_ptr().wrapping_add(next + line).cast());
            }
        }
        let rows = superblock_acts::<N>(acts, per_row, b);
        // SAFETY (the loads below): each reads 16 or 32 bytes inside the two
        // 1152-byte groups, at offsets the layout fixes.
        let load16 = |at: usize| unsafe {
            _mm256_inserti128_si256::<1>(
                _mm256_castsi128_si256(_mm_loadu_si128(ga[at..at + 16].as_ptr().cast())),
                _mm_loadu_si128(gb[at..at + 16].as_ptr().cast()),
            )
        };
        let load32 = |at: usize| unsafe {
            _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm256_loadu_si256(ga[at..at + 32].as_ptr().cast())),
                _mm256_loadu_si256(gb[at..at + 32].as_ptr().cast()),
            )
        };
        let d = _mm512_cvtph_ps(load16(0));
        let dmin = _mm512_cvtph_ps(load16(16));
        let (a, m6, c) = (
            load32(interleaved::q4k::SCALES),
            load32(interleaved::q4k::SCALES + 32),
            load32(interleaved::q4k::SCALES + 64),
        );
        let scales = [
            _mm512_and_si512(a, low6),
            _mm512_or_si512(
                _mm512_and_si512(c, low4),
                _mm512_slli_epi32::<4>(_mm512_and_si512(_mm512_srli_epi32::<6>(a), low2)),
            ),
        ];
        let mins = [
            _mm512_and_si512(m6, low6),
            _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi32::<4>(c), low4),
                _mm512_slli_epi32::<4>(_mm512_and_si512(_mm512_srli_epi32::<6>(m6), low2)),
            ),
        ];
        let pick = |words: &[__m512i; 2], s: usize| {
            _mm512_and_si512(_mm512_srl_epi32(words[s / 4], _mm_cvtsi32_si128(8 * (s % 4) as i32)), byte)
        };
        let mut isum = [_mm512_setzero_si512(); N];
        for c in 0..4 {
            let mut lo = [_mm512_setzero_si512(); N];
            let mut hi = [_mm512_setzero_si512(); N];
            for q in 0..8 {
                let bits = load32(interleaved::q4k::QS + 32 * (8 * c + q));
                let wl = _mm512_and_si512(bits, low);
                let wh = _mm512_and_si512(_mm512_srli_epi16::<4>(bits), low);
                for t in 0..N {
                    lo[t] = _mm512_dpbusd_epi32(lo[t], wl, quad(&rows[t][2 * c].q, 4 * q));
                    hi[t] = _mm512_dpbusd_epi32(hi[t], wh, quad(&rows[t][2 * c + 1].q, 4 * q));
                }
            }
            let (s_lo, s_hi) = (pick(&scales, 2 * c), pick(&scales, 2 * c + 1));
            for t in 0..N {
                isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(lo[t], s_lo));
                isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(hi[t], s_hi));
            }
        }
        let mins: [__m512; 8] = std::array::from_fn(|s| _mm512_cvtepi32_ps(pick(&mins, s)));
        for t in 0..N {
            let mut msum = _mm512_setzero_ps();
            for (s, min) in mins.iter().enumerate() {
                msum = _mm512_fmadd_ps(*min, _mm512_set1_ps(rows[t][s].s), msum);
            }
            let factor = _mm512_mul_ps(d, _mm512_set1_ps(rows[t][0].d));
            acc[t] = _mm512_fmadd_ps(factor, _mm512_cvtepi32_ps(isum[t]), acc[t]);
            acc[t] = _mm512_fnmadd_ps(dmin, msum, acc[t]);
        }
    }
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

/// Activations `run[at..at + 4]` broadcast to every 32-bit lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn quad(run: &[i8; QK], at: usize) -> __m512i {
    let four = &run[at..at + 4];
    // SAFETY: reads the four bytes of `four`, unaligned.
    _mm512_broadcastd_epi32(unsafe { _mm_loadu_si32(four.as_ptr().cast()) })
}

/// Superblock `b`'s eight activation blocks of the first `N` input rows.
#[inline(always)]
fn superblock_acts<const N: usize>(acts: &[Q8Block], per_row: usize, b: usize) -> [&crate::dot::SuperActs; N] {
    std::array::from_fn(|t| {
        let start = t * per_row + b * 8;
        acts[start..start + 8].try_into().expect("eight blocks")
    })
}
