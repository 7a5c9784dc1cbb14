//! The BERT encoder on host slices: every window of a text goes through
//! each product together (one activation quantization and one pass over
//! the weights per layer and matrix), and attention runs per window.

use super::{HostLinear, HostProjections, add_assign, dot, host_vector, math};
use crate::encoder::EncoderConfig;
use crate::linear::{Linear, Projections, gather_rows};
use burn::tensor::Tensor;
use std::sync::Arc;
use tandem_quant::QMatrix;

/// A LayerNorm's weights on the host.
#[derive(Debug, Clone)]
pub(crate) struct HostNorm {
    w: Vec<f32>,
    b: Vec<f32>,
    eps: f32,
}

impl HostNorm {
    /// The norm, read back from the CPU backend.
    pub(crate) fn new(w: &Tensor<1>, b: &Tensor<1>, eps: f32) -> Option<Self> {
        Some(Self {
            w: host_vector(w)?,
            b: host_vector(b)?,
            eps,
        })
    }

    /// Normalizes each row of `x` in place: `(x − mean) / sqrt(var + eps) · w + b`.
    fn forward(&self, x: &mut [f32]) {
        let n = self.w.len() as f32;
        for row in x.chunks_exact_mut(self.w.len()) {
            let mean = row.iter().sum::<f32>() / n;
            row.iter_mut().for_each(|v| *v -= mean);
            let scale = 1.0 / (dot(row, row) / n + self.eps).sqrt();
            for ((v, &w), &b) in row.iter_mut().zip(&self.w).zip(&self.b) {
                *v = *v * scale * w + b;
            }
        }
    }
}

/// One encoder layer's weights on the host.
#[derive(Debug, Clone)]
pub(crate) struct FusedEncoderLayer {
    qkv: HostProjections,
    attn_out: HostLinear,
    attn_norm: HostNorm,
    up: HostLinear,
    down: HostLinear,
    out_norm: HostNorm,
}

impl FusedEncoderLayer {
    /// The layer, if all its matrices are quantized (and so on the CPU
    /// backend, whose vectors read back synchronously).
    pub(crate) fn new(
        qkv: &Projections,
        attn_out: &Linear,
        attn_norm: impl FnOnce() -> Option<HostNorm>,
        up: &Linear,
        down: &Linear,
        out_norm: impl FnOnce() -> Option<HostNorm>,
    ) -> Option<Self> {
        let (qkv, attn_out, up, down) = (
            HostProjections::new(qkv)?,
            HostLinear::new(attn_out)?,
            HostLinear::new(up)?,
            HostLinear::new(down)?,
        );
        Some(Self {
            qkv,
            attn_out,
            attn_norm: attn_norm()?,
            up,
            down,
            out_norm: out_norm()?,
        })
    }
}

/// The whole encoder on the host (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct FusedEncoder {
    word: Arc<QMatrix>,
    /// `[max_position, hidden]`.
    position: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: HostNorm,
    layers: Vec<FusedEncoderLayer>,
}

impl FusedEncoder {
    /// The encoder from its parts; `None` unless the word table and every
    /// layer's matrices are quantized.
    pub(crate) fn new(
        word: &Arc<QMatrix>,
        position: &Tensor<2>,
        token_type: &Tensor<1>,
        embed_norm: HostNorm,
        layers: Vec<FusedEncoderLayer>,
    ) -> Option<Self> {
        Some(Self {
            word: word.clone(),
            position: position.clone().into_data().try_into_vec().ok()?,
            token_type: host_vector(token_type)?,
            embed_norm,
            layers,
        })
    }

