//! Counters shared by the workers, progress lines, and the final summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The server answered 4xx: the request was refused (samples rejected, auth, ...).
    Http4xx,
    /// The server answered 5xx.
    Http5xx,
    /// The server answered with a status that is neither 2xx, 4xx nor 5xx.
    OtherStatus,
    /// No answer: connection refused or reset, timeout, ...
    Transport,
}

impl ErrorClass {
    const ALL: [Self; 4] = [
        Self::Http4xx,
        Self::Http5xx,
        Self::OtherStatus,
        Self::Transport,
    ];

    /// Name used in progress lines and the summary.
    pub fn name(self) -> &'static str {
        match self {
            Self::Http4xx => "http_4xx",
            Self::Http5xx => "http_5xx",
            Self::OtherStatus => "other_status",
            Self::Transport => "transport",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Live counters, updated by every worker.
#[derive(Debug, Default)]
pub struct Stats {
    samples_ok: AtomicU64,
    samples_failed: AtomicU64,
    requests_ok: AtomicU64,
    errors: [AtomicU64; 4],
    first_error: [OnceLock<String>; 4],
    /// Failed requests by HTTP status (`transport` when there was none).
    by_status: Mutex<BTreeMap<String, u64>>,
    /// Series written per round; constant, churn replaces series one for one.
    active_series: AtomicU64,
    series_churned: AtomicU64,
    rounds: AtomicU64,
    rounds_late: AtomicU64,
    clock_waits: AtomicU64,
    /// Largest request latency since the last progress line, in µs.
    window_max_us: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
}

impl Stats {
    /// Records an acknowledged request of `samples` samples.
    pub fn ok(&self, samples: u64) {
        self.samples_ok.fetch_add(samples, Relaxed);
        self.requests_ok.fetch_add(1, Relaxed);
    }

    /// Sets the number of active series shown in progress lines and the summary.
    pub fn set_active_series(&self, n: u64) {
        self.active_series.store(n, Relaxed);
    }

    /// Records a failed request (`status` = the HTTP status, if any answer came); the
    /// first failure of each class is kept and printed.
    pub fn failed(&self, samples: u64, class: ErrorClass, status: Option<u16>, detail: String) {
        self.samples_failed.fetch_add(samples, Relaxed);
        self.errors[class.index()].fetch_add(1, Relaxed);
        *self
            .by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(status_key(status))
            .or_default() += 1;
        if self.first_error[class.index()].get().is_none() {
            let mut first = false;
            let kept = self.first_error[class.index()].get_or_init(|| {
                first = true;
                detail
            });
            if first {
                eprintln!("cairn-loadgen: first {} error: {kept}", class.name());
            }
        }
    }

    /// Records one request's latency in µs (also the progress window's maximum).
    pub fn latency(&self, us: u32) {
        self.window_max_us.fetch_max(u64::from(us), Relaxed);
        self.latencies_us
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(us);
    }

    /// Counts series replaced by churn.
    pub fn churned(&self, n: u64) {
        self.series_churned.fetch_add(n, Relaxed);
    }

    /// Counts a completed round; `late` when it started after its scheduled time.
    pub fn round(&self, late: bool) {
        self.rounds.fetch_add(1, Relaxed);
        if late {
            self.rounds_late.fetch_add(1, Relaxed);
        }
    }

    /// Counts a pause because flood time caught up with the wall clock.
    pub fn clock_wait(&self) {
        self.clock_waits.fetch_add(1, Relaxed);
    }

    /// Samples acknowledged so far.
    pub fn samples_ok(&self) -> u64 {
        self.samples_ok.load(Relaxed)
    }

    fn error_count(&self) -> u64 {
        self.errors.iter().map(|e| e.load(Relaxed)).sum()
    }

    /// One progress line: totals, the rate since `prev_samples` over `window`, and the
    /// slowest request in the window.
    pub fn progress_line(&self, elapsed: Duration, prev_samples: u64, window: Duration) -> String {
        let ok = self.samples_ok();
        let rate = (ok - prev_samples.min(ok)) as f64 / window.as_secs_f64().max(1e-9);
        let avg = ok as f64 / elapsed.as_secs_f64().max(1e-9);
        let max_ms = self.window_max_us.swap(0, Relaxed) as f64 / 1000.0;
        let mut line = format!(
            "[{:>6.1}s] active series {} | samples {} | {}/s (avg {}/s) | requests {} | max latency {max_ms:.1} ms | errors",
            elapsed.as_secs_f64(),
            group(self.active_series.load(Relaxed)),
            group(ok),
            group(rate as u64),
            group(avg as u64),
            group(self.requests_ok.load(Relaxed) + self.error_count()),
        );
        for class in ErrorClass::ALL {
            let _ = write!(
                line,
                " {}={}",
                class.name(),
                self.errors[class.index()].load(Relaxed)
            );
        }
        line
    }

    /// The final numbers, for a run that took `elapsed`.
    pub fn summary(
        &self,
        settings: Settings,
        elapsed: Duration,
        client_cpu_seconds: Option<f64>,
    ) -> Summary {
        let mut lat =
            std::mem::take(&mut *self.latencies_us.lock().unwrap_or_else(|e| e.into_inner()));
        let secs = elapsed.as_secs_f64();
        let samples = self.samples_ok();
        let errors = ErrorCounts {
            http_4xx: self.errors[ErrorClass::Http4xx.index()].load(Relaxed),
            http_5xx: self.errors[ErrorClass::Http5xx.index()].load(Relaxed),
            other_status: self.errors[ErrorClass::OtherStatus.index()].load(Relaxed),
            transport: self.errors[ErrorClass::Transport.index()].load(Relaxed),
        };
        let first_errors = ErrorClass::ALL
            .iter()
            .filter_map(|c| {
                self.first_error[c.index()]
                    .get()
                    .map(|e| (c.name().to_owned(), e.clone()))
            })
            .collect();
        Summary {
            settings,
            duration_seconds: round3(secs),
            samples,
            samples_failed: self.samples_failed.load(Relaxed),
            samples_per_second: round3(samples as f64 / secs.max(1e-9)),
            requests: self.requests_ok.load(Relaxed) + self.error_count(),
            requests_ok: self.requests_ok.load(Relaxed),
            errors,
            errors_by_status: self
                .by_status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            first_errors,
            latency_ms: Latency::of(&mut lat),
            active_series: self.active_series.load(Relaxed),
            rounds: self.rounds.load(Relaxed),
            rounds_late: self.rounds_late.load(Relaxed),
            clock_waits: self.clock_waits.load(Relaxed),
            series_churned: self.series_churned.load(Relaxed),
            client_cpu_seconds: client_cpu_seconds.map(round3),
        }
    }
}

/// The run's settings, echoed in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Target URL.
    pub url: String,
    /// `flood` or `interval`.
    pub mode: &'static str,
    /// Active series asked for (`--series`).
    pub series: usize,
    /// Series ids (a histogram id is several series).
    pub series_ids: usize,
    /// Extra labels per series.
    pub labels: usize,
    /// Values per extra label (label_0, label_1, …; the rest have one).
    pub label_values: Vec<usize>,
    /// Metric names.
    pub metrics: usize,
    /// `counter`, `gauge`, `histogram` or `mixed <c,g,h>`.
    pub kind: String,
    /// Finite buckets per histogram.
    pub histogram_buckets: usize,
    /// Sample interval in seconds (0 in flood mode).
    pub interval_seconds: f64,
    /// Flood mode: synthetic seconds between rounds.
    pub flood_step_seconds: f64,
    /// Rounds limit, 0 for none.
    pub rounds_limit: u64,
    /// Workers actually used (fewer than `--concurrency` only for tiny series counts).
    pub concurrency: usize,
    /// Samples per request aimed for (see [`Plan`](crate::Plan)).
    pub batch_size: usize,
    /// Samples/s cap, 0 for none.
    pub max_rate: u64,
    /// Churn period in seconds, 0 for none.
    pub churn_every_seconds: f64,
    /// Fraction replaced per churn.
    pub churn_fraction: f64,
}

/// Failed requests by class.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ErrorCounts {
    /// 4xx answers.
    pub http_4xx: u64,
    /// 5xx answers.
    pub http_5xx: u64,
    /// Other non-2xx answers.
    pub other_status: u64,
    /// No answer.
    pub transport: u64,
}

