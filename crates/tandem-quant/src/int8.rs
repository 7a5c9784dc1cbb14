//! Dense matrices quantized per output row to 8 bits, multiplied with
//! activations quantized per input row to 7 bits: the product for many
//! input rows at once (an encoder's whole text), where [`QMatrix`]'s
//! block layout is built for one.
//!
//! A ggml block carries its own scale every 32 values, so each block of
//! each (weight row, input row) pair ends in a float multiply-add. Here a
//! weight row has one scale and an input row has one scale and one offset,
//! so a whole dot product is integer work and the scales are applied once
//! per output.
//!
//! The activations are unsigned 7-bit codes, `x ≈ min + d·q` with
//! `q ∈ 0..=127`, because that is what the fastest 8-bit instructions
//! multiply: `vpdpbusd` (AVX-VNNI) and `vpmaddubsw` (AVX2) take unsigned
//! bytes times signed bytes, and relaxed SIMD's
//! `i32x4.relaxed_dot_i8x16_i7x16_add_s` gives the same answer on every CPU
//! only when one side's top bit is clear. Two products of a code and a
//! weight byte sum to at most 2 · 127 · 128 = 32,512, inside the `i16`
//! where `vpmaddubsw` saturates. So `Σ w·x ≈ d·Σ w·q + min·Σ w`, with
//! `Σ w` kept per weight row. Seven bits per token with its own range is
//! the precision of PyTorch's and fbgemm's dynamic quantization with
//! `reduce_range` (for the same saturation); docs/shield.md measures what it
//! does to the shield and the router.
//!
//! Every kernel computes the same integer sums, so all of them give the
//! same outputs to the bit. The sums are computed in tiles of 2 weight rows
//! × 4 input rows ([`int8_tiles.rs`](../int8_tiles.rs), shared with the
//! relaxed-SIMD module that the browser build loads beside itself).
//!
//! [`QMatrix`]: crate::QMatrix

use crate::error::QuantError;

/// Values per step of the kernels; rows are zero-padded to a multiple
/// (a 256-bit vector of bytes).
pub(crate) const STEP: usize = 32;

/// The largest activation code: 7 bits (see the module's documentation).
const CODE_MAX: f32 = 127.0;

/// The longest row whose integer sums cannot overflow an `i32`:
/// `cols · 128 · 127 < 2³¹`.
pub const MAX_COLS: usize = (i32::MAX as usize) / (128 * 127);

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

/// The smallest and largest `x` of `row`, in eight lanes of plain
/// comparisons so that it vectorizes (`f32::min`/`max` are libm calls in
/// wasm). NaNs are skipped; an empty or all-NaN row gives `(0, 0)`.
pub(crate) fn min_max(row: &[f32]) -> (f32, f32) {
    let mut lo = [f32::INFINITY; 8];
    let mut hi = [f32::NEG_INFINITY; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(chunk) {
            *l = if v < *l { v } else { *l };
            *h = if v > *h { v } else { *h };
        }
    }
    let (mut a, mut b) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in lo.iter().chain(tail) {
        a = if v < a { v } else { a };
    }
    for &v in hi.iter().chain(tail) {
        b = if v > b { v } else { b };
    }
    if a > b { (0.0, 0.0) } else { (a, b) }
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
    /// Per row, the sum of its values: what an activation offset adds.
    sums: Vec<i32>,
}

impl std::fmt::Debug for Int8Matrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Int8Matrix")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish_non_exhaustive()
    }
}

/// Input rows quantized for [`Int8Matrix::matmul`]: 7-bit codes, zero-padded
/// to the matrix's stride, and per row `x ≈ min + scale · code`.
pub(crate) struct Int7Rows {
    pub(crate) codes: Vec<u8>,
    pub(crate) scales: Vec<f32>,
    pub(crate) mins: Vec<f32>,
}

