//! A weight matrix held in its ggml block layout.

use crate::activation::{QK, block_scale};
use crate::error::QuantError;
use crate::interleaved;
use half::f16;
use std::borrow::Cow;
use tandem_gguf::{Bytes, GgmlType};

/// A `[rows, cols]` matrix whose rows are runs of ggml blocks, exactly as a
/// GGUF file stores them: no value is ever widened to `f32` except the rows
/// a caller asks for ([`QMatrix::dequantize_row`]).
///
/// This is how Tandem keeps a 4-bit model at roughly its file size in memory
/// and reads each weight once per matrix product. The blocks are a shared
/// view ([`Bytes`]) of the file where the layout allows, so loading a model
/// copies no weight.
#[derive(Clone)]
pub struct QMatrix {
    ty: GgmlType,
    rows: usize,
    cols: usize,
    row_bytes: usize,
    layout: Layout,
    /// Runs of whole rows, in order: one, or one per part of a [`QMatrix::stack`].
    parts: Vec<Part>,
}

/// How a [`QMatrix`]'s blocks are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// As ggml stores them: each row's blocks in turn.
    Rows,
    /// `Q4_K`, `Q6_K`, `Q5_0` and `Q8_0`: the blocks of eight consecutive rows under each
    /// superblock stored together, as the x86 kernels read them fastest
    /// (`interleaved.rs`); every part's rows are a multiple of eight.
    Interleaved,
}

impl Layout {
    /// Whether this build has kernels that read [`Layout::Interleaved`]
    /// (x86-64's): elsewhere no matrix is interleaved, since the other
    /// kernels would only gather its rows back, and the browser's wasm
    /// carries none of it.
    pub const INTERLEAVED_KERNELS: bool = crate::simd::INTERLEAVED_KERNELS;
}

/// A run of whole rows of a [`QMatrix`].
#[derive(Clone)]
struct Part {
    rows: usize,
    data: Bytes,
}

