//! Acknowledged samples survive kill -9 (WAL replay) and a graceful SIGTERM.

mod common;

use common::*;

async fn sample_count(cairn: &Cairn, at_ms: i64) -> String {
    let params = [
        ("query", "count_over_time(durable[1h])".to_string()),
        ("time", (at_ms as f64 / 1000.0).to_string()),
    ];
    let (status, body) = get_json(&cairn.url("/api/v1/query"), &params, None).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap_or("none")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_samples_survive_kill_9_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cairn = start_cairn(dir.path(), &data, &[]);
    let start = now_ms() - 600_000;
    let mut acked = 0;
    for batch in 0..20 {
        let points: Vec<(i64, f64)> = (0..50)
            .map(|i| {
                let n = batch * 50 + i;
                (start + n * 100, n as f64)
            })
            .collect();
        let body = write_body(vec![series(
            &[("__name__", "durable"), ("batch", "all")],
            &points,
        )]);
        let (status, text) = remote_write(&cairn.url("/api/v1/write"), body, None).await;
        assert_eq!(status, 204, "{text}");
        acked += 50;
    }
    let end = start + acked * 100;
    assert_eq!(sample_count(&cairn, end).await, acked.to_string());

    cairn.proc.kill9();
    let mut cairn = start_cairn(dir.path(), &data, &[]);
    assert_eq!(
        sample_count(&cairn, end).await,
        acked.to_string(),
        "after kill -9"
    );
    assert!(cairn.proc.log_text().contains("wal replay finished"));

    assert!(
        cairn.proc.terminate(),
        "sigterm should exit cleanly:\n{}",
        cairn.proc.log_text()
    );
    let cairn = start_cairn(dir.path(), &data, &[]);
    assert_eq!(
        sample_count(&cairn, end).await,
        acked.to_string(),
        "after sigterm"
    );
}
