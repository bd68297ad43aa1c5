use thiserror::Error;

/// Everything that can be wrong with chunk bytes. Bit offsets count from the first
/// byte of the chunk (the sample count header is bits 0..16); sample indexes are
/// zero-based.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ChunkError {
    /// Fewer than the two bytes of the sample count header.
    #[error("chunk is {len} bytes long, too short for the 2-byte sample count header")]
    MissingHeader {
        /// The length of the chunk in bytes.
        len: usize,
    },
    /// The header promises more samples than the bit stream holds.
    #[error("chunk data ends inside sample {sample} of {total}, which starts at bit {bit}")]
    UnexpectedEnd {
        /// The sample that could not be read completely.
        sample: usize,
        /// How many samples the header promises.
        total: usize,
        /// Where that sample's encoding starts.
        bit: u64,
    },
    /// The timestamp varint of the first or the delta varint of the second sample
    /// does not fit in 64 bits.
    #[error("timestamp varint of sample {sample} at bit {bit} overflows 64 bits")]
    VarintOverflow {
        /// The sample whose timestamp is unreadable.
        sample: usize,
        /// Where that sample's encoding starts.
        bit: u64,
    },
    /// A value's XOR window (leading zeros plus significant bits) exceeds 64 bits,
    /// which no encoder produces.
    #[error(
        "value of sample {sample} at bit {bit} declares {leading} leading zeros and {significant} significant bits, more than 64"
    )]
    InvalidXorWindow {
        /// The sample whose value is unreadable.
        sample: usize,
        /// Where that sample's encoding starts.
        bit: u64,
        /// The leading-zero count read from the stream.
        leading: u8,
        /// The significant-bit count read from the stream (0 already read as 64).
        significant: u8,
    },
    /// Fewer than the three header bytes of a native-histogram chunk (sample count and
    /// counter-reset flags).
    #[error("histogram chunk is {len} bytes long, too short for the 3-byte header")]
    MissingHistogramHeader {
        /// The length of the chunk in bytes.
        len: usize,
    },
    /// A histogram chunk's data ends inside the bucket layout that precedes the first
    /// sample, or declares more spans or custom bounds than the rest of the data could
    /// hold.
    #[error("histogram chunk of {total} samples ends inside its bucket layout at bit {bit}")]
    TruncatedHistogramLayout {
        /// How many samples the header promises.
        total: usize,
        /// Where the unreadable layout field starts.
        bit: u64,
    },
    /// A histogram chunk's layout names a schema Prometheus does not know: neither an
    /// exponential schema (-9..=52, those above 8 read at resolution 8) nor custom
    /// buckets (-53).
    #[error(
        "histogram chunk layout at bit {bit} has schema {schema}, neither exponential (-9..=52) nor custom buckets (-53)"
    )]
    UnknownHistogramSchema {
        /// The schema read from the layout.
        schema: i64,
        /// Where the schema starts.
        bit: u64,
    },
    /// A span in a histogram chunk's layout whose length does not fit 32 bits unsigned
    /// or whose offset does not fit 32 bits signed.
    #[error(
        "histogram chunk span {span} at bit {bit} has length {length} and offset {offset}, beyond 32 bits"
    )]
    InvalidHistogramSpan {
        /// The span's position within its side (positive spans first), from 0.
        span: usize,
        /// Where the span starts.
        bit: u64,
        /// The length read.
        length: u64,
        /// The offset read.
        offset: i64,
    },
    /// A histogram chunk with a schema above 8, which is read at schema 8 as
    /// Prometheus does, whose spans cannot be merged to it (a negative offset after
    /// the first span).
    #[error(
        "histogram chunk has schema {schema} and spans that cannot be reduced to schema 8 (sample {sample})"
    )]
    IrreducibleHistogramSchema {
        /// The schema of the chunk.
        schema: i32,
        /// The sample being reduced.
        sample: usize,
    },
    /// Bytes after the last sample that an encoder would not have written (only
    /// [`XorChunk::from_bytes`](crate::XorChunk::from_bytes) checks this).
    #[error("chunk has {extra} unexpected bytes after its last sample, from byte {offset}")]
    TrailingBytes {
        /// How many bytes are left over.
        extra: usize,
        /// The first left-over byte.
        offset: usize,
    },
    /// The unused low bits of the last byte are not zero (only
    /// [`XorChunk::from_bytes`](crate::XorChunk::from_bytes) checks this).
    #[error("padding bits after the last sample are not zero in byte {offset}")]
    NonZeroPadding {
        /// The byte holding the padding.
        offset: usize,
    },
}
