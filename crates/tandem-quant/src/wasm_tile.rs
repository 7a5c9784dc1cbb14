// The `simd128` block tile, shared by the main module's wasm kernel
// (`simd.rs`) and the relaxed-SIMD module (`relaxed/kernel.rs`): both expand
// `tiled_rows!` around this `tile`, and each defines the two things that
// differ: `dot32::<K>(w, q)`, the partial sums of a run of 32 products, and
// `pairs16::<K>(w, q)`, the products of 16 values summed in pairs to 16 bits.
// Expects `Q8Block`, `QK`, `BlockKernel`, `SuperActs`, `widen_f16` and
// `core::arch::wasm32::*` in scope.

/// Input rows per tile.
const TILE: usize = 4;

/// One weight row times the first `N` input rows of `acts` (each
/// `per_row` blocks long) into `sums`, with 4-lane accumulators, one
/// per half of a run when the halves' scales differ.
#[inline(always)]
fn tile<K: BlockKernel, const N: usize>(row: &[u8], acts: &[Q8Block], per_row: usize, sums: &mut [f32]) {
    let zero = f32x4_splat(0.0);
    let mut acc = [(zero, zero); N];
    let mut rest = [0f32; N];
    // Each input row's activation blocks; `get`, not indexing, so that
    // nothing here can panic (the relaxed-SIMD module must not carry panic
    // messages). The callers pass whole rows.
    let rows: [&[Q8Block]; N] = std::array::from_fn(|t| acts.get(t * per_row..(t + 1) * per_row).unwrap_or(&[]));
    for (b, block) in row.chunks_exact(K::BYTES).enumerate() {
        let u = K::unpack(block);
        if K::SHARED_SCALE {
            // A k-quant block's eight runs share one activation scale per row:
            // sum them in integers, weighted by their integer scales, and
            // convert and multiply once per block and row.
            let block = |t: usize| -> Option<&SuperActs> { rows[t].get(b * 8..b * 8 + 8)?.try_into().ok() };
            let Some(first) = block(0) else {
                continue;
            };
            let mut blocks = [first; N];
            let mut whole = true;
            for (t, slot) in blocks.iter_mut().enumerate().skip(1) {
                match block(t) {
                    Some(a) => *slot = a,
                    None => whole = false,
                }
            }
            if !whole {
                continue;
            }
            let mut isum = [i32x4_splat(0); N];
            let parts = K::int_products(&u, blocks, widen_f16, |w, qs, lo, hi| {
                let (w0, w1) = pair(w);
                let (s0, s1) = (i16x8_splat(lo), i16x8_splat(hi));
                for t in 0..N {
                    let (q0, q1) = pair(qs[t]);
                    let run = if K::SPLIT_SCALES {
                        i32x4_add(
                            i32x4_dot_i16x8(pairs16::<K>(w0, q0), s0),
                            i32x4_dot_i16x8(pairs16::<K>(w1, q1), s1),
                        )
                    } else {
                        // One scale for the run: its halves add in 16 bits
                        // (four products of |w| ≤ 32 and |q| ≤ 127 sum to at
                        // most 16,256 < 2¹⁵), then one dot with the scales.
                        i32x4_dot_i16x8(i16x8_add(pairs16::<K>(w0, q0), pairs16::<K>(w1, q1)), s0)
                    };
                    isum[t] = i32x4_add(isum[t], run);
                }
            });
            for t in 0..N {
                let (factor, r) = parts[t];
                acc[t].0 = f32x4_add(acc[t].0, f32x4_mul(f32x4_splat(factor), f32x4_convert_i32x4(isum[t])));
                if K::HAS_REST {
                    rest[t] += r;
                }
            }
            continue;
        }
        for t in 0..N {
            let Some(a) = rows[t].get(b * K::ACTS..(b + 1) * K::ACTS) else {
                continue;
            };
            let r = K::products(&u, a, widen_f16, |w, q, lo, hi| {
                let (first_half, second_half) = dot32::<K>(w, q);
                if K::SPLIT_SCALES {
                    acc[t].0 = f32x4_add(acc[t].0, f32x4_mul(f32x4_splat(lo), f32x4_convert_i32x4(first_half)));
                    acc[t].1 = f32x4_add(acc[t].1, f32x4_mul(f32x4_splat(hi), f32x4_convert_i32x4(second_half)));
                } else {
                    let both = f32x4_convert_i32x4(i32x4_add(first_half, second_half));
                    acc[t].0 = f32x4_add(acc[t].0, f32x4_mul(f32x4_splat(lo), both));
                }
            });
            if K::HAS_REST {
                rest[t] += r;
            }
        }
    }
    for (t, sum) in sums.iter_mut().enumerate().take(N) {
        let v = f32x4_add(acc[t].0, acc[t].1);
        *sum = f32x4_extract_lane::<0>(v)
            + f32x4_extract_lane::<1>(v)
            + f32x4_extract_lane::<2>(v)
            + f32x4_extract_lane::<3>(v)
            + rest[t];
    }
}

/// Both 16-byte halves of a run of 32 bytes.
#[inline(always)]
fn pair(bytes: &[i8; QK]) -> (v128, v128) {
    // SAFETY: each load reads 16 bytes at offset 0 or 16 of a 32-byte
    // array (`v128_load` has no alignment requirement).
    unsafe { (v128_load(bytes.as_ptr().cast()), v128_load(bytes.as_ptr().add(16).cast())) }
}

/// Both 16-byte halves of a run of weights and of activations.
#[inline(always)]
fn halves(w: &[i8; QK], q: &[i8; QK]) -> (v128, v128, v128, v128) {
    let ((w0, w1), (q0, q1)) = (pair(w), pair(q));
    (w0, w1, q0, q1)
}
