//! `y = x · Wᵀ` with `W` quantized: activations are quantized to 8-bit
//! blocks once, then every weight row is read once for all `m` input rows
//! (a speculative draft of `k` tokens costs one pass over the weights, not
//! `k`), rows split across threads with the `parallel` feature.

use crate::activation::{Q8Block, QK};
use crate::dot::{self, BlockKernel};
use crate::error::QuantError;
use crate::matrix::QMatrix;
use tandem_gguf::GgmlType;

impl QMatrix {
    /// `y = x · Wᵀ`: `x` holds `m` rows of [`QMatrix::cols`] values, the
    /// result `m` rows of [`QMatrix::rows`] values, both row-major.
    ///
    /// Activations are quantized to 8 bits per block of 32, or with one
    /// scale per 256 for the k-quant types (as llama.cpp does: `Q8_K`), so
    /// results differ from the `f32` reference by that rounding: about
    /// 0.5 % of the output's scale.
    pub fn matmul(&self, x: &[f32], m: usize) -> Result<Vec<f32>, QuantError> {
        let cols = self.cols();
        if x.len() != m * cols || m == 0 {
            return Err(QuantError::InputShape { m, cols, got: x.len() });
        }
        let yt = match self.ty() {
            GgmlType::Q8_0 => self.product::<dot::Q8_0>(x, m),
            GgmlType::Q4_0 => self.product::<dot::Q4_0>(x, m),
            GgmlType::Q4_1 => self.product::<dot::Q4_1>(x, m),
            GgmlType::Q5_0 => self.product::<dot::Q5_0>(x, m),
            GgmlType::Q4_K => self.product::<dot::KQuant<dot::Q4K>>(x, m),
            GgmlType::Q5_K => self.product::<dot::KQuant<dot::Q5K>>(x, m),
            GgmlType::Q6_K => self.product::<dot::Q6K>(x, m),
            other => return Err(QuantError::Unsupported(other)),
        };
        Ok(transpose(&yt, self.rows(), m))
    }

    /// `yᵀ`, `[rows, m]`: the activations quantized as `K`'s products read
    /// them, then the rows shared among threads ([`crate::threads::by_rows`]).
    fn product<K: BlockKernel>(&self, x: &[f32], m: usize) -> Vec<f32> {
        let mut acts = Vec::with_capacity(x.len() / QK);
        crate::simd::quantize(x, K::SHARED_SCALE, &mut acts);
        let acts = &acts[..];
        crate::threads::by_rows(self.rows(), m, self.bytes() * m, |first, out| {
            crate::simd::rows_into::<K>(self, first, out, acts, m)
        })
    }

    /// Rows `first..` into `out` (`m` values per row), portably: each block
    /// is unpacked once and dotted with all `m` activation rows. The SIMD
    /// kernels in `simd.rs` do the same with vector accumulators.
    #[inline(always)]
    pub(crate) fn rows_portable<K: BlockKernel>(&self, first: usize, out: &mut [f32], acts: &[Q8Block], m: usize) {
        let per_row = self.cols() / QK;
        for (i, sums) in out.chunks_exact_mut(m).enumerate() {
            sums.fill(0.0);
            let row = self.row(first + i);
            for (b, block) in row.chunks_exact(K::BYTES).enumerate() {
                let w = K::unpack(block);
                for (j, sum) in sums.iter_mut().enumerate() {
                    let start = j * per_row + b * K::ACTS;
                    let mut products = 0f32;
                    let rest = K::products(&w, &acts[start..start + K::ACTS], dot::widen_f16, |w, q, lo, hi| {
                        products += lo * dot::dot_i8::<16>(&w[..16], &q[..16]) as f32
                            + hi * dot::dot_i8::<16>(&w[16..], &q[16..]) as f32;
                    });
                    *sum += products + rest;
                }
            }
        }
    }
}

/// `y` (`[m, rows]`) from `yt` (`[rows, m]`), as the kernels write it.
pub(crate) fn transpose(yt: &[f32], rows: usize, m: usize) -> Vec<f32> {
    if m == 1 {
        return yt.to_vec();
    }
    let mut y = vec![0f32; m * rows];
    for (r, col) in yt.chunks_exact(m).enumerate() {
        for (i, &v) in col.iter().enumerate() {
            y[i * rows + r] = v;
        }
    }
    y
}
