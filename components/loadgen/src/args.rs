//! Command-line flags. Every flag can also be set through the environment variable shown
//! in `--help` (`CAIRN_LOADGEN_*`); the flag wins when both are given.
//!
//! `cairn-loadgen write …` sends remote-write load, `cairn-loadgen query …` sends
//! range queries. Without a subcommand the flags are the `write` ones, so
//! `cairn-loadgen --url … --interval 0` keeps working as before the subcommands existed.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};

use crate::Error;

/// Avalanche-style load generator: remote write 1.0 traffic for synthetic series
/// (`write`, the default) or dashboard-like range queries (`query`) against any
/// Prometheus-compatible endpoint.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "cairn-loadgen",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do; `write` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The `write` flags, for calls without a subcommand.
    #[command(flatten)]
    pub write: WriteArgs,
}

impl Cli {
    /// The command to run: the subcommand, or `write` with the top-level flags.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Write(self.write))
    }
}

/// The two load modes.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Send remote write 1.0 requests for synthetic series (the default).
    Write(WriteArgs),
    /// Send range queries to a Prometheus-compatible HTTP API.
    Query(QueryArgs),
}

/// What the synthetic series look like; shared by `write` (which sends them) and
/// `query` (whose built-in queries name them).
#[derive(Debug, Clone, ClapArgs)]
pub struct ShapeArgs {
    /// Active series to keep, counting every bucket, `_sum` and `_count` series of a
    /// histogram. Rounded down to whole histograms (at least one series id is used).
    #[arg(long, env = "CAIRN_LOADGEN_SERIES", default_value_t = 10_000)]
    pub series: usize,

    /// Extra labels per series: `label_<j>` for j in 0..M (on top of `__name__`,
    /// `cycle_id`, `series_id` and a histogram's `le`).
    #[arg(long, env = "CAIRN_LOADGEN_LABELS", default_value_t = 10)]
    pub labels: usize,

    /// Distinct values of each extra label, comma-separated for label_0, label_1, …;
    /// labels past the list have one value, entries past `--labels` are ignored.
    /// Values are `value_<k>`; the combinations are spread evenly over each metric's
    /// series.
    #[arg(long, env = "CAIRN_LOADGEN_LABEL_VALUES", default_value = "10,5", value_parser = parse_counts)]
    pub label_values: Counts,

    /// Number of metric names (families) the series are spread over.
    #[arg(long, env = "CAIRN_LOADGEN_METRICS", default_value_t = 100)]
    pub metrics: usize,

    /// Metric types: all counters, all gauges, all classic histograms, or `mixed`
    /// (by `--mix`).
    #[arg(long, env = "CAIRN_LOADGEN_KIND", value_enum, default_value_t = Kind::Mixed)]
    pub kind: Kind,

    /// With `--kind mixed`: weights `counters,gauges,histograms` by metric name. The
    /// default makes metrics 0,1 counters, 2,3 gauges, 4 a histogram, and so on.
    #[arg(long, env = "CAIRN_LOADGEN_MIX", default_value = "2,2,1", value_parser = parse_counts)]
    pub mix: Counts,

    /// Finite buckets per classic histogram (Prometheus' default boundaries 0.005 …
    /// 10, continued 25, 50, 100, …); each histogram also has `+Inf`, `_sum`, `_count`.
    #[arg(long, env = "CAIRN_LOADGEN_HISTOGRAM_BUCKETS", default_value_t = 11)]
    pub histogram_buckets: usize,
}

impl ShapeArgs {
    fn validate(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::InvalidArgs(m.to_owned()));
        if self.series == 0 {
            return bad("--series must be at least 1");
        }
        if self.metrics == 0 {
            return bad("--metrics must be at least 1");
        }
        if self.label_values.0.contains(&0) {
            return bad("--label-values must all be at least 1");
        }
        if self.kind == Kind::Mixed
            && (self.mix.0.len() != 3 || self.mix.0.iter().sum::<usize>() == 0)
        {
            return bad("--mix must be three weights counters,gauges,histograms, not all 0");
        }
        if !(1..=64).contains(&self.histogram_buckets) {
            return bad("--histogram-buckets must be in 1..=64");
        }
        Ok(())
    }
}

