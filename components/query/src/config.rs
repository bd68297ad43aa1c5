use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Querier settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// StoreAPI gRPC addresses to fan out to. Empty in `cairn all` means the process's
    /// own gRPC address.
    pub stores: Vec<String>,
    /// How far back an instant selector looks for the latest sample.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub lookback_delta: Duration,
    /// Longest a query may run, queueing included.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub timeout: Duration,
    /// Most samples one query may hold in memory.
    pub max_samples: usize,
    /// Queries evaluated at once; more wait in a queue.
    pub max_concurrent: usize,
    /// When a store fails, answer from the others with a warning (true) or fail (false).
    pub partial_response: bool,
    /// Labels that only tell HA replicas apart: series differing only in them are
    /// deduplicated into one (per request: `dedup=false`, `replicaLabels[]=`).
    pub replica_labels: Vec<String>,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            stores: Vec::new(),
            lookback_delta: Duration::from_secs(300),
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            max_concurrent: 20,
            partial_response: true,
            replica_labels: vec!["replica".into(), "prometheus_replica".into()],
        }
    }
}

impl QueryConfig {
    /// Checks the values make sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.lookback_delta.is_zero() {
            return Err("query.lookback_delta must be greater than 0".into());
        }
        if self.timeout.is_zero() {
            return Err("query.timeout must be greater than 0".into());
        }
        if self.max_samples == 0 {
            return Err("query.max_samples must be greater than 0".into());
        }
        if self.max_concurrent == 0 {
            return Err("query.max_concurrent must be greater than 0".into());
        }
        if self.replica_labels.iter().any(|l| l.is_empty()) {
            return Err("query.replica_labels must not contain an empty name".into());
        }
        Ok(())
    }
}
