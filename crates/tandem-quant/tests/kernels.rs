//! Every fused kernel against the reference: ggml's dequantization (in
//! `tandem-gguf`) times an `f32` product, on random blocks, odd shapes and
//! several input rows.
//!
//! The browser build runs these same tests on its `simd128` kernel:
//! `crates/tandem-wasm/tests/quant.rs` includes this file.

use half::f16;
use tandem_gguf::GgmlType;
use tandem_quant::{Layout, QMatrix, QuantError};

/// xorshift64*: reproducible random bytes without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn float(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

fn random_matrix(rng: &mut Rng, ty: GgmlType, rows: usize, cols: usize) -> QMatrix {
    QMatrix::random(ty, rows, cols, rng.next(), 0.05).unwrap()
}

/// The activations as the kernels see them: rounded to 8 bits per block of
/// 32, with the block's scale stored as `f16` (as ggml's `Q8_0` and `Q8_1`
/// do), or per 256 values with an `f32` scale for the k-quant types (as
/// ggml's `Q8_K` does).
fn quantized_acts(x: &[f32], ty: GgmlType) -> Vec<f32> {
    let k_quant = matches!(ty, GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K);
    x.chunks_exact(if k_quant { 256 } else { 32 })
        .flat_map(|c| {
            let d = c.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            let id = if d > 0.0 { 1.0 / d } else { 0.0 };
            let stored = if k_quant { d } else { f16::from_f32(d).to_f32() };
            c.iter().map(move |&v| (v * id).round() * stored).collect::<Vec<_>>()
        })
        .collect()
}

/// `y = x · Wᵀ` in `f64`, and `Σ |w|·|x|` per output for the tolerance.
fn reference(w: &[f32], x: &[f32], rows: usize, cols: usize, m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut y = vec![0f64; m * rows];
    let mut mag = vec![0f64; m * rows];
    for i in 0..m {
        for r in 0..rows {
            for k in 0..cols {
                let (a, b) = (f64::from(w[r * cols + k]), f64::from(x[i * cols + k]));
                y[i * rows + r] += a * b;
                mag[i * rows + r] += (a * b).abs();
            }
        }
    }
    (y, mag)
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn every_type_matches_dequantized_reference() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for ty in QMatrix::SUPPORTED {
        let bs = ty.block_size();
        // Odd row counts (tails of a parallel task), one and several blocks
        // per row, one input row (decode) and several (verification).
        for &(rows, blocks, m) in &[(1, 1, 1), (7, 1, 3), (33, 3, 1), (65, 2, 5), (40, 4, 16)] {
            let cols = blocks * bs;
            let w = random_matrix(&mut rng, ty, rows, cols);
            let x: Vec<f32> = (0..m * cols).map(|_| rng.float()).collect();
            let y = w.matmul(&x, m).unwrap();
            assert_eq!(y.len(), m * rows);
            let dense = w.dequantize();
            // Strict: against the same 8-bit activations, only float rounding
            // differs (and the f16 rounding of each block's sum, for the
            // types with a minimum).
            let (exact, mag) = reference(&dense, &quantized_acts(&x, ty), rows, cols, m);
            for (i, ((&got, &want), &mag)) in y.iter().zip(&exact).zip(&mag).enumerate() {
                let err = (f64::from(got) - want).abs();
                assert!(
                    err <= 1e-3 * mag + 1e-6,
                    "{ty:?} [{rows}x{cols}] m={m} out {i}: {got} vs {want} (|w||x| {mag})"
                );
            }
            // Loose: against unrounded activations, the rounding's own size.
            let (full, mag) = reference(&dense, &x, rows, cols, m);
            for ((&got, &want), &mag) in y.iter().zip(&full).zip(&mag) {
                assert!(
                    (f64::from(got) - want).abs() <= 0.01 * mag + 1e-6,
                    "{ty:?}: {got} vs {want}"
                );
            }
        }
    }
}

