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

/// The kernel alone over every matrix of a Qwen2.5-Coder-1.5B-shaped layer
/// stack (28 layers of fused q/k/v, o, fused gate/up and down; no head, no
/// attention, no norms), each layer's matrices separate buffers so that
/// nothing is served from cache: weights GB/s for k = 1…16 input rows, to set
/// beside a GPU's copy bandwidth. A benchmark for `pkg-scripts/bench-gpu`,
/// not a test: `cargo test --release -p tandem-models --lib -- --ignored
/// --nocapture kernel_throughput`.
#[test]
#[ignore = "benchmark: run on a GPU by pkg-scripts/bench-gpu"]
fn kernel_throughput() {
    use std::time::Instant;
    use tandem_gguf::GgmlType;
    let device = Device::wgpu(Default::default());
    let (hidden, inter, layers) = (1536, 8960, 28);
    let shapes = [
        (1536 + 2 * 256, hidden),
        (hidden, 1536),
        (2 * inter, hidden),
        (hidden, inter),
    ];
    for ty in [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0] {
        let host: Vec<QMatrix> = shapes
            .iter()
            .map(|&(r, c)| QMatrix::random(ty, r, c, (r * c) as u64, 0.02).expect("whole blocks"))
            .collect();
        let gpu: Vec<GpuMatrix> = (0..layers)
            .flat_map(|_| host.iter().map(|q| GpuMatrix::upload(q, &device).expect("wgpu")))
            .collect();
        let bytes: usize = gpu.iter().map(GpuMatrix::bytes).sum();
        let mut base = None;
        for k in [1, 2, 4, 8, 16] {
            let x_hidden = Tensor::<2>::from_data(TensorData::new(inputs(k * hidden, 1), [k, hidden]), &device);
            let x_inter = Tensor::<2>::from_data(TensorData::new(inputs(k * inter, 2), [k, inter]), &device);
            let chains = |n: u32| {
                let start = Instant::now();
                for _ in 0..n {
                    let mut last = None;
                    for m in &gpu {
                        let x = if m.cols == hidden { &x_hidden } else { &x_inter };
                        last = Some(m.apply(x.clone()));
                    }
                    drop(last.expect("matrices").into_data());
                }
                start.elapsed().as_secs_f64() * 1e3 / f64::from(n)
            };
            // A GPU idles at a low clock while the host builds the matrices:
            // half a second of work first, then the median of five batches.
            let warm = Instant::now();
            while warm.elapsed().as_secs_f64() < 0.5 {
                chains(1);
            }
            let mut batches: Vec<f64> = (0..5).map(|_| chains(10)).collect();
            batches.sort_by(f64::total_cmp);
            let ms = batches[2];
            let one = *base.get_or_insert(ms);
            println!(
                "{ty:?} k={k:2} {:.1} MB of codes: {ms:.3} ms per chain of {} launches, {:.0} GB/s, ÷k=1 {:.2}",
                bytes as f64 / 1e6,
                gpu.len(),
                bytes as f64 / ms / 1e6,
                ms / one
            );
        }
    }
}

/// The layer kernels ([`super::layer`]) against host loops, on wgpu.
mod layer_kernels {
    use super::super::layer::{self, UNITS};
    use super::inputs;
    use burn::backend::Cube;
    use burn::tensor::{Device, Tensor, TensorData};
    use burn_cubecl::tensor::CubeTensor;
    use cubecl::prelude::*;

    fn device() -> Option<Device> {
        std::env::var_os("TANDEM_SKIP_WGPU")
            .is_none()
            .then(|| Device::wgpu(Default::default()))
    }

    fn tensor(values: &[f32], shape: [usize; 2], device: &Device) -> CubeTensor {
        Tensor::<2>::from_data(TensorData::new(values.to_vec(), shape), device)
            .try_into_primitive::<Cube>()
            .expect("wgpu")
    }

    fn read(t: &CubeTensor) -> Vec<f32> {
        Tensor::<2>::from_primitive::<Cube>(t.clone())
            .into_data()
            .try_to_vec()
            .expect("f32")
    }

