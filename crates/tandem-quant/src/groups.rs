//! ggml blocks repacked into one uniform layout for GPU kernels.
//!
//! A GPU kernel that had to parse seven block layouts (two-byte scales at odd
//! offsets, 34-byte blocks that break 4-byte alignment, 6-bit scales packed
//! into 12 bytes) would be seven kernels. Every supported ggml type is, per
//! run of 32 (or, for `Q6_K`, 16) values, an unsigned integer code times a
//! scale plus an offset, so this module rewrites a [`QMatrix`] as exactly
//! that: codes packed into `u32` words (eight 4-bit or four 8-bit codes a
//! word, lowest bits first) and one `(scale, min)` pair of `f32` per group.
//! One kernel, specialized at compile time on the code width and group
//! size, then reads every type. The values are the same as ggml's
//! dequantization up to `f32` rounding of `scale · q + min`.

use crate::matrix::QMatrix;
use half::f16;
use tandem_gguf::GgmlType;

/// How wide a [`GroupedMatrix`]'s codes are and how many share a scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupLayout {
    /// 4-bit codes, 32 a group (`Q4_0`, `Q4_1`, `Q4_K`): 4 words a group.
    Nibbles32,
    /// 8-bit codes, 32 a group (`Q8_0`, `Q5_0`, `Q5_K`): 8 words a group.
    Bytes32,
    /// 8-bit codes, 16 a group (`Q6_K`, whose scales cover 16 values).
    Bytes16,
}

impl GroupLayout {
    /// The layout `ty` is repacked into.
    pub fn of(ty: GgmlType) -> Option<Self> {
        match ty {
            GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q4_K => Some(Self::Nibbles32),
            GgmlType::Q8_0 | GgmlType::Q5_0 | GgmlType::Q5_K => Some(Self::Bytes32),
            GgmlType::Q6_K => Some(Self::Bytes16),
            _ => None,
        }
    }

    /// Bits per code.
    pub fn bits(self) -> usize {
        match self {
            Self::Nibbles32 => 4,
            Self::Bytes32 | Self::Bytes16 => 8,
        }
    }

    /// Values per group (one `(scale, min)` pair).
    pub fn group(self) -> usize {
        match self {
            Self::Nibbles32 | Self::Bytes32 => 32,
            Self::Bytes16 => 16,
        }
    }

    /// `u32` words per group.
    pub fn words_per_group(self) -> usize {
        self.group() * self.bits() / 32
    }
}

/// A `[rows, cols]` matrix as codes and per-group `(scale, min)`:
/// value `j` of group `g` is `scale[g] · code[j] + min[g]`.
#[derive(Debug, Clone)]
pub struct GroupedMatrix {
    layout: GroupLayout,
    rows: usize,
    cols: usize,
    /// Row-major groups, [`GroupLayout::words_per_group`] words each.
    words: Vec<u32>,
    /// `(scale, min)` per group, interleaved, row-major.
    scales: Vec<f32>,
}

impl GroupedMatrix {
    /// `matrix`'s values in the grouped layout (every type [`QMatrix`] holds
    /// has one).
    pub fn from_blocks(matrix: &QMatrix) -> Self {
        let ty = matrix.ty();
        let layout = GroupLayout::of(ty).expect("every QMatrix type has a grouped layout");
        let (rows, cols) = (matrix.rows(), matrix.cols());
        let groups = rows * cols / layout.group();
        let mut out = Self {
            layout,
            rows,
            cols,
            words: Vec::with_capacity(groups * layout.words_per_group()),
            scales: Vec::with_capacity(groups * 2),
        };
        let mut codes = [0u8; 256];
        let mut params = Vec::with_capacity(16);
        for r in 0..rows {
            for block in matrix.row(r).chunks_exact(ty.block_bytes()) {
                params.clear();
                decode(ty, block, &mut codes, &mut params);
                let n = ty.block_size();
                for (g, &(scale, min)) in codes[..n].chunks_exact(layout.group()).zip(&params) {
                    out.scales.extend([scale, min]);
                    let per_word = 32 / layout.bits();
                    for word in g.chunks_exact(per_word) {
                        let packed = word
                            .iter()
                            .enumerate()
                            .fold(0u32, |acc, (i, &q)| acc | (u32::from(q) << (i * layout.bits())));
                        out.words.push(packed);
                    }
                }
            }
        }
        out
    }

    /// Code width and group size.
    pub fn layout(&self) -> GroupLayout {
        self.layout
    }

    /// Number of rows (output features).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (input features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The packed codes.
    pub fn words(&self) -> &[u32] {
        &self.words
    }

    /// `(scale, min)` per group, interleaved.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// Bytes the layout holds: what a GPU keeps for this matrix.
    pub fn bytes(&self) -> usize {
        4 * (self.words.len() + self.scales.len())
    }

