//! The SIMD kernels, chosen at run time: the one module of this crate
//! allowed `unsafe` (the relaxed-SIMD module, `relaxed/kernel.rs`, is a
//! `no_std` crate of its own that shares this module's tile loop).
//!
//! A kernel walks weight rows block by block, unpacks each block once
//! (`dot.rs`, safe code inlined here, so compiled with this kernel's target
//! features) and feeds its runs of 32 products to vector accumulators: one
//! integer multiply-add per run, one fused float multiply-add with the
//! run's scales, and a horizontal sum only at the end of a row, as ggml's
//! `vec_dot` kernels do. x86-64 CPUs with AVX2 and FMA get the AVX2 kernel,
//! with AVX-VNNI's `vpdpbusd` where the CPU has it (chosen at run time:
//! [`Kernel`]); the wasm build with `simd128` the wasm kernel (chosen at
//! compile time: a browser either validates the module or not); aarch64
//! the NEON kernel, the wasm kernel's tile on NEON registers
//! (`neon_lanes.rs`), with `sdot` where the CPU has the dot product
//! (chosen at run time); other CPUs the portable kernel
//! (`QMatrix::rows_portable`), which LLVM vectorizes for the target's
//! baseline. On x86 CPUs with AVX-512 (VNNI and BW), the interleaved
//! groups (`Q4_K`, `Q6_K`, `Q5_0`, `Q8_0`) are taken in pairs on 512-bit
//! registers (`wide_pairs.rs`), whichever VNNI kernel runs the rest.
//!
//! Invariants for the `unsafe` below: a `#[target_feature]` function is
//! only called for a kernel whose `available()` held, or for the 512-bit
//! pairs where `avx512_pairs::available()` held (the CPU reported its
//! features), and every load reads inside a slice it was given: the 32 bytes
//! of a `[i8; 32]`, bytes at offsets a layout fixes inside a checked group,
//! or the four bytes of a bounds-checked `run[at..at + 4]`.

#![allow(unsafe_code)]

use crate::activation::{Q8Block, quantize_for};
use crate::dot::BlockKernel;
use crate::error::QuantError;
use crate::int8::{Int7Rows, Int8Matrix};
use crate::matrix::{Layout, QMatrix};
use std::sync::atomic::{AtomicU8, Ordering};

include!("int8_tiles.rs");

/// The vector kernels, one per instruction set. The fastest one the CPU
/// runs is used unless [`use_kernel`] picks another: how benchmarks compare
/// them in one process, and how a suspected kernel bug is ruled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Safe Rust that LLVM vectorizes for the target's baseline (SSE2, NEON):
    /// the reference the others are tested against.
    Portable,
    /// x86-64 with AVX2, FMA and F16C.
    Avx2,
    /// x86-64 with AVX2, FMA, F16C and AVX-512 VNNI, used on 256-bit
    /// registers: the CPUs with AVX-512 but without AVX-VNNI (AMD Zen 4,
    /// Intel Ice Lake) get the VNNI kernel's instructions in their EVEX form.
    /// (Both VNNI kernels take the interleaved groups in pairs on 512-bit
    /// registers where the CPU has AVX-512 VNNI and BW.)
    Avx512Vnni,
    /// x86-64 with AVX2, FMA, F16C and AVX-VNNI.
    AvxVnni,
    /// wasm32 built with `simd128`.
    Simd128,
    /// wasm32 with relaxed SIMD's 8-bit dot product, for [`Int8Matrix`]
    /// products and [`QMatrix`] products of every type but `Q8_0`: a second
    /// module beside this one, handed over at run time
    /// ([`use_relaxed_simd`]); `Q8_0` runs on [`Kernel::Simd128`].
    Relaxed,
    /// aarch64 with NEON (every aarch64 CPU): the `simd128` kernel's block
    /// tile on NEON registers (`neon_lanes.rs`).
    Neon,
    /// aarch64 with NEON and the Armv8.2 dot product (`sdot`; Apple M1,
    /// Graviton 2 and later): [`Kernel::Neon`] with `sdot` for the 8-bit
    /// sums of the 32-value types and of [`Int8Matrix`] products.
    NeonDot,
}

impl Kernel {
    /// Every kernel, in declaration order; on each architecture the
    /// available ones run slowest first.
    pub const ALL: [Kernel; 8] = [
        Kernel::Portable,
        Kernel::Avx2,
        Kernel::Avx512Vnni,
        Kernel::AvxVnni,
        Kernel::Simd128,
        Kernel::Relaxed,
        Kernel::Neon,
        Kernel::NeonDot,
    ];

