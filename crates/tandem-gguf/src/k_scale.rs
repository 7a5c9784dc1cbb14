// In a file of its own (no dependencies, no `std`) so that tandem-quant's
// relaxed-SIMD module, a `no_std` crate built apart, includes this one
// definition too.

/// The 6-bit scale and minimum of sub-block `j` (0..8) from the 12 packed
/// scale bytes of a `Q4_K` or `Q5_K` block (ggml's `get_scale_min_k4`): the
/// one definition that the dequantization, the CPU kernels (the relaxed-SIMD
/// module's too) and the GPU layout share.
#[inline(always)]
pub fn k_scale_min(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}
