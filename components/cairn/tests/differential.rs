//! Differential test: the same generated data (floats, classic histograms and integer
//! native histograms) is remote-written into a real Prometheus 2.42
//! (`--web.enable-remote-write-receiver --enable-feature=native-histograms`) and into
//! `cairn all`, then a generated
//! set of PromQL queries — every function and operator family Cairn supports — runs on
//! both as instant queries (three times) and range queries (steps 15s, 60s, 137s); the
//! answers must agree within 1e-6 relative tolerance (NaN == NaN), as series sets
//! (in order for sort, sort_desc and ungrouped topk/bottomk instant queries).
//!
//! Needs `prometheus` on PATH (scripts/test.sh installs Debian's 2.42). Everything is
//! generated from fixed seeds, so a failure reproduces; the failure message names the
//! query, its evaluation time(s) and both answers.
//!
//! Cairn follows Prometheus 3 semantics. The 2.42/3.x differences kept out on purpose:
//! - (a) range and lookback windows are closed `[t-r, t]` in 2.42 and left-open
//!   `(t-r, t]` in 3.x: sample timestamps are ≡ 3 (mod 10) ms, evaluation times ≡ 7,
//!   and every range, offset and step is whole seconds, so no window boundary (nor a
//!   subquery step, aligned to a multiple of its step) ever falls on a sample;
//! - (b) 2.42 applies the counter zero-point clamp before the half-interval
//!   extrapolation limit, 3.x after, which changes rate/increase over windows holding a
//!   series' first sample: every window of every query starts after all series exist
//!   (see `queries::MAX_LOOKBACK_MIN`);
//! - (c) `holt_winters` (2.42) is `double_exponential_smoothing` in 3.x, and Cairn has
//!   neither: not queried.
//! - (d) see `VERSION_DIFFERENCES` below.

mod common;
#[path = "differential/data.rs"]
mod data;
#[path = "differential/queries.rs"]
mod queries;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::*;
use serde_json::Value;

const DATA_SEED: u64 = 0x00C0_FFEE_2042;
const NATIVE_SEED: u64 = 0x0000_4157_0042;
const MINUTE: i64 = 60_000;
/// Span of the generated data, ending `END_BEFORE_NOW` before the test starts (both
/// sides take recent data; Prometheus's head refuses samples more than an hour older
/// than its newest, so the data is written oldest first in `WRITE_SLICE` pieces).
const DATA_SPAN: i64 = 60 * MINUTE;
const END_BEFORE_NOW: i64 = 3 * MINUTE;
const WRITE_SLICE: i64 = 5 * MINUTE;
/// Queries in flight at once.
const CONCURRENCY: usize = 3;
const RANGE_STEPS_S: [i64; 3] = [15, 60, 137];

