//! Native histograms end to end through `cairn all`: remote-written (integer, float,
//! gauge and custom-bucket histograms), validated, stored in the head and its WAL,
//! answered by PromQL through the HTTP API, kept across a kill -9, and still answered
//! the same once the head has been cut into blocks, shipped and served from the bucket.

mod common;

use std::time::{Duration, Instant};

use cairn_proto::prometheus::histogram::{Count, ResetHint, ZeroCount};
use cairn_proto::prometheus::{BucketSpan, Histogram, TimeSeries};
use common::*;
use serde_json::Value;

const STEP_MS: i64 = 15_000;
const SAMPLES: i64 = 30;

/// Integer histogram `i` of a counter histogram: zero bucket `i`, buckets (0.5,1],
/// (1,2], (2,4] holding `i`, `2i`, `i`; count `5i`, sum `10i`.
fn counter_histogram(t: i64, i: i64) -> Histogram {
    Histogram {
        count: Some(Count::CountInt(5 * i as u64)),
        sum: 10.0 * i as f64,
        schema: 0,
        zero_threshold: 0.001,
        zero_count: Some(ZeroCount::ZeroCountInt(i as u64)),
        positive_spans: vec![BucketSpan {
            offset: 0,
            length: 3,
        }],
        positive_deltas: vec![i, i, -i],
        timestamp: t,
        ..Default::default()
    }
}

/// A float gauge histogram with custom bucket bounds 0.1, 0.5, 1 (NHCB).
fn gauge_nhcb(t: i64, i: i64) -> Histogram {
    let v = (i % 7) as f64;
    Histogram {
        count: Some(Count::CountFloat(3.0 * v)),
        sum: v,
        schema: -53,
        positive_spans: vec![BucketSpan {
            offset: 0,
            length: 3,
        }],
        positive_counts: vec![v, v, v],
        custom_values: vec![0.1, 0.5, 1.0],
        reset_hint: ResetHint::Gauge as i32,
        timestamp: t,
        ..Default::default()
    }
}

fn histogram_series(labels: &[(&str, &str)], histograms: Vec<Histogram>) -> TimeSeries {
    let mut ts = series(labels, &[]);
    ts.histograms = histograms;
    ts
}

/// The float answers of `queries` at `at`, one string per query (for comparison).
async fn answers(cairn: &Cairn, queries: &[&str], at: i64) -> Vec<String> {
    let mut out = Vec::new();
    for q in queries {
        let (status, json) = get_json(
            &cairn.url("/api/v1/query"),
            &[
                ("query", (*q).to_string()),
                ("time", format!("{}", at as f64 / 1000.0)),
            ],
            None,
        )
        .await;
        assert_eq!(status, 200, "{q}: {json}");
        out.push(format!("{q} => {}", json["data"]["result"]));
    }
    out
}