impl ErrorCounts {
    /// All failed requests.
    pub fn total(&self) -> u64 {
        self.http_4xx + self.http_5xx + self.other_status + self.transport
    }
}

/// The key of a failed request in `errors_by_status`.
pub(crate) fn status_key(status: Option<u16>) -> String {
    status.map_or_else(|| "transport".to_owned(), |s| s.to_string())
}

/// Request latency percentiles in milliseconds (nearest rank, µs resolution).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest request.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Latency {
    /// The percentiles of `us` (latencies in µs; sorted in place).
    pub fn of(us: &mut [u32]) -> Self {
        us.sort_unstable();
        let pct = |q: f64| -> f64 {
            if us.is_empty() {
                return 0.0;
            }
            // Nearest rank.
            let rank = ((q * us.len() as f64).ceil() as usize).clamp(1, us.len());
            f64::from(us[rank - 1]) / 1000.0
        };
        let mean = if us.is_empty() {
            0.0
        } else {
            us.iter().map(|&v| f64::from(v)).sum::<f64>() / us.len() as f64 / 1000.0
        };
        Self {
            p50: pct(0.50),
            p90: pct(0.90),
            p99: pct(0.99),
            max: us.last().map_or(0.0, |&v| f64::from(v) / 1000.0),
            mean: round3(mean),
        }
    }

    /// `p50=… p90=… p99=… max=… mean=…` in ms.
    pub fn to_text(&self) -> String {
        format!(
            "p50={:.2} p90={:.2} p99={:.2} max={:.2} mean={:.2}",
            self.p50, self.p90, self.p99, self.max, self.mean
        )
    }
}

