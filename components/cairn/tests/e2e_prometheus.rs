//! A real Prometheus (Debian's 2.42) scrapes itself and remote-writes into `cairn all`;
//! the same PromQL queries against both must give the same answers.
//!
//! Needs `prometheus` on PATH (scripts/test.sh installs it). Cairn follows Prometheus 3
//! semantics; two 2.42 differences are kept out of the comparison on purpose:
//! - range windows are closed `[t-r, t]` in 2.42 and left-open `(t-r, t]` in 3.x, so
//!   evaluation times sit half a scrape interval away from sample timestamps;
//! - 2.42 clamps counter extrapolation towards zero *before* limiting it to half an
//!   interval, 3.x after, which changes `rate` over windows holding a series' first
//!   sample; every compared window therefore starts after all series exist.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const SCRAPE_MS: i64 = 2_000;
/// Span of the compared range queries.
const RANGE_MS: i64 = 40_000;

fn start_prometheus(dir: &std::path::Path, port: u16, cairn_http: u16) -> Proc {
    let config = format!(
        "global:\n  scrape_interval: 2s\n  evaluation_interval: 2s\n\
         scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n\
         remote_write:\n  - url: http://127.0.0.1:{cairn_http}/api/v1/write\n    queue_config:\n      batch_send_deadline: 500ms\n    metadata_config:\n      send_interval: 5s\n"
    );
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let log = dir.join("prometheus.log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
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

/// `(labels → [(t, v)])` of an instant or range query result, for comparison.
fn points(body: &Value) -> BTreeMap<String, Vec<(f64, f64)>> {
    assert_eq!(body["status"], "success", "{body}");
    let value = |p: &Value| -> (f64, f64) {
        let v = p[1].as_str().unwrap();
        (p[0].as_f64().unwrap(), v.parse::<f64>().unwrap())
    };
    let mut out = BTreeMap::new();
    for s in body["data"]["result"].as_array().unwrap() {
        let key = s["metric"].to_string();
        let pts = match (s.get("value"), s.get("values")) {
            (Some(v), _) => vec![value(v)],
            (_, Some(vs)) => vs.as_array().unwrap().iter().map(value).collect(),
            _ => panic!("unexpected series shape {s}"),
        };
        out.insert(key, pts);
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs())
}

fn assert_same(query: &str, expected: &Value, got: &Value) {
    let (e, g) = (points(expected), points(got));
    assert_eq!(
        e.keys().collect::<Vec<_>>(),
        g.keys().collect::<Vec<_>>(),
        "{query}: different series\nprometheus: {expected}\ncairn: {got}"
    );
    for (key, ep) in &e {
        let gp = &g[key];
        assert_eq!(
            ep.len(),
            gp.len(),
            "{query} {key}: point count\nprometheus: {ep:?}\ncairn: {gp:?}"
        );
        for (a, b) in ep.iter().zip(gp) {
            assert!(
                a.0 == b.0 && close(a.1, b.1),
                "{query} {key}: prometheus {a:?} vs cairn {b:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_answers_like_the_prometheus_that_writes_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = start_cairn(dir.path(), &dir.path().join("cairn-data"), &[]);
    let prom_port = free_port();
    let prom = start_prometheus(dir.path(), prom_port, cairn.http);
    let prom_url = |p: &str| format!("http://127.0.0.1:{prom_port}{p}");

    // Hit Prometheus's API from the start so every compared series exists within the
    // first seconds, then let 110s of scrapes accumulate: the oldest compared window is
    // (eval - 40s - 1m, eval - 40s], which must start after those first seconds.
    let began = Instant::now();
    let client = http();
    while began.elapsed() < Duration::from_secs(110) {
        for path in ["/api/v1/query?query=up", "/api/v1/labels", "/-/ready"] {
            let _ = client.get(prom_url(path)).send().await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The newest scrape both sides agree on, then an evaluation time between scrapes.
    let (_, ts) = get_json(
        &prom_url("/api/v1/query"),
        &[("query", "timestamp(up)".into())],
        None,
    )
    .await;
    let last_scrape_s: f64 = ts["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let last_scrape = (last_scrape_s * 1000.0).round() as i64 - SCRAPE_MS;
    let eval = last_scrape + SCRAPE_MS / 2;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let params = [("query", "timestamp(up)".into()), ("time", secs(eval))];
        let (_, got) = get_json(&cairn.url("/api/v1/query"), &params, None).await;
        let seen = got["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok());
        if seen.is_some_and(|s| (s * 1000.0).round() as i64 >= last_scrape) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "remote write never caught up: {got}\n{}",
            cairn.proc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let queries = [
        "up",
        "prometheus_http_requests_total",
        r#"prometheus_http_requests_total{handler=~"/api/v1/.*", code!="500"}"#,
        r#"prometheus_http_requests_total{handler!~"/-/.*"}"#,
        "rate(prometheus_http_requests_total[1m])",
        "irate(prometheus_http_requests_total[1m])",
        "increase(prometheus_http_requests_total[1m])",
        "sum by (handler) (rate(prometheus_http_requests_total[1m]))",
        "sum without (instance, code) (prometheus_http_requests_total)",
        "avg(rate(prometheus_http_requests_total[1m]))",
        "max by (job) (prometheus_http_requests_total)",
        "min(prometheus_http_requests_total)",
        "count(prometheus_http_requests_total)",
        "prometheus_tsdb_head_series * 2 + 1",
        "prometheus_http_requests_total > 5",
        "prometheus_http_requests_total offset 10s",
        "up == bool 1",
    ];
    let mut non_empty = 0;
    for q in queries {
        let params = [("query", q.to_string()), ("time", secs(eval))];
        let (ps, expected) = get_json(&prom_url("/api/v1/query"), &params, None).await;
        let (cs, got) = get_json(&cairn.url("/api/v1/query"), &params, None).await;
        assert_eq!((ps, cs), (200, 200), "{q}: {expected} / {got}");
        assert_same(q, &expected, &got);
        non_empty += usize::from(!points(&expected).is_empty());

        for step in [SCRAPE_MS, 5 * SCRAPE_MS] {
            let params = [
                ("query", q.to_string()),
                ("start", secs(eval - RANGE_MS)),
                ("end", secs(eval)),
                ("step", secs(step)),
            ];
            let (_, expected) = get_json(&prom_url("/api/v1/query_range"), &params, None).await;
            let (_, got) = get_json(&cairn.url("/api/v1/query_range"), &params, None).await;
            assert_same(&format!("{q} (range, step {step}ms)"), &expected, &got);
        }
    }
    assert_eq!(
        non_empty,
        queries.len(),
        "every query should return data on both sides"
    );

    // Metadata endpoints agree on what was written.
    let (_, pl) = get_json(&prom_url("/api/v1/label/job/values"), &[], None).await;
    let (_, cl) = get_json(&cairn.url("/api/v1/label/job/values"), &[], None).await;
    assert_eq!(pl["data"], cl["data"]);
    let params = [("match[]", "up".to_string())];
    let (_, ps) = get_json(&prom_url("/api/v1/series"), &params, None).await;
    let (_, cs) = get_json(&cairn.url("/api/v1/series"), &params, None).await;
    assert_eq!(ps["data"], cs["data"]);

    // Metric metadata (type, help, unit) reaches Cairn with remote write and reads back
    // as Prometheus serves it from its own targets.
    for family in [
        "prometheus_http_requests_total",
        "prometheus_tsdb_head_series",
        "go_goroutines",
        "prometheus_http_request_duration_seconds",
    ] {
        let params = [("metric", family.to_string())];
        let (_, pm) = get_json(&prom_url("/api/v1/metadata"), &params, None).await;
        let (status, cm) = get_json(&cairn.url("/api/v1/metadata"), &params, None).await;
        assert_eq!(status, 200, "{cm}");
        assert!(pm["data"][family].is_array(), "{family}: {pm}");
        assert_eq!(pm["data"], cm["data"], "{family}");
    }
    let (_, all) = get_json(&cairn.url("/api/v1/metadata"), &[], None).await;
    let families = all["data"].as_object().unwrap().len();
    assert!(families > 20, "{families} families: {all}");
    let (_, two) = get_json(
        &cairn.url("/api/v1/metadata"),
        &[("limit", "2".into())],
        None,
    )
    .await;
    assert_eq!(two["data"].as_object().unwrap().len(), 2, "{two}");
    let (status, bad) = get_json(
        &cairn.url("/api/v1/metadata"),
        &[("limit", "x".into())],
        None,
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    drop(prom);
}

fn secs(ms: i64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}