    /// Whether this CPU (and this build) can run the kernel.
    pub fn available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                    && std::arch::is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni => {
                Kernel::Avx2.available()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::AvxVnni => Kernel::Avx2.available() && std::arch::is_x86_feature_detected!("avxvnni"),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernel::Simd128 => true,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Kernel::Relaxed => RELAXED.get().is_some(),
            #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
            Kernel::Neon => true,
            #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
            Kernel::NeonDot => std::arch::is_aarch64_feature_detected!("dotprod"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

/// Whether this build has kernels that read [`Layout::Interleaved`]
/// ([`Layout::INTERLEAVED_KERNELS`]): the x86 ones.
pub(crate) const INTERLEAVED_KERNELS: bool = cfg!(target_arch = "x86_64");

impl Kernel {
    /// Whether the kernel has a product of its own for
    /// [`Layout::Interleaved`] matrices (the x86 kernels), which it reads
    /// faster than ggml's rows; the others gather each group's rows back.
    pub fn reads_interleaved(self) -> bool {
        matches!(self, Kernel::Avx2 | Kernel::Avx512Vnni | Kernel::AvxVnni) && self.available()
    }
}

/// The kernel in use, as an index into [`Kernel::ALL`]; `UNSET` until the
/// first product or [`use_kernel`].
static CHOSEN: AtomicU8 = AtomicU8::new(UNSET);
const UNSET: u8 = u8::MAX;

/// The kernel the products run on: the fastest available unless
/// [`use_kernel`] chose another.
pub fn kernel() -> Kernel {
    match CHOSEN.load(Ordering::Relaxed) {
        UNSET => {
            let best = Kernel::ALL
                .into_iter()
                .rev()
                .find(|k| k.available())
                .unwrap_or(Kernel::Portable);
            CHOSEN.store(best as u8, Ordering::Relaxed);
            best
        }
        i => Kernel::ALL[usize::from(i)],
    }
}

/// Runs every later product on `kernel`; refused if this CPU or build
/// cannot run it.
pub fn use_kernel(kernel: Kernel) -> Result<(), QuantError> {
    if !kernel.available() {
        return Err(QuantError::KernelUnavailable(kernel));
    }
    CHOSEN.store(kernel as u8, Ordering::Relaxed);
    Ok(())
}

/// Rows `first..` of `w` times the activations into `out` (`m` values per
/// row), on [`kernel`].
#[inline(always)]
pub(crate) fn rows_into<K: BlockKernel>(w: &QMatrix, first: usize, out: &mut [f32], acts: &[Q8Block], m: usize) {
    rows_on::<K>(kernel(), w, first, out, acts, m)
}

/// [`rows_into`] on `kernel`, or on the portable kernel where `kernel` is
/// not available.
#[inline(always)]
fn rows_on<K: BlockKernel>(kernel: Kernel, w: &QMatrix, first: usize, out: &mut [f32], acts: &[Q8Block], m: usize) {
    if Layout::INTERLEAVED_KERNELS && w.layout() == Layout::Interleaved {
        return interleaved_on(kernel, w, first, out, acts, m);
    }
    match kernel {
        // SAFETY (both x86 arms): the guard checked that the CPU reported
        // the kernel's target features (a cached load after the first call).
        #[cfg(target_arch = "x86_64")]
        Kernel::AvxVnni if kernel.available() => unsafe { avx_vnni::rows_into::<K>(w, first, out, acts, m) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni if kernel.available() => unsafe { avx512_vnni::rows_into::<K>(w, first, out, acts, m) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 if kernel.available() => unsafe { avx2::rows_into::<K>(w, first, out, acts, m) },
        Kernel::Relaxed
            if !K::WIDE
                && let Some(relaxed) = RELAXED.get()
                && relaxed_rows::<K>(relaxed, w, first, out, acts, m) => {}
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Kernel::Simd128 | Kernel::Relaxed => wasm::rows_into::<K>(w, first, out, acts, m),
        // SAFETY (both aarch64 arms): NEON is enabled for the whole build
        // (the `cfg`), and the guard checked that the CPU reported the dot
        // product.
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        Kernel::NeonDot if kernel.available() => unsafe { neon_dot::rows_into::<K>(w, first, out, acts, m) },
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        Kernel::Neon | Kernel::NeonDot => unsafe { neon::rows_into::<K>(w, first, out, acts, m) },
        _ => w.rows_portable::<K>(first, out, acts, m),
    }
}

/// [`rows_on`] for a [`Layout::Interleaved`] matrix (`Q4_K`, `Q6_K`, `Q5_0` or `Q8_0`), whose tasks
/// start and end on whole groups of eight rows (every part's rows are a
/// multiple of eight, and so are [`crate::threads`]' tasks).
fn interleaved_on(kernel: Kernel, w: &QMatrix, first: usize, out: &mut [f32], acts: &[Q8Block], m: usize) {
    let rows = crate::interleaved::ROWS;
    assert!(
        first.is_multiple_of(rows) && (out.len() / m.max(1)).is_multiple_of(rows),
        "interleaved rows are taken in whole groups"
    );
    match kernel {
        // SAFETY (the x86 arms): as in `rows_on`.
        #[cfg(target_arch = "x86_64")]
        Kernel::AvxVnni if kernel.available() => unsafe { avx_vnni::interleaved_rows(w, first, out, acts, m) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni if kernel.available() => unsafe { avx512_vnni::interleaved_rows(w, first, out, acts, m) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 if kernel.available() => unsafe { avx2::interleaved_rows(w, first, out, acts, m) },
        _ => {
            // Each group's eight rows gathered back into ggml's layout.
            for (g, out) in out.chunks_exact_mut(rows * m).enumerate() {
                let blocks: Vec<u8> = (0..rows)
                    .flat_map(|j| w.row_blocks(first + g * rows + j).into_owned())
                    .collect();
                let group = QMatrix::new(w.ty(), rows, w.cols(), blocks).expect("the blocks of a valid matrix");
                match w.ty() {
                    tandem_gguf::GgmlType::Q4_K => {
                        group.rows_portable::<crate::dot::KQuant<crate::dot::Q4K>>(0, out, acts, m)
                    }
                    tandem_gguf::GgmlType::Q5_0 => group.rows_portable::<crate::dot::Q5_0>(0, out, acts, m),
                    tandem_gguf::GgmlType::Q8_0 => group.rows_portable::<crate::dot::Q8_0>(0, out, acts, m),
                    _ => group.rows_portable::<crate::dot::Q6K>(0, out, acts, m),
                }
            }
        }
    }
}

/// [`rows_into`] through the relaxed-SIMD module: one call per run of
/// rows that lie one after another in memory (a stacked matrix's parts do
/// not). `false`, with nothing written, where the module has no instance on
/// this thread.
fn relaxed_rows<K: BlockKernel>(
    relaxed: &RelaxedKernels,
    w: &QMatrix,
    first: usize,
    out: &mut [f32],
    acts: &[Q8Block],
    m: usize,
) -> bool {
    let n = out.len() / m;
    assert!(
        out.len() == n * m && acts.len() >= m * (w.cols() / crate::activation::QK),
        "block product shapes"
    );
    let mut done = 0;
    while done < n {
        let (bytes, rows) = w.rows_from(first + done, n - done);
        let ran = (relaxed.block_rows)(
            K::GGML_ID,
            bytes.as_ptr() as usize,
            bytes.len() / rows,
            w.cols(),
            rows,
            acts.as_ptr() as usize,
            m,
            out[done * m..].as_mut_ptr() as usize,
        );
        // A thread has its instance for the whole call or not at all, so
        // this is the first run or none: nothing was written.
        if !ran {
            return false;
        }
        done += rows;
    }
    true
}

/// The integer sums of input rows `first..` of `acts` with every row of
/// an [`Int8Matrix`] into `sums` ([`Int8Matrix::rows`] per input row), on
/// [`kernel`].
#[inline(always)]
pub(crate) fn int8_sums_into(w: &Int8Matrix, acts: &Int7Rows, first: usize, sums: &mut [i32]) {
    int8_sums_on(kernel(), w, acts, first, sums)
}

/// [`int8_sums_into`] on `kernel`, or portably where it is not available.
fn int8_sums_on(kernel: Kernel, w: &Int8Matrix, acts: &Int7Rows, first: usize, sums: &mut [i32]) {
    let (n, s) = (w.rows(), w.stride());
    let m = sums.len() / n;
    // What every kernel below relies on: whole output rows, `m` input rows
    // of codes from `first`, `n` weight rows, one stride that is a whole
    // number of steps.
    assert!(
        sums.len() == m * n
            && acts.codes.len() >= (first + m) * s
            && w.values().len() == n * s
            && s.is_multiple_of(crate::int8::STEP),
        "int8 product shapes"
    );
    let (wp, ap, op) = (w.values().as_ptr(), acts.codes[first * s..].as_ptr(), sums.as_mut_ptr());
    match kernel {
        // SAFETY (every arm): the assertion above is the pointers' contract
        // (`int8_tiles.rs`); the x86 arms' and the dot product's guards
        // checked that the CPU reported the kernel's target features (NEON
        // is enabled for every aarch64 build that has these arms).
        #[cfg(target_arch = "x86_64")]
        Kernel::AvxVnni if kernel.available() => unsafe { int8_avx_vnni::sums(wp, n, s, ap, m, op) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Vnni if kernel.available() => unsafe { int8_avx512_vnni::sums(wp, n, s, ap, m, op) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 if kernel.available() => unsafe { int8_avx2::sums(wp, n, s, ap, m, op) },
        Kernel::Relaxed
            if let Some(relaxed) = RELAXED.get()
                && (relaxed.int8_sums)(wp as usize, n, s, ap as usize, m, op as usize) => {}
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Kernel::Simd128 | Kernel::Relaxed => unsafe { int8_wasm::sums(wp, n, s, ap, m, op) },
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        Kernel::NeonDot if kernel.available() => unsafe { int8_neon_dot::sums(wp, n, s, ap, m, op) },
        #[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
        Kernel::Neon | Kernel::NeonDot => unsafe { int8_neon::sums(wp, n, s, ap, m, op) },
        _ => w.sums_portable(acts, first, sums),
    }
}

/// The relaxed-SIMD module's two exports as the host calls them, with
/// addresses in this module's memory (`relaxed/kernel.rs` says what each
/// reads and writes). Each returns whether it ran: `false`, with nothing
/// written, on a thread where the module has no instance (the threaded
/// build starts one per thread), and the product then runs on `simd128`.
#[derive(Debug, Clone, Copy)]
pub struct RelaxedKernels {
    /// `int8_sums(w, n, s, a, m, out)`: the integer sums of an
    /// [`Int8Matrix`] product (`n·s` weight bytes, `m·s` codes, `m·n` sums).
    pub int8_sums: fn(usize, usize, usize, usize, usize, usize) -> bool,
    /// `block_rows(ggml_id, w, row_bytes, cols, n, acts, m, out)`: `n`
    /// consecutive rows of ggml blocks times `m` rows of activation blocks,
    /// `out[i·m + t]`, as [`QMatrix`]'s kernels compute them.
    pub block_rows: fn(u32, usize, usize, usize, usize, usize, usize, usize) -> bool,
}

/// The relaxed-SIMD module's exports, once [`use_relaxed_simd`] was called.
static RELAXED: std::sync::OnceLock<RelaxedKernels> = std::sync::OnceLock::new();

/// The relaxed-SIMD module, built from `relaxed/kernel.rs` by this crate's
/// build script: [`Int8Matrix`] sums and [`QMatrix`] rows with
/// `i32x4.relaxed_dot_i8x16_i7x16_add_s` (16 multiply-adds and the sum in
/// one instruction; `vpdpbusd` where the CPU has AVX-VNNI). A browser
/// without relaxed SIMD refuses to compile a module that holds it, and wasm
/// has no run-time feature test, so it is a module of its own: the host compiles it where the browser validates it,
/// gives it this module's memory (its only import) and a stack inside that
/// memory (its exported `__stack_pointer`; the build script checks that it
/// has no data segments), and passes its exports to [`use_relaxed_simd`].
#[cfg(target_arch = "wasm32")]
pub const RELAXED_SIMD_MODULE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/relaxed.wasm"));

/// Runs every later [`Int8Matrix`] product and every [`QMatrix`] product of
/// a type other than `Q8_0` through the relaxed-SIMD module (see
/// [`RELAXED_SIMD_MODULE`]) and makes [`Kernel::Relaxed`] the kernel in
/// use. The first call wins.
pub fn use_relaxed_simd(kernels: RelaxedKernels) {
    let _ = RELAXED.set(kernels);
    CHOSEN.store(Kernel::Relaxed as u8, Ordering::Relaxed);
}

/// The [`Int8Matrix`] kernels of one architecture, one module per
/// instruction set, as `x86_kernel!` stamps the block kernels. Each step
/// loads `$step` bytes of each row into a `$vector` (`load`, from a pointer
/// to `$step` readable bytes); `sum` adds a row's lanes. Per module,
/// `$features` are the target features of both functions, and `dot` is the
/// step that differs: `acc` plus the products of codes `a` and weight bytes
/// `w`, summed into `i32` lanes (the codes are below 128, so signed and
/// unsigned products agree).
#[allow(unused_macros)]
macro_rules! int8_kernels {
    (arch = $arch:path, vector = $vector:ty, step = $step:literal, zero = $zero:expr,
     load = |$p:ident| $load:expr, sum = |$v:ident| $sum:expr;
     $($(#[$doc:meta])* mod $name:ident, features = $features:literal,
       dot = |$acc:ident, $a:ident, $w:ident| $dot:expr;)+) => {$(
        $(#[$doc])*
        mod $name {
            use $arch::*;

            /// [`int8_sums!`] with the tile below.
            ///
            /// # Safety
            /// The CPU has the module's features; the pointers meet
            /// `int8_tiles.rs`'s contract.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn sums(w: *const i8, n: usize, s: usize, a: *const u8, m: usize, out: *mut i32) {
                int8_sums!(w, n, s, a, m, out);
            }

            /// The integer sums of `R` weight rows and `T` input rows.
            ///
            /// # Safety
            /// As [`sums`]: every row holds `s` values, `s` a multiple of
            /// the step.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn tile<const R: usize, const T: usize>(w: *const i8, a: *const u8, s: usize) -> [[i32; T]; R] {
                let load = |$p: *const u8| -> $vector { $load };
                let mut acc: [[$vector; T]; R] = [[$zero; T]; R];
                for k in (0..s).step_by($step) {
                    // SAFETY: `k + step ≤ s`; unaligned loads of a step's bytes.
                    let av: [$vector; T] = std::array::from_fn(|j| load(unsafe { a.add(j * s + k) }));
                    for (i, acc) in acc.iter_mut().enumerate() {
                        // SAFETY: as above.
                        let wv = load(unsafe { w.add(i * s + k) }.cast());
                        for (acc, &av) in acc.iter_mut().zip(&av) {
                            let ($acc, $a, $w) = (*acc, av, wv);
                            *acc = $dot;
                        }
                    }
                }
                std::array::from_fn(|i| std::array::from_fn(|j| {
                    let $v = acc[i][j];
                    $sum
                }))
            }
        }
    )+};
}

#[cfg(target_arch = "x86_64")]
int8_kernels! {
    arch = std::arch::x86_64,
    vector = __m256i,
    step = 32,
    zero = _mm256_setzero_si256(),
    // SAFETY: the tile reads inside the rows it was given.
    load = |p| unsafe { _mm256_loadu_si256(p.cast()) },
    sum = |v| super::hsum256(v);

    /// [`Int8Matrix`] on AVX2: 32 codes times 32 weight bytes summed in
    /// pairs into sixteen `i16` lanes by `vpmaddubsw` (no saturation: see
    /// `int8.rs`), then into eight `i32` lanes by `vpmaddwd` with ones.
    mod int8_avx2,
    features = "avx2",
    dot = |acc, a, w| _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, w), _mm256_set1_epi16(1)));

    /// [`Int8Matrix`] with AVX-VNNI: one `vpdpbusd` multiplies 32 codes by
    /// 32 weight bytes and adds them, four at a time, to eight `i32` lanes.
    mod int8_avx_vnni,
    features = "avx2,avxvnni",
    dot = |acc, a, w| _mm256_dpbusd_avx_epi32(acc, a, w);

    /// [`Int8Matrix`] with AVX-512 VNNI on 256-bit registers: the same
    /// `vpdpbusd` as [`int8_avx_vnni`], EVEX-encoded.
    mod int8_avx512_vnni,
    features = "avx2,avx512f,avx512vl,avx512vnni",
    dot = |acc, a, w| _mm256_dpbusd_epi32(acc, a, w);
}

/// The sum of the eight lanes.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
fn hsum256(v: std::arch::x86_64::__m256i) -> i32 {
    use std::arch::x86_64::*;
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s)))
}

/// [`Int8Matrix`] in wasm without relaxed SIMD: 8 weights and 8 codes
/// loaded and widened to `i16` (`v128.load8x8_s`, `_u`), multiplied and
/// summed in pairs into four `i32` lanes by `i32x4.dot_i16x8_s`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod int8_wasm {
    use core::arch::wasm32::*;

    /// [`int8_sums!`] with the tile below.
    ///
    /// # Safety
    /// The pointers meet `int8_tiles.rs`'s contract.
    pub(super) unsafe fn sums(w: *const i8, n: usize, s: usize, a: *const u8, m: usize, out: *mut i32) {
        int8_sums!(w, n, s, a, m, out);
    }

    /// The integer sums of `R` weight rows and `T` input rows.
    ///
    /// # Safety
    /// As [`sums`]: every row holds `s` values, `s` a multiple of 8.
    #[inline(always)]
    unsafe fn tile<const R: usize, const T: usize>(w: *const i8, a: *const u8, s: usize) -> [[i32; T]; R] {
        let mut acc = [[i32x4_splat(0); T]; R];
        for k in (0..s).step_by(8) {
            // SAFETY: `k + 8 ≤ s`; loads of 8 bytes, no alignment needed.
            let av: [v128; T] = std::array::from_fn(|j| unsafe { i16x8_load_extend_u8x8(a.add(j * s + k)) });
            for (i, acc) in acc.iter_mut().enumerate() {
                // SAFETY: as above.
                let wv = unsafe { i16x8_load_extend_i8x8(w.add(i * s + k)) };
                for (acc, &av) in acc.iter_mut().zip(&av) {
                    *acc = i32x4_add(*acc, i32x4_dot_i16x8(wv, av));
                }
            }
        }
        std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                let v = acc[i][j];
                i32x4_extract_lane::<0>(v)
                    .wrapping_add(i32x4_extract_lane::<1>(v))
                    .wrapping_add(i32x4_extract_lane::<2>(v))
                    .wrapping_add(i32x4_extract_lane::<3>(v))
            })
        })
    }
}

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
int8_kernels! {
    arch = core::arch::aarch64,
    vector = uint8x16_t,
    step = 16,
    zero = vdupq_n_u8(0),
    // SAFETY: the tile reads inside the rows it was given.
    load = |p| unsafe { vld1q_u8(p) },
    sum = |v| vaddvq_s32(vreinterpretq_s32_u8(v));

    /// [`Int8Matrix`] on NEON: products to `i16` lanes (`smull`, `smull2`:
    /// each at most 128·127) summed in pairs into four `i32` lanes
    /// (`sadalp`).
    mod int8_neon,
    features = "neon",
    dot = |acc, a, w| {
        let (a, w) = (vreinterpretq_s8_u8(a), vreinterpretq_s8_u8(w));
        let low = vmull_s8(vget_low_s8(w), vget_low_s8(a));
        let acc = vpadalq_s16(vpadalq_s16(vreinterpretq_s32_u8(acc), low), vmull_high_s8(w, a));
        vreinterpretq_u8_s32(acc)
    };

    /// [`Int8Matrix`] with the Armv8.2 dot product: one `sdot` a step.
    mod int8_neon_dot,
    features = "neon,dotprod",
    dot = |acc, a, w| super::sdot(acc, w, a);
}

