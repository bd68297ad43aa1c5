use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cairn_block::{list_blocks, BlockCaches, BlockReader, CacheSizes, ChunkData};
use cairn_model::{Labels, Sample, TenantId};
use cairn_objstore::testing::S3Server;
use cairn_objstore::{Bucket, BucketConfig};
use cairn_storeapi::{SeriesQuery, StoreBackend};
use prometheus_client::registry::Registry;

use super::*;
use crate::{IngestConfig, IngestMetrics, WalFsync};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const NAMES: [&str; 3] = ["a", "b", "c"];

fn config() -> IngestConfig {
    IngestConfig {
        wal_fsync: WalFsync::Never,
        block_range: Duration::from_secs(2 * 3600),
        chunk_range: Duration::from_secs(2 * 3600),
        block_cut_grace: Duration::from_secs(3600),
        upload_backoff_initial: Duration::from_millis(200),
        upload_backoff_max: Duration::from_secs(1),
        head_retention_after_ship: Duration::ZERO,
        external_labels: BTreeMap::from([("replica".to_owned(), "r1".to_owned())]),
        ..IngestConfig::default()
    }
}

fn tenant() -> TenantId {
    TenantId::new("team-a").unwrap()
}

fn labels(name: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("job", "node")])
}

async fn open(dir: &Path, bucket: &Bucket) -> (Arc<Ingester>, Arc<Shipper>) {
    open_with(dir, bucket, config()).await
}

async fn open_with(
    dir: &Path,
    bucket: &Bucket,
    cfg: IngestConfig,
) -> (Arc<Ingester>, Arc<Shipper>) {
    let metrics = IngestMetrics::new(&mut Registry::default());
    let ing = Ingester::open(dir.to_path_buf(), cfg, metrics)
        .await
        .unwrap();
    let shipper = Shipper::open(ing.clone(), bucket.clone()).await.unwrap();
    (ing, shipper)
}

/// One sample per minute for every series in `[from, to]`, value = timestamp.
async fn push(ing: &Arc<Ingester>, from: i64, to: i64) {
    for t in (from..=to).step_by(MIN as usize) {
        let batch = NAMES
            .iter()
            .map(|n| (labels(n), vec![Sample::new(t, t as f64)]))
            .collect();
        let r = ing.push(tenant(), batch).await.unwrap();
        assert_eq!(r.rejected_count(), 0, "{r:?}");
    }
}

fn minutes(from: i64, to_excl: i64) -> Vec<i64> {
    (from..to_excl).step_by(MIN as usize).collect()
}

/// Every series' timestamps in the bucket's blocks of the tenant, block by block.
async fn bucket_samples(bucket: &Bucket) -> Vec<(BlockMeta, BTreeMap<String, Vec<i64>>)> {
    let (blocks, partial) = list_blocks(bucket, tenant().as_str()).await.unwrap();
    assert!(partial.is_empty(), "{partial:?}");
    let mut out = Vec::new();
    for b in blocks {
        let reader = BlockReader::open(
            bucket.clone(),
            b.meta.clone(),
            BlockCaches::new(CacheSizes::default()),
        )
        .await
        .unwrap();
        let mut per_series = BTreeMap::new();
        for s in reader.series(&[], i64::MIN, i64::MAX, false).await.unwrap() {
            let mut ts = Vec::new();
            for c in s.chunks {
                let ChunkData::Xor(bytes) = c.data else {
                    panic!("raw block holds aggregates")
                };
                for x in cairn_chunk::decode(&bytes).unwrap() {
                    assert_eq!(x.v, x.t as f64);
                    ts.push(x.t);
                }
            }
            per_series.insert(s.labels.get("__name__").unwrap().to_owned(), ts);
        }
        out.push((b.meta, per_series));
    }
    out
}

/// Every series' timestamps the ingester serves through the StoreAPI.
async fn served(ing: &Ingester, mint: i64, maxt: i64) -> BTreeMap<String, Vec<i64>> {
    let q = SeriesQuery::new(Vec::new(), mint, maxt);
    let mut out = BTreeMap::new();
    for s in ing.series(&tenant(), &q).await.unwrap() {
        let mut ts = Vec::new();
        for c in s.chunks {
            ts.extend(
                cairn_chunk::decode(&c.data)
                    .unwrap()
                    .into_iter()
                    .map(|x| x.t)
                    .filter(|&t| t >= mint && t <= maxt),
            );
        }
        out.insert(s.labels.get("__name__").unwrap().to_owned(), ts);
    }
    out
}

