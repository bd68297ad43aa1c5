//! The compactor (`cairn compact`): keeps a bucket of blocks compact, downsampled,
//! within retention and free of garbage, without ever making data disappear for a
//! reader or from the bucket.
//!
//! ```text
//!  every interval (or --once), per tenant (up to `concurrency` at once):
//!   loop:  list_blocks ─▶ plan (pure) ─▶ first non-empty step, then list again
//!            covered      blocks whose sources a newer block holds (a compaction died
//!                         after uploading): check the newer block, mark the old ones
//!            compactions  per group (resolution, external labels minus replica labels):
//!                         overlapping raw blocks → vertical merge + replica dedup,
//!                         else Prometheus level selection over 2h → 8h → 2d → 14d;
//!                         read + check inputs ─▶ merge series ─▶ write_block (scratch)
//!                         ─▶ upload (parquet, meta.json last) ─▶ mark inputs deleted
//!            downsamples  raw older than 40h → 5m, 5m older than 10d → 1h (new blocks,
//!                         sources kept; Thanos aggregates count/sum/min/max/counter)
//!            expired      past the resolution's retention → deletion mark
//!   then:  directories without meta.json: removed (at once if deletion-marked, else
//!          after partial_upload_delay) ─▶ marked blocks older than delete_delay deleted
//!          (meta.json first, deletion mark last)
//!   overlaps the planner cannot merge, or a damaged block ─▶ halt the tenant: log,
//!   cairn_compactor_halted{tenant,reason}=1, nothing of it deleted
//! ```
//!
//! [`tools`] holds what `cairn tools bucket ls|inspect|verify` computes.

mod check;
mod compactor;
mod config;
pub mod downsample;
mod error;
pub mod merge;
mod metrics;
pub mod plan;
pub mod tools;

pub use check::{check_series, read_and_check, CheckedBlock};
pub use compactor::{Clock, Compactor, RunReport};
pub use config::CompactConfig;
pub use error::CompactError;
pub use metrics::CompactMetrics;

#[cfg(test)]
mod tests;