/// Quantizes activations ([`quantize_for`]: per block of 32, or per 256
/// where `per_superblock`) compiled for AVX2 where the CPU has it: the
/// rounding is then a few vector instructions, not a libm call per value.
#[inline(always)]
pub(crate) fn quantize(x: &[f32], per_superblock: bool, out: &mut Vec<Q8Block>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: `quantize_avx2` requires AVX2 and FMA, detected just above.
        return unsafe { quantize_avx2(x, per_superblock, out) };
    }
    quantize_for(x, per_superblock, out)
}

include!("tiled_rows.rs");

/// The sum of an activation block's 32 values, from its halves' sums
/// ([`Q8Block::h`]): the interleaved products take zero points off with it.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_sum(block: &Q8Block) -> i32 {
    i32::from(block.h as i16) + (block.h >> 16)
}

/// Asks for the `len` bytes at `p` (the next group's block) when `on`
/// (the first tile over a group; later tiles find it in cache): with
/// several input rows a group's products take long enough that the memory's
/// prefetchers alone leave the next group's weights unread (verifying 8
/// positions of Qwen2.5-Coder-1.5B: 273 → 232 ms on one thread,
/// docs/models.md). It runs for one input row too, where it measured no
/// slower. A prefetch past the matrix's end is harmless: it never faults.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_span(p: *const u8, len: usize, on: bool) {
    if on {
        for line in (0..len).step_by(64) {
            // SAFETY: a prefetch never faults, whatever the address.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.wrapping_add(line).cast())
            };
        }
    }
}

/// `$tile::<N>(args)` for a run-time tile of `N = $n` input rows (1 to 4, or 8):
/// how the interleaved products pick their const-generic tiles.
#[cfg(target_arch = "x86_64")]
macro_rules! by_tile {
    ($n:expr, $tile:ident($($arg:expr),*)) => {
        match $n {
            1 => $tile::<1>($($arg),*),
            2 => $tile::<2>($($arg),*),
            3 => $tile::<3>($($arg),*),
            _ => $tile::<4>($($arg),*),
        }
    };
    // Tiles of eight too, where the module's registers hold them.
    ($n:expr, eight, $tile:ident($($arg:expr),*)) => {
        match $n {
            8 if EIGHT_ROW_TILES => $tile::<8>($($arg),*),
            n => by_tile!(n, $tile($($arg),*)),
        }
    };
}

/// Block `b` (`L` bytes) of each of the `G` groups a tile reads, with the
/// same block of the `G` groups after them (the next vector's) prefetched
/// where `prefetch` ([`prefetch_span`]).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn group_block<'a, const L: usize, const G: usize>(
    groups: &[&'a [u8]; G],
    b: usize,
    prefetch: bool,
) -> [&'a [u8; L]; G] {
    let block = groups.map(|g| <&[u8; L]>::try_from(&g[b * L..(b + 1) * L]).expect("whole blocks"));
    let ahead = G * groups[0].len();
    for b in block {
        prefetch_span(b.as_ptr().wrapping_add(ahead), L, prefetch);
    }
    block
}

include!("group_tiles.rs");

