//! The one layer every model here shares, and how its weights are held.

use crate::error::ModelError;
use crate::weights::WeightSource;
use burn::tensor::{Device, Tensor, TensorData};
use std::sync::Arc;
use tandem_quant::QMatrix;

/// How a model holds its weight matrices in memory.
///
/// Quantized matrices run through `tandem-quant`'s fused CPU kernels, so
/// they are used on the CPU backend only; on a GPU device every format
/// widens to `f32` until a GPU kernel reads the blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// As stored: GGUF's quantized blocks stay quantized, dense weights
    /// stay `f32`. The default.
    #[default]
    Stored,
    /// Every matrix widened to `f32`: the reference the quantized path is
    /// tested against.
    F32,
    /// As stored, and dense (`f32`, `f16`, `bf16`) matrices quantized to
    /// `Q8_0` at load: a quarter of the memory of `f32`.
    Q8_0,
}

impl WeightFormat {
    /// The format actually used on `device`.
    pub(crate) fn on(self, device: &Device) -> Self {
        if *device == Device::flex() { self } else { Self::F32 }
    }
}

/// A weight matrix as a layer holds it.
// A burn tensor handle is large (576 bytes) next to an `Arc`, but a model
// holds a few of these per layer and never moves them in a loop.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Matrix {
    /// `[in, out]`, so that `x · w` needs no transpose.
    Dense(Tensor<2>),
    /// `[out, in]` ggml blocks, on the CPU backend.
    Quantized(Arc<QMatrix>),
}

impl Matrix {
    /// `x · Wᵀ` for `x` of `[n, in]`: `[n, out]`.
    pub(crate) fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Dense(w) => x.matmul(w.clone()),
            Self::Quantized(w) => {
                let [n, _] = x.dims();
                let device = x.device();
                // Quantized matrices live only on the CPU backend (`WeightFormat::on`),
                // whose reads are plain copies, and their shapes were checked at load.
                let xs: Vec<f32> = x
                    .into_data()
                    .try_into_vec()
                    .expect("f32 activations on the CPU backend");
                let y = w.matmul(&xs, n).expect("input width checked at load");
                Tensor::from_data(TensorData::new(y, [n, w.rows()]), &device)
            }
        }
    }

    /// Output features.
    pub(crate) fn out_features(&self) -> usize {
        match self {
            Self::Dense(w) => w.dims()[1],
            Self::Quantized(w) => w.rows(),
        }
    }
}

/// A linear layer: `x · Wᵀ + b`.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    pub(crate) w: Matrix,
    pub(crate) bias: Option<Tensor<1>>,
}

impl Linear {
    pub(crate) fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, d] = x.dims();
        let out = self.w.out_features();
        let y = self.w.apply(x.reshape([b * t, d]));
        let y = match &self.bias {
            Some(bias) => y + bias.clone().unsqueeze::<2>(),
            None => y,
        };
        y.reshape([b, t, out])
    }
}

/// Linear layers over the same input (attention's query, key and value;
/// the MLP's gate and up projections), run as one product where their
/// weights stack: one activation quantization and one threaded pass
/// instead of several.
#[allow(clippy::large_enum_variant)] // a few per layer, never moved in a loop; see `Matrix`
#[derive(Debug, Clone)]
pub(crate) enum Projections {
    /// One layer whose output is the parts' outputs side by side, with
    /// each part's width.
    Stacked(Linear, Vec<usize>),
    /// Weights that do not stack (different quantization types).
    Separate(Vec<Linear>),
}

impl Projections {
    /// Stacks `parts` when their weights allow it.
    pub(crate) fn new(parts: Vec<Linear>) -> Self {
        let widths = parts.iter().map(|p| p.w.out_features()).collect();
        let bias = match parts.iter().map(|p| p.bias.clone()).collect::<Option<Vec<_>>>() {
            Some(biases) => Some(Some(Tensor::cat(biases, 0))),
            None if parts.iter().all(|p| p.bias.is_none()) => Some(None),
            None => None,
        };
        match (stack(parts.iter().map(|p| &p.w)), bias) {
            (Some(w), Some(bias)) => Self::Stacked(Linear { w, bias }, widths),
            _ => Self::Separate(parts),
        }
    }

