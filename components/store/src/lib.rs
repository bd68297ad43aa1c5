//! The store gateway (`cairn store`): serves the blocks in object storage over the
//! StoreAPI.
//!
//! ```text
//!  bucket  <tenant>/<ulid>/{meta.json, block.parquet, deletion-mark.json}
//!     │ every sync_interval: list, fetch meta.json of new blocks only,
//!     │ drop (and evict) blocks that disappeared
//!     ▼
//!  BlockStore: tenant ─▶ BlockSet (blocks grouped by resolution; blocks whose
//!     │                  sources another block holds are hidden)
//!     │                  one BlockReader per block = its meta only
//!     │ Series(tenant, matchers, range, max_resolution)
//!     ▼
//!  for_range(): coarsest resolution ≤ max where it has blocks, gaps from finer ones
//!     │
//!     ▼  ≤ max_concurrent_block_reads at once, over all requests
//!  BlockReader::series ── byte ranges ──▶ BlockCaches (bounded LRU: footers, pages)
//!     │                                      │ miss
//!     ▼                                      ▼ bucket.get_range
//!  merge_sorted: one series per label set, chunks sorted, exact duplicates dropped
//!     ▼
//!  StoreService (cairn-storeapi) ── gRPC thanos.Store / thanos.info.Info ──▶ querier
//! ```
//!
//! Memory holds every block's `meta.json` and nothing else per block: Parquet footers
//! and pages only live in the caches, whose sizes are configured.

mod blockset;
mod config;
mod error;
mod metrics;

use metrics::StoreMetrics;
mod store;

pub use config::StoreConfig;
pub use error::StoreError;
pub use store::{BlockStore, SyncReport};

#[cfg(test)]
mod tests;
