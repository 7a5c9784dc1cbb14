//! What can go wrong building or using a quantized matrix.

use tandem_gguf::GgmlType;

/// Why a quantized matrix could not be built or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    /// The element type has no fused kernel here (the caller keeps `f32`).
    #[error("no quantized kernel for {0:?}")]
    Unsupported(GgmlType),
    /// A row length that is not a whole number of blocks.
    #[error("{ty:?} rows of {cols} values are not a whole number of {block}-value blocks")]
    RowLength {
        /// The element type.
        ty: GgmlType,
        /// Values per row.
        cols: usize,
        /// Values per block of `ty`.
        block: usize,
    },
    /// Bytes that do not match the shape.
    #[error("{ty:?} [{rows}, {cols}] needs {expected} bytes, got {got}")]
    DataLength {
        /// The element type.
        ty: GgmlType,
        /// Rows.
        rows: usize,
        /// Values per row.
        cols: usize,
        /// Bytes the shape needs.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// An input whose length is not `m × cols`.
    #[error("input of {got} values is not {m} rows of {cols}")]
    InputShape {
        /// Rows asked for.
        m: usize,
        /// Values per row the matrix expects.
        cols: usize,
        /// Values given.
        got: usize,
    },
    /// A type or row count without [`Layout::Interleaved`](crate::Layout::Interleaved)
    /// (`Q4_K`, `Q6_K`, `Q5_0` and `Q8_0`, in whole groups of eight rows, where the build has
    /// kernels that read it).
    #[error(
        "{ty:?} with {rows} rows has no interleaved layout (Q4_K, Q6_K, Q5_0 and Q8_0, rows a multiple of 8, on x86-64)"
    )]
    NotInterleavable {
        /// The element type.
        ty: GgmlType,
        /// Rows of the matrix.
        rows: usize,
    },
    /// A block whose `f16` scale is infinite or NaN (a corrupt file).
    #[error("{ty:?} block {block} has an infinite or NaN scale")]
    NonFiniteScale {
        /// The element type.
        ty: GgmlType,
        /// The block's index in the matrix.
        block: usize,
    },
    /// A weight that is infinite or NaN (a corrupt file): no scale can
    /// hold it.
    #[error("value {at} of the matrix is infinite or NaN")]
    NonFinite {
        /// Its index, row-major.
        at: usize,
    },
    /// A row index past the end.
    #[error("row {row} of a {rows}-row matrix")]
    Row {
        /// The index asked for.
        row: usize,
        /// Rows held.
        rows: usize,
    },
    /// [`crate::use_kernel`] named a kernel this CPU or build cannot run.
    #[error("the {0:?} kernel is not available on this CPU or build")]
    KernelUnavailable(crate::Kernel),
}
