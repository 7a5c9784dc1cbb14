// wasm's 128-bit SIMD operations, as far as the block tile (`wasm_tile.rs`)
// uses them, on aarch64's NEON: the same names and lane semantics, so that
// the NEON kernels (`simd.rs`'s `neon_kernel!`) include the tile unchanged
// and the tile is written once for both. Each is one or two NEON
// instructions, all in the aarch64 baseline. `v128` is an untyped 16-byte
// vector as in wasm; each operation reinterprets it as its lanes.
// Included by `simd.rs` (the crate's one module allowed `unsafe`).

/// wasm's untyped vector: 16 bytes, reinterpreted per operation.
#[allow(non_camel_case_types)]
type v128 = uint8x16_t;

/// Operations whose bodies call NEON intrinsics: `#[target_feature]`
/// functions, `unsafe` to call from functions without the attribute. The
/// kernels exist only where the build enables NEON (`simd.rs`'s `cfg`), so
/// every such call is sound; the bodies read and write registers only.
macro_rules! neon_ops {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty { $($body:tt)* })*) => {$(
        $(#[$doc])*
        #[inline(always)]
        fn $name($($arg: $ty),*) -> $ret {
            // SAFETY: NEON is enabled for the whole build (see the macro).
            unsafe { $($body)* }
        }
    )*};
}

neon_ops! {
    fn f32s(v: v128) -> float32x4_t { vreinterpretq_f32_u8(v) }
    fn i32s(v: v128) -> int32x4_t { vreinterpretq_s32_u8(v) }
    fn i16s(v: v128) -> int16x8_t { vreinterpretq_s16_u8(v) }
    fn u16s(v: v128) -> uint16x8_t { vreinterpretq_u16_u8(v) }
    fn i8s(v: v128) -> int8x16_t { vreinterpretq_s8_u8(v) }

    fn f32x4_splat(x: f32) -> v128 { vreinterpretq_u8_f32(vdupq_n_f32(x)) }
    fn f32x4_add(a: v128, b: v128) -> v128 { vreinterpretq_u8_f32(vaddq_f32(f32s(a), f32s(b))) }
    fn f32x4_mul(a: v128, b: v128) -> v128 { vreinterpretq_u8_f32(vmulq_f32(f32s(a), f32s(b))) }
    fn f32x4_convert_i32x4(a: v128) -> v128 { vreinterpretq_u8_f32(vcvtq_f32_s32(i32s(a))) }

    fn i32x4_splat(x: i32) -> v128 { vreinterpretq_u8_s32(vdupq_n_s32(x)) }
    fn i32x4_add(a: v128, b: v128) -> v128 { vreinterpretq_u8_s32(vaddq_s32(i32s(a), i32s(b))) }
    fn i32x4_sub(a: v128, b: v128) -> v128 { vreinterpretq_u8_s32(vsubq_s32(i32s(a), i32s(b))) }
    /// Lane `i`: `a[2i]·b[2i] + a[2i+1]·b[2i+1]` over `i16` lanes, as wasm's
    /// `i32x4.dot_i16x8_s`.
    fn i32x4_dot_i16x8(a: v128, b: v128) -> v128 {
        let (a, b) = (i16s(a), i16s(b));
        let low = vmull_s16(vget_low_s16(a), vget_low_s16(b));
        vreinterpretq_u8_s32(vpaddq_s32(low, vmull_high_s16(a, b)))
    }

    fn i16x8_splat(x: i16) -> v128 { vreinterpretq_u8_s16(vdupq_n_s16(x)) }
    fn i16x8_add(a: v128, b: v128) -> v128 { vreinterpretq_u8_s16(vaddq_s16(i16s(a), i16s(b))) }
    /// `i16` lanes shifted left by `n` (< 16; a constant once inlined).
    fn i16x8_shl(a: v128, n: u32) -> v128 { vreinterpretq_u8_s16(vshlq_s16(i16s(a), vdupq_n_s16(n as i16))) }
    /// `u16` lanes shifted right by `n` (< 16), zeros in: NEON shifts right
    /// by a negative left shift.
    fn u16x8_shr(a: v128, n: u32) -> v128 { vreinterpretq_u8_u16(vshlq_u16(u16s(a), vdupq_n_s16(-(n as i16)))) }

    fn i8x16_splat(x: i8) -> v128 { vreinterpretq_u8_s8(vdupq_n_s8(x)) }
    fn u8x16_splat(x: u8) -> v128 { vdupq_n_u8(x) }
    fn u32x4_splat(x: u32) -> v128 { vreinterpretq_u8_u32(vdupq_n_u32(x)) }
    fn i8x16_sub(a: v128, b: v128) -> v128 { vreinterpretq_u8_s8(vsubq_s8(i8s(a), i8s(b))) }
    /// All ones in lanes where the bytes are equal.
    fn i8x16_eq(a: v128, b: v128) -> v128 { vceqq_u8(a, b) }
    /// Byte `i` is `a[s[i]]`, or zero where `s[i] ≥ 16` (as wasm's swizzle and
    /// NEON's table lookup both do).
    fn i8x16_swizzle(a: v128, s: v128) -> v128 { vqtbl1q_u8(a, s) }

    fn v128_and(a: v128, b: v128) -> v128 { vandq_u8(a, b) }
    fn v128_or(a: v128, b: v128) -> v128 { vorrq_u8(a, b) }
    /// `a & !b`.
    fn v128_andnot(a: v128, b: v128) -> v128 { vbicq_u8(a, b) }
}

/// Lane `L` (NEON's lane getter takes an `i32` constant, which a `usize`
/// generic cannot become, so the vector is read as an array).
#[inline(always)]
fn f32x4_extract_lane<const L: usize>(a: v128) -> f32 {
    // SAFETY: a `float32x4_t` is four `f32`, any bits of which are valid.
    let lanes: [f32; 4] = unsafe { core::mem::transmute::<float32x4_t, [f32; 4]>(f32s(a)) };
    lanes[L]
}

/// 16 bytes from `p`, no alignment needed.
///
/// # Safety
/// `p` points to 16 readable bytes.
#[inline(always)]
unsafe fn v128_load(p: *const v128) -> v128 {
    // SAFETY: the caller's contract.
    unsafe { vld1q_u8(p.cast()) }
}

/// A vector of 16 byte constants.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn u8x16(
    a0: u8,
    a1: u8,
    a2: u8,
    a3: u8,
    a4: u8,
    a5: u8,
    a6: u8,
    a7: u8,
    a8: u8,
    a9: u8,
    a10: u8,
    a11: u8,
    a12: u8,
    a13: u8,
    a14: u8,
    a15: u8,
) -> v128 {
    let bytes = [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15];
    // SAFETY: 16 bytes of a local array.
    unsafe { vld1q_u8(bytes.as_ptr()) }
}
