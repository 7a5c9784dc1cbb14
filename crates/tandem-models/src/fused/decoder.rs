//! The decoder (Llama, Qwen2) on host slices.

use super::{HostLinear, HostProjections, add_assign, dot, host_vector, math};
use crate::cache::KvCache;
use crate::config::Config;
use crate::linear::Matrix;
use crate::model::Block;
use crate::shortlist::Shortlist;
use burn::tensor::Tensor;
use std::sync::Arc;
use tandem_quant::QMatrix;

/// One decoder layer's weights on the host.
#[derive(Debug, Clone)]
pub(crate) struct FusedLayer {
    attn_norm: Vec<f32>,
    qkv: HostProjections,
    o: HostLinear,
    ffn_norm: Vec<f32>,
    gate_up: HostProjections,
    down: HostLinear,
}

impl FusedLayer {
    /// The layer, if all its matrices are quantized.
    pub(crate) fn new(b: &Block) -> Option<Self> {
        // Matrices first: only quantized ones (which live on the CPU backend)
        // let the vectors be read back, and a GPU device cannot be read
        // synchronously in a browser.
        let (qkv, o, gate_up, down) = (
            HostProjections::new(&b.qkv)?,
            HostLinear::new(&b.o)?,
            HostProjections::new(&b.gate_up)?,
            HostLinear::new(&b.down)?,
        );
        Some(Self {
            attn_norm: host_vector(&b.attn_norm)?,
            qkv,
            o,
            ffn_norm: host_vector(&b.ffn_norm)?,
            gate_up,
            down,
        })
    }
}

/// The whole decoder on the host (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Fused {
    embed: Arc<QMatrix>,
    layers: Vec<FusedLayer>,
    norm: Vec<f32>,
    head: Arc<QMatrix>,
}

impl Fused {
    /// The decoder from its parts; `None` unless every matrix is quantized
    /// (`layers` is only called when the embedding and head are).
    pub(crate) fn new(
        embed: Option<&Arc<QMatrix>>,
        head: &Matrix,
        norm: &Tensor<1>,
        layers: impl FnOnce() -> Option<Vec<FusedLayer>>,
    ) -> Option<Self> {
        let (Some(embed), Matrix::Quantized(head)) = (embed, head) else {
            return None;
        };
        Some(Self {
            embed: embed.clone(),
            layers: layers()?,
            norm: host_vector(norm)?,
            head: head.clone(),
        })
    }

    /// The output head (the embedding itself when tied).
    pub(crate) fn head(&self) -> &QMatrix {
        &self.head
    }

    /// The logits `[rows, vocab]` of the last `rows` (`1..=t`) of `tokens`
    /// (checked against the vocabulary and context by the caller) at
    /// positions `cache.len()..`, from the whole head or only `shortlist`'s
    /// rows of it (−∞ for the rest); the host cache grows by `t`.
    pub(crate) fn forward(
        &self,
        c: &Config,
        inv_freq: &[f32],
        tokens: &[u32],
        cache: &mut KvCache,
        rows: usize,
        shortlist: Option<&Shortlist>,
    ) -> Vec<f32> {
        let (t, h) = (tokens.len(), c.hidden_size);
        let start = cache.len();
        let mut x = vec![0f32; t * h];
        crate::linear::gather_rows(&self.embed, tokens, &mut x);
        let (cos, sin) = crate::rope::tables(inv_freq, start, t);
        let mut normed = vec![0f32; t * h];
        for (i, layer) in self.layers.iter().enumerate() {
            rms_norm(&x, &layer.attn_norm, c.rms_norm_eps, &mut normed);
            let [mut q, mut k, v] = layer.qkv.forward::<3>(&normed, t);
            rotate(&mut q, c.head_dim, &cos, &sin);
            rotate(&mut k, c.head_dim, &cos, &sin);
            let (keys, values) = cache.append_host(i, &k, &v);
            let attended = attention(c, &q, keys, values, start);
            add_assign(&mut x, &layer.o.forward(&attended, t));
            rms_norm(&x, &layer.ffn_norm, c.rms_norm_eps, &mut normed);
            let [gate, up] = layer.gate_up.forward::<2>(&normed, t);
            let act = swiglu(&gate, &up);
            add_assign(&mut x, &layer.down.forward(&act, t));
        }
        cache.advance(t);
        let x = &x[(t - rows) * h..];
        let normed = &mut normed[..rows * h];
        rms_norm(x, &self.norm, c.rms_norm_eps, normed);
        if let Some(shortlist) = shortlist {
            return shortlist.logits(normed, rows);
        }
        self.head
            .matmul(normed, rows)
            .expect("input widths are fixed by the model's shapes")
    }
}

