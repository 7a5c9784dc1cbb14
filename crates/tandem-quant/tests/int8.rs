//! [`Int8Matrix`] against an `f64` product of the unquantized values, on
//! random matrices of odd shapes and several input rows.
//!
//! The browser build runs these same tests on its `simd128` kernel:
//! `crates/tandem-wasm/tests/quant.rs` includes this file.

use tandem_quant::{Int8Matrix, QuantError};

/// xorshift64*: reproducible random values without a dependency.
struct Rng(u64);
impl Rng {
    fn float(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn products_match_the_unquantized_product_within_the_rounding() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for &(rows, cols, m) in &[
        (1, 1, 1),
        (7, 33, 3),
        (33, 384, 1),
        (65, 100, 5),
        (40, 1536, 16),
        (1152, 384, 45),
    ] {
        let w: Vec<f32> = (0..rows * cols).map(|_| rng.float() * 0.1).collect();
        // Rows centred at 0, 1 and 2: the codes' offset is exercised.
        let x: Vec<f32> = (0..m * cols)
            .map(|i| rng.float() * 3.0 + (i / cols % 3) as f32)
            .collect();
        let q = Int8Matrix::quantize(&w, rows, cols).unwrap();
        assert_eq!((q.rows(), q.cols()), (rows, cols));
        let y = q.matmul(&x, m).unwrap();
        assert_eq!(y.len(), m * rows);
        let dense = q.dequantize();
        for i in 0..m {
            let xi = &x[i * cols..(i + 1) * cols];
            let range =
                xi.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v)) - xi.iter().fold(f32::INFINITY, |a, &v| a.min(v));
            for r in 0..rows {
                let (mut exact, mut full, mut mag) = (0f64, 0f64, 0f64);
                for k in 0..cols {
                    let (a, b, c) = (
                        f64::from(dense[r * cols + k]),
                        f64::from(w[r * cols + k]),
                        f64::from(xi[k]),
                    );
                    exact += a * c;
                    full += b * c;
                    mag += (a * c).abs();
                }
                let got = f64::from(y[i * rows + r]);
                // Against the same weights: only the activations' rounding
                // (half a step of the row's range / 127 each) and float rounding.
                let wsum: f64 = dense[r * cols..(r + 1) * cols].iter().map(|v| f64::from(v.abs())).sum();
                let act_err = wsum * f64::from(range) / 127.0 * 0.5 + 1e-5 * mag + 1e-6;
                assert!(
                    (got - exact).abs() <= act_err,
                    "[{rows}x{cols}] m={m} ({i}, {r}): {got} vs {exact}"
                );
                // Against the unquantized weights: the weights' own rounding.
                assert!((got - full).abs() <= 0.01 * mag + act_err, "{got} vs {full}");
            }
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn stacked_matrices_multiply_as_their_parts() {
    let mut rng = Rng(5);
    let a: Vec<f32> = (0..3 * 48).map(|_| rng.float()).collect();
    let b: Vec<f32> = (0..5 * 48).map(|_| rng.float()).collect();
    let (a, b) = (
        Int8Matrix::quantize(&a, 3, 48).unwrap(),
        Int8Matrix::quantize(&b, 5, 48).unwrap(),
    );
    let stacked = Int8Matrix::stack(&[&a, &b]).unwrap();
    assert_eq!((stacked.rows(), stacked.cols()), (8, 48));
    let m = 3;
    let x: Vec<f32> = (0..m * 48).map(|_| rng.float()).collect();
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
    let c = Int8Matrix::quantize(&[0.0; 32], 1, 32).unwrap();
    assert!(Int8Matrix::stack(&[&a, &c]).is_none());
    assert!(Int8Matrix::stack(&[]).is_none());
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn zero_rows_and_inputs_give_zeros_and_bad_input_is_an_error() {
    let w = Int8Matrix::quantize(&[0.0; 64], 2, 32).unwrap();
    assert_eq!(w.matmul(&[1.0; 32], 1).unwrap(), vec![0.0; 2]);
    let w = Int8Matrix::quantize(&[1.0; 64], 2, 32).unwrap();
    assert_eq!(w.matmul(&[0.0; 32], 1).unwrap(), vec![0.0; 2]);
    assert!(matches!(w.matmul(&[0.0; 31], 1), Err(QuantError::InputShape { .. })));
    assert!(matches!(w.matmul(&[], 0), Err(QuantError::InputShape { .. })));
    assert!(matches!(
        Int8Matrix::quantize(&[1.0; 3], 2, 2),
        Err(QuantError::InputShape { .. })
    ));
    assert!(matches!(
        Int8Matrix::quantize(&[], 0, 4),
        Err(QuantError::InputShape { .. })
    ));
    assert_eq!(
        Int8Matrix::quantize(&[1.0, f32::NAN], 1, 2).unwrap_err(),
        QuantError::NonFinite { at: 1 }
    );
}
