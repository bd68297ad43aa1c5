use std::collections::BTreeMap;
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
    /// Time range of the blocks cut from the head and shipped to the bucket; a
    /// multiple of `chunk_range`. Blocks cover `[k·range, (k+1)·range)`.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub block_range: Duration,
    /// How far the head's newest sample must be past the end of a block range before
    /// that range is cut (late samples for it are refused afterwards).
    #[serde(with = "cairn_model::duration::serde_str")]
    pub block_cut_grace: Duration,
    /// How often the shipper looks for ranges to cut, pending uploads and truncation.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub ship_interval: Duration,
    /// Wait after a failed upload before the next attempt; doubled on every failure.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub upload_backoff_initial: Duration,
    /// Longest wait between upload attempts.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub upload_backoff_max: Duration,
    /// How long the head keeps serving a block's data after the upload succeeded, so
    /// store gateways (which see new blocks on their next sync) can take over without
    /// a gap in query results. Longer than `store.sync_interval`.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub head_retention_after_ship: Duration,
    /// How long a shipped block stays in the local blocks directory (0: deleted once
    /// shipped and the head truncated).
    #[serde(with = "cairn_model::duration::serde_str")]
    pub keep_shipped_blocks: Duration,
    /// Labels written into every shipped block's `meta.json` (e.g. `replica`), telling
    /// where the data came from.
    pub external_labels: BTreeMap<String, String>,
    /// How long metric metadata (type, help, unit) a client sent is kept without being
    /// sent again. Prometheus re-sends it every minute by default.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub metadata_retain_period: Duration,
    /// Metric families per tenant whose metadata is kept; more are dropped and counted.
    pub max_metadata_per_tenant: usize,
    /// Who this ingester is on the ring (used when `ring.endpoints` is set, and in
    /// `cairn all`).
    pub lifecycle: LifecycleConfig,
}

/// The ingester's ring membership.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// Member id; tokens are tied to it, so a restarted ingester gets its series back.
    /// Empty: the host name.
    pub id: String,
    /// gRPC address receivers and queriers reach this ingester at. Empty: the gRPC
    /// listen address, with the host name in place of an unspecified IP.
    pub advertise_addr: String,
    /// Failure domain; replicas of a series go to distinct zones. Either every
    /// ingester has one or none has.
    pub zone: String,
    /// Ring tokens to own.
    pub tokens: u32,
    /// On SIGTERM, leave the ring (flush the head to the bucket first) instead of
    /// keeping the membership for a restart.
    pub leave_on_shutdown: bool,
    /// How long a graceful leave may spend uploading the flushed head before it gives
    /// up and stays in the ring as LEAVING.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub flush_timeout: Duration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            id: String::new(),
            advertise_addr: String::new(),
            zone: String::new(),
            tokens: 128,
            leave_on_shutdown: false,
            flush_timeout: Duration::from_secs(600),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            wal_fsync: WalFsync::Interval,
            wal_fsync_interval: Duration::from_secs(1),
            wal_segment_bytes: 128 << 20,
            chunk_range: Duration::from_secs(2 * 3600),
            block_range: Duration::from_secs(2 * 3600),
            block_cut_grace: Duration::from_secs(3600),
            ship_interval: Duration::from_secs(60),
            upload_backoff_initial: Duration::from_secs(1),
            upload_backoff_max: Duration::from_secs(300),
            head_retention_after_ship: Duration::from_secs(5 * 60),
            keep_shipped_blocks: Duration::ZERO,
            external_labels: BTreeMap::new(),
            metadata_retain_period: Duration::from_secs(10 * 60),
            max_metadata_per_tenant: 10_000,
            lifecycle: LifecycleConfig::default(),
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
        let (block, chunk) = (self.block_range.as_millis(), self.chunk_range.as_millis());
        if block < chunk || block % chunk != 0 {
            return Err("ingest.block_range must be a multiple of ingest.chunk_range".into());
        }
        if self.ship_interval.is_zero() {
            return Err("ingest.ship_interval must be greater than 0".into());
        }
        if self.upload_backoff_initial.is_zero()
            || self.upload_backoff_max < self.upload_backoff_initial
        {
            return Err("ingest.upload_backoff_initial must be greater than 0 and at most ingest.upload_backoff_max".into());
        }
        if self.metadata_retain_period.is_zero() {
            return Err("ingest.metadata_retain_period must be greater than 0".into());
        }
        if self.lifecycle.tokens == 0 || self.lifecycle.tokens > 4096 {
            return Err("ingest.lifecycle.tokens must be between 1 and 4096".into());
        }
        if self.lifecycle.flush_timeout.is_zero() {
            return Err("ingest.lifecycle.flush_timeout must be greater than 0".into());
        }
        for (name, value) in &self.external_labels {
            if !cairn_model::validate::is_valid_label_name(name)
                || name.starts_with("__")
                || value.is_empty()
            {
                return Err(format!(
                    "ingest.external_labels: invalid label {name:?}={value:?} (names match [a-zA-Z_][a-zA-Z0-9_]*, not starting with __; values not empty)"
                ));
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipping_settings_are_validated() {
        IngestConfig::default().validate().unwrap();
        let bad = |c: IngestConfig, field: &str| {
            let err = c.validate().unwrap_err();
            assert!(err.contains(field), "{err}");
        };
        bad(
            IngestConfig {
                block_range: Duration::from_secs(3 * 3600),
                ..IngestConfig::default()
            },
            "block_range",
        );
        bad(
            IngestConfig {
                upload_backoff_max: Duration::from_millis(10),
                ..IngestConfig::default()
            },
            "upload_backoff",
        );
        bad(
            IngestConfig {
                external_labels: BTreeMap::from([("__replica".into(), "a".into())]),
                ..IngestConfig::default()
            },
            "external_labels",
        );
        bad(
            IngestConfig {
                ship_interval: Duration::ZERO,
                ..IngestConfig::default()
            },
            "ship_interval",
        );
    }
}
