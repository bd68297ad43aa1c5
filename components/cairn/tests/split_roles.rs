//! The split deployment runs the same code as `cairn all`: two ingesters, a receiver that
//! spreads series over them, and a querier that merges both.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_spreads_series_and_querier_merges_them() {
    let dir = tempfile::tempdir().unwrap();
    let ing1 = start_role("ingest", dir.path(), &dir.path().join("i1"), &[]);
    let ing2 = start_role("ingest", dir.path(), &dir.path().join("i2"), &[]);
    let ingesters = format!("127.0.0.1:{},127.0.0.1:{}", ing1.grpc, ing2.grpc);
    let recv = start_role(
        "receive",
        dir.path(),
        &dir.path().join("r"),
        // RF=1: this test is about spreading; replication has its own tests.
        &[
            "--receive.ingesters",
            &ingesters,
            "--receive.replication-factor",
            "1",
        ],
    );
    let query = start_role(
        "query",
        dir.path(),
        &dir.path().join("q"),
        &["--query.stores", &ingesters],
    );

    let now = now_ms();
    let series_count = 200;
    let body = write_body(
        (0..series_count)
            .map(|i| {
                series(
                    &[("__name__", "spread"), ("id", &i.to_string())],
                    &[(now - 1_000, 1.0), (now, 2.0)],
                )
            })
            .collect(),
    );
    let (status, text) = remote_write(&recv.url("/api/v1/write"), body, None).await;
    assert_eq!(status, 204, "{text}");

    // Each ingester holds a real share of the series...
    let per_ingester = |c: &Cairn| c.url("/metrics");
    let mut shares = Vec::new();
    for ing in [&ing1, &ing2] {
        let text = http()
            .get(per_ingester(ing))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("cairn_ingest_samples_appended_total"))
            .unwrap_or_else(|| panic!("no appended counter in:\n{text}"));
        let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        shares.push(n);
    }
    assert_eq!(
        shares.iter().sum::<f64>(),
        f64::from(series_count * 2),
        "{shares:?}"
    );
    assert!(
        shares.iter().all(|&n| n >= 60.0),
        "both ingesters get a share: {shares:?}"
    );

    // ...and the querier sees all of them exactly once.
    let params = [
        ("query", "count(spread)".to_string()),
        ("time", format!("{:.3}", now as f64 / 1000.0)),
    ];
    let (status, body) = get_json(&query.url("/api/v1/query"), &params, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["result"][0]["value"][1],
        series_count.to_string(),
        "{body}"
    );
    let params = [
        ("query", "sum(spread)".to_string()),
        ("time", format!("{:.3}", now as f64 / 1000.0)),
    ];
    let (_, body) = get_json(&query.url("/api/v1/query"), &params, None).await;
    assert_eq!(
        body["data"]["result"][0]["value"][1],
        (series_count * 2).to_string(),
        "{body}"
    );

    // With one ingester down, queries answer from the other with a warning.
    drop(ing2);
    let params = [
        ("query", "count(spread)".to_string()),
        ("time", format!("{:.3}", now as f64 / 1000.0)),
    ];
    let (status, body) = get_json(&query.url("/api/v1/query"), &params, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["warnings"].as_array().is_some_and(|w| !w.is_empty()),
        "partial response warns: {body}"
    );
    // And writes that need the dead ingester fail with a retryable 503, never a false 2xx.
    let body = write_body(
        (0..50)
            .map(|i| {
                series(
                    &[("__name__", "after"), ("id", &i.to_string())],
                    &[(now, 1.0)],
                )
            })
            .collect(),
    );
    let (status, text) = remote_write(&recv.url("/api/v1/write"), body, None).await;
    assert_eq!(status, 503, "{text}");
}