/// Queries where Prometheus 2.42 and 3.x (which Cairn follows) disagree by design;
/// each names the difference. They run and are reported, but do not fail the test.
const VERSION_DIFFERENCES: &[(&str, &str)] = &[
    (
        "histogram_count(avg(rate(native_latency_seconds[5m])))",
        "2.42's `avg` aggregates float samples only (its aggregation reads `s.V`), so the \
         result is empty; 3.x averages native histograms, as Cairn does. `sum` over the same \
         histograms is compared.",
    ),
    (
        "histogram_quantile(0.9, rate(native_latency_seconds[5m]))",
        "3.0 interpolates exponentially inside the buckets of exponential native histograms \
         (CHANGELOG 3.0.0: \"Introduce exponential interpolation for native histograms\", \
         #14677); 2.42 interpolates linearly. Cairn follows 3.x (upstream \
         native_histograms.test passes).",
    ),
    (
        "histogram_quantile(0.5, sum(rate(native_latency_seconds[5m])))",
        "exponential (3.x) vs linear (2.42) interpolation in native buckets, as above.",
    ),
    (
        "histogram_fraction(0, 0.1, rate(native_latency_seconds[5m]))",
        "exponential (3.x) vs linear (2.42) interpolation in native buckets, as above.",
    ),
    (
        "temperature_celsius atan2 10",
        "2.42 keeps __name__ on `atan2` results; since 2.47 (prometheus/prometheus commit \
         531567d, \"Drop metric name for atan2 binary operator\") it is dropped like for \
         every other arithmetic operator, as in Cairn. The values are compared through \
         `sum by (...)` queries instead.",
    ),
    (
        r#"label_replace(up, "1bad", "x", "job", ".*")"#,
        "2.42 accepts only legacy label names ([a-zA-Z_][a-zA-Z0-9_]*) as label_replace's \
         destination and fails with \"invalid destination label name\"; 3.x (UTF-8 label \
         names, model.UTF8Validation) accepts any non-empty name, as Cairn does. The empty \
         name, invalid in both, is among the compared errors.",
    ),
    (
        r#"odd_labels{path=~"new.line"}"#,
        "3.x compiles regular-expression matchers with `(?s:…)`, so `.` also matches a \
         newline (3.0 changelog: \"regexp `.` now matches all characters\", #14505); 2.42 \
         does not. Cairn follows 3.x. The label value with a newline is compared through \
         `=` and other matchers instead.",
    ),
    (
        r#"sum(cancellation{part=~"a|b|c"})"#,
        "2.42 sums aggregations naively (1e17 + 1.5 - 1e17 = 0); Kahan summation since 2.54 \
         (commit ea82b49, \"PromQL: use Kahan summation for sum()\") gives 1.5, as Cairn.",
    ),
    (
        r#"avg(cancellation{part=~"a|b|c"})"#,
        "2.42 always averages incrementally (gives 0 here); since 2.55 (commit c46074f, \
         \"make avg aggregation more precise\") avg is a Kahan sum divided by the count \
         unless that overflows: 0.5, as Cairn.",
    ),
    (
        r#"avg_over_time(cancellation{part="mixed"}[1m])"#,
        "the same change for avg_over_time since 2.55 (commit cff0429, \"make avg_over_time \
         faster and more precise\"): e.g. [1.5, -1e17, 1e17, 1.5] averages to 1.875 in 2.42, \
         0.75 in 3.x and Cairn.",
    ),
];

/// Queries where Cairn disagrees with Prometheus and the difference looks like a Cairn
/// bug. They are run and reported (so a fix shows up) but do not fail the test.
const KNOWN_CAIRN_BUGS: &[(&str, &str)] = &[
    // KNOWN CAIRN BUG: RE2's \Q…\E literal quoting. Cairn's own matchers translate it
    // (cairn_model::regex_compat), but the promql-parser crate compiles every matcher
    // regex with Rust's regex crate while parsing and refuses the query first.
    (
        r#"odd_labels{path=~"\\Q/api/v1/query\\E"}"#,
        "cairn: 400 bad_data \"illegal regex\" from promql-parser; prometheus returns path=\"/api/v1/query\"",
    ),
];

/// Whether identical values must also be spelled identically (Cairn formats values like
/// Prometheus's JSON codec: 'f' shortest, 'e' below 1e-6 and from 1e21, ties to even).
const CHECK_VALUE_SPELLING: bool = true;

fn start_prometheus(dir: &Path, port: u16) -> Proc {
    // No scrape configs: the data comes only through remote write. The default global
    // evaluation interval (1m) is the step of subqueries written without one, like
    // Cairn's `no_step_subquery_interval`.
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, "global: {}\n").unwrap();
    let log = dir.join("prometheus.log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--enable-feature=native-histograms")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("prometheus must be installed (scripts/test.sh installs Debian's package)");
    let proc = Proc {
        child,
        name: "prometheus".into(),
        log,
    };
    wait_ready(port, "/-/ready", &proc);
    proc
}

