//! The GPU kernel against the reference (ggml's dequantization times an
//! `f64` product) on every type, odd shapes and tile sizes, on wgpu (Mesa's
//! lavapipe where there is no GPU; `TANDEM_SKIP_WGPU` skips it).

use super::GpuMatrix;
use burn::tensor::{Device, Tensor, TensorData};
use tandem_quant::QMatrix;

/// Reproducible inputs in `[-1, 1)`: a multiplicative hash of the index
/// and a salt (a run of several matrices and inputs needs no more).
fn inputs(len: usize, salt: u64) -> Vec<f32> {
    (0..len as u64)
        .map(|i| {
            let h = (i ^ salt.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            h as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn every_type_matches_the_dequantized_reference_on_wgpu() {
    if std::env::var_os("TANDEM_SKIP_WGPU").is_some() {
        return;
    }
    let device = Device::wgpu(Default::default());
    // Output features that fill no cube evenly, widths of one and several
    // super-blocks, and input rows below, at and past one tile.
    for (rows, cols) in [(13, 256), (40, 512), (1, 768)] {
        for ty in QMatrix::SUPPORTED {
            let q = QMatrix::random(ty, rows, cols, (rows * cols) as u64 + ty.block_bytes() as u64, 0.05)
                .expect("whole blocks");
            // Whole, and in runs of a few rows (as an output head larger than
            // one storage binding is held).
            let whole = GpuMatrix::upload(&q, &device).expect("wgpu is a GPU device");
            let split = GpuMatrix::upload_in_parts(&q, &device, 3 * whole.bytes() / rows / 2).expect("wgpu");
            assert_eq!(whole.parts.len(), 1);
            assert_eq!(split.parts.len(), rows.div_ceil(split.parts[0].rows));
            assert!(rows == 1 || split.parts.len() > 1);
            for gpu in [whole, split] {
                check(&gpu, &q, &device);
            }
        }
    }
}

/// `gpu` against `q`'s dequantized values times `f64` products, for inputs
/// of several row counts.
fn check(gpu: &GpuMatrix, q: &QMatrix, device: &Device) {
    let (rows, cols, ty) = (q.rows(), q.cols(), q.ty());
    let w = q.dequantize();
    for m in [1, 2, 3, 8, 11, 17] {
        let x = inputs(m * cols, (m * rows * cols) as u64);
        let input = Tensor::<2>::from_data(TensorData::new(x.clone(), [m, cols]), device);
        let got: Vec<f32> = gpu.apply(input).into_data().try_to_vec().expect("f32 output");
        assert_eq!(got.len(), m * rows);
        for i in 0..m {
            for r in 0..rows {
                let (mut want, mut mag) = (0f64, 0f64);
                for k in 0..cols {
                    let p = f64::from(w[r * cols + k]) * f64::from(x[i * cols + k]);
                    want += p;
                    mag += p.abs();
                }
                let err = (f64::from(got[i * rows + r]) - want).abs();
                assert!(
                    err <= 1e-4 * mag + 1e-6,
                    "{ty:?} {rows}x{cols}, {m} rows: [{i}, {r}] = {} against {want} (Σ|w·x| {mag})",
                    got[i * rows + r]
                );
            }
        }
    }
}

#[test]
fn the_cpu_backend_is_not_a_gpu_device() {
    let q = QMatrix::random(tandem_gguf::GgmlType::Q8_0, 2, 32, 1, 0.05).expect("whole blocks");
    assert!(GpuMatrix::upload(&q, &Device::flex()).is_none());
}
