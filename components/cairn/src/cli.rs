use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::error::CliError;
use crate::roles::{self, Roles};

/// Cairn: a horizontally scaled, Prometheus-compatible metrics cluster.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every role in one process (receive + ingest + query + store) with embedded
    /// defaults.
    All(RunArgs),
    /// Run the receiver: remote-write endpoint forwarding to ingesters.
    Receive(RunArgs),
    /// Run an ingester: head + WAL, Push RPC and StoreAPI.
    Ingest(RunArgs),
    /// Run the querier: PromQL and the Prometheus HTTP API over StoreAPIs.
    Query(RunArgs),
    /// Run the compactor over the bucket: level compaction, replica deduplication,
    /// downsampling, retention and deletion of marked blocks.
    Compact(CompactArgs),
    /// Operator tools.
    #[command(subcommand)]
    Tools(ToolsCommand),
    /// Run the store gateway: serves the blocks in object storage over the StoreAPI.
    Store(RunArgs),
    /// Run a meta node: ring membership replicated with Raft (3 or 5 per cluster).
    Meta(RunArgs),
    /// Configuration utilities.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run Prometheus promqltest scripts (`*.test`) against Cairn's PromQL engine; print
    /// each failing eval and `N passed, M failed, K skipped`; exit non-zero on failures.
    Promqltest(PromqltestArgs),
}

#[derive(Debug, Args)]
struct CompactArgs {
    /// Run one pass over every tenant and exit (non-zero when a tenant failed or halted)
    /// instead of serving and compacting every `compact.interval`.
    #[arg(long)]
    once: bool,
    #[command(flatten)]
    run: RunArgs,
}

// Parsed once per process; the size of the bucket variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum ToolsCommand {
    /// Inspect and check the blocks in the bucket (the `bucket` section of the config).
    #[command(subcommand)]
    Bucket(crate::tools::BucketCommand),
    /// Inspect the ring and change the meta group (`ring.endpoints` of the config).
    #[command(subcommand)]
    Meta(crate::meta_tools::MetaCommand),
    /// GET a URL (default this container's /-/ready); exit 0 on 2xx, 1 with the reason
    /// otherwise. For container healthchecks in images without curl.
    Healthcheck(crate::tools::HealthcheckArgs),
}

#[derive(Debug, Args)]
struct PromqltestArgs {
    /// Also list skipped evals with the reason.
    #[arg(long)]
    show_skipped: bool,
    /// Script files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load and validate a configuration file; exit non-zero with the reason if invalid.
    Check {
        /// The YAML file to check.
        file: PathBuf,
    },
    /// Print the effective configuration (defaults merged with the file) as YAML.
    Show(Box<RunArgs>),
}

