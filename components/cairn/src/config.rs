//! The one configuration file every role reads, plus flag and environment overrides.
//!
//! Precedence: built-in defaults < YAML file (`--config.file`) < environment variables
//! (`CAIRN_*`) < command-line flags. Unknown YAML fields are errors that name the field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cairn_compact::CompactConfig;
use cairn_ingest::IngestConfig;
use cairn_meta::{MetaConfig, RingConfig};
use cairn_objstore::{Bucket, BucketConfig};
use cairn_ops::tenancy::TenancyConfig;
use cairn_ops::LogFormat;
use cairn_query::QueryConfig;
use cairn_receive::ReceiveConfig;
use cairn_store::StoreConfig;
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// Listen addresses and logging, shared by every role in a process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerConfig {
    /// HTTP address: remote write, query API, `/metrics`, `/-/healthy`, `/-/ready`.
    pub(crate) http_listen: SocketAddr,
    /// gRPC address: ingester Push, StoreAPI and Info, and meta's Meta and Raft.
    pub(crate) grpc_listen: SocketAddr,
    /// Log filter in `RUST_LOG` syntax, e.g. `info` or `info,cairn_tsdb=debug`.
    pub(crate) log_level: String,
    /// `text` or `json`.
    pub(crate) log_format: LogFormat,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([0, 0, 0, 0], 9009)),
            grpc_listen: SocketAddr::from(([0, 0, 0, 0], 9095)),
            log_level: "info".to_owned(),
            log_format: LogFormat::Text,
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    /// Listen addresses and logging.
    pub(crate) server: ServerConfig,
    /// Where stateful roles keep data.
    pub(crate) data_dir: PathBuf,
    /// How requests map to tenants.
    pub(crate) tenancy: TenancyConfig,
    /// Receiver settings.
    pub(crate) receive: ReceiveConfig,
    /// Ingester settings.
    pub(crate) ingest: IngestConfig,
    /// Querier settings.
    pub(crate) query: QueryConfig,
    /// Store gateway settings.
    pub(crate) store: StoreConfig,
    /// Object storage for blocks, shared by every role that reads or writes them.
    pub(crate) bucket: BucketConfig,
    /// Compactor settings.
    pub(crate) compact: CompactConfig,
    /// The `cairn meta` node this process runs (`meta` and `all`).
    pub(crate) meta: MetaConfig,
    /// Where receivers, queriers and ingesters find the ring.
    pub(crate) ring: RingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            data_dir: PathBuf::from("./data"),
            tenancy: TenancyConfig::default(),
            receive: ReceiveConfig::default(),
            ingest: IngestConfig::default(),
            query: QueryConfig::default(),
            store: StoreConfig::default(),
            bucket: BucketConfig::default(),
            compact: CompactConfig::default(),
            meta: MetaConfig::default(),
            ring: RingConfig::default(),
        }
    }
}

impl Config {
    /// Parses YAML text; `origin` names the source in errors.
    pub(crate) fn from_yaml(text: &str, origin: &str) -> Result<Self, CliError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml::from_str(text).map_err(|e| CliError::Config(format!("{origin}: {e}")))
    }

    /// Reads and parses a YAML file.
    pub(crate) fn load(path: &Path) -> Result<Self, CliError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::Config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Validates every section; the message names the offending field.
    pub(crate) fn validate(&self) -> Result<(), CliError> {
        let check = |r: Result<(), String>| r.map_err(CliError::Config);
        if self.data_dir.as_os_str().is_empty() {
            return Err(CliError::Config("data_dir must not be empty".into()));
        }
        check(self.tenancy.validate())?;
        check(self.receive.validate())?;
        check(self.ingest.validate())?;
        check(self.query.validate())?;
        check(self.store.validate())?;
        self.bucket
            .validate()
            .map_err(|e| CliError::Config(e.to_string()))?;
        check(self.compact.validate())?;
        check(self.meta.validate())?;
        check(self.ring.validate())?;
        Ok(())
    }

    /// Opens the configured bucket for `role`; a filesystem bucket without a
    /// configured dir lives in `<data_dir>/bucket`.
    pub(crate) fn open_bucket(&self, role: &'static str) -> Result<Bucket, CliError> {
        Bucket::from_config(&self.bucket, &self.data_dir.join("bucket")).map_err(|e| {
            CliError::Role {
                role,
                message: e.to_string(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(Config::from_yaml("", "x").unwrap(), Config::default());
        Config::default().validate().unwrap();
    }

    #[test]
    fn unknown_fields_are_named_in_the_error() {
        let err = Config::from_yaml("query:\n  lookback: 5m\n", "cairn.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("cairn.yaml") && msg.contains("unknown field `lookback`"),
            "{msg}"
        );
        let err = Config::from_yaml("nope: 1\n", "cairn.yaml").unwrap_err();
        assert!(err.to_string().contains("unknown field `nope`"), "{err}");
    }

    #[test]
    fn invalid_values_are_refused_by_validate() {
        let cfg = Config::from_yaml("query:\n  max_concurrent: 0\n", "x").unwrap();
        assert!(cfg
            .validate()
            .unwrap_err()
            .to_string()
            .contains("query.max_concurrent"));
        let err = Config::from_yaml("query:\n  timeout: 5 minutes\n", "x").unwrap_err();
        assert!(err.to_string().contains("duration"), "{err}");
    }

    #[test]
    fn example_configs_in_deploy_load_and_validate() {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/config");
        for dir in [deploy.clone(), deploy.join("cluster")] {
            let mut seen = 0;
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "yaml") {
                    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
                    cfg.validate()
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    seen += 1;
                }
            }
            assert!(seen >= 1, "no example configs found in {}", dir.display());
        }
    }
}
