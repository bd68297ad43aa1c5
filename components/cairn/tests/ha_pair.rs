//! An HA pair of real Prometheus 2.42 servers (`replica="A"` / `"B"`) scraping the same
//! targets and remote-writing into a replicated Cairn cluster (three ingesters, a
//! receiver with RF=3 over a static ring, a querier over the ingesters).
//!
//! What it proves, through the querier's HTTP API:
//! 1. with default deduplication every series comes back once, without `replica`, with
//!    the label sets one Prometheus has; `dedup=false` returns both replicas;
//! 2. `rate`/`increase` and a histogram quantile equal what the target really did, and
//!    what Prometheus A answers about its own data;
//! 3. when the replica the merge follows is stopped for 60s and started again on the same
//!    storage, the deduplicated raw counter has no gap (it switched to the other replica),
//!    `rate` across the switch is not inflated, `increase` over the whole window is the
//!    target's true increase, and the answer is still one series.
//!
//! The target is served by the test itself and is a function of wall-clock time, so both
//! replicas read the same series with the values of their own scrape instants: a counter
//! growing by exactly `R` per second, a gauge, and a classic histogram whose buckets grow
//! at fixed rates. The Cairn processes' own `/metrics` are scraped too, for series and
//! label checks only (their values depend on who asks when).
//!
//! Needs `prometheus` on PATH (scripts/install-test-deps.sh installs Debian's package).
//! Takes about 2.5 minutes: one minute of history so `[1m]` windows are full, and a
//! one-minute outage.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_dedup::{penalty_merge, SeriesKind};
use cairn_model::Sample;
use common::*;
use serde_json::Value;

/// Counter increase per second of the target's `ha_test_counter_total`.
const R: f64 = 10.0;
/// Scrape interval of the HA pair for the test target.
const SCRAPE_MS: i64 = 1_000;
/// How long the followed replica is down.
const OUTAGE: Duration = Duration::from_secs(60);

// Tolerances. A scrape reads the target a little after its timestamp, so a sample's
// value is `R * (timestamp + latency)`: milliseconds on an idle machine, but 0.2s has
// been seen with the load average at 3x the two cores. One late sample at a window's
// edge moves a rate over a window of W seconds by latency/W, so the tolerances are a
// latency budget divided by the window, not a fixed percentage.

/// Least scrape-latency spread allowed at a window edge. The budget actually used is
/// the spread measured on the stored samples (see [`latency_budget_s`]) when larger:
/// a loaded CI machine has shown 0.75s.
const LATENCY_S: f64 = 0.5;

/// Relative tolerance of a rate or increase over `window_ms` against the target's `R`,
/// for a latency budget of `latency_s`. On an idle machine still below what a merge
/// error costs: one scrape interval counted twice at a replica switch is 1s/W (double
/// the budget), a switch read as a counter reset the whole counter (~R*1000s). The
/// comparisons with the replicas' own Prometheus answers catch the smaller errors.
fn rate_tol(latency_s: f64, window_ms: i64) -> f64 {
    latency_s * 1000.0 / window_ms as f64
}

/// How late the scrapes behind `samples` read the target, as the spread between the
/// earliest and the latest: a sample's value is the target's counter at its timestamp
/// plus the latency, and a rate's error is the latency difference of its edge samples.
fn latency_budget_s<'a>(
    truth: &Target,
    samples: impl IntoIterator<Item = &'a Vec<(i64, f64)>>,
) -> f64 {
    let mut spread: f64 = 0.0;
    for points in samples {
        let lat = points
            .iter()
            .map(|(t, v)| (v - truth.counter_at_ms(*t)) / R);
        let (lo, hi) = lat.fold((f64::MAX, f64::MIN), |(lo, hi), l| (lo.min(l), hi.max(l)));
        if lo <= hi {
            spread = spread.max(hi - lo);
        }
    }
    LATENCY_S.max(spread + 0.05)
}

/// Lower bound across a switch: the switch leaves a gap of up to 1.5 intervals in the
/// merged series, and PromQL extrapolates only half an interval towards a window start
/// that falls into such a gap (more than 1.1 average intervals before the first
/// sample), so such a window loses up to one interval of growth. That is Prometheus's
/// own behaviour around a missed scrape, not a merge error; 1.2 intervals leave room
/// for jitter, plus the latency budget.
fn switch_tol(latency_s: f64, window_ms: i64) -> f64 {
    (1.2 * SCRAPE_MS as f64 + latency_s * 1000.0) / window_ms as f64
}