/// Milliseconds to RFC 3339 with milliseconds (exact on both sides, unlike float
/// seconds, which 2.42 can truncate to the millisecond below).
fn rfc3339(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// One answer reduced for comparison: result type and `(labels, points)` in answer
/// order, or the error type.
#[derive(Debug)]
enum Answer {
    Ok {
        kind: String,
        series: Vec<(String, Vec<(i64, f64)>)>,
        /// The value strings as sent, by series (empty for the written data).
        texts: BTreeMap<String, Vec<String>>,
    },
    Err(String),
}

impl Answer {
    fn parse(status: u16, body: &Value) -> Self {
        if body["status"] != "success" {
            return Self::Err(format!(
                "{status} {}: {}",
                body["errorType"].as_str().unwrap_or("?"),
                body["error"].as_str().unwrap_or("?")
            ));
        }
        let point = |p: &Value| -> (i64, f64) {
            let t = (p[0].as_f64().expect("timestamp") * 1000.0).round() as i64;
            let v = p[1].as_str().expect("value string");
            let v = v
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("unparseable value {v:?}"));
            (t, v)
        };
        let data = &body["data"];
        let kind = data["resultType"].as_str().unwrap_or("?").to_string();
        let series = match kind.as_str() {
            "scalar" => vec![("<scalar>".to_string(), vec![point(&data["result"])])],
            "string" => {
                let r = &data["result"];
                let t = (r[0].as_f64().expect("timestamp") * 1000.0).round() as i64;
                vec![(format!("<string {}>", r[1]), vec![(t, 0.0)])]
            }
            _ => data["result"]
                .as_array()
                .expect("result array")
                .iter()
                .map(|s| {
                    let labels = s["metric"]
                        .as_object()
                        .expect("metric")
                        .iter()
                        .map(|(k, v)| (k, v.as_str().expect("label value")));
                    let pts = match (s.get("value"), s.get("values")) {
                        (Some(v), _) => vec![point(v)],
                        (_, Some(vs)) => vs.as_array().unwrap().iter().map(point).collect(),
                        _ => panic!("unexpected series shape {s}"),
                    };
                    (series_key(labels), pts)
                })
                .collect(),
        };
        let mut texts = BTreeMap::new();
        if let Some(result) = data["result"].as_array() {
            for s in result {
                let labels = s["metric"].as_object().map(|m| {
                    m.iter()
                        .map(|(k, v)| (k, v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                });
                let Some(labels) = labels else { continue };
                let pts = match (s.get("value"), s.get("values")) {
                    (Some(v), _) => vec![v],
                    (_, Some(vs)) => vs.as_array().unwrap().iter().collect(),
                    _ => continue,
                };
                texts.insert(
                    series_key(labels.into_iter()),
                    pts.iter()
                        .map(|p| p[1].as_str().unwrap_or_default().to_string())
                        .collect(),
                );
            }
        }
        Self::Ok {
            kind,
            series,
            texts,
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Self::Ok { series, .. } => series.is_empty(),
            Self::Err(_) => true,
        }
    }
}

/// `{a="x",b="y"}` with labels sorted by name: the identity of a series in comparisons.
fn series_key<K: AsRef<str>, V: AsRef<str>>(labels: impl Iterator<Item = (K, V)>) -> String {
    let mut labels: Vec<(K, V)> = labels.collect();
    labels.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}={:?}", k.as_ref(), v.as_ref()))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
}

fn fmt_points(p: &[(i64, f64)]) -> String {
    let shown: Vec<String> = p
        .iter()
        .take(6)
        .map(|(t, v)| format!("{}@{v}", secs(*t)))
        .collect();
    let more = if p.len() > 6 {
        format!(" …(+{})", p.len() - 6)
    } else {
        String::new()
    };
    format!("[{}{more}]", shown.join(" "))
}

/// None when the answers agree, else a description of how they differ.
fn compare(expected: &Answer, got: &Answer, ordered: bool, spelling: bool) -> Option<String> {
    let (ek, es, gk, gs, et, gt) = match (expected, got) {
        // Both refuse: with the same status code and errorType (the messages may differ).
        (Answer::Err(e), Answer::Err(g)) => {
            let kind = |m: &str| m.split(':').next().unwrap_or_default().to_string();
            return (kind(e) != kind(g))
                .then(|| format!("both refuse, differently: prometheus {e}, cairn {g}"));
        }
        (Answer::Err(e), Answer::Ok { .. }) => {
            return Some(format!("prometheus failed ({e}), cairn answered"))
        }
        (Answer::Ok { .. }, Answer::Err(e)) => {
            return Some(format!("cairn failed ({e}), prometheus answered"))
        }
        (
            Answer::Ok {
                kind: ek,
                series: es,
                texts: et,
            },
            Answer::Ok {
                kind: gk,
                series: gs,
                texts: gt,
            },
        ) => (ek, es, gk, gs, et, gt),
    };
    let mut out = String::new();
    if ek != gk {
        let _ = writeln!(out, "result type: prometheus {ek}, cairn {gk}");
    }
    let e: BTreeMap<&String, &Vec<(i64, f64)>> = es.iter().map(|(k, p)| (k, p)).collect();
    let g: BTreeMap<&String, &Vec<(i64, f64)>> = gs.iter().map(|(k, p)| (k, p)).collect();
    if e.len() != es.len() || g.len() != gs.len() {
        let _ = writeln!(out, "duplicate series in an answer");
    }
    let mut shown = 0;
    for (k, ep) in &e {
        let line = match g.get(k) {
            None => Some(format!("only prometheus: {k} {}", fmt_points(ep))),
            Some(gp) if ep.len() != gp.len() => Some(format!(
                "{k}: prometheus {} points {}, cairn {} points {}",
                ep.len(),
                fmt_points(ep),
                gp.len(),
                fmt_points(gp)
            )),
            Some(gp) => ep
                .iter()
                .zip(gp.iter())
                .find(|(a, b)| a.0 != b.0 || !close(a.1, b.1))
                .map(|(a, b)| {
                    format!(
                        "{k}: prometheus {}@{} vs cairn {}@{}",
                        secs(a.0),
                        a.1,
                        secs(b.0),
                        b.1
                    )
                })
                .or_else(|| {
                    // Identical values must also be spelled the same way (Prometheus's
                    // jsonutil.MarshalFloat: shortest 'f', 'e' below 1e-6 and from 1e21,
                    // "NaN", "+Inf", "-Inf").
                    if !spelling {
                        return None;
                    }
                    let (et, gt) = (et.get(*k)?, gt.get(*k)?);
                    let i = (0..ep.len()).find(|&i| {
                        ep[i].1.to_bits() == gp[i].1.to_bits() && et.get(i) != gt.get(i)
                    })?;
                    Some(format!(
                        "{k}: value at {} spelled {:?} by prometheus, {:?} by cairn",
                        secs(ep[i].0),
                        et.get(i),
                        gt.get(i)
                    ))
                }),
        };
        if let Some(line) = line {
            shown += 1;
            if shown <= 5 {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    for (k, gp) in &g {
        if !e.contains_key(k) {
            shown += 1;
            if shown <= 5 {
                let _ = writeln!(out, "  only cairn: {k} {}", fmt_points(gp));
            }
        }
    }
    if shown > 5 {
        let _ = writeln!(out, "  … {} differing series in all", shown);
    }
    // In order: the same series set, and the values in the same order (series with
    // equal values may come in either order).
    if ordered && out.is_empty() {
        let values = |ss: &[(String, Vec<(i64, f64)>)]| -> Vec<f64> {
            ss.iter().map(|(_, p)| p[0].1).collect()
        };
        let (ev, gv) = (values(es), values(gs));
        if !ev.iter().zip(&gv).all(|(a, b)| close(*a, *b)) {
            let ek: Vec<&String> = es.iter().map(|(k, _)| k).collect();
            let gk: Vec<&String> = gs.iter().map(|(k, _)| k).collect();
            let _ = writeln!(
                out,
                "order: prometheus {ek:?} {ev:?}\n       cairn {gk:?} {gv:?}"
            );
        }
    }
    (!out.is_empty()).then_some(out)
}

#[derive(Debug, Clone)]
struct Target {
    client: reqwest::Client,
    base: String,
}

impl Target {
    async fn get(&self, path: &str, params: &[(&str, String)]) -> Answer {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .query(params)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}{path}: {e}", self.base));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}{path} answered non-JSON ({e}): {text}", self.base));
        Answer::parse(status, &body)
    }
}

/// One evaluation of a query: instant at `time`, or range `start..end` by `step`.
#[derive(Debug, Clone, Copy)]
enum Eval {
    Instant(i64),
    Range(i64, i64, i64),
}

impl Eval {
    fn request(self, expr: &str) -> (&'static str, Vec<(&'static str, String)>) {
        match self {
            Self::Instant(t) => (
                "/api/v1/query",
                vec![("query", expr.to_string()), ("time", rfc3339(t))],
            ),
            Self::Range(s, e, step) => (
                "/api/v1/query_range",
                vec![
                    ("query", expr.to_string()),
                    ("start", rfc3339(s)),
                    ("end", rfc3339(e)),
                    ("step", (step / 1000).to_string()),
                ],
            ),
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Instant(t) => format!("instant time={} ({})", rfc3339(t), secs(t)),
            Self::Range(s, e, step) => format!(
                "range start={} end={} step={}s ({}..{})",
                rfc3339(s),
                rfc3339(e),
                step / 1000,
                secs(s),
                secs(e)
            ),
        }
    }
}

