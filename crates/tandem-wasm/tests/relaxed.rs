//! The relaxed-SIMD module (`tandem_quant::RELAXED_SIMD_MODULE`) through
//! the real engine: it starts where the engine validates it and is
//! required to in a browser (Chromium has had relaxed SIMD since 114). Its
//! `Int8Matrix` products equal the `simd128` kernel's to the bit, and its
//! `QMatrix` products of every ggml type agree with the `simd128` kernel's
//! up to the order of float additions, on every tile shape and tail, on
//! stacked matrices, and on values placed all over this module's memory
//! (the two modules share it). Where it cannot start (Node 20), the
//! products stay on `simd128`.
//! Run: `cargo test -p tandem-wasm --features models --target wasm32-unknown-unknown --test relaxed`
//! (Node), and with `WASM_BINDGEN_USE_BROWSER=1` (Chromium).
#![cfg(target_arch = "wasm32")]

use tandem_gguf::GgmlType;
use tandem_quant::{Int8Matrix, Kernel, QMatrix};
use wasm_bindgen_test::wasm_bindgen_test;

/// xorshift: reproducible values without a dependency.
fn values(n: usize, seed: &mut u64, offset: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0 + offset
        })
        .collect()
}

#[wasm_bindgen_test]
async fn relaxed_products_equal_simd128_where_the_engine_has_relaxed_simd() {
    let validates = js_sys::WebAssembly::validate(&js_sys::Uint8Array::from(tandem_quant::RELAXED_SIMD_MODULE).into())
        .expect("validate");
    let in_browser = js_sys::Reflect::has(&js_sys::global(), &"document".into()).unwrap_or(false);
    let started = tandem_wasm::enable_relaxed_simd().await;
    assert_eq!(
        started.is_ok(),
        validates,
        "started where the engine validates the module"
    );
    if in_browser {
        assert!(validates, "Chromium has relaxed SIMD");
    }
    if !validates {
        assert_eq!(tandem_quant::kernel(), Kernel::Simd128);
        assert!(tandem_quant::use_kernel(Kernel::Relaxed).is_err());
        assert_eq!(tandem_wasm::quant_kernel(), "simd128");
        return;
    }
    assert_eq!(tandem_wasm::quant_kernel(), "relaxed", "the module becomes the kernel");
    let mut seed = 0x2545_F491_4F6C_DD1D;
    // Tile tails (1–9 rows, 1–9 input rows), one and several steps, the
    // encoder's shapes, and a matrix large enough to be placed high in memory.
    for &(rows, cols, m) in &[
        (1, 1, 1),
        (5, 17, 3),
        (9, 40, 5),
        (3, 33, 7),
        (6, 64, 9),
        (1152, 384, 45),
        (384, 1536, 45),
        (4096, 1024, 2),
    ] {
        let w = Int8Matrix::quantize(&values(rows * cols, &mut seed, 0.0), rows, cols).unwrap();
        let x = values(m * cols, &mut seed, 0.5);
        tandem_quant::use_kernel(Kernel::Simd128).unwrap();
        let simd128 = w.matmul(&x, m).unwrap();
        tandem_quant::use_kernel(Kernel::Relaxed).unwrap();
        let relaxed = w.matmul(&x, m).unwrap();
        assert_eq!(relaxed, simd128, "[{rows} x {cols}] m {m}");
    }
    // Every ggml type: 1–9 weight rows and 1–9 input rows (every tile and
    // tail), one and several blocks per row, a stacked matrix (rows in two
    // runs of memory), and a matrix of the decoder's size.
    let types = [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q8_0,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ];
    for ty in types {
        for &(rows, cols, m) in &[(1, 256, 1), (7, 512, 3), (9, 256, 9), (3, 768, 5), (896, 1536, 2)] {
            let a = QMatrix::random(ty, rows, cols, seed, 0.05).unwrap();
            let b = QMatrix::random(ty, 2, cols, seed ^ 1, 0.05).unwrap();
            let w = QMatrix::stack(&[&a, &b]).unwrap();
            let x = values(m * cols, &mut seed, 0.1);
            tandem_quant::use_kernel(Kernel::Simd128).unwrap();
            let simd128 = w.matmul(&x, m).unwrap();
            tandem_quant::use_kernel(Kernel::Relaxed).unwrap();
            let relaxed = w.matmul(&x, m).unwrap();
            let largest = simd128.iter().fold(0f32, |l, v| l.max(v.abs()));
            for (i, (r, s)) in relaxed.iter().zip(&simd128).enumerate() {
                // The integer sums are equal; their lanes are grouped
                // differently, so the scaled float sums round differently.
                assert!(
                    (r - s).abs() <= 1e-5 * largest + 1e-6,
                    "{ty:?} [{rows} + 2 x {cols}] m {m} output {i}: {r} vs {s}"
                );
            }
        }
    }
    // A second start is a no-op that keeps it running.
    assert!(tandem_wasm::enable_relaxed_simd().await.is_ok());
    assert_eq!(tandem_quant::kernel(), Kernel::Relaxed);
}