/// What a run achieved; printed as text or, with `--json`, as one JSON object.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The settings used.
    pub settings: Settings,
    /// From the first request to the last answer.
    pub duration_seconds: f64,
    /// Samples in acknowledged (2xx) requests.
    pub samples: u64,
    /// Samples in failed requests.
    pub samples_failed: u64,
    /// `samples / duration_seconds`.
    pub samples_per_second: f64,
    /// Requests sent (answered or not).
    pub requests: u64,
    /// Requests answered 2xx.
    pub requests_ok: u64,
    /// Failed requests by class.
    pub errors: ErrorCounts,
    /// Failed requests by HTTP status (`transport`: no answer).
    pub errors_by_status: BTreeMap<String, u64>,
    /// The first failure of each class that occurred: status and body, or the error.
    pub first_errors: BTreeMap<String, String>,
    /// Request latency.
    pub latency_ms: Latency,
    /// Series written per round (histogram buckets, `_sum` and `_count` included).
    pub active_series: u64,
    /// Rounds (every series of a shard sent once) completed, summed over workers.
    pub rounds: u64,
    /// Interval mode: rounds that started late because the previous one overran.
    pub rounds_late: u64,
    /// Flood mode: pauses because synthetic time reached now + 5 min.
    pub clock_waits: u64,
    /// Series replaced by churn.
    pub series_churned: u64,
    /// CPU time the load generator itself used (Linux only).
    pub client_cpu_seconds: Option<f64>,
}

impl Summary {
    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let s = &self.settings;
        let e = &self.errors;
        let l = &self.latency_ms;
        let mut out = String::new();
        let _ = writeln!(out, "target          {}", s.url);
        let _ = writeln!(
            out,
            "workload        {} mode, {} active series ({} ids) x {} extra labels {:?} over {} {} metrics, batch {}, concurrency {}",
            s.mode,
            group(self.active_series),
            group(s.series_ids as u64),
            s.labels,
            s.label_values,
            s.metrics,
            s.kind,
            s.batch_size,
            s.concurrency
        );
        let _ = writeln!(out, "duration        {:.3} s", self.duration_seconds);
        let _ = writeln!(
            out,
            "samples         {} acknowledged, {} failed",
            group(self.samples),
            group(self.samples_failed)
        );
        let _ = writeln!(
            out,
            "throughput      {} samples/s",
            group(self.samples_per_second as u64)
        );
        let _ = writeln!(
            out,
            "requests        {} ({} ok)",
            group(self.requests),
            group(self.requests_ok)
        );
        let _ = writeln!(
            out,
            "errors          http_4xx={} http_5xx={} other_status={} transport={}",
            e.http_4xx, e.http_5xx, e.other_status, e.transport
        );
        if !self.errors_by_status.is_empty() {
            let by: Vec<String> = self
                .errors_by_status
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = writeln!(out, "errors by status {}", by.join(" "));
        }
        for (class, detail) in &self.first_errors {
            let _ = writeln!(out, "first {class:<9} {detail}");
        }
        let _ = writeln!(out, "latency (ms)    {}", l.to_text());
        let _ = writeln!(
            out,
            "rounds          {} (late {}, clock waits {}), series churned {}",
            self.rounds, self.rounds_late, self.clock_waits, self.series_churned
        );
        if let Some(cpu) = self.client_cpu_seconds {
            let _ = writeln!(out, "loadgen cpu     {cpu:.2} s");
        }
        out
    }

    /// Prints the summary to stdout: text, or one line of JSON with `json`.
    #[allow(clippy::print_stdout)]
    pub fn print(&self, json: bool) {
        if json {
            match serde_json::to_string(self) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("cairn-loadgen: cannot render summary as JSON: {e}"),
            }
        } else {
            print!("{}", self.to_text());
        }
    }
}

