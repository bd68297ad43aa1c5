use std::time::Duration;

use cairn_tsdb::{FsyncPolicy, HeadOptions, TsdbOptions, WalOptions};
use serde::{Deserialize, Serialize};

/// When the WAL is fsynced. Every acknowledged sample is written to the OS before the
/// acknowledgement in all modes, so a killed process loses nothing; the mode decides
/// what a power loss can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WalFsync {
    /// Fsync before every acknowledgement.
    Always,
    /// Fsync every `wal_fsync_interval`.
    #[default]
    Interval,
    /// Leave write-back to the OS.
    Never,
}

/// Ingester settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// WAL fsync policy.
    pub wal_fsync: WalFsync,
    /// Fsync period for `wal_fsync: interval`.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub wal_fsync_interval: Duration,
    /// A new WAL segment starts once one reaches this size, in bytes.
    pub wal_segment_bytes: u64,
    /// Longest time span of one head chunk (chunks are also cut at 120 samples).
    #[serde(with = "cairn_model::duration::serde_str")]
    pub chunk_range: Duration,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            wal_fsync: WalFsync::Interval,
            wal_fsync_interval: Duration::from_secs(1),
            wal_segment_bytes: 128 << 20,
            chunk_range: Duration::from_secs(2 * 3600),
        }
    }
}

impl IngestConfig {
    /// Checks the values make sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.wal_fsync == WalFsync::Interval && self.wal_fsync_interval.is_zero() {
            return Err(
                "ingest.wal_fsync_interval must be greater than 0 with wal_fsync: interval".into(),
            );
        }
        if self.wal_segment_bytes < 1 << 20 {
            return Err("ingest.wal_segment_bytes must be at least 1MiB".into());
        }
        if self.chunk_range < Duration::from_secs(60) {
            return Err("ingest.chunk_range must be at least 1m".into());
        }
        Ok(())
    }

    pub(crate) fn tsdb_options(&self) -> TsdbOptions {
        TsdbOptions {
            head: HeadOptions {
                chunk_range_ms: self.chunk_range.as_millis() as i64,
                wal: WalOptions {
                    segment_size: self.wal_segment_bytes,
                    fsync: match self.wal_fsync {
                        WalFsync::Always => FsyncPolicy::Always,
                        WalFsync::Interval => FsyncPolicy::Interval(self.wal_fsync_interval),
                        WalFsync::Never => FsyncPolicy::Never,
                    },
                },
                ..HeadOptions::default()
            },
        }
    }
}
