//! `erf` and GELU in a few multiply-adds, so that the encoder's loops
//! vectorize; `exp` and softmax are `tandem_decoding::math`'s, shared with
//! the sampler.
//!
//! In wasm `erf` is a call into a software libm, one value at a time, and a
//! profile of the encoder in Chromium put it and `exp` at an eighth of the
//! pass.

pub(crate) use tandem_decoding::math::{exp, softmax};

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
