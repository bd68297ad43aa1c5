//! Prometheus's chunk encodings, byte for byte: the XOR ("Gorilla") chunk for float
//! samples and the native-histogram chunks.
//!
//! The bytes are exactly those of Prometheus's `tsdb/chunkenc` (Prometheus 3.0 and
//! later), so chunks we write can be read by Prometheus, Thanos or anything else that
//! speaks remote-read / StoreAPI chunks, and theirs by us:
//!
//! | encoding         | Prometheus          | StoreAPI `Chunk.Encoding` | here                          |
//! |------------------|---------------------|---------------------------|-------------------------------|
//! | XOR              | `EncXOR`            | `XOR = 0`                 | [`XorChunk`], [`decode`]      |
//! | integer histogram| `EncHistogram`      | `HISTOGRAM = 1`           | [`decode_histograms`] (read)  |
//! | float histogram  | `EncFloatHistogram` | `FLOAT_HISTOGRAM = 2`     | [`FloatHistogramChunk`], [`decode_float_histograms`] |
//!
//! Decoders never panic: corrupt or truncated bytes give a [`ChunkError`] saying what
//! is wrong and at which bit. Every NaN, the stale marker included, keeps its exact
//! bits.
//!
//! ```text
//!  append(t, v) --> XorChunk --bytes()--> disk / wire --> Prometheus, Thanos, decode()
//!  wire bytes --> decode() / XorIter --> Sample { t, v }
//!  stored bytes --> XorChunk::from_bytes() --> append() continues the same stream
//!
//!  append_or_cut(t, h) --> FloatHistogramChunk --bytes()--> disk / wire
//!       | (a new chunk when h's layout, gauge-ness or a counter reset needs one)
//!       v
//!  FloatHistogramChunk (next)
//!  float histogram bytes --> decode_float_histograms() / HistogramIter::float()
//!  integer histogram bytes (Thanos) --> decode_histograms() / HistogramIter::integer()
//!                                                    --> (t, FloatHistogram)
//! ```
//!
//! # XOR chunk
//!
//! A chunk packs up to 65535 [`Sample`](cairn_model::Sample)s of one series into a
//! bit stream: timestamps as delta-of-deltas, values as the XOR with the previous
//! value (`xor.go`, `bstream.go`).
//!
//! ```text
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
//!
//! # Native-histogram chunks
//!
//! Both histogram encodings share a header and a bucket layout that the first sample
//! fixes for the whole chunk (`float_histogram.go`, `histogram.go`,
//! `histogram_meta.go`, `varbit.go`):
//!
//! ```text
//!  byte 0-1   sample count (u16 big-endian)
//!  byte 2     counter-reset header, top two bits: 00 unknown, 10 counter reset,
//!             01 not a counter reset, 11 gauge histogram
//!  layout     zero threshold (1 or 9 bytes), schema varbit_int, positive and
//!             negative spans (varbit_uint count, then length varbit_uint and offset
//!             varbit_int each), custom bounds for schema -53 (varbit_uint count, then
//!             varbit_uint(bound * 1000 + 1) or a 0 bit and 64 raw bits each)
//!
//!             float histogram chunk              integer histogram chunk
//!  sample 0   t varbit_int; count, zero count,   t varbit_int; count, zero count
//!             sum and each bucket: 64 raw bits   varbit_uint; sum 64 raw bits; each
//!                                                bucket (delta to the previous one)
//!                                                varbit_int
//!  sample n   t delta-of-delta varbit_int;       t, count, zero count and each bucket:
//!             count, zero count, sum and each    delta-of-delta varbit_int; sum XOR
//!             bucket XOR with its previous
//!             value (own window per field)
//!
//!  varbit:    '0' = 0, then prefixes 10, 110, ... 11111110 for 3, 6, 9, 12, 18, 25,
//!             56 value bits (signed: -(2^(n-1) - 1) ..= 2^(n-1)), 11111111 for 64
//! ```
//!
//! A stale marker is written with nothing but its count, zero count and sum; after one,
//! a chunk takes only stale markers. The writer never recodes a chunk to add buckets:
//! a histogram whose layout differs, a counter reset or a switch between gauge and
//! counter histograms starts a new chunk, with the counter-reset header Prometheus
//! would give it. Decoded samples carry the hints Prometheus's iterators give them.
//!
//! ```
//! use cairn_chunk::{decode_float_histograms, FloatHistogramChunk};
//! use cairn_model::histogram::{CounterResetHint, Span};
//! use cairn_model::FloatHistogram;
//!
//! let h = |n: f64| FloatHistogram {
//!     schema: 0,
//!     count: 3.0 * n,
//!     sum: 4.5 * n,
//!     positive_spans: vec![Span { offset: 0, length: 2 }],
//!     positive_buckets: vec![n, 2.0 * n],
//!     ..FloatHistogram::default()
//! };
//! let mut chunk = FloatHistogramChunk::new();
//! assert!(chunk.append(1_000, &h(1.0)));
//! assert!(chunk.append(16_000, &h(2.0)));
//! // The counts went down: a counter reset, so the sample starts the next chunk.
//! let next = chunk.append_or_cut(31_000, &h(0.5)).expect("a new chunk");
//! assert_eq!(next.counter_reset_header(), CounterResetHint::CounterReset);
//!
//! let decoded = decode_float_histograms(chunk.bytes())?;
//! assert_eq!(decoded[1].0, 16_000);
//! assert_eq!(decoded[1].1.positive_buckets, [2.0, 4.0]);
//! assert_eq!(decoded[1].1.counter_reset_hint, CounterResetHint::NotCounterReset);
//! # Ok::<(), cairn_chunk::ChunkError>(())
//! ```

#![warn(missing_docs)]

mod bits;
mod encoding;
mod error;
mod histogram;
pub mod varint;
mod xor;

pub use encoding::{
    decode_chunk, encode_samples, ChunkSample, ChunkWriter, DecodedChunk, EncodedChunk, Encoding,
};
pub use error::ChunkError;
pub use histogram::{
    decode_float_histograms, decode_histograms, FloatHistogramChunk, HistogramIter,
};
pub use xor::{decode, XorChunk, XorIter, MAX_SAMPLES};