fn every(ts: Vec<i64>) -> BTreeMap<String, Vec<i64>> {
    NAMES
        .iter()
        .map(|n| ((*n).to_owned(), ts.clone()))
        .collect()
}

fn local_blocks(dir: &Path) -> Vec<String> {
    let d = dir.join(tenant().as_str()).join("blocks");
    let mut v: Vec<String> = std::fs::read_dir(d)
        .map(|e| {
            e.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn uploads(ing: &Ingester, result: ResultLabel) -> u64 {
    ing.metrics().block_uploads.get_or_create(&result).get()
}

const CUT_ONLY: Steps = Steps {
    cut: true,
    upload: false,
    truncate: false,
};

#[tokio::test]
async fn ships_a_block_once_the_range_is_past_the_grace_then_truncates_the_head() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = Bucket::from_config(
        &BucketConfig::filesystem(tmp.path().join("bucket")),
        tmp.path(),
    )
    .unwrap();
    let dir = tmp.path().join("ingester");
    let (ing, shipper) = open(&dir, &bucket).await;

    push(&ing, 0, 3 * HOUR - MIN).await;
    let r = shipper.ship_once().await;
    assert_eq!(
        (r.cut, r.uploaded),
        (0, 0),
        "head max is short of 2h + grace"
    );
    push(&ing, 3 * HOUR, 3 * HOUR).await;
    let r = shipper.ship_once().await;
    assert_eq!(
        r,
        ShipReport {
            cut: 1,
            uploaded: 1,
            failed: 0,
            pending: 0,
            truncated: 1
        }
    );

    let blocks = bucket_samples(&bucket).await;
    assert_eq!(blocks.len(), 1);
    let (meta, data) = &blocks[0];
    assert_eq!((meta.min_time, meta.max_time), (0, 2 * HOUR));
    assert_eq!(
        meta.external_labels.get("replica").map(String::as_str),
        Some("r1")
    );
    assert_eq!(meta.source, "ingester");
    assert_eq!(meta.compaction.level, 1);
    assert_eq!((meta.stats.num_series, meta.stats.num_samples), (3, 360));
    assert_eq!(*data, every(minutes(0, 2 * HOUR)));

    // The head now starts where the block ends, and the WAL was checkpointed.
    let head = ing.tsdb().head(&tenant()).unwrap();
    assert_eq!(head.truncated_before(), Some(2 * HOUR));
    assert_eq!(
        served(&ing, i64::MIN, i64::MAX).await,
        every(minutes(2 * HOUR, 3 * HOUR + 1))
    );
    let wal: Vec<String> = std::fs::read_dir(head.wal_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(wal.iter().any(|n| n.starts_with("checkpoint.")), "{wal:?}");
    assert!(
        local_blocks(&dir).is_empty(),
        "shipped local copy is deleted"
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("team-a/shipped.json")).unwrap()).unwrap();
    assert_eq!(state["shipped_until"], 2 * HOUR);

    let m = ing.metrics();
    assert_eq!(m.blocks_cut.get(), 1);
    assert_eq!(uploads(&ing, ResultLabel::OK), 1);
    assert_eq!(m.blocks_pending.get(), 0);
    assert!(m.block_upload_bytes.get() > 1000);
    assert!(m.last_upload_seconds.get() > 1.6e9);

    // Late data for the shipped range is refused; a second pass has nothing to do.
    let r = ing
        .push(tenant(), vec![(labels("a"), vec![Sample::new(HOUR, 1.0)])])
        .await
        .unwrap();
    assert_eq!(r.rejected[0].reason, cairn_tsdb::RejectReason::OutOfBounds);
    assert_eq!(shipper.ship_once().await, ShipReport::default());
}

#[tokio::test]
async fn the_head_keeps_shipped_data_until_the_retention_after_ship_passed() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = Bucket::memory();
    let cfg = IngestConfig {
        head_retention_after_ship: Duration::from_millis(300),
        ..config()
    };
    let (ing, shipper) = open_with(&tmp.path().join("ingester"), &bucket, cfg).await;
    push(&ing, 0, 3 * HOUR).await;
    let r = shipper.ship_once().await;
    assert_eq!((r.cut, r.uploaded, r.truncated), (1, 1, 0));
    // Store gateways may not have seen the block yet: the head still answers for it.
    assert_eq!(
        served(&ing, 0, 2 * HOUR - 1).await,
        every(minutes(0, 2 * HOUR))
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    let r = shipper.ship_once().await;
    assert_eq!((r.cut, r.uploaded, r.truncated), (0, 0, 1));
    assert!(served(&ing, 0, 2 * HOUR - 1).await.is_empty());
    assert_eq!(bucket_samples(&bucket).await.len(), 1);
}

#[tokio::test]
async fn restart_after_upload_before_truncation_does_not_upload_again() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = Bucket::from_config(
        &BucketConfig::filesystem(tmp.path().join("bucket")),
        tmp.path(),
    )
    .unwrap();
    let dir = tmp.path().join("ingester");
    {
        let (ing, shipper) = open(&dir, &bucket).await;
        push(&ing, 0, 3 * HOUR).await;
        let r = shipper
            .run(Steps {
                cut: true,
                upload: true,
                truncate: false,
            })
            .await;
        assert_eq!((r.cut, r.uploaded, r.truncated), (1, 1, 0));
        // Killed here: dropped without closing anything.
    }
    let first = bucket_samples(&bucket).await;
    assert_eq!(first.len(), 1);

    let metrics = IngestMetrics::new(&mut Registry::default());
    let ing = Ingester::open(dir.clone(), config(), metrics)
        .await
        .unwrap();
    assert_eq!(
        served(&ing, 0, 2 * HOUR - 1).await,
        every(minutes(0, 2 * HOUR)),
        "replay brings the shipped range back into the head"
    );
    let shipper = Shipper::open(ing.clone(), bucket.clone()).await.unwrap();
    // Opening truncated the head before it could serve the shipped range twice.
    assert_eq!(
        served(&ing, i64::MIN, i64::MAX).await,
        every(minutes(2 * HOUR, 3 * HOUR + 1))
    );
    let r = shipper.ship_once().await;
    assert_eq!((r.cut, r.uploaded, r.failed, r.pending), (0, 0, 0, 0));
    assert_eq!(uploads(&ing, ResultLabel::OK), 0);
    let again = bucket_samples(&bucket).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].0.ulid, first[0].0.ulid);
    assert!(local_blocks(&dir).is_empty());
}

