//! Query mode (`cairn-loadgen query`): dashboard-like range queries against a
//! Prometheus-compatible HTTP API, at a given concurrency and rate, for a duration.
//!
//! Each request is one `POST /api/v1/query_range` (form-encoded, as Grafana sends it)
//! over `[now - range, now]`, both ends aligned down to the step like Grafana does, with
//! a step picked at random from `--steps`. Queries are taken round-robin from the set
//! (the built-in one below or `--queries FILE`), so every query runs about equally
//! often; `{{counter}}`, `{{gauge}}` and `{{histogram}}` in a query are replaced per
//! request by a random metric of that type from the `write` layout given by the shape
//! flags. The choices depend only on `--seed` and the request's number, so runs against
//! two targets with the same flags and `--requests` send the same queries. Latency is measured from sending the request to having read the whole body.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::args::{Auth, QueryArgs};
use crate::client::{failed, http_client, transport, with_auth, Outcome};
use crate::pace::{now_ms, sleep_until_or_stop, stop_signal, RateLimiter};
use crate::series::{Catalog, MetricType};
use crate::stats::{group, round3, status_key, Latency};
use crate::Error;

/// The built-in set: what a service dashboard over the generated metrics would ask.
pub const BUILTIN_QUERIES: [(&str, &str); 9] = [
    ("rate_sum_by", "sum by (label_0) (rate({{counter}}[5m]))"),
    ("rate_total", "sum(rate({{counter}}[1m]))"),
    ("topk_rate", "topk(5, rate({{counter}}[5m]))"),
    ("gauge_avg_by", "avg by (label_1) ({{gauge}})"),
    (
        "gauge_max_over_time",
        "max by (label_0) (max_over_time({{gauge}}{label_1=\"value_0\"}[5m]))",
    ),
    ("gauge_count_by", "count by (label_0) ({{gauge}})"),
    (
        "histogram_p99",
        "histogram_quantile(0.99, sum by (le) (rate({{histogram}}_bucket[5m])))",
    ),
    (
        "histogram_p90_by",
        "histogram_quantile(0.9, sum by (le, label_0) (rate({{histogram}}_bucket[5m])))",
    ),
    (
        "histogram_mean",
        "sum(rate({{histogram}}_sum[5m])) / sum(rate({{histogram}}_count[5m]))",
    ),
];

const PLACEHOLDERS: [(&str, MetricType); 3] = [
    ("{{counter}}", MetricType::Counter),
    ("{{gauge}}", MetricType::Gauge),
    ("{{histogram}}", MetricType::Histogram),
];

/// One query of the set.
#[derive(Debug, Clone)]
pub struct QueryTemplate {
    /// Short name for the summary.
    pub name: String,
    /// PromQL, possibly with placeholders.
    pub text: String,
}

/// The metric names placeholders are replaced with.
#[derive(Debug, Clone)]
pub struct Names {
    by_type: [Vec<String>; 3],
}

impl Names {
    /// The metrics of `catalog` that have series.
    pub fn of(catalog: &Catalog) -> Self {
        Self {
            by_type: PLACEHOLDERS.map(|(_, t)| catalog.metric_names(t)),
        }
    }

    /// Whether every placeholder in `text` has at least one metric.
    fn can_fill(&self, text: &str) -> bool {
        PLACEHOLDERS
            .iter()
            .zip(&self.by_type)
            .all(|((p, _), names)| !text.contains(p) || !names.is_empty())
    }

    /// `text` with every placeholder replaced by a random metric of its type (one
    /// choice per placeholder kind, so `{{histogram}}_sum / {{histogram}}_count` stays
    /// one histogram).
    pub fn fill(&self, text: &str, rng: &mut impl Rng) -> String {
        let mut out = text.to_owned();
        for ((p, _), names) in PLACEHOLDERS.iter().zip(&self.by_type) {
            if out.contains(p) && !names.is_empty() {
                let pick = &names[rng.gen_range(0..names.len())];
                out = out.replace(p, pick);
            }
        }
        out
    }
}