/// Credentials and tenant, for both modes.
#[derive(Debug, Clone, ClapArgs)]
pub struct AuthArgs {
    /// Tenant, sent as the `X-Scope-OrgID` header.
    #[arg(long, env = "CAIRN_LOADGEN_TENANT")]
    pub tenant: Option<String>,

    /// HTTP basic auth as `user:password`.
    #[arg(long, env = "CAIRN_LOADGEN_BASIC_AUTH", value_parser = parse_basic_auth, conflicts_with_all = ["bearer_token", "bearer_token_file"])]
    pub basic_auth: Option<BasicAuth>,

    /// Bearer token, sent as `Authorization: Bearer <token>`.
    #[arg(
        long,
        env = "CAIRN_LOADGEN_BEARER_TOKEN",
        hide_env_values = true,
        conflicts_with = "bearer_token_file"
    )]
    pub bearer_token: Option<String>,

    /// File holding the bearer token (surrounding whitespace is ignored).
    #[arg(long, env = "CAIRN_LOADGEN_BEARER_TOKEN_FILE")]
    pub bearer_token_file: Option<PathBuf>,
}

impl AuthArgs {
    fn validate(&self) -> Result<(), Error> {
        if let Some(t) = &self.tenant {
            if t.is_empty() || t.contains(|c: char| c.is_control()) {
                return Err(Error::InvalidArgs(
                    "--tenant must be non-empty and printable".into(),
                ));
            }
        }
        Ok(())
    }

    /// The credentials to send (reads `--bearer-token-file`).
    pub fn auth(&self) -> Result<Auth, Error> {
        if let Some(b) = &self.basic_auth {
            return Ok(Auth::Basic(b.clone()));
        }
        let token = match (&self.bearer_token, &self.bearer_token_file) {
            (Some(t), _) => t.trim().to_owned(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| {
                    Error::InvalidArgs(format!("--bearer-token-file {}: {e}", path.display()))
                })?
                .trim()
                .to_owned(),
            (None, None) => return Ok(Auth::None),
        };
        if token.is_empty() || token.contains(|c: char| c.is_control() || c == ' ') {
            return Err(Error::InvalidArgs(
                "the bearer token must be non-empty, without spaces or control characters".into(),
            ));
        }
        Ok(Auth::Bearer(token))
    }
}

