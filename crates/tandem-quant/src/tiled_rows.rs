// The block kernels' loop over weight rows and tiles of input rows, as a
// macro: `simd.rs` expands it in each of its kernels, and the relaxed-SIMD
// module (`relaxed/kernel.rs`) includes this file, so the loop is written
// once. `$w` needs `row(i) -> &[u8]` (the raw blocks of row `i`) and
// `cols()`; the expanding module supplies `tile::<K, N>` and `TILE`.

/// wasm has no prefetch instruction, and a row's blocks read one after
/// another leave the core waiting on memory: out of cache the `simd128`
/// kernels read 2.0-2.4 GB/s of `Q4_1` and `Q8_0` weights against 6 in
/// cache (Node, an Intel host). So before each row, the kernel loads one
/// byte per cache line of the row about `AHEAD` bytes on (within the rows
/// it was given), which the core then fetches while this row's products
/// run: 4.8-5.1 and 3.0-3.4 GB/s. The k-quants, which read fewer bytes per
/// product, got slower with it (`Q4_K` 1.95 -> 2.25 ms on 1536 x 8960) and
/// go without (`tiled_rows!`).
#[cfg(target_arch = "wasm32")]
macro_rules! touch_ahead {
    ($w:expr, $first:expr, $i:expr, $n:expr) => {{
        const AHEAD: usize = 2048;
        let ahead = AHEAD.div_ceil($w.row($first).len().max(1));
        if $i + ahead < $n {
            let sink = $w.row($first + $i + ahead).iter().step_by(64).fold(0u8, |a, &b| a ^ b);
            core::hint::black_box(sink);
        }
    }};
}

/// The loop both vector kernels share: each weight row against the input
/// rows in tiles of up to `TILE`, each tile handed to the calling module's
/// `tile::<K, N>` with `N` known at compile time (so its accumulators are
/// locals). A macro, not a function, so that it expands inside each
/// kernel's `rows_into` and compiles with that kernel's target features.
///
/// With `wide = N`, the k-quant types (`SHARED_SCALE`) take tiles of up to
/// `N` rows instead: their integer sums keep one register per row, so a
/// wider tile unpacks each block for more rows (the x86 kernels).
#[allow(unused_macros)]
macro_rules! tiled_rows {
    ($k:ty, $w:expr, $first:expr, $out:expr, $acts:expr, $m:expr, wide = 8) => {{
        if <$k as BlockKernel>::SHARED_SCALE {
            tiled_rows!(@loop $k, $w, $first, $out, $acts, $m, 8, [8, 7, 6, 5, 4, 3, 2])
        } else {
            tiled_rows!(@loop $k, $w, $first, $out, $acts, $m, TILE, [4, 3, 2])
        }
    }};
    ($k:ty, $w:expr, $first:expr, $out:expr, $acts:expr, $m:expr) => {{
        tiled_rows!(@loop $k, $w, $first, $out, $acts, $m, TILE, [4, 3, 2])
    }};
    (@loop $k:ty, $w:expr, $first:expr, $out:expr, $acts:expr, $m:expr, $tile:expr, [$($n:literal),*]) => {{
        let per_row = $w.cols() / QK;
        // Written without indexing, so that nothing here can panic (the
        // relaxed-SIMD module must not carry panic messages): `m` and
        // `per_row` are not zero, and each tile takes its own input rows.
        if $m > 0 && per_row > 0 {
            #[cfg(target_arch = "wasm32")]
            let rows = $out.len() / $m;
            for (i, sums) in $out.chunks_exact_mut($m).enumerate() {
                #[cfg(target_arch = "wasm32")]
                if !<$k as BlockKernel>::SHARED_SCALE {
                    touch_ahead!($w, $first, i, rows);
                }
                let row = $w.row($first + i);
                for (sums, acts) in sums.chunks_mut($tile).zip($acts.chunks($tile * per_row)) {
                    match sums.len() {
                        $($n => tile::<$k, $n>(row, acts, per_row, sums),)*
                        _ => tile::<$k, 1>(row, acts, per_row, sums),
                    }
                }
            }
        }
    }};
}