/// The queries to run: `--queries FILE` or the built-in set (without the queries whose
/// metric types the layout lacks).
pub fn load_queries(args: &QueryArgs, names: &Names) -> Result<Vec<QueryTemplate>, Error> {
    let queries: Vec<QueryTemplate> = match &args.queries {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::InvalidArgs(format!("--queries {}: {e}", path.display())))?;
            let mut out = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                if !names.can_fill(line) {
                    return Err(Error::InvalidArgs(format!(
                        "--queries {} line {}: a placeholder names a metric type the layout has no series of",
                        path.display(),
                        i + 1
                    )));
                }
                out.push(QueryTemplate {
                    name: format!("line {}", i + 1),
                    text: line.to_owned(),
                });
            }
            out
        }
        None => BUILTIN_QUERIES
            .iter()
            .filter(|(_, q)| names.can_fill(q))
            .map(|(n, q)| QueryTemplate {
                name: (*n).to_owned(),
                text: (*q).to_owned(),
            })
            .collect(),
    };
    if queries.is_empty() {
        return Err(Error::InvalidArgs("no queries to run".into()));
    }
    Ok(queries)
}

/// The `query_range` URL for `--url`.
pub fn query_range_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/api/v1/query_range") {
        base.to_owned()
    } else {
        format!("{base}/api/v1/query_range")
    }
}

/// `[start, end]` in ms for a query at `now_ms`: the end aligned down to the step.
pub fn aligned_range(now_ms: i64, range: Duration, step: Duration) -> (i64, i64) {
    let step = (step.as_millis() as i64).max(1);
    let end = now_ms.div_euclid(step) * step;
    (end - range.as_millis() as i64, end)
}

#[derive(Debug, Deserialize)]
struct ApiResponse {
    status: String,
    #[serde(default)]
    data: Option<ApiData>,
}

#[derive(Debug, Deserialize)]
struct ApiData {
    #[serde(default)]
    result: Vec<IgnoredAny>,
}

/// Per-query counters.
#[derive(Debug, Default)]
struct PerQuery {
    latencies_us: Vec<u32>,
    errors: u64,
    series: u64,
    empty: u64,
}

#[derive(Debug, Default)]
struct QueryStats {
    ok: AtomicU64,
    failed: AtomicU64,
    window_max_us: AtomicU64,
    by_status: Mutex<BTreeMap<String, u64>>,
    first_errors: Mutex<BTreeMap<String, String>>,
    per_query: Vec<Mutex<PerQuery>>,
}

impl QueryStats {
    fn new(queries: usize) -> Self {
        Self {
            per_query: (0..queries).map(|_| Mutex::default()).collect(),
            ..Default::default()
        }
    }

    fn record(&self, q: usize, us: u32, result: Result<usize, (Option<String>, String)>) {
        self.window_max_us.fetch_max(u64::from(us), Relaxed);
        let mut pq = self.per_query[q].lock().unwrap_or_else(|e| e.into_inner());
        pq.latencies_us.push(us);
        match result {
            Ok(series) => {
                self.ok.fetch_add(1, Relaxed);
                pq.series += series as u64;
                if series == 0 {
                    pq.empty += 1;
                }
            }
            Err((key, detail)) => {
                self.failed.fetch_add(1, Relaxed);
                pq.errors += 1;
                drop(pq);
                let key = key.unwrap_or_else(|| "invalid_response".to_owned());
                *self
                    .by_status
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(key.clone())
                    .or_default() += 1;
                let mut first = self.first_errors.lock().unwrap_or_else(|e| e.into_inner());
                if let Entry::Vacant(e) = first.entry(key) {
                    eprintln!("cairn-loadgen: first query error ({}): {detail}", e.key());
                    e.insert(detail);
                }
            }
        }
    }

    fn progress_line(&self, elapsed: Duration, prev: u64, window: Duration) -> String {
        let done = self.ok.load(Relaxed) + self.failed.load(Relaxed);
        let rate = (done - prev.min(done)) as f64 / window.as_secs_f64().max(1e-9);
        format!(
            "[{:>6.1}s] queries {} | {rate:.1}/s | errors {} | max latency {:.1} ms",
            elapsed.as_secs_f64(),
            group(done),
            self.failed.load(Relaxed),
            self.window_max_us.swap(0, Relaxed) as f64 / 1000.0
        )
    }
}

/// One query's results in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    /// Name (built-in) or `line N` (file).
    pub name: String,
    /// The query as given (placeholders unreplaced).
    pub query: String,
    /// Requests sent.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Successful answers without any series.
    pub empty_results: u64,
    /// Mean series per successful answer.
    pub mean_series: f64,
    /// Latency of all its requests.
    pub latency_ms: Latency,
}