/// `Q4_K`, `Q6_K` and `Q5_0` rows interleaved in eights ([`Layout::Interleaved`],
/// the x86 kernels' layout) hold the same values and give the same products, on
/// every kernel this build runs: gathered rows, the reference product
/// (shapes that split among threads, one to sixteen input rows), and a
/// stack of interleaved parts. Shapes without whole groups stay as they are.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn interleaved_k_quants_match_the_reference() {
    let mut rng = Rng(0x0DDB_A11C_0FFE_E123);
    if !Layout::INTERLEAVED_KERNELS {
        // Not offered where no kernel reads it (the wasm build).
        assert!(random_matrix(&mut rng, GgmlType::Q4_K, 8, 256).interleaved().is_none());
        return;
    }
    assert!(random_matrix(&mut rng, GgmlType::Q4_K, 12, 256).interleaved().is_none());
    assert!(random_matrix(&mut rng, GgmlType::Q5_K, 8, 256).interleaved().is_none());
    for &(ty, rows, blocks, m) in &[
        (GgmlType::Q4_K, 8, 1, 1),
        (GgmlType::Q4_K, 24, 3, 4),
        (GgmlType::Q4_K, 96, 2, 7),
        (GgmlType::Q4_K, 40, 6, 16),
        (GgmlType::Q6_K, 8, 1, 1),
        (GgmlType::Q6_K, 16, 6, 3),
        (GgmlType::Q6_K, 72, 2, 8),
        (GgmlType::Q5_0, 8, 1, 1),
        (GgmlType::Q5_0, 24, 28, 5),
        (GgmlType::Q5_0, 64, 3, 16),
    ] {
        let cols = blocks * ty.block_size();
        let w = random_matrix(&mut rng, ty, rows, cols);
        let packed = w.interleaved().expect("whole groups of eight rows");
        assert_eq!((packed.layout(), packed.bytes()), (Layout::Interleaved, w.bytes()));
        assert!(packed.interleaved().is_none(), "interleaving is done once");
        let dense = w.dequantize();
        assert_eq!(packed.dequantize(), dense);
        let x: Vec<f32> = (0..m * cols).map(|_| rng.float()).collect();
        let y = packed.matmul(&x, m).unwrap();
        let (exact, mag) = reference(&dense, &quantized_acts(&x, ty), rows, cols, m);
        for (i, ((&got, &want), &mag)) in y.iter().zip(&exact).zip(&mag).enumerate() {
            assert!(
                (f64::from(got) - want).abs() <= 1e-3 * mag + 1e-6,
                "{ty:?} [{rows}x{cols}] m={m} out {i}: {got} vs {want} (|w||x| {mag})"
            );
        }
        let stacked = QMatrix::stack(&[&packed, &packed]).unwrap();
        let twice = stacked.matmul(&x, m).unwrap();
        for (i, pair) in twice.chunks_exact(2 * rows).enumerate() {
            assert_eq!(pair[..rows], pair[rows..], "input row {i}");
            assert_eq!(pair[..rows], y[i * rows..(i + 1) * rows], "input row {i}");
        }
        assert!(QMatrix::stack(&[&packed, &w]).is_none(), "layouts do not mix");
    }
}

