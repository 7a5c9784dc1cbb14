//! `Q4_K`, `Q6_K`, `Q5_0` and `Q8_0` rows interleaved in eights: the layout the x86
//! kernels read one output per vector lane from, as llama.cpp's CPU backend
//! repacks `Q4_K` at load (`block_q4_Kx8`).
//!
//! A ggml k-quant row is a run of blocks, one per 256 values. A kernel that
//! reads one row at a time sums each block's products across the lanes of a
//! vector and needs a horizontal sum per row, and decodes every block's
//! scales on its own. Here the blocks of eight consecutive rows under one
//! superblock are stored together (a *group*: the same bytes, moved), laid
//! out so that one 32-byte load holds four packed bytes of each of the
//! eight rows, and the eight rows' scales sit side by side. A kernel then
//! multiplies a load by four activation bytes broadcast to every lane,
//! keeps row `j` in lane `j`, decodes the eight rows' scales with a few
//! vector instructions, and writes eight finished outputs at once.
//!
//! A `Q4_K` group (1152 bytes), for rows `8g..8g + 8` and superblock `b`
//! (row `j`'s block is ggml's `d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128]`):
//!
//! | bytes | holds |
//! | --- | --- |
//! | `0..16` | `d` of rows 0..8 |
//! | `16..32` | `dmin` of rows 0..8 |
//! | `32 + 32w + 4j ..` (`w < 3`) | row `j`'s scale word `w` (its `scales[4w..4w + 4]`) |
//! | `128 + 32i + 4j ..` (`i < 32`) | row `j`'s `qs[4i..4i + 4]` |
//!
//! A `Q6_K` group (1680 bytes; ggml's block is `ql: [u8; 128], qh: [u8; 64],
//! scales: [i8; 16], d: f16`, and half `n` of it makes values `128n + l +
//! 32k` from `ql[64n + l]`, `ql[64n + 32 + l]` and `qh[32n + l]`):
//!
//! | bytes | holds |
//! | --- | --- |
//! | `0..16` | `d` of rows 0..8 |
//! | `16 + 8s + j` (`s < 16`) | row `j`'s scale of sub-block `s` |
//! | `144 + 96(8n + q) + 4j ..` | row `j`'s `ql[64n + 4q..][..4]` |
//! | `144 + 96(8n + q) + 32 + 4j ..` | row `j`'s `ql[64n + 32 + 4q..][..4]` |
//! | `144 + 96(8n + q) + 64 + 4j ..` | row `j`'s `qh[32n + 4q..][..4]` |
//!
//! A `Q5_0` group (176 bytes; ggml's block is `d: f16, qh: u32, qs: [u8; 16]`,
//! one per 32 values):
//!
//! | bytes | holds |
//! | --- | --- |
//! | `0..16` | `d` of rows 0..8 |
//! | `16 + 4j ..` | row `j`'s `qh` |
//! | `48 + 32g + 4j ..` (`g < 4`) | row `j`'s `qs[4g..4g + 4]` |
//!
//! A `Q8_0` group (272 bytes; ggml's block is `d: f16, qs: [i8; 32]`, one per
//! 32 values):
//!
//! | bytes | holds |
//! | --- | --- |
//! | `0..16` | `d` of rows 0..8 |
//! | `16 + 32g + 4j ..` (`g < 8`) | row `j`'s `qs[4g..4g + 4]` |
//!
//! The layouts hold exactly the values of the blocks they were made from:
//! [`row_of`] gives any row's blocks back, byte for byte.

use tandem_gguf::GgmlType;

/// Rows in a group.
pub(crate) const ROWS: usize = 8;

/// The types with an interleaved layout.
pub(crate) const TYPES: [GgmlType; 4] = [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q5_0, GgmlType::Q8_0];

/// Offsets in a `Q4_K` group: the scale words and the packed values.
pub(crate) mod q4k {
    /// Bytes of a group.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) const GROUP: usize = 8 * 144;
    /// The three scale words of the eight rows.
    pub(crate) const SCALES: usize = 32;
    /// The packed values.
    pub(crate) const QS: usize = 128;
}

/// Offsets in a `Q6_K` group: the scales and the packed values.
pub(crate) mod q6k {
    /// Bytes of a group.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) const GROUP: usize = 8 * 210;
    /// The sixteen sub-block scales of the eight rows.
    pub(crate) const SCALES: usize = 16;
    /// The packed values: 96 bytes per half and quad.
    pub(crate) const QS: usize = 144;
}

/// Offsets in a `Q5_0` group: the high bits and the packed values.
pub(crate) mod q5_0 {
    /// Bytes of a group.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) const GROUP: usize = 8 * 22;
    /// The eight rows' `qh` words (the values' fifth bits), as stored.
    pub(crate) const QH: usize = 16;
    /// The packed values: four loads of four bytes per row.
    pub(crate) const QS: usize = 48;
}

/// Offsets in a `Q8_0` group: the values.
pub(crate) mod q8_0 {
    /// Bytes of a group.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) const GROUP: usize = 8 * 34;
    /// The values: eight loads of four bytes per row.
    pub(crate) const QS: usize = 16;
}

/// The bytes of a group that hold its rows' `f16` scales.
pub(crate) fn f16_scales(ty: GgmlType) -> std::ops::Range<usize> {
    if ty == GgmlType::Q4_K { 0..32 } else { 0..16 }
}