/// What a query run achieved; printed as text or, with `--json`, as one JSON object.
#[derive(Debug, Clone, Serialize)]
pub struct QuerySummary {
    /// The `query_range` URL.
    pub url: String,
    /// Workers.
    pub concurrency: usize,
    /// Rate cap, 0 for none.
    pub qps_limit: f64,
    /// Range of every query, seconds.
    pub range_seconds: f64,
    /// Steps picked from, seconds.
    pub steps_seconds: Vec<f64>,
    /// Wall time of the run.
    pub duration_seconds: f64,
    /// Requests sent.
    pub requests: u64,
    /// Requests answered 2xx with `"status": "success"`.
    pub requests_ok: u64,
    /// Failed requests.
    pub errors: u64,
    /// Failed requests by HTTP status (`transport`: no answer; `invalid_response`: a
    /// 2xx whose body is not a successful API response).
    pub errors_by_status: BTreeMap<String, u64>,
    /// The first failure of each kind.
    pub first_errors: BTreeMap<String, String>,
    /// `requests / duration_seconds`.
    pub queries_per_second: f64,
    /// Successful answers without any series (the data may not cover the range).
    pub empty_results: u64,
    /// Latency over all requests.
    pub latency_ms: Latency,
    /// Per query.
    pub queries: Vec<QueryResult>,
}

impl QuerySummary {
    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "target          {}", self.url);
        let steps: Vec<String> = self.steps_seconds.iter().map(|s| format!("{s}s")).collect();
        let _ = writeln!(
            out,
            "workload        {} queries over the last {}s, steps {}, concurrency {}, qps limit {}",
            self.queries.len(),
            self.range_seconds,
            steps.join(","),
            self.concurrency,
            if self.qps_limit > 0.0 {
                self.qps_limit.to_string()
            } else {
                "none".into()
            }
        );
        let _ = writeln!(out, "duration        {:.3} s", self.duration_seconds);
        let _ = writeln!(
            out,
            "requests        {} ({} ok), {:.2}/s, {} empty results",
            group(self.requests),
            group(self.requests_ok),
            self.queries_per_second,
            self.empty_results
        );
        let by: Vec<String> = self
            .errors_by_status
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "errors          {} {}", self.errors, by.join(" "));
        for (k, v) in &self.first_errors {
            let _ = writeln!(out, "first {k:<9} {v}");
        }
        let _ = writeln!(out, "latency (ms)    {}", self.latency_ms.to_text());
        for q in &self.queries {
            let _ = writeln!(
                out,
                "  {:<22} n={} errors={} series/answer={:.1} {}",
                q.name,
                q.requests,
                q.errors,
                q.mean_series,
                q.latency_ms.to_text()
            );
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

struct Ctx {
    client: reqwest::Client,
    url: String,
    auth: Auth,
    queries: Vec<QueryTemplate>,
    names: Names,
    range: Duration,
    steps: Vec<Duration>,
    limiter: Option<RateLimiter>,
    limit: u64,
    issued: AtomicU64,
    stats: QueryStats,
}

/// Runs queries until `--duration` is over, `--requests` were sent, or Ctrl-C.
pub async fn run_queries(args: QueryArgs) -> Result<QuerySummary, Error> {
    args.validate()?;
    let catalog = Catalog::new(&args.shape);
    let names = Names::of(&catalog);
    let queries = load_queries(&args, &names)?;
    let url = query_range_url(&args.url);
    let client = http_client(
        reqwest::header::HeaderMap::new(),
        args.auth.tenant.as_deref(),
        args.timeout,
        args.concurrency,
    )?;
    let ctx = Arc::new(Ctx {
        client,
        url: url.clone(),
        auth: args.auth.auth()?,
        stats: QueryStats::new(queries.len()),
        queries,
        names,
        range: args.range,
        steps: args.steps.0.clone(),
        limiter: (args.qps > 0.0).then(|| RateLimiter::new(args.qps)),
        limit: args.requests,
        issued: AtomicU64::new(0),
    });
    let start = Instant::now();
    let (stopper, stop) = stop_signal(args.duration);
    let mut background = vec![stopper];
    if !args.progress_every.is_zero() {
        let every = args.progress_every;
        let ctx = ctx.clone();
        background.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at((start + every).into(), every);
            let (mut prev, mut prev_at) = (0, start);
            loop {
                tick.tick().await;
                let now = Instant::now();
                eprintln!(
                    "{}",
                    ctx.stats.progress_line(now - start, prev, now - prev_at)
                );
                prev = ctx.stats.ok.load(Relaxed) + ctx.stats.failed.load(Relaxed);
                prev_at = now;
            }
        }));
    }
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| tokio::spawn(worker(ctx.clone(), args.seed, stop.clone())))
        .collect();
    for r in futures::future::join_all(workers).await {
        if let Err(e) = r {
            eprintln!("cairn-loadgen: worker failed: {e}");
        }
    }
    let elapsed = start.elapsed();
    for t in background {
        t.abort();
    }
    Ok(summarize(&args, &ctx, url, elapsed))
}