    fn close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-5 * (1.0 + w.abs()), "{what}[{i}]: {g} against {w}");
        }
    }

    #[test]
    fn add_rms_norm_matches_the_host() {
        let Some(device) = device() else { return };
        // A width past one cube's units with a tail, and rows chosen from the middle.
        let (t, h, first, n) = (5, 600, 1, 3);
        let (x0, delta, w) = (inputs(t * h, 1), inputs(t * h, 2), inputs(h, 3));
        for residual in [false, true] {
            let x = tensor(&x0, [t, h], &device);
            let out = super::super::empty(&x, [n, h]);
            layer::add_rms_norm::launch(
                &x.client,
                CubeCount::Static(n as u32, 1, 1),
                CubeDim::new_1d(UNITS),
                x.clone().into_tensor_arg(),
                tensor(&delta, [t, h], &device).into_tensor_arg(),
                tensor(&w, [1, h], &device).into_tensor_arg(),
                out.clone().into_tensor_arg(),
                first,
                1e-6,
                residual,
            );
            let mut xs = x0.clone();
            if residual {
                for r in first..first + n {
                    for i in 0..h {
                        xs[r * h + i] += delta[r * h + i];
                    }
                }
            }
            let mut want = Vec::new();
            for r in first..first + n {
                let row = &xs[r * h..(r + 1) * h];
                let scale = 1.0 / (row.iter().map(|v| v * v).sum::<f32>() / h as f32 + 1e-6).sqrt();
                want.extend(row.iter().zip(&w).map(|(v, w)| v * scale * w));
            }
            close(&read(&out), &want, "norm");
            close(&read(&x), &xs, "residual stream");
        }
    }

    #[test]
    fn rope_into_cache_matches_the_host() {
        let Some(device) = device() else { return };
        // Heads of 8 (two query heads, one key/value head), and of 128 (four and two: more
        // pairs than a cube has units); rows written at positions 5.. of a cache of 9.
        for (hd, heads, kv_heads) in [(8, 2, 1), (128, 4, 2)] {
            let (t, start, capacity) = (3, 5, 9);
            let (q_dim, kv_dim, half) = (heads * hd, kv_heads * hd, hd / 2);
            let width = q_dim + 2 * kv_dim;
            let (qkv, bias, angles) = (inputs(t * width, 4), inputs(width, 5), inputs(t * hd, 6));
            for has_bias in [false, true] {
                let like = tensor(&qkv, [t, width], &device);
                let (q, keys, values) = (
                    super::super::empty(&like, [t, q_dim]),
                    tensor(&vec![0.0; capacity * kv_dim], [capacity, kv_dim], &device),
                    tensor(&vec![0.0; capacity * kv_dim], [capacity, kv_dim], &device),
                );
                layer::rope_into_cache::launch(
                    &like.client,
                    CubeCount::Static(t as u32, 1, 1),
                    CubeDim::new_1d(UNITS),
                    like.clone().into_tensor_arg(),
                    tensor(&bias, [1, width], &device).into_tensor_arg(),
                    tensor(&angles, [t, hd], &device).into_tensor_arg(),
                    q.clone().into_tensor_arg(),
                    keys.clone().into_tensor_arg(),
                    values.clone().into_tensor_arg(),
                    start,
                    hd,
                    has_bias,
                );
                let value = |i: usize, c: usize| qkv[i * width + c] + if has_bias { bias[c] } else { 0.0 };
                let (mut want_q, mut want_k, mut want_v) = (
                    vec![0.0; t * q_dim],
                    vec![0.0; capacity * kv_dim],
                    vec![0.0; capacity * kv_dim],
                );
                for i in 0..t {
                    for head in 0..heads + kv_heads {
                        for j in 0..half {
                            let col = head * hd + j;
                            let (a, b) = (value(i, col), value(i, col + half));
                            let (c, s) = (angles[i * hd + j], angles[i * hd + half + j]);
                            let (out, at) = match col < q_dim {
                                true => (&mut want_q, i * q_dim + col),
                                false => (&mut want_k, (start + i) * kv_dim + col - q_dim),
                            };
                            out[at] = a * c - b * s;
                            out[at + half] = b * c + a * s;
                        }
                    }
                    for c in 0..kv_dim {
                        want_v[(start + i) * kv_dim + c] = value(i, q_dim + kv_dim + c);
                    }
                }
                close(&read(&q), &want_q, "queries");
                close(&read(&keys), &want_k, "keys");
                close(&read(&values), &want_v, "values");
            }
        }
    }

    #[test]
    fn attention_matches_the_host() {
        let Some(device) = device() else { return };
        // Heads of 8 (one value a unit), 160 (three, the last part-filled) and 256 (the
        // widest, four); two query heads per key/value head; rows that see 71 to 73 keys, in
        // two chunks of 64.
        for hd in [8, 160, 256] {
            let (t, heads, kv_heads, start, capacity) = (3, 4, 2, 70, 80);
            let (q_dim, kv_dim, group) = (heads * hd, kv_heads * hd, heads / kv_heads);
            let q = inputs(t * q_dim, 8);
            let (keys, values) = (inputs(capacity * kv_dim, 9), inputs(capacity * kv_dim, 10));
            let scale = 1.0 / (hd as f32).sqrt();
            let like = tensor(&q, [t, q_dim], &device);
            let out = super::super::empty(&like, [t, q_dim]);
            layer::attention::launch(
                &like.client,
                CubeCount::Static(heads as u32, t as u32, 1),
                CubeDim::new_1d(layer::ATTENTION_UNITS),
                like.clone().into_tensor_arg(),
                tensor(&keys, [capacity, kv_dim], &device).into_tensor_arg(),
                tensor(&values, [capacity, kv_dim], &device).into_tensor_arg(),
                out.clone().into_tensor_arg(),
                start,
                hd,
                group,
                scale,
            );
            let mut want = vec![0f32; t * q_dim];
            for i in 0..t {
                for head in 0..heads {
                    let (qa, kv) = (i * q_dim + head * hd, (head / group) * hd);
                    let scores: Vec<f64> = (0..start + i + 1)
                        .map(|j| {
                            let dot: f32 = (0..hd).map(|d| q[qa + d] * keys[j * kv_dim + kv + d]).sum();
                            f64::from(dot * scale)
                        })
                        .collect();
                    let top = scores.iter().copied().fold(f64::MIN, f64::max);
                    let total: f64 = scores.iter().map(|s| (s - top).exp()).sum();
                    for d in 0..hd {
                        let v: f64 = scores
                            .iter()
                            .enumerate()
                            .map(|(j, s)| (s - top).exp() * f64::from(values[j * kv_dim + kv + d]))
                            .sum();
                        want[qa + d] = (v / total) as f32;
                    }
                }
            }
            close(&read(&out), &want, "attention");
        }
    }

    #[test]
    fn swiglu_matches_the_host() {
        let Some(device) = device() else { return };
        // A width past one cube's units.
        let (t, n) = (2, 300);
        // Gates far enough below zero that exp(-g) would overflow f32.
        let gate_up: Vec<f32> = inputs(t * 2 * n, 11).iter().map(|x| 100.0 * x).collect();
        let like = tensor(&gate_up, [t, 2 * n], &device);
        let out = super::super::empty(&like, [t, n]);
        layer::swiglu::launch(
            &like.client,
            CubeCount::Static(n.div_ceil(UNITS as usize) as u32, t as u32, 1),
            CubeDim::new_1d(UNITS),
            like.clone().into_tensor_arg(),
            out.clone().into_tensor_arg(),
        );
        let want: Vec<f32> = (0..t * n)
            .map(|at| {
                let (i, c) = (at / n, at % n);
                let (g, u) = (gate_up[i * 2 * n + c], gate_up[i * 2 * n + n + c]);
                (f64::from(g) / (1.0 + (-f64::from(g)).exp()) * f64::from(u)) as f32
            })
            .collect();
        close(&read(&out), &want, "swiglu");
    }
}