/// Flags of `cairn-loadgen write`.
#[derive(Debug, Clone, ClapArgs)]
pub struct WriteArgs {
    /// Remote-write endpoint, e.g. `http://127.0.0.1:9009/api/v1/write`.
    #[arg(
        long,
        env = "CAIRN_LOADGEN_URL",
        default_value = "http://127.0.0.1:9009/api/v1/write"
    )]
    pub url: String,

    /// Series layout.
    #[command(flatten)]
    pub shape: ShapeArgs,

    /// Sample interval: every series gets one sample per interval, stamped with the
    /// current time. `0` is flood mode: rounds back to back on synthetic time (see the
    /// crate docs), for throughput measurements.
    #[arg(long, env = "CAIRN_LOADGEN_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    pub interval: Duration,

    /// Flood mode only: synthetic time between two rounds (the spacing of the samples
    /// the server stores).
    #[arg(long, env = "CAIRN_LOADGEN_FLOOD_STEP", default_value = "1s", value_parser = parse_duration)]
    pub flood_step: Duration,

    /// How long to send; `0` runs until interrupted or `--rounds` are done (Ctrl-C
    /// also ends a timed run early, still printing the summary).
    #[arg(long, env = "CAIRN_LOADGEN_DURATION", default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Stop after this many rounds (every series sent this many times); `0` = no limit.
    /// With `--duration 0` this makes the amount of data exact, e.g. to send the same
    /// samples to two targets.
    #[arg(long, env = "CAIRN_LOADGEN_ROUNDS", default_value_t = 0)]
    pub rounds: u64,

    /// Parallel requests. The batches are dealt out to this many workers, each owning its
    /// series; a worker sends its next batch only when the previous one was answered.
    #[arg(long, env = "CAIRN_LOADGEN_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,

    /// Samples per request, like Prometheus' `max_samples_per_send` (lowered to
    /// ceil(series / concurrency) if that is smaller, so no worker idles; a histogram's
    /// series always travel together).
    #[arg(long, env = "CAIRN_LOADGEN_BATCH_SIZE", default_value_t = 2000)]
    pub batch_size: usize,

    /// Tenant and credentials.
    #[command(flatten)]
    pub auth: AuthArgs,

    /// Period of series churn: each time, `--churn-fraction` of the series ids get a new
    /// `cycle_id`, i.e. become new series. `0` disables churn.
    #[arg(long, env = "CAIRN_LOADGEN_CHURN_EVERY", default_value = "0s", value_parser = parse_duration)]
    pub churn_every: Duration,

    /// Fraction of the series replaced at each churn, in (0, 1].
    #[arg(long, env = "CAIRN_LOADGEN_CHURN_FRACTION", default_value_t = 0.1)]
    pub churn_fraction: f64,

    /// Cap on samples per second over all workers; `0` sends as fast as the server
    /// acknowledges (closed loop).
    #[arg(long, env = "CAIRN_LOADGEN_MAX_RATE", default_value_t = 0)]
    pub max_rate: u64,

    /// Per-request timeout (a timeout counts as a transport error).
    #[arg(long, env = "CAIRN_LOADGEN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// How often progress is printed to stderr; `0` disables progress lines.
    #[arg(long, env = "CAIRN_LOADGEN_PROGRESS_EVERY", default_value = "5s", value_parser = parse_duration)]
    pub progress_every: Duration,

    /// Seed for the value generator, for reproducible runs.
    #[arg(long, env = "CAIRN_LOADGEN_SEED", default_value_t = 1)]
    pub seed: u64,

    /// Print the final summary as one JSON object instead of text.
    #[arg(long, env = "CAIRN_LOADGEN_JSON")]
    pub json: bool,
}

impl WriteArgs {
    /// Checks the values make sense together; the message names the flag.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::InvalidArgs(m.to_owned()));
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return bad("--url must be an http:// or https:// URL");
        }
        self.shape.validate()?;
        self.auth.validate()?;
        if self.concurrency == 0 {
            return bad("--concurrency must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("--batch-size must be at least 1");
        }
        if !(self.churn_fraction > 0.0 && self.churn_fraction <= 1.0) {
            return bad("--churn-fraction must be in (0, 1]");
        }
        if self.timeout.is_zero() {
            return bad("--timeout must be greater than 0");
        }
        if self.flood_step.is_zero() {
            return bad("--flood-step must be greater than 0");
        }
        Ok(())
    }
}

