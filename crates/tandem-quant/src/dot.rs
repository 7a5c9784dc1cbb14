//! What each ggml block type is, as the fused kernels see it: a block
//! unpacks to small integers (once, however many activation rows follow),
//! and its products with 8-bit activation blocks are runs of 32 integer
//! products with one float scale per half ([`BlockKernel::products`]), plus
//! a term without products for the types with a minimum.
//!
//! How a run of 32 products is computed is the caller's: the portable
//! kernel in `matmul.rs` ([`dot_i8`]) or the SIMD kernels in `simd.rs`.
//! Everything here is safe Rust marked `#[inline(always)]`, so that it is
//! compiled with the target features of the kernel that calls it.

// Index loops over fixed-size arrays read as ggml's block formulas and
// vectorize as well as iterator chains.
#![allow(clippy::needless_range_loop)]

use crate::activation::{Q8Block, QK};

/// A k-quant block's activations: eight blocks of 32 that share one scale
/// (`quantize_superblocks_into`). A fixed size, so that indexing them by
/// run needs no bounds check.
pub(crate) type SuperActs = [Q8Block; 8];

/// One ggml block type: its size, how it unpacks, and how its products with
/// activation blocks are made of runs of 32.
pub(crate) trait BlockKernel {
    /// Bytes per weight block.
    const BYTES: usize;
    /// Activation blocks (of 32) per weight block.
    const ACTS: usize;
    /// Whether the two halves of a run of 32 can have different scales
    /// (`lo ≠ hi` in [`BlockKernel::products`]); a kernel may use one scale
    /// for the whole run when they cannot.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    const SPLIT_SCALES: bool = false;
    /// Whether unpacked weights are never negative (the types with a
    /// minimum): a kernel may then multiply them as unsigned bytes (the
    /// AVX2 kernel does; the others widen bytes either way).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    const UNSIGNED: bool = false;
    /// Whether [`BlockKernel::products`] can return anything but zero; a
    /// kernel skips the addition when it cannot.
    const HAS_REST: bool;
    /// Whether unpacked weights can fall outside `-64..=63` (only `Q8_0`'s
    /// bytes do). The relaxed-SIMD kernel multiplies narrow weights,
    /// offset to non-negative 7-bit values, with one dot product per 16;
    /// wide ones it multiplies as the `simd128` kernel does.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    const WIDE: bool = false;
    /// ggml's id of the type (`tandem_gguf::GgmlType`): how the main module
    /// names it to the relaxed-SIMD module.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    const GGML_ID: u32;
    /// Whether the products read activations quantized with one scale per
    /// block of this type (`quantize_superblocks_into`, which `matmul` uses
    /// for it), so that a kernel may sum a block's runs in integers
    /// ([`BlockKernel::int_products`]): the k-quant types.
    const SHARED_SCALE: bool = false;
    /// A block unpacked to small integers and its scales.
    type Unpacked;
    /// Unpacks one block (exactly `BYTES` long).
    fn unpack(block: &[u8]) -> Self::Unpacked;
    /// `Σ w·x` over one unpacked block and its `ACTS` activation blocks:
    /// calls `run(w, q, lo, hi)` for each run of 32 weights `w` and
    /// activations `q`, whose sum is `lo·Σ₀¹⁶ w·q + hi·Σ₁₆³² w·q`, and
    /// returns the rest of the sum (the minimums' term, without products).
    /// The block's `f16` scales are widened by `widen` (the kernel's
    /// fastest way: one F16C instruction, or [`widen_f16`]).
    fn products(
        w: &Self::Unpacked,
        acts: &[Q8Block],
        widen: impl Fn(u16) -> f32,
        run: impl FnMut(&[i8; QK], &[i8; QK], f32, f32),
    ) -> f32;
    /// [`BlockKernel::products`] with integer run scales, for the
    /// [`BlockKernel::SHARED_SCALE`] types (whose `ACTS` activation blocks
    /// share one `d`), over `N` input rows at once (`acts[t]`: row `t`'s
    /// `ACTS` blocks): calls `run(w, qs, lo, hi)` once per run, with the
    /// run's activations in every row, so that a kernel loads the run's
    /// weights and scales once for all rows. Row `t`'s integer sum for the
    /// run is `lo·Σ₀¹⁶ w·qs[t] + hi·Σ₁₆³² w·qs[t]`. Returns, per row, the
    /// factor of the block's integer total and the rest of the sum. Only
    /// the x86 kernels call it, and only where `SHARED_SCALE` holds (the
    /// wasm tiles read the k-quants' bytes themselves).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn int_products<const N: usize>(
        w: &Self::Unpacked,
        acts: [&SuperActs; N],
        widen: impl Fn(u16) -> f32,
        run: impl FnMut(&[i8; QK], [&[i8; QK]; N], i16, i16),
    ) -> [(f32, f32); N] {
        let _ = (w, acts, widen, run);
        unreachable!("only the k-quant types sum their runs in integers")
    }
}

