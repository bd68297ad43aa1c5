//! The querier: Prometheus's HTTP query API over every configured StoreAPI.
//!
//! ```text
//!  Grafana / curl ──GET|POST /api/v1/query, /query_range, /series, /labels, /label/<n>/values
//!        │ tenant from headers (same rules as the receiver)
//!        ▼
//!  api::* handlers ── parse params (RFC 3339 or unix seconds; durations or float seconds)
//!        │
//!        ▼
//!  cairn_promql::Engine ──Storage::select──▶ FanoutStorage
//!                                              │ StoreSet: only stores whose Info range overlaps
//!                                              │ StoreClient::series in parallel, with max_source_resolution
//!                                              │ and the aggregates the function needs (SelectHints.func)
//!                                              │ (a failed store → warning, or error without partial response)
//!                                              ▼
//!                                 merge_sorted (k-way by labels) → decode::decode_series:
//!                                 XOR chunks and downsampled aggregates → one sample per
//!                                 timestamp (head + just-uploaded block not double counted)
//!                                              │ dedup (unless dedup=false): series differing
//!                                              │ only in replica labels → one series without
//!                                              │ them, penalty merge (cairn_dedup), counters
//!                                              │ adjusted at switches for rate/increase/…
//!        ▼
//!  Prometheus JSON: {"status":"success","data":{"resultType":…,"result":…},"warnings":[…]}
//! ```

mod api;
mod config;
mod decode;
mod dedup;
mod endpoints;
mod error;
mod fanout;
mod metrics;

pub use api::{not_found, router, Querier};
pub use config::QueryConfig;
pub use dedup::ReplicaLabels;
pub use endpoints::StoreSet;
pub use error::QueryApiError;
pub use fanout::FanoutStorage;

#[cfg(test)]
mod tests;