/// Bucket rates of one histogram come from the same scrapes, so they are exactly
/// proportional and the quantile is exact up to float noise — unless the buckets were
/// merged from different replicas at different points.
const QUANTILE_TOL: f64 = 1e-3;
/// The gauge's steepest slope times two scrape intervals: two answers may read it at
/// sample instants up to an interval apart (different replicas), plus one late scrape.
const GAUGE_TOL: f64 = 50.0 * std::f64::consts::TAU / 120.0 * 2.0;

/// Histogram bucket growth per second for `le` = 0.1, 0.5, 1, +Inf; `sum` grows by 3/s.
const BUCKETS: [(&str, f64); 4] = [("0.1", 2.0), ("0.5", 5.0), ("1", 8.0), ("+Inf", 10.0)];
/// `histogram_quantile(0.6, …)` of those buckets: rank 6 of 10 lies in (0.5, 1], where
/// 5 of the 10 are below and 8 at most: 0.5 + 0.5 * (6 - 5) / (8 - 5).
const Q60: f64 = 0.5 + 0.5 / 3.0;

fn unix_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The scraped target: every value is a function of the time the scrape reads it.
struct Target {
    /// Unix seconds at which the counters were zero (well before the test, so no rate
    /// window is near the counter's start and extrapolation is never clamped at zero).
    t0: f64,
}

impl Target {
    fn counter_at_ms(&self, t_ms: i64) -> f64 {
        R * (t_ms as f64 / 1000.0 - self.t0)
    }

    fn gauge(elapsed: f64) -> f64 {
        100.0 + 50.0 * (std::f64::consts::TAU * elapsed / 120.0).sin()
    }

    fn exposition(&self) -> String {
        let e = unix_secs() - self.t0;
        let mut out = format!(
            "# TYPE ha_test_counter_total counter\nha_test_counter_total {}\n\
             # TYPE ha_test_gauge gauge\nha_test_gauge {}\n\
             # TYPE ha_test_latency_seconds histogram\n",
            R * e,
            Self::gauge(e)
        );
        for (le, per_s) in BUCKETS {
            out += &format!(
                "ha_test_latency_seconds_bucket{{le=\"{le}\"}} {}\n",
                per_s * e
            );
        }
        out += &format!(
            "ha_test_latency_seconds_sum {}\nha_test_latency_seconds_count {}\n",
            3.0 * e,
            BUCKETS[3].1 * e
        );
        out
    }
}

/// Serves the target on its own thread and runtime, so the test's blocking waits
/// (process start and stop) never delay a scrape.
fn start_target(target: Target) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let target = std::sync::Arc::new(target);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let target = target.clone();
                    async move { target.exposition() }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    port
}

/// One Prometheus of the pair; restartable on the same port and storage.
struct Prom {
    replica: &'static str,
    port: u16,
    dir: PathBuf,
    proc: Option<Proc>,
    starts: usize,
}

