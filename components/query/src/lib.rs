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
//!                                              │ StoreClient::series on every store, in parallel
//!                                              │ (a failed store → warning, or error without partial response)
//!                                              ▼
//!                                 merge_sorted (k-way by labels) → decode XOR chunks
//!                                 → merge samples of equal series (drop duplicate timestamps)
//!        ▼
//!  Prometheus JSON: {"status":"success","data":{"resultType":…,"result":…},"warnings":[…]}
//! ```

mod api;
mod config;
mod error;
mod fanout;
mod metrics;

pub use api::{not_found, router, Querier};
pub use config::QueryConfig;
pub use error::QueryApiError;
pub use fanout::FanoutStorage;
