// The interleaved tiles (`Q4_K`, `Q6_K`, `Q5_0`, `Q8_0`) and the loop over a
// product's input rows, written once over lane operations that each x86
// module names the same at its width: 256-bit registers over one group of
// eight rows (`x86_kernel!`'s modules), or 512-bit registers over two groups
// side by side (`wide_pairs.rs`: lanes 0–7 the first group's rows, 8–15 the
// second's). Included by `simd.rs`; expanded with `group_tiles!` in a module
// that defines, at its width:
// - `I` and `F` (integer and float vectors) and `GROUPS` (groups per vector);
// - `load_i`, `load_f16`, `load_i8_i32` and `load_pairs_i16`: a block's bytes
//   of every group at an offset, as vectors;
// - the lane operations (`and`, `or`, `add32`, `sub32`, `mullo32`, the shifts,
//   `splat_*`, `zero_*`, `to_f`, `fmadd`, `fnmadd`, `mul`), `quad`, `run_sum`,
//   `run_sum_wide`, `run_scaled`, `scaled` and `write_groups`;
// - `EIGHT_ROW_TILES`: whether tiles of eight input rows fit its registers;
// - `Q6K_IN_PAIRS`: whether `Q6_K`'s tiles take one run at a time, two quads
//   summed before scaling (where four runs' sums per input row would spill);
// - for signed weights (`Q8_0`): `signed_operand`, `signed_run_sum` and
//   `SIGNED_OFFSET`.
// Items resolve where the macro expands, so each module gets its own tiles.

/// The lane operations of the tiles at one width, each one intrinsic
/// (named in the invocation), compiled with `$features`.
#[cfg(target_arch = "x86_64")]
macro_rules! lane_ops {
    ($features:literal, imm = $imm:ty, and = $and:ident, or = $or:ident, add32 = $add32:ident, sub32 = $sub32:ident,
     mullo32 = $mullo32:ident, shl32 = $shl32:ident, shr32 = $shr32:ident, shl16 = $shl16:ident,
     shr16 = $shr16:ident, srl32 = $srl32:ident, splat_i8 = $splat_i8:ident, splat_i32 = $splat_i32:ident,
     zero_i = $zero_i:ident, zero_f = $zero_f:ident, splat_f = $splat_f:ident, to_f = $to_f:ident,
     fmadd = $fmadd:ident, fnmadd = $fnmadd:ident, mul = $mul:ident) => {
        lane_ops!(@calls $features;
            and(a: I, b: I) -> I = $and; or(a: I, b: I) -> I = $or;
            add32(a: I, b: I) -> I = $add32; sub32(a: I, b: I) -> I = $sub32;
            mullo32(a: I, b: I) -> I = $mullo32;
            splat_i8(v: i8) -> I = $splat_i8; splat_i32(v: i32) -> I = $splat_i32;
            zero_i() -> I = $zero_i; zero_f() -> F = $zero_f; splat_f(v: f32) -> F = $splat_f;
            to_f(a: I) -> F = $to_f; fmadd(a: F, b: F, c: F) -> F = $fmadd;
            fnmadd(a: F, b: F, c: F) -> F = $fnmadd; mul(a: F, b: F) -> F = $mul;
        );
        lane_ops!(@shifts $features, $imm; shl32 = $shl32; shr32 = $shr32; shl16 = $shl16; shr16 = $shr16;);
        /// Every 32-bit lane shifted right by `bits` (a run-time count).
        #[inline]
        #[target_feature(enable = $features)]
        fn shr32_by(a: I, bits: i32) -> I {
            $srl32(a, _mm_cvtsi32_si128(bits))
        }
    };
    (@calls $features:literal; $($name:ident($($arg:ident: $t:ty),*) -> $r:ty = $intrinsic:ident;)*) => {
        $(
            #[inline]
            #[target_feature(enable = $features)]
            fn $name($($arg: $t),*) -> $r {
                $intrinsic($($arg),*)
            }
        )*
    };
    (@shifts $features:literal, $imm:ty; $($name:ident = $intrinsic:ident;)*) => {
        $(
            #[inline]
            #[target_feature(enable = $features)]
            fn $name<const S: $imm>(a: I) -> I {
                $intrinsic::<S>(a)
            }
        )*
    };
}

