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

pub use client::StoreClient;
pub use error::StoreApiError;
pub use merge::merge_sorted;
pub use server::{StoreBackend, StoreService, TENANT_METADATA_KEY};

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
}

/// One encoded chunk of a series as stored and shipped.
#[derive(Debug, Clone, PartialEq)]
pub struct RawChunk {
    /// First sample timestamp in the chunk.
    pub min_time: i64,
    /// Last sample timestamp in the chunk.
    pub max_time: i64,
    /// Prometheus XOR chunk bytes (2-byte count header + bit stream).
    pub data: Vec<u8>,
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
