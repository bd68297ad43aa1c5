//! The store gateway as a process: blocks in a filesystem bucket served by `cairn store`
//! to a split querier, and by `cairn all` next to its own ingester.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use cairn_block::{
    local_block_dir, write_block, BlockChunk, BlockMeta, BlockSeries, BlockWriterOptions,
    ChunkData, Compaction, NewBlock, RESOLUTION_RAW,
};
use cairn_chunk::XorChunk;
use cairn_model::Labels;
use common::*;

/// Writes a block of `name{job="old"}` with a sample every 15s over `[from, from+1h)`
/// (value 1) straight into `<bucket_dir>/anonymous/<ulid>/`, the filesystem bucket's
/// layout.
fn put_block(bucket_dir: &Path, name: &str, from: i64) -> BlockMeta {
    let staging = tempfile::tempdir().unwrap();
    let mut c = XorChunk::new();
    for i in 0..240 {
        c.append(from + i * 15_000, 1.0);
    }
    let series = BlockSeries {
        labels: Labels::from_pairs([("__name__", name), ("job", "old")]),
        chunks: vec![BlockChunk {
            min_time: from,
            max_time: from + 239 * 15_000,
            data: ChunkData::Xor(c.into_bytes()),
        }],
    };
    let meta = write_block(
        staging.path(),
        NewBlock {
            tenant: "anonymous".into(),
            min_time: from,
            max_time: from + 3_600_000,
            resolution: RESOLUTION_RAW,
            compaction: Compaction {
                level: 1,
                sources: vec![],
                parents: vec![],
            },
            external_labels: BTreeMap::new(),
            source: "test".into(),
        },
        &["__name__", "job"].map(String::from).into(),
        std::iter::once(Ok(series)),
        &BlockWriterOptions::default(),
    )
    .unwrap();
    let target = bucket_dir.join("anonymous").join(meta.ulid.to_string());
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::rename(local_block_dir(staging.path(), &meta.ulid), &target).unwrap();
    meta
}

async fn count_over_3h(url: &str, selector: &str, at: i64) -> (u16, serde_json::Value) {
    get_json(
        url,
        &[
            ("query", format!("count_over_time({selector}[3h])")),
            ("time", format!("{}", at as f64 / 1000.0)),
        ],
        None,
    )
    .await
}

fn single_value(v: &serde_json::Value) -> f64 {
    let r = v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(r.len(), 1, "{v}");
    r[0]["value"][1].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_store_serves_bucket_blocks_to_a_split_querier() {
    let dir = tempfile::tempdir().unwrap();
    let store_data = dir.path().join("s");
    let now = now_ms();
    put_block(
        &store_data.join("bucket"),
        "from_block",
        now - 2 * 3_600_000,
    );
    let store = start_role("store", dir.path(), &store_data, &[]);
    let query = start_role(
        "query",
        dir.path(),
        &dir.path().join("q"),
        &["--query.stores", &format!("127.0.0.1:{}", store.grpc)],
    );
    let (status, v) = count_over_3h(&query.url("/api/v1/query"), "from_block", now).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(single_value(&v), 240.0);

    // A block uploaded later shows up after the next sync (the default interval is
    // long, so restart-free pickup is covered by the store crate's tests; here the
    // ops endpoints).
    let metrics = http()
        .get(store.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("cairn_store_blocks_loaded 1"), "{metrics}");
    assert_eq!(http_status(store.http, "/-/healthy"), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairn_all_queries_its_head_and_the_blocks_in_its_bucket_together() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("all");
    let now = now_ms();
    put_block(&data.join("bucket"), "mixed", now - 2 * 3_600_000);
    let cairn = start_cairn(dir.path(), &data, &[]);

    // Recent samples of the same series arrive through remote write into the head.
    let recent: Vec<(i64, f64)> = (0..10).map(|i| (now - 10_000 + i * 1_000, 1.0)).collect();
    let body = write_body(vec![series(
        &[("__name__", "mixed"), ("job", "old")],
        &recent,
    )]);
    let (status, text) = remote_write(&cairn.url("/api/v1/write"), body, None).await;
    assert_eq!(status, 204, "{text}");

    let (status, v) = count_over_3h(&cairn.url("/api/v1/query"), "mixed", now).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        single_value(&v),
        250.0,
        "240 samples from the block + 10 from the head"
    );
}