/// A loader that owns a file's buffer interleaves its blocks in place,
/// where this CPU's kernel reads that layout, into the bytes
/// [`QMatrix::interleaved`] makes; [`QMatrix::new_interleaved`] takes them
/// back as the same values, and refuses what that layout cannot hold.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn blocks_interleave_in_place_into_the_same_values() {
    let mut rng = Rng(0x005E_ED0F_1A7E);
    if !Layout::INTERLEAVED_KERNELS {
        let mut bytes = vec![0u8; 8 * 144];
        assert_eq!(
            QMatrix::interleave_in_place(GgmlType::Q4_K, 8, 256, &mut bytes),
            Ok(false)
        );
        assert!(bytes.iter().all(|&b| b == 0), "left as it was");
        return;
    }
    for ty in [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q5_0, GgmlType::Q8_0] {
        let (rows, cols) = (16, 512);
        let mut bytes: Vec<u8> = (0..rows * cols / ty.block_size() * ty.block_bytes())
            .map(|_| rng.next() as u8)
            .collect();
        for block in bytes.chunks_exact_mut(ty.block_bytes()) {
            for &at in QMatrix::f16_fields(ty) {
                block[at..at + 2].copy_from_slice(&f16::from_f32(rng.float() * 0.05).to_bits().to_le_bytes());
            }
        }
        let w = QMatrix::new(ty, rows, cols, bytes.clone()).unwrap();
        let rewritten = QMatrix::interleave_in_place(ty, rows, cols, &mut bytes).unwrap();
        assert_eq!(rewritten, tandem_quant::kernel().reads_interleaved(), "{ty:?}");
        let back = if rewritten {
            QMatrix::new_interleaved(ty, rows, cols, bytes.clone()).unwrap()
        } else {
            QMatrix::new(ty, rows, cols, bytes.clone()).unwrap()
        };
        assert_eq!(back.dequantize(), w.dequantize(), "{ty:?}");
        let x: Vec<f32> = (0..3 * cols).map(|_| rng.float()).collect();
        let same = if rewritten { w.interleaved().unwrap() } else { w.clone() };
        assert_eq!(back.matmul(&x, 3).unwrap(), same.matmul(&x, 3).unwrap());
        if !rewritten {
            continue; // a kernel without the layout (Portable chosen): nothing more to read
        }

        // Rows that are not whole groups, and a corrupt scale.
        let odd = &bytes[..12 * cols / ty.block_size() * ty.block_bytes()];
        assert_eq!(
            QMatrix::new_interleaved(ty, 12, cols, odd.to_vec()).unwrap_err(),
            QuantError::NotInterleavable { ty, rows: 12 }
        );
        let mut corrupt = bytes.clone();
        corrupt[1] = 0x7C;
        assert!(matches!(
            QMatrix::new_interleaved(ty, rows, cols, corrupt),
            Err(QuantError::NonFiniteScale { .. })
        ));
    }
    let q4_1 = vec![0u8; 8 * 20];
    assert_eq!(
        QMatrix::new_interleaved(GgmlType::Q4_1, 8, 32, q4_1).unwrap_err(),
        QuantError::NotInterleavable {
            ty: GgmlType::Q4_1,
            rows: 8
        }
    );
}

