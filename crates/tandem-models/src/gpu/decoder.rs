//! The decoder (Llama, Qwen2) on a GPU device without burn's operation
//! graph: per layer, the products plus four launches of [`super::layer`]'s
//! kernels, against about 30 small burn operations before.
//!
//! It runs when every matrix of a model is quantized on a GPU device
//! ([`GpuMatrix`]), with a key/value cache of device buffers written in
//! place ([`GpuKv`]). The burn graph in `model.rs` stays the reference it is
//! tested against ([`Model::without_fused_gpu`](crate::Model::without_fused_gpu)).

use super::layer::{self, ATTENTION_UNITS, UNITS};
use super::{GpuMatrix, empty};
use crate::config::Config;
use crate::linear::{Linear, Matrix, Projections};
use crate::model::Block;
use burn::backend::Cube;
use burn::tensor::{DType, Shape, Tensor};
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;
use std::sync::Arc;
use tandem_quant::QMatrix;

/// Matrices over one input whose outputs sit side by side (attention's
/// query, key and value; the MLP's gate and up), with their bias.
#[derive(Debug, Clone)]
struct GpuProjections {
    /// In the order of their outputs.
    matrices: Vec<Arc<GpuMatrix>>,
    /// All the matrices' biases, one after another.
    bias: Option<CubeTensor>,
    /// Output features of all the matrices together.
    width: usize,
}