pub(crate) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// `1234567` → `1,234,567`.
pub(crate) fn group(n: u64) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    groups.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            url: "http://x/api/v1/write".into(),
            mode: "flood",
            series: 10,
            series_ids: 10,
            labels: 1,
            label_values: vec![1],
            metrics: 1,
            kind: "gauge".into(),
            histogram_buckets: 11,
            interval_seconds: 0.0,
            flood_step_seconds: 1.0,
            rounds_limit: 0,
            concurrency: 1,
            batch_size: 10,
            max_rate: 0,
            churn_every_seconds: 0.0,
            churn_fraction: 0.1,
        }
    }

    #[test]
    fn percentiles_counts_and_first_errors() {
        let stats = Stats::default();
        for ms in (1..=100).rev() {
            stats.latency(ms * 1000);
        }
        for _ in 0..98 {
            stats.ok(10);
        }
        stats.set_active_series(10);
        stats.failed(
            10,
            ErrorClass::Http4xx,
            Some(400),
            "400 Bad Request: first".into(),
        );
        stats.failed(
            10,
            ErrorClass::Http4xx,
            Some(429),
            "429 Too Many Requests".into(),
        );
        let s = stats.summary(settings(), Duration::from_secs(2), None);
        assert_eq!(s.samples, 980);
        assert_eq!(s.samples_failed, 20);
        assert_eq!(s.samples_per_second, 490.0);
        assert_eq!(s.requests, 100);
        assert_eq!(s.errors.http_4xx, 2);
        assert_eq!(s.errors.total(), 2);
        assert_eq!(s.first_errors["http_4xx"], "400 Bad Request: first");
        assert_eq!(
            s.errors_by_status,
            BTreeMap::from([("400".to_owned(), 1), ("429".to_owned(), 1)])
        );
        assert_eq!(s.active_series, 10);
        assert_eq!(
            (s.latency_ms.p50, s.latency_ms.p90, s.latency_ms.p99),
            (50.0, 90.0, 99.0)
        );
        assert_eq!(s.latency_ms.max, 100.0);
        assert_eq!(s.latency_ms.mean, 50.5);
        let json: serde_json::Value = serde_json::to_value(&s).unwrap();
        assert_eq!(json["errors"]["http_4xx"], 2);
        assert_eq!(json["latency_ms"]["p99"], 99.0);
        let text = s.to_text();
        assert!(
            text.contains("first http_4xx  400 Bad Request: first"),
            "{text}"
        );
        assert!(text.contains("errors by status 400=1 429=1"), "{text}");
    }

    #[test]
    fn empty_run_and_grouping() {
        let s = Stats::default().summary(settings(), Duration::ZERO, Some(0.5));
        assert_eq!(s.samples_per_second, 0.0);
        assert_eq!(s.latency_ms.p99, 0.0);
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_234_567), "1,234,567");
        let stats = Stats::default();
        stats.set_active_series(1_000_000);
        let line = stats.progress_line(Duration::from_secs(5), 0, Duration::from_secs(5));
        assert!(line.contains("transport=0"), "{line}");
        assert!(line.contains("active series 1,000,000"), "{line}");
    }
}