    /// The whole matrix widened to `f32`, row-major, from the grouped
    /// layout: what the repacking is tested with against ggml's values.
    pub fn dequantize(&self) -> Vec<f32> {
        let (bits, group) = (self.layout.bits(), self.layout.group());
        let mask = (1u32 << bits) - 1;
        (0..self.rows * self.cols)
            .map(|i| {
                let g = i / group;
                let word = self.words[i * bits / 32];
                let code = (word >> ((i % (32 / bits)) * bits)) & mask;
                self.scales[2 * g] * code as f32 + self.scales[2 * g + 1]
            })
            .collect()
    }
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[i], b[i + 1]])).to_f32()
}

/// The 6-bit scale and minimum of sub-block `j` from a k-quant's 12 packed
/// bytes (ggml's `get_scale_min_k4`).
fn scale_min_k4(j: usize, s: &[u8]) -> (f32, f32) {
    let (sc, m) = if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    };
    (f32::from(sc), f32::from(m))
}

/// One block of `ty`: its unsigned codes in element order into `codes`, and
/// one `(scale, min)` per group into `params`. Mirrors `tandem_gguf`'s
/// dequantization, which the tests hold it to.
fn decode(ty: GgmlType, b: &[u8], codes: &mut [u8; 256], params: &mut Vec<(f32, f32)>) {
    match ty {
        GgmlType::Q8_0 => {
            let d = f16_at(b, 0);
            params.push((d, -128.0 * d));
            for (c, &q) in codes.iter_mut().zip(&b[2..34]) {
                *c = (q as i8 as i16 + 128) as u8;
            }
        }
        GgmlType::Q4_0 | GgmlType::Q4_1 => {
            let d = f16_at(b, 0);
            let (min, qs) = if ty == GgmlType::Q4_0 {
                (-8.0 * d, &b[2..18])
            } else {
                (f16_at(b, 2), &b[4..20])
            };
            params.push((d, min));
            for (j, &q) in qs.iter().enumerate() {
                codes[j] = q & 0x0F;
                codes[j + 16] = q >> 4;
            }
        }
        GgmlType::Q5_0 => {
            let d = f16_at(b, 0);
            params.push((d, -16.0 * d));
            let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
            for (j, &q) in b[6..22].iter().enumerate() {
                codes[j] = (q & 0x0F) | ((((qh >> j) << 4) & 0x10) as u8);
                codes[j + 16] = (q >> 4) | (((qh >> (j + 12)) & 0x10) as u8);
            }
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
            let scales = &b[4..16];
            let (qh, qs) = if ty == GgmlType::Q4_K {
                (None, &b[16..144])
            } else {
                (Some(&b[16..48]), &b[48..176])
            };
            for (chunk, q) in qs.chunks_exact(32).enumerate() {
                for half in 0..2 {
                    let (sc, m) = scale_min_k4(2 * chunk + half, scales);
                    params.push((d * sc, -dmin * m));
                    let bit = 1u8 << (2 * chunk + half);
                    for (l, &x) in q.iter().enumerate() {
                        let low = if half == 0 { x & 0x0F } else { x >> 4 };
                        let high = qh.map_or(0, |qh| if qh[l] & bit != 0 { 16 } else { 0 });
                        codes[64 * chunk + 32 * half + l] = low | high;
                    }
                }
            }
        }
        GgmlType::Q6_K => {
            let d = f16_at(b, 208);
            for half in 0..2 {
                let ql = &b[64 * half..64 * half + 64];
                let qh = &b[128 + 32 * half..128 + 32 * half + 32];
                let y = &mut codes[128 * half..128 * half + 128];
                for l in 0..32 {
                    y[l] = (ql[l] & 0x0F) | ((qh[l] & 3) << 4);
                    y[l + 32] = (ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4);
                    y[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                    y[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
                }
            }
            // Scale i covers elements 16·i .. 16·i + 16, in element order.
            for &s in &b[192..208] {
                let scale = d * f32::from(s as i8);
                params.push((scale, -32.0 * scale));
            }
        }
        other => unreachable!("{other:?} is not a QMatrix type"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random blocks of `ty` with finite `f16` scales.
    fn random_matrix(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> QMatrix {
        let mut state = seed;
        let mut data: Vec<u8> = (0..rows * cols / ty.block_size() * ty.block_bytes())
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        for block in data.chunks_exact_mut(ty.block_bytes()) {
            for &i in QMatrix::f16_fields(ty) {
                let v = f16::from_f32(0.01 + f32::from(block[i]) / 4096.0);
                block[i..i + 2].copy_from_slice(&v.to_bits().to_le_bytes());
            }
        }
        QMatrix::new(ty, rows, cols, data).unwrap()
    }

    #[test]
    fn every_type_repacks_to_ggml_values() {
        for ty in QMatrix::SUPPORTED {
            let q = random_matrix(ty, 3, 512, ty as u64 + 7);
            let grouped = GroupedMatrix::from_blocks(&q);
            assert_eq!(grouped.layout(), GroupLayout::of(ty).unwrap());
            let (want, got) = (q.dequantize(), grouped.dequantize());
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                assert!((w - g).abs() <= 1e-6 * scale.max(1.0), "{ty:?} element {i}: {w} vs {g}");
            }
            let per_group = grouped.layout().words_per_group() + 2;
            assert_eq!(grouped.bytes(), 4 * per_group * 3 * 512 / grouped.layout().group());
        }
    }
}