/// Flags of `cairn-loadgen query`.
#[derive(Debug, Clone, ClapArgs)]
pub struct QueryArgs {
    /// Base URL of the Prometheus HTTP API (`/api/v1/query_range` is appended unless
    /// the URL already ends with it).
    #[arg(
        long,
        env = "CAIRN_LOADGEN_QUERY_URL",
        default_value = "http://127.0.0.1:9009"
    )]
    pub url: String,

    /// PromQL file, one query per line (blank lines and lines starting with `#` are
    /// skipped); replaces the built-in dashboard set. `{{counter}}`, `{{gauge}}` and
    /// `{{histogram}}` are replaced per request by a random generated metric name of
    /// that type.
    #[arg(long, env = "CAIRN_LOADGEN_QUERIES")]
    pub queries: Option<PathBuf>,

    /// The series layout the built-in queries (and placeholders) refer to: use the
    /// same values as the `write` run.
    #[command(flatten)]
    pub shape: ShapeArgs,

    /// Time range of each query, ending now (aligned down to the step, like Grafana).
    #[arg(long, env = "CAIRN_LOADGEN_RANGE", default_value = "1h", value_parser = parse_duration)]
    pub range: Duration,

    /// Steps to pick from at random per request, comma-separated.
    #[arg(long, env = "CAIRN_LOADGEN_STEPS", default_value = "15s,30s,60s", value_parser = parse_durations)]
    pub steps: Durations,

    /// Queries in flight at once (each worker waits for its answer before the next).
    #[arg(long, env = "CAIRN_LOADGEN_CONCURRENCY", default_value_t = 2)]
    pub concurrency: usize,

    /// Cap on queries per second over all workers; `0` = closed loop.
    #[arg(long, env = "CAIRN_LOADGEN_QPS", default_value_t = 0.0)]
    pub qps: f64,

    /// How long to send queries; `0` runs until interrupted or `--requests` are done.
    #[arg(long, env = "CAIRN_LOADGEN_DURATION", default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Stop after this many queries in total; `0` = no limit.
    #[arg(long, env = "CAIRN_LOADGEN_REQUESTS", default_value_t = 0)]
    pub requests: u64,

    /// Tenant and credentials.
    #[command(flatten)]
    pub auth: AuthArgs,

    /// Per-query timeout (a timeout counts as a transport error).
    #[arg(long, env = "CAIRN_LOADGEN_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// How often progress is printed to stderr; `0` disables progress lines.
    #[arg(long, env = "CAIRN_LOADGEN_PROGRESS_EVERY", default_value = "5s", value_parser = parse_duration)]
    pub progress_every: Duration,

    /// Seed for picking queries, metrics and steps.
    #[arg(long, env = "CAIRN_LOADGEN_SEED", default_value_t = 1)]
    pub seed: u64,

    /// Print the final summary as one JSON object instead of text.
    #[arg(long, env = "CAIRN_LOADGEN_JSON")]
    pub json: bool,
}

impl QueryArgs {
    /// Checks the values make sense together; the message names the flag.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::InvalidArgs(m.to_owned()));
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return bad("--url must be an http:// or https:// URL");
        }
        self.shape.validate()?;
        self.auth.validate()?;
        if self.concurrency == 0 {
            return bad("--concurrency must be at least 1");
        }
        if self.range.is_zero() {
            return bad("--range must be greater than 0");
        }
        if self.steps.0.is_empty() || self.steps.0.iter().any(|s| s.as_millis() < 1) {
            return bad("--steps must list durations of at least 1ms");
        }
        if !(self.qps >= 0.0 && self.qps.is_finite()) {
            return bad("--qps must be 0 or positive");
        }
        if self.timeout.is_zero() {
            return bad("--timeout must be greater than 0");
        }
        Ok(())
    }
}

/// How series values evolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Monotonic counters (`_total` names), incremented by 0..=10 per sample.
    Counter,
    /// Gauges doing an integer random walk of -5..=5 per sample.
    Gauge,
    /// Classic histograms: `_bucket{le}` (cumulative, `+Inf` last), `_sum`, `_count`,
    /// with 0..=10 log-uniform observations between 1 ms and 20 s per sample.
    Histogram,
    /// Counters, gauges and histograms by metric name, weighted by `--mix`.
    Mixed,
}

/// A comma-separated list of counts (`10,5,2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts(pub Vec<usize>);

fn parse_counts(s: &str) -> Result<Counts, String> {
    if s.trim().is_empty() {
        return Ok(Counts(Vec::new()));
    }
    s.split(',')
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .map_err(|e| format!("invalid count {p:?}: {e}"))
        })
        .collect::<Result<_, _>>()
        .map(Counts)
}

/// A comma-separated list of durations (`15s,1m`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durations(pub Vec<Duration>);

fn parse_durations(s: &str) -> Result<Durations, String> {
    s.split(',')
        .map(parse_duration)
        .collect::<Result<_, _>>()
        .map(Durations)
}

/// Credentials sent with every request.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// None.
    #[default]
    None,
    /// HTTP basic auth.
    Basic(BasicAuth),
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Basic(b) => b.fmt(f),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// `user:password` for HTTP basic auth; `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// User name.
    pub user: String,
    /// Password (may be empty).
    pub password: String,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

