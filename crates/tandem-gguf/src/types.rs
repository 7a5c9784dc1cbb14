//! ggml tensor types and their block layouts.

/// A ggml tensor element type, as stored in a GGUF tensor info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// IEEE half float.
    F16,
    /// 4-bit, blocks of 32 with one f16 scale.
    Q4_0,
    /// 4-bit, blocks of 32 with f16 scale and minimum.
    Q4_1,
    /// 5-bit, blocks of 32 with one f16 scale.
    Q5_0,
    /// 5-bit, blocks of 32 with f16 scale and minimum.
    Q5_1,
    /// 8-bit, blocks of 32 with one f16 scale.
    Q8_0,
    /// 8-bit, blocks of 32 with scale and sum (intermediate type).
    Q8_1,
    /// 2-bit k-quant, super-blocks of 256.
    Q2_K,
    /// 3-bit k-quant.
    Q3_K,
    /// 4-bit k-quant with 6-bit sub-block scales and minimums.
    Q4_K,
    /// 5-bit k-quant.
    Q5_K,
    /// 6-bit k-quant with 8-bit sub-block scales.
    Q6_K,
    /// 8-bit k-quant (intermediate type).
    Q8_K,
    /// 8-bit integer.
    I8,
    /// 16-bit integer.
    I16,
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 64-bit float.
    F64,
    /// bfloat16.
    BF16,
}

impl GgmlType {
    /// The type for a ggml type id, if this reader knows it.
    pub fn from_id(id: u32) -> Option<Self> {
        use GgmlType::*;
        Some(match id {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            6 => Q5_0,
            7 => Q5_1,
            8 => Q8_0,
            9 => Q8_1,
            10 => Q2_K,
            11 => Q3_K,
            12 => Q4_K,
            13 => Q5_K,
            14 => Q6_K,
            15 => Q8_K,
            24 => I8,
            25 => I16,
            26 => I32,
            27 => I64,
            28 => F64,
            30 => BF16,
            _ => return None,
        })
    }

    /// Elements per block (1 for plain types).
    pub const fn block_size(self) -> usize {
        use GgmlType::*;
        match self {
            F32 | F16 | BF16 | I8 | I16 | I32 | I64 | F64 => 1,
            Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q8_1 => 32,
            Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | Q8_K => 256,
        }
    }

    /// Bytes per block.
    pub const fn block_bytes(self) -> usize {
        use GgmlType::*;
        match self {
            F32 | I32 => 4,
            F16 | BF16 | I16 => 2,
            I8 => 1,
            I64 | F64 => 8,
            Q4_0 => 18,
            Q4_1 => 20,
            Q5_0 => 22,
            Q5_1 => 24,
            Q8_0 => 34,
            Q8_1 => 36,
            Q2_K => 84,
            Q3_K => 110,
            Q4_K => 144,
            Q5_K => 176,
            Q6_K => 210,
            Q8_K => 292,
        }
    }

    /// Bytes needed for `elements` values, or `None` if `elements` is not a
    /// whole number of blocks or the size overflows.
    pub fn bytes_for(self, elements: u64) -> Option<u64> {
        let bs = self.block_size() as u64;
        elements
            .is_multiple_of(bs)
            .then(|| (elements / bs).checked_mul(self.block_bytes() as u64))
            .flatten()
    }
}
