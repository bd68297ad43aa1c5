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