    /// Each part's output for `x`, in the order given to [`Projections::new`].
    pub(crate) fn forward(&self, x: Tensor<3>) -> Vec<Tensor<3>> {
        match self {
            Self::Stacked(linear, widths) => {
                let y = linear.forward(x);
                let mut start = 0;
                widths
                    .iter()
                    .map(|&n| {
                        start += n;
                        y.clone().narrow(2, start - n, n)
                    })
                    .collect()
            }
            Self::Separate(parts) => parts.iter().map(|p| p.forward(x.clone())).collect(),
        }
    }
}

/// The rows of `matrices` one after another, if they are all quantized
/// with one type and width, or all dense.
fn stack<'a>(matrices: impl Iterator<Item = &'a Matrix>) -> Option<Matrix> {
    let matrices: Vec<&Matrix> = matrices.collect();
    let quantized: Option<Vec<&QMatrix>> = matrices
        .iter()
        .map(|m| match m {
            Matrix::Quantized(q) => Some(q.as_ref()),
            Matrix::Dense(_) => None,
        })
        .collect();
    if let Some(quantized) = quantized {
        return QMatrix::stack(&quantized).map(|q| Matrix::Quantized(Arc::new(q)));
    }
    let dense: Vec<Tensor<2>> = matrices
        .iter()
        .map(|m| match m {
            Matrix::Dense(t) => Some(t.clone()),
            Matrix::Quantized(_) => None,
        })
        .collect::<Option<_>>()?;
    // Dense matrices are held `[in, out]`: outputs side by side.
    Some(Matrix::Dense(Tensor::cat(dense, 1)))
}

/// Reads a weight and checks its shape against `shape`.
pub(crate) fn load_weight(
    source: &dyn WeightSource,
    name: &str,
    shape: &[usize],
) -> Result<crate::weights::Weight, ModelError> {
    let w = source.get(name)?.ok_or_else(|| ModelError::Weight {
        name: name.to_owned(),
        reason: "missing".to_owned(),
    })?;
    check_shape(name, &w.shape, shape)?;
    Ok(w)
}

fn check_shape(name: &str, got: &[usize], want: &[usize]) -> Result<(), ModelError> {
    if got != want {
        return Err(ModelError::Weight {
            name: name.to_owned(),
            reason: format!("shape {got:?}, expected {want:?}"),
        });
    }
    Ok(())
}

/// A `[n]` vector weight.
pub(crate) fn load_vector(
    source: &dyn WeightSource,
    name: &str,
    n: usize,
    device: &Device,
) -> Result<Tensor<1>, ModelError> {
    let w = load_weight(source, name, &[n])?;
    Ok(Tensor::from_data(TensorData::new(w.data, [n]), device))
}

/// The `[rows, cols]` matrix `name` (PyTorch layout) held as `format` says.
pub(crate) fn load_matrix(
    source: &dyn WeightSource,
    name: &str,
    rows: usize,
    cols: usize,
    device: &Device,
    format: WeightFormat,
) -> Result<Matrix, ModelError> {
    let format = format.on(device);
    if format != WeightFormat::F32
        && let Some(q) = source.get_quantized(name)?
    {
        check_shape(name, &[q.rows(), q.cols()], &[rows, cols])?;
        return Ok(Matrix::Quantized(Arc::new(q)));
    }
    let w = load_weight(source, name, &[rows, cols])?;
    if format == WeightFormat::Q8_0
        && let Ok(q) = QMatrix::quantize_q8_0(&w.data, rows, cols)
    {
        return Ok(Matrix::Quantized(Arc::new(q)));
    }
    let w = Tensor::<2>::from_data(TensorData::new(w.data, [rows, cols]), device).transpose();
    Ok(Matrix::Dense(w))
}

/// `{name}.weight` stored `[out, in]` (PyTorch), held as `format` says, and
/// `{name}.bias`.
pub(crate) fn load_linear(
    source: &dyn WeightSource,
    name: &str,
    out: usize,
    inp: usize,
    bias: bool,
    device: &Device,
    format: WeightFormat,
) -> Result<Linear, ModelError> {
    let w = load_matrix(source, &format!("{name}.weight"), out, inp, device, format)?;
    let bias = if bias {
        Some(load_vector(source, &format!("{name}.bias"), out, device)?)
    } else {
        None
    };
    Ok(Linear { w, bias })
}
