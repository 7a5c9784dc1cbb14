//! `exp` and softmax in a few multiply-adds, so that loops over logits and
//! attention scores vectorize, natively and in wasm.
//!
//! In wasm `f32::exp` is a call into a software libm, one value at a time,
//! and natively an `f64` `exp` over a 151,936-entry vocabulary cost about
//! 2 % of a decode step of Qwen2.5-Coder-1.5B. These are branch-free
//! polynomials that LLVM inlines and vectorizes. The model passes
//! (`tandem-models`), the sampler and the answer's confidence share them.

/// `v` rounded to the nearest integer, ties to even, for `|v| < 2²²`: adding
/// and subtracting 1.5·2²³ leaves no fraction bits. `f32::round_ties_even`
/// is a call to libm's `rintf` on x86-64 without SSE4.1 (the default
/// target), which stopped the SiLU loop from vectorizing and cost 1.2 % of
/// a decode step by itself.
#[inline(always)]
fn round(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// `e^x` to within 2 ulp for `x` in `[-87, 88]` (Cephes' `expf`: `x` is
/// `n·ln 2 + r` with `|r| ≤ ln 2 / 2`, a degree-6 polynomial gives `e^r`,
/// and `2^n` is built from the exponent bits). Inputs outside are clamped:
/// `e^x` for `x < -87` gives about `1.6e-38` instead of something smaller.
/// NaN gives NaN, never a panic.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that `n · LN2_HI` is exact for the n that occur.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Comparisons, not `clamp`: in wasm `f32::max`/`min` are libm calls
    // (their NaN rules differ from `f32x4.max`), which stop vectorization.
    #[allow(clippy::manual_clamp)]
    let x = if x < -87.0 {
        -87.0
    } else if x > 88.0 {
        88.0
    } else {
        x
    };
    let n = round(x * LOG2_E);
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // n ∈ [-126, 127] after the clamp: a normal power of two.
    f32::from_bits(((n as i32 + 127) as u32) << 23) * y
}

/// The larger of `a` and `b` by one comparison (`f32x4.pmax` when
/// vectorized; `f32::max` is a libm call in wasm). With a NaN, `b`.
#[inline(always)]
pub fn max(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// Replaces `scores` by their softmax, `e^(s − max) / Σ e^(s − max)`.
///
/// Three passes that each vectorize: the maximum and the sum are kept in
/// eight lanes (a single running value is one dependent operation after
/// another, which LLVM may not reorder for floats), and the exponentials
/// are a plain map.
pub fn softmax(scores: &mut [f32]) {
    let max = lanes(scores, f32::NEG_INFINITY, |s| s, max);
    scores.iter_mut().for_each(|s| *s = exp(*s - max));
    let inv = 1.0 / sum_of(scores, |s| s);
    scores.iter_mut().for_each(|s| *s *= inv);
}

/// `xs`, each mapped by `map`, folded by `fold` in eight independent lanes,
/// then the lanes folded.
#[inline(always)]
fn lanes(xs: &[f32], init: f32, map: impl Fn(f32) -> f32, fold: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(init, |a, &x| fold(a, map(x)));
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = fold(*a, map(x));
        }
    }
    acc.iter().fold(tail, |a, &x| fold(a, x))
}

/// The largest finite logit `m` and `ln Σ e^(l − m)` over the finite
/// `logits` (so `m` plus it is their log-sum-exp); `None` when no logit is
/// finite. Summed in `f32` over eight lanes: each term is at most 1 and
/// the sum at least 1, and a 151,936-entry vocabulary stays within 1e-4 of
/// the `f64` sum (tested).
pub fn log_sum_exp(logits: &[f32]) -> Option<(f32, f32)> {
    let max = finite_max(logits)?;
    let z = sum_of(logits, |l| exp(finite_or(l - max, -100.0)));
    Some((max, z.ln()))
}

/// The largest finite value of `xs`, if any.
pub fn finite_max(xs: &[f32]) -> Option<f32> {
    let m = lanes(xs, f32::NEG_INFINITY, |x| finite_or(x, f32::NEG_INFINITY), max);
    m.is_finite().then_some(m)
}

/// `x`, or `other` when `x` is infinite or NaN (a bit test that vectorizes).
#[inline(always)]
pub fn finite_or(x: f32, other: f32) -> f32 {
    if x.to_bits() & 0x7f80_0000 != 0x7f80_0000 {
        x
    } else {
        other
    }
}

/// `Σ f(x)` over `xs`, kept in eight lanes so that it vectorizes.
#[inline(always)]
pub fn sum_of(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    lanes(xs, 0.0, f, |a, b| a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        for i in -87_000..=88_000 {
            let x = i as f32 / 1000.0;
            let (got, want) = (exp(x), libm::expf(x));
            assert!(
                (got - want).abs() <= 2.0 * f32::EPSILON * want,
                "exp({x}): {got} vs {want}"
            );
        }
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 2e-38 && exp(-1000.0) >= 0.0);
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_the_order() {
        for len in [1, 7, 8, 9, 45, 100] {
            let mut s: Vec<f32> = (0..len).map(|i| ((i * 37 % 11) as f32 - 5.0) * 1.7).collect();
            let want: Vec<f32> = {
                let max = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = s.iter().map(|x| libm::expf(x - max)).collect();
                let sum: f32 = e.iter().sum();
                e.iter().map(|x| x / sum).collect()
            };
            softmax(&mut s);
            for (got, want) in s.iter().zip(&want) {
                assert!((got - want).abs() <= 1e-6, "{len}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        for (v, want) in [
            (0.5, 0.0),
            (1.5, 2.0),
            (2.5, 2.0),
            (-0.5, 0.0),
            (-1.5, -2.0),
            (126.7, 127.0),
            (-125.2, -125.0),
        ] {
            assert_eq!(round(v), want, "{v}");
        }
    }

    #[test]
    fn log_sum_exp_skips_what_is_not_finite() {
        let xs: Vec<f32> = (0..151_936).map(|i| ((i * 7919 % 1000) as f32) / 50.0 - 10.0).collect();
        let max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let want = f64::from(max) + xs.iter().map(|&x| f64::from(x - max).exp()).sum::<f64>().ln();
        let (m, lse) = log_sum_exp(&xs).unwrap();
        assert_eq!(m, max);
        assert!((f64::from(m + lse) - want).abs() < 1e-4, "{} vs {want}", m + lse);
        let (_, one) = log_sum_exp(&[f32::NAN, 3.0, f32::INFINITY, f32::NEG_INFINITY]).unwrap();
        assert!(one.abs() < 1e-6, "only the finite 3.0 counts: {one}");
        assert_eq!(log_sum_exp(&[f32::NAN, f32::NEG_INFINITY]), None);
        assert_eq!(log_sum_exp(&[]), None);
    }
}