#[derive(Debug, Default)]
struct Outcome {
    failures: Vec<String>,
    evaluations: usize,
    non_empty_evals: usize,
    instant_non_empty: bool,
    range_non_empty: bool,
}

/// Every evaluation of one query on both sides.
async fn run_query(
    prom: &Target,
    cairn: &Target,
    query: &queries::Query,
    at: &str,
    evals: &[Eval],
    spelling: bool,
) -> Outcome {
    let expr = query.expr.replace("{at}", at);
    let mut out = Outcome::default();
    for &eval in evals {
        let (p, c) = both(prom, cairn, eval, &expr).await;
        out.evaluations += 1;
        let is_instant = matches!(eval, Eval::Instant(_));
        if query.error && !matches!(p, Answer::Err(_)) {
            out.failures.push(format!(
                "{expr}\n  {}\n  prometheus was expected to refuse it: {p:?}",
                eval.describe()
            ));
        }
        if query.instant_only && !is_instant {
            // A range vector or string cannot be a range query's result: both refuse.
            if !matches!((&p, &c), (Answer::Err(_), Answer::Err(_))) {
                out.failures.push(format!(
                    "{expr}\n  {}\n  expected an error on both sides: prometheus {p:?}, cairn {c:?}",
                    eval.describe()
                ));
            }
            continue;
        }
        if !p.is_empty() {
            out.non_empty_evals += 1;
            if is_instant {
                out.instant_non_empty = true;
            } else {
                out.range_non_empty = true;
            }
        }
        if let Some(diff) = compare(&p, &c, query.ordered && is_instant, spelling) {
            out.failures
                .push(format!("{expr}\n  {}\n{diff}", eval.describe()));
        }
    }
    out
}