impl Int8Matrix {
    /// Quantizes dense `f32` rows (row-major, `rows × cols`): each row
    /// to `round(w / d)` with `d = max |w| / 127`. Refuses an empty shape,
    /// a length that does not match, rows longer than [`MAX_COLS`] and
    /// non-finite values.
    pub fn quantize(values: &[f32], rows: usize, cols: usize) -> Result<Self, QuantError> {
        if rows == 0 || cols == 0 || cols > MAX_COLS || values.len() != rows * cols {
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
        let mut sums = Vec::with_capacity(rows);
        for (row, out) in values.chunks_exact(cols).zip(q.chunks_exact_mut(stride)) {
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            for (o, &v) in out.iter_mut().zip(row) {
                // |v · id| ≤ 127 by construction.
                *o = (v * id).round() as i8;
            }
            scales.push(d);
            sums.push(out.iter().map(|&v| i32::from(v)).sum());
        }
        Ok(Self {
            rows,
            cols,
            stride,
            values: q,
            scales,
            sums,
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
            sums: parts.iter().flat_map(|p| p.sums.iter().copied()).collect(),
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

    /// Bytes held: the values, the scales and the row sums.
    pub fn bytes(&self) -> usize {
        self.values.len() + 4 * self.scales.len() + 4 * self.sums.len()
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

    /// All rows' values, each padded to the stride.
    #[inline(always)]
    pub(crate) fn values(&self) -> &[i8] {
        &self.values
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
            |first, out| {
                let mut sums = vec![0i32; out.len()];
                crate::simd::int8_sums_into(self, &acts, first, &mut sums);
                self.scale_sums(&acts, first, &sums, out);
            },
        ))
    }

    /// The outputs of input rows `first..` from their integer sums:
    /// `d_w · (d_x · Σ w·q + min_x · Σ w)`.
    pub(crate) fn scale_sums(&self, acts: &Int7Rows, first: usize, sums: &[i32], out: &mut [f32]) {
        for (t, (outs, sums)) in out
            .chunks_exact_mut(self.rows)
            .zip(sums.chunks_exact(self.rows))
            .enumerate()
        {
            let (d, min) = (acts.scales[first + t], acts.mins[first + t]);
            for (((o, &s), &wd), &ws) in outs.iter_mut().zip(sums).zip(&self.scales).zip(&self.sums) {
                *o = wd * (d * s as f32 + min * ws as f32);
            }
        }
    }

    /// Each input row as 7-bit codes over its own range:
    /// `q = round((x − min) / d)` with `d = (max − min) / 127`.
    pub(crate) fn quantize_rows(&self, x: &[f32], m: usize) -> Int7Rows {
        let mut codes = vec![0u8; m * self.stride];
        let mut scales = Vec::with_capacity(m);
        let mut mins = Vec::with_capacity(m);
        for (row, out) in x.chunks_exact(self.cols).zip(codes.chunks_exact_mut(self.stride)) {
            let (min, max) = min_max(row);
            let d = (max - min) / CODE_MAX;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            for (o, &v) in out.iter_mut().zip(row) {
                // Ties to even: one instruction in wasm and on x86, where
                // `round` is a libm call. Through `i32`, which vectorizes
                // (`i32x4.trunc_sat_f32x4_s`); the clamp keeps a code in
                // range whatever the rounding, and a NaN becomes 0 (casts
                // saturate), never undefined behaviour.
                *o = ((v - min) * id).round_ties_even().clamp(0.0, CODE_MAX) as i32 as u8;
            }
            scales.push(d);
            mins.push(min);
        }
        Int7Rows { codes, scales, mins }
    }

    /// The integer sums of input rows `first..` with every weight row, in
    /// plain Rust: the reference the SIMD tiles are held to, and the
    /// kernel of other CPUs.
    pub(crate) fn sums_portable(&self, acts: &Int7Rows, first: usize, out: &mut [i32]) {
        let s = self.stride;
        for (t, outs) in out.chunks_exact_mut(self.rows).enumerate() {
            let a = &acts.codes[(first + t) * s..(first + t + 1) * s];
            for (row, o) in self.values.chunks_exact(s).zip(outs) {
                *o = row.iter().zip(a).map(|(&w, &x)| i32::from(w) * i32::from(x)).sum();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_row_keeps_sums_inside_an_i32() {
        let stride = MAX_COLS.div_ceil(STEP) * STEP;
        // The padding is zeros: only `MAX_COLS` products count.
        assert!(MAX_COLS as i64 * 128 * 127 <= i64::from(i32::MAX), "{stride}");
        assert!(Int8Matrix::quantize(&vec![0.5; MAX_COLS + 1], 1, MAX_COLS + 1).is_err());
    }

    #[test]
    fn activations_use_their_whole_range_and_zero_is_exact_enough() {
        let w = Int8Matrix::quantize(&[1.0; 4], 1, 4).unwrap();
        let a = w.quantize_rows(&[-1.0, 0.0, 0.5, 3.0, 2.0, 2.0, 2.0, 2.0], 2);
        assert_eq!(a.codes[..4], [0, 32, 48, 127]);
        assert!(a.codes[4..STEP].iter().all(|&q| q == 0), "padding");
        assert_eq!((a.mins[0], a.scales[0]), (-1.0, 4.0 / 127.0));
        // A constant row has no range: every code 0, the value is the offset.
        assert_eq!((a.mins[1], a.scales[1]), (2.0, 0.0));
        assert_eq!(w.matmul(&[2.0; 4], 1).unwrap(), [8.0]);
        assert_eq!(min_max(&[f32::NAN, 1.0, -2.0]), (-2.0, 1.0));
        assert_eq!(min_max(&[]), (0.0, 0.0));
    }

    #[test]
    fn rows_are_padded_with_zeros_and_dequantize_to_their_shape() {
        let w = Int8Matrix::quantize(&[1.0, -0.5, 0.25, 2.0, 0.0, -2.0], 2, 3).unwrap();
        assert_eq!((w.rows(), w.cols(), w.stride()), (2, 3, STEP));
        let (r0, r1) = w.values().split_at(STEP);
        assert!(r0[3..].iter().all(|&q| q == 0));
        assert_eq!(r0[..3], [127, -64, 32]);
        assert_eq!(r1[..3], [127, 0, -127]);
        assert_eq!(w.sums, [95, 0]);
        let d = w.dequantize();
        assert_eq!(d.len(), 6);
        assert!((d[1] + 0.5).abs() < 1.0 / 127.0);
    }
}
