//! The one layer every model here shares, and how its weights are held.

use crate::error::ModelError;
use crate::weights::WeightSource;
use burn::tensor::{Device, Tensor, TensorData};
use std::sync::Arc;
use tandem_quant::{Int8Matrix, QMatrix};

#[cfg(feature = "wgpu")]
use crate::gpu::GpuMatrix;

/// How a model holds its weight matrices in memory.
///
/// Quantized matrices run through `tandem-quant`'s fused kernels on the CPU
/// backend and, with the `wgpu` feature, through a CubeCL kernel on GPU
/// devices (`crate::gpu`). `Int8` is a CPU format: on a GPU it widens to
/// `f32`, as every format does without the `wgpu` feature.
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
    /// As stored, and dense matrices quantized per output row to 8 bits at
    /// load ([`tandem_quant::Int8Matrix`]): the encoder's format, whose
    /// products run all of a text's tokens through integer tiles.
    Int8,
}

impl WeightFormat {
    /// The format actually used on `device`.
    pub(crate) fn on(self, device: &Device) -> Self {
        match self {
            _ if *device == Device::flex() => self,
            Self::Stored | Self::Q8_0 if cfg!(feature = "wgpu") => self,
            _ => Self::F32,
        }
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
    /// `[out, in]` per-row 8-bit values, on the CPU backend.
    Int8(Arc<Int8Matrix>),
    /// `[out, in]` quantized codes in GPU memory.
    #[cfg(feature = "wgpu")]
    Gpu(Arc<GpuMatrix>),
}

impl Matrix {
    /// `x · Wᵀ` for `x` of `[n, in]`: `[n, out]`.
    pub(crate) fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Dense(w) => x.matmul(w.clone()),
            #[cfg(feature = "wgpu")]
            Self::Gpu(w) => w.apply(x),
            _ => {
                let [n, _] = x.dims();
                let device = x.device();
                // Quantized matrices live only on the CPU backend (`WeightFormat::on`),
                // whose reads are plain copies.
                let xs: Vec<f32> = x
                    .into_data()
                    .try_into_vec()
                    .expect("f32 activations on the CPU backend");
                let w = self.host().expect("a quantized matrix");
                Tensor::from_data(TensorData::new(w.matmul(&xs, n), [n, w.rows()]), &device)
            }
        }
    }

    /// The matrix as the host holds it, if it is quantized.
    pub(crate) fn host(&self) -> Option<HostMatrix> {
        match self {
            Self::Dense(_) => None,
            #[cfg(feature = "wgpu")]
            Self::Gpu(_) => None,
            Self::Quantized(w) => Some(HostMatrix::Quantized(w.clone())),
            Self::Int8(w) => Some(HostMatrix::Int8(w.clone())),
        }
    }

    /// Output features.
    pub(crate) fn out_features(&self) -> usize {
        match self {
            Self::Dense(w) => w.dims()[1],
            Self::Quantized(w) => w.rows(),
            Self::Int8(w) => w.rows(),
            #[cfg(feature = "wgpu")]
            Self::Gpu(w) => w.rows(),
        }
    }

    /// Bytes the weights take where they live (host or device memory).
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Self::Dense(w) => 4 * w.shape().num_elements(),
            Self::Quantized(w) => w.bytes(),
            Self::Int8(w) => w.bytes(),
            #[cfg(feature = "wgpu")]
            Self::Gpu(w) => w.bytes(),
        }
    }

    /// The matrix as `device` runs it: quantized blocks move to GPU memory
    /// on a GPU device (with the `wgpu` feature); everything else is
    /// already where it runs. Called once a model's matrices are stacked.
    pub(crate) fn on_device(self, device: &Device) -> Self {
        #[cfg(feature = "wgpu")]
        if let Self::Quantized(q) = &self
            && let Some(gpu) = GpuMatrix::upload(q, device)
        {
            return Self::Gpu(Arc::new(gpu));
        }
        let _ = device;
        self
    }
}

/// A quantized matrix, which lives in host memory: what the fused CPU
/// passes multiply by.
#[derive(Debug, Clone)]
pub(crate) enum HostMatrix {
    /// ggml blocks.
    Quantized(Arc<QMatrix>),
    /// Per-row 8-bit values.
    Int8(Arc<Int8Matrix>),
}

impl HostMatrix {
    /// `x · Wᵀ` for `n` rows of `x`.
    pub(crate) fn matmul(&self, x: &[f32], n: usize) -> Vec<f32> {
        // Shapes are checked at load, and every caller passes rows of the
        // width the model's shapes fix.
        let width = "input widths are fixed by the model's shapes";
        match self {
            Self::Quantized(w) => w.matmul(x, n).expect(width),
            Self::Int8(w) => w.matmul(x, n).expect(width),
        }
    }

    /// Output features.
    pub(crate) fn rows(&self) -> usize {
        match self {
            Self::Quantized(w) => w.rows(),
            Self::Int8(w) => w.rows(),
        }
    }
}

/// A token embedding table.
#[allow(clippy::large_enum_variant)] // one per model; see `Matrix`
#[derive(Debug, Clone)]
pub(crate) enum Embedding {
    /// `[vocab, hidden]` on the device.
    Dense(Tensor<2>),
    /// ggml blocks, rows dequantized on gather.
    Quantized(Arc<QMatrix>),
}

