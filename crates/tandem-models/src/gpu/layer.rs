//! CubeCL kernels for a decoder layer's arithmetic between its products:
//! the norms with their residual additions, RoPE with the KV cache writes,
//! attention, and SwiGLU's activation.
//!
//! Run as burn operations, this arithmetic was about 30 dispatches a layer
//! (every elementwise step its own), so that a decode step on an H200 spent
//! 2 ms in the products and about 28 in launches (docs/models.md, "On a
//! GPU"). Here it is four launches a layer. Like the product kernel, these
//! need nothing Chromium's WebGPU lacks: no subgroup operations, no
//! infinities (WGSL has no literal for them), and at most 1 KiB of
//! workgroup memory.

use cubecl::prelude::*;

/// Units of the norm and activation kernels' cubes (WebGPU allows 256).
pub(crate) const UNITS: u32 = 256;
const _: () = assert!(UNITS == 256, "cube_sum's first step is half of UNITS");
/// Units of an attention cube: one per key of a chunk, then one per output
/// value (a head of up to `ATTENTION_UNITS · MAX_VALUES_PER_UNIT` values).
pub(crate) const ATTENTION_UNITS: u32 = 64;
/// Output values an attention unit holds.
const MAX_VALUES_PER_UNIT: usize = 4;
/// The widest attention head the kernel takes (wider ones keep burn's graph).
pub(crate) const MAX_HEAD_DIM: usize = ATTENTION_UNITS as usize * MAX_VALUES_PER_UNIT;

/// Row `CUBE_POS_X` of the output: `out = x / sqrt(mean(x²) + eps) · w` of
/// row `first + CUBE_POS_X` of `x`. With `residual`, that row of `x` first
/// becomes `x + delta` (written back): the residual addition of the
/// previous product and the next norm in one launch.
#[cube(launch)]
pub(crate) fn add_rms_norm(
    x: &mut Tensor<f32>,
    delta: &Tensor<f32>,
    w: &Tensor<f32>,
    out: &mut Tensor<f32>,
    first: usize,
    eps: f32,
    #[comptime] residual: bool,
) {
    let h = x.shape(1);
    let row = CUBE_POS_X as usize;
    let at = (first + row) * h;
    let unit = UNIT_POS_X as usize;
    let mut sum = 0.0f32;
    let mut i = unit;
    while i < h {
        let mut v = x[at + i];
        if comptime!(residual) {
            v += delta[at + i];
            x[at + i] = v;
        }
        sum += v * v;
        i += UNITS as usize;
    }
    let total = cube_sum(sum);
    let scale = (total / f32::cast_from(h as u32) + eps).inverse_sqrt();
    let mut i = unit;
    while i < h {
        out[row * h + i] = x[at + i] * scale * w[i];
        i += UNITS as usize;
    }
}

/// The sum of every unit's `value` (a cube of [`UNITS`]), known to all.
#[cube]
fn cube_sum(value: f32) -> f32 {
    let units = comptime!(UNITS as usize);
    let mut shared = Shared::<[f32]>::new_slice(units);
    let unit = UNIT_POS_X as usize;
    shared[unit] = value;
    sync_cube();
    // A literal, so that the loop's variable is a runtime one (`UNITS / 2`).
    let mut step = 128usize;
    while step > 0 {
        if unit < step {
            let both = shared[unit] + shared[unit + step];
            shared[unit] = both;
        }
        sync_cube();
        step /= 2;
    }
    let total = shared[0];
    // Every unit has read the total before the slot is written again.
    sync_cube();
    total
}

/// For row `CUBE_POS_X` of `qkv` (`[t, (heads + 2·kv_heads) · head_dim]`:
/// queries, keys, values), plus `bias` when there is one: writes the rotated
/// queries to `q`, and the rotated keys and the values to the caches'
/// position `start + CUBE_POS_X` (`[capacity, kv_heads · head_dim]`).
/// `angles` is `[t, head_dim]`: each row's cosines, then its sines
/// (rotate-half RoPE). One table, not two: with cubecl's own buffer this
/// kernel binds seven storage buffers, and WebGPU allows eight by default.
#[cube(launch)]
pub(crate) fn rope_into_cache(
    qkv: &Tensor<f32>,
    bias: &Tensor<f32>,
    angles: &Tensor<f32>,
    q: &mut Tensor<f32>,
    keys: &mut Tensor<f32>,
    values: &mut Tensor<f32>,
    start: usize,
    head_dim: usize,
    #[comptime] has_bias: bool,
) {
    let row = CUBE_POS_X as usize;
    let half = head_dim / 2;
    let q_dim = q.shape(1);
    let kv_dim = keys.shape(1);
    let width = q_dim + 2 * kv_dim;
    let at = row * width;
    let cache_at = (start + row) * kv_dim;
    let heads = (q_dim + kv_dim) / head_dim;
    // Pairs (j, j + half) of every query and key head.
    let mut u = UNIT_POS_X as usize;
    while u < heads * half {
        let head = u / half;
        let j = u % half;
        let col = head * head_dim + j;
        let mut a = qkv[at + col];
        let mut b = qkv[at + col + half];
        if comptime!(has_bias) {
            a += bias[col];
            b += bias[col + half];
        }
        let c = angles[row * head_dim + j];
        let s = angles[row * head_dim + half + j];
        let ra = a * c - b * s;
        let rb = b * c + a * s;
        if col < q_dim {
            q[row * q_dim + col] = ra;
            q[row * q_dim + col + half] = rb;
        } else {
            keys[cache_at + col - q_dim] = ra;
            keys[cache_at + col - q_dim + half] = rb;
        }
        u += UNITS as usize;
    }
    let mut c = UNIT_POS_X as usize;
    while c < kv_dim {
        let col = q_dim + kv_dim + c;
        let mut v = qkv[at + col];
        if comptime!(has_bias) {
            v += bias[col];
        }
        values[cache_at + c] = v;
        c += UNITS as usize;
    }
}