impl Prom {
    fn new(dir: &Path, replica: &'static str, target: u16, cairn: &[u16], receiver: u16) -> Self {
        let cairn_targets = cairn
            .iter()
            .map(|p| format!("'127.0.0.1:{p}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let config = format!(
            "global:\n  scrape_interval: {SCRAPE_MS}ms\n  scrape_timeout: {SCRAPE_MS}ms\n  \
             external_labels:\n    replica: {replica}\n\
             scrape_configs:\n\
             \x20 - job_name: ha_test\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n\
             \x20 - job_name: cairn\n    scrape_interval: 5s\n    static_configs:\n      - targets: [{cairn_targets}]\n\
             remote_write:\n  - url: http://127.0.0.1:{receiver}/api/v1/write\n    queue_config:\n      \
             batch_send_deadline: 500ms\n      min_backoff: 50ms\n      max_backoff: 1s\n"
        );
        let dir = dir.join(format!("prom-{replica}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        Self {
            replica,
            port: free_port(),
            dir,
            proc: None,
            starts: 0,
        }
    }

    fn start(&mut self) {
        self.starts += 1;
        let log = self.dir.join(format!("prometheus-{}.log", self.starts));
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                self.dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus must be installed (scripts/install-test-deps.sh installs it)");
        let proc = Proc {
            child,
            name: format!("prometheus {}", self.replica),
            log,
        };
        wait_ready(self.port, "/-/ready", &proc);
        self.proc = Some(proc);
    }

    fn stop(&mut self) {
        let mut proc = self.proc.take().expect("running");
        assert!(
            proc.terminate(),
            "prometheus {} did not stop cleanly:\n{}",
            self.replica,
            proc.log_text()
        );
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn secs(ms: i64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

type Metric = BTreeMap<String, String>;

/// A query result as `(labels, [(t ms, value)])`, for vectors and matrices alike.
fn parse(body: &Value) -> Vec<(Metric, Vec<(i64, f64)>)> {
    assert_eq!(body["status"], "success", "{body}");
    let point = |p: &Value| -> (i64, f64) {
        let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
        (t, p[1].as_str().unwrap().parse().unwrap())
    };
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let metric = serde_json::from_value(s["metric"].clone()).unwrap();
            let points = match (s.get("value"), s.get("values")) {
                (Some(v), _) => vec![point(v)],
                (_, Some(vs)) => vs.as_array().unwrap().iter().map(point).collect(),
                _ => panic!("unexpected series shape {s}"),
            };
            (metric, points)
        })
        .collect()
}

/// Instant query at `t`; `extra` carries `dedup=false` for Cairn.
async fn instant(
    url: &str,
    q: &str,
    t: i64,
    extra: &[(&str, &str)],
) -> Vec<(Metric, Vec<(i64, f64)>)> {
    let mut params = vec![("query", q.to_string()), ("time", secs(t))];
    params.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let (status, body) = get_json(&format!("{url}/api/v1/query"), &params, None).await;
    assert_eq!(status, 200, "{q}: {body}");
    parse(&body)
}

async fn range(
    url: &str,
    q: &str,
    (start, end): (i64, i64),
    extra: &[(&str, &str)],
) -> Vec<(Metric, Vec<(i64, f64)>)> {
    let mut params = vec![
        ("query", q.to_string()),
        ("start", secs(start)),
        ("end", secs(end)),
        ("step", secs(SCRAPE_MS)),
    ];
    params.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let (status, body) = get_json(&format!("{url}/api/v1/query_range"), &params, None).await;
    assert_eq!(status, 200, "{q}: {body}");
    parse(&body)
}

/// The only series of a result, asserting there is exactly one.
fn single(q: &str, mut r: Vec<(Metric, Vec<(i64, f64)>)>) -> (Metric, Vec<(i64, f64)>) {
    assert_eq!(r.len(), 1, "{q}: expected one series, got {r:?}");
    r.pop().unwrap()
}

fn within(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * want.abs()
}

const NO_DEDUP: &[(&str, &str)] = &[("dedup", "false")];

/// Samples of `ha_test_counter_total` per replica in `(from, at]`, as Cairn stores them.
async fn replica_samples(query: &str, from: i64, at: i64) -> BTreeMap<String, Vec<(i64, f64)>> {
    let q = format!("ha_test_counter_total[{}ms]", at - from);
    instant(query, &q, at, NO_DEDUP)
        .await
        .into_iter()
        .map(|(m, pts)| (m["replica"].clone(), pts))
        .collect()
}

/// Waits until Cairn holds every `ha_test` series of each of `replicas` up to `t`
/// (remote write batches by shard, so series arrive at slightly different times).
async fn wait_written(query: &str, replicas: &[&str], t: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = now_ms();
        let latest: BTreeMap<String, i64> = instant(
            query,
            r#"min by (replica) (timestamp({job="ha_test"}))"#,
            now,
            NO_DEDUP,
        )
        .await
        .into_iter()
        .map(|(m, p)| (m["replica"].clone(), (p[0].1 * 1000.0).round() as i64))
        .collect();
        if replicas
            .iter()
            .all(|r| latest.get(*r).is_some_and(|&l| l >= t))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replicas {replicas:?} never reached {t} in cairn: {latest:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ha_prometheus_pair_is_answered_as_one_series_across_an_outage_of_the_followed_replica() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // The cluster: RF=3 over three ingesters, the querier asks all three.
    let ings: Vec<Cairn> = (0..3)
        .map(|i| start_role("ingest", d, &d.join(format!("i{i}")), &[]))
        .collect();
    let (members, stores) = static_ring_flags(&ings);
    let recv = start_role(
        "receive",
        d,
        &d.join("r"),
        &[
            "--receive.ingesters",
            &members,
            "--receive.replication-factor",
            "3",
        ],
    );
    let querier = start_role("query", d, &d.join("q"), &["--query.stores", &stores]);
    let q = querier.url("");
    let q = q.as_str();

    let target = Target {
        t0: (unix_secs() - 1000.0).floor(),
    };
    let t0 = target.t0;
    let target_port = start_target(target);
    let truth = Target { t0 };
    let cairn_ports: Vec<u16> = ings
        .iter()
        .chain([&recv, &querier])
        .map(|c| c.http)
        .collect();
    let mut proms = ["A", "B"].map(|r| Prom::new(d, r, target_port, &cairn_ports, recv.http));
    for p in &mut proms {
        p.start();
    }

    // ---- Phase 1: one minute of history from both replicas --------------------------
    // Every compared window must start after both replicas' first samples: windows that
    // hold a series' first sample are extrapolated differently by 2.42 and by Cairn
    // (Prometheus 3 semantics), and the replicas start at different instants.
    tokio::time::sleep(Duration::from_secs(64)).await;
    let first = replica_samples(q, now_ms() - 300_000, now_ms()).await;
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        ["A", "B"],
        "both replicas write into cairn"
    );
    let series_start = first.values().map(|p| p[0].0).max().unwrap();
    let te1 = (now_ms() - 2 * SCRAPE_MS).max(series_start + 62_000);
    wait_written(q, &["A", "B"], te1).await;
    let prom_a = proms[0].url("");

    // (1) One series per replica group, with the labels Prometheus itself has.
    let by_name = r#"count by (__name__) ({__name__=~"ha_test_.*"})"#;
    let names = |r: Vec<(Metric, Vec<(i64, f64)>)>| -> BTreeMap<String, f64> {
        r.into_iter()
            .map(|(m, p)| (m["__name__"].clone(), p[0].1))
            .collect()
    };
    let want = names(instant(&prom_a, by_name, te1, &[]).await);
    assert_eq!(
        want.len(),
        5,
        "counter, gauge, bucket, sum, count: {want:?}"
    );
    assert_eq!(want["ha_test_latency_seconds_bucket"], 4.0);
    assert_eq!(names(instant(q, by_name, te1, &[]).await), want, "dedup on");
    let doubled: BTreeMap<String, f64> = want.iter().map(|(k, v)| (k.clone(), 2.0 * v)).collect();
    assert_eq!(
        names(instant(q, by_name, te1, NO_DEDUP).await),
        doubled,
        "dedup=false"
    );

    let series_api = |url: String, m: &'static str, extra: &'static [(&str, &str)]| async move {
        let mut params = vec![
            ("match[]", m.to_string()),
            ("start", secs(te1 - 30_000)),
            ("end", secs(te1)),
        ];
        params.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let (status, body) = get_json(&format!("{url}/api/v1/series"), &params, None).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value::<Vec<Metric>>(body["data"].clone()).unwrap()
    };
    let set = |v: Vec<Metric>| v.into_iter().collect::<BTreeSet<_>>();
    let prom_series = set(series_api(prom_a.clone(), r#"{job="ha_test"}"#, &[]).await);
    // The target's 8 series and Prometheus's 5 per-scrape ones (`up`, `scrape_*`).
    assert_eq!(prom_series.len(), 8 + 5, "{prom_series:?}");
    assert_eq!(
        set(series_api(q.to_string(), r#"{job="ha_test"}"#, &[]).await),
        prom_series
    );
    // Cairn's own metrics: values differ by scrape, but the series sets must collapse
    // the same way — deduplicated = the replicas' series without `replica`, once each.
    for m in [r#"{job="ha_test"}"#, r#"{job="cairn"}"#] {
        let deduped = series_api(q.to_string(), m, &[]).await;
        let both = series_api(q.to_string(), m, NO_DEDUP).await;
        assert!(
            deduped.iter().all(|s| !s.contains_key("replica")),
            "{m}: {deduped:?}"
        );
        assert_eq!(set(deduped.clone()).len(), deduped.len(), "{m}: duplicates");
        let mut per_replica: BTreeMap<String, BTreeSet<Metric>> = BTreeMap::new();
        for mut s in both {
            let r = s
                .remove("replica")
                .unwrap_or_else(|| panic!("{m}: no replica on {s:?}"));
            per_replica.entry(r).or_default().insert(s);
        }
        assert_eq!(per_replica.keys().collect::<Vec<_>>(), ["A", "B"], "{m}");
        let union: BTreeSet<Metric> = per_replica.values().flatten().cloned().collect();
        assert_eq!(set(deduped), union, "{m}");
    }
    let (_, labels) = get_json(&format!("{q}/api/v1/labels"), &[], None).await;
    assert!(
        !labels["data"]
            .as_array()
            .unwrap()
            .contains(&"replica".into()),
        "{labels}"
    );
    let (_, labels) = get_json(
        &format!("{q}/api/v1/labels"),
        &[("dedup", "false".into())],
        None,
    )
    .await;
    assert!(
        labels["data"]
            .as_array()
            .unwrap()
            .contains(&"replica".into()),
        "{labels}"
    );

    // (2) Rates are the target's, and Prometheus A's.
    let lat1 = latency_budget_s(&truth, replica_samples(q, te1 - 90_000, te1).await.values());
    eprintln!("scrape latency budget before the outage: {lat1:.3}s");
    let rate_q = "rate(ha_test_counter_total[1m])";
    let (m, p) = single(rate_q, instant(q, rate_q, te1, &[]).await);
    assert!(!m.contains_key("replica"), "{m:?}");
    let cairn_rate = p[0].1;
    let (_, p) = single(rate_q, instant(&prom_a, rate_q, te1, &[]).await);
    assert!(
        within(cairn_rate, R, rate_tol(lat1, 60_000)),
        "cairn {rate_q} = {cairn_rate}"
    );
    assert!(
        within(cairn_rate, p[0].1, 2.0 * rate_tol(lat1, 60_000)),
        "cairn {cairn_rate}, prometheus A {}",
        p[0].1
    );

    let quantile_q =
        "histogram_quantile(0.6, sum by (le) (rate(ha_test_latency_seconds_bucket[1m])))";
    for url in [q, prom_a.as_str()] {
        let (_, p) = single(quantile_q, instant(url, quantile_q, te1, &[]).await);
        assert!(
            (p[0].1 - Q60).abs() <= QUANTILE_TOL,
            "{url}: {quantile_q} = {}",
            p[0].1
        );
    }
    let (_, g) = single("gauge", instant(q, "ha_test_gauge", te1, &[]).await);
    let (_, pg) = single("gauge", instant(&prom_a, "ha_test_gauge", te1, &[]).await);
    assert!(
        (g[0].1 - pg[0].1).abs() <= GAUGE_TOL,
        "gauge cairn {g:?} prometheus A {pg:?}"
    );

    // Over the last 30s both replicas have (30s windows so they start after the first
    // samples): the same points as Prometheus A. Each side may have its own late
    // sample (Cairn may follow B), hence twice the budget between them.
    let window = (te1 - 30_000, te1);
    for (query, per_window) in [
        ("rate(ha_test_counter_total[30s])", R),
        ("increase(ha_test_counter_total[30s])", R * 30.0),
    ] {
        let (_, got) = single(query, range(q, query, window, &[]).await);
        let (_, want) = single(query, range(&prom_a, query, window, &[]).await);
        assert_eq!(
            got.len(),
            want.len(),
            "{query}: cairn {got:?}\nprometheus A {want:?}"
        );
        for ((gt, gv), (wt, wv)) in got.iter().zip(&want) {
            assert_eq!(gt, wt);
            assert!(
                within(*gv, per_window, rate_tol(lat1, 30_000)),
                "{query} at {gt}: {gv}"
            );
            assert!(
                within(*gv, *wv, 2.0 * rate_tol(lat1, 30_000)),
                "{query} at {gt}: cairn {gv}, prometheus A {wv}"
            );
        }
    }

    // ---- Phase 3: stop the replica the merge follows -----------------------------------
    // The merge starts on the replica with the earliest sample in the selected range and
    // keeps it until it has a gap. The outage window starts 1ms before a sample of the
    // victim, so every query over it (raw counter, `rate[1m]` from 60s later,
    // `increase` over all of it) starts on the victim and must switch during the outage.
    let now = now_ms() - 2 * SCRAPE_MS;
    wait_written(q, &["A", "B"], now).await;
    let anchor = now - 20_000;
    let recent = replica_samples(q, anchor, now).await;
    let (victim, first_victim) = recent
        .iter()
        .map(|(r, p)| (r.clone(), p[0].0))
        .min_by_key(|(r, t)| (*t, r.clone()))
        .unwrap();
    let w0 = first_victim - 1;
    let q_raw = |end: i64| format!("ha_test_counter_total[{}ms]", end - w0);
    let (_, followed) = single("raw", instant(q, &q_raw(now), now, &[]).await);
    assert_eq!(
        followed[0].0, first_victim,
        "the merge starts on replica {victim}"
    );
    let v = if victim == "A" { 0 } else { 1 };
    let survivor = proms[1 - v].replica;
    let survivor_url = proms[1 - v].url("");

    let stop_at = now_ms();
    proms[v].stop();
    tokio::time::sleep(OUTAGE).await;
    let restart_at = now_ms();
    proms[v].start();
    wait_written(q, &[&victim], restart_at + 10_000).await;
    let te2 = now_ms() - 2 * SCRAPE_MS;
    wait_written(q, &["A", "B"], te2).await;

    // The outage is in Cairn's data: the victim has a gap of most of a minute there,
    // the survivor none. A gap is longer than one missed (or late) scrape.
    let max_gap_ms = 2 * SCRAPE_MS + SCRAPE_MS / 2;
    let stored = replica_samples(q, w0, te2).await;
    let gaps = |p: &[(i64, f64)]| -> Vec<(i64, i64)> {
        p.windows(2)
            .map(|w| (w[0].0, w[1].0))
            .filter(|(a, b)| b - a > max_gap_ms)
            .collect()
    };
    let lat2 = latency_budget_s(&truth, stored.values());
    eprintln!("scrape latency budget across the outage: {lat2:.3}s");
    let victim_gaps = gaps(&stored[&victim]);
    assert!(
        victim_gaps.len() == 1 && victim_gaps[0].1 - victim_gaps[0].0 >= 45_000,
        "replica {victim} should miss most of a minute: {victim_gaps:?}"
    );
    let (gap_from, gap_to) = victim_gaps[0];
    assert!(
        gaps(&stored[survivor]).is_empty(),
        "survivor {survivor} has gaps"
    );
    let survivor_ts: BTreeSet<i64> = stored[survivor].iter().map(|p| p.0).collect();

    // (3a) The merged raw counter: one series, no gap beyond the switch threshold (1.5
    // intervals) plus one late scrape, the survivor's samples through the outage, and
    // every value the target's counter at that timestamp (within a second of growth:
    // scrape latency). Which replica each sample comes from is exactly what the penalty
    // merge makes of the stored replicas: it sticks to the survivor after the outage
    // unless a late scrape leaves the survivor a gap of its own (on a loaded machine).
    let raw_q = q_raw(te2);
    let (m, merged) = single(&raw_q, instant(q, &raw_q, te2, &[]).await);
    assert!(!m.contains_key("replica"), "{m:?}");
    assert_eq!(merged[0].0, first_victim);
    let max_gap = merged.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap();
    assert!(
        max_gap <= max_gap_ms,
        "merged counter has a {max_gap}ms gap (victim {victim} stopped at {stop_at})"
    );
    let after_switch: Vec<i64> = merged
        .iter()
        .map(|p| p.0)
        .filter(|&t| t > gap_from)
        .collect();
    assert!(after_switch.len() as i64 >= (te2 - gap_from) / SCRAPE_MS * 9 / 10);
    assert!(
        after_switch
            .iter()
            .filter(|&&t| t < gap_to)
            .all(|t| survivor_ts.contains(t)),
        "between {gap_from} and {gap_to} every sample should be survivor {survivor}'s"
    );
    let as_samples =
        |p: &[(i64, f64)]| -> Vec<Sample> { p.iter().map(|&(t, v)| Sample::new(t, v)).collect() };
    let (a, b) = (as_samples(&stored["A"]), as_samples(&stored["B"]));
    let expected: Vec<i64> = penalty_merge(&[&a, &b], SeriesKind::Gauge)
        .iter()
        .map(|s| s.t)
        .collect();
    let merged_ts: Vec<i64> = merged.iter().map(|p| p.0).collect();
    assert_eq!(
        merged_ts, expected,
        "the querier's merge differs from the penalty merge of the stored replicas"
    );
    for (t, v) in &merged {
        let want = truth.counter_at_ms(*t);
        assert!(
            (v - want).abs() <= R,
            "counter at {t} = {v}, target had {want}"
        );
    }

    // (3b) `rate` whose windows cross the switch, lie inside the outage (where the victim
    // has no sample at all) and cross the victim's return: never inflated, and equal to
    // the survivor Prometheus's own answer. Each range starts one window after `w0`, so
    // its selection starts on the victim as well.
    for window in [30_000, 60_000] {
        let rate_q = format!("rate(ha_test_counter_total[{window}ms])");
        let rate_range = (w0 + window, te2);
        assert!(rate_range.0 - window < gap_from && gap_to < rate_range.1);
        let (m, got) = single(&rate_q, range(q, &rate_q, rate_range, &[]).await);
        assert!(!m.contains_key("replica"), "{m:?}");
        let (_, want) = single(
            &rate_q,
            range(&survivor_url, &rate_q, rate_range, &[]).await,
        );
        assert_eq!(
            got.len(),
            want.len(),
            "{rate_q}: cairn {got:?}\nsurvivor {want:?}"
        );
        let low = switch_tol(lat2, window);
        let max = got.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let min = got.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        eprintln!(
            "{rate_q} across the outage of {victim} ({gap_from}..{gap_to}, merged max gap \
             {max_gap}ms): min {min}, max {max}"
        );
        assert!(
            max <= R * (1.0 + rate_tol(lat2, window)),
            "{rate_q} inflated across the outage: max {max}"
        );
        assert!(
            min >= R * (1.0 - low),
            "{rate_q} dropped across the outage: min {min}"
        );
        for ((gt, gv), (_, wv)) in got.iter().zip(&want) {
            assert!(
                within(*gv, *wv, low + rate_tol(lat2, window)),
                "{rate_q} at {gt}: cairn {gv}, survivor {wv}"
            );
        }
        // Every bucket switched at the same sample: the quantile stays exact.
        let quantile_q = format!(
            "histogram_quantile(0.6, sum by (le) (rate(ha_test_latency_seconds_bucket[{window}ms])))"
        );
        let (_, quantiles) = single(&quantile_q, range(q, &quantile_q, rate_range, &[]).await);
        assert_eq!(quantiles.len(), got.len());
        for (t, v) in &quantiles {
            assert!((v - Q60).abs() <= QUANTILE_TOL, "{quantile_q} at {t}: {v}");
        }
    }

    // (3c) `increase` over the whole window, outage included, is the target's increase.
    let whole = te2 - w0;
    let inc_q = format!("increase(ha_test_counter_total[{whole}ms])");
    let (_, inc) = single(&inc_q, instant(q, &inc_q, te2, &[]).await);
    let want = R * whole as f64 / 1000.0;
    assert!(
        within(inc[0].1, want, rate_tol(lat2, whole)),
        "{inc_q} = {}, target {want}",
        inc[0].1
    );
    let (_, surv) = single(&inc_q, instant(&survivor_url, &inc_q, te2, &[]).await);
    assert!(
        within(inc[0].1, surv[0].1, 2.0 * rate_tol(lat2, whole)),
        "cairn {}, survivor {}",
        inc[0].1,
        surv[0].1
    );

    // (3d) Both replicas are back: still one series deduplicated, two without.
    let want = names(instant(&survivor_url, by_name, te2, &[]).await);
    assert_eq!(names(instant(q, by_name, te2, &[]).await), want);
    assert_eq!(names(instant(q, by_name, te2, NO_DEDUP).await), doubled);
    let (m, _) = single(
        "counter",
        instant(q, "ha_test_counter_total", te2, &[]).await,
    );
    assert!(!m.contains_key("replica"), "{m:?}");

    for p in &mut proms {
        p.stop();
    }
    drop(ings);
}
