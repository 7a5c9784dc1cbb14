//! `Q4_K` rows interleaved in eights: the layout the x86 kernels read one
//! output per vector lane from, as llama.cpp's CPU backend repacks `Q4_K`
//! at load (`block_q4_Kx8`).
//!
//! A ggml `Q4_K` row is a run of 144-byte blocks, one per 256 values. A
//! kernel that reads one row at a time sums each block's products across
//! the lanes of a vector and needs a horizontal sum per row, and decodes
//! every block's packed scales with scalar code. Here the blocks of eight
//! consecutive rows under one superblock are stored together (a *group*,
//! 1152 bytes: the same bytes, moved), laid out so that one 32-byte load
//! holds four values of each of the eight rows and the eight rows' scale
//! words sit side by side. A kernel then multiplies a group by four
//! broadcast activation bytes at a time, keeps row `j` in lane `j`, decodes
//! the eight rows' scales with a few vector instructions, and writes eight
//! finished outputs at once.
//!
//! A group, for rows `8g..8g + 8` and superblock `b` (row `j`'s block is
//! ggml's `d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128]`):
//!
//! | bytes | holds |
//! | --- | --- |
//! | `0..16` | `d` of rows 0..8 |
//! | `16..32` | `dmin` of rows 0..8 |
//! | `32 + 32w + 4j ..` (`w < 3`) | row `j`'s scale word `w` (its `scales[4w..4w + 4]`) |
//! | `128 + 32(8c + q) + 4j ..` (`c < 4`, `q < 8`) | row `j`'s `qs[32c + 4q..32c + 4q + 4]` |
//!
//! The layout holds exactly the values of the blocks it was made from:
//! [`block_of`] gives any row's block back, byte for byte.

/// Rows in a group.
pub(crate) const ROWS: usize = 8;

/// Bytes of one `Q4_K` block.
pub(crate) const BLOCK: usize = 144;

/// Bytes of one group: eight blocks.
pub(crate) const GROUP: usize = ROWS * BLOCK;

/// Offset of the scale words in a group.
pub(crate) const SCALES: usize = 32;

/// Offset of the packed values in a group.
pub(crate) const QS: usize = 128;

/// `ROWS` rows of ggml `Q4_K` blocks (`supers` blocks each, one row after
/// another) as groups, superblock by superblock, into `out` (as long).
pub(crate) fn interleave(rows: &[u8], supers: usize, out: &mut [u8]) {
    debug_assert_eq!((rows.len(), out.len()), (ROWS * supers * BLOCK, ROWS * supers * BLOCK));
    for (b, group) in out.chunks_exact_mut(GROUP).enumerate() {
        let Some(group) = group.first_chunk_mut::<GROUP>() else {
            continue;
        };
        for j in 0..ROWS {
            let start = (j * supers + b) * BLOCK;
            let Some(block) = rows.get(start..start + BLOCK).and_then(|b| b.first_chunk::<BLOCK>()) else {
                continue;
            };
            group[2 * j..2 * j + 2].copy_from_slice(&block[0..2]);
            group[16 + 2 * j..16 + 2 * j + 2].copy_from_slice(&block[2..4]);
            for w in 0..3 {
                let at = SCALES + 32 * w + 4 * j;
                group[at..at + 4].copy_from_slice(&block[4 + 4 * w..8 + 4 * w]);
            }
            for i in 0..32 {
                let at = QS + 32 * i + 4 * j;
                group[at..at + 4].copy_from_slice(&block[16 + 4 * i..20 + 4 * i]);
            }
        }
    }
}

/// Row `j`'s ggml block out of `group`, as it was before [`interleave`].
pub(crate) fn block_of(group: &[u8], j: usize) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    block[0..2].copy_from_slice(&group[2 * j..2 * j + 2]);
    block[2..4].copy_from_slice(&group[16 + 2 * j..16 + 2 * j + 2]);
    for w in 0..3 {
        let at = SCALES + 32 * w + 4 * j;
        block[4 + 4 * w..8 + 4 * w].copy_from_slice(&group[at..at + 4]);
    }
    for (i, quad) in block[16..].chunks_exact_mut(4).enumerate() {
        let at = QS + 32 * i + 4 * j;
        quad.copy_from_slice(&group[at..at + 4]);
    }
    block
}

/// Row `j` (`< ROWS`) of the eight rows whose groups are `groups`, as ggml
/// blocks.
pub(crate) fn row_of(groups: &[u8], j: usize) -> Vec<u8> {
    groups.chunks_exact(GROUP).flat_map(|g| block_of(g, j)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_comes_back_byte_for_byte() {
        let supers = 3;
        let rows: Vec<u8> = (0..ROWS * supers * BLOCK).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut groups = vec![0u8; rows.len()];
        interleave(&rows, supers, &mut groups);
        for j in 0..ROWS {
            assert_eq!(row_of(&groups, j), rows[j * supers * BLOCK..(j + 1) * supers * BLOCK]);
        }
        // Four values of every row per 32 bytes: row 5's qs[36..40] of superblock 1.
        let at = GROUP + QS + 32 * 9 + 4 * 5;
        let src = (5 * supers + 1) * BLOCK + 16 + 36;
        assert_eq!(groups[at..at + 4], rows[src..src + 4]);
    }
}