/// The x86-64 kernel, stamped out once per instruction set: `$features`
/// are the target features of every function in the module, and the two
/// instruction sequences that differ: `pairs`, eight lanes of `Σ a·b` over
/// unsigned bytes `a` and signed bytes `b`, and `scaled`, `acc` plus the
/// products of sixteen `i16` lanes `p` with the scales `s`, summed in pairs
/// into eight `i32` lanes.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_kernel {
    ($(#[$doc:meta])* mod $name:ident, features = $features:literal, avx2_kquants = $avx2_kquants:literal,
     wide_pairs = $wide_pairs:literal, q6k_in_pairs = $q6k_in_pairs:literal,
     unsigned_by_offset = $unsigned_by_offset:literal,
     pairs = |$a:ident, $b:ident| $pairs:expr, scaled = |$acc:ident, $p:ident, $s:ident| $scaled:expr,
     run_sum = |$racc:ident, $rw:ident, $rq:ident| $run_sum:expr,
     run_sum_wide = |$wacc:ident, $ww:ident, $wq:ident| $run_sum_wide:expr,
     run_scaled = |$sacc:ident, $srun:ident, $sscale:ident| $run_scaled:expr) => {
        $(#[$doc])*
        mod $name {
            use super::block_sum;
            use crate::activation::{Q8Block, QK};
            use crate::dot::{BlockKernel, SuperActs};
            use crate::interleaved;
            use crate::matrix::QMatrix;
            use std::arch::x86_64::*;

            /// [`super::rows_into`] in tiles of up to [`TILE`] input rows whose
            /// 8-lane accumulators stay in registers while a weight row streams
            /// by, each block unpacked once per tile; `Q4_K` and `Q6_K` (most of
            /// a `Q4_K_M` file) take kernels of their own ([`direct_rows`]).
            #[target_feature(enable = $features)]
            pub(in crate::simd) fn rows_into<K: BlockKernel>(
                w: &QMatrix,
                first: usize,
                out: &mut [f32],
                acts: &[Q8Block],
                m: usize,
            ) {
                if K::GGML_ID == Q4_K || K::GGML_ID == Q6_K {
                    return direct_rows::<K>(w, first, out, acts, m);
                }
                if AVX2_KQUANTS && K::SHARED_SCALE {
                    // The CPU has AVX2 (every kernel here needs it).
                    return super::avx2::rows_into::<K>(w, first, out, acts, m);
                }
                tiled_rows!(K, w, first, out, acts, m, wide = 8);
            }

            /// Whether the products may take the interleaved groups in pairs on
            /// 512-bit registers.
            const WIDE_PAIRS: bool = $wide_pairs;

            /// Whether `Q6_K`'s tiles sum two quads of a run at a time and scale
            /// them at once (see `q6k_group_tile`).
            const Q6K_IN_PAIRS: bool = $q6k_in_pairs;

            /// Whether the other k-quants (`Q5_K`) run on the AVX2 kernel's code.
            const AVX2_KQUANTS: bool = $avx2_kquants;
            /// Whether products of signed weights (`Q8_0`'s interleaved rows) flip
            /// them unsigned and take the offset off after (`vpdpbusd`, which
            /// cannot saturate), or multiply magnitudes by signed activations.
            const UNSIGNED_BY_OFFSET: bool = $unsigned_by_offset;

            /// `Q4_K`'s and `Q6_K`'s kernels, which the products take from the blocks' bytes.
            type Q4Kernel = crate::dot::KQuant<crate::dot::Q4K>;
            type Q6Kernel = crate::dot::Q6K;
            const Q4_K: u32 = <Q4Kernel as BlockKernel>::GGML_ID;
            const Q6_K: u32 = <Q6Kernel as BlockKernel>::GGML_ID;

            /// Input rows per tile of the direct kernels.
            const DIRECT_TILE: usize = 4;

            /// [`rows_into`] for `Q4_K` and `Q6_K`, as llama.cpp's
            /// `vec_dot_q4_K_q8_K` and `vec_dot_q6_K_q8_K` do it: a block's
            /// values unpacked in registers, never stored, its scales widened
            /// together and each run's picked by a byte shuffle; for `Q4_K` the
            /// minimums' term is one vector multiply-add per block and row
            /// (against each row's eight run sums, gathered once per product),
            /// for `Q6_K` the offset of 32 is taken off each run's integer
            /// products. The same arithmetic as the generic path, in fewer
            /// instructions.
            #[target_feature(enable = $features)]
            fn direct_rows<K: BlockKernel>(w: &QMatrix, first: usize, out: &mut [f32], acts: &[Q8Block], m: usize) {
                let per_row = w.cols() / QK;
                if m == 0 || per_row == 0 {
                    return;
                }
                let supers = per_row / 8;
                // Each superblock's eight run sums side by side (`Q4_K`'s minimums):
                // one load per block and row.
                let mut run_sums = Vec::new();
                if K::GGML_ID == Q4_K {
                    run_sums.reserve(acts.len() / 8);
                    for c in acts.chunks_exact(8) {
                        let mut s = [0f32; 8];
                        for (s, a) in s.iter_mut().zip(c) {
                            *s = a.s;
                        }
                        run_sums.push(s);
                    }
                }
                for (i, sums) in out.chunks_exact_mut(m).enumerate() {
                    let row = w.row(first + i);
                    for (tile, sums) in sums.chunks_mut(DIRECT_TILE).enumerate() {
                        let t0 = tile * DIRECT_TILE;
                        let acts = &acts[t0 * per_row..];
                        let run_sums = run_sums.get(t0 * supers..).unwrap_or(&[]);
                        match sums.len() {
                            4 => direct_tile::<K, 4>(row, acts, run_sums, per_row, sums),
                            3 => direct_tile::<K, 3>(row, acts, run_sums, per_row, sums),
                            2 => direct_tile::<K, 2>(row, acts, run_sums, per_row, sums),
                            _ => direct_tile::<K, 1>(row, acts, run_sums, per_row, sums),
                        }
                    }
                }
            }

            /// One weight row of `K` (`Q4_K` or `Q6_K`) times `N` input rows.
            #[inline]
            #[target_feature(enable = $features)]
            fn direct_tile<K: BlockKernel, const N: usize>(
                row: &[u8],
                acts: &[Q8Block],
                run_sums: &[[f32; 8]],
                per_row: usize,
                out: &mut [f32],
            ) {
                if K::GGML_ID == Q4_K {
                    q4k_tile::<N>(row, acts, run_sums, per_row, out)
                } else {
                    q6k_tile::<N>(row, acts, per_row, out)
                }
            }

            /// One `Q6_K` weight row times the first `N` input rows of `acts`
            /// (`per_row` blocks each).
            #[inline]
            #[target_feature(enable = $features)]
            fn q6k_tile<const N: usize>(row: &[u8], acts: &[Q8Block], per_row: usize, out: &mut [f32]) {
                let low = _mm256_set1_epi8(0x0F);
                let high = _mm256_set1_epi8(0x30);
                let offset = _mm256_set1_epi8(32);
                let mut acc = [_mm256_setzero_ps(); N];
                for (b, block) in row.chunks_exact(<Q6Kernel as BlockKernel>::BYTES).enumerate() {
                    let Some(block) = block.first_chunk::<210>() else {
                        continue;
                    };
                    let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(u16::from_le_bytes([
                        block[208], block[209],
                    ])))));
                    // SAFETY: bytes 192..208 are the block's 16 scales, the width of a 128-bit load.
                    let scales = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(block[192..208].as_ptr().cast()) });
                    let rows = superblock_acts::<N>(acts, per_row, b);
                    let mut isum = [_mm256_setzero_si256(); N];
                    for half in 0..2 {
                        // SAFETY: each range is 32 bytes of the 210-byte block, the width of an
                        // unaligned 256-bit load.
                        let (ql0, ql1, qh) = unsafe {
                            (
                                _mm256_loadu_si256(block[64 * half..64 * half + 32].as_ptr().cast()),
                                _mm256_loadu_si256(block[64 * half + 32..64 * half + 64].as_ptr().cast()),
                                _mm256_loadu_si256(block[128 + 32 * half..160 + 32 * half].as_ptr().cast()),
                            )
                        };
                        // The four runs of this half, 0..=63 (the offset of 32 comes off below).
                        let runs = [
                            _mm256_or_si256(_mm256_and_si256(ql0, low), _mm256_and_si256(_mm256_slli_epi16::<4>(qh), high)),
                            _mm256_or_si256(_mm256_and_si256(ql1, low), _mm256_and_si256(_mm256_slli_epi16::<2>(qh), high)),
                            _mm256_or_si256(
                                _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), low),
                                _mm256_and_si256(qh, high),
                            ),
                            _mm256_or_si256(
                                _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), low),
                                _mm256_and_si256(_mm256_srli_epi16::<2>(qh), high),
                            ),
                        ];
                        // This half's eight scales in both 128-bit halves.
                        let half_scales = if half == 0 {
                            _mm256_permute2x128_si256::<0x00>(scales, scales)
                        } else {
                            _mm256_permute2x128_si256::<0x11>(scales, scales)
                        };
                        for (k, &wv) in runs.iter().enumerate() {
                            // Run k's two scales (i16 lanes 2k and 2k + 1 of the half): the
                            // first over values 0..16, the second over 16..32.
                            let lane = |i: i16| ((2 * i + 1) << 8) | (2 * i);
                            let pick = _mm256_set_m128i(
                                _mm_set1_epi16(lane(2 * k as i16 + 1)),
                                _mm_set1_epi16(lane(2 * k as i16)),
                            );
                            let s = _mm256_shuffle_epi8(half_scales, pick);
                            for t in 0..N {
                                let q = load(&rows[t][4 * half + k].q);
                                // Pairs of w·q less pairs of 32·q: (w − 32)·q, inside an i16
                                // (|·| ≤ 2·63·127).
                                let p = _mm256_sub_epi16(_mm256_maddubs_epi16(wv, q), _mm256_maddubs_epi16(offset, q));
                                isum[t] = scaled(isum[t], p, s);
                            }
                        }
                    }
                    for t in 0..N {
                        let factor = _mm256_set1_ps(d * rows[t][0].d);
                        acc[t] = _mm256_fmadd_ps(factor, _mm256_cvtepi32_ps(isum[t]), acc[t]);
                    }
                }
                for t in 0..N {
                    out[t] = hsum(acc[t]);
                }
            }

            /// One `Q4_K` weight row times the first `N` input rows of `acts`
            /// (`per_row` blocks each; `run_sums`: their superblocks' run sums).
            #[inline]
            #[target_feature(enable = $features)]
            fn q4k_tile<const N: usize>(
                row: &[u8],
                acts: &[Q8Block],
                run_sums: &[[f32; 8]],
                per_row: usize,
                out: &mut [f32],
            ) {
                let supers = per_row / 8;
                let low = _mm256_set1_epi8(0x0F);
                let mut acc = [_mm256_setzero_ps(); N];
                for (b, block) in row.chunks_exact(<Q4Kernel as BlockKernel>::BYTES).enumerate() {
                    let Some((header, qs)) = block.split_first_chunk::<16>() else {
                        continue;
                    };
                    let (scales, mins) = crate::dot::q4k_scales_mins(header);
                    // d and dmin, widened together.
                    let dd = _mm_cvtph_ps(_mm_cvtsi32_si128(i32::from_le_bytes([
                        header[0], header[1], header[2], header[3],
                    ])));
                    let d = _mm_cvtss_f32(dd);
                    let dmin = _mm_set1_ps(_mm_cvtss_f32(_mm_movehdup_ps(dd)));
                    // The eight scales as i16 in both halves; the minimums as floats times dmin.
                    let scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(scales as i64)));
                    let mins = _mm256_mul_ps(
                        _mm256_broadcast_ps(&dmin),
                        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(mins as i64))),
                    );
                    let mut isum = [_mm256_setzero_si256(); N];
                    let rows = superblock_acts::<N>(acts, per_row, b);
                    for c in 0..4 {
                        let Some(bytes) = qs.get(32 * c..32 * c + 32) else {
                            continue;
                        };
                        // SAFETY: `bytes` is 32 bytes long, the width of an unaligned 256-bit load.
                        let bits = unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) };
                        let lo = _mm256_and_si256(bits, low);
                        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(bits), low);
                        // Run j's scale (i16 lane j) in every lane: bytes 2j and 2j + 1.
                        let pick = |j: i16| _mm256_set1_epi16(((2 * j + 1) << 8) | (2 * j));
                        let s_lo = _mm256_shuffle_epi8(scales, pick(2 * c as i16));
                        let s_hi = _mm256_shuffle_epi8(scales, pick(2 * c as i16 + 1));
                        for t in 0..N {
                            isum[t] = int_run::<Q4Kernel>(isum[t], lo, &rows[t][2 * c].q, s_lo);
                            isum[t] = int_run::<Q4Kernel>(isum[t], hi, &rows[t][2 * c + 1].q, s_hi);
                        }
                    }
                    for t in 0..N {
                        let factor = _mm256_set1_ps(d * rows[t][0].d);
                        acc[t] = _mm256_fmadd_ps(factor, _mm256_cvtepi32_ps(isum[t]), acc[t]);
                        let sums = &run_sums[t * supers + b];
                        // SAFETY: `sums` is 8 floats, the width of an unaligned 256-bit load.
                        let sums = unsafe { _mm256_loadu_ps(sums.as_ptr()) };
                        acc[t] = _mm256_fnmadd_ps(mins, sums, acc[t]);
                    }
                }
                for t in 0..N {
                    out[t] = hsum(acc[t]);
                }
            }

            /// Rows `first..` of a [`crate::Layout::Interleaved`] matrix (`Q4_K`,
            /// `Q6_K`, `Q5_0` or `Q8_0`) times the activations into `out` (`m`
            /// values per row): each group of eight rows against tiles of up to
            /// four input rows ([`group_products`]), or, on CPUs with AVX-512
            /// VNNI and BW, each pair of groups on 512-bit registers, in tiles
            /// of up to eight for some types (`wide_pairs.rs`).
            ///
            /// For `Q4_K`, a 32-byte load holds four packed bytes of each of the
            /// eight rows (lane `j`: row `j`); its low and high nibbles (two runs)
            /// are multiplied by the run's four activation bytes broadcast to
            /// every lane ([`run_sum`]: in `i16` lanes on AVX2, at most
            /// 8·2·15·127 = 30480 over a run's eight loads; in `i32` lanes with
            /// `vpdpbusd`), then weighted by the eight rows' integer scales into
            /// `i32`. The eight rows' scales and minimums are decoded together
            /// from their scale words, and eight outputs finish at once: no
            /// horizontal sums.
            #[target_feature(enable = $features)]
            pub(in crate::simd) fn interleaved_rows(
                w: &QMatrix,
                first: usize,
                out: &mut [f32],
                acts: &[Q8Block],
                m: usize,
            ) {
                let per_row = w.cols() / QK;
                if m == 0 || per_row == 0 {
                    return;
                }
                let group_bytes = w.cols() / w.ty().block_size() * w.ty().block_bytes() * interleaved::ROWS;
                let ty = w.ty();
                let n = out.len() / m;
                // The groups in pairs on 512-bit registers where the CPU has
                // them (`wide_pairs.rs`): half the instructions per row, and two
                // groups' weights read at once (decode of Qwen2.5-Coder-1.5B on
                // an Intel Xeon: 8.2–8.5 → 11.1–11.2 tok/s).
                let wide = WIDE_PAIRS && super::avx512_pairs::available();
                let mut done = 0;
                while done < n {
                    let (bytes, rows) = w.rows_from(first + done, n - done);
                    let count = bytes.len() / group_bytes;
                    let group = |g: usize| &bytes[g * group_bytes..(g + 1) * group_bytes];
                    let mut g = 0;
                    while g < count {
                        let start = (done + interleaved::ROWS * g) * m;
                        if wide && g + 1 < count {
                            if let Some(out) = out.get_mut(start..start + 2 * interleaved::ROWS * m) {
                                let (a, b) = out.split_at_mut(interleaved::ROWS * m);
                                let pair = [group(g), group(g + 1)];
                                // SAFETY: `wide` checked the module's features.
                                unsafe { super::avx512_pairs::group_products(ty, pair, acts, per_row, [a, b], m) };
                                g += 2;
                                continue;
                            }
                        }
                        if let Some(out) = out.get_mut(start..start + interleaved::ROWS * m) {
                            group_products(ty, [group(g)], acts, per_row, [out], m);
                        }
                        g += 1;
                    }
                    done += rows;
                }
            }

            // The 256-bit lanes of the interleaved tiles (`group_tiles.rs`):
            // one group of eight rows per vector.
            group_tiles!($features);

            /// An integer vector of the tiles: eight `i32` lanes, one per row.
            type I = __m256i;
            /// A float vector of the tiles.
            type F = __m256;
            /// Groups side by side in a vector.
            const GROUPS: usize = 1;
            /// Tiles of four input rows at most: AVX2 has sixteen vector registers.
            const EIGHT_ROW_TILES: bool = false;

            /// 32 bytes of the block at `at`.
            #[inline]
            #[target_feature(enable = $features)]
            fn load_i<const L: usize>(block: [&[u8; L]; GROUPS], at: usize) -> I {
                let bytes = &block[0][at..at + 32];
                // SAFETY: reads the 32 bytes of `bytes`, unaligned.
                unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
            }

            /// Eight `f16` values of the block at `at`, widened.
            #[inline]
            #[target_feature(enable = $features)]
            fn load_f16<const L: usize>(block: [&[u8; L]; GROUPS], at: usize) -> F {
                let bytes = &block[0][at..at + 16];
                // SAFETY: reads the 16 bytes of `bytes`, unaligned.
                _mm256_cvtph_ps(unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) })
            }

            /// Eight signed bytes of the block at `at`, one per `i32` lane.
            #[inline]
            #[target_feature(enable = $features)]
            fn load_i8_i32<const L: usize>(block: [&[u8; L]; GROUPS], at: usize) -> I {
                let bytes = &block[0][at..at + 8];
                // SAFETY: reads the 8 bytes of `bytes`, unaligned.
                _mm256_cvtepi8_epi32(unsafe { _mm_loadl_epi64(bytes.as_ptr().cast()) })
            }

            /// Sixteen signed bytes of the block at `at` (eight rows' bytes, then
            /// eight more), as each row's pair of `i16` in its lane.
            #[inline]
            #[target_feature(enable = $features)]
            fn load_pairs_i16<const L: usize>(block: [&[u8; L]; GROUPS], at: usize) -> I {
                let bytes = &block[0][at..at + 16];
                // SAFETY: reads the 16 bytes of `bytes`, unaligned.
                let both = unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) };
                _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(both, _mm_srli_si128::<8>(both)))
            }

            /// The tiles' outputs for input rows `t0..t0 + N` (`acc[t]`, lane
            /// `j`: row `j`) into the group's rows (eight rows of `m`).
            #[inline]
            #[target_feature(enable = $features)]
            fn write_groups<const N: usize>(acc: [F; N], out: [&mut [f32]; GROUPS], t0: usize, m: usize) {
                let [out] = out;
                for t in 0..N {
                    let mut lanes = [0f32; 8];
                    // SAFETY: `lanes` is 8 floats, the width of an unaligned 256-bit store.
                    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc[t]) };
                    for (j, &v) in lanes.iter().enumerate() {
                        if let Some(o) = out.get_mut(j * m + t0 + t) {
                            *o = v;
                        }
                    }
                }
            }

            /// `Q8_0`'s signed weights `w` as the byte products' unsigned
            /// operand: flipped to `w + 128` where the products sum into `i32`
            /// (`vpdpbusd`, which cannot saturate), else `|w|`.
            #[inline]
            #[target_feature(enable = $features)]
            fn signed_operand(w: I) -> I {
                if UNSIGNED_BY_OFFSET {
                    _mm256_xor_si256(w, _mm256_set1_epi8(i8::MIN))
                } else {
                    _mm256_sign_epi8(w, w)
                }
            }

            /// `acc` plus signed weights `w` (as [`signed_operand`] made them)
            /// times four activation bytes `q` per lane. Without `vpdpbusd`
            /// `maddubs` would saturate on `w + 128`, so the activations carry
            /// `w`'s sign instead (a pair at most 2·128·127).
            #[inline]
            #[target_feature(enable = $features)]
            fn signed_run_sum(acc: I, operand: I, w: I, q: I) -> I {
                if UNSIGNED_BY_OFFSET {
                    run_sum_wide(acc, operand, q)
                } else {
                    run_sum_wide(acc, operand, _mm256_sign_epi8(q, w))
                }
            }

            /// What [`signed_operand`] added to each weight, taken off as a
            /// multiple of the activations' sum.
            const SIGNED_OFFSET: i32 = if UNSIGNED_BY_OFFSET { 128 } else { 0 };

            lane_ops!($features, imm = i32, and = _mm256_and_si256, or = _mm256_or_si256, add32 = _mm256_add_epi32,
                sub32 = _mm256_sub_epi32, mullo32 = _mm256_mullo_epi32, shl32 = _mm256_slli_epi32,
                shr32 = _mm256_srli_epi32, shl16 = _mm256_slli_epi16, shr16 = _mm256_srli_epi16,
                srl32 = _mm256_srl_epi32, splat_i8 = _mm256_set1_epi8, splat_i32 = _mm256_set1_epi32,
                zero_i = _mm256_setzero_si256, zero_f = _mm256_setzero_ps, splat_f = _mm256_set1_ps,
                to_f = _mm256_cvtepi32_ps, fmadd = _mm256_fmadd_ps, fnmadd = _mm256_fnmadd_ps, mul = _mm256_mul_ps);

            /// Activations `run[at..at + 4]` broadcast to every 32-bit lane: what
            /// the interleaved tiles multiply each row's four packed values by.
            #[inline]
            #[target_feature(enable = $features)]
            ///
            /// One 32-bit load, not four bytes put together: LLVM merged the
            /// bytes in some of the tiles' instances and not in others (the
            /// two-row `Q6_K` tile ran at 1238 µs where two one-row tiles took
            /// 540, and four rows took 1.4× the time of ggml's row layout).
            fn quad(run: &[i8; QK], at: usize) -> __m256i {
                let four = &run[at..at + 4];
                // SAFETY: reads the four bytes of `four`, unaligned.
                _mm256_broadcastd_epi32(unsafe { _mm_loadu_si32(four.as_ptr().cast()) })
            }

            /// [`run_sum`] for weights up to 63 (`Q6_K`): always into `i32` lanes.
            #[inline]
            #[target_feature(enable = $features)]
            fn run_sum_wide($wacc: __m256i, $ww: __m256i, $wq: __m256i) -> __m256i {
                $run_sum_wide
            }

            /// A run's running sums (lane `j`: row `j`) plus its unsigned
            /// weights `w` times four activation bytes `q` in every lane:
            /// in `i16` pairs (`maddubs`) or straight into `i32` (`vpdpbusd`).
            #[inline]
            #[target_feature(enable = $features)]
            fn run_sum($racc: __m256i, $rw: __m256i, $rq: __m256i) -> __m256i {
                $run_sum
            }

            /// `acc` plus a run's sums ([`run_sum`]) times each row's integer
            /// scale (`scale`: one per 32-bit lane).
            #[inline]
            #[target_feature(enable = $features)]
            fn run_scaled($sacc: __m256i, $srun: __m256i, $sscale: __m256i) -> __m256i {
                $run_scaled
            }

            /// Input rows per tile: four accumulators, and room in the sixteen
            /// vector registers for the unpacked block and the products. `Q5_K`
            /// takes eight (its integer sums need one register per row, the float
            /// totals are updated once per block).
            const TILE: usize = 4;

            /// How far ahead of the block in use the weights are prefetched.
            const PREFETCH: usize = 4096;

            /// One weight row times the first `N` input rows of `acts` (each
            /// `per_row` blocks long) into `sums`.
            #[inline]
            #[target_feature(enable = $features)]
            fn tile<K: BlockKernel, const N: usize>(row: &[u8], acts: &[Q8Block], per_row: usize, sums: &mut [f32]) {
                let mut acc = [_mm256_setzero_ps(); N];
                let mut rest = [0f32; N];
                for (b, block) in row.chunks_exact(K::BYTES).enumerate() {
                    // The weights stream from memory: the 32-value types ask for what
                    // comes PREFETCH bytes on (past the row's end, the next row's, which
                    // follows it in memory; a prefetch never faults, so the address may
                    // lie past the matrix). The k-quants measured slower with it on two
                    // threads, and no faster on one.
                    if !K::SHARED_SCALE {
                        _mm_prefetch::<_MM_HINT_T0>(block.as_ptr().wrapping_add(PREFETCH).cast());
                    }
                    let u = K::unpack(block);
                    let widen = |h: u16| _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(h))));
                    let row_acts = |t: usize| {
                        let start = t * per_row + b * K::ACTS;
                        &acts[start..start + K::ACTS]
                    };
                    if K::SHARED_SCALE {
                        // A k-quant block's activations are one superblock (`ACTS` = 8).
                        let rows = superblock_acts::<N>(acts, per_row, b);
                        // The block's runs summed in integers, weighted by their integer
                        // scales, each run's weights loaded once for the tile's rows; one
                        // float multiply per block and row.
                        let mut isum = [_mm256_setzero_si256(); N];
                        let parts = K::int_products(&u, rows, widen, |w, qs, lo, hi| {
                            let (w, s) = (load(w), int_scales::<K>(lo, hi));
                            for t in 0..N {
                                isum[t] = int_run::<K>(isum[t], w, qs[t], s);
                            }
                        });
                        for t in 0..N {
                            let (factor, r) = parts[t];
                            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(factor), _mm256_cvtepi32_ps(isum[t]), acc[t]);
                            if K::HAS_REST {
                                rest[t] += r;
                            }
                        }
                    } else {
                        for t in 0..N {
                            let r = K::products(&u, row_acts(t), widen, |w, q, lo, hi| {
                                acc[t] = _mm256_fmadd_ps(scales::<K>(lo, hi), dot32::<K>(w, q), acc[t]);
                            });
                            if K::HAS_REST {
                                rest[t] += r;
                            }
                        }
                    }
                }
                for t in 0..N {
                    sums[t] = hsum(acc[t]) + rest[t];
                }
            }

            /// `lo` in lanes 0–3 and `hi` in lanes 4–7, matching [`dot32`].
            #[inline]
            #[target_feature(enable = $features)]
            fn scales<K: BlockKernel>(lo: f32, hi: f32) -> __m256 {
                if K::SPLIT_SCALES {
                    _mm256_set_m128(_mm_set1_ps(hi), _mm_set1_ps(lo))
                } else {
                    _mm256_set1_ps(lo)
                }
            }

            /// Eight partial sums of `Σ w·q` over 32 values: lanes 0–3 cover values
            /// 0–15 and lanes 4–7 values 16–31.
            #[inline]
            #[target_feature(enable = $features)]
            fn dot32<K: BlockKernel>(w: &[i8; QK], q: &[i8; QK]) -> __m256 {
                let (a, b) = operands::<K>(load(w), load(q));
                _mm256_cvtepi32_ps(pairs(a, b))
            }

            /// 32 bytes in a register.
            #[inline]
            #[target_feature(enable = $features)]
            fn load(bytes: &[i8; QK]) -> __m256i {
                // SAFETY: the array is 32 bytes, the width of an unaligned 256-bit load.
                unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
            }

            /// A run's weights and activations as the byte products take them,
            /// unsigned by signed: weights that are never negative go as they
            /// are, others as |w| times q carrying w's sign (|−128| reads as 128
            /// unsigned, and activations stay within ±127, so a pair sums to at
            /// most 2·128·127, inside an i16).
            #[inline]
            #[target_feature(enable = $features)]
            fn operands<K: BlockKernel>(w: __m256i, q: __m256i) -> (__m256i, __m256i) {
                if K::UNSIGNED {
                    (w, q)
                } else {
                    (_mm256_sign_epi8(w, w), _mm256_sign_epi8(q, w))
                }
            }

            /// Eight lanes of `Σ a·b` over four bytes each: `a` unsigned, `b` signed.
            #[inline]
            #[target_feature(enable = $features)]
            fn pairs($a: __m256i, $b: __m256i) -> __m256i {
                $pairs
            }

            /// A run's integer scales as [`int_run`] takes them: `lo` in the
            /// `i16` lanes of values 0–15, `hi` in those of 16–31.
            #[inline]
            #[target_feature(enable = $features)]
            fn int_scales<K: BlockKernel>(lo: i16, hi: i16) -> __m256i {
                if K::SPLIT_SCALES {
                    _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo))
                } else {
                    _mm256_set1_epi16(lo)
                }
            }

            /// `acc` plus one run's products (weights `w`, as loaded) weighted by
            /// its integer scales `s` ([`int_scales`]). The bytes are multiplied and
            /// summed in pairs to sixteen `i16` lanes (`maddubs`: lanes 0–7 hold
            /// values 0–15, lanes 8–15 values 16–31; a pair sums to at most
            /// 2·32·127 for the k-quants' weights, |w| ≤ 32, so nothing
            /// saturates), then times the scales and summed in pairs to `i32`.
            #[inline]
            #[target_feature(enable = $features)]
            fn int_run<K: BlockKernel>(acc: __m256i, w: __m256i, q: &[i8; QK], s: __m256i) -> __m256i {
                let (a, b) = operands::<K>(w, load(q));
                scaled(acc, _mm256_maddubs_epi16(a, b), s)
            }

            /// `acc` plus the sixteen `i16` lanes `p` times the scales `s`,
            /// summed in pairs to `i32`.
            #[inline]
            #[target_feature(enable = $features)]
            fn scaled(acc: __m256i, p: __m256i, s: __m256i) -> __m256i {
                let ($acc, $p, $s) = (acc, p, s);
                $scaled
            }

            /// The sum of the eight lanes.
            #[inline]
            #[target_feature(enable = $features)]
            fn hsum(v: __m256) -> f32 {
                let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
x86_kernel! {
    /// AVX2 with FMA and F16C: byte pairs by `maddubs`, then summed to
    /// 32-bit lanes by `madd`.
    mod avx2,
    features = "avx2,fma,f16c",
    avx2_kquants = false,
    wide_pairs = false,
    // Sixteen registers: four runs' sums per input row spilled at four rows.
    q6k_in_pairs = true,
    unsigned_by_offset = false,
    pairs = |a, b| _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1)),
    scaled = |acc, p, s| _mm256_add_epi32(acc, _mm256_madd_epi16(p, s)),
    run_sum = |acc, w, q| _mm256_add_epi16(acc, _mm256_maddubs_epi16(w, q)),
    run_sum_wide = |acc, w, q| _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, q), _mm256_set1_epi16(1))),
    // Each row's scale (signed, in its 32-bit lane) in both `i16` halves of its lane.
    run_scaled = |acc, run, s| _mm256_add_epi32(acc, _mm256_madd_epi16(run, _mm256_blend_epi16::<0xAA>(s, _mm256_slli_epi32::<16>(s))))
}