/// Causal grouped-query attention for query head `CUBE_POS_X` of row
/// `CUBE_POS_Y` of `q` (position `start + CUBE_POS_Y`), over the cached
/// keys and values up to that position: `out = softmax(q·Kᵀ · scale) · V`.
///
/// Keys go in chunks of [`ATTENTION_UNITS`], a unit each, with a running
/// maximum and sum (online softmax), so no score is stored and any context
/// fits; the chunk's weights meet in workgroup memory, where each unit
/// takes its output values of every key.
#[cube(launch)]
pub(crate) fn attention(
    q: &Tensor<f32>,
    keys: &Tensor<f32>,
    values: &Tensor<f32>,
    out: &mut Tensor<f32>,
    start: usize,
    head_dim: usize,
    group: usize,
    scale: f32,
) {
    let units = comptime!(ATTENTION_UNITS as usize);
    let head = CUBE_POS_X as usize;
    let row = CUBE_POS_Y as usize;
    let unit = UNIT_POS_X as usize;
    let q_dim = q.shape(1);
    let kv_dim = keys.shape(1);
    let q_at = row * q_dim + head * head_dim;
    let kv = (head / group) * head_dim;
    let seen = start + row + 1;

    let mut weights = Shared::<[f32]>::new_slice(units);
    let mut acc = Array::<f32>::new(MAX_VALUES_PER_UNIT);
    #[unroll]
    for d in 0..MAX_VALUES_PER_UNIT {
        acc[d] = 0.0;
    }
    let mut running_max = f32::new(-1.0e30); // −∞, which WGSL cannot write: below any score
    let mut running_sum = 0.0f32;
    let mut chunk = 0usize;
    while chunk < seen {
        let j = chunk + unit;
        let mut score = f32::new(-1.0e30); // −∞, which WGSL cannot write: below any score
        if j < seen {
            let k_at = j * kv_dim + kv;
            let mut dot = 0.0f32;
            for d in 0..head_dim {
                dot += q[q_at + d] * keys[k_at + d];
            }
            score = dot * scale;
        }
        weights[unit] = score;
        sync_cube();
        let mut chunk_max = f32::new(-1.0e30); // −∞, which WGSL cannot write: below any score
        for i in 0..units {
            chunk_max = f32::max(chunk_max, weights[i]);
        }
        let new_max = f32::max(running_max, chunk_max);
        let correction = (running_max - new_max).exp();
        let mut p = 0.0f32;
        if j < seen {
            p = (score - new_max).exp();
        }
        sync_cube();
        weights[unit] = p;
        sync_cube();
        let n = min(units, seen - chunk);
        let mut chunk_sum = 0.0f32;
        for i in 0..n {
            chunk_sum += weights[i];
        }
        running_sum = running_sum * correction + chunk_sum;
        #[unroll]
        for slot in 0..MAX_VALUES_PER_UNIT {
            let d = slot * units + unit;
            if d < head_dim {
                let mut sum = 0.0f32;
                for i in 0..n {
                    sum += weights[i] * values[(chunk + i) * kv_dim + kv + d];
                }
                acc[slot] = acc[slot] * correction + sum;
            }
        }
        running_max = new_max;
        sync_cube();
        chunk += units;
    }
    #[unroll]
    for slot in 0..MAX_VALUES_PER_UNIT {
        let d = slot * units + unit;
        if d < head_dim {
            out[q_at + d] = acc[slot] / running_sum;
        }
    }
}

/// `out[r, i] = silu(gate) · up` for row `CUBE_POS_Y` of `gate_up`
/// (`[t, 2 · n]`: gate, then up) and columns from `CUBE_POS_X · UNITS`.
#[cube(launch)]
pub(crate) fn swiglu(gate_up: &Tensor<f32>, out: &mut Tensor<f32>) {
    let n = out.shape(1);
    let row = CUBE_POS_Y as usize;
    let i = (CUBE_POS_X * UNITS + UNIT_POS_X) as usize;
    if i < n {
        let g = gate_up[row * 2 * n + i];
        let u = gate_up[row * 2 * n + n + i];
        // exp(80) is finite in f32, where WGSL leaves overflow undefined; past it
        // the quotient is below 1e-34 · |g| either way.
        out[row * n + i] = g / (1.0 + f32::min(-g, 80.0).exp()) * u;
    }
}
