//! Throughput of the wasm kernels per ggml type, on model-shaped matrices
//! and one input row (decode) or eight (verification, prefill), printed as
//! ms per product and GB/s of weights, with the matrix in cache (the same
//! one each time), out of it (eight in turn, as a model's layers come) and
//! from memory: what the native `tandem-quant` example `throughput` prints,
//! for the browser build. Where the engine has relaxed SIMD (Chromium),
//! each type is timed on both kernels. A measurement, not a test: ignored
//! unless asked for.
//! Run: `pkg-scripts/bench-wasm-kernels` (Node: `simd128` only), or
//! `WASM_BINDGEN_USE_BROWSER=1 pkg-scripts/bench-wasm-kernels` (Chromium).

#![cfg(target_arch = "wasm32")]

use tandem_gguf::GgmlType;
use tandem_quant::{Kernel, QMatrix};
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
async fn kernel_throughput_per_type() {
    let mut kernels = vec![Kernel::Simd128];
    match tandem_wasm::enable_relaxed_simd().await {
        Ok(()) => kernels.push(Kernel::Relaxed),
        Err(_) => console_log!("no relaxed SIMD here: simd128 only"),
    }
    for kernel in kernels {
        tandem_quant::use_kernel(kernel).expect("the kernel runs here");
        // `ffn_down`'s shape (long rows), then `ffn_gate`'s and `ffn_up`'s
        // (six 256-value superblocks a row, as most of a 1.5B's rows are).
        throughput(8960, 1536, 1, &QMatrix::SUPPORTED);
        for m in [1, 8] {
            throughput(1536, 8960, m, &QMatrix::SUPPORTED);
        }
        // Qwen2.5-Coder-1.5B's output head, in its file's type.
        throughput(151_936, 1536, 1, &[GgmlType::Q6_K]);
    }
}

/// One line per type: the best of seven samples of `w·x` for `m` input rows,
/// with the matrix in cache (one, over and over), out of the core's cache
/// (eight in turn, as a model's layers come: a host with a large shared
/// cache still holds them), and from memory (matrices in turn until they
/// pass [`FROM_MEMORY`] bytes, as a model larger than every cache is read).
fn throughput(rows: usize, cols: usize, m: usize, types: &[GgmlType]) {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let x: Vec<f32> = (0..m * cols).map(|_| (next() % 2000) as f32 / 1000.0 - 1.0).collect();
    console_log!(
        "[{rows} x {cols}] times {m} row(s), {:?} kernel: ms per product (GB/s of weights)",
        tandem_quant::kernel()
    );
    for &ty in types {
        let bytes = rows * cols / ty.block_size() * ty.block_bytes();
        let count = FROM_MEMORY.div_ceil(bytes).max(8);
        // Scales of the size real files have: the k-quants' (`Q6_K`'s `d`,
        // `Q4_K`'s `dmin`) are often `f16` subnormals, which a kernel must
        // widen without a slow subnormal `f32` operation (`widen_f16`).
        let scale = if matches!(ty, GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K) {
            1e-4
        } else {
            0.0078
        };
        let ws: Vec<QMatrix> = (0..count)
            .map(|_| QMatrix::random(ty, rows, cols, next(), scale).expect("valid shape"))
            .collect();
        // Products run in turn over the first `n` matrices, each sample going
        // on where the last stopped, so that all `n` are read.
        let mut at = 0;
        let mut time = |n: usize| {
            let mut best = f64::INFINITY;
            for _ in 0..7 {
                let start = now();
                for _ in 0..REPEAT {
                    std::hint::black_box(ws[at % n].matmul(&x, m).expect("shapes match"));
                    at += 1;
                }
                best = best.min((now() - start) / REPEAT as f64);
            }
            best
        };
        let (cached, streamed, memory) = (time(1), time(8), time(count));
        let rate = |ms: f64| bytes as f64 / (ms / 1e3) / 1e9;
        console_log!(
            "{:>5}: {cached:>6.2} ({:>5.2}) in cache, {streamed:>6.2} ({:>5.2}) out of it, {memory:>6.2} ({:>5.2}) from memory",
            format!("{ty:?}"),
            rate(cached),
            rate(streamed),
            rate(memory)
        );
    }
}

/// Bytes of matrices read in turn for the "from memory" column: more than
/// the last-level cache of the hosts measured (480 MiB on this project's
/// Intel one), as a 1.5B model's weights are.
const FROM_MEMORY: usize = 640 << 20;