async fn worker(ctx: Arc<Ctx>, seed: u64, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let n = ctx.issued.fetch_add(1, Relaxed);
        if ctx.limit > 0 && n >= ctx.limit {
            return;
        }
        if let Some(l) = &ctx.limiter {
            if sleep_until_or_stop(l.reserve(1), &mut stop).await {
                return;
            }
        }
        let q = (n % ctx.queries.len() as u64) as usize;
        // Metric and step depend only on the seed and the request number, so two runs
        // with the same flags send the same sequence of queries.
        let mut rng = StdRng::seed_from_u64(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let text = ctx.names.fill(&ctx.queries[q].text, &mut rng);
        let step = ctx.steps[rng.gen_range(0..ctx.steps.len())];
        let (start_ms, end_ms) = aligned_range(now_ms(), ctx.range, step);
        let secs = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);
        let form = [
            ("query", text),
            ("start", secs(start_ms)),
            ("end", secs(end_ms)),
            ("step", format!("{}", step.as_secs_f64())),
        ];
        let sent = Instant::now();
        let req = with_auth(ctx.client.post(&ctx.url).form(&form), &ctx.auth);
        let outcome = match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                match resp.bytes().await {
                    Ok(body) if status.is_success() => {
                        match serde_json::from_slice::<ApiResponse>(&body) {
                            Ok(r) if r.status == "success" => {
                                Ok(r.data.map_or(0, |d| d.result.len()))
                            }
                            Ok(r) => Err((None, format!("api status {:?}", r.status))),
                            Err(e) => Err((None, format!("cannot parse the answer: {e}"))),
                        }
                    }
                    Ok(body) => Err(match failed(status.as_u16(), &body) {
                        Outcome::Failed { status, detail, .. } => {
                            (Some(status_key(status)), detail)
                        }
                        Outcome::Ok => (None, String::new()),
                    }),
                    Err(e) => Err(transport_error(&e)),
                }
            }
            Err(e) => Err(transport_error(&e)),
        };
        let us = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        ctx.stats.record(q, us, outcome);
    }
}

fn transport_error(e: &reqwest::Error) -> (Option<String>, String) {
    match transport(e) {
        Outcome::Failed { detail, .. } => (Some(status_key(None)), detail),
        Outcome::Ok => (None, String::new()),
    }
}

fn summarize(args: &QueryArgs, ctx: &Ctx, url: String, elapsed: Duration) -> QuerySummary {
    let mut all = Vec::new();
    let mut queries = Vec::new();
    let mut empty_results = 0;
    for (t, pq) in ctx.queries.iter().zip(&ctx.stats.per_query) {
        let mut pq = pq.lock().unwrap_or_else(|e| e.into_inner());
        all.extend_from_slice(&pq.latencies_us);
        let requests = pq.latencies_us.len() as u64;
        let ok = requests - pq.errors;
        empty_results += pq.empty;
        queries.push(QueryResult {
            name: t.name.clone(),
            query: t.text.clone(),
            requests,
            errors: pq.errors,
            empty_results: pq.empty,
            mean_series: if ok == 0 {
                0.0
            } else {
                round3(pq.series as f64 / ok as f64)
            },
            latency_ms: Latency::of(&mut pq.latencies_us),
        });
    }
    let requests = all.len() as u64;
    let secs = elapsed.as_secs_f64();
    QuerySummary {
        url,
        concurrency: args.concurrency,
        qps_limit: args.qps,
        range_seconds: args.range.as_secs_f64(),
        steps_seconds: args.steps.0.iter().map(Duration::as_secs_f64).collect(),
        duration_seconds: round3(secs),
        requests,
        requests_ok: ctx.stats.ok.load(Relaxed),
        errors: ctx.stats.failed.load(Relaxed),
        errors_by_status: ctx
            .stats
            .by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        first_errors: ctx
            .stats
            .first_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        queries_per_second: round3(requests as f64 / secs.max(1e-9)),
        empty_results,
        latency_ms: Latency::of(&mut all),
        queries,
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