impl std::fmt::Debug for QMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QMatrix")
            .field("ty", &self.ty)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl QMatrix {
    /// The element types with a fused kernel.
    pub const SUPPORTED: [GgmlType; 7] = [
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ];

    /// Byte offsets of the `f16` scales in one block of `ty` (empty for types
    /// without a kernel): where tools and tests that build blocks by hand
    /// put finite scales, since [`QMatrix::new`] refuses infinite or NaN ones.
    pub fn f16_fields(ty: GgmlType) -> &'static [usize] {
        match ty {
            GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q5_0 => &[0],
            GgmlType::Q4_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
            GgmlType::Q6_K => &[208],
            _ => &[],
        }
    }

    /// Takes `data`, `rows` rows of `cols` values of type `ty`, row-major:
    /// a `Vec<u8>`, or a [`Bytes`] view of a file, which is kept, not copied.
    /// Refuses a shape that does not match, and blocks whose scales are
    /// infinite or NaN.
    pub fn new(ty: GgmlType, rows: usize, cols: usize, data: impl Into<Bytes>) -> Result<Self, QuantError> {
        let data: Bytes = data.into();
        let row_bytes = Self::check(ty, rows, cols, &data, Layout::Rows)?;
        Ok(Self {
            ty,
            rows,
            cols,
            row_bytes,
            layout: Layout::Rows,
            parts: vec![Part { rows, data }],
        })
    }

    /// [`QMatrix::new`] for blocks already in [`Layout::Interleaved`] (as
    /// [`QMatrix::interleave_in_place`] left them). Refuses a type or row
    /// count that layout does not have (and every one in a build without
    /// [`Layout::INTERLEAVED_KERNELS`]), as well as what `new` refuses.
    pub fn new_interleaved(ty: GgmlType, rows: usize, cols: usize, data: impl Into<Bytes>) -> Result<Self, QuantError> {
        let data: Bytes = data.into();
        let row_bytes = Self::check(ty, rows, cols, &data, Layout::Interleaved)?;
        Ok(Self {
            ty,
            rows,
            cols,
            row_bytes,
            layout: Layout::Interleaved,
            parts: vec![Part { rows, data }],
        })
    }

    /// Rewrites `data`, `rows` rows of `cols` values of type `ty` in ggml's
    /// layout, into [`Layout::Interleaved`] in place, where this CPU's
    /// kernel reads that layout fastest and the type and row count have it
    /// (as [`QMatrix::into_fastest_layout`] decides): how a loader that
    /// owns a file's buffer avoids a second copy of its weights. Returns
    /// whether it did; refuses what [`QMatrix::new`] refuses, leaving
    /// `data` as it was.
    pub fn interleave_in_place(ty: GgmlType, rows: usize, cols: usize, data: &mut [u8]) -> Result<bool, QuantError> {
        let row_bytes = Self::check(ty, rows, cols, data, Layout::Rows)?;
        if !crate::simd::kernel().reads_interleaved() || Self::interleavable(ty, rows).is_err() {
            return Ok(false);
        }
        let supers = cols / ty.block_size();
        let stripe_bytes = interleaved::ROWS * row_bytes;
        crate::threads::by_chunks(data, stripe_bytes, |run| {
            let mut stripe = vec![0u8; stripe_bytes];
            for rows in run.chunks_exact_mut(stripe_bytes) {
                stripe.copy_from_slice(rows);
                interleaved::interleave(ty, &stripe, supers, rows);
            }
        });
        Ok(true)
    }

    /// Whether `rows` rows of `ty` have [`Layout::Interleaved`].
    fn interleavable(ty: GgmlType, rows: usize) -> Result<(), QuantError> {
        if Layout::INTERLEAVED_KERNELS && interleaved::TYPES.contains(&ty) && rows.is_multiple_of(interleaved::ROWS) {
            Ok(())
        } else {
            Err(QuantError::NotInterleavable { ty, rows })
        }
    }

    /// Checks `data` as `rows` rows of `cols` values of `ty` in `layout`
    /// and returns the bytes per row.
    fn check(ty: GgmlType, rows: usize, cols: usize, data: &[u8], layout: Layout) -> Result<usize, QuantError> {
        if !Self::SUPPORTED.contains(&ty) {
            return Err(QuantError::Unsupported(ty));
        }
        let block = ty.block_size();
        if cols == 0 || !cols.is_multiple_of(block) {
            return Err(QuantError::RowLength { ty, cols, block });
        }
        let row_bytes = cols / block * ty.block_bytes();
        let expected = rows.saturating_mul(row_bytes);
        if data.len() != expected {
            return Err(QuantError::DataLength {
                ty,
                rows,
                cols,
                expected,
                got: data.len(),
            });
        }
        // The kernels widen scales with a bit trick that has no infinities
        // or NaNs (`dot::widen_f16`); such a block holds no usable values anyway.
        let finite = |h: &[u8]| h[1] & 0x7C != 0x7C;
        let bad = match layout {
            Layout::Rows => {
                let fields = Self::f16_fields(ty);
                data.chunks_exact(ty.block_bytes())
                    .position(|b| fields.iter().any(|&i| !finite(&b[i..i + 2])))
            }
            Layout::Interleaved => {
                Self::interleavable(ty, rows)?;
                let scales = interleaved::f16_scales(ty);
                data.chunks_exact(interleaved::ROWS * ty.block_bytes())
                    .position(|g| g[scales.clone()].chunks_exact(2).any(|h| !finite(h)))
                    .map(|g| g * interleaved::ROWS)
            }
        };
        match bad {
            Some(block) => Err(QuantError::NonFiniteScale { ty, block }),
            None => Ok(row_bytes),
        }
    }

    /// The same values in the layout this CPU's kernel reads fastest:
    /// `Q4_K`, `Q6_K`, `Q5_0` and `Q8_0` rows interleaved in eights ([`Layout::Interleaved`]) where an
    /// x86 SIMD kernel runs and every part's rows are a multiple of eight,
    /// else `self` as it is. Interleaving copies the blocks (the file's
    /// bytes are no longer shared).
    pub fn into_fastest_layout(self) -> QMatrix {
        if crate::simd::kernel().reads_interleaved() {
            self.interleaved().unwrap_or(self)
        } else {
            self
        }
    }

    /// The same values as [`Layout::Interleaved`]; `None` unless the type
    /// is `Q4_K`, `Q6_K`, `Q5_0` or `Q8_0`, the layout [`Layout::Rows`], every part's rows a
    /// multiple of eight, and the build has kernels that read it
    /// ([`Layout::INTERLEAVED_KERNELS`]). Products on any kernel accept either layout.
    pub fn interleaved(&self) -> Option<QMatrix> {
        if self.layout != Layout::Rows || self.parts.iter().any(|p| Self::interleavable(self.ty, p.rows).is_err()) {
            return None;
        }
        let supers = self.cols / self.ty.block_size();
        let parts = self
            .parts
            .iter()
            .map(|p| {
                let mut data = vec![0u8; p.data.len()];
                let group_rows = interleaved::ROWS * self.row_bytes;
                for (rows, out) in p.data.chunks_exact(group_rows).zip(data.chunks_exact_mut(group_rows)) {
                    interleaved::interleave(self.ty, rows, supers, out);
                }
                Part {
                    rows: p.rows,
                    data: data.into(),
                }
            })
            .collect();
        Some(Self {
            layout: Layout::Interleaved,
            parts,
            ..self.clone()
        })
    }

    /// How the blocks are ordered.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Quantizes dense `f32` rows to `Q8_0` (ggml's `quantize_row_q8_0`:
    /// `d = max|x| / 127` per block of 32, stored as `f16`).
    pub fn quantize_q8_0(values: &[f32], rows: usize, cols: usize) -> Result<Self, QuantError> {
        if cols == 0 || !cols.is_multiple_of(QK) {
            return Err(QuantError::RowLength {
                ty: GgmlType::Q8_0,
                cols,
                block: QK,
            });
        }
        if values.len() != rows * cols {
            return Err(QuantError::InputShape {
                m: rows,
                cols,
                got: values.len(),
            });
        }
        let mut data = Vec::with_capacity(values.len() / QK * GgmlType::Q8_0.block_bytes());
        for chunk in values.chunks_exact(QK) {
            let (d, id) = block_scale(chunk);
            data.extend(f16::from_f32(d).to_bits().to_le_bytes());
            data.extend(chunk.iter().map(|&v| (v * id).round() as i8 as u8));
        }
        Self::new(GgmlType::Q8_0, rows, cols, data)
    }

    /// Random blocks of `ty`, reproducible from `seed`, whose `f16` scales
    /// are uniform in `±scale`: the one source of made-up weights for the
    /// kernels' tests, benchmarks, and models of a real shape whose file is
    /// not at hand (`tandem verify-curve --synthetic`).
    pub fn random(ty: GgmlType, rows: usize, cols: usize, seed: u64, scale: f32) -> Result<Self, QuantError> {
        if cols == 0 || !cols.is_multiple_of(ty.block_size()) {
            return Err(QuantError::RowLength {
                ty,
                cols,
                block: ty.block_size(),
            });
        }
        // xorshift64*: cheap, so that a model's gigabyte takes seconds.
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let mut data = vec![0u8; rows * cols / ty.block_size() * ty.block_bytes()];
        for chunk in data.chunks_mut(8) {
            let bytes = next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        for block in data.chunks_exact_mut(ty.block_bytes()) {
            for &at in Self::f16_fields(ty) {
                let unit = (next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                block[at..at + 2].copy_from_slice(&f16::from_f32(unit * scale).to_bits().to_le_bytes());
            }
        }
        Self::new(ty, rows, cols, data)
    }

    /// The rows of `parts` one after another: matrices that multiply the
    /// same input (a layer's query, key and value projections) become one
    /// product, which quantizes the input once and splits one pass over
    /// the rows among threads. The parts' blocks are shared, not copied.
    /// `None` unless all share a type, width and layout.
    pub fn stack(parts: &[&QMatrix]) -> Option<QMatrix> {
        let first = parts.first()?;
        if parts
            .iter()
            .any(|p| p.ty != first.ty || p.cols != first.cols || p.layout != first.layout)
        {
            return None;
        }
        Some(Self {
            ty: first.ty,
            rows: parts.iter().map(|p| p.rows).sum(),
            cols: first.cols,
            row_bytes: first.row_bytes,
            layout: first.layout,
            parts: parts.iter().flat_map(|p| p.parts.iter().cloned()).collect(),
        })
    }

    /// The rows `rows` of this matrix, in that order, as a new matrix in
    /// ggml's layout ([`Layout::Rows`]; the caller may then ask for
    /// [`QMatrix::into_fastest_layout`]): how a drafter's output head keeps
    /// only the tokens it may propose. The blocks are copied.
    pub fn select_rows(&self, rows: &[u32]) -> Result<QMatrix, QuantError> {
        if let Some(&bad) = rows.iter().find(|&&r| r as usize >= self.rows) {
            return Err(QuantError::Row {
                row: bad as usize,
                rows: self.rows,
            });
        }
        let mut data = Vec::with_capacity(rows.len() * self.row_bytes);
        for &r in rows {
            data.extend_from_slice(&self.row_blocks(r as usize));
        }
        Self::new(self.ty, rows.len(), self.cols, data)
    }

    /// The element type.
    pub fn ty(&self) -> GgmlType {
        self.ty
    }

    /// Number of rows (output features).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row (input features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes of blocks (shared with the file they were loaded from, if any).
    pub fn bytes(&self) -> usize {
        self.parts.iter().map(|p| p.data.len()).sum()
    }

    /// The raw blocks of row `r` ([`Layout::Rows`]: what the kernels that
    /// read a row at a time take).
    pub(crate) fn row(&self, r: usize) -> &[u8] {
        debug_assert_eq!(self.layout, Layout::Rows);
        let mut local = r;
        for part in &self.parts {
            if local < part.rows {
                return &part.data[local * self.row_bytes..(local + 1) * self.row_bytes];
            }
            local -= part.rows;
        }
        panic!("row {r} of a {}-row matrix", self.rows)
    }

    /// The raw blocks of rows `r..r + k` for the largest `k ≤ max` whose
    /// rows lie one after another (inside one stacked part), and `k`.
    pub(crate) fn rows_from(&self, r: usize, max: usize) -> (&[u8], usize) {
        let mut local = r;
        for part in &self.parts {
            if local < part.rows {
                let k = (part.rows - local).min(max);
                return (&part.data[local * self.row_bytes..(local + k) * self.row_bytes], k);
            }
            local -= part.rows;
        }
        panic!("row {r} of a {}-row matrix", self.rows)
    }

    /// Row `r` as ggml blocks in either layout: borrowed where the rows are
    /// ggml's, gathered from its groups where they are interleaved.
    pub(crate) fn row_blocks(&self, r: usize) -> Cow<'_, [u8]> {
        match self.layout {
            // (No matrix is interleaved in a build without the kernels: the
            // guard lets the browser's wasm leave the gathering out.)
            Layout::Interleaved if Layout::INTERLEAVED_KERNELS => {
                let first = r - r % interleaved::ROWS;
                let (groups, _) = self.rows_from(first, interleaved::ROWS);
                Cow::Owned(interleaved::row_of(self.ty, groups, r - first))
            }
            _ => Cow::Borrowed(self.row(r)),
        }
    }

    /// Row `r` widened to `f32` into `out` (`cols` long): how an embedding
    /// table is gathered without a dense copy.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) -> Result<(), QuantError> {
        if r >= self.rows {
            return Err(QuantError::Row {
                row: r,
                rows: self.rows,
            });
        }
        if out.len() != self.cols {
            return Err(QuantError::InputShape {
                m: 1,
                cols: self.cols,
                got: out.len(),
            });
        }
        let values = tandem_gguf::dequantize(self.ty, &self.row_blocks(r), self.cols)
            .map_err(|_| QuantError::Unsupported(self.ty))?;
        out.copy_from_slice(&values);
        Ok(())
    }

    /// The whole matrix widened to `f32`, row-major: the reference every
    /// kernel is tested against.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        for (r, row) in out.chunks_exact_mut(self.cols).enumerate() {
            // Every row has the length and type `new` checked.
            self.dequantize_row(r, row).expect("validated at construction");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selected_rows_hold_the_same_values_in_the_order_asked_in_either_layout() {
        for ty in [GgmlType::Q8_0, GgmlType::Q4_K] {
            let m = QMatrix::random(ty, 16, 256, 7, 0.5).unwrap();
            let picks = [13u32, 0, 5, 5, 15];
            for source in [Some(m.clone()), m.interleaved()].into_iter().flatten() {
                let picked = source.select_rows(&picks).unwrap();
                assert_eq!((picked.rows(), picked.cols(), picked.layout()), (5, 256, Layout::Rows));
                let (mut want, mut got) = (vec![0f32; 256], vec![0f32; 256]);
                for (i, &r) in picks.iter().enumerate() {
                    m.dequantize_row(r as usize, &mut want).unwrap();
                    picked.dequantize_row(i, &mut got).unwrap();
                    assert_eq!(got, want, "{ty:?} row {r}");
                }
            }
            assert_eq!(
                m.select_rows(&[3, 16]).unwrap_err(),
                QuantError::Row { row: 16, rows: 16 }
            );
        }
    }

    #[test]
    fn matrices_share_the_bytes_they_are_given_and_stacking_copies_nothing() {
        let rows = 3;
        let cols = 64;
        let mut data = vec![0u8; rows * 2 * GgmlType::Q8_0.block_bytes()];
        data.iter_mut().enumerate().for_each(|(i, b)| *b = (i % 7) as u8);
        let file = Bytes::from(data);
        let a = QMatrix::new(GgmlType::Q8_0, rows, cols, file.clone()).unwrap();
        let b = QMatrix::new(GgmlType::Q8_0, 1, cols, file.slice(..a.row_bytes)).unwrap();
        assert_eq!(a.row(0).as_ptr(), file.as_ptr());
        let stacked = QMatrix::stack(&[&a, &b]).unwrap();
        assert_eq!(stacked.rows(), rows + 1);
        assert_eq!(stacked.bytes(), a.bytes() + b.bytes());
        for r in 0..rows {
            assert_eq!(stacked.row(r).as_ptr(), a.row(r).as_ptr());
        }
        assert_eq!(stacked.row(rows).as_ptr(), file.as_ptr());
    }
}