/// Options shared by every role. Each flag can also be set through the environment
/// variable shown, and overrides the config file.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// YAML configuration file; built-in defaults are used for everything it omits.
    #[arg(long = "config.file", env = "CAIRN_CONFIG_FILE")]
    config_file: Option<PathBuf>,
    /// HTTP listen address (remote write, query API, /metrics, /-/healthy, /-/ready).
    #[arg(long = "http.listen", env = "CAIRN_HTTP_LISTEN")]
    http_listen: Option<SocketAddr>,
    /// gRPC listen address (ingester Push, StoreAPI, Info).
    #[arg(long = "grpc.listen", env = "CAIRN_GRPC_LISTEN")]
    grpc_listen: Option<SocketAddr>,
    /// Directory for stateful data (WAL, head, and the default filesystem bucket).
    #[arg(long = "data.dir", env = "CAIRN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Log filter, e.g. `info` or `debug,h2=info`.
    #[arg(long = "log.level", env = "CAIRN_LOG_LEVEL")]
    log_level: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long = "log.format", env = "CAIRN_LOG_FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Tenant for requests without a tenant header; empty refuses such requests.
    #[arg(long = "tenancy.default-tenant", env = "CAIRN_DEFAULT_TENANT")]
    default_tenant: Option<String>,
    /// Ingesters the receiver writes to, comma-separated `[id=]address[@zone]`.
    #[arg(
        long = "receive.ingesters",
        env = "CAIRN_RECEIVE_INGESTERS",
        value_delimiter = ','
    )]
    ingesters: Option<Vec<String>>,
    /// Ingesters each series is written to (write quorum RF/2+1).
    #[arg(
        long = "receive.replication-factor",
        env = "CAIRN_RECEIVE_REPLICATION_FACTOR"
    )]
    replication_factor: Option<usize>,
    /// Largest accepted remote-write body in bytes.
    #[arg(
        long = "receive.max-request-bytes",
        env = "CAIRN_RECEIVE_MAX_REQUEST_BYTES"
    )]
    max_request_bytes: Option<usize>,
    /// StoreAPI gRPC addresses the querier reads from (comma-separated).
    #[arg(
        long = "query.stores",
        env = "CAIRN_QUERY_STORES",
        value_delimiter = ','
    )]
    stores: Option<Vec<String>>,
    /// Query timeout, e.g. `2m`.
    #[arg(long = "query.timeout", env = "CAIRN_QUERY_TIMEOUT", value_parser = parse_duration)]
    query_timeout: Option<std::time::Duration>,
    /// Most samples one query may load.
    #[arg(long = "query.max-samples", env = "CAIRN_QUERY_MAX_SAMPLES")]
    max_samples: Option<usize>,
    /// Meta nodes receivers, queriers and ingesters use (comma-separated `host:port`);
    /// empty: the static ring of `--receive.ingesters` / `--query.stores`.
    #[arg(
        long = "ring.endpoints",
        env = "CAIRN_RING_ENDPOINTS",
        value_delimiter = ','
    )]
    ring_endpoints: Option<Vec<String>>,
    /// This meta node's Raft id (at least 1).
    #[arg(long = "meta.node-id", env = "CAIRN_META_NODE_ID")]
    meta_node_id: Option<u64>,
    /// Initial meta voters, comma-separated `id=host:port`, this node included.
    #[arg(long = "meta.peers", env = "CAIRN_META_PEERS", value_delimiter = ',')]
    meta_peers: Option<Vec<String>>,
    /// How other meta nodes and clients reach this meta node (`host:port`).
    #[arg(long = "meta.advertise-addr", env = "CAIRN_META_ADVERTISE_ADDR")]
    meta_advertise_addr: Option<String>,
    /// This ingester's ring id (default: the host name).
    #[arg(long = "ingest.id", env = "CAIRN_INGEST_ID")]
    ingest_id: Option<String>,
    /// How receivers and queriers reach this ingester over gRPC (`host:port`).
    #[arg(long = "ingest.advertise-addr", env = "CAIRN_INGEST_ADVERTISE_ADDR")]
    ingest_advertise_addr: Option<String>,
    /// This ingester's zone (replicas go to distinct zones).
    #[arg(long = "ingest.zone", env = "CAIRN_INGEST_ZONE")]
    ingest_zone: Option<String>,
    /// On SIGTERM, flush the head and leave the ring (`true`) or keep the membership for
    /// a restart (`false`).
    #[arg(
        long = "ingest.leave-on-shutdown",
        env = "CAIRN_INGEST_LEAVE_ON_SHUTDOWN"
    )]
    ingest_leave_on_shutdown: Option<bool>,
    /// WAL fsync policy: `always`, `interval` or `never`.
    #[arg(long = "ingest.wal-fsync", env = "CAIRN_INGEST_WAL_FSYNC", value_parser = ["always", "interval", "never"])]
    wal_fsync: Option<String>,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    cairn_model::duration::parse(s)
}

