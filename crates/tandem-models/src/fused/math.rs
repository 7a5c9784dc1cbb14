//! `exp` and `erf` in a few multiply-adds, so that the loops of the fused
//! passes (softmax, SiLU, GELU) vectorize.
//!
//! In wasm `f32::exp` and `erf` are calls into a software libm, one value
//! at a time, and a profile of the encoder in Chromium put them at an
//! eighth of the pass. These are branch-free polynomials that LLVM inlines
//! and vectorizes (`f32x4.nearest`, `i32x4.trunc_sat_f32x4_s`).

/// `e^x` to within 2 ulp for `x` in `[-87, 88]` (Cephes' `expf`: `x` is
/// `n·ln 2 + r` with `|r| ≤ ln 2 / 2`, a degree-6 polynomial gives `e^r`,
/// and `2^n` is built from the exponent bits). Inputs outside are clamped:
/// `e^x` for `x < -87` gives about `1.6e-38` instead of something smaller,
/// and NaN gives NaN-free garbage, never a panic.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
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
    let n = (x * LOG2_E).round_ties_even();
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
pub(crate) fn max(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// Replaces `scores` by their softmax, `e^(s − max) / Σ e^(s − max)`.
///
/// Three passes that each vectorize: the maximum and the sum are kept in
/// eight lanes (a single running value is one dependent operation after
/// another, which LLVM may not reorder for floats), and the exponentials
/// are a plain map.
pub(crate) fn softmax(scores: &mut [f32]) {
    let max = lanes(scores, f32::NEG_INFINITY, max);
    scores.iter_mut().for_each(|s| *s = exp(*s - max));
    let inv = 1.0 / lanes(scores, 0.0, |a, b| a + b);
    scores.iter_mut().for_each(|s| *s *= inv);
}

/// `xs` folded by `f` in eight independent lanes, then the lanes folded.
#[inline(always)]
fn lanes(xs: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(init, |a, &x| f(a, x));
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = f(*a, x);
        }
    }
    acc.iter().fold(tail, |a, &x| f(a, x))
}

/// `erf(x)` as a rational function of `x²` on `[-4, 4]` (Eigen's and XLA's
/// `f32` approximation; `|erf(x)| > 1 − 2e-8` beyond, which rounds to 1):
/// one division and eleven multiply-adds, half the work of an `exp`-based
/// form, and branch-free so that it vectorizes.
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    #[allow(clippy::manual_clamp)] // comparisons, not libm calls (see `exp`)
    let x = if x < -4.0 {
        -4.0
    } else if x > 4.0 {
        4.0
    } else {
        x
    };
    let x2 = x * x;
    let mut p = -2.726_142_3e-10;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_6e-3;
    p = p * x2 - 1.609_603_3e-2;
    let mut q = -1.456_607_2e-5;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_473_9e-2;
    x * p / q
}

/// Exact (erf) GELU, `x · Φ(x)`, as `transformers`' `gelu`.
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
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
    fn erf_and_gelu_are_within_their_bounds() {
        for i in -10_000..=10_000 {
            let x = i as f32 / 1000.0;
            let (got, want) = (erf(x), libm::erff(x));
            assert!((got - want).abs() <= 1e-6, "erf({x}): {got} vs {want}");
            let g = 0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2));
            assert!((gelu(x) - g).abs() <= 1e-6 * (1.0 + x.abs()), "gelu({x})");
        }
        assert!(erf(0.0).abs() <= 1e-6 && gelu(0.0) == 0.0);
        assert_eq!(erf(-3.0), -erf(3.0));
    }
}
