//! The ingester's storage: a per-tenant in-memory head backed by a write-ahead log.
//!
//! Every tenant gets a [`Head`]: a map of series (labels → reference), each series
//! holding Prometheus-compatible chunks — XOR for floats, float histogram chunks for
//! native histograms (closed ones plus one open chunk being appended; a chunk is cut
//! after 120 samples or at a 2h-aligned boundary, a histogram chunk also at 1 KiB and
//! where its bucket layout or counter-reset state changes) — and an
//! inverted index (postings: label name → value → sorted series references) that
//! answers matcher queries. Before an append returns, its new series and accepted
//! samples are in the tenant's WAL; on open, the WAL is replayed to rebuild the head.
//! [`Tsdb`] holds the heads of all tenants under one directory.
//!
//! ```text
//!  Tsdb::append(tenant, [(labels, [Sample], [HistogramSample])])
//!        │  (tenant's head, created lazily: <dir>/<tenant>/wal/)
//!        ▼
//!  Head::append ── validate: t > series' last t ──▶ rejected → AppendReport
//!        │            (same t + same value = accepted no-op)
//!        ▼
//!  WAL  ◀── series record (new refs) + samples record ── fsync per FsyncPolicy
//!        │
//!        ▼  (only after the WAL write succeeded)
//!  head: series map ─▶ MemSeries ─▶ [closed chunks…] + open chunk (XOR | float histogram)
//!        postings: name → value → [ref…]  (new series only)
//!
//!  Tsdb::open / Head::open
//!  WAL segments 00000000, 00000001, … ── replay (repair torn/corrupt tail) ──▶ head
//!
//!  Head::select(matchers, mint, maxt)
//!  postings ∩ / ∖ per matcher ─▶ series (sorted by labels) ─▶ chunks overlapping range
//!
//!  Head::cut_block(mint, maxt)   (the ingester's shipper, per block range)
//!  min valid time := maxt ─▶ series sorted by labels with chunks in [mint, maxt)
//!        (data stays in the head and queryable until truncated)
//!  Head::truncate(t)             (once the block is shipped)
//!  persist `truncated_before` ─▶ drop chunks < t, remove empty series
//!        ─▶ close WAL segment ─▶ checkpoint.N (live series + samples ≥ t) ─▶ delete ≤ N
//!
//!  replay: checkpoint.N, then segments > N; samples < truncated_before skipped
//! ```
//!
//! # WAL record format
//!
//! Segments are plain sequences of frames `len:u32 LE | crc:u32 LE | payload`, the
//! CRC32-Castagnoli covering the length bytes and the payload. Payloads are a type
//! byte followed by varint-encoded bodies:
//!
//! ```text
//! series  (1): count { ref:uvarint nlabels:uvarint { name:len+bytes value:len+bytes } }
//! samples (2): count { Δref:zigzag varint  Δt:zigzag varint  v:f64 bits u64 LE }
//! histograms (3): count { Δref:zigzag varint  hint:u8  len:uvarint  chunk bytes }
//!               (hint 0 unknown, 1 reset, 2 no reset, 3 gauge; each chunk a one-sample
//!                Prometheus float histogram chunk: t and the histogram)
//! ```
//!
//! See [`wal`] for segment rollover, fsync policies and how damage is repaired.
//!
//! # Not yet
//!
//! No out-of-order window (a series only accepts samples newer than its last one, and
//! nothing older than the head's minimum valid time), no series garbage collection
//! except through [`Head::truncate`], no limits.

mod error;
mod head;
mod tsdb;
pub mod wal;

pub use error::{Error, Result};
pub use head::{
    AppendReport, AppendSeries, ChunkData, Head, HeadOptions, HeadStats, RejectReason,
    RejectedSample, Rejection, ReplayStats, SeriesChunks, TruncateStats, DEFAULT_CHUNK_RANGE_MS,
    DEFAULT_SAMPLES_PER_CHUNK, MAX_REJECTION_EXAMPLES,
};
pub use tsdb::{Tsdb, TsdbOptions};
pub use wal::{CheckpointStats, FsyncPolicy, WalOptions};
