//! Throughput of the fused kernels on model-shaped matrices, on every
//! kernel this CPU runs ([`tandem_quant::Kernel`]), against a plain `f32`
//! product on the dequantized weights (the baseline, in the same run).
//!
//! `cargo run --release -p tandem-quant --example throughput [ROWS COLS M]`

use std::time::Instant;
use tandem_quant::{Int8Matrix, Kernel, QMatrix};

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (rows, cols, m) = match args[..] {
        [r, c, m] => (r, c, m),
        _ => (1536, 576, 1),
    };
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let x: Vec<f32> = (0..m * cols).map(|_| (next() % 2000) as f32 / 1000.0 - 1.0).collect();
    println!("[{rows} x {cols}] times {m} row(s)");
    for ty in QMatrix::SUPPORTED {
        if !cols.is_multiple_of(ty.block_size()) {
            continue;
        }
        let bytes = rows * cols / ty.block_size() * ty.block_bytes();
        let w = QMatrix::random(ty, rows, cols, next(), 0.0078).expect("valid shape");
        let dense = w.dequantize();
        let f32_time = best(&mut || {
            let mut y = vec![0f32; m * rows];
            for i in 0..m {
                let xi = &x[i * cols..(i + 1) * cols];
                for (r, out) in y[i * rows..(i + 1) * rows].iter_mut().enumerate() {
                    *out = dense[r * cols..(r + 1) * cols].iter().zip(xi).map(|(a, b)| a * b).sum();
                }
            }
            std::hint::black_box(y);
        });
        let mut portable = None;
        // Each layout the type has: ggml's rows, and `Q4_K`'s interleaved rows.
        let interleaved = w.interleaved();
        for w in std::iter::once(&w).chain(interleaved.as_ref()) {
            for kernel in Kernel::ALL.into_iter().filter(|k| k.available()) {
                tandem_quant::use_kernel(kernel).expect("available");
                let quant = best(&mut || {
                    std::hint::black_box(w.matmul(&x, m).expect("shapes match"));
                });
                let portable_time = *portable.get_or_insert(quant);
                println!(
                    "{:>5} {:>11} {:>10}: {:>8.1} µs ({:>5.1} GB/s of weights), {:.2}x the f32 baseline ({:.1} µs), {:.2}x portable",
                    format!("{ty:?}"),
                    format!("{:?}", w.layout()),
                    format!("{kernel:?}"),
                    quant * 1e6,
                    bytes as f64 / quant / 1e9,
                    f32_time / quant,
                    f32_time * 1e6,
                    portable_time / quant
                );
            }
        }
    }
    // Per-row int8 weights with 7-bit activation codes (the encoder's format),
    // against the same Q8_0 weights on the best kernel: the layouts for many
    // input rows and for one.
    let dense: Vec<f32> = (0..rows * cols)
        .map(|_| (next() % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    let int8 = Int8Matrix::quantize(&dense, rows, cols).expect("valid shape");
    let q8 = QMatrix::quantize_q8_0(&dense, rows, cols).expect("valid shape");
    for kernel in Kernel::ALL.into_iter().filter(|k| k.available()) {
        tandem_quant::use_kernel(kernel).expect("available");
        let q8_time = best(&mut || {
            std::hint::black_box(q8.matmul(&x, m).expect("shapes match"));
        });
        let int8_time = best(&mut || {
            std::hint::black_box(int8.matmul(&x, m).expect("shapes match"));
        });
        println!(
            " Int8 {:>9}: {:>8.1} µs ({:>5.1} G multiply-adds/s), {:.2}x Q8_0 on the same kernel ({:.1} µs)",
            format!("{kernel:?}"),
            int8_time * 1e6,
            (rows * cols * m) as f64 / int8_time / 1e9,
            q8_time / int8_time,
            q8_time * 1e6
        );
    }
}

/// Seconds per call of `f`: the fastest of ten 50 ms batches (a shared
/// machine's noise only ever adds time).
fn best(f: &mut dyn FnMut()) -> f64 {
    f();
    (0..10)
        .map(|_| {
            let start = Instant::now();
            let mut n = 0;
            while start.elapsed().as_secs_f64() < 0.05 {
                f();
                n += 1;
            }
            start.elapsed().as_secs_f64() / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}