/// The tiles over `GROUPS` interleaved groups and their product loop,
/// compiled with `$features`.
#[cfg(target_arch = "x86_64")]
macro_rules! group_tiles {
    ($features:literal) => {
        /// The `N` input rows' activation blocks under superblock `b`
        /// (rows of `per_row` blocks each, one after another in `acts`).
        /// Written as a loop, not with `array::from_fn`: a closure made inside
        /// a `#[target_feature]` function carries its features, and the generic
        /// `from_fn` cannot inline it (25 % slower at M = 1).
        #[inline]
        #[target_feature(enable = $features)]
        fn superblock_acts<const N: usize>(acts: &[Q8Block], per_row: usize, b: usize) -> [&SuperActs; N] {
            let block = |start: usize| -> &SuperActs { acts[start..start + 8].try_into().expect("eight blocks") };
            let mut rows = [block(b * 8); N];
            for (t, r) in rows.iter_mut().enumerate().skip(1) {
                *r = block(t * per_row + b * 8);
            }
            rows
        }

        /// Eight interleaved `Q4_K` rows per group (`groups`: their blocks,
        /// superblock by superblock) times `N` input rows of `acts`, into
        /// outputs `t0..t0 + N` of each row (`out`: each group's eight rows of
        /// `m`).
        #[inline]
        #[target_feature(enable = $features)]
        pub(in crate::simd) fn q4k_group_tile<const N: usize>(
            groups: [&[u8]; GROUPS],
            acts: &[Q8Block],
            per_row: usize,
            out: [&mut [f32]; GROUPS],
            t0: usize,
            m: usize,
        ) {
            const BLOCK: usize = interleaved::q4k::GROUP;
            let low = splat_i8(0x0F);
            let (low6, low4, low2) = (splat_i32(0x3F3F_3F3F), splat_i32(0x0F0F_0F0F), splat_i32(0x0303_0303));
            let byte = splat_i32(0xFF);
            let mut acc = [zero_f(); N];
            for b in 0..groups[0].len() / BLOCK {
                let block = super::group_block::<BLOCK, GROUPS>(&groups, b, t0 == 0);
                let rows = superblock_acts::<N>(acts, per_row, b);
                let d = load_f16(block, 0);
                let dmin = load_f16(block, 16);
                // ggml's 6-bit scales and minimums of the eight rows, in the
                // bytes of each row's lane: sub-blocks 0–3 and 4–7.
                let (a, m6, c) = (
                    load_i(block, interleaved::q4k::SCALES),
                    load_i(block, interleaved::q4k::SCALES + 32),
                    load_i(block, interleaved::q4k::SCALES + 64),
                );
                let scales = [and(a, low6), or(and(c, low4), shl32::<4>(and(shr32::<6>(a), low2)))];
                let mins = [and(m6, low6), or(and(shr32::<4>(c), low4), shl32::<4>(and(shr32::<6>(m6), low2)))];
                // Sub-block `s`'s byte of each lane of `words`, as a 32-bit lane.
                let pick = |words: &[I; 2], s: usize| and(shr32_by(words[s / 4], 8 * (s % 4) as i32), byte);
                let mut isum = [zero_i(); N];
                for c in 0..4 {
                    let mut lo = [zero_i(); N];
                    let mut hi = [zero_i(); N];
                    for q in 0..8 {
                        let bits = load_i(block, interleaved::q4k::QS + 32 * (8 * c + q));
                        let wl = and(bits, low);
                        let wh = and(shr16::<4>(bits), low);
                        for t in 0..N {
                            lo[t] = run_sum(lo[t], wl, quad(&rows[t][2 * c].q, 4 * q));
                            hi[t] = run_sum(hi[t], wh, quad(&rows[t][2 * c + 1].q, 4 * q));
                        }
                    }
                    let (s_lo, s_hi) = (pick(&scales, 2 * c), pick(&scales, 2 * c + 1));
                    for t in 0..N {
                        isum[t] = run_scaled(isum[t], lo[t], s_lo);
                        isum[t] = run_scaled(isum[t], hi[t], s_hi);
                    }
                }
                // A loop, not `from_fn` (see `superblock_acts`).
                let mut min_f = [zero_f(); 8];
                for (s, min) in min_f.iter_mut().enumerate() {
                    *min = to_f(pick(&mins, s));
                }
                for t in 0..N {
                    // The minimums' term: Σ min·(d·Σq) over the eight runs.
                    let mut msum = zero_f();
                    for (s, &min) in min_f.iter().enumerate() {
                        msum = fmadd(min, splat_f(rows[t][s].s), msum);
                    }
                    let factor = mul(d, splat_f(rows[t][0].d));
                    acc[t] = fmadd(factor, to_f(isum[t]), acc[t]);
                    acc[t] = fnmadd(dmin, msum, acc[t]);
                }
            }
            write_groups::<N>(acc, out, t0, m);
        }

        /// Run `k`'s six-bit values (0–63) of quad `q` of a `Q6_K` group
        /// block's half `n`: four values of each of the eight rows per lane,
        /// from the quad's low bits (values 0 and 2 share one load, 1 and 3
        /// another) and its high bits (a third load). The tiles' one home for
        /// `Q6_K`'s unpacking (loads repeated for another `k` are from L1).
        #[inline]
        #[target_feature(enable = $features)]
        fn q6k_values<const L: usize>(block: [&[u8; L]; GROUPS], n: usize, q: usize, k: usize) -> I {
            let at = interleaved::q6k::QS + 96 * (8 * n + q);
            let (low, two) = (splat_i8(0x0F), splat_i8(0x30));
            let h = load_i(block, at + 64);
            match k {
                0 => or(and(load_i(block, at), low), and(shl16::<4>(h), two)),
                1 => or(and(load_i(block, at + 32), low), and(shl16::<2>(h), two)),
                2 => or(and(shr16::<4>(load_i(block, at)), low), and(h, two)),
                _ => or(and(shr16::<4>(load_i(block, at + 32)), low), and(shr16::<2>(h), two)),
            }
        }

        /// A `Q6_K` superblock's scaled integer sums into `isum` (before the
        /// offset of 32), run by run: two quads' byte products summed in
        /// [`run_sum`]'s lanes (with `maddubs`, `i16` pairs: at most
        /// 2·2·63·128 = 32,256), then scaled at once ([`run_scaled`]). Where
        /// sixteen registers cannot keep the four runs' sums of four input
        /// rows, this keeps one sum per row (the same integers).
        #[inline]
        #[target_feature(enable = $features)]
        fn q6k_runs_in_pairs<const L: usize, const N: usize>(block: [&[u8; L]; GROUPS], rows: &[&SuperActs; N], isum: &mut [I; N]) {
            for n in 0..2 {
                for half in 0..2 {
                    for k in 0..4 {
                        // Run k is sub-block 8n + 2k + half: quads 4·half..4·half + 4.
                        let sc = load_i8_i32(block, interleaved::q6k::SCALES + 8 * (8 * n + 2 * k + half));
                        for q in [4 * half, 4 * half + 2] {
                            let (v0, v1) = (q6k_values(block, n, q, k), q6k_values(block, n, q + 1, k));
                            for t in 0..N {
                                let acts = &rows[t][4 * n + k].q;
                                let run = run_sum(run_sum(zero_i(), v0, quad(acts, 4 * q)), v1, quad(acts, 4 * q + 4));
                                isum[t] = run_scaled(isum[t], run, sc);
                            }
                        }
                    }
                }
            }
        }

        /// Eight interleaved `Q6_K` rows per group (`groups`: their blocks,
        /// superblock by superblock) times `N` input rows of `acts`, into
        /// outputs `t0..t0 + N` of each row (`out`: each group's eight rows of
        /// `m`).
        ///
        /// Each half and quad of a group is three loads (the low bits of
        /// two values' bytes and their high bits) that make four runs' six-bit
        /// values of the eight rows; each is multiplied by four broadcast
        /// activation bytes, and the sub-block's eight scales weight the
        /// sums. Either four runs' sums per input row in `i32` lanes, scaled
        /// once per four quads, or, where `Q6K_IN_PAIRS`, one run at a time
        /// ([`q6k_runs_in_pairs`]: two quads summed as `run_sum` sums, at most
        /// 2·2·63·127 in `i16` with `maddubs`, then scaled). The offset of 32 comes off
        /// once per superblock, as 32 times the scales' products with the
        /// sub-blocks' activation sums.
        #[inline]
        #[target_feature(enable = $features)]
        pub(in crate::simd) fn q6k_group_tile<const N: usize>(
            groups: [&[u8]; GROUPS],
            acts: &[Q8Block],
            per_row: usize,
            out: [&mut [f32]; GROUPS],
            t0: usize,
            m: usize,
        ) {
            const BLOCK: usize = interleaved::q6k::GROUP;
            let mut acc = [zero_f(); N];
            for b in 0..groups[0].len() / BLOCK {
                let block = super::group_block::<BLOCK, GROUPS>(&groups, b, t0 == 0);
                let rows = superblock_acts::<N>(acts, per_row, b);
                let d = load_f16(block, 0);
                let mut isum = [zero_i(); N];
                if Q6K_IN_PAIRS {
                    q6k_runs_in_pairs::<BLOCK, N>(block, &rows, &mut isum);
                } else {
                    for n in 0..2 {
                        for half in 0..2 {
                            // Run k's sub-block 8n + 2k + half: quads 4·half..4·half + 4.
                            let mut sums = [[zero_i(); 4]; N];
                            for q in 4 * half..4 * half + 4 {
                                let values = [
                                    q6k_values(block, n, q, 0),
                                    q6k_values(block, n, q, 1),
                                    q6k_values(block, n, q, 2),
                                    q6k_values(block, n, q, 3),
                                ];
                                for t in 0..N {
                                    for k in 0..4 {
                                        let bytes = quad(&rows[t][4 * n + k].q, 4 * q);
                                        sums[t][k] = run_sum_wide(sums[t][k], values[k], bytes);
                                    }
                                }
                            }
                            for k in 0..4 {
                                let sc = load_i8_i32(block, interleaved::q6k::SCALES + 8 * (8 * n + 2 * k + half));
                                for t in 0..N {
                                    isum[t] = add32(isum[t], mullo32(sums[t][k], sc));
                                }
                            }
                        }
                    }
                }
                // The offset of 32, once per superblock: Σ scale·(activations'
                // sum) over the sixteen sub-blocks, as eight products of `i16`
                // pairs. Sub-blocks 2j and 2j + 1 are the halves of block j, so
                // each row's pair of scales meets one block's packed half sums
                // (`Q8Block::h`).
                let mut offsets = [zero_i(); N];
                for j in 0..8 {
                    let pairs = load_pairs_i16(block, interleaved::q6k::SCALES + 16 * j);
                    for t in 0..N {
                        let sums = splat_i32(acts[t * per_row + 8 * b + j].h);
                        offsets[t] = scaled(offsets[t], pairs, sums);
                    }
                }
                for t in 0..N {
                    let total = sub32(isum[t], shl32::<5>(offsets[t]));
                    let factor = mul(d, splat_f(rows[t][0].d));
                    acc[t] = fmadd(factor, to_f(total), acc[t]);
                }
            }
            write_groups::<N>(acc, out, t0, m);
        }

        /// Eight interleaved `Q5_0` rows per group (`groups`: their blocks,
        /// block by block) times `N` input rows of `acts`, into outputs
        /// `t0..t0 + N` of each row (`out`: each group's eight rows of `m`).
        ///
        /// A load holds four packed bytes of each row: its low nibbles are
        /// values `4g..4g + 4`, its high ones `16 + 4g..`; their fifth bits
        /// come from each row's `qh` word, four bits spread to the four
        /// bytes' bit 4 by one multiplication (`x · 0x0204_0810`: shifts by 4,
        /// 11, 18 and 25 that cannot carry into each other). Values are
        /// 0–31 (the offset of 16 comes off as 16 times the activations' sum),
        /// summed into `i32` lanes.
        #[inline]
        #[target_feature(enable = $features)]
        pub(in crate::simd) fn q5_0_group_tile<const N: usize>(
            groups: [&[u8]; GROUPS],
            acts: &[Q8Block],
            per_row: usize,
            out: [&mut [f32]; GROUPS],
            t0: usize,
            m: usize,
        ) {
            const BLOCK: usize = interleaved::q5_0::GROUP;
            let low = splat_i8(0x0F);
            let (nibble, spread, fifth) = (splat_i32(0x0F), splat_i32(0x0204_0810), splat_i32(0x1010_1010));
            let mut acc = [zero_f(); N];
            for b in 0..groups[0].len() / BLOCK {
                let block = super::group_block::<BLOCK, GROUPS>(&groups, b, t0 == 0);
                let d = load_f16(block, 0);
                let qh = load_i(block, interleaved::q5_0::QH);
                // Bits `at..at + 4` of each row's `qh` as bit 4 of its four bytes.
                let bits = |at: i32| and(mullo32(and(shr32_by(qh, at), nibble), spread), fifth);
                let mut isum = [zero_i(); N];
                for g in 0..4 {
                    let packed = load_i(block, interleaved::q5_0::QS + 32 * g);
                    let lo = or(and(packed, low), bits(4 * g as i32));
                    let hi = or(and(shr16::<4>(packed), low), bits(16 + 4 * g as i32));
                    for t in 0..N {
                        let q = &acts[t * per_row + b].q;
                        isum[t] = run_sum_wide(isum[t], lo, quad(q, 4 * g));
                        isum[t] = run_sum_wide(isum[t], hi, quad(q, 16 + 4 * g));
                    }
                }
                for t in 0..N {
                    let centered = sub32(isum[t], splat_i32(16 * block_sum(&acts[t * per_row + b])));
                    acc[t] = fmadd(mul(d, splat_f(acts[t * per_row + b].d)), to_f(centered), acc[t]);
                }
            }
            write_groups::<N>(acc, out, t0, m);
        }

        /// Eight interleaved `Q8_0` rows per group (`groups`: their blocks,
        /// block by block) times `N` input rows of `acts`, into outputs
        /// `t0..t0 + N` of each row (`out`: each group's eight rows of `m`).
        ///
        /// The values are signed: each load becomes the byte products'
        /// unsigned operand once ([`signed_operand`]), and `SIGNED_OFFSET`
        /// times the activations' sum ([`block_sum`]) comes off each
        /// block. Two chains of sums per input row (even and odd loads), so
        /// that the multiply-adds' latency does not serialize a tile's products.
        #[inline]
        #[target_feature(enable = $features)]
        pub(in crate::simd) fn q8_0_group_tile<const N: usize>(
            groups: [&[u8]; GROUPS],
            acts: &[Q8Block],
            per_row: usize,
            out: [&mut [f32]; GROUPS],
            t0: usize,
            m: usize,
        ) {
            const BLOCK: usize = interleaved::q8_0::GROUP;
            let mut acc = [zero_f(); N];
            for b in 0..groups[0].len() / BLOCK {
                let block = super::group_block::<BLOCK, GROUPS>(&groups, b, t0 == 0);
                let d = load_f16(block, 0);
                let mut chains = [[zero_i(); N]; 2];
                for g in 0..8 {
                    let w = load_i(block, interleaved::q8_0::QS + 32 * g);
                    let operand = signed_operand(w);
                    let isum = &mut chains[g % 2];
                    for t in 0..N {
                        isum[t] = signed_run_sum(isum[t], operand, w, quad(&acts[t * per_row + b].q, 4 * g));
                    }
                }
                for t in 0..N {
                    let sum = add32(chains[0][t], chains[1][t]);
                    let total = sub32(sum, splat_i32(SIGNED_OFFSET * block_sum(&acts[t * per_row + b])));
                    acc[t] = fmadd(mul(d, splat_f(acts[t * per_row + b].d)), to_f(total), acc[t]);
                }
            }
            write_groups::<N>(acc, out, t0, m);
        }

        /// `GROUPS` interleaved groups of type `ty` times all `m` input rows
        /// of `acts`, in tiles of up to four input rows (eight for some types
        /// where `EIGHT_ROW_TILES`), into `out` (each group's eight rows of `m`).
        #[inline]
        #[target_feature(enable = $features)]
        pub(in crate::simd) fn group_products(
            ty: tandem_gguf::GgmlType,
            groups: [&[u8]; GROUPS],
            acts: &[Q8Block],
            per_row: usize,
            mut out: [&mut [f32]; GROUPS],
            m: usize,
        ) {
            use tandem_gguf::GgmlType;
            let mut t0 = 0;
            while t0 < m {
                let acts = &acts[t0 * per_row..];
                // Eight input rows at once where the registers hold them: the
                // group's weights then unpacked once for eight rows. Only `Q4_K`
                // and `Q5_0`, whose tiles keep one accumulator per row and run;
                // `Q8_0`'s two chains spilled (1.18 → 1.57 ms at M = 8 on an Intel
                // Xeon), `Q6_K`'s four runs per row gained nothing.
                let eight = EIGHT_ROW_TILES && m - t0 >= 8 && matches!(ty, GgmlType::Q4_K | GgmlType::Q5_0);
                let tile = if eight { 8 } else { (m - t0).min(4) };
                let out = out.each_mut().map(|o| &mut **o);
                match ty {
                    GgmlType::Q4_K => by_tile!(tile, eight, q4k_group_tile(groups, acts, per_row, out, t0, m)),
                    GgmlType::Q6_K => by_tile!(tile, q6k_group_tile(groups, acts, per_row, out, t0, m)),
                    GgmlType::Q5_0 => by_tile!(tile, eight, q5_0_group_tile(groups, acts, per_row, out, t0, m)),
                    _ => by_tile!(tile, q8_0_group_tile(groups, acts, per_row, out, t0, m)),
                }
                t0 += tile;
            }
        }
    };
}
