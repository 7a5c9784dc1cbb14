//! ggml blocks repacked into one uniform layout for GPU kernels.
//!
//! A GPU kernel that had to parse seven block layouts (two-byte scales at odd
//! offsets, 34-byte blocks that break 4-byte alignment, 6-bit scales packed
//! into 12 bytes) would be seven kernels. Every supported ggml type is, per
//! run of 32 (or, for `Q6_K`, 16) values, an unsigned integer code times a
//! scale plus an offset, so this module rewrites a [`QMatrix`] as exactly
//! that: codes packed into `u32` words and one `(scale, min)` pair of `f32`
//! per group. Codes of 4 to 6 bits keep their low nibbles eight to a word
//! (lowest bits first) and their remaining bits in one more word per group;
//! 8-bit codes are four to a word. One kernel, specialized at compile time
//! on the code width and group size, then reads every type. The values are
//! the same as ggml's dequantization up to `f32` rounding of
//! `scale · q + min`.

use crate::matrix::QMatrix;
use half::f16;
use tandem_gguf::GgmlType;

/// How wide a [`GroupedMatrix`]'s codes are and how many share a scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupLayout {
    /// 4-bit codes, 32 a group (`Q4_0`, `Q4_1`, `Q4_K`): 4 words a group.
    Nibbles32,
    /// 5-bit codes, 32 a group (`Q5_0`, `Q5_K`): 4 words of low nibbles and
    /// one of fifth bits (bit `j` for value `j`).
    Bits5x32,
    /// 6-bit codes, 16 a group (`Q6_K`, whose scales cover 16 values): 2
    /// words of low nibbles and one of high bit pairs (bits `2j, 2j + 1`).
    Bits6x16,
    /// 8-bit codes, 32 a group (`Q8_0`): 8 words a group.
    Bytes32,
}

impl GroupLayout {
    /// The layout `ty` is repacked into.
    pub fn of(ty: GgmlType) -> Option<Self> {
        match ty {
            GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q4_K => Some(Self::Nibbles32),
            GgmlType::Q5_0 | GgmlType::Q5_K => Some(Self::Bits5x32),
            GgmlType::Q6_K => Some(Self::Bits6x16),
            GgmlType::Q8_0 => Some(Self::Bytes32),
            _ => None,
        }
    }

    /// Bits per code.
    pub fn bits(self) -> usize {
        match self {
            Self::Nibbles32 => 4,
            Self::Bits5x32 => 5,
            Self::Bits6x16 => 6,
            Self::Bytes32 => 8,
        }
    }

    /// Values per group (one `(scale, min)` pair).
    pub fn group(self) -> usize {
        match self {
            Self::Nibbles32 | Self::Bits5x32 | Self::Bytes32 => 32,
            Self::Bits6x16 => 16,
        }
    }

    /// `u32` words per group.
    pub fn words_per_group(self) -> usize {
        match self.bits() {
            8 => self.group() / 4,
            4 => self.group() / 8,
            _ => self.group() / 8 + 1,
        }
    }

    /// The codes of one group (`group()` of them) packed into its words.
    fn pack(self, codes: &[u8], out: &mut Vec<u32>) {
        let word = |values: &[u8], bits: usize| {
            values
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &q)| acc | (u32::from(q) << (i * bits)))
        };
        if self.bits() == 8 {
            out.extend(codes.chunks_exact(4).map(|c| word(c, 8)));
            return;
        }
        out.extend(codes.chunks_exact(8).map(|c| {
            let low: Vec<u8> = c.iter().map(|q| q & 0x0F).collect();
            word(&low, 4)
        }));
        if self.bits() > 4 {
            let high: Vec<u8> = codes.iter().map(|q| q >> 4).collect();
            out.push(word(&high, self.bits() - 4));
        }
    }

    /// Code `j` of the group whose words are `words`: what the GPU kernel
    /// computes, in plain Rust.
    fn code(self, words: &[u32], j: usize) -> u32 {
        if self.bits() == 8 {
            return (words[j / 4] >> (8 * (j % 4))) & 0xFF;
        }
        let low = (words[j / 8] >> (4 * (j % 8))) & 0x0F;
        if self.bits() == 4 {
            return low;
        }
        let extra = self.bits() - 4;
        let high = (words[self.group() / 8] >> (extra * j)) & ((1 << extra) - 1);
        low | (high << 4)
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
            for block in matrix.row_blocks(r).chunks_exact(ty.block_bytes()) {
                params.clear();
                decode(ty, block, &mut codes, &mut params);
                let n = ty.block_size();
                for (g, &(scale, min)) in codes[..n].chunks_exact(layout.group()).zip(&params) {
                    out.scales.extend([scale, min]);
                    layout.pack(g, &mut out.words);
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
        let (group, per_group) = (self.layout.group(), self.layout.words_per_group());
        (0..self.rows * self.cols)
            .map(|i| {
                let g = i / group;
                let code = self
                    .layout
                    .code(&self.words[g * per_group..(g + 1) * per_group], i % group);
                self.scales[2 * g] * code as f32 + self.scales[2 * g + 1]
            })
            .collect()
    }
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[i], b[i + 1]])).to_f32()
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
                    let (sc, m) = tandem_gguf::k_scale_min(2 * chunk + half, scales);
                    params.push((d * f32::from(sc), -dmin * f32::from(m)));
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

    #[test]
    fn every_type_repacks_to_ggml_values() {
        for ty in QMatrix::SUPPORTED {
            let q = QMatrix::random(ty, 3, 512, ty.block_bytes() as u64, 0.05).unwrap();
            let grouped = GroupedMatrix::from_blocks(&q);
            assert_eq!(grouped.layout(), GroupLayout::of(ty).unwrap());
            let (want, got) = (q.dequantize(), grouped.dequantize());
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                assert!((w - g).abs() <= 1e-6 * scale.max(1.0), "{ty:?} element {i}: {w} vs {g}");
            }
            let per_group = grouped.layout().words_per_group() + 2;
            // Codes of 4, 5, 6 and 8 bits, plus 64 bits of scales per group.
            let bits = 32 * per_group / grouped.layout().group();
            let want = match grouped.layout() {
                GroupLayout::Nibbles32 => 6,
                GroupLayout::Bits5x32 => 7,
                GroupLayout::Bits6x16 | GroupLayout::Bytes32 => 10,
            };
            assert_eq!(bits, want, "{ty:?}: bits a weight");
            assert_eq!(grouped.bytes(), 4 * per_group * 3 * 512 / grouped.layout().group());
        }
    }
}
