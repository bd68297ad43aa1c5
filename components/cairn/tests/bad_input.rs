//! Bad input gets a clear 4xx, never a panic, and changes nothing already stored.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_stored_data_survives() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = start_cairn(
        dir.path(),
        &dir.path().join("data"),
        &["--receive.max-request-bytes", "4096"],
    );
    let write = cairn.url("/api/v1/write");
    let now = now_ms();
    let points: Vec<(i64, f64)> = (0..10)
        .map(|i| (now - 60_000 + i * 5_000, i as f64))
        .collect();
    let good = write_body(vec![series(
        &[("__name__", "stored_metric"), ("job", "a")],
        &points,
    )]);
    assert_eq!(remote_write(&write, good, None).await.0, 204);

    let client = http();
    let post = |body: Vec<u8>, encoding: &'static str, content_type: &'static str| {
        client
            .post(&write)
            .header("Content-Encoding", encoding)
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let check = |resp: reqwest::Response, status: u16, needle: &'static str| async move {
        let got = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(got, status, "body: {text}");
        assert!(text.contains(needle), "expected {needle:?} in {text:?}");
    };
    let proto = "application/x-protobuf";

    // Garbage and invalid snappy.
    check(
        post(b"hello, world".to_vec(), "snappy", proto)
            .await
            .unwrap(),
        400,
        "snappy",
    )
    .await;
    check(
        post(vec![0xff; 64], "snappy", proto).await.unwrap(),
        400,
        "snappy",
    )
    .await;
    // Valid snappy around bytes that are not a WriteRequest.
    let not_proto = snap::raw::Encoder::new()
        .compress_vec(&[0xff, 0xff, 0xff, 0x01])
        .unwrap();
    check(
        post(not_proto, "snappy", proto).await.unwrap(),
        400,
        "protobuf",
    )
    .await;
    // Wrong encodings and content types.
    check(
        post(b"x".to_vec(), "gzip", proto).await.unwrap(),
        415,
        "Content-Encoding",
    )
    .await;
    check(
        post(b"x".to_vec(), "snappy", "application/json")
            .await
            .unwrap(),
        415,
        "Content-Type",
    )
    .await;
    // Remote write 2.0 is not accepted yet: 415 makes Prometheus fall back to 1.0.
    check(
        post(
            b"x".to_vec(),
            "snappy",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        )
        .await
        .unwrap(),
        415,
        "Content-Type",
    )
    .await;
    // Oversized body.
    check(
        post(vec![0u8; 8192], "snappy", proto).await.unwrap(),
        413,
        "too large",
    )
    .await;

    // Invalid series are refused by name while the valid one in the same request lands.
    let mixed = write_body(vec![
        series(&[("__name__", "bad-name")], &[(now, 1.0)]),
        TimeSeriesUnsorted::build(),
        series(&[("__name__", "mixed_ok")], &[(now, 7.0)]),
    ]);
    let (status, text) = remote_write(&write, mixed, None).await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("bad-name") && text.contains("not sorted"),
        "{text}"
    );
    // Out of order and duplicate-timestamp samples for the stored series.
    let ooo = write_body(vec![series(
        &[("__name__", "stored_metric"), ("job", "a")],
        &[(now - 120_000, 1.0), (points[9].0, 99.0)],
    )]);
    let (status, text) = remote_write(&write, ooo, None).await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("out of order") && text.contains("duplicate sample"),
        "{text}"
    );
    // Too old and too far in the future.
    let times = write_body(vec![series(
        &[("__name__", "time_bounds")],
        &[(now - 3 * 86_400_000, 1.0), (now + 3_600_000, 2.0)],
    )]);
    let (status, text) = remote_write(&write, times, None).await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("too_old") && text.contains("too_far_in_future"),
        "{text}"
    );
    // An invalid tenant.
    let (status, text) = remote_write(&write, write_body(vec![]), Some("a/b")).await;
    assert_eq!(status, 400, "{text}");

    // Query API errors use Prometheus's shapes and status codes.
    let query = cairn.url("/api/v1/query");
    let (status, body) = get_json(&query, &[("query", "sum(".into())], None).await;
    assert_eq!(
        (status, body["status"].as_str(), body["errorType"].as_str()),
        (400, Some("error"), Some("bad_data"))
    );
    // Formatting (Grafana's "format query"): good PromQL comes back laid out, bad
    // PromQL is bad_data.
    let format = cairn.url("/api/v1/format_query");
    let (status, body) = get_json(
        &format,
        &[("query", "sum  by(job)(rate( x[5m] ))".into())],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], "sum by (job) (rate(x[5m]))", "{body}");
    let (status, body) = get_json(&format, &[("query", "sum(".into())], None).await;
    assert_eq!(
        (status, body["errorType"].as_str()),
        (400, Some("bad_data")),
        "{body}"
    );
    let range = cairn.url("/api/v1/query_range");
    let params = [
        ("query", "up".into()),
        ("start", "100".into()),
        ("end", "50".into()),
        ("step", "15".into()),
    ];
    let (status, body) = get_json(&range, &params, None).await;
    assert_eq!(status, 400);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("end timestamp must not be before start time"));
    let params = [
        ("query", "up".into()),
        ("start", "0".into()),
        ("end", "100000".into()),
        ("step", "1".into()),
    ];
    let (status, body) = get_json(&range, &params, None).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("11,000 points"),
        "{body}"
    );
    let (status, body) = get_json(&cairn.url("/api/v1/series"), &[], None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("no match[] parameter provided"))
    );
    let (status, body) = get_json(&cairn.url("/api/v1/nope"), &[], None).await;
    assert_eq!(
        (status, body["errorType"].as_str()),
        (404, Some("not_found"))
    );

    // Everything acknowledged before is still there, unchanged.
    let at = (now as f64 / 1000.0).to_string();
    let q = "count_over_time(stored_metric[5m])";
    let (status, body) = get_json(&query, &[("query", q.into()), ("time", at.clone())], None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"][0]["value"][1], "10", "{body}");
    let (_, body) = get_json(
        &query,
        &[("query", "stored_metric".into()), ("time", at.clone())],
        None,
    )
    .await;
    assert_eq!(body["data"]["result"][0]["value"][1], "9", "{body}");
    let (_, body) = get_json(&query, &[("query", "mixed_ok".into()), ("time", at)], None).await;
    assert_eq!(body["data"]["result"][0]["value"][1], "7", "{body}");
    assert!(
        !cairn.proc.log_text().contains("panicked"),
        "{}",
        cairn.proc.log_text()
    );
}

