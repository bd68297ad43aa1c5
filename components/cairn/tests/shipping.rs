//! `cairn all` ships blocks to its default filesystem bucket (`<data_dir>/bucket`) and
//! stops cleanly with the shipper running.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// `<bucket>/<tenant>/<ulid>/meta.json` files.
fn shipped_metas(bucket: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(blocks) = std::fs::read_dir(bucket.join("anonymous")) else {
        return Vec::new();
    };
    blocks
        .flatten()
        .map(|e| e.path().join("meta.json"))
        .filter(|p| p.is_file())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_all_ships_blocks_to_the_default_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("cairn.yaml");
    std::fs::write(
        &config,
        "ingest:\n  chunk_range: 1m\n  block_range: 1m\n  block_cut_grace: 0s\n  ship_interval: 200ms\n  external_labels:\n    replica: r1\n",
    )
    .unwrap();
    let mut cairn = start_cairn(
        dir.path(),
        &data,
        &["--config.file", config.to_str().unwrap()],
    );

    // Five minutes of data, then one sample now so the older minutes are complete.
    let start = (now_ms() - 6 * 60_000) / 60_000 * 60_000;
    let mut points: Vec<(i64, f64)> = (0..300).map(|i| (start + i * 1000, i as f64)).collect();
    points.push((now_ms(), 0.0));
    let body = write_body(vec![series(
        &[("__name__", "shipped"), ("job", "j")],
        &points,
    )]);
    let (status, text) = remote_write(&cairn.url("/api/v1/write"), body, None).await;
    assert_eq!(status, 204, "{text}");

    let bucket = data.join("bucket");
    let deadline = Instant::now() + Duration::from_secs(30);
    while shipped_metas(&bucket).len() < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metas = shipped_metas(&bucket);
    assert!(metas.len() >= 5, "{metas:?}\n{}", cairn.proc.log_text());
    let mut samples = 0;
    for m in &metas {
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(m).unwrap()).unwrap();
        assert_eq!(meta["external_labels"]["replica"], "r1");
        assert_eq!(
            meta["max_time"].as_i64().unwrap() - meta["min_time"].as_i64().unwrap(),
            60_000
        );
        samples += meta["stats"]["num_samples"].as_u64().unwrap();
    }
    assert!(
        samples >= 300,
        "every pushed minute is in a block: {samples}"
    );
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data.join("ingester/anonymous/shipped.json")).unwrap(),
    )
    .unwrap();
    assert!(state["shipped_until"].as_i64().unwrap() >= start + 5 * 60_000);

    assert!(
        cairn.proc.terminate(),
        "sigterm:\n{}",
        cairn.proc.log_text()
    );
    let log = cairn.proc.log_text();
    assert!(log.contains("block shipper stopped"), "{log}");
}