impl GpuProjections {
    /// `p` on the GPU, if every matrix of it is there.
    fn new(p: &Projections) -> Option<Self> {
        let parts: Vec<&Linear> = match p {
            Projections::Stacked(linear, _) => vec![linear],
            Projections::Separate(parts) => parts.iter().collect(),
        };
        let matrices = parts
            .iter()
            .map(|l| match &l.w {
                Matrix::Gpu(m) => Some(m.clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        let bias = match parts.iter().map(|l| l.bias.clone()).collect::<Option<Vec<_>>>() {
            Some(biases) => Some(cube(Tensor::cat(biases, 0))?),
            None if parts.iter().all(|l| l.bias.is_none()) => None,
            None => return None,
        };
        let width = matrices.iter().map(|m| m.rows()).sum();
        Some(Self { matrices, bias, width })
    }

    /// Every matrix's product with `x`, side by side in `out`.
    fn apply_into(&self, x: &CubeTensor, out: &CubeTensor) {
        let mut column = 0;
        for m in &self.matrices {
            m.apply_into(x, out, column);
            column += m.rows();
        }
    }
}

/// One decoder layer's weights on the device.
#[derive(Debug, Clone)]
pub(crate) struct GpuLayer {
    attn_norm: CubeTensor,
    qkv: GpuProjections,
    o: Arc<GpuMatrix>,
    ffn_norm: CubeTensor,
    gate_up: GpuProjections,
    down: Arc<GpuMatrix>,
}

impl GpuLayer {
    /// The layer, if all its matrices are on a GPU device (and only the
    /// query, key and value carry biases).
    pub(crate) fn new(b: &Block) -> Option<Self> {
        let alone = |l: &Linear| match (&l.w, &l.bias) {
            (Matrix::Gpu(m), None) => Some(m.clone()),
            _ => None,
        };
        let gate_up = GpuProjections::new(&b.gate_up)?;
        gate_up.bias.is_none().then_some(())?;
        Some(Self {
            attn_norm: cube(b.attn_norm.clone())?,
            qkv: GpuProjections::new(&b.qkv)?,
            o: alone(&b.o)?,
            ffn_norm: cube(b.ffn_norm.clone())?,
            gate_up,
            down: alone(&b.down)?,
        })
    }
}

/// The whole decoder on a GPU device (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct GpuDecoder {
    /// Rows dequantized on the host as tokens are gathered.
    embed: Arc<QMatrix>,
    layers: Vec<GpuLayer>,
    norm: CubeTensor,
    head: Arc<GpuMatrix>,
    /// Positions a pass runs at most, before the buffer limit
    /// ([`GpuDecoder::pass_rows`]); lowered by tests to run several passes.
    pub(crate) max_pass: usize,
}

impl GpuDecoder {
    /// The decoder from its parts; `None` unless every matrix is on a GPU
    /// device and attention heads are at most [`layer::MAX_HEAD_DIM`] wide
    /// (`layers` is only called when the embedding and head are).
    pub(crate) fn new(
        head_dim: usize,
        embed: Option<&Arc<QMatrix>>,
        head: &Matrix,
        norm: &Tensor<1>,
        layers: impl FnOnce() -> Option<Vec<GpuLayer>>,
    ) -> Option<Self> {
        let (Some(embed), Matrix::Gpu(head)) = (embed, head) else {
            return None;
        };
        (head_dim <= layer::MAX_HEAD_DIM).then_some(())?;
        Some(Self {
            embed: embed.clone(),
            norm: cube(norm.clone())?,
            head: head.clone(),
            layers: layers()?,
            max_pass: 256,
        })
    }

    /// The logits `[rows, vocab]` of the last `rows` (`1..=t`) of `tokens`
    /// (checked against the vocabulary and context by the caller) at
    /// positions `start..`; `kv` grows to hold them. Long runs go in passes
    /// of at most [`GpuDecoder::pass_rows`] positions, each causal over the
    /// cache, so that no dispatch or buffer passes WebGPU's limits.
    pub(crate) fn forward(
        &self,
        c: &Config,
        inv_freq: &[f32],
        tokens: &[u32],
        kv: &mut GpuKv,
        start: usize,
        rows: usize,
    ) -> Tensor<2> {
        let t = tokens.len();
        let first_kept = t - rows;
        let pass = self.pass_rows(c);
        let mut logits: Vec<Tensor<2>> = (0..t)
            .step_by(pass)
            .filter_map(|begin| {
                let end = (begin + pass).min(t);
                let keep = end - first_kept.clamp(begin, end);
                self.pass(c, inv_freq, &tokens[begin..end], kv, start + begin, keep)
            })
            .collect();
        match logits.len() {
            1 => logits.pop().expect("one pass"),
            _ => Tensor::cat(logits, 0),
        }
    }

    /// Positions one pass runs at most: its widest buffer (gate and up, or
    /// the logits) stays within one storage binding, and its row counts far
    /// below the 65,535 cubes a dispatch dimension takes.
    fn pass_rows(&self, c: &Config) -> usize {
        let widest = [
            self.layers[0].gate_up.width,
            self.layers[0].qkv.width,
            self.head.rows(),
            c.hidden_size,
        ]
        .into_iter()
        .max()
        .unwrap_or(1);
        (super::MAX_BINDING / (4 * widest)).clamp(1, self.max_pass.max(1))
    }

    /// One pass over `tokens` at positions `start..`: the logits of its last
    /// `keep` rows, or `None` (no head) when it keeps none.
    fn pass(
        &self,
        c: &Config,
        inv_freq: &[f32],
        tokens: &[u32],
        kv: &mut GpuKv,
        start: usize,
        keep: usize,
    ) -> Option<Tensor<2>> {
        let (t, h, hd) = (tokens.len(), c.hidden_size, c.head_dim);
        let (q_dim, kv_dim, half) = (c.n_heads * hd, c.n_kv_heads * hd, hd / 2);
        let mut embedded = vec![0f32; t * h];
        crate::linear::gather_rows(&self.embed, tokens, &mut embedded);
        let x = upload(&self.norm, &embedded, [t, h]);
        // Each row's cosines, then its sines.
        let (cos, sin) = crate::rope::tables(inv_freq, start, t);
        let angles: Vec<f32> = cos
            .chunks_exact(half)
            .zip(sin.chunks_exact(half))
            .flat_map(|(c, s)| c.iter().chain(s).copied())
            .collect();
        let angles = upload(&x, &angles, [t, hd]);
        kv.reserve(start, start + t, kv_dim, &x);

        let normed = empty(&x, [t, h]);
        let qkv = empty(&x, [t, self.layers[0].qkv.width]);
        let q = empty(&x, [t, q_dim]);
        let attended = empty(&x, [t, q_dim]);
        let delta = empty(&x, [t, h]);
        let gate_up = empty(&x, [t, self.layers[0].gate_up.width]);
        let act = empty(&x, [t, c.intermediate_size]);
        let client = &x.client;
        let arg = |tensor: &CubeTensor| tensor.clone().into_tensor_arg();
        let norm = |weights: &CubeTensor, out: &CubeTensor, first: usize, n: usize, residual: bool| {
            layer::add_rms_norm::launch(
                client,
                CubeCount::Static(n as u32, 1, 1),
                CubeDim::new_1d(UNITS),
                arg(&x),
                arg(&delta),
                arg(weights),
                arg(out),
                first,
                c.rms_norm_eps,
                residual,
            );
        };
        for (i, l) in self.layers.iter().enumerate() {
            let (keys, values) = &kv.layers[i];
            // The previous layer's MLP output joins the residual stream here.
            norm(&l.attn_norm, &normed, 0, t, i > 0);
            l.qkv.apply_into(&normed, &qkv);
            let no_bias = &normed;
            layer::rope_into_cache::launch(
                client,
                CubeCount::Static(t as u32, 1, 1),
                CubeDim::new_1d(UNITS),
                arg(&qkv),
                arg(l.qkv.bias.as_ref().unwrap_or(no_bias)),
                arg(&angles),
                arg(&q),
                arg(keys),
                arg(values),
                start,
                hd,
                l.qkv.bias.is_some(),
            );
            layer::attention::launch(
                client,
                CubeCount::Static(c.n_heads as u32, t as u32, 1),
                CubeDim::new_1d(ATTENTION_UNITS),
                arg(&q),
                arg(keys),
                arg(values),
                arg(&attended),
                start,
                hd,
                c.n_heads / c.n_kv_heads,
                1.0 / (hd as f32).sqrt(),
            );
            l.o.apply_into(&attended, &delta, 0);
            norm(&l.ffn_norm, &normed, 0, t, true);
            l.gate_up.apply_into(&normed, &gate_up);
            layer::swiglu::launch(
                client,
                CubeCount::Static(c.intermediate_size.div_ceil(UNITS as usize) as u32, t as u32, 1),
                CubeDim::new_1d(UNITS),
                arg(&gate_up),
                arg(&act),
            );
            l.down.apply_into(&act, &delta, 0);
        }
        if keep == 0 {
            // The last layer's MLP output is not added: no row of this pass
            // goes on, and the cache already holds its keys and values.
            return None;
        }
        let last = empty(&x, [keep, h]);
        norm(&self.norm, &last, t - keep, keep, true);
        let logits = empty(&x, [keep, self.head.rows()]);
        self.head.apply_into(&last, &logits, 0);
        Some(Tensor::from_primitive::<Cube>(logits))
    }
}

/// A GPU decoder's keys and values: per layer, `[capacity, kv_heads ·
/// head_dim]` device buffers (position-major) that the RoPE kernel writes
/// in place. Buffers shared with another cache (a clone, a copied prefix)
/// are copied before the first write, so neither sees the other's.
#[derive(Debug, Clone, Default)]
pub(crate) struct GpuKv {
    /// Keys and values per layer; empty until the first forward.
    layers: Vec<(CubeTensor, CubeTensor)>,
    n_layers: usize,
}

impl GpuKv {
    /// No buffers yet for `n_layers` layers.
    pub(crate) fn new(n_layers: usize) -> Self {
        Self {
            layers: Vec::new(),
            n_layers,
        }
    }

    /// Positions the buffers have room for.
    pub(crate) fn capacity(&self) -> usize {
        self.layers.first().map_or(0, |(k, _)| k.meta.shape()[0])
    }

    /// Makes room for `end` positions, keeping the first `start`, in buffers
    /// this cache alone holds (a shared one is copied, up to `start`, before
    /// any write); new ones are made on `like`'s device.
    fn reserve(&mut self, start: usize, end: usize, kv_dim: usize, like: &CubeTensor) {
        let shared = self.layers.iter().any(|(k, v)| !k.can_mut() || !v.can_mut());
        if !self.layers.is_empty() && self.capacity() >= end && !shared {
            return;
        }
        let capacity = self
            .capacity()
            .max(end.next_power_of_two())
            .max(crate::cache::FIRST_CAPACITY);
        let grow = |old: Option<&CubeTensor>| {
            let fresh = Tensor::<2>::from_primitive::<Cube>(empty(like, [capacity, kv_dim]));
            let fresh = match old {
                Some(old) if start > 0 => {
                    let kept = Tensor::<2>::from_primitive::<Cube>(old.clone()).narrow(0, 0, start);
                    fresh.slice_assign([0..start, 0..kv_dim], kept)
                }
                _ => fresh,
            };
            cube(fresh).expect("a GPU tensor")
        };
        self.layers = (0..self.n_layers)
            .map(|i| {
                let old = self.layers.get(i);
                (grow(old.map(|(k, _)| k)), grow(old.map(|(_, v)| v)))
            })
            .collect();
    }
}

/// A burn tensor's device buffer, if it is on a GPU device.
fn cube<const D: usize>(t: Tensor<D>) -> Option<CubeTensor> {
    t.try_into_primitive::<Cube>()
        .ok()
        .map(burn_cubecl::kernel::into_contiguous)
}

/// `values` as a new `[.., ..]` tensor on `like`'s device.
fn upload(like: &CubeTensor, values: &[f32], shape: [usize; 2]) -> CubeTensor {
    let handle = like.client.create_from_slice(f32::as_bytes(values));
    CubeTensor::new_contiguous(
        like.client.clone(),
        like.device.clone(),
        Shape::new(shape),
        handle,
        DType::F32,
    )
}