impl Embedding {
    /// The `[vocab, hidden]` table `name`, held as `format` says: ggml
    /// blocks for every quantized format (rows are gathered one by one,
    /// which per-row 8-bit values are not laid out for).
    pub(crate) fn load(
        source: &dyn WeightSource,
        name: &str,
        vocab: usize,
        hidden: usize,
        device: &Device,
        format: WeightFormat,
    ) -> Result<Self, ModelError> {
        let format = match format {
            WeightFormat::Int8 => WeightFormat::Q8_0,
            other => other,
        };
        Ok(match load_matrix(source, name, vocab, hidden, device, format)? {
            // `load_matrix` holds dense matrices as `[in, out]`; gathering rows
            // wants the table as stored (undoing the transpose is a view).
            Matrix::Dense(t) => Self::Dense(t.transpose()),
            Matrix::Quantized(q) => Self::Quantized(q),
            Matrix::Int8(_) => unreachable!("embeddings are never loaded as Int8 (see above)"),
            #[cfg(feature = "wgpu")]
            Matrix::Gpu(_) => unreachable!("load_matrix keeps matrices in host memory"),
        })
    }

    /// The rows of `tokens` (all inside the vocabulary), `[t, hidden]`.
    pub(crate) fn gather(&self, tokens: &[u32], device: &Device) -> Tensor<2> {
        match self {
            Self::Dense(table) => {
                let ids: Vec<i32> = tokens.iter().map(|&t| t as i32).collect();
                let ids = Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(ids, [tokens.len()]), device);
                table.clone().select(0, ids)
            }
            Self::Quantized(table) => {
                let h = table.cols();
                let mut rows = vec![0f32; tokens.len() * h];
                gather_rows(table, tokens, &mut rows);
                Tensor::from_data(TensorData::new(rows, [tokens.len(), h]), device)
            }
        }
    }
}

/// The rows of `tokens` (all inside the vocabulary) of a quantized table
/// into `out`, dequantized on gather: the table itself stays quantized.
pub(crate) fn gather_rows(table: &QMatrix, tokens: &[u32], out: &mut [f32]) {
    for (&t, row) in tokens.iter().zip(out.chunks_exact_mut(table.cols())) {
        table
            .dequantize_row(t as usize, row)
            .expect("token ids checked against the vocabulary");
    }
}

/// A linear layer: `x · Wᵀ + b`.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    pub(crate) w: Matrix,
    pub(crate) bias: Option<Tensor<1>>,
}

impl Linear {
    /// This layer as `device` runs it ([`Matrix::on_device`]).
    pub(crate) fn on_device(self, device: &Device) -> Self {
        Self {
            w: self.w.on_device(device),
            bias: self.bias,
        }
    }

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

    /// These layers as `device` runs them ([`Matrix::on_device`]).
    pub(crate) fn on_device(self, device: &Device) -> Self {
        match self {
            Self::Stacked(linear, widths) => Self::Stacked(linear.on_device(device), widths),
            Self::Separate(parts) => Self::Separate(parts.into_iter().map(|p| p.on_device(device)).collect()),
        }
    }

    /// Bytes of the weights.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Self::Stacked(linear, _) => linear.w.bytes(),
            Self::Separate(parts) => parts.iter().map(|p| p.w.bytes()).sum(),
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
    let int8: Option<Vec<&Int8Matrix>> = matrices
        .iter()
        .map(|m| match m {
            Matrix::Int8(q) => Some(q.as_ref()),
            _ => None,
        })
        .collect();
    if let Some(int8) = int8 {
        return Int8Matrix::stack(&int8).map(|q| Matrix::Int8(Arc::new(q)));
    }
    let quantized: Option<Vec<&QMatrix>> = matrices
        .iter()
        .map(|m| match m {
            Matrix::Quantized(q) => Some(q.as_ref()),
            _ => None,
        })
        .collect();
    if let Some(quantized) = quantized {
        return QMatrix::stack(&quantized).map(|q| Matrix::Quantized(Arc::new(q)));
    }
    let dense: Vec<Tensor<2>> = matrices
        .iter()
        .map(|m| match m {
            Matrix::Dense(t) => Some(t.clone()),
            _ => None,
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
        // On the CPU, in the layout this CPU's kernel reads fastest (x86:
        // `Q4_K` rows interleaved in eights); a GPU regroups the blocks anyway.
        let q = if *device == Device::flex() {
            q.into_fastest_layout()
        } else {
            q
        };
        return Ok(Matrix::Quantized(Arc::new(q)));
    }
    let w = load_weight(source, name, &[rows, cols])?;
    if format == WeightFormat::Q8_0
        && let Ok(q) = QMatrix::quantize_q8_0(&w.data, rows, cols)
    {
        return Ok(Matrix::Quantized(Arc::new(q)));
    }
    if format == WeightFormat::Int8
        && let Ok(q) = Int8Matrix::quantize(&w.data, rows, cols)
    {
        return Ok(Matrix::Int8(Arc::new(q)));
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