async fn both(prom: &Target, cairn: &Target, eval: Eval, expr: &str) -> (Answer, Answer) {
    let (path, params) = eval.request(expr);
    tokio::join!(prom.get(path, &params), cairn.get(path, &params))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_and_prometheus_agree_on_generated_data_and_queries() {
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let cairn_proc = start_cairn(dir.path(), &dir.path().join("cairn-data"), &[]);
    let prom_port = free_port();
    let prom_proc = start_prometheus(dir.path(), prom_port);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let prom = Target {
        client: client.clone(),
        base: format!("http://127.0.0.1:{prom_port}"),
    };
    let cairn = Target {
        client,
        base: cairn_proc.url(""),
    };

    // Data: [t0, t0 + 60m]. t0 is a multiple of 6m (the least common multiple of every
    // subquery step used), so subquery steps, range-query steps and the data keep the
    // same relative alignment from run to run; DIFFERENTIAL_T0_MS replays a given run
    // (within a day: Cairn refuses samples older than receive.max_sample_age, 24h).
    let t0 = match std::env::var("DIFFERENTIAL_T0_MS") {
        Ok(v) => v.parse().expect("DIFFERENTIAL_T0_MS: milliseconds"),
        Err(_) => (now_ms() - END_BEFORE_NOW - DATA_SPAN).div_euclid(6 * MINUTE) * 6 * MINUTE,
    };
    assert_eq!(t0 % 10, 0);
    let data_end = t0 + DATA_SPAN;
    let all_series = data::generate(DATA_SEED, t0, data_end);
    let native_series = data::generate_native(NATIVE_SEED, t0, data_end);
    let total_samples: usize = all_series.iter().map(|s| s.samples.len()).sum();
    eprintln!(
        "differential: {} series, {total_samples} samples, data {}..{} (DIFFERENTIAL_T0_MS={t0})",
        all_series.len(),
        rfc3339(t0),
        rfc3339(data_end)
    );
    assert!(all_series.len() >= 200, "a few hundred series");
    assert!(all_series.iter().all(|s| s
        .samples
        .iter()
        .all(|(t, _)| t.rem_euclid(10) == data::SAMPLE_RESIDUE)));

    // Oldest first, in slices, to both.
    let mut slice_start = t0;
    while slice_start <= data_end {
        let slice_end = slice_start + WRITE_SLICE;
        let in_slice = |t: i64| (slice_start..slice_end).contains(&t);
        let to_series = |labels: &[(String, String)], samples: &[(i64, f64)]| {
            let labels: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            series(&labels, samples)
        };
        let mut batch: Vec<_> = all_series
            .iter()
            .filter_map(|s| {
                let samples: Vec<(i64, f64)> = s
                    .samples
                    .iter()
                    .copied()
                    .filter(|(t, _)| in_slice(*t))
                    .collect();
                (!samples.is_empty()).then(|| to_series(&s.labels, &samples))
            })
            .collect();
        batch.extend(native_series.iter().filter_map(|s| {
            let mut ts = to_series(&s.labels, &[]);
            ts.histograms = s
                .histograms
                .iter()
                .filter(|h| in_slice(h.timestamp))
                .cloned()
                .collect();
            (!ts.histograms.is_empty()).then_some(ts)
        }));
        let body = write_body(batch);
        let (prom_write, cairn_write) = (
            format!("{}/api/v1/write", prom.base),
            cairn_proc.url("/api/v1/write"),
        );
        let (p, c) = tokio::join!(
            remote_write(&prom_write, body.clone(), None),
            remote_write(&cairn_write, body, None),
        );
        assert!(
            (200..300).contains(&p.0),
            "prometheus refused a write: {p:?}\n{}",
            prom_proc.log_text()
        );
        assert!((200..300).contains(&c.0), "cairn refused a write: {c:?}");
        slice_start = slice_end;
    }

    // Both hold exactly the generated samples: every series' raw samples, compared
    // with what was written.
    let eval_residue = |t: i64| t - t.rem_euclid(10) + data::EVAL_RESIDUE;
    let after_data = eval_residue(data_end + 1000);
    let written = Answer::Ok {
        kind: "matrix".into(),
        texts: BTreeMap::new(),
        series: all_series
            .iter()
            .map(|s| {
                let samples = s.samples.iter().copied();
                // Staleness markers end a series; range vectors never show them.
                let samples = samples.filter(|(_, v)| !data::is_stale(*v)).collect();
                (series_key(s.labels.iter().map(|(k, v)| (k, v))), samples)
            })
            .collect(),
    };
    // (Native histograms have no float samples; their queries compare functions of them.)
    let raw = r#"{__name__=~".+",__name__!~"native_.*"}[70m]"#;
    let (p, c) = both(&prom, &cairn, Eval::Instant(after_data), raw).await;
    if let Some(diff) = compare(&written, &p, false, false) {
        panic!(
            "prometheus does not hold what was written:\n{diff}\nprometheus log:\n{}",
            prom_proc.log_text()
        );
    }
    if let Some(diff) = compare(&written, &c, false, false) {
        panic!("cairn does not hold what was written:\n{diff}");
    }

    // Evaluation times: ≡ 7 (mod 10) ms, every window after all series started.
    let first_eval = t0 + (queries::MAX_LOOKBACK_MIN + 1) * MINUTE + data::EVAL_RESIDUE;
    let instants = [
        first_eval + 2 * MINUTE + 17_000,
        t0 + 47 * MINUTE + 41_000 + data::EVAL_RESIDUE,
        t0 + 59 * MINUTE + 59_000 + data::EVAL_RESIDUE,
    ];
    let at = t0 + 40 * MINUTE + 5_000 + data::EVAL_RESIDUE;
    let range = (first_eval, data_end + 2 * MINUTE + data::EVAL_RESIDUE);
    let mut evals: Vec<Eval> = instants.iter().map(|&t| Eval::Instant(t)).collect();
    evals.extend(
        RANGE_STEPS_S
            .iter()
            .map(|s| Eval::Range(range.0, range.1, s * 1000)),
    );

    // Queries run a few at a time (each evaluation hits both sides at once).
    let all_queries = queries::all();
    let mut tasks = tokio::task::JoinSet::new();
    let mut outcomes = Vec::new();
    for (i, query) in all_queries.iter().enumerate() {
        if tasks.len() >= CONCURRENCY {
            outcomes.push(tasks.join_next().await.unwrap().unwrap());
        }
        let (prom, cairn, evals) = (prom.clone(), cairn.clone(), evals.clone());
        let query = query.clone();
        let at = secs(at);
        // Value spelling is checked everywhere once Cairn's formatting is fixed, and on
        // the queries that show the bug until then.
        let spelling =
            CHECK_VALUE_SPELLING || KNOWN_CAIRN_BUGS.iter().any(|(q, _)| *q == query.expr);
        tasks.spawn(async move {
            (
                i,
                run_query(&prom, &cairn, &query, &at, &evals, spelling).await,
            )
        });
    }
    while let Some(done) = tasks.join_next().await {
        outcomes.push(done.unwrap());
    }
    outcomes.sort_by_key(|(i, _)| *i);

    let mut failures = Vec::new();
    let mut empty = Vec::new();
    let (mut compared, mut non_empty_evals) = (0, 0);
    let mut known_bug_status = Vec::new();
    for (i, outcome) in outcomes {
        let query = &all_queries[i];
        compared += outcome.evaluations;
        non_empty_evals += outcome.non_empty_evals;
        let wants_range = !query.instant_only;
        if !query.may_be_empty
            && !VERSION_DIFFERENCES.iter().any(|(q, _)| *q == query.expr)
            && (!outcome.instant_non_empty || (wants_range && !outcome.range_non_empty))
        {
            empty.push(query.expr.clone());
        }
        let known_bug = KNOWN_CAIRN_BUGS.iter().find(|(q, _)| *q == query.expr);
        let version_difference = VERSION_DIFFERENCES.iter().find(|(q, _)| *q == query.expr);
        match (known_bug, version_difference) {
            (Some((_, note)), _) => known_bug_status.push(format!(
                "KNOWN CAIRN BUG {} ({note}): {}",
                query.expr,
                if outcome.failures.is_empty() {
                    "now AGREES — move it back into the compared set".to_string()
                } else {
                    format!("still differs:\n{}", outcome.failures[0])
                }
            )),
            (None, Some(_)) => known_bug_status.push(format!(
                "2.42/3.x difference {}: {}",
                query.expr,
                if outcome.failures.is_empty() {
                    "no longer differs?!".to_string()
                } else {
                    format!("differs as expected:\n{}", outcome.failures[0])
                }
            )),
            (None, None) => failures.extend(outcome.failures),
        }
    }
    let compared_queries = all_queries.len();
    for line in &known_bug_status {
        eprintln!("{line}");
    }
    let count = |f: fn(&queries::Query) -> bool| all_queries.iter().filter(|q| f(q)).count();
    eprintln!(
        "differential: {compared_queries} queries ({} expected errors, {} allowed to be empty, \
         {} known Cairn bugs, {} 2.42/3.x differences), {compared} evaluations, \
         {non_empty_evals} non-empty on Prometheus, {} failures, took {:?}",
        count(|q| q.error),
        count(|q| q.may_be_empty && !q.error),
        KNOWN_CAIRN_BUGS.len(),
        VERSION_DIFFERENCES.len(),
        failures.len(),
        began.elapsed()
    );
    for f in &failures {
        eprintln!("MISMATCH {f}");
    }
    assert!(
        failures.is_empty(),
        "{} evaluations differ between Prometheus 2.42 and Cairn (see MISMATCH lines; \
         replay with DIFFERENTIAL_T0_MS={t0}); first:\n{}",
        failures.len(),
        failures[0]
    );
    assert!(
        empty.is_empty(),
        "queries that returned nothing on Prometheus (instant or range) — they prove nothing:\n{}",
        empty.join("\n")
    );
    drop(prom_proc);
    drop(cairn_proc);
}

/// The comparison itself: it must see every kind of difference.
#[test]
fn comparison_catches_differences() {
    let answer = |series: &[(&str, &[(i64, f64)])]| Answer::Ok {
        kind: "vector".into(),
        series: series
            .iter()
            .map(|(k, p)| (k.to_string(), p.to_vec()))
            .collect(),
        texts: BTreeMap::new(),
    };
    let base = answer(&[("{a=\"1\"}", &[(1, 1.0)]), ("{a=\"2\"}", &[(1, f64::NAN)])]);
    let same = answer(&[
        ("{a=\"2\"}", &[(1, f64::NAN)]),
        ("{a=\"1\"}", &[(1, 1.0 + 1e-9)]),
    ]);
    assert_eq!(compare(&base, &same, false, false), None);
    // In order, by value: the first answer is [1, NaN], the second [NaN, 1].
    assert!(compare(&base, &same, true, false).is_some());
    for other in [
        answer(&[("{a=\"1\"}", &[(1, 1.0)])]),
        answer(&[
            ("{a=\"1\"}", &[(1, 1.001)]),
            ("{a=\"2\"}", &[(1, f64::NAN)]),
        ]),
        answer(&[("{a=\"1\"}", &[(2, 1.0)]), ("{a=\"2\"}", &[(1, f64::NAN)])]),
        answer(&[("{a=\"1\"}", &[(1, 1.0)]), ("{a=\"2\"}", &[(1, 0.0)])]),
        answer(&[
            ("{a=\"1\"}", &[(1, 1.0)]),
            ("{a=\"2\"}", &[(1, f64::NAN), (2, 1.0)]),
        ]),
        answer(&[
            ("{a=\"1\"}", &[(1, 1.0)]),
            ("{a=\"2\"}", &[(1, f64::NAN)]),
            ("{a=\"3\"}", &[(1, 1.0)]),
        ]),
        Answer::Err("400 bad_data: x".into()),
    ] {
        assert!(compare(&base, &other, false, false).is_some(), "{other:?}");
    }
    let err = |s: &str| Answer::Err(s.into());
    assert_eq!(
        compare(
            &err("400 bad_data: a"),
            &err("400 bad_data: b"),
            false,
            false
        ),
        None
    );
    assert!(compare(
        &err("400 bad_data: a"),
        &err("422 execution: a"),
        false,
        false
    )
    .is_some());
    assert_eq!(rfc3339(1_795_302_557_007), "2026-11-21T23:09:17.007Z");
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
}