#[cfg(target_arch = "x86_64")]
x86_kernel! {
    /// AVX2 with AVX-VNNI: one `vpdpbusd` does what `maddubs` and `madd` do
    /// (and cannot saturate the 16-bit pair sums).
    mod avx_vnni,
    features = "avx2,fma,f16c,avxvnni",
    avx2_kquants = false,
    wide_pairs = true,
    q6k_in_pairs = false,
    unsigned_by_offset = true,
    pairs = |a, b| _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), a, b),
    scaled = |acc, p, s| _mm256_dpwssd_avx_epi32(acc, p, s),
    run_sum = |acc, w, q| _mm256_dpbusd_avx_epi32(acc, w, q),
    run_sum_wide = |acc, w, q| _mm256_dpbusd_avx_epi32(acc, w, q),
    run_scaled = |acc, run, s| _mm256_add_epi32(acc, _mm256_mullo_epi32(run, s))
}

#[cfg(target_arch = "x86_64")]
x86_kernel! {
    /// [`avx_vnni`]'s kernel with AVX-512 VNNI's EVEX forms of `vpdpbusd`
    /// and `vpdpwssd` on 256-bit registers. `Q5_K` runs on the AVX2 kernel's
    /// code: compiled here its tiles of 8 input rows ran 1.5x slower than
    /// the AVX2 kernel's (Zen 4, 8 and 16 rows; not traced further).
    mod avx512_vnni,
    features = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni",
    avx2_kquants = true,
    wide_pairs = true,
    q6k_in_pairs = false,
    unsigned_by_offset = true,
    pairs = |a, b| _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b),
    scaled = |acc, p, s| _mm256_dpwssd_epi32(acc, p, s),
    run_sum = |acc, w, q| _mm256_dpbusd_epi32(acc, w, q),
    run_sum_wide = |acc, w, q| _mm256_dpbusd_epi32(acc, w, q),
    run_scaled = |acc, run, s| _mm256_add_epi32(acc, _mm256_mullo_epi32(run, s))
}

