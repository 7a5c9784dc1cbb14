//! Dense matrices quantized per output row to 8 bits, multiplied with
//! activations quantized per input row to 14 bits: the product for many
//! input rows at once (an encoder's whole text), where [`QMatrix`]'s
//! block layout is built for one.
//!
//! A ggml block carries its own scale every 32 values, so each block of
//! each (weight row, input row) pair ends in a float multiply-add. Here a
//! weight row has one scale and an input row has one, so a whole dot
//! product is integer work (`i8` weights widened to `i16`, times `i16`
//! activations, summed in `i32`: `pmaddwd` on x86, `i32x4.dot_i16x8_s` in
//! wasm) and the scales are applied once per output. The kernels keep a
//! tile of 2 weight rows × 4 input rows in registers while both stream by.
//!
//! Precision: weights are rounded to 1/127 of their row's largest value
//! (as PyTorch's and ONNX Runtime's dynamic quantization do), activations
//! to 1/8191 of their row's largest, which is far finer than the weights.
//!
//! [`QMatrix`]: crate::QMatrix

use crate::error::QuantError;

/// Values per step of the kernels; rows are zero-padded to a multiple.
pub(crate) const STEP: usize = 16;

/// Largest activation magnitude after quantization for rows of `stride`
/// values: 13 bits, fewer for rows so long that `stride · 127 · A` could
/// overflow an `i32` accumulator.
fn act_limit(stride: usize) -> f32 {
    let fits = i32::MAX as usize / (127 * stride.max(1));
    fits.min(8191) as f32
}

/// The largest `|x|` of `row`, in eight lanes of plain comparisons so that
/// it vectorizes (a single running maximum would be one comparison after
/// another, and `f32::max` is a libm call in wasm). NaNs are skipped.
pub(crate) fn abs_max(row: &[f32]) -> f32 {
    let max = |m: f32, v: f32| if v.abs() > m { v.abs() } else { m };
    let mut lanes = [0f32; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(0f32, |m, &v| max(m, v));
    for chunk in chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l = max(*l, v);
        }
    }
    lanes.iter().fold(tail, |m, &l| max(m, l))
}

/// A `[rows, cols]` matrix of `i8` values with one `f32` scale per row.
#[derive(Clone)]
pub struct Int8Matrix {
    rows: usize,
    cols: usize,
    /// `cols` rounded up to a multiple of [`STEP`].
    stride: usize,
    /// `rows × stride` values, each row zero-padded past `cols`.
    values: Vec<i8>,
    /// Per row, the value of one step: `max |w| / 127`.
    scales: Vec<f32>,
}

impl std::fmt::Debug for Int8Matrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Int8Matrix")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish_non_exhaustive()
    }
}

/// Input rows quantized for [`Int8Matrix::matmul`]: `i16` values, zero-padded
/// to the matrix's stride, and one scale per row.
pub(crate) struct Int16Rows {
    pub(crate) values: Vec<i16>,
    pub(crate) scales: Vec<f32>,
}