/// Where each 4-byte piece of a row's block goes in its group: pairs of
/// (offset in the block, offset in the group for row 0; row `j` adds `4j`,
/// or `2j` for the `f16` scales, `j` for `Q6_K`'s `i8` scales), in pieces of
/// `width` bytes.
fn pieces(ty: GgmlType) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    // (block offset, group offset, width, row stride)
    let q4k = (ty == GgmlType::Q4_K).then(|| {
        [(0, 0, 2, 2), (2, 16, 2, 2)]
            .into_iter()
            .chain((0..3).map(|w| (4 + 4 * w, q4k::SCALES + 32 * w, 4, 4)))
            .chain((0..32).map(|i| (16 + 4 * i, q4k::QS + 32 * i, 4, 4)))
    });
    let q6k = (ty == GgmlType::Q6_K).then(|| {
        [(208, 0, 2, 2)]
            .into_iter()
            .chain((0..16).map(|s| (192 + s, q6k::SCALES + 8 * s, 1, 1)))
            .chain((0..2).flat_map(|n| {
                (0..8).flat_map(move |q| {
                    let at = q6k::QS + 96 * (8 * n + q);
                    [
                        (64 * n + 4 * q, at, 4, 4),
                        (64 * n + 32 + 4 * q, at + 32, 4, 4),
                        (128 + 32 * n + 4 * q, at + 64, 4, 4),
                    ]
                })
            }))
    });
    let q5_0 = (ty == GgmlType::Q5_0).then(|| {
        [(0, 0, 2, 2), (2, q5_0::QH, 4, 4)]
            .into_iter()
            .chain((0..4).map(|g| (6 + 4 * g, q5_0::QS + 32 * g, 4, 4)))
    });
    let q8_0 = (ty == GgmlType::Q8_0).then(|| {
        [(0, 0, 2, 2)]
            .into_iter()
            .chain((0..8).map(|g| (2 + 4 * g, q8_0::QS + 32 * g, 4, 4)))
    });
    q4k.into_iter()
        .flatten()
        .chain(q6k.into_iter().flatten())
        .chain(q5_0.into_iter().flatten())
        .chain(q8_0.into_iter().flatten())
}

/// `ROWS` rows of ggml blocks of `ty` (`supers` blocks each, one row after
/// another) as groups, superblock by superblock, into `out` (as long).
pub(crate) fn interleave(ty: GgmlType, rows: &[u8], supers: usize, out: &mut [u8]) {
    let block = ty.block_bytes();
    debug_assert_eq!((rows.len(), out.len()), (ROWS * supers * block, ROWS * supers * block));
    let map: Vec<_> = pieces(ty).collect();
    for (b, group) in out.chunks_exact_mut(ROWS * block).enumerate() {
        for j in 0..ROWS {
            let src = &rows[(j * supers + b) * block..][..block];
            for &(from, to, width, stride) in &map {
                let to = to + stride * j;
                group[to..to + width].copy_from_slice(&src[from..from + width]);
            }
        }
    }
}

/// Row `j` (`< ROWS`) of the eight rows of `ty` whose groups are `groups`,
/// as ggml blocks.
pub(crate) fn row_of(ty: GgmlType, groups: &[u8], j: usize) -> Vec<u8> {
    let block = ty.block_bytes();
    let map: Vec<_> = pieces(ty).collect();
    let mut row = vec![0u8; groups.len() / ROWS];
    for (group, dst) in groups.chunks_exact(ROWS * block).zip(row.chunks_exact_mut(block)) {
        for &(from, to, width, stride) in &map {
            let to = to + stride * j;
            dst[from..from + width].copy_from_slice(&group[to..to + width]);
        }
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_of_a_block_has_one_place_in_its_group() {
        for ty in TYPES {
            let block = ty.block_bytes();
            let mut from = vec![0u8; block];
            let mut to = vec![0u8; ROWS * block];
            for (f, t, width, stride) in pieces(ty) {
                for j in 0..ROWS {
                    to[t + stride * j..t + stride * j + width]
                        .iter_mut()
                        .for_each(|b| *b += 1);
                }
                from[f..f + width].iter_mut().for_each(|b| *b += 1);
            }
            assert!(from.iter().all(|&n| n == 1), "{ty:?}: block bytes");
            assert!(to.iter().all(|&n| n == 1), "{ty:?}: group bytes");
        }
    }

    #[test]
    fn every_row_comes_back_byte_for_byte() {
        for ty in TYPES {
            let (supers, block) = (3, ty.block_bytes());
            let rows: Vec<u8> = (0..ROWS * supers * block).map(|i| (i * 7 + i / 251) as u8).collect();
            let mut groups = vec![0u8; rows.len()];
            interleave(ty, &rows, supers, &mut groups);
            for j in 0..ROWS {
                assert_eq!(
                    row_of(ty, &groups, j),
                    rows[j * supers * block..(j + 1) * supers * block]
                );
            }
        }
        // Four values of every row per 32 bytes: row 5's Q4_K qs[36..40] of superblock 1.
        let (supers, block) = (2, 144);
        let rows: Vec<u8> = (0..ROWS * supers * block).map(|i| (i % 251) as u8).collect();
        let mut groups = vec![0u8; rows.len()];
        interleave(GgmlType::Q4_K, &rows, supers, &mut groups);
        let at = q4k::GROUP + q4k::QS + 32 * 9 + 4 * 5;
        let src = (5 * supers + 1) * block + 16 + 36;
        assert_eq!(groups[at..at + 4], rows[src..src + 4]);
    }
}
