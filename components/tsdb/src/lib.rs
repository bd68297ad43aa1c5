//! The ingester's storage: a per-tenant in-memory head backed by a write-ahead log.
//!
//! Every tenant gets a [`Head`]: a map of series (labels → reference), each series
//! holding Prometheus-compatible XOR chunks (closed ones plus one open chunk being
//! appended; a chunk is cut after 120 samples or at a 2h-aligned boundary), and an
//! inverted index (postings: label name → value → sorted series references) that
//! answers matcher queries. Before an append returns, its new series and accepted
//! samples are in the tenant's WAL; on open, the WAL is replayed to rebuild the head.
//! [`Tsdb`] holds the heads of all tenants under one directory.
//!
//! ```text
//!  Tsdb::append(tenant, [(Labels, [Sample])])
//!        │  (tenant's head, created lazily: <dir>/<tenant>/wal/)
//!        ▼
//!  Head::append ── validate: t > series' last t ──▶ rejected → AppendReport
//!        │            (same t + same value = accepted no-op)
//!        ▼
//!  WAL  ◀── series record (new refs) + samples record ── fsync per FsyncPolicy
//!        │
//!        ▼  (only after the WAL write succeeded)
//!  head: series map ─▶ MemSeries ─▶ [closed XorChunk…] + open XorChunk
//!        postings: name → value → [ref…]  (new series only)
//!
//!  Tsdb::open / Head::open
//!  WAL segments 00000000, 00000001, … ── replay (repair torn/corrupt tail) ──▶ head
//!
//!  Head::select(matchers, mint, maxt)
//!  postings ∩ / ∖ per matcher ─▶ series (sorted by labels) ─▶ chunks overlapping range
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
//! ```
//!
//! See [`wal`] for segment rollover, fsync policies and how damage is repaired.
//!
//! # Not yet
//!
//! No checkpoints (so [`Head::truncate_wal_before`] loses series records), no
//! compaction of the head into blocks, no out-of-order window, no series garbage
//! collection while running, no limits.

mod error;
mod head;
mod tsdb;
pub mod wal;

pub use error::{Error, Result};
pub use head::{
    AppendReport, ChunkData, Head, HeadOptions, HeadStats, RejectReason, RejectedSample, Rejection,
    ReplayStats, SeriesChunks, DEFAULT_CHUNK_RANGE_MS, DEFAULT_SAMPLES_PER_CHUNK,
    MAX_REJECTION_EXAMPLES,
};
pub use tsdb::{Tsdb, TsdbOptions};
pub use wal::{FsyncPolicy, WalOptions};
