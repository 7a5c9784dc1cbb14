//! The relaxed-SIMD module (`tandem_quant::RELAXED_SIMD_MODULE`) through
//! the real engine: it starts where the engine validates it and is
//! required to in a browser (Chromium has had relaxed SIMD since 114); its
//! integer products equal the `simd128` kernel's to the bit, on every tile
//! shape and tail, and on values placed all over this module's memory
//! (the two modules share it). Where it cannot start (Node 20), the
//! products stay on `simd128`.
//! Run: `cargo test -p tandem-wasm --features models --target wasm32-unknown-unknown --test relaxed`
//! (Node), and with `WASM_BINDGEN_USE_BROWSER=1` (Chromium).
#![cfg(target_arch = "wasm32")]

use tandem_quant::{Int8Matrix, Kernel};
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
    // A second start is a no-op that keeps it running.
    assert!(tandem_wasm::enable_relaxed_simd().await.is_ok());
    assert_eq!(tandem_quant::kernel(), Kernel::Relaxed);
}
