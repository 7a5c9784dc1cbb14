//! Quantized weight matrices on GPU devices (burn's wgpu backend: Vulkan,
//! Metal or DirectX natively, WebGPU in the browser).
//!
//! A GGUF matrix is uploaded in [`GroupedMatrix`]'s layout (the same values
//! as its ggml blocks: 0.75 bytes a weight for 4-bit types, 0.875 for 5-bit
//! and 1.25 for 6- and 8-bit ones, against 4 for `f32`) and multiplied by the CubeCL
//! kernel in [`kernel`], which reads the codes and widens them in registers:
//! no `f32` copy of a weight is ever made on the device.
//!
//! When every matrix of a decoder is here, [`decoder`] runs its forward
//! passes: the products plus [`layer`]'s four kernels a layer (norms with
//! the residual, RoPE into the KV cache, attention, SwiGLU) instead of
//! burn's operation graph.

mod decoder;
mod kernel;
mod layer;

pub(crate) use decoder::{GpuDecoder, GpuKv, GpuLayer};

use burn::backend::Cube;
use burn::tensor::{DType, Device, Shape, Tensor};
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;
use tandem_quant::{GroupLayout, GroupedMatrix, QMatrix};

/// Input rows one cube multiplies at most: decode runs one, speculative
/// verification and prefill run tiles of up to this many, each tile reading
/// every weight once.
const MAX_TILE: usize = 8;

/// The most bytes one storage buffer may bind: WebGPU's default
/// `maxStorageBufferBindingSize` (128 MiB). A larger matrix (an output head
/// of 150k rows) is held as several runs of rows, one launch each.
const MAX_BINDING: usize = 128 << 20;

/// A quantized `[rows, cols]` matrix in GPU memory.
#[derive(Debug, Clone)]
pub(crate) struct GpuMatrix {
    /// Runs of whole rows, in order, each small enough to bind.
    parts: Vec<Part>,
    layout: GroupLayout,
    rows: usize,
    cols: usize,
    bytes: usize,
}

/// A run of whole rows of a [`GpuMatrix`].
#[derive(Debug, Clone)]
struct Part {
    words: CubeTensor,
    scales: CubeTensor,
    rows: usize,
}

impl GpuMatrix {
    /// `matrix` repacked and uploaded to `device`; `None` when `device` is
    /// not a CubeCL (GPU) device.
    pub(crate) fn upload(matrix: &QMatrix, device: &Device) -> Option<Self> {
        Self::upload_in_parts(matrix, device, MAX_BINDING)
    }

    /// [`GpuMatrix::upload`] with runs of at most `max_binding` bytes of codes.
    fn upload_in_parts(matrix: &QMatrix, device: &Device, max_binding: usize) -> Option<Self> {
        let probe = Tensor::<1>::zeros([1], device).try_into_primitive::<Cube>().ok()?;
        let grouped = GroupedMatrix::from_blocks(matrix);
        let layout = grouped.layout();
        let client = probe.client.clone();
        let buffer = |bytes: &[u8], len: usize, dtype: DType| {
            let handle = client.create_from_slice(bytes);
            CubeTensor::new_contiguous(client.clone(), probe.device.clone(), Shape::new([len]), handle, dtype)
        };
        let groups_per_row = grouped.cols() / layout.group();
        let words_per_row = groups_per_row * layout.words_per_group();
        let rows_per_part = (max_binding / (4 * words_per_row)).max(1);
        let parts = (0..grouped.rows())
            .step_by(rows_per_part)
            .map(|start| {
                let rows = rows_per_part.min(grouped.rows() - start);
                let words = &grouped.words()[start * words_per_row..(start + rows) * words_per_row];
                let scales = &grouped.scales()[2 * start * groups_per_row..2 * (start + rows) * groups_per_row];
                Part {
                    words: buffer(u32::as_bytes(words), words.len(), DType::U32),
                    scales: buffer(f32::as_bytes(scales), scales.len(), DType::F32),
                    rows,
                }
            })
            .collect();
        Some(Self {
            parts,
            layout,
            rows: grouped.rows(),
            cols: grouped.cols(),
            bytes: grouped.bytes(),
        })
    }

    /// Output features.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes the matrix takes in GPU memory.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// `x · Wᵀ` for `x` of `[n, cols]` on this matrix's device: `[n, rows]`.
    pub(crate) fn apply(&self, x: Tensor<2>) -> Tensor<2> {
        let x = x
            .try_into_primitive::<Cube>()
            .expect("a GPU matrix multiplies tensors on its own device");
        let x = burn_cubecl::kernel::into_contiguous(x);
        let n = x.meta.shape()[0];
        let out = empty(&x, [n, self.rows]);
        self.apply_into(&x, &out, 0);
        Tensor::from_primitive::<Cube>(out)
    }

    /// `x · Wᵀ` for contiguous `x` of `[n, cols]`, written to columns
    /// `column..column + rows` of `out` (`[n, at least column + rows]`): the
    /// outputs of several matrices over one input side by side.
    pub(crate) fn apply_into(&self, x: &CubeTensor, out: &CubeTensor, column: usize) {
        let [n, cols] = x.meta.shape().dims();
        assert_eq!(cols, self.cols, "input width is fixed by the model's shapes");
        assert!(out.meta.shape()[0] == n && out.meta.shape()[1] >= column + self.rows);
        let mut column = column;
        for part in &self.parts {
            self.launch(x, part, out, column);
            column += part.rows;
        }
    }

    /// `x · Wᵀ` for the rows of `part`, into `out` from `column`.
    fn launch(&self, x: &CubeTensor, part: &Part, out: &CubeTensor, column: usize) {
        let n = x.meta.shape()[0];
        let tile = n.min(MAX_TILE).next_power_of_two();
        let cubes_x = part.rows.div_ceil(kernel::ROWS as usize) as u32;
        let cubes_y = n.div_ceil(tile) as u32;
        kernel::grouped_matmul::launch(
            &x.client,
            CubeCount::Static(cubes_x, cubes_y, 1),
            CubeDim::new_2d(kernel::LANES, kernel::ROWS),
            kernel::VECTOR,
            x.clone().into_tensor_arg(),
            part.words.clone().into_tensor_arg(),
            part.scales.clone().into_tensor_arg(),
            out.clone().into_tensor_arg(),
            column,
            self.layout.bits() as u32,
            self.layout.group() as u32,
            self.layout.words_per_group() as u32,
            tile,
        );
    }
}

/// A new contiguous `f32` tensor of `shape` on `like`'s device (its values
/// are whatever the memory held).
pub(crate) fn empty<const D: usize>(like: &CubeTensor, shape: [usize; D]) -> CubeTensor {
    empty_device_contiguous_dtype(like.client.clone(), like.device.clone(), Shape::new(shape), DType::F32)
}

#[cfg(test)]
mod tests;
