//! The CubeCL kernel behind every quantized product on a GPU device.
//!
//! One kernel reads a [`tandem_quant::GroupedMatrix`]: codes packed into
//! `u32` words and a `(scale, min)` pair per group. It is compiled once per
//! code width, group size and input-row tile, and it needs nothing that
//! Chromium's WebGPU lacks: no subgroup operations, and 8 KiB of workgroup
//! memory at most (WebGPU's default limit is 16 KiB).
//!
//! A cube computes [`ROWS`] output features for up to `tile` input rows.
//! [`LANES`] units share each output feature, taking its words of codes in
//! turn (consecutive lanes, consecutive words), so every weight word is read
//! once per cube for all `tile` input rows and a warp's reads coalesce. Each
//! group contributes `scale · Σ q·x + min · Σ x` to a unit's running sum;
//! the lanes' sums meet in shared memory at the end.

use cubecl::prelude::*;

/// Units that share one output feature.
pub(crate) const LANES: u32 = 32;
/// Output features per cube.
pub(crate) const ROWS: u32 = 8;
/// Input values one read of `x` takes (its vector width).
pub(crate) const VECTOR: usize = 4;

/// `out[i, column + r] = Σ_k x[i, k] · w[r, k]` for the input rows
/// `tile · CUBE_POS_Y ..` and the output features `ROWS · CUBE_POS_X ..`;
/// `column` places a matrix's outputs among others' in one wider output.
/// `bits`, `group` and `words_per_group` are a `tandem_quant::GroupLayout`'s:
/// codes of 4 to 6 bits keep their low nibbles eight to a word and the rest
/// in one more word per group; 8-bit codes are four to a word.
#[cube(launch)]
pub(crate) fn grouped_matmul<N: Size>(
    x: &Tensor<Vector<f32, N>>,
    words: &Tensor<u32>,
    scales: &Tensor<f32>,
    out: &mut Tensor<f32>,
    column: usize,
    #[comptime] bits: u32,
    #[comptime] group: u32,
    #[comptime] words_per_group: u32,
    #[comptime] tile: usize,
) {
    let m = x.shape(0);
    let k = x.shape(1);
    let lane = UNIT_POS_X as usize;
    let row = (CUBE_POS_X * ROWS + UNIT_POS_Y) as usize;
    let first = CUBE_POS_Y as usize * tile;
    let nibble_words = comptime!(group / 8);
    let extra = comptime!(if bits > 4 && bits < 8 { bits - 4 } else { 0 });
    let extra_mask = comptime!((1u32 << extra) - 1);
    let groups = k / group as usize;
    // This matrix's rows (the output may be wider: see `column`).
    let n = words.shape(0) / (groups * words_per_group as usize);

    // Where each input row of the tile starts; rows past the end re-read the
    // last one, so that every read is in bounds and no branch sits in the
    // inner loop (their sums are never written).
    let mut starts = Array::<usize>::new(tile);
    let mut acc = Array::<f32>::new(tile);
    #[unroll]
    for t in 0..tile {
        starts[t] = min(first + t, m - 1) * x.stride(0) / VECTOR;
        acc[t] = 0.0;
    }

    if row < n {
        // Lanes take consecutive words of the row (eight 4-bit codes or four
        // bytes each), so that a warp's reads of the weights and of `x` are
        // each one contiguous run rather than 32 lines of a group apart.
        let per_word = comptime!(if bits == 8 { 4u32 } else { 8u32 });
        let code_words = comptime!(group / per_word);
        let units = groups * code_words as usize;
        let mut u = lane;
        while u < units {
            let g = u / code_words as usize;
            let w = (u % code_words as usize) as u32;
            let at = row * groups + g;
            let base = at * words_per_group as usize;
            let col0 = g * group as usize + (w * per_word) as usize;
            let word = words[base + w as usize];
            let mut dot = Array::<f32>::new(tile);
            let mut sum = Array::<f32>::new(tile);
            #[unroll]
            for t in 0..tile {
                dot[t] = 0.0;
                sum[t] = 0.0;
            }
            let at_x = col0 / VECTOR;
            if comptime!(bits == 8) {
                let mut q = Vector::<f32, N>::empty();
                #[unroll]
                for j in 0..4u32 {
                    q.insert(j as usize, f32::cast_from((word >> (j * 8)) & 0xFF));
                }
                add_four(x, &starts, q, at_x, &mut dot, &mut sum, tile);
            } else {
                let mut high = 0u32;
                if comptime!(extra > 0) {
                    high = words[base + nibble_words as usize] >> (w * 8 * extra);
                }
                #[unroll]
                for half in 0..2u32 {
                    let mut q = Vector::<f32, N>::empty();
                    #[unroll]
                    for i in 0..4u32 {
                        let j = half * 4 + i;
                        let mut code = (word >> (j * 4)) & 0x0F;
                        if comptime!(extra > 0) {
                            code |= ((high >> (j * extra)) & extra_mask) << 4;
                        }
                        q.insert(i as usize, f32::cast_from(code));
                    }
                    add_four(x, &starts, q, at_x + half as usize, &mut dot, &mut sum, tile);
                }
            }
            let scale = scales[2 * at];
            let offset = scales[2 * at + 1];
            #[unroll]
            for t in 0..tile {
                acc[t] += scale * dot[t] + offset * sum[t];
            }
            u += LANES as usize;
        }
    }

    let units = comptime!((ROWS * LANES) as usize);
    let mut partial = Shared::<[f32]>::new_slice(units * tile);
    let slot = (UNIT_POS_Y * LANES) as usize + lane;
    #[unroll]
    for t in 0..tile {
        partial[t * units + slot] = acc[t];
    }
    sync_cube();
    if lane < tile && row < n && first + lane < m {
        let base = lane * units + (UNIT_POS_Y * LANES) as usize;
        let mut total = 0.0f32;
        for l in 0..LANES as usize {
            total += partial[base + l];
        }
        let stride = out.stride(0);
        out[(first + lane) * stride + column + row] = total;
    }
}

/// Four codes `q` against the input vector at `at` (four columns) of every
/// input row of the tile: adds `Σ q·x` to `dot` and `Σ x` to `sum`.
#[cube]
fn add_four<N: Size>(
    x: &Tensor<Vector<f32, N>>,
    starts: &Array<usize>,
    q: Vector<f32, N>,
    at: usize,
    dot: &mut Array<f32>,
    sum: &mut Array<f32>,
    #[comptime] tile: usize,
) {
    #[unroll]
    for t in 0..tile {
        let v = x[starts[t] + at];
        let p = q * v;
        dot[t] += p.extract(0usize) + p.extract(1usize) + p.extract(2usize) + p.extract(3usize);
        sum[t] += v.extract(0usize) + v.extract(1usize) + v.extract(2usize) + v.extract(3usize);
    }
}
