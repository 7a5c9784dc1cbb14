// The tile loop of every `Int8Matrix` kernel, as a macro over raw pointers:
// `simd.rs` expands it inside each of its kernels (so that it compiles with
// that kernel's target features), and the relaxed-SIMD module that the
// browser build loads beside itself (`relaxed/kernel.rs`, a `no_std` crate
// of its own) includes this file, so the loop is written once.
//
// The output is walked in tiles of up to 2 weight rows × 4 input rows, each
// handed to the expanding module's
// `unsafe fn tile<const R: usize, const T: usize>(w: *const i8, a: *const u8, s: usize) -> [[i32; T]; R]`,
// which returns the integer sums `Σ w·a` of `R` weight rows (`s` values
// apart) and `T` input rows (`s` codes apart). The shape was measured in
// Chromium on the encoder's products (`tests/bench/analyzer-profile.mjs
// --fixed`): 2 × 4 took 0.89× the time of 4 × 2 and 0.83× that of 2 × 2;
// 3 × 3 and 3 × 4 were between, and 4 × 3 and 4 × 4 ran out of vector
// registers (1.3× and 1.5×).

/// `out[t·n + r] = Σₖ w[r·s + k] · a[t·s + k]` for every weight row `r < n`
/// and input row `t < m`.
///
/// The expansion is `unsafe` to reach: `w` must point to `n·s` readable
/// values, `a` to `m·s` readable codes and `out` to `m·n` writable sums,
/// with `s` a multiple of the tile's step; nothing else is read or written.
#[allow(unused_macros)]
macro_rules! int8_sums {
    ($w:expr, $n:expr, $s:expr, $a:expr, $m:expr, $out:expr) => {{
        let (w, n, s, a, m, out): (*const i8, usize, usize, *const u8, usize, *mut i32) = ($w, $n, $s, $a, $m, $out);
        let mut r = 0;
        while r < n {
            let rows = if n - r >= 2 { 2 } else { 1 };
            let mut t = 0;
            while t < m {
                let cols = if m - t >= 4 { 4 } else { m - t };
                macro_rules! run {
                    ($r:literal, $t:literal) => {{
                        // SAFETY: rows `r..r + $r` and `t..t + $t` are inside
                        // the `n` and `m` rows the caller vouched for.
                        let sums: [[i32; $t]; $r] = unsafe { tile::<$r, $t>(w.add(r * s), a.add(t * s), s) };
                        for j in 0..$t {
                            for i in 0..$r {
                                // SAFETY: `(t + j)·n + r + i < m·n`.
                                unsafe { *out.add((t + j) * n + r + i) = sums[i][j] };
                            }
                        }
                    }};
                }
                match (rows, cols) {
                    (2, 4) => run!(2, 4),
                    (2, 3) => run!(2, 3),
                    (2, 2) => run!(2, 2),
                    (2, _) => run!(2, 1),
                    (_, 4) => run!(1, 4),
                    (_, 3) => run!(1, 3),
                    (_, 2) => run!(1, 2),
                    _ => run!(1, 1),
                }
                t += cols;
            }
            r += rows;
        }
    }};
}
