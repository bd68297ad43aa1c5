use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Store gateway settings (the `store` section of the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// How often the bucket is listed for new and deleted blocks.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub sync_interval: Duration,
    /// Bytes of Parquet footers (schema, statistics, page indexes) kept in memory.
    pub metadata_cache_bytes: usize,
    /// Bytes of label and chunk pages kept in memory.
    pub data_cache_bytes: usize,
    /// Block reads in flight at once across all requests; more wait.
    pub max_concurrent_block_reads: usize,
    /// gRPC address of the store gateway when it shares a process with an ingester
    /// (`cairn all`), whose StoreAPI already owns `server.grpc_listen`. Unset: a free
    /// loopback port that only the process's own querier uses.
    pub grpc_listen: Option<SocketAddr>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            sync_interval: Duration::from_secs(60),
            metadata_cache_bytes: 64 << 20,
            data_cache_bytes: 256 << 20,
            max_concurrent_block_reads: 32,
            grpc_listen: None,
        }
    }
}

impl StoreConfig {
    /// Checks the values make sense; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.sync_interval.is_zero() {
            return Err("store.sync_interval must be greater than 0".into());
        }
        if self.metadata_cache_bytes == 0 {
            return Err("store.metadata_cache_bytes must be greater than 0".into());
        }
        if self.data_cache_bytes == 0 {
            return Err("store.data_cache_bytes must be greater than 0".into());
        }
        if self.max_concurrent_block_reads == 0 {
            return Err("store.max_concurrent_block_reads must be greater than 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_zero_values_are_named() {
        StoreConfig::default().validate().unwrap();
        let c = StoreConfig {
            max_concurrent_block_reads: 0,
            ..StoreConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .contains("store.max_concurrent_block_reads"));
        let c: StoreConfig = serde_yaml::from_str("sync_interval: 30s\n").unwrap();
        assert_eq!(c.sync_interval, Duration::from_secs(30));
        assert!(serde_yaml::from_str::<StoreConfig>("sync: 30s\n").is_err());
    }
}
