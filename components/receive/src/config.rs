use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Receiver settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiveConfig {
    /// Largest accepted request body (compressed), in bytes. Larger bodies get 413.
    pub max_request_bytes: usize,
    /// Largest accepted body after snappy decompression, in bytes (413 beyond).
    pub max_decompressed_bytes: usize,
    /// Samples older than now minus this are refused ("too old"). `0s` disables.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub max_sample_age: Duration,
    /// Samples newer than now plus this are refused ("too far in the future").
    #[serde(with = "cairn_model::duration::serde_str")]
    pub max_future_skew: Duration,
    /// The ingesters of the static ring, each `[id=]address[@zone]` (id defaults to the
    /// address; either every ingester has a zone or none has). Empty in `cairn all`
    /// means the process's own gRPC address.
    pub ingesters: Vec<String>,
    /// How many ingesters each series is written to; a write is acknowledged once
    /// `replication_factor/2+1` of them stored it. Clamped to the number of ingesters
    /// (so `cairn all` with its one ingester writes once).
    pub replication_factor: usize,
    /// Ingesters whose ring heartbeat is older than this take no writes. Applies to
    /// heartbeat-tracked rings only (static ring members are never stale); `0s` disables.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub heartbeat_timeout: Duration,
    /// Deadline for one push to an ingester.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub push_timeout: Duration,
}

impl Default for ReceiveConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: 16 << 20,
            max_decompressed_bytes: 128 << 20,
            max_sample_age: Duration::from_secs(24 * 3600),
            max_future_skew: Duration::from_secs(10 * 60),
            ingesters: Vec::new(),
            replication_factor: 3,
            heartbeat_timeout: Duration::from_secs(60),
            push_timeout: Duration::from_secs(30),
        }
    }
}

impl ReceiveConfig {
    /// Checks the values make sense together.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_request_bytes == 0 {
            return Err("receive.max_request_bytes must be greater than 0".into());
        }
        if self.max_decompressed_bytes < self.max_request_bytes {
            return Err(
                "receive.max_decompressed_bytes must be at least receive.max_request_bytes".into(),
            );
        }
        if self.replication_factor == 0 {
            return Err("receive.replication_factor must be at least 1".into());
        }
        for spec in &self.ingesters {
            cairn_ring::parse_static_member(spec).map_err(|e| format!("receive.ingesters: {e}"))?;
        }
        if self.push_timeout.is_zero() {
            return Err("receive.push_timeout must be greater than 0".into());
        }
        Ok(())
    }
}
