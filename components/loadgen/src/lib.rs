//! `cairn-loadgen`: an Avalanche-style remote-write load generator for benchmarking the
//! ingest path of Cairn (or of anything else that speaks Prometheus remote write 1.0).
//!
//! It keeps `--series` synthetic series (spread over `--metrics` names, each with
//! `--labels` extra labels), sends one sample per series per round as real remote
//! write 1.0 requests (snappy-compressed protobuf `WriteRequest`s with the standard
//! headers), and reports throughput, request latency and errors.
//!
//! ```text
//!              ┌──────────── Catalog (label sets, pre-encoded) ────────────┐
//!              ▼                          ▼                                ▼
//!   Shard 0 (ids 0..a)         Shard 1 (ids a..b)           …      Shard C-1
//!   values, timestamps,        churn (cycle_id++)      (whole batches per shard)
//!              │  batches of --batch-size series, one sample each
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
//!   stamped now − 50 min and each round adds 1 s. That keeps the data inside both
//!   targets' accepted windows: Cairn takes samples up to 1 day old and up to now + 10
//!   min; Prometheus 2.42 takes samples no older than its newest sample minus 1 h. At
//!   about 1 000 rounds per minute of synthetic time the clock would pass real time,
//!   so a round is never stamped later than now + 5 min: from there on it advances 1 ms
//!   per round (and the worker waits, counted as `clock_waits`, if even that would pass
//!   the cap). Per-series timestamps therefore strictly increase for the whole run and
//!   no sample is ever out of order or a duplicate.
//!
//! Failed requests are not retried (their samples count as failed); after a transport
//! error or a 5xx a worker pauses 100 ms.

mod args;
pub mod backfill;
mod client;
mod encode;
mod run;
mod series;
mod stats;

pub use args::{parse_duration, Args, BasicAuth, Kind};
pub use client::{Outcome, Sender, TENANT_HEADER, VERSION_HEADER};
pub use encode::{decode, Compressor};
pub use run::run;
pub use series::{
    split, Catalog, ChurnPlan, Clock, Shard, FLOOD_MAX_AHEAD_MS, FLOOD_START_BEHIND_MS,
    FLOOD_STEP_MS,
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