/// The bits of the `f16` at byte `i`.
#[inline(always)]
fn f16_bits(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

/// An `f16` widened without a call, for kernels without F16C: exponent and
/// mantissa are moved into an `f32`'s places and the exponent rebiased by
/// an integer addition. A subnormal `f16` (exponent 0: `k`-quant scales
/// often are, e.g. `Q6_K`'s `d` and `Q4_K`'s `dmin` of real files) is read
/// as the normal `2⁻¹⁴ + m·2⁻²⁴` less `2⁻¹⁴`, exact by Sterbenz' lemma, so
/// the FPU never sees a subnormal `f32`. (Rebiasing by multiplying by 2¹¹²
/// did: a multiplication with a subnormal operand takes a microcode assist
/// on x86, and wasm cannot flush them; it made `Q6_K` products on the real
/// Qwen2.5-Coder-1.5B file twice as slow as on random blocks.) Infinities
/// and NaNs would come out finite, so [`QMatrix::new`](crate::QMatrix::new)
/// refuses blocks whose scales are not finite. (`half`'s conversion is an
/// out-of-line call per block.)
#[inline(always)]
pub(crate) fn widen_f16(h: u16) -> f32 {
    let h = u32::from(h);
    let bits = (h & 0x7FFF) << 13;
    let normal = f32::from_bits(bits + (112 << 23));
    let subnormal = f32::from_bits(bits + (113 << 23)) - f32::from_bits(113 << 23);
    let magnitude = if h & 0x7C00 == 0 { subnormal } else { normal };
    f32::from_bits(magnitude.to_bits() | ((h & 0x8000) << 16))
}

/// `Σ a·b` over `N` small integers.
#[inline(always)]
pub(crate) fn dot_i8<const N: usize>(a: &[i8], b: &[i8]) -> i32 {
    let (a, b) = (&a[..N], &b[..N]);
    let mut s = 0i32;
    for i in 0..N {
        s += i32::from(a[i]) * i32::from(b[i]);
    }
    s
}

/// The 32 nibbles of 16 packed bytes: low nibbles are values 0..16, high 16..32.
#[inline(always)]
fn nibbles(qs: &[u8], offset: i8) -> [i8; QK] {
    let qs = &qs[..16];
    let mut w = [0i8; QK];
    for i in 0..16 {
        w[i] = (qs[i] & 0x0F) as i8 - offset;
        w[i + 16] = (qs[i] >> 4) as i8 - offset;
    }
    w
}

/// A 32-value block as integers with one scale `d` and an optional minimum `m`.
pub(crate) struct Small {
    d: u16,
    m: u16,
    w: [i8; QK],
}

/// A 32-value block type: how one block unpacks to [`Small`]. Every such
/// type shares one dot product.
pub(crate) trait SmallBlock {
    /// Bytes per block.
    const SIZE: usize;
    /// Whether the type has a minimum (`Small::m` is not always zero); its
    /// unpacked values are then never negative.
    const HAS_MIN: bool = false;
    /// [`BlockKernel::WIDE`].
    const WIDE: bool = false;
    /// [`BlockKernel::GGML_ID`].
    const GGML_ID: u32;
    /// Unpacks one block (exactly `SIZE` long).
    fn unpack_small(block: &[u8]) -> Small;
}

impl<T: SmallBlock> BlockKernel for T {
    const BYTES: usize = T::SIZE;
    const ACTS: usize = 1;
    const HAS_REST: bool = T::HAS_MIN;
    const UNSIGNED: bool = T::HAS_MIN;
    const WIDE: bool = T::WIDE;
    const GGML_ID: u32 = T::GGML_ID;
    type Unpacked = Small;
    #[inline(always)]
    fn unpack(b: &[u8]) -> Small {
        T::unpack_small(&b[..T::SIZE])
    }
    #[inline(always)]
    fn products(
        u: &Small,
        a: &[Q8Block],
        widen: impl Fn(u16) -> f32,
        mut run: impl FnMut(&[i8; QK], &[i8; QK], f32, f32),
    ) -> f32 {
        let scale = widen(u.d) * a[0].d;
        run(&u.w, &a[0].q, scale, scale);
        if T::HAS_MIN { widen(u.m) * a[0].s } else { 0.0 }
    }
}

/// `Q8_0`: `d: f16, q: [i8; 32]`.
pub(crate) struct Q8_0;
impl SmallBlock for Q8_0 {
    const SIZE: usize = 34;
    const WIDE: bool = true;
    const GGML_ID: u32 = 8;
    #[inline(always)]
    fn unpack_small(b: &[u8]) -> Small {
        let w = std::array::from_fn(|i| b[2 + i] as i8);
        Small {
            d: f16_bits(b, 0),
            m: 0,
            w,
        }
    }
}

/// `Q4_0`: `d: f16, qs: [u8; 16]`, value `(q − 8)·d`.
pub(crate) struct Q4_0;
impl SmallBlock for Q4_0 {
    const SIZE: usize = 18;
    const GGML_ID: u32 = 2;
    #[inline(always)]
    fn unpack_small(b: &[u8]) -> Small {
        Small {
            d: f16_bits(b, 0),
            m: 0,
            w: nibbles(&b[2..], 8),
        }
    }
}

/// `Q4_1`: `d, m: f16, qs: [u8; 16]`, value `q·d + m`.
pub(crate) struct Q4_1;
impl SmallBlock for Q4_1 {
    const SIZE: usize = 20;
    const GGML_ID: u32 = 3;
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn unpack_small(b: &[u8]) -> Small {
        Small {
            d: f16_bits(b, 0),
            m: f16_bits(b, 2),
            w: nibbles(&b[4..], 0),
        }
    }
}

/// `Q5_0`: `d: f16, qh: u32, qs: [u8; 16]`, value `(q − 16)·d` with the
/// fifth bit of value `j` in bit `j` of `qh`.
pub(crate) struct Q5_0;
impl SmallBlock for Q5_0 {
    const SIZE: usize = 22;
    const GGML_ID: u32 = 6;
    #[inline(always)]
    fn unpack_small(b: &[u8]) -> Small {
        let qs = &b[6..22];
        let mut w = nibbles(qs, 0);
        // Bit j of `qh` is bit j % 8 of byte j / 8: a byte shuffle, a mask
        // with a constant per lane and a compare, all lane-wise. (A shift by
        // j % 8 is a different count per lane, which `simd128` cannot do:
        // that form left the wasm kernel at a fifth of `Q4_0`'s speed.)
        const BIT: [u8; QK] = {
            let mut bit = [0u8; QK];
            let mut j = 0;
            while j < QK {
                bit[j] = 1 << (j % 8);
                j += 1;
            }
            bit
        };
        let qh = &b[2..6];
        let spread: [u8; QK] = std::array::from_fn(|j| qh[j / 8]);
        for j in 0..QK {
            let high = if spread[j] & BIT[j] != 0 { 16 } else { 0 };
            w[j] = (w[j] | high) - 16;
        }
        Small {
            d: f16_bits(b, 0),
            m: 0,
            w,
        }
    }
}

/// A 256-value k-quant block: eight sub-blocks of 32 with integer scales,
/// `value = d·sc·q − dmin·m`.
pub(crate) struct Super {
    d: u16,
    dmin: u16,
    /// The 6-bit scales.
    isc: [u8; 8],
    m: [f32; 8],
    w: [[i8; QK]; 8],
}

#[inline(always)]
fn super_products(
    u: &Super,
    a: &[Q8Block],
    widen: impl Fn(u16) -> f32,
    mut run: impl FnMut(&[i8; QK], &[i8; QK], f32, f32),
) -> f32 {
    let a = &a[..8];
    let d = widen(u.d);
    let mut mins = 0f32;
    for j in 0..8 {
        let scale = d * f32::from(u.isc[j]) * a[j].d;
        run(&u.w[j], &a[j].q, scale, scale);
        mins += u.m[j] * a[j].s;
    }
    -widen(u.dmin) * mins
}

/// The eight 6-bit scales and minimums of a `Q4_K` or `Q5_K` block (its
/// first 16 bytes: `d`, `dmin` and the 12 packed bytes), one byte each in
/// two little-endian `u64`s, unpacked with a few 32-bit operations as
/// ggml's `vec_dot_q4_K_q8_K` does (the same values as
/// [`tandem_gguf::k_scale_min`]).
#[cfg_attr(not(any(target_arch = "x86_64", target_arch = "wasm32")), allow(dead_code))]
#[inline(always)]
pub(crate) fn q4k_scales_mins(header: &[u8; 16]) -> (u64, u64) {
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let word = |i: usize| {
        u32::from_le_bytes([
            header[4 + 4 * i],
            header[5 + 4 * i],
            header[6 + 4 * i],
            header[7 + 4 * i],
        ])
    };
    let (a, b, c) = (word(0), word(1), word(2));
    let scales_lo = a & LOW6;
    let scales_hi = (c & LOW4) | (((a >> 6) & LOW2) << 4);
    let mins_lo = b & LOW6;
    let mins_hi = ((c >> 4) & LOW4) | (((b >> 6) & LOW2) << 4);
    (
        u64::from(scales_lo) | (u64::from(scales_hi) << 32),
        u64::from(mins_lo) | (u64::from(mins_hi) << 32),
    )
}

/// Unpacks the `d`, `dmin` and 12 scale bytes shared by `Q4_K` and `Q5_K`.
#[inline(always)]
fn super_header(b: &[u8]) -> Super {
    let scales = &b[4..16];
    let mut isc = [0u8; 8];
    let mut m = [0f32; 8];
    for j in 0..8 {
        let (s, mn) = tandem_gguf::k_scale_min(j, scales);
        isc[j] = s;
        m[j] = f32::from(mn);
    }
    Super {
        d: f16_bits(b, 0),
        dmin: f16_bits(b, 2),
        isc,
        m,
        w: [[0; QK]; 8],
    }
}

/// A k-quant type with a minimum (`Q4_K`, `Q5_K`): how one 256-value block
/// unpacks to [`Super`]. Every such type shares one set of products,
/// through [`KQuant`].
pub(crate) trait SuperBlock {
    /// Bytes per block.
    const SIZE: usize;
    /// [`BlockKernel::GGML_ID`].
    const GGML_ID: u32;
    /// Unpacks one block (exactly `SIZE` long).
    fn unpack_super(block: &[u8]) -> Super;
}

/// The kernel of a [`SuperBlock`] type.
pub(crate) struct KQuant<T>(std::marker::PhantomData<T>);

impl<T: SuperBlock> BlockKernel for KQuant<T> {
    const BYTES: usize = T::SIZE;
    const ACTS: usize = 8;
    const HAS_REST: bool = true;
    const UNSIGNED: bool = true;
    const SHARED_SCALE: bool = true;
    const GGML_ID: u32 = T::GGML_ID;
    type Unpacked = Super;
    #[inline(always)]
    fn unpack(b: &[u8]) -> Super {
        T::unpack_super(&b[..T::SIZE])
    }
    #[inline(always)]
    fn products(
        u: &Super,
        a: &[Q8Block],
        widen: impl Fn(u16) -> f32,
        run: impl FnMut(&[i8; QK], &[i8; QK], f32, f32),
    ) -> f32 {
        super_products(u, a, widen, run)
    }
    #[inline(always)]
    fn int_products<const N: usize>(
        u: &Super,
        acts: [&SuperActs; N],
        widen: impl Fn(u16) -> f32,
        mut run: impl FnMut(&[i8; QK], [&[i8; QK]; N], i16, i16),
    ) -> [(f32, f32); N] {
        let mut qs = [&u.w[0]; N];
        let mut mins = [0f32; N];
        for j in 0..8 {
            let sc = i16::from(u.isc[j]);
            for t in 0..N {
                qs[t] = &acts[t][j].q;
                mins[t] += u.m[j] * acts[t][j].s;
            }
            run(&u.w[j], qs, sc, sc);
        }
        let (d, dmin) = (widen(u.d), widen(u.dmin));
        let mut out = [(0.0, 0.0); N];
        for t in 0..N {
            out[t] = (d * acts[t][0].d, -dmin * mins[t]);
        }
        out
    }
}

/// The low and high nibbles of 32 bytes, as two runs of 32: how `Q4_K`'s
/// bytes `32c..32c + 32` give its runs `2c` and `2c + 1`.
///
/// Written as `nibbles` (`Q4_0`) is, into fresh arrays: both kernels
/// vectorize it. Writing the runs in place inside the unpacked block left
/// the choice to LLVM's vectorizer per caller, and the portable and
/// `simd128` kernels then ran `Q4_K` at a third of `Q5_K`'s speed (86 % of a
/// browser decode step of Qwen2.5-Coder-1.5B).
#[inline(always)]
fn split_nibbles(q: &[u8]) -> ([i8; QK], [i8; QK]) {
    let q = &q[..QK];
    let mut lo = [0i8; QK];
    let mut hi = [0i8; QK];
    for i in 0..QK {
        lo[i] = (q[i] & 0x0F) as i8;
        hi[i] = (q[i] >> 4) as i8;
    }
    (lo, hi)
}

/// `Q4_K`: `d, dmin: f16, scales: [u8; 12], qs: [u8; 128]`.
pub(crate) struct Q4K;
impl SuperBlock for Q4K {
    const SIZE: usize = 144;
    const GGML_ID: u32 = 12;
    #[inline(always)]
    fn unpack_super(b: &[u8]) -> Super {
        let mut u = super_header(b);
        // A fixed-size view, so that the nibble loops carry no bounds checks
        // and vectorize (with a slice per chunk they did not: the portable
        // kernel ran `Q4_K` at a third of `Q5_K`'s speed, the wasm one at 86 %
        // of a decode step).
        for c in 0..4 {
            (u.w[2 * c], u.w[2 * c + 1]) = split_nibbles(&b[16 + 32 * c..]);
        }
        u
    }
}

/// `Q5_K`: `d, dmin: f16, scales: [u8; 12], qh: [u8; 32], qs: [u8; 128]`.
pub(crate) struct Q5K;
impl SuperBlock for Q5K {
    const SIZE: usize = 176;
    const GGML_ID: u32 = 13;
    #[inline(always)]
    fn unpack_super(b: &[u8]) -> Super {
        let mut u = super_header(b);
        let qh = &b[16..48];
        for c in 0..4 {
            let q = &b[48 + 32 * c..80 + 32 * c];
            for l in 0..QK {
                let h = qh[l] >> (2 * c);
                u.w[2 * c][l] = ((q[l] & 0x0F) | ((h & 1) << 4)) as i8;
                u.w[2 * c + 1][l] = ((q[l] >> 4) | ((h & 2) << 3)) as i8;
            }
        }
        u
    }
}

/// A `Q6_K` block unpacked: sixteen sub-blocks of 16 with `i8` scales.
pub(crate) struct Six {
    d: u16,
    /// The 8-bit scales.
    isc: [i8; 16],
    w: [[i8; QK]; 8],
}

/// `Q6_K`: `ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16`; two
/// halves of 128 values, value `d·sc·(q − 32)`.
pub(crate) struct Q6K;
impl BlockKernel for Q6K {
    const BYTES: usize = 210;
    const GGML_ID: u32 = 14;
    const SPLIT_SCALES: bool = true;
    const HAS_REST: bool = false;
    const SHARED_SCALE: bool = true;
    const ACTS: usize = 8;
    type Unpacked = Six;
    #[inline(always)]
    fn unpack(b: &[u8]) -> Six {
        let b = &b[..Self::BYTES];
        let mut u = Six {
            d: f16_bits(b, 208),
            isc: [0; 16],
            w: [[0; QK]; 8],
        };
        for half in 0..2 {
            let ql = &b[64 * half..64 * half + 64];
            let qh = &b[128 + 32 * half..160 + 32 * half];
            let w = &mut u.w[4 * half..4 * half + 4];
            for l in 0..QK {
                w[0][l] = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i8 - 32;
                w[1][l] = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
                w[2][l] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
                w[3][l] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
            }
            // Scale 2k + i of this half covers values 16i..16i+16 of quarter k.
            for k in 0..8 {
                u.isc[8 * half + k] = b[192 + 8 * half + k] as i8;
            }
        }
        u
    }
    #[inline(always)]
    fn products(
        u: &Six,
        a: &[Q8Block],
        widen: impl Fn(u16) -> f32,
        mut run: impl FnMut(&[i8; QK], &[i8; QK], f32, f32),
    ) -> f32 {
        let a = &a[..8];
        let block_d = widen(u.d);
        for j in 0..8 {
            let d = block_d * a[j].d;
            run(
                &u.w[j],
                &a[j].q,
                d * f32::from(u.isc[2 * j]),
                d * f32::from(u.isc[2 * j + 1]),
            );
        }
        0.0
    }
    #[inline(always)]
    fn int_products<const N: usize>(
        u: &Six,
        acts: [&SuperActs; N],
        widen: impl Fn(u16) -> f32,
        mut run: impl FnMut(&[i8; QK], [&[i8; QK]; N], i16, i16),
    ) -> [(f32, f32); N] {
        let mut qs = [&u.w[0]; N];
        for j in 0..8 {
            for t in 0..N {
                qs[t] = &acts[t][j].q;
            }
            run(&u.w[j], qs, i16::from(u.isc[2 * j]), i16::from(u.isc[2 * j + 1]));
        }
        let d = widen(u.d);
        let mut out = [(0.0, 0.0); N];
        for t in 0..N {
            out[t] = (d * acts[t][0].d, 0.0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widen_f16_equals_half_for_every_finite_value() {
        for h in 0..=u16::MAX {
            let expected = half::f16::from_bits(h);
            if expected.is_finite() {
                assert_eq!(widen_f16(h).to_bits(), expected.to_f32().to_bits(), "{h:#06x}");
            }
        }
    }

    #[test]
    fn q4k_scales_and_minimums_unpack_as_ggml_defines_them() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..1000 {
            let mut header = [0u8; 16];
            for b in header.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *b = seed as u8;
            }
            let (scales, mins) = q4k_scales_mins(&header);
            for j in 0..8 {
                let (s, m) = tandem_gguf::k_scale_min(j, &header[4..16]);
                assert_eq!(
                    ((scales >> (8 * j)) as u8, (mins >> (8 * j)) as u8),
                    (s, m),
                    "{header:?} {j}"
                );
            }
        }
    }
}
