// The activation block every fused product reads, in a file of its own
// (no dependencies, no `std`) so that the relaxed-SIMD module
// (`relaxed/kernel.rs`) includes the same definition: the two modules read
// these blocks from one memory, so the layout is `repr(C)`.

/// Values per activation block, the block size of every 32-value ggml type
/// and of a k-quant's sub-blocks.
pub(crate) const QK: usize = 32;

/// 32 activations as `q · d`, with `s = d · Σ q` for weight types that
/// carry a minimum (`Σ (q_w·d_w + m)·x = d_w·Σ q_w·x + m·Σ x`).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct Q8Block {
    pub(crate) d: f32,
    pub(crate) s: f32,
    pub(crate) q: [i8; QK],
    /// The sums of `q`'s two halves of sixteen, as two `i16` (the first in
    /// the low bits; each at most 16·127 in magnitude): the interleaved x86
    /// kernels take the weights' zero points off with them, and one word
    /// broadcast to every lane pairs them with two sub-blocks' scales
    /// (ggml's `Q8_K` keeps such sums too, `bsums`).
    pub(crate) h: i32,
}