/// The largest products the kernels can meet: `Q8_0` weights of −128 times
/// activations that quantize to ∓127, in every lane. The wasm kernel sums
/// two such products in a 16-bit lane (2 · 128 · 127 = 32,512 < 2¹⁵); a
/// kernel that overflowed would flip the sign.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn extreme_q8_0_products_do_not_overflow() {
    let (rows, cols) = (8, 256);
    let one = f16::from_f32(1.0).to_bits().to_le_bytes();
    let block: Vec<u8> = one.iter().copied().chain([0x80u8; 32]).collect();
    let w = QMatrix::new(GgmlType::Q8_0, rows, cols, block.repeat(rows * cols / 32)).unwrap();
    // In ggml's rows, and interleaved where this build reads that layout.
    let both = [Some(w.clone()), w.interleaved()];
    for (w, sign) in both.iter().flatten().flat_map(|w| [(w, -1.0f32), (w, 1.0)]) {
        let x = vec![sign; 2 * cols];
        for value in w.matmul(&x, 2).unwrap() {
            // Each product is −128 · sign (the activations' 8-bit rounding
            // of ±1 is exact up to their f16 scale).
            let want = -128.0 * sign * cols as f32;
            assert!((value - want).abs() <= 1e-3 * want.abs(), "{value} against {want}");
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn q8_0_quantization_holds_values_within_half_a_step() {
    let mut rng = Rng(7);
    let (rows, cols) = (3, 64);
    let x: Vec<f32> = (0..rows * cols).map(|_| rng.float() * 3.0).collect();
    let w = QMatrix::quantize_q8_0(&x, rows, cols).unwrap();
    assert_eq!(w.ty(), GgmlType::Q8_0);
    assert_eq!(w.bytes(), rows * cols / 32 * 34);
    for (block, orig) in w.dequantize().chunks_exact(32).zip(x.chunks_exact(32)) {
        let step = orig.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
        // Half a step of rounding, plus the scale's own rounding to f16
        // (relative 2^-11, times |q| ≤ 127), as in ggml.
        for (&a, &b) in block.iter().zip(orig) {
            assert!((a - b).abs() <= step * (0.5 + 127.0 / 2048.0), "{a} vs {b}");
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn rows_gather_as_the_reference_dequantizes_them() {
    let mut rng = Rng(11);
    let w = random_matrix(&mut rng, GgmlType::Q4_K, 5, 512);
    let dense = w.dequantize();
    let mut row = vec![0f32; 512];
    w.dequantize_row(3, &mut row).unwrap();
    assert_eq!(row, dense[3 * 512..4 * 512]);
    assert_eq!(w.dequantize_row(5, &mut row), Err(QuantError::Row { row: 5, rows: 5 }));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn bad_shapes_and_types_are_errors() {
    assert_eq!(
        QMatrix::new(GgmlType::F16, 1, 32, vec![0; 64]).unwrap_err(),
        QuantError::Unsupported(GgmlType::F16)
    );
    assert!(matches!(
        QMatrix::new(GgmlType::Q4_K, 1, 32, vec![0; 18]),
        Err(QuantError::RowLength { .. })
    ));
    assert!(matches!(
        QMatrix::new(GgmlType::Q8_0, 2, 32, vec![0; 34]),
        Err(QuantError::DataLength {
            expected: 68,
            got: 34,
            ..
        })
    ));
    let w = QMatrix::new(GgmlType::Q8_0, 2, 32, vec![0; 68]).unwrap();
    assert!(matches!(w.matmul(&[0.0; 31], 1), Err(QuantError::InputShape { .. })));
    assert!(matches!(w.matmul(&[], 0), Err(QuantError::InputShape { .. })));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn stacked_matrices_multiply_as_their_parts() {
    let mut rng = Rng(0x0DDB_1A5E_5BAD_5EED);
    let (a, b) = (
        random_matrix(&mut rng, GgmlType::Q4_K, 3, 256),
        random_matrix(&mut rng, GgmlType::Q4_K, 5, 256),
    );
    let stacked = QMatrix::stack(&[&a, &b]).unwrap();
    assert_eq!((stacked.rows(), stacked.cols()), (8, 256));
    let m = 2;
    let x: Vec<f32> = (0..m * 256).map(|_| rng.float()).collect();
    let (ya, yb, y) = (
        a.matmul(&x, m).unwrap(),
        b.matmul(&x, m).unwrap(),
        stacked.matmul(&x, m).unwrap(),
    );
    for i in 0..m {
        let parts: Vec<f32> = ya[i * 3..(i + 1) * 3]
            .iter()
            .chain(&yb[i * 5..(i + 1) * 5])
            .copied()
            .collect();
        assert_eq!(&y[i * 8..(i + 1) * 8], &parts[..], "input row {i}");
    }
    // Different types or widths do not stack.
    let c = random_matrix(&mut rng, GgmlType::Q6_K, 2, 256);
    let d = random_matrix(&mut rng, GgmlType::Q4_K, 2, 512);
    assert!(QMatrix::stack(&[&a, &c]).is_none());
    assert!(QMatrix::stack(&[&a, &d]).is_none());
    assert!(QMatrix::stack(&[]).is_none());
}