fn parse_basic_auth(s: &str) -> Result<BasicAuth, String> {
    match s.split_once(':') {
        Some((user, password)) if !user.is_empty() => Ok(BasicAuth {
            user: user.to_owned(),
            password: password.to_owned(),
        }),
        _ => Err("expected user:password".to_owned()),
    }
}

/// Parses `0`, `250ms`, `15s`, `5m`, `1h` or a sum of such parts (`1m30s`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".to_owned());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration {s:?}: expected e.g. 500ms, 15s, 5m, 1h"
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|e| format!("invalid duration {s:?}: {e}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            "" => {
                return Err(format!(
                    "invalid duration {s:?}: missing unit (ms, s, m, h)"
                ))
            }
            u => return Err(format!("invalid duration {s:?}: unknown unit {u:?}")),
        };
        total += part;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(args: &[&str]) -> WriteArgs {
        let mut v = vec!["cairn-loadgen"];
        v.extend_from_slice(args);
        match Cli::try_parse_from(v).unwrap().into_command() {
            Command::Write(w) => w,
            Command::Query(_) => panic!("expected write"),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert_eq!(
            parse_durations("15s,1m").unwrap().0,
            vec![Duration::from_secs(15), Duration::from_secs(60)]
        );
    }

    #[test]
    fn flags_without_subcommand_are_write_flags() {
        let a = write(&[
            "--url",
            "http://127.0.0.1:1/api/v1/write",
            "--interval",
            "0",
            "--basic-auth",
            "u:p:w",
            "--kind",
            "gauge",
        ]);
        a.validate().unwrap();
        assert_eq!(a.interval, Duration::ZERO);
        assert_eq!(
            a.auth.auth().unwrap(),
            Auth::Basic(BasicAuth {
                user: "u".into(),
                password: "p:w".into()
            })
        );
        assert!(!format!("{a:?}").contains("p:w"));
        assert_eq!(a.shape.kind, Kind::Gauge);
        assert_eq!(a.batch_size, 2000);
        assert_eq!(a.shape.label_values, Counts(vec![10, 5]));

        let mut b = a.clone();
        b.churn_fraction = 0.0;
        assert!(b
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--churn-fraction"));
        assert!(Cli::try_parse_from(["x", "--basic-auth", "nopass"]).is_err());

        // The same flags after `write`, and no mixing of top-level flags with a
        // subcommand.
        let w = match Cli::try_parse_from(["x", "write", "--series", "7"])
            .unwrap()
            .into_command()
        {
            Command::Write(w) => w,
            Command::Query(_) => panic!("expected write"),
        };
        assert_eq!(w.shape.series, 7);
        assert!(Cli::try_parse_from(["x", "--series", "7", "query"]).is_err());
    }

    #[test]
    fn query_flags_and_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cr3t\n").unwrap();
        let q = match Cli::try_parse_from([
            "x",
            "query",
            "--url",
            "http://127.0.0.1:9090",
            "--steps",
            "15s,1m",
            "--qps",
            "2.5",
            "--bearer-token-file",
            token.to_str().unwrap(),
        ])
        .unwrap()
        .into_command()
        {
            Command::Query(q) => q,
            Command::Write(_) => panic!("expected query"),
        };
        q.validate().unwrap();
        assert_eq!(q.auth.auth().unwrap(), Auth::Bearer("s3cr3t".into()));
        assert!(!format!("{:?}", q.auth.auth().unwrap()).contains("s3cr3t"));
        assert_eq!(q.steps.0.len(), 2);
        assert_eq!(q.qps, 2.5);
        assert!(
            Cli::try_parse_from(["x", "query", "--bearer-token", "a", "--basic-auth", "u:p"])
                .is_err()
        );

        let mut bad = q.clone();
        bad.shape.label_values = Counts(vec![3, 0]);
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--label-values"));
        let mut bad = q;
        bad.shape.mix = Counts(vec![0, 0, 0]);
        assert!(bad.validate().unwrap_err().to_string().contains("--mix"));
    }
}