impl RunArgs {
    /// Defaults, then the file, then env/flags.
    pub(crate) fn config(&self) -> Result<Config, CliError> {
        let mut cfg = match &self.config_file {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let yaml_scalar = |s: &str| -> Result<serde_yaml::Value, CliError> {
            Ok(serde_yaml::Value::String(s.to_owned()))
        };
        if let Some(v) = self.http_listen {
            cfg.server.http_listen = v;
        }
        if let Some(v) = self.grpc_listen {
            cfg.server.grpc_listen = v;
        }
        if let Some(v) = &self.data_dir {
            cfg.data_dir = v.clone();
        }
        if let Some(v) = &self.log_level {
            cfg.server.log_level = v.clone();
        }
        if let Some(v) = &self.log_format {
            cfg.server.log_format = serde_yaml::from_value(yaml_scalar(v)?)
                .map_err(|e| CliError::Config(format!("--log.format: {e}")))?;
        }
        if let Some(v) = &self.default_tenant {
            cfg.tenancy.default_tenant = v.clone();
        }
        if let Some(v) = &self.ingesters {
            cfg.receive.ingesters = v.clone();
        }
        if let Some(v) = self.replication_factor {
            cfg.receive.replication_factor = v;
        }
        if let Some(v) = self.max_request_bytes {
            cfg.receive.max_request_bytes = v;
        }
        if let Some(v) = &self.stores {
            cfg.query.stores = v.clone();
        }
        if let Some(v) = self.query_timeout {
            cfg.query.timeout = v;
        }
        if let Some(v) = self.max_samples {
            cfg.query.max_samples = v;
        }
        if let Some(v) = &self.ring_endpoints {
            cfg.ring.endpoints = v.clone();
        }
        if let Some(v) = self.meta_node_id {
            cfg.meta.node_id = v;
        }
        if let Some(v) = &self.meta_peers {
            cfg.meta.peers = v.clone();
        }
        if let Some(v) = &self.meta_advertise_addr {
            cfg.meta.advertise_addr = v.clone();
        }
        if let Some(v) = &self.ingest_id {
            cfg.ingest.lifecycle.id = v.clone();
        }
        if let Some(v) = &self.ingest_advertise_addr {
            cfg.ingest.lifecycle.advertise_addr = v.clone();
        }
        if let Some(v) = &self.ingest_zone {
            cfg.ingest.lifecycle.zone = v.clone();
        }
        if let Some(v) = self.ingest_leave_on_shutdown {
            cfg.ingest.lifecycle.leave_on_shutdown = v;
        }
        if let Some(v) = &self.wal_fsync {
            cfg.ingest.wal_fsync = serde_yaml::from_value(yaml_scalar(v)?)
                .map_err(|e| CliError::Config(format!("--ingest.wal-fsync: {e}")))?;
        }
        cfg.validate()?;
        Ok(cfg)
    }
}

pub(crate) fn execute(cli: Cli) -> Result<(), CliError> {
    let (roles, args) = match cli.command {
        Command::All(a) => (Roles::ALL, a),
        Command::Receive(a) => (Roles::RECEIVE, a),
        Command::Ingest(a) => (Roles::INGEST, a),
        Command::Query(a) => (Roles::QUERY, a),
        Command::Compact(a) if a.once => return roles::compact_once(a.run.config()?),
        Command::Compact(a) => (Roles::COMPACT, a.run),
        Command::Tools(ToolsCommand::Bucket(c)) => return crate::tools::run(c),
        Command::Tools(ToolsCommand::Meta(c)) => return crate::meta_tools::run(c),
        Command::Tools(ToolsCommand::Healthcheck(a)) => return crate::tools::healthcheck(&a),
        Command::Store(a) => (Roles::STORE, a),
        Command::Meta(a) => (Roles::META, a),
        Command::Config(ConfigCommand::Check { file }) => {
            Config::load(&file)?.validate()?;
            println_ok(&format!("{}: configuration is valid", file.display()));
            return Ok(());
        }
        Command::Promqltest(a) => return promqltest(&a),
        Command::Config(ConfigCommand::Show(a)) => {
            let yaml = serde_yaml::to_string(&a.config()?)
                .map_err(|e| CliError::Config(format!("cannot render configuration: {e}")))?;
            println_ok(&yaml);
            return Ok(());
        }
    };
    let config = args.config()?;
    roles::run(roles, config)
}

fn promqltest(args: &PromqltestArgs) -> Result<(), CliError> {
    use cairn_promql::promqltest::{run_file, Report, RunOptions};
    let opts = RunOptions::default();
    let report = Report {
        files: args.files.iter().map(|f| run_file(f, &opts)).collect(),
    };
    if args.show_skipped {
        println_ok(&report.skips());
    }
    println_ok(&report.to_string());
    match report.failed() {
        0 => Ok(()),
        n => Err(CliError::Role {
            role: "promqltest",
            message: format!("{n} evals failed"),
        }),
    }
}

#[allow(clippy::print_stdout)]
fn println_ok(s: &str) {
    println!("{}", s.trim_end());
}
