//! Prometheus's XOR ("Gorilla") chunk encoding for float samples, byte for byte.
//!
//! A chunk packs up to 65535 [`Sample`](cairn_model::Sample)s of one series into a
//! bit stream: timestamps as delta-of-deltas, values as the XOR with the previous
//! value. The bytes are exactly those of Prometheus's `tsdb/chunkenc` `XORChunk`
//! (`xor.go`, `bstream.go`, Prometheus 3.0 and later), so chunks we write can be read
//! by Prometheus, Thanos or anything else that speaks remote-read / StoreAPI chunks,
//! and theirs by us. Every NaN, the stale marker included, keeps its exact bits.
//!
//! ```text
//!  append(t, v) --> XorChunk --bytes()--> disk / wire --> Prometheus, Thanos, decode()
//!  wire bytes --> decode() / XorIter --> Sample { t, v }   (errors, never panics)
//!  stored bytes --> XorChunk::from_bytes() --> append() continues the same stream
//!
//!  byte:  0        1        2 ...
//!        +--------+--------+-------------------------------------------------+
//!        | sample count    | bit stream, most significant bit first, last    |
//!        | (u16 big-endian)| byte zero-padded; no byte after the last sample |
//!        +--------+--------+-------------------------------------------------+
//!
//!  sample 0:  varint(t0)  (zigzag, 1-10 bytes)      | v0: 64 raw bits
//!  sample 1:  uvarint(t1 - t0)  (1-10 bytes)         | xor(v1, v0)
//!  sample n:  dod = (tn - tn-1) - (tn-1 - tn-2)      | xor(vn, vn-1)
//!
//!  dod:  0                    '0'
//!        -8191 ..= 8192       '10'   + 14 bits  (two's complement)
//!        -65535 ..= 65536     '110'  + 17 bits
//!        -524287 ..= 524288   '1110' + 20 bits
//!        anything else        '1111' + 64 bits
//!
//!  xor:  x = bits(v) ^ bits(previous v)
//!        x == 0                       '0'
//!        x fits the current window    '10' + (64 - lead - trail) bits of x >> trail
//!        otherwise (new window)       '11' + lead (5 bits, clamped to 31)
//!                                          + sig = 64 - lead - trail (6 bits, 64 as 0)
//!                                          + sig bits of x >> trail
//! ```
//!
//! Timestamps use Go's wrapping `int64`/`uint64` arithmetic, so deltas near the ends
//! of the `i64` range encode exactly as Prometheus encodes them.
//!
//! ```
//! use cairn_chunk::{decode, XorChunk};
//!
//! let mut chunk = XorChunk::new();
//! chunk.append(1_000, 1.0);
//! chunk.append(16_000, 2.0);
//! let wire = chunk.bytes().to_vec(); // what Prometheus would have written
//! assert_eq!(decode(&wire)?.len(), 2);
//!
//! let mut reopened = XorChunk::from_bytes(wire)?; // and keep appending later
//! reopened.append(31_000, 3.0);
//! assert_eq!(reopened.iter().seek(20_000).map(|s| s.v), Some(3.0));
//! # Ok::<(), cairn_chunk::ChunkError>(())
//! ```

#![warn(missing_docs)]

mod bits;
mod error;
pub mod varint;
mod xor;

pub use error::ChunkError;
pub use xor::{decode, XorChunk, XorIter, MAX_SAMPLES};