/// The interleaved groups in pairs on 512-bit registers.
#[cfg(target_arch = "x86_64")]
mod avx512_pairs {
    include!("wide_pairs.rs");
}

/// [`quantize_for`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn quantize_avx2(x: &[f32], per_superblock: bool, out: &mut Vec<Q8Block>) {
    quantize_for(x, per_superblock, out)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use crate::activation::{Q8Block, QK};
    use crate::dot::{BlockKernel, SuperActs, widen_f16};
    use crate::matrix::QMatrix;
    use core::arch::wasm32::*;

    include!("wasm_tile.rs");

    /// `Q6_K`'s codes go into the products less their offset of 32
    /// (`wasm_tile.rs`), so nothing is taken off afterwards.
    const Q6K_RAW: bool = false;

    /// Unused where [`Q6K_RAW`] is false.
    #[inline(always)]
    fn q6k_offsets(_block: &[u8; 210], _acts: &SuperActs) -> v128 {
        i32x4_splat(0)
    }

    /// The `simd128` kernel: [`super::rows_into`] in tiles of up to [`TILE`]
    /// input rows, as the AVX2 kernel does: each block is unpacked once per
    /// tile, and the tile's accumulators are locals that the engine keeps in
    /// registers.
    pub(super) fn rows_into<K: BlockKernel>(w: &QMatrix, first: usize, out: &mut [f32], acts: &[Q8Block], m: usize) {
        tiled_rows!(K, w, first, out, acts, m);
    }

    /// `Σ w·q` over 16 values in four lanes: bytes multiplied straight to
    /// 16 bits, two products summed per 16-bit lane, then pairs of lanes to
    /// 32 bits (6 operations per 16 values; widening both sides to 16 bits
    /// first took 9 or 10). Every product fits: weights are bytes
    /// (|w| ≤ 128) and activations `round(x / d)` with `d = max|x| / 127`
    /// (|q| ≤ 127), so two products sum to at most 2 · 128 · 127 = 32,512 <
    /// 2¹⁵.
    #[inline(always)]
    fn dot16<K: BlockKernel>(w: v128, q: v128) -> v128 {
        i32x4_extadd_pairwise_i16x8(pairs16::<K>(w, q))
    }

    /// The products of 16 weights and activations summed in pairs to eight
    /// `i16` lanes (lane `i`: values `i` and `i + 8`), for the k-quants'
    /// integer sums: two products of |w| ≤ 32 and |q| ≤ 127 sum to at most
    /// 8,128.
    #[inline(always)]
    fn pairs16<K: BlockKernel>(w: v128, q: v128) -> v128 {
        i16x8_add(i16x8_extmul_low_i8x16(w, q), i16x8_extmul_high_i8x16(w, q))
    }
}