/// A series whose labels arrive unsorted, as a broken client might send them.
struct TimeSeriesUnsorted;

impl TimeSeriesUnsorted {
    fn build() -> cairn_proto::prometheus::TimeSeries {
        let mut ts = series(
            &[("__name__", "unsorted"), ("job", "x")],
            &[(now_ms(), 1.0)],
        );
        ts.labels.reverse();
        ts
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_only_see_their_own_series() {
    let dir = tempfile::tempdir().unwrap();
    let cairn = start_cairn(dir.path(), &dir.path().join("data"), &[]);
    let now = now_ms();
    let body = write_body(vec![series(
        &[("__name__", "tenant_metric")],
        &[(now, 1.0)],
    )]);
    assert_eq!(
        remote_write(&cairn.url("/api/v1/push"), body, Some("team-a"))
            .await
            .0,
        204
    );
    let query = cairn.url("/api/v1/query");
    let params = [
        ("query", "tenant_metric".to_string()),
        ("time", (now as f64 / 1000.0).to_string()),
    ];
    let (_, a) = get_json(&query, &params, Some("team-a")).await;
    let (_, b) = get_json(&query, &params, Some("team-b")).await;
    let (_, anon) = get_json(&query, &params, None).await;
    assert_eq!(a["data"]["result"].as_array().unwrap().len(), 1, "{a}");
    assert_eq!(b["data"]["result"].as_array().unwrap().len(), 0, "{b}");
    assert_eq!(
        anon["data"]["result"].as_array().unwrap().len(),
        0,
        "{anon}"
    );
    let (_, names) = get_json(
        &cairn.url("/api/v1/label/__name__/values"),
        &[],
        Some("team-b"),
    )
    .await;
    assert_eq!(names["data"], serde_json::json!([]), "{names}");
}
