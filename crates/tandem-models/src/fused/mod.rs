//! The models on the CPU without burn's operation graph.
//!
//! When every weight matrix of a model is quantized (the CPU backend with
//! [`WeightFormat::Stored`](crate::WeightFormat) on a quantized GGUF, or
//! dense weights quantized at load), a forward pass is `tandem-quant`'s
//! products plus a little arithmetic per layer: norms, attention, the MLP's
//! activation and residual additions. Run as burn operations, that
//! arithmetic is tens of small tensor operations per layer, each allocating
//! and dispatching: it cost as much as a third of a decode step, and most
//! of an encoder pass in the browser. Here it is a few loops over `f32`
//! slices, written so that LLVM vectorizes them.
//!
//! - `decoder.rs`: Llama/Qwen2, with a key/value cache in host memory
//!   ([`KvCache::new_host`](crate::KvCache::new_host)).
//! - `encoder.rs`: BERT (the shield's and router's encoder), all windows of
//!   a text in one set of products.
//!
//! The burn graphs in `model.rs` and `encoder.rs` stay the references:
//! tests compare each fused pass with its graph on the same weights
//! ([`Model::without_fused_cpu`](crate::Model::without_fused_cpu),
//! [`Encoder::without_fused_cpu`](crate::Encoder::without_fused_cpu)).

mod decoder;
mod encoder;
mod math;

pub(crate) use decoder::{Fused, FusedLayer};
pub(crate) use encoder::{FusedEncoder, FusedEncoderLayer, HEAD_DIMS, HostNorm};

use crate::linear::{HostMatrix, Linear, Projections};
use burn::tensor::Tensor;

/// A linear layer with a quantized matrix and a host bias.
#[derive(Debug, Clone)]
pub(crate) struct HostLinear {
    w: HostMatrix,
    bias: Option<Vec<f32>>,
}

impl HostLinear {
    /// The layer's weights, if its matrix is quantized.
    pub(crate) fn new(linear: &Linear) -> Option<Self> {
        let w = linear.w.host()?;
        let bias = match &linear.bias {
            Some(b) => Some(host_vector(b)?),
            None => None,
        };
        Some(Self { w, bias })
    }

    /// `x · Wᵀ + b` for `t` rows of input.
    pub(crate) fn forward(&self, x: &[f32], t: usize) -> Vec<f32> {
        let mut y = self.w.matmul(x, t);
        if let Some(bias) = &self.bias {
            for row in y.chunks_exact_mut(bias.len()) {
                add_assign(row, bias);
            }
        }
        y
    }
}

/// [`Projections`] on the host: one stacked product or several.
#[derive(Debug, Clone)]
pub(crate) enum HostProjections {
    Stacked(HostLinear, Vec<usize>),
    Separate(Vec<HostLinear>),
}

impl HostProjections {
    pub(crate) fn new(p: &Projections) -> Option<Self> {
        Some(match p {
            Projections::Stacked(linear, widths) => Self::Stacked(HostLinear::new(linear)?, widths.clone()),
            Projections::Separate(parts) => Self::Separate(parts.iter().map(HostLinear::new).collect::<Option<_>>()?),
        })
    }

    /// Each part's output, `[t, width]`, in order.
    pub(crate) fn forward<const N: usize>(&self, x: &[f32], t: usize) -> [Vec<f32>; N] {
        match self {
            Self::Stacked(linear, widths) => {
                let y = linear.forward(x, t);
                let total: usize = widths.iter().sum();
                let mut offset = 0;
                std::array::from_fn(|part| {
                    let (start, width) = (offset, widths[part]);
                    offset += width;
                    let mut part = Vec::with_capacity(t * width);
                    for row in y.chunks_exact(total) {
                        part.extend_from_slice(&row[start..start + width]);
                    }
                    part
                })
            }
            Self::Separate(parts) => std::array::from_fn(|part| parts[part].forward(x, t)),
        }
    }
}

/// A burn vector's values (the CPU backend's reads are plain copies).
pub(crate) fn host_vector(t: &Tensor<1>) -> Option<Vec<f32>> {
    t.clone().into_data().try_into_vec().ok()
}

/// `a += b`, element by element.
pub(crate) fn add_assign(a: &mut [f32], b: &[f32]) {
    for (a, b) in a.iter_mut().zip(b) {
        *a += b;
    }
}

/// `Σ a·b` in eight independent lanes, so that it vectorizes (a single
/// float accumulator would force one addition after another).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (a, b) in a8.zip(b8) {
        for l in 0..8 {
            lanes[l] += a[l] * b[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}
