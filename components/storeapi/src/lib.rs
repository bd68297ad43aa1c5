//! Glue between Cairn's data sources and the Thanos StoreAPI.
//!
//! ```text
//!  server side                                   client side (querier)
//!  ───────────                                   ─────────────────────
//!  StoreBackend (ingester head, store gateway)   StoreClient ×N ──Series──▶ Vec<RawSeries> per store
//!      │ series()/label_names()/label_values()        │
//!      ▼                                              ▼
//!  StoreService ── thanos.Store / thanos.info.Info   merge_sorted(): k-way merge by labels,
//!      │  tenant from `thanos-tenant` metadata        chunks of equal label sets combined
//!      ▼  drops without_replica_labels, re-sorts      │
//!  stream of whole series, sorted by labels           ▼ querier decodes chunks → PromQL
//! ```
//!
//! The backend trait deliberately speaks model types ([`Labels`], [`Matcher`]); the
//! protobuf types stay at the edges ([`convert`]).

mod client;
pub mod convert;
mod error;
mod merge;
mod server;

pub use client::{MetricMetadataMap, StoreClient};
pub use convert::{chunk_from_proto, chunk_to_proto};
pub use error::StoreApiError;
pub use merge::{merge_sorted, sort_and_dedup_chunks, sorted_union};
pub use server::{StoreBackend, StoreService, TENANT_METADATA_KEY};

use cairn_chunk::Encoding;
use cairn_model::{Labels, Matcher};

/// A series selection: matchers plus an inclusive millisecond time range.
#[derive(Debug, Clone)]
pub struct SeriesQuery {
    /// Every matcher must match.
    pub matchers: Vec<Matcher>,
    /// Inclusive start, milliseconds.
    pub min_time: i64,
    /// Inclusive end, milliseconds.
    pub max_time: i64,
    /// Only labels are needed (e.g. `/api/v1/series`).
    pub skip_chunks: bool,
    /// Coarsest downsampling resolution (ms) the caller accepts; 0 means raw data only.
    pub max_resolution_ms: i64,
    /// Aggregates the caller reads from downsampled chunks; empty means all of them.
    pub aggregates: Vec<Aggregate>,
}

impl SeriesQuery {
    /// Raw data of the series matching `matchers` in `[min_time, max_time]`.
    pub fn new(matchers: Vec<Matcher>, min_time: i64, max_time: i64) -> Self {
        Self {
            matchers,
            min_time,
            max_time,
            skip_chunks: false,
            max_resolution_ms: 0,
            aggregates: Vec::new(),
        }
    }
}

/// An aggregate of a downsampled chunk (Thanos's `storepb.Aggr`, without `RAW`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregate {
    /// Raw samples per window.
    Count,
    /// Sum of the raw samples per window.
    Sum,
    /// Smallest raw sample per window.
    Min,
    /// Largest raw sample per window.
    Max,
    /// Counter value with resets removed, for `rate` and friends.
    Counter,
}

impl Aggregate {
    /// Every aggregate in storage order.
    pub const ALL: [Aggregate; 5] = [Self::Count, Self::Sum, Self::Min, Self::Max, Self::Counter];
}

/// The aggregate XOR chunks of one downsampled chunk (one point per window each),
/// indexed like [`Aggregate::ALL`]; `None` when the store did not send that aggregate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawAggregates(pub [Option<Vec<u8>>; 5]);

impl RawAggregates {
    /// The XOR bytes of one aggregate.
    pub fn get(&self, a: Aggregate) -> Option<&[u8]> {
        self.0[a as usize].as_deref()
    }

    /// Sets one aggregate.
    pub fn set(&mut self, a: Aggregate, data: Vec<u8>) {
        self.0[a as usize] = Some(data);
    }

    /// Drops every aggregate not in `keep` (all are kept when `keep` is empty).
    pub fn retain(&mut self, keep: &[Aggregate]) {
        if keep.is_empty() {
            return;
        }
        for a in Aggregate::ALL {
            if !keep.contains(&a) {
                self.0[a as usize] = None;
            }
        }
    }
}

/// One encoded chunk of a series as stored and shipped.
#[derive(Debug, Clone, PartialEq)]
pub struct RawChunk {
    /// First sample timestamp in the chunk.
    pub min_time: i64,
    /// Last sample timestamp in the chunk.
    pub max_time: i64,
    /// What `data` holds: XOR for floats, a histogram encoding for native histograms
    /// (`Xor` for a downsampled chunk, whose aggregates are XOR chunks).
    pub encoding: Encoding,
    /// Prometheus chunk bytes (2-byte count header + bit stream); empty for a
    /// downsampled chunk.
    pub data: Vec<u8>,
    /// The aggregates of a downsampled chunk; `None` for raw samples.
    pub aggregates: Option<Box<RawAggregates>>,
}

impl RawChunk {
    /// A chunk of raw float samples.
    pub fn xor(min_time: i64, max_time: i64, data: Vec<u8>) -> Self {
        Self::raw(Encoding::Xor, min_time, max_time, data)
    }

    /// A chunk of raw samples in `encoding`.
    pub fn raw(encoding: Encoding, min_time: i64, max_time: i64, data: Vec<u8>) -> Self {
        Self {
            min_time,
            max_time,
            encoding,
            data,
            aggregates: None,
        }
    }

    /// A downsampled chunk.
    pub fn downsampled(min_time: i64, max_time: i64, aggregates: RawAggregates) -> Self {
        Self {
            min_time,
            max_time,
            encoding: Encoding::Xor,
            data: Vec::new(),
            aggregates: Some(Box::new(aggregates)),
        }
    }

    /// Whether the chunk holds downsampled aggregates instead of raw samples.
    pub fn is_downsampled(&self) -> bool {
        self.aggregates.is_some()
    }
}

/// A series with its raw chunks, as returned by a backend or a remote store.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSeries {
    /// The series identity.
    pub labels: Labels,
    /// Chunks sorted by `min_time`; may extend past the requested range.
    pub chunks: Vec<RawChunk>,
}

/// What a store says about itself through the Info API.
#[derive(Debug, Clone)]
pub struct StoreInfo {
    /// Thanos component type, e.g. `receive` or `store`.
    pub component_type: &'static str,
    /// Oldest sample timestamp held (ms), `i64::MAX` when empty.
    pub min_time: i64,
    /// Newest sample timestamp held (ms), `i64::MIN` when empty.
    pub max_time: i64,
    /// External labels identifying the store's data.
    pub label_sets: Vec<Labels>,
}