fn scalar_of(answer: &Value) -> f64 {
    let v = &answer["data"]["result"][0]["value"][1];
    v.as_str()
        .unwrap_or_else(|| panic!("no value in {answer}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_histograms_are_stored_queried_kept_and_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("cairn.yaml");
    std::fs::write(
        &config,
        "ingest:\n  chunk_range: 1m\n  block_range: 1m\n  block_cut_grace: 0s\n  ship_interval: 200ms\n",
    )
    .unwrap();
    let flags = ["--config.file", config.to_str().unwrap()];
    let mut cairn = start_cairn(dir.path(), &data, &flags);

    // Thirty samples ending two minutes ago, on the same timestamps for both series.
    let t0 = (now_ms() - 2 * 60_000 - SAMPLES * STEP_MS) / 1000 * 1000;
    let times: Vec<i64> = (0..SAMPLES).map(|i| t0 + i * STEP_MS).collect();
    let last = *times.last().unwrap();
    let mut bad = counter_histogram(last + 1, 1);
    bad.positive_deltas = vec![1, -3, 0]; // a negative bucket count
    let body = write_body(vec![
        histogram_series(
            &[("__name__", "req_seconds"), ("job", "api")],
            times
                .iter()
                .enumerate()
                .map(|(i, &t)| counter_histogram(t, i as i64 + 1))
                .collect(),
        ),
        histogram_series(
            &[("__name__", "queue_nhcb"), ("job", "api")],
            times
                .iter()
                .enumerate()
                .map(|(i, &t)| gauge_nhcb(t, i as i64))
                .collect(),
        ),
        histogram_series(&[("__name__", "broken_seconds"), ("job", "api")], vec![bad]),
    ]);
    let (status, text) = remote_write(&cairn.url("/api/v1/write"), body.clone(), None).await;
    assert_eq!(status, 400, "the invalid histogram is refused: {text}");
    assert!(
        text.contains("invalid_histogram") && text.contains("broken_seconds"),
        "{text}"
    );
    // Sending the newest histogram again (a client retry) is accepted and stores
    // nothing twice; a different histogram at that timestamp is refused.
    let resend = |h: Histogram| {
        write_body(vec![histogram_series(
            &[("__name__", "req_seconds"), ("job", "api")],
            vec![h],
        )])
    };
    let (status, text) = remote_write(
        &cairn.url("/api/v1/write"),
        resend(counter_histogram(last, SAMPLES + 7)),
        None,
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("duplicate"), "{text}");
    let valid_only = resend(counter_histogram(last, SAMPLES));
    let (status, text) = remote_write(&cairn.url("/api/v1/write"), valid_only, None).await;
    assert!(
        status / 100 == 2,
        "a retry of stored data is accepted: {status} {text}"
    );

    let at = last + 5_000;
    let n = SAMPLES as f64;
    // The raw histogram comes back in Prometheus's JSON shape.
    let (status, json) = get_json(
        &cairn.url("/api/v1/query"),
        &[
            ("query", "req_seconds".into()),
            ("time", format!("{}", at as f64 / 1000.0)),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{json}");
    let h = &json["data"]["result"][0]["histogram"];
    assert_eq!(
        json["data"]["result"][0]["histogram"][0].as_f64(),
        Some(at as f64 / 1000.0)
    );
    assert_eq!(h[1]["count"], format!("{}", 5.0 * n), "{json}");
    assert_eq!(h[1]["sum"], format!("{}", 10.0 * n), "{json}");
    assert_eq!(
        h[1]["buckets"].as_array().map(Vec::len),
        Some(4),
        "zero bucket + 3: {json}"
    );
    assert!(
        json["data"]["result"].as_array().unwrap().len() == 1,
        "the refused series is not stored: {json}"
    );

    // PromQL over them: counts, rates, quantiles, gauge histograms with custom buckets.
    let q = |expr: &str| {
        let url = cairn.url("/api/v1/query");
        let expr = expr.to_string();
        async move {
            let (status, json) = get_json(
                &url,
                &[
                    ("query", expr.clone()),
                    ("time", format!("{}", at as f64 / 1000.0)),
                ],
                None,
            )
            .await;
            assert_eq!(status, 200, "{expr}: {json}");
            json
        }
    };
    assert_eq!(scalar_of(&q("histogram_count(req_seconds)").await), 5.0 * n);
    // Linear data fully covering the window: the rate is the slope exactly.
    let rate = scalar_of(&q("histogram_sum(rate(req_seconds[5m]))").await);
    assert!((rate - 10.0 / 15.0).abs() < 1e-9, "rate {rate}");
    let rate = scalar_of(&q("histogram_count(sum by (job) (rate(req_seconds[5m])))").await);
    assert!((rate - 5.0 / 15.0).abs() < 1e-9, "rate {rate}");
    let median = scalar_of(&q("histogram_quantile(0.5, rate(req_seconds[5m]))").await);
    assert!(
        median > 1.0 && median <= 2.0,
        "the median is in the (1,2] bucket: {median}"
    );
    let frac = scalar_of(&q("histogram_fraction(-10, 1, req_seconds)").await);
    assert!(
        (frac - 0.4).abs() < 1e-9,
        "zero bucket and (0.5,1] hold 2 of 5: {frac}"
    );
    let v = ((SAMPLES - 1) % 7) as f64;
    assert_eq!(scalar_of(&q("histogram_count(queue_nhcb)").await), 3.0 * v);
    assert_eq!(scalar_of(&q("histogram_sum(queue_nhcb)").await), v);
    let below = scalar_of(&q("histogram_fraction(-Inf, 0.5, queue_nhcb)").await);
    assert!(
        (below - 2.0 / 3.0).abs() < 1e-9,
        "two of three custom buckets: {below}"
    );

    let queries = [
        "req_seconds",
        "queue_nhcb",
        "histogram_count(rate(req_seconds[2m]))",
        "histogram_quantile(0.9, increase(req_seconds[5m]))",
        "sum(queue_nhcb)",
        "count_over_time(req_seconds[10m])",
    ];
    let before = answers(&cairn, &queries, at).await;
    assert!(
        before[5].contains(&format!("\"{SAMPLES}\"")),
        "{}",
        before[5]
    );

    // kill -9: everything acknowledged comes back from the WAL.
    cairn.proc.kill9();
    let mut cairn = start_cairn(dir.path(), &data, &flags);
    assert_eq!(answers(&cairn, &queries, at).await, before, "after kill -9");

    // The head is cut into one-minute blocks and shipped; the answers stay the same
    // when they come from the bucket through the store gateway.
    let bucket = data.join("bucket").join("anonymous");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let shipped = std::fs::read_dir(&bucket)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().join("meta.json").is_file())
                    .count()
            })
            .unwrap_or(0);
        if shipped >= 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no blocks shipped:\n{}",
            cairn.proc.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        answers(&cairn, &queries, at).await,
        before,
        "from shipped blocks"
    );
    assert!(cairn.proc.terminate(), "clean shutdown");
}
