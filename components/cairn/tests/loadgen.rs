//! `cairn-loadgen` against a real `cairn all`: the write mode's series all arrive (with
//! consistent histograms), and the query mode's built-in dashboard queries all succeed
//! with data on that layout.

mod common;

use clap::Parser;
use common::*;

fn loadgen(args: &[&str]) -> cairn_loadgen::Command {
    let mut v = vec!["cairn-loadgen"];
    v.extend_from_slice(args);
    cairn_loadgen::Cli::try_parse_from(v)
        .unwrap()
        .into_command()
}

/// The layout both modes are told about.
const SHAPE: [&str; 12] = [
    "--series",
    "600",
    "--labels",
    "3",
    "--label-values",
    "4,2",
    "--metrics",
    "10",
    "--histogram-buckets",
    "3",
    "--tenant",
    "load",
];

/// An instant query 48 minutes ago, just after the flood data (which starts 50 minutes
/// ago and is 75 s long).
async fn instant(cairn: &Cairn, query: &str) -> Vec<serde_json::Value> {
    let at = (now_ms() - 48 * 60_000) as f64 / 1000.0;
    let (status, body) = get_json(
        &cairn.url("/api/v1/query"),
        &[("query", query.to_owned()), ("time", at.to_string())],
        Some("load"),
    )
    .await;
    assert_eq!(status, 200, "{query}: {body}");
    body["data"]["result"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_writes_every_series_and_its_dashboard_queries_find_them() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = start_cairn(
        dir.path(),
        &dir.path().join("data"),
        &["--log.level", "warn"],
    );

    let write_url = cairn.url("/api/v1/write");
    let mut args = vec![
        "write",
        "--url",
        &write_url,
        "--interval",
        "0",
        "--flood-step",
        "15s",
        "--rounds",
        "6",
        "--duration",
        "0",
        "--concurrency",
        "3",
        "--batch-size",
        "100",
        "--progress-every",
        "0",
    ];
    args.extend_from_slice(&SHAPE);
    let cairn_loadgen::Command::Write(w) = loadgen(&args) else {
        panic!("expected write");
    };
    let summary = cairn_loadgen::run(w).await.unwrap();
    assert_eq!(summary.errors.total(), 0, "{summary:?}");
    // Metrics 0,1,5,6 counters, 2,3,7,8 gauges, 4,9 histograms of 3 + 3 series: one
    // cycle of 10 ids is 20 series, so 600 series are 300 ids.
    assert_eq!(summary.active_series, 600);
    assert_eq!(summary.settings.series_ids, 300);
    assert_eq!(summary.samples, 6 * 600);

    // Every series is there, under the tenant.
    let count = instant(&cairn, r#"count({__name__=~"loadgen_metric_.+"})"#).await;
    assert_eq!(count[0]["value"][1], "600", "{count:?}");
    // Label values are spread: 30 ids per metric over 4 × 2 combinations.
    let by = instant(
        &cairn,
        "count by (label_0, label_1) (loadgen_metric_0_total)",
    )
    .await;
    assert_eq!(by.len(), 8, "{by:?}");
    // Histograms: 3 finite buckets and +Inf per histogram, +Inf equal to _count, and the
    // buckets cumulative.
    let les = instant(&cairn, "count by (le) (loadgen_metric_4_seconds_bucket)").await;
    assert_eq!(les.len(), 4, "{les:?}");
    let diff = instant(
        &cairn,
        r#"loadgen_metric_4_seconds_count - ignoring(le) loadgen_metric_4_seconds_bucket{le="+Inf"} != 0"#,
    )
    .await;
    assert!(diff.is_empty(), "+Inf bucket differs from _count: {diff:?}");
    let not_cumulative = instant(
        &cairn,
        r#"loadgen_metric_4_seconds_bucket{le="0.005"} - ignoring(le) loadgen_metric_4_seconds_bucket{le="0.01"} > 0"#,
    )
    .await;
    assert!(not_cumulative.is_empty(), "{not_cumulative:?}");
    let observed = instant(&cairn, "sum(loadgen_metric_4_seconds_count)").await;
    let observed: f64 = observed[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(observed > 0.0);

    // The built-in query set: every query answered with data, no errors.
    let base = cairn.url("");
    let mut args = vec![
        "query",
        "--url",
        &base,
        "--requests",
        "27",
        "--duration",
        "0",
        "--concurrency",
        "2",
        "--progress-every",
        "0",
    ];
    args.extend_from_slice(&SHAPE);
    let cairn_loadgen::Command::Query(q) = loadgen(&args) else {
        panic!("expected query");
    };
    let summary = cairn_loadgen::run_queries(q).await.unwrap();
    assert_eq!(summary.requests, 27);
    assert_eq!(summary.errors, 0, "{:?}", summary.first_errors);
    assert_eq!(summary.queries.len(), 9);
    assert_eq!(summary.empty_results, 0, "{summary:#?}");
    let by_label = summary
        .queries
        .iter()
        .find(|q| q.name == "rate_sum_by")
        .unwrap();
    // `sum by (label_0)` over one counter: one series per label_0 value.
    assert_eq!(by_label.mean_series, 4.0);

    // Without the tenant the data is not visible: the tenant header was what put it
    // there.
    let at = (now_ms() - 48 * 60_000) as f64 / 1000.0;
    let (status, body) = get_json(
        &cairn.url("/api/v1/query"),
        &[
            (
                "query",
                r#"count({__name__=~"loadgen_metric_.+"})"#.to_owned(),
            ),
            ("time", at.to_string()),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body["data"]["result"].as_array().unwrap().is_empty(),
        "{body}"
    );
}