/// A run longer than one pass of the GPU decoder (lowered to 3 positions
/// here) gives the logits of a single pass, for all rows and for a tail
/// that spans passes.
#[test]
fn passes_of_the_gpu_decoder_give_one_passs_logits() {
    if std::env::var_os("TANDEM_SKIP_WGPU").is_some() {
        return;
    }
    let device = Device::wgpu(Default::default());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-qwen2");
    let config = std::fs::read_to_string(dir.join("config.json")).expect("fixture");
    let weights = std::fs::read(dir.join("model.safetensors")).expect("fixture");
    let one = crate::Model::from_safetensors_as(&config, &weights, &device, crate::WeightFormat::Q8_0).expect("model");
    assert!(one.fused_gpu());
    let mut passes = one.clone();
    passes.set_gpu_pass_rows(3);
    let vocab = one.config().vocab_size as u32;
    let tokens: Vec<u32> = (0..20u32).map(|i| (i * 7 + 3) % vocab).collect();
    let read = |t: Tensor<2>| -> Vec<f32> { t.into_data().try_to_vec().expect("f32") };
    let (mut a, mut b) = (one.new_cache(), passes.new_cache());
    // Every row, then a continuation from the cache the passes wrote.
    let want = read(one.forward(&tokens[..14], &mut a).expect("forward"));
    let got = read(passes.forward(&tokens[..14], &mut b).expect("forward"));
    let close = |got: &[f32], want: &[f32]| {
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0f32, |m, x| m.max(x.abs()));
        let err = got.iter().zip(want).fold(0f32, |m, (g, w)| m.max((g - w).abs()));
        assert!(err <= 1e-5 * scale, "relative error {}", err / scale);
    };
    close(&got, &want);
    let want = read(one.forward_tail(&tokens[14..], &mut a, 5).expect("tail"));
    let got = read(passes.forward_tail(&tokens[14..], &mut b, 5).expect("tail"));
    assert_eq!(got.len(), 5 * vocab as usize);
    close(&got, &want);
}