impl Int8Matrix {
    /// Quantizes dense `f32` rows (row-major, `rows × cols`): each row
    /// to `round(w / d)` with `d = max |w| / 127`. Refuses an empty shape,
    /// a length that does not match, and non-finite values.
    pub fn quantize(values: &[f32], rows: usize, cols: usize) -> Result<Self, QuantError> {
        if rows == 0 || cols == 0 || values.len() != rows * cols {
            return Err(QuantError::InputShape {
                m: rows,
                cols,
                got: values.len(),
            });
        }
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(QuantError::NonFinite { at });
        }
        let stride = cols.div_ceil(STEP) * STEP;
        let mut q = vec![0i8; rows * stride];
        let mut scales = Vec::with_capacity(rows);
        for (row, out) in values.chunks_exact(cols).zip(q.chunks_exact_mut(stride)) {
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            for (o, &v) in out.iter_mut().zip(row) {
                // |v · id| ≤ 127 by construction.
                *o = (v * id).round() as i8;
            }
            scales.push(d);
        }
        Ok(Self {
            rows,
            cols,
            stride,
            values: q,
            scales,
        })
    }

    /// The rows of `parts` one after another (a layer's query, key and
    /// value projections as one product); `None` unless all have the same
    /// width. Copies: this happens once, at load.
    pub fn stack(parts: &[&Int8Matrix]) -> Option<Self> {
        let first = parts.first()?;
        if parts.iter().any(|p| p.cols != first.cols) {
            return None;
        }
        Some(Self {
            rows: parts.iter().map(|p| p.rows).sum(),
            cols: first.cols,
            stride: first.stride,
            values: parts.iter().flat_map(|p| p.values.iter().copied()).collect(),
            scales: parts.iter().flat_map(|p| p.scales.iter().copied()).collect(),
        })
    }

    /// Number of rows (output features).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row (input features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes held: the values and the scales.
    pub fn bytes(&self) -> usize {
        self.values.len() + 4 * self.scales.len()
    }

    /// The whole matrix as `f32`, row-major: the reference the kernels are
    /// tested against.
    pub fn dequantize(&self) -> Vec<f32> {
        self.values
            .chunks_exact(self.stride)
            .zip(&self.scales)
            .flat_map(|(row, &d)| row[..self.cols].iter().map(move |&q| f32::from(q) * d))
            .collect()
    }

    /// Row `r`'s values, padded to the stride.
    #[inline(always)]
    pub(crate) fn row(&self, r: usize) -> &[i8] {
        &self.values[r * self.stride..(r + 1) * self.stride]
    }

    /// Row `r`'s scale.
    #[inline(always)]
    pub(crate) fn scale(&self, r: usize) -> f32 {
        self.scales[r]
    }

    /// Values per row as the kernels see them.
    #[inline(always)]
    pub(crate) fn stride(&self) -> usize {
        self.stride
    }

    /// `y = x · Wᵀ`: `x` holds `m` rows of [`Int8Matrix::cols`] values, the
    /// result `m` rows of [`Int8Matrix::rows`] values, both row-major.
    pub fn matmul(&self, x: &[f32], m: usize) -> Result<Vec<f32>, QuantError> {
        if m == 0 || x.len() != m * self.cols {
            return Err(QuantError::InputShape {
                m,
                cols: self.cols,
                got: x.len(),
            });
        }
        let acts = self.quantize_rows(x, m);
        // Tasks are runs of whole input rows, so that each writes its own
        // rows of `y` and no transpose follows.
        Ok(crate::threads::by_rows(
            m,
            self.rows,
            self.values.len() * m,
            |first, out| crate::simd::int8_rows_into(self, &acts, first, out),
        ))
    }

    /// Each input row as `i16` steps of `max |x| / A`, `A` from
    /// [`act_limit`].
    pub(crate) fn quantize_rows(&self, x: &[f32], m: usize) -> Int16Rows {
        let limit = act_limit(self.stride);
        let mut values = vec![0i16; m * self.stride];
        let mut scales = Vec::with_capacity(m);
        for (row, out) in x.chunks_exact(self.cols).zip(values.chunks_exact_mut(self.stride)) {
            let d = abs_max(row) / limit;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            for (o, &v) in out.iter_mut().zip(row) {
                // Ties to even: one instruction in wasm and on x86, where
                // `round` is a libm call. Through `i32`, which vectorizes
                // (`i32x4.trunc_sat_f32x4_s`); |v · id| ≤ 8191 for finite
                // rows, and a non-finite one gives a garbage row, never
                // undefined behaviour (casts saturate).
                *o = (v * id).round_ties_even() as i32 as i16;
            }
            scales.push(d);
        }
        Int16Rows { values, scales }
    }

    /// Input rows `first..` times every weight row into `out` ([`Int8Matrix::rows`]
    /// values per input row), in plain Rust: the reference the SIMD tiles
    /// are held to, and the kernel of other CPUs.
    pub(crate) fn rows_portable(&self, acts: &Int16Rows, first: usize, out: &mut [f32]) {
        let s = self.stride;
        for (t, outs) in out.chunks_exact_mut(self.rows).enumerate() {
            let a = &acts.values[(first + t) * s..(first + t + 1) * s];
            for (r, o) in outs.iter_mut().enumerate() {
                let dot: i32 = self
                    .row(r)
                    .iter()
                    .zip(a)
                    .map(|(&w, &x)| i32::from(w) * i32::from(x))
                    .sum();
                *o = dot as f32 * self.scale(r) * acts.scales[first + t];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_activation_limit_keeps_sums_inside_an_i32() {
        for stride in [16, 384, 1536, 4096, 1 << 20] {
            let limit = act_limit(stride) as i64;
            assert!((1..=8191).contains(&limit));
            assert!(stride as i64 * 127 * limit <= i64::from(i32::MAX), "{stride}");
        }
    }

    #[test]
    fn rows_are_padded_with_zeros_and_dequantize_to_their_shape() {
        let w = Int8Matrix::quantize(&[1.0, -0.5, 0.25, 2.0, 0.0, -2.0], 2, 3).unwrap();
        assert_eq!((w.rows(), w.cols(), w.stride()), (2, 3, STEP));
        assert!(w.row(0)[3..].iter().all(|&q| q == 0));
        assert_eq!(w.row(0)[..3], [127, -64, 32]);
        assert_eq!(w.row(1)[..3], [127, 0, -127]);
        let d = w.dequantize();
        assert_eq!(d.len(), 6);
        assert!((d[1] + 0.5).abs() < 1.0 / 127.0);
    }
}