#[tokio::test]
async fn restart_after_cut_before_upload_uploads_the_same_block() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = Bucket::from_config(
        &BucketConfig::filesystem(tmp.path().join("bucket")),
        tmp.path(),
    )
    .unwrap();
    let dir = tmp.path().join("ingester");
    let ulid = {
        let (ing, shipper) = open(&dir, &bucket).await;
        push(&ing, 0, 3 * HOUR).await;
        let r = shipper.run(CUT_ONLY).await;
        assert_eq!((r.cut, r.pending), (1, 1));
        assert_eq!(ing.metrics().blocks_pending.get(), 1);
        local_blocks(&dir)[0].clone()
    };
    // A block write that was cut short by the same crash.
    std::fs::create_dir_all(dir.join("team-a/blocks/01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp")).unwrap();

    let (ing, shipper) = open(&dir, &bucket).await;
    assert_eq!(local_blocks(&dir), vec![ulid.clone()]);
    // The cut range stays closed across the restart.
    let r = ing
        .push(tenant(), vec![(labels("a"), vec![Sample::new(HOUR, 1.0)])])
        .await
        .unwrap();
    assert_eq!(r.rejected_count(), 1);
    let r = shipper.ship_once().await;
    assert_eq!((r.cut, r.uploaded, r.pending, r.truncated), (0, 1, 0, 1));
    assert_eq!(ing.metrics().blocks_cut.get(), 0, "not cut again");
    let blocks = bucket_samples(&bucket).await;
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].0.ulid.to_string(), ulid);
    assert_eq!(blocks[0].1, every(minutes(0, 2 * HOUR)));
    assert_eq!(
        served(&ing, i64::MIN, i64::MAX).await,
        every(minutes(2 * HOUR, 3 * HOUR + 1))
    );
}

#[tokio::test]
async fn restart_after_upload_before_it_was_recorded_leaves_one_block() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = Bucket::from_config(
        &BucketConfig::filesystem(tmp.path().join("bucket")),
        tmp.path(),
    )
    .unwrap();
    let dir = tmp.path().join("ingester");
    {
        let (ing, shipper) = open(&dir, &bucket).await;
        push(&ing, 0, 3 * HOUR).await;
        shipper.run(CUT_ONLY).await;
        // The upload went through, then the process died before shipped.json.
        let tenants = shipper.tenants.lock().await;
        let ts = &tenants[&tenant()];
        let meta = ts.pending[0].clone();
        upload_block(
            &bucket,
            &local_block_dir(&blocks_dir(&ts.dir), &meta.ulid),
            &meta,
        )
        .await
        .unwrap();
    }
    let (_ing, shipper) = open(&dir, &bucket).await;
    assert_eq!(shipper.ship_once().await.uploaded, 1);
    let blocks = bucket_samples(&bucket).await;
    assert_eq!(
        blocks.len(),
        1,
        "the same block id is overwritten, not duplicated"
    );
    assert_eq!(blocks[0].1, every(minutes(0, 2 * HOUR)));
}

