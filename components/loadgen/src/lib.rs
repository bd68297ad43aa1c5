//! `cairn-loadgen`: an Avalanche-style load generator for benchmarking Cairn (or anything
//! else that speaks Prometheus remote write 1.0 and the Prometheus query API).
//!
//! * `cairn-loadgen write` (the default when no subcommand is given): keeps `--series`
//!   synthetic active series — counters, gauges and classic histograms (`_bucket{le}`,
//!   `_sum`, `_count` with consistent values) over `--metrics` names, each with
//!   `--labels` extra labels of `--label-values` distinct values — sends one sample per
//!   series per round as real remote write 1.0 requests (snappy-compressed protobuf
//!   `WriteRequest`s with the standard headers, tenant, basic auth or bearer token),
//!   optionally replaces a fraction of them every `--churn-every`, and reports
//!   throughput, request latency and errors. See [`series`](crate::Catalog) for the
//!   label layout.
//! * `cairn-loadgen query`: dashboard-like range queries over the same metric names (or
//!   from a file) against `/api/v1/query_range`, at a concurrency and rate, reporting
//!   latency percentiles and errors; see [`query`].
//!
//! ```text
//!              ┌──────────── Catalog (label sets, pre-encoded) ────────────┐
//!              ▼                          ▼                                ▼
//!   Shard 0 (ids 0..a)         Shard 1 (ids a..b)           …      Shard C-1
//!   values, timestamps,        churn (cycle_id++)      (whole batches per shard)
//!              │  batches of ≤ --batch-size samples, whole histograms, one sample each
//!              ▼
//!   encode ─▶ snappy ─▶ POST --url ──▶ 2xx? ─▶ Stats ─▶ progress (stderr, every 5 s)
//!   (one worker per shard, next batch only after the previous one is answered)
//!                                                  └─▶ Summary (stdout, text or --json)
//! ```
//!
//! Time:
//!
//! * `--interval D` (D > 0): every D each worker sends all of its series once, stamped
//!   with the current time; a series' timestamps always grow by at least 1 ms.
//! * `--interval 0` (flood): rounds go back to back, as fast as the server acknowledges
//!   them (or `--max-rate` allows). Real-time stamps would make every round collide in
//!   the same millisecond, so flood mode uses synthetic time instead: the first round is
//!   stamped now − 50 min and each round adds `--flood-step` (1 s). That keeps the data
//!   inside both targets' accepted windows: Cairn takes samples up to 1 day old and up
//!   to now + 10 min; Prometheus 2.42 takes samples no older than its newest sample
//!   minus 1 h. Once synthetic time would pass now + 5 min a round is stamped at most
//!   that, advancing 1 ms per round from there (and the worker waits, counted as
//!   `clock_waits`, if even that would pass the cap). Per-series timestamps therefore
//!   strictly increase for the whole run and no sample is ever out of order or a
//!   duplicate. `--rounds N` stops after exactly N rounds, so two targets can be sent
//!   identical data (e.g. `--flood-step 30s --rounds 100` = 50 minutes of 30 s scrapes).
//!
//! Failed requests are not retried (their samples count as failed); after a transport
//! error or a 5xx a worker pauses 100 ms.

mod args;
pub mod backfill;
mod client;
mod encode;
mod pace;
pub mod query;
mod run;
mod series;
mod stats;
#[cfg(test)]
mod test_http;

pub use args::{
    parse_duration, Auth, AuthArgs, BasicAuth, Cli, Command, Counts, Durations, Kind, QueryArgs,
    ShapeArgs, WriteArgs,
};
pub use client::{Outcome, Sender, TENANT_HEADER, VERSION_HEADER};
pub use encode::{decode, Compressor};
pub use query::{run_queries, QueryResult, QuerySummary};
pub use run::run;
pub use series::{
    bucket_bounds, Batch, Catalog, ChurnPlan, Clock, MetricType, Plan, Shard, ShardPlan,
    FLOOD_MAX_AHEAD_MS, FLOOD_START_BEHIND_MS, FLOOD_STEP_MS,
};
pub use stats::{ErrorClass, ErrorCounts, Latency, Settings, Stats, Summary};
/// Everything that can stop a run before it starts or break a request's encoding.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag value is unusable; the message names the flag.
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
    /// Snappy compression or decompression failed.
    #[error("snappy: {0}")]
    Snappy(#[from] snap::Error),
    /// A body did not decode as a `WriteRequest`.
    #[error("protobuf: {0}")]
    Decode(#[from] prost::DecodeError),
    /// A backfill request was not acknowledged.
    #[error("write failed: {0}")]
    Write(String),
}