/// The aarch64 kernels, stamped out once per instruction set as
/// `x86_kernel!` does: the `simd128` kernel's tile ([`wasm`],
/// `wasm_tile.rs`) through `neon_lanes.rs`, which gives NEON wasm's
/// operations and lane semantics. `$features` are `rows_into`'s target
/// features, and `dot16` the one step that differs: `Σ w·q` over 16 values
/// in four `i32` lanes.
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
macro_rules! neon_kernel {
    ($(#[$doc:meta])* mod $name:ident, features = $features:literal, dot16 = |$w:ident, $q:ident| $dot:expr) => {
        $(#[$doc])*
        mod $name {
            use crate::activation::{Q8Block, QK};
            use crate::dot::{BlockKernel, SuperActs, widen_f16};
            use crate::matrix::QMatrix;
            use core::arch::aarch64::*;

            include!("neon_lanes.rs");
            include!("wasm_tile.rs");

            /// `Q6_K`'s codes go into the products less their offset of 32
            /// (`wasm_tile.rs`), so nothing is taken off afterwards.
            const Q6K_RAW: bool = false;

            /// Unused where [`Q6K_RAW`] is false.
            #[inline(always)]
            fn q6k_offsets(_block: &[u8; 210], _acts: &SuperActs) -> v128 {
                i32x4_splat(0)
            }

            /// [`super::rows_into`] in tiles of up to [`TILE`] input rows,
            /// each block unpacked once per tile.
            #[target_feature(enable = $features)]
            pub(in crate::simd) fn rows_into<K: BlockKernel>(
                w: &QMatrix,
                first: usize,
                out: &mut [f32],
                acts: &[Q8Block],
                m: usize,
            ) {
                tiled_rows!(K, w, first, out, acts, m);
            }

            #[inline(always)]
            fn dot16<K: BlockKernel>($w: v128, $q: v128) -> v128 {
                $dot
            }

            /// The products of 16 weights and activations summed in pairs
            /// to eight `i16` lanes (lane `i`: values `i` and `i + 8`;
            /// `smull`, `smlal2`): two products of |w| ≤ 128 and |q| ≤ 127
            /// sum to at most 32,512.
            #[inline(always)]
            fn pairs16<K: BlockKernel>(w: v128, q: v128) -> v128 {
                // SAFETY: NEON is enabled for the whole build (the macro's `cfg`).
                unsafe {
                    let (w, q) = (vreinterpretq_s8_u8(w), vreinterpretq_s8_u8(q));
                    let low = vmull_s8(vget_low_s8(w), vget_low_s8(q));
                    vreinterpretq_u8_s16(vmlal_high_s8(low, w, q))
                }
            }
        }
    };
}

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
neon_kernel! {
    /// The NEON kernel (every aarch64 CPU): 16 products in `i16` pairs
    /// (`pairs16`), then pairs of lanes added to 32 bits (`saddlp`).
    mod neon,
    features = "neon",
    // SAFETY: NEON is enabled for the whole build (the `cfg`).
    dot16 = |w, q| unsafe { vreinterpretq_u8_s32(vpaddlq_s16(vreinterpretq_s16_u8(pairs16::<K>(w, q)))) }
}

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
neon_kernel! {
    /// The NEON kernel with the Armv8.2 dot product: `sdot` multiplies 16
    /// bytes by 16 and adds them, four at a time, to four `i32` lanes.
    mod neon_dot,
    features = "neon,dotprod",
    dot16 = |w, q| super::sdot(i32x4_splat(0), w, q)
}

/// `acc` plus the products of `a` and `b`'s signed bytes, summed four at a
/// time into four `i32` lanes: one `sdot`. Written in `asm!` because its
/// intrinsic is unstable in this Rust; only the kernels of
/// [`Kernel::NeonDot`] reach it, where the CPU reported the dot product.
#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
#[inline(always)]
fn sdot(
    acc: core::arch::aarch64::uint8x16_t,
    a: core::arch::aarch64::uint8x16_t,
    b: core::arch::aarch64::uint8x16_t,
) -> core::arch::aarch64::uint8x16_t {
    let mut acc = acc;
    // SAFETY: registers in and out only (no memory, no stack); the
    // instruction exists where the callers run (see above).
    unsafe {
        core::arch::asm!(
            ".arch_extension dotprod",
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

#[cfg(test)]
mod tests {
    /// Calls the generic `$check::<K>(ty, seed)` for every block type.
    macro_rules! every_block_type {
        ($check:ident, $seed:expr) => {{
            let seed: &mut u64 = $seed;
            $check::<dot::Q8_0>(GgmlType::Q8_0, seed);
            $check::<dot::Q4_0>(GgmlType::Q4_0, seed);
            $check::<dot::Q4_1>(GgmlType::Q4_1, seed);
            $check::<dot::Q5_0>(GgmlType::Q5_0, seed);
            $check::<dot::KQuant<dot::Q4K>>(GgmlType::Q4_K, seed);
            $check::<dot::KQuant<dot::Q5K>>(GgmlType::Q5_K, seed);
            $check::<dot::Q6K>(GgmlType::Q6_K, seed);
        }};
    }

    use crate::activation::quantize_for;
    use crate::dot::{self, BlockKernel};
    use crate::matrix::{Layout, QMatrix};
    use tandem_gguf::GgmlType;

    /// Random blocks with finite scales, and random activations.
    fn case(
        ty: GgmlType,
        rows: usize,
        blocks: usize,
        m: usize,
        seed: &mut u64,
    ) -> (QMatrix, Vec<crate::activation::Q8Block>) {
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        let cols = blocks * ty.block_size();
        let mut data: Vec<u8> = (0..rows * blocks * ty.block_bytes()).map(|_| next() as u8).collect();
        for block in data.chunks_exact_mut(ty.block_bytes()) {
            for &at in QMatrix::f16_fields(ty) {
                // Exponent field 1..=29: finite, from tiny to large.
                let bits = (next() as u16 & 0x83FF) | ((1 + (next() % 29) as u16) << 10);
                block[at..at + 2].copy_from_slice(&bits.to_le_bytes());
            }
        }
        let x: Vec<f32> = (0..m * cols).map(|_| (next() % 2001) as f32 / 1000.0 - 1.0).collect();
        let mut acts = Vec::new();
        // As `matmul` quantizes them for this type.
        quantize_for(
            &x,
            matches!(ty, GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K),
            &mut acts,
        );
        (QMatrix::new(ty, rows, cols, data).unwrap(), acts)
    }

    /// The product on every kernel this CPU runs, by name. Kernels are
    /// named directly, not through the process-wide choice, so that tests
    /// running at the same time do not switch each other's kernel.
    fn kernels<K: BlockKernel>(
        w: &QMatrix,
        acts: &[crate::activation::Q8Block],
        m: usize,
    ) -> Vec<(super::Kernel, Vec<f32>)> {
        super::Kernel::ALL
            .into_iter()
            .filter(|k| k.available())
            .map(|kernel| {
                let mut out = vec![0f32; w.rows() * m];
                super::rows_on::<K>(kernel, w, 0, &mut out, acts, m);
                (kernel, out)
            })
            .collect()
    }

    /// `Σ |w|·|x|` per output (`out[i·m + t]`), from the dequantized
    /// weights and activations: what rounding in another order is relative to.
    fn magnitudes(w: &QMatrix, acts: &[crate::activation::Q8Block], m: usize) -> Vec<f32> {
        let (rows, cols) = (w.rows(), w.cols());
        let dense = w.dequantize();
        let per_row = cols / crate::activation::QK;
        let x = |t: usize, k: usize| {
            let a = &acts[t * per_row + k / crate::activation::QK];
            f32::from(a.q[k % crate::activation::QK]) * a.d
        };
        (0..rows * m)
            .map(|o| {
                let (i, t) = (o / m, o % m);
                (0..cols).map(|k| (dense[i * cols + k] * x(t, k)).abs()).sum()
            })
            .collect()
    }

    fn agree<K: BlockKernel>(ty: GgmlType, seed: &mut u64) {
        for &(rows, blocks, m) in &[(1, 1, 1), (3, 2, 1), (5, 3, 2), (4, 1, 7), (2, 2, 16), (3, 2, 11)] {
            let (w, acts) = case(ty, rows, blocks, m, seed);
            let mut portable = vec![0f32; rows * m];
            w.rows_portable::<K>(0, &mut portable, &acts, m);
            let mag = magnitudes(&w, &acts, m);
            for (kernel, simd) in kernels::<K>(&w, &acts, m) {
                for (i, (&a, &b)) in simd.iter().zip(&portable).enumerate() {
                    // Only the order of float additions differs (the
                    // `simd128` and NEON tiles sum four lanes of scaled
                    // terms, which may cancel: hence the terms' magnitude).
                    let tol = 1e-5 * (a.abs() + b.abs()) + 1e-6 * mag[i] + 1e-30;
                    assert!(
                        (a - b).abs() <= tol,
                        "{kernel:?}: {ty:?} rows {rows} blocks {blocks} m {m} out {i}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// Interleaved `Q4_K`, `Q6_K`, `Q5_0` and `Q8_0` rows give every kernel's product of
    /// the same rows in ggml's layout: groups of eight rows, alone and in
    /// pairs, tiles of one to four and eight input rows and their tails, and a
    /// task starting at a later group.
    #[test]
    fn interleaved_rows_agree_with_the_portable_kernel() {
        fn check<K: BlockKernel>(ty: GgmlType, seed: &mut u64) {
            if !Layout::INTERLEAVED_KERNELS {
                // Offered only where a kernel reads it (x86-64).
                assert!(case(ty, 8, 1, 1, seed).0.interleaved().is_none());
                return;
            }
            for &(rows, blocks, m) in &[
                (8, 1, 1),
                (16, 2, 1),
                (8, 3, 2),
                (24, 1, 3),
                (16, 2, 5),
                (8, 6, 9),
                (16, 3, 9),
                (32, 1, 16),
            ] {
                let (w, acts) = case(ty, rows, blocks, m, seed);
                let packed = w.interleaved().expect("k-quant rows in eights");
                assert_eq!(packed.layout(), Layout::Interleaved);
                let mut portable = vec![0f32; rows * m];
                w.rows_portable::<K>(0, &mut portable, &acts, m);
                let mag = magnitudes(&w, &acts, m);
                for kernel in super::Kernel::ALL.into_iter().filter(|k| k.available()) {
                    for first in [0, 8].into_iter().filter(|&f| f < rows) {
                        let mut out = vec![0f32; (rows - first) * m];
                        super::rows_on::<K>(kernel, &packed, first, &mut out, &acts, m);
                        for (i, (&a, &b)) in out.iter().zip(&portable[first * m..]).enumerate() {
                            // Sums in another order; for Q4_K the minimums' term,
                            // which random scales make cancel most of the total:
                            // hence the terms' magnitude.
                            let tol = 1e-5 * (a.abs() + b.abs()) + 1e-6 * mag[first * m + i] + 1e-30;
                            assert!(
                                (a - b).abs() <= tol,
                                "{kernel:?} {ty:?}: rows {rows} blocks {blocks} m {m} from {first}, out {i}: {a} vs {b}"
                            );
                        }
                    }
                }
            }
        }
        let mut seed = 0x0051_7CC1_B727_220A;
        check::<dot::KQuant<dot::Q4K>>(GgmlType::Q4_K, &mut seed);
        check::<dot::Q6K>(GgmlType::Q6_K, &mut seed);
        check::<dot::Q5_0>(GgmlType::Q5_0, &mut seed);
        check::<dot::Q8_0>(GgmlType::Q8_0, &mut seed);
    }

    /// A product's value for one input row does not depend on the rows
    /// computed beside it: a verification pass over `k` positions gives
    /// each position exactly what one-token decoding gives it, on every
    /// kernel and layout, so greedy speculation stays exact with quantized
    /// weights.
    #[test]
    fn each_input_rows_product_is_the_same_alone_or_batched() {
        fn check<K: BlockKernel>(ty: GgmlType, seed: &mut u64) {
            for &(rows, blocks) in &[(16, 3), (24, 1), (40, 2)] {
                let m_max = 17;
                let (plain, acts) = case(ty, rows, blocks, m_max, seed);
                let per_row = plain.cols() / crate::activation::QK;
                let layouts = [Some(plain.clone()), plain.interleaved()];
                for w in layouts.iter().flatten() {
                    for kernel in super::Kernel::ALL.into_iter().filter(|k| k.available()) {
                        let alone: Vec<Vec<f32>> = (0..m_max)
                            .map(|t| {
                                let mut out = vec![0f32; rows];
                                let acts = &acts[t * per_row..(t + 1) * per_row];
                                super::rows_on::<K>(kernel, w, 0, &mut out, acts, 1);
                                out
                            })
                            .collect();
                        // A thread's task that starts at a later group of rows.
                        for (t, alone) in alone.iter().enumerate() {
                            let mut tail = vec![0f32; rows - 8];
                            let acts = &acts[t * per_row..(t + 1) * per_row];
                            super::rows_on::<K>(kernel, w, 8, &mut tail, acts, 1);
                            let same = tail.iter().zip(&alone[8..]).all(|(a, b)| a.to_bits() == b.to_bits());
                            assert!(
                                same,
                                "{kernel:?} {ty:?} {:?}: rows {rows} from row 8, input {t}",
                                w.layout()
                            );
                        }
                        for m in 2..=m_max {
                            let mut out = vec![0f32; rows * m];
                            super::rows_on::<K>(kernel, w, 0, &mut out, &acts[..m * per_row], m);
                            for i in 0..rows {
                                for t in 0..m {
                                    let (a, b) = (out[i * m + t], alone[t][i]);
                                    assert!(
                                        a.to_bits() == b.to_bits(),
                                        "{kernel:?} {ty:?} {:?}: rows {rows} blocks {blocks} m {m}, row {i} input {t}: {a} batched, {b} alone",
                                        w.layout()
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        every_block_type!(check, &mut 0x3C6E_F372_FE94_F82B);
    }

    #[test]
    fn a_kernel_the_cpu_lacks_is_refused_and_the_choice_holds() {
        let best = super::kernel();
        assert!(best.available());
        let missing = super::Kernel::ALL.into_iter().find(|k| !k.available());
        if let Some(missing) = missing {
            assert!(matches!(
                super::use_kernel(missing),
                Err(crate::QuantError::KernelUnavailable(k)) if k == missing
            ));
            assert_eq!(super::kernel(), best);
        }
        super::use_kernel(super::Kernel::Portable).unwrap();
        assert_eq!(super::kernel(), super::Kernel::Portable);
        super::use_kernel(best).unwrap();
        assert_eq!(super::kernel(), best);
    }

    #[test]
    fn int8_kernels_agree_with_the_portable_one_exactly() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        };
        // Every tile shape and its tails: 1–9 rows, 1–9 input rows, strides
        // of one and several steps, and extreme codes and weights (127 ×
        // ±127 in every pair: `vpmaddubsw` must not saturate).
        for &(rows, cols, m) in &[
            (1, 1, 1),
            (4, 16, 2),
            (5, 17, 3),
            (9, 40, 5),
            (7, 384, 4),
            (3, 1536, 1),
            (2, 48, 6),
            (3, 33, 7),
            (6, 64, 9),
            (2, 96, 4),
        ] {
            let extreme = (rows, cols, m) == (2, 96, 4);
            let w: Vec<f32> = (0..rows * cols)
                .map(|i| if extreme { [1.0, -1.0][i / cols] } else { next() })
                .collect();
            // Skewed rows, as after GELU: the codes' offset matters. The
            // extreme case: codes 127 and 0 only.
            let x: Vec<f32> = (0..m * cols)
                .map(|i| {
                    if extreme {
                        f32::from(u8::from(i % 7 != 0))
                    } else {
                        next() * 4.0 + 1.0
                    }
                })
                .collect();
            let w = crate::Int8Matrix::quantize(&w, rows, cols).unwrap();
            let acts = w.quantize_rows(&x, m);
            let mut portable = vec![0i32; rows * m];
            w.sums_portable(&acts, 0, &mut portable);
            for kernel in super::Kernel::ALL.into_iter().filter(|k| k.available()) {
                let mut out = vec![0i32; rows * m];
                super::int8_sums_on(kernel, &w, &acts, 0, &mut out);
                assert_eq!(out, portable, "{kernel:?}: [{rows} x {cols}] m {m}");
                // Input rows from the middle, as a thread's task sees them.
                if m > 1 {
                    let mut tail = vec![0i32; rows * (m - 1)];
                    super::int8_sums_on(kernel, &w, &acts, 1, &mut tail);
                    assert_eq!(tail, portable[rows..], "{kernel:?}: from row 1");
                }
            }
        }
    }

    /// The ids the main module sends the relaxed-SIMD module are ggml's,
    /// and only `Q8_0` is wide.
    #[test]
    fn each_block_type_names_its_ggml_id() {
        fn check<K: BlockKernel>(ty: GgmlType) {
            assert_eq!(GgmlType::from_id(K::GGML_ID), Some(ty));
            assert_eq!(K::WIDE, ty == GgmlType::Q8_0, "{ty:?}");
        }
        check::<dot::Q8_0>(GgmlType::Q8_0);
        check::<dot::Q4_0>(GgmlType::Q4_0);
        check::<dot::Q4_1>(GgmlType::Q4_1);
        check::<dot::Q5_0>(GgmlType::Q5_0);
        check::<dot::KQuant<dot::Q4K>>(GgmlType::Q4_K);
        check::<dot::KQuant<dot::Q5K>>(GgmlType::Q5_K);
        check::<dot::Q6K>(GgmlType::Q6_K);
    }

    #[test]
    fn simd_kernels_agree_with_the_portable_one() {
        every_block_type!(agree, &mut 0x9E37_79B9_7F4A_7C15);
    }
}
