//! Quantized weight matrices on GPU devices (burn's wgpu backend: Vulkan,
//! Metal or DirectX natively, WebGPU in the browser).
//!
//! A GGUF matrix is uploaded in [`GroupedMatrix`]'s layout (the same values
//! as its ggml blocks, 0.75 bytes a weight for 4-bit types and 1.25–1.5 for
//! 5- to 8-bit ones, against 4 for `f32`) and multiplied by the CubeCL
//! kernel in [`kernel`], which reads the codes and widens them in registers:
//! no `f32` copy of a weight is ever made on the device.

mod kernel;

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

/// A quantized `[rows, cols]` matrix in GPU memory.
#[derive(Debug, Clone)]
pub(crate) struct GpuMatrix {
    words: CubeTensor,
    scales: CubeTensor,
    layout: GroupLayout,
    rows: usize,
    cols: usize,
    bytes: usize,
}

impl GpuMatrix {
    /// `matrix` repacked and uploaded to `device`; `None` when `device` is
    /// not a CubeCL (GPU) device.
    pub(crate) fn upload(matrix: &QMatrix, device: &Device) -> Option<Self> {
        let probe = Tensor::<1>::zeros([1], device).try_into_primitive::<Cube>().ok()?;
        let grouped = GroupedMatrix::from_blocks(matrix);
        let client = probe.client.clone();
        let buffer = |bytes: &[u8], len: usize, dtype: DType| {
            let handle = client.create_from_slice(bytes);
            CubeTensor::new_contiguous(client.clone(), probe.device.clone(), Shape::new([len]), handle, dtype)
        };
        Some(Self {
            words: buffer(u32::as_bytes(grouped.words()), grouped.words().len(), DType::U32),
            scales: buffer(f32::as_bytes(grouped.scales()), grouped.scales().len(), DType::F32),
            layout: grouped.layout(),
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
        let [n, cols] = x.dims();
        assert_eq!(cols, self.cols, "input width is fixed by the model's shapes");
        let x = x
            .try_into_primitive::<Cube>()
            .expect("a GPU matrix multiplies tensors on its own device");
        let x = burn_cubecl::kernel::into_contiguous(x);
        let out = empty_device_contiguous_dtype(
            x.client.clone(),
            x.device.clone(),
            Shape::new([n, self.rows]),
            DType::F32,
        );
        let tile = n.min(MAX_TILE).next_power_of_two();
        let cubes_x = self.rows.div_ceil(kernel::ROWS as usize) as u32;
        let cubes_y = n.div_ceil(tile) as u32;
        kernel::grouped_matmul::launch(
            &x.client,
            CubeCount::Static(cubes_x, cubes_y, 1),
            CubeDim::new_2d(kernel::LANES, kernel::ROWS),
            x.clone().into_tensor_arg(),
            self.words.clone().into_tensor_arg(),
            self.scales.clone().into_tensor_arg(),
            out.clone().into_tensor_arg(),
            self.layout.bits() as u32,
            self.layout.group() as u32,
            tile,
        );
        Tensor::from_primitive::<Cube>(out)
    }
}

#[cfg(test)]
mod tests;
