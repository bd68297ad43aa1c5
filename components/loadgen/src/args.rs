//! Command-line flags. Every flag can also be set through the environment variable shown
//! in `--help` (`CAIRN_LOADGEN_*`); the flag wins when both are given.

use std::fmt;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::Error;

/// Sends Prometheus remote write 1.0 traffic for synthetic series to one endpoint and
/// reports throughput, latency and errors.
#[derive(Debug, Clone, Parser)]
#[command(name = "cairn-loadgen", version, about, long_about = None)]
pub struct Args {
    /// Remote-write endpoint, e.g. `http://127.0.0.1:9009/api/v1/write`.
    #[arg(
        long,
        env = "CAIRN_LOADGEN_URL",
        default_value = "http://127.0.0.1:9009/api/v1/write"
    )]
    pub url: String,

    /// Number of concurrently active series.
    #[arg(long, env = "CAIRN_LOADGEN_SERIES", default_value_t = 10_000)]
    pub series: usize,

    /// Extra labels per series: `label_<j>="value_<j>"` for j in 0..M (on top of
    /// `__name__`, `cycle_id` and `series_id`).
    #[arg(long, env = "CAIRN_LOADGEN_LABELS", default_value_t = 10)]
    pub labels: usize,

    /// Number of metric names the series are spread over (series i gets metric i mod M).
    #[arg(long, env = "CAIRN_LOADGEN_METRICS", default_value_t = 100)]
    pub metrics: usize,

    /// Sample interval: every series gets one sample per interval, stamped with the
    /// current time. `0` is flood mode: rounds back to back on synthetic time (see the
    /// crate docs), for throughput measurements.
    #[arg(long, env = "CAIRN_LOADGEN_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    pub interval: Duration,

    /// How long to send; `0` runs until interrupted (Ctrl-C also ends a timed run early,
    /// still printing the summary).
    #[arg(long, env = "CAIRN_LOADGEN_DURATION", default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Parallel requests. The batches are dealt out to this many workers, each owning its
    /// series; a worker sends its next batch only when the previous one was answered.
    #[arg(long, env = "CAIRN_LOADGEN_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,

    /// Series (one sample each) per request, like Prometheus' `max_samples_per_send`
    /// (lowered to ceil(series / concurrency) if that is smaller, so no worker idles).
    #[arg(long, env = "CAIRN_LOADGEN_BATCH_SIZE", default_value_t = 2000)]
    pub batch_size: usize,

    /// Tenant, sent as the `X-Scope-OrgID` header.
    #[arg(long, env = "CAIRN_LOADGEN_TENANT")]
    pub tenant: Option<String>,

    /// HTTP basic auth as `user:password`.
    #[arg(long, env = "CAIRN_LOADGEN_BASIC_AUTH", value_parser = parse_basic_auth)]
    pub basic_auth: Option<BasicAuth>,

    /// Period of series churn: each time, `--churn-fraction` of the series ids get a new
    /// `cycle_id`, i.e. become new series. `0` disables churn.
    #[arg(long, env = "CAIRN_LOADGEN_CHURN_EVERY", default_value = "0s", value_parser = parse_duration)]
    pub churn_every: Duration,

    /// Fraction of the series replaced at each churn, in (0, 1].
    #[arg(long, env = "CAIRN_LOADGEN_CHURN_FRACTION", default_value_t = 0.1)]
    pub churn_fraction: f64,

    /// Value shape: counters only increase, gauges random-walk; `mixed` makes every other
    /// metric name a counter.
    #[arg(long, env = "CAIRN_LOADGEN_KIND", value_enum, default_value_t = Kind::Mixed)]
    pub kind: Kind,

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

impl Args {
    /// Checks the values make sense together; the message names the flag.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::InvalidArgs(m.to_owned()));
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return bad("--url must be an http:// or https:// URL");
        }
        if self.series == 0 {
            return bad("--series must be at least 1");
        }
        if self.metrics == 0 {
            return bad("--metrics must be at least 1");
        }
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
        if let Some(t) = &self.tenant {
            if t.is_empty() || t.contains(|c: char| c.is_control()) {
                return bad("--tenant must be non-empty and printable");
            }
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
    /// Even metric indices are counters, odd ones gauges.
    Mixed,
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
    }

    #[test]
    fn flags_parse_and_validate() {
        let a = Args::try_parse_from([
            "cairn-loadgen",
            "--url",
            "http://127.0.0.1:1/api/v1/write",
            "--interval",
            "0",
            "--basic-auth",
            "u:p:w",
            "--kind",
            "gauge",
        ])
        .unwrap();
        a.validate().unwrap();
        assert_eq!(a.interval, Duration::ZERO);
        assert_eq!(a.basic_auth.as_ref().unwrap().password, "p:w");
        assert!(!format!("{a:?}").contains("p:w"));
        assert_eq!(a.kind, Kind::Gauge);
        assert_eq!(a.batch_size, 2000);

        let mut b = a.clone();
        b.churn_fraction = 0.0;
        assert!(b
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--churn-fraction"));
        assert!(Args::try_parse_from(["x", "--basic-auth", "nopass"]).is_err());
    }
}
