//! Throughput of the wasm `simd128` kernels per ggml type, on a model-shaped
//! matrix and one input row (decode) or eight (verification, prefill),
//! printed as GB/s of weights, with the matrix in cache (the same one each
//! time) and out of it (eight in turn, as a model's layers come): what the
//! native `tandem-quant` example `throughput` prints, for the browser build.
//! A measurement, not a test: ignored unless asked for.
//! Run: `pkg-scripts/bench-wasm-kernels` (Node).

use tandem_quant::QMatrix;
use wasm_bindgen_test::{console_log, wasm_bindgen_test};

/// Products timed together per sample, so that `Date.now()`'s millisecond
/// resolution is small against a sample.
const REPEAT: usize = 20;

/// Milliseconds from the host's clock.
fn now() -> f64 {
    js_sys::Date::now()
}

#[wasm_bindgen_test]
#[ignore]
fn kernel_throughput_per_type() {
    for m in [1, 8] {
        throughput(1536, 8960, m);
    }
}

/// One line per type: the best of seven samples of `w·x` for `m` input rows,
/// in cache and out of it.
fn throughput(rows: usize, cols: usize, m: usize) {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let x: Vec<f32> = (0..m * cols).map(|_| (next() % 2000) as f32 / 1000.0 - 1.0).collect();
    console_log!(
        "[{rows} x {cols}] times {m} row(s), {:?} kernel",
        tandem_quant::kernel()
    );
    for ty in QMatrix::SUPPORTED {
        let bytes = rows * cols / ty.block_size() * ty.block_bytes();
        // Eight different matrices: one alone stays in cache from one product
        // to the next, eight in turn (8x its bytes) do not.
        let ws: Vec<QMatrix> = (0..8)
            .map(|_| QMatrix::random(ty, rows, cols, next(), 0.0078).expect("valid shape"))
            .collect();
        let time = |n: usize| {
            let mut best = f64::INFINITY;
            for _ in 0..7 {
                let start = now();
                for i in 0..REPEAT {
                    std::hint::black_box(ws[i % n].matmul(&x, m).expect("shapes match"));
                }
                best = best.min((now() - start) / REPEAT as f64);
            }
            best
        };
        let (cached, streamed) = (time(1), time(8));
        let rate = |ms: f64| bytes as f64 / (ms / 1e3) / 1e9;
        console_log!(
            "{:>5}: {cached:>6.2} ms ({:>5.2} GB/s of weights) in cache, {streamed:>6.2} ms ({:>5.2} GB/s) out of it",
            format!("{ty:?}"),
            rate(cached),
            rate(streamed)
        );
    }
}