#[tokio::test]
async fn s3_outage_keeps_ingesting_retries_with_backoff_and_loses_nothing() {
    let mut s3 = S3Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let bucket = Bucket::from_config(&s3.bucket("blocks"), tmp.path()).unwrap();
    let dir = tmp.path().join("ingester");
    let (ing, shipper) = open(&dir, &bucket).await;

    push(&ing, 0, 3 * HOUR).await;
    assert_eq!(
        shipper.ship_once().await.uploaded,
        1,
        "s3 works before the outage"
    );

    s3.stop();
    push(&ing, 3 * HOUR + MIN, 5 * HOUR).await; // pushes succeed: asserted inside
    let r = shipper.ship_once().await;
    assert_eq!((r.cut, r.uploaded, r.failed, r.pending), (1, 0, 1, 1));
    assert_eq!(uploads(&ing, ResultLabel::FAILED), 1);
    assert_eq!(ing.metrics().blocks_pending.get(), 1);
    // The pending block's range is still in the head and served from there.
    let head = ing.tsdb().head(&tenant()).unwrap();
    assert_eq!(head.truncated_before(), Some(2 * HOUR));
    assert_eq!(
        served(&ing, 2 * HOUR, 4 * HOUR - 1).await,
        every(minutes(2 * HOUR, 4 * HOUR))
    );
    // Backing off: no attempt right away, then another failure after the wait.
    assert_eq!(shipper.ship_once().await.failed, 0);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(shipper.ship_once().await.failed, 1);
    assert_eq!(uploads(&ing, ResultLabel::FAILED), 2);

    // The server comes back (empty: moto keeps nothing), the bucket is recreated.
    s3.restart();
    s3.bucket("blocks");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let r = shipper.ship_once().await;
    assert_eq!((r.uploaded, r.failed, r.pending, r.truncated), (1, 0, 0, 1));
    assert_eq!(ing.metrics().blocks_pending.get(), 0);

    let blocks = bucket_samples(&bucket).await;
    assert_eq!(blocks.len(), 1);
    assert_eq!(
        (blocks[0].0.min_time, blocks[0].0.max_time),
        (2 * HOUR, 4 * HOUR)
    );
    assert_eq!(
        blocks[0].1,
        every(minutes(2 * HOUR, 4 * HOUR)),
        "every sample of the outage"
    );
    assert_eq!(head.truncated_before(), Some(4 * HOUR));
    assert_eq!(
        served(&ing, i64::MIN, i64::MAX).await,
        every(minutes(4 * HOUR, 5 * HOUR + 1))
    );
}

#[tokio::test]
async fn flush_for_a_graceful_leave_ships_every_acknowledged_sample_and_refuses_new_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = Bucket::from_config(
        &BucketConfig::filesystem(tmp.path().join("bucket")),
        tmp.path(),
    )
    .unwrap();
    let (ing, shipper) = open(&tmp.path().join("ing"), &bucket).await;
    // A complete range, and half of the next one (never cut by a normal pass).
    push(&ing, 0, 3 * HOUR - MIN).await;
    assert_eq!(
        shipper.ship_once().await.uploaded,
        0,
        "grace not passed yet"
    );

    ing.refuse_writes().await;
    let refused = ing
        .push(
            tenant(),
            vec![(labels("a"), vec![Sample::new(3 * HOUR, 1.0)])],
        )
        .await;
    assert!(matches!(refused, Err(IngestError::Leaving)), "{refused:?}");
    assert_eq!(
        refused.unwrap_err().to_status().code(),
        tonic::Code::Unavailable,
        "a receiver must retry elsewhere, not drop the data"
    );

    let report = shipper.flush(Duration::from_secs(10)).await.unwrap();
    assert_eq!((report.cut, report.uploaded), (2, 2), "{report:?}");
    let blocks = bucket_samples(&bucket).await;
    let mut all: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (_, per_series) in blocks {
        for (k, v) in per_series {
            all.entry(k).or_default().extend(v);
        }
    }
    assert_eq!(all, every(minutes(0, 3 * HOUR)));
    // Nothing left to do on a second flush.
    let again = shipper.flush(Duration::from_secs(1)).await.unwrap();
    assert_eq!((again.cut, again.uploaded), (0, 0));
}