    /// The last hidden states of `rows` (ids checked against the vocabulary
    /// and positions by the caller), `[rows, longest, hidden]` with zeros
    /// past each row's end. `extra`, in that same padded layout, is added
    /// to the input embeddings.
    pub(crate) fn forward(&self, c: &EncoderConfig, rows: &[Vec<u32>], extra: Option<&[f32]>) -> Vec<f32> {
        let h = c.hidden_size;
        let longest = rows.iter().map(Vec::len).max().unwrap_or(0);
        let tokens: Vec<u32> = rows.iter().flatten().copied().collect();
        let n = tokens.len();
        let mut x = vec![0f32; n * h];
        gather_rows(&self.word, &tokens, &mut x);
        let mut at = 0;
        for (r, row) in rows.iter().enumerate() {
            for p in 0..row.len() {
                let out = &mut x[(at + p) * h..(at + p + 1) * h];
                add_assign(out, &self.position[p * h..(p + 1) * h]);
                add_assign(out, &self.token_type);
                if let Some(extra) = extra {
                    add_assign(out, &extra[(r * longest + p) * h..(r * longest + p + 1) * h]);
                }
            }
            at += row.len();
        }
        self.embed_norm.forward(&mut x);
        let lengths: Vec<usize> = rows.iter().map(Vec::len).collect();
        for layer in &self.layers {
            let [q, k, v] = layer.qkv.forward::<3>(&x, n);
            let attended = attention(c, &q, &k, &v, &lengths);
            let mut y = layer.attn_out.forward(&attended, n);
            add_assign(&mut y, &x);
            layer.attn_norm.forward(&mut y);
            x = y;
            let mut up = layer.up.forward(&x, n);
            gelu_all(&mut up);
            let mut y = layer.down.forward(&up, n);
            add_assign(&mut y, &x);
            layer.out_norm.forward(&mut y);
            x = y;
        }
        let mut padded = vec![0f32; rows.len() * longest * h];
        let mut at = 0;
        for (r, &len) in lengths.iter().enumerate() {
            padded[r * longest * h..(r * longest + len) * h].copy_from_slice(&x[at * h..(at + len) * h]);
            at += len;
        }
        padded
    }
}

/// GELU over a whole activation (named apart so that profiles show it).
#[inline(never)]
fn gelu_all(up: &mut [f32]) {
    up.iter_mut().for_each(|v| *v = math::gelu(*v));
}

/// Head sizes the host pass runs; other encoders use burn's graph.
pub(crate) const HEAD_DIMS: [usize; 2] = [32, 64];

/// Bidirectional multi-head attention of each window over itself: `q`, `k`,
/// `v` are `[Σ lengths, hidden]`, windows one after another.
fn attention(c: &EncoderConfig, q: &[f32], k: &[f32], v: &[f32], lengths: &[usize]) -> Vec<f32> {
    match c.hidden_size / c.n_heads {
        32 => attention_of::<32>(c, q, k, v, lengths),
        64 => attention_of::<64>(c, q, k, v, lengths),
        other => unreachable!("head size {other} is not in HEAD_DIMS"),
    }
}

/// [`attention`] with the head size `HD` known at compile time, so that a
/// query's values, a key's or value's row and the output row are arrays
/// that stay in vector registers: each score is one fixed-length dot
/// product, and the output row accumulates every value row before it is
/// stored once.
#[inline(never)]
fn attention_of<const HD: usize>(c: &EncoderConfig, q: &[f32], k: &[f32], v: &[f32], lengths: &[usize]) -> Vec<f32> {
    let h = c.hidden_size;
    let scale = 1.0 / (HD as f32).sqrt();
    let head =
        |x: &[f32], row: usize, col: usize| -> [f32; HD] { x[row * h + col..][..HD].try_into().expect("HD values") };
    let mut out = vec![0f32; q.len()];
    let mut scores = vec![0f32; lengths.iter().copied().max().unwrap_or(0)];
    let mut start = 0;
    for &len in lengths {
        let scores = &mut scores[..len];
        for col in (0..h).step_by(HD) {
            for i in start..start + len {
                let qi = head(q, i, col).map(|x| x * scale);
                for (j, s) in scores.iter_mut().enumerate() {
                    *s = dot(&qi, &head(k, start + j, col));
                }
                math::softmax(scores);
                let mut o = [0f32; HD];
                for (j, &s) in scores.iter().enumerate() {
                    for (o, x) in o.iter_mut().zip(head(v, start + j, col)) {
                        *o += s * x;
                    }
                }
                out[i * h + col..][..HD].copy_from_slice(&o);
            }
        }
        start += len;
    }
    out
}