/// `x / sqrt(mean(x²) + eps) · w` for each row of `x` into `out`.
fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    for (row, out) in x.chunks_exact(w.len()).zip(out.chunks_exact_mut(w.len())) {
        let scale = 1.0 / (dot(row, row) / row.len() as f32 + eps).sqrt();
        for ((o, &v), &w) in out.iter_mut().zip(row).zip(w) {
            *o = v * scale * w;
        }
    }
}

/// Rotate-half RoPE on `[t, heads · head_dim]`, with the `[t, head_dim / 2]`
/// tables of the same positions.
fn rotate(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32]) {
    let half = head_dim / 2;
    let t = cos.len() / half;
    for (row, (cos, sin)) in x
        .chunks_exact_mut(x.len() / t)
        .zip(cos.chunks_exact(half).zip(sin.chunks_exact(half)))
    {
        for head in row.chunks_exact_mut(head_dim) {
            let (x1, x2) = head.split_at_mut(half);
            for j in 0..half {
                let (a, b) = (x1[j], x2[j]);
                x1[j] = a * cos[j] - b * sin[j];
                x2[j] = b * cos[j] + a * sin[j];
            }
        }
    }
}

/// Causal grouped-query attention of `q` (`[t, heads · head_dim]`, at
/// positions `start..`) over all cached `keys` and `values`
/// (`[start + t, kv_heads · head_dim]`): query `i` sees positions up to
/// its own. Each position's heads are rows of the output, shared among the
/// products' threads ([`tandem_quant::par_rows`]).
fn attention(c: &Config, q: &[f32], keys: &[f32], values: &[f32], start: usize) -> Vec<f32> {
    let (heads, hd) = (c.n_heads, c.head_dim);
    let (kv_dim, group) = (c.n_kv_heads * hd, c.n_heads / c.n_kv_heads);
    let scale = 1.0 / (hd as f32).sqrt();
    let context = keys.len() / kv_dim;
    let mut out = vec![0f32; q.len()];
    // Each row reads about `context` keys and values of `hd` floats.
    let work = (q.len() / hd).saturating_mul(context).saturating_mul(hd * 8);
    tandem_quant::par_rows(&mut out, hd, work, |first, rows| {
        let mut scores = vec![0f32; context];
        for (r, out) in rows.chunks_exact_mut(hd).enumerate() {
            let row = first + r;
            let (i, head) = (row / heads, row % heads);
            let q = &q[row * hd..(row + 1) * hd];
            let kv = (head / group) * hd;
            let scores = &mut scores[..start + i + 1];
            for (j, s) in scores.iter_mut().enumerate() {
                *s = dot(q, &keys[j * kv_dim + kv..j * kv_dim + kv + hd]) * scale;
            }
            math::softmax(scores);
            for (j, &s) in scores.iter().enumerate() {
                for (o, &v) in out.iter_mut().zip(&values[j * kv_dim + kv..j * kv_dim + kv + hd]) {
                    *o += s * v;
                }
            }
        }
    });
    out
}

/// `silu(gate) · up`, elementwise, in runs shared among the products'
/// threads ([`tandem_quant::par_rows`]).
fn swiglu(gate: &[f32], up: &[f32]) -> Vec<f32> {
    const RUN: usize = 256;
    let mut act = vec![0f32; gate.len()];
    tandem_quant::par_rows(&mut act, RUN, gate.len().saturating_mul(8), |first, run| {
        let at = first * RUN;
        for ((a, &g), &u) in run.iter_mut().zip(&gate[at..]).zip(&up[at..]) {
            *a = g / (1.0 + math::exp(-g)) * u;
        }
    });
    act
}
