//! Rotary position embeddings: frequencies (with scaling) and cos/sin tables.

use crate::config::RopeScaling;
use std::f32::consts::PI;

/// Inverse frequencies of RoPE, one per pair of head dimensions, computed in
/// `f32` the way `transformers` computes them (so logits match closely).
pub(crate) fn inv_freq(head_dim: usize, theta: f32, scaling: &RopeScaling) -> Vec<f32> {
    let half = head_dim / 2;
    let base: Vec<f32> = (0..half)
        .map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32))
        .collect();
    match scaling {
        RopeScaling::None => base,
        RopeScaling::Linear { factor } => base.iter().map(|f| f / factor).collect(),
        RopeScaling::Factors(divisors) => base.iter().zip(divisors).map(|(f, d)| f / d).collect(),
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position,
        } => {
            let low_wavelen = original_max_position / low_freq_factor;
            let high_wavelen = original_max_position / high_freq_factor;
            base.iter()
                .map(|&f| {
                    let wavelen = 2.0 * PI / f;
                    if wavelen < high_wavelen {
                        f
                    } else if wavelen > low_wavelen {
                        f / factor
                    } else {
                        let smooth =
                            (original_max_position / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                })
                .collect()
        }
    }
}

/// `cos` and `sin` of every (position, frequency) pair for positions
/// `start..start + len`, row-major `[len, head_dim / 2]`.
pub(crate) fn tables(inv_freq: &[f32], start: usize, len: usize) -> (Vec<f32>, Vec<f32>) {
    let mut cos = Vec::with_capacity(len * inv_freq.len());
    let mut sin = Vec::with_capacity(len * inv_freq.len());
    for p in start..start + len {
        for &f in inv_freq {
            let angle = p as f32 * f;
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    (cos, sin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_frequencies_and_tables() {
        let f = inv_freq(4, 10_000.0, &RopeScaling::None);
        assert_eq!(f, vec![1.0, 0.01]);
        let (cos, sin) = tables(&f, 1, 2);
        assert!((cos[0] - 1f32.cos()).abs() < 1e-7 && (sin[2] - 2f32.sin()).abs() < 1e-7);
    }

    #[test]
    fn llama3_keeps_high_and_scales_low_frequencies() {
        let s = RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position: 8192.0,
        };
        let plain = inv_freq(128, 500_000.0, &RopeScaling::None);
        let scaled = inv_freq(128, 500_000.0, &s);
        assert_eq!(scaled[0], plain[0]);
        assert!((scaled[63] - plain[63] / 8.0).abs() < 1e-12);
    }
}
