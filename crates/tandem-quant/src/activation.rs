//! Activations quantized to 8-bit blocks, the other side of every fused dot
//! product (ggml's `Q8_1`: an `f16` scale and sum beside 32 values).

use half::f16;

pub(crate) use crate::q8::{Q8Block, QK};

/// The 8-bit scale of a block and its inverse: `d = max|x| / 127`
/// (ggml's `quantize_row_q8_0`), `1/d` or 0 for an all-zero block.
#[inline(always)]
pub(crate) fn block_scale(chunk: &[f32]) -> (f32, f32) {
    let d = crate::int8::abs_max(chunk) / 127.0;
    (d, if d > 0.0 { 1.0 / d } else { 0.0 })
}

/// Quantizes `x` (a whole number of blocks) into `out`, block by block:
/// `d = max|x| / 127`, `q = round(x / d)`, and `d` and `s` rounded to `f16`
/// as ggml stores them (`quantize_row_q8_0`/`q8_1`), so that products
/// follow llama.cpp's arithmetic.
#[inline(always)]
pub(crate) fn quantize_into(x: &[f32], out: &mut Vec<Q8Block>) {
    for chunk in x.chunks_exact(QK) {
        let (d, id) = block_scale(chunk);
        let (q, sum, h) = round_run(chunk, id);
        out.push(Q8Block {
            d: f16::from_f32(d).to_f32(),
            s: f16::from_f32(d * sum as f32).to_f32(),
            q,
            h,
        });
    }
}

/// 32 values times `id` (the inverse of their scale), rounded to bytes, the
/// bytes' sum and its halves' sums packed ([`Q8Block::h`]). `id` comes from
/// the largest magnitude among these values (or a superblock holding them),
/// so `|v · id| ≤ 127` and the cast never saturates.
#[inline(always)]
fn round_run(run: &[f32], id: f32) -> ([i8; QK], i32, i32) {
    let mut q = [0i8; QK];
    let mut halves = [0i32; 2];
    for (i, (q, &v)) in q.iter_mut().zip(run).enumerate() {
        *q = (v * id).round() as i8;
        halves[i / (QK / 2)] += i32::from(*q);
    }
    (q, halves[0] + halves[1], (halves[0] & 0xFFFF) | (halves[1] << 16))
}

/// Values that share one activation scale in the k-quant products: one
/// k-quant block.
pub(crate) const QK_SUPER: usize = 256;

/// Quantizes `x` (a whole number of 256-value superblocks) with one scale
/// per superblock, as llama.cpp does for k-quant products (ggml's `Q8_K`):
/// each of a superblock's eight blocks carries the same `d = max|x| / 127`
/// (kept in `f32`, as `Q8_K` keeps it), so that a kernel may sum a k-quant
/// block's eight runs in integers, weighted by the block's integer scales,
/// before one float multiply. `s = d · Σ q` stays per block of 32.
#[inline(always)]
pub(crate) fn quantize_superblocks_into(x: &[f32], out: &mut Vec<Q8Block>) {
    for chunk in x.chunks_exact(QK_SUPER) {
        let (d, id) = block_scale(chunk);
        for run in chunk.chunks_exact(QK) {
            let (q, sum, h) = round_run(run, id);
            out.push(Q8Block {
                d,
                s: d * sum as f32,
                q,
                h,
            });
        }
    }
}

/// [`quantize_superblocks_into`] where `per_superblock` (the k-quant types'
/// products), else [`quantize_into`].
#[inline(always)]
pub(crate) fn quantize_for(x: &[f32], per_superblock: bool, out: &mut Vec<Q8Block>) {
    if per_superblock {
        quantize_superblocks_into(x, out)
    } else {
        quantize_into(x, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_within_half_a_step() {
        let x: Vec<f32> = (0..64).map(|i| ((i * 37) % 23) as f32 - 11.5).collect();
        let mut blocks = Vec::new();
        quantize_into(&x, &mut blocks);
        assert_eq!(blocks.len(), 2);
        for (b, chunk) in blocks.iter().zip(x.chunks_exact(QK)) {
            for (&q, &v) in b.q.iter().zip(chunk) {
                // Half a step, plus the scale's rounding to f16 (2^-11 × |q| ≤ 127).
                assert!((f32::from(q) * b.d - v).abs() <= b.d * (0.5 + 127.0 / 2048.0) + 1e-6);
            }
            let sum: f32 = b.q.iter().map(|&q| f32::from(q)).sum::<f32>() * b.d;
            assert!((b.s - sum).abs() <= sum.abs() / 1024.0 + 1e-4);
        }
    }

    #[test]
    fn a_superblock_shares_one_scale() {
        let x: Vec<f32> = (0..512)
            .map(|i| ((i * 37) % 23) as f32 / (1.0 + (i / 32) as f32) - 5.0)
            .collect();
        let mut blocks = Vec::new();
        quantize_superblocks_into(&x, &mut blocks);
        assert_eq!(blocks.len(), 16);
        for (sup, chunk) in blocks.chunks_exact(8).zip(x.chunks_exact(QK_SUPER)) {
            let d = chunk.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            for (b, run) in sup.iter().zip(chunk.chunks_exact(QK)) {
                assert_eq!(b.d, d);
                for (&q, &v) in b.q.iter().zip(run) {
                    assert!((f32::from(q) * d - v).abs() <= d * 0.5 + 1e-6);
                }
                let sum: i32 = b.q.iter().map(|&q| i32::from(q)).sum();
                assert_eq!(b.s, d * sum as f32);
                let half = |h: &[i8]| h.iter().map(|&q| i32::from(q)).sum::<i32>();
                assert_eq!(i32::from(b.h as i16), half(&b.q[..16]), "first half's sum, low bits");
                assert_eq!(b.h >> 16, half(&b.q[16..]), "second half's sum, high bits");
            }
        }
    }

    #[test]
    fn zero_block_has_zero_scale() {
        let mut blocks = Vec::new();
        quantize_into(&[0.0; QK], &mut blocks);
        assert_eq!(blocks[0].d, 0.0);
        assert!(blocks[0].q.iter().all(|&q| q == 0));
    }
}
