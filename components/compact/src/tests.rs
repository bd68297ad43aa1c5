//! Executor tests on in-memory, filesystem and S3 buckets.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn_block::{
    list_blocks, upload_block, write_block, write_mark, AggrType, BlockMark, BlockSeries,
    BlockWriterOptions, ChunkData, Compaction, NewBlock, DELETION_MARK_FILE, RESOLUTION_5M,
    RESOLUTION_RAW,
};
use cairn_model::{Labels, Sample};
use cairn_objstore::Bucket;

use crate::merge::{decode_raw, encode_raw};
use crate::metrics::HaltLabels;
use crate::*;

const H: i64 = 3_600_000;

/// Samples of each series, by labels.
type Data = BTreeMap<Labels, Vec<Sample>>;

fn small() -> BlockWriterOptions {
    BlockWriterOptions {
        row_group_rows: 32,
        page_rows: 8,
        slice_ms: 2 * H,
        zstd_level: 1,
    }
}

fn cfg() -> CompactConfig {
    CompactConfig {
        consistency_delay: Duration::ZERO,
        partial_upload_delay: Duration::from_secs(3600),
        delete_delay: Duration::ZERO,
        downsample_5m_after: Duration::ZERO,
        downsample_1h_after: Duration::ZERO,
        ..CompactConfig::default()
    }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "requests_total".to_string()),
        ("instance", format!("host-{i:03}")),
        ("job", format!("job-{}", i % 3)),
    ])
}

/// `series` series scraped every `step` ms in `[min, max)`, `offset` ms late, values
/// `base + index`. Series `i` is missing when `skip(i)`.
fn data(series: usize, min: i64, max: i64, step: i64, offset: i64, base: f64) -> Data {
    (0..series)
        .map(|i| {
            let samples = (min..max)
                .step_by(step as usize)
                .enumerate()
                .map(|(k, t)| Sample::new(t + offset, base + (i * 1000 + k) as f64))
                .filter(|s| s.t < max)
                .collect();
            (labels(i), samples)
        })
        .collect()
}

async fn put_block(
    bucket: &Bucket,
    tenant: &str,
    (min, max): (i64, i64),
    d: &Data,
    ext: &[(&str, &str)],
) -> cairn_block::BlockMeta {
    let dir = tempfile::tempdir().unwrap();
    let names: BTreeSet<String> = d
        .keys()
        .flat_map(|l| l.iter().map(|l| l.name.clone()))
        .collect();
    let series: Vec<_> = d
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(l, s)| {
            Ok(BlockSeries {
                labels: l.clone(),
                chunks: encode_raw(s, &[], min, 2 * H),
            })
        })
        .collect();
    let meta = write_block(
        dir.path(),
        NewBlock {
            tenant: tenant.into(),
            min_time: min,
            max_time: max,
            resolution: RESOLUTION_RAW,
            compaction: Compaction {
                level: 1,
                sources: vec![],
                parents: vec![],
            },
            external_labels: ext
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            source: "ingester".into(),
        },
        &names,
        series,
        &small(),
    )
    .unwrap();
    upload_block(bucket, &dir.path().join(meta.ulid.to_string()), &meta)
        .await
        .unwrap();
    meta
}

fn compactor(
    bucket: &Bucket,
    cfg: CompactConfig,
) -> (Compactor, CompactMetrics, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let metrics = CompactMetrics::unregistered();
    let c = Compactor::new(
        bucket.clone(),
        cfg,
        &scratch.path().join("compact"),
        metrics.clone(),
    )
    .unwrap()
    .with_writer_options(small());
    (c, metrics, scratch)
}

/// Every sample visible in the tenant's live (unmarked) blocks, by series; fails on a
/// sample timestamp present twice (double-counted data).
async fn visible(bucket: &Bucket, tenant: &str) -> Data {
    let (blocks, _) = list_blocks(bucket, tenant).await.unwrap();
    let mut out: Data = BTreeMap::new();
    for b in blocks.iter().filter(|b| b.deletion_mark.is_none()) {
        let checked = read_and_check(bucket, &b.meta).await.unwrap();
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
        for s in checked.series {
            out.entry(s.labels)
                .or_default()
                .extend(decode_raw(&s.chunks).unwrap().floats);
        }
    }
    for (l, s) in out.iter_mut() {
        s.sort_by_key(|x| x.t);
        let n = s.len();
        s.dedup_by_key(|x| x.t);
        assert_eq!(n, s.len(), "{l}: a timestamp is visible twice");
    }
    out
}

fn merge_data(parts: &[&Data]) -> Data {
    let mut out: Data = BTreeMap::new();
    for d in parts {
        for (l, s) in d.iter() {
            out.entry(l.clone()).or_default().extend(s.iter().copied());
        }
    }
    for s in out.values_mut() {
        s.sort_by_key(|x| x.t);
    }
    out.retain(|_, s| !s.is_empty());
    out
}

async fn live(bucket: &Bucket, tenant: &str) -> Vec<cairn_block::BlockMeta> {
    let (blocks, _) = list_blocks(bucket, tenant).await.unwrap();
    blocks
        .into_iter()
        .filter(|b| b.deletion_mark.is_none())
        .map(|b| b.meta)
        .collect()
}

/// Five consecutive 2h blocks, some series only in some blocks.
async fn five_blocks(bucket: &Bucket) -> (Data, Vec<cairn_block::BlockMeta>) {
    let mut parts = Vec::new();
    let mut metas = Vec::new();
    for i in 0..5i64 {
        let mut d = data(20, i * 2 * H, (i + 1) * 2 * H, 15_000, 0, i as f64);
        d.retain(|l, _| !(l.get("instance") == Some("host-007") && i % 2 == 1));
        metas.push(
            put_block(
                bucket,
                "t1",
                (i * 2 * H, (i + 1) * 2 * H),
                &d,
                &[("replica", "a")],
            )
            .await,
        );
        parts.push(d);
    }
    let refs: Vec<&Data> = parts.iter().collect();
    (merge_data(&refs), metas)
}

#[tokio::test]
async fn compaction_preserves_every_sample_and_marks_then_deletes_inputs() {
    let bucket = Bucket::memory();
    let (want, inputs) = five_blocks(&bucket).await;
    let (c, m, _dir) = compactor(&bucket, cfg());
    let report = c.run_once().await;
    assert_eq!(report.failed, vec![]);
    let metas = live(&bucket, "t1").await;
    let ranges: Vec<(i64, i64, u32)> = metas
        .iter()
        .map(|m| (m.min_time / H, m.max_time / H, m.compaction.level))
        .collect();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert!(
        ranges.contains(&(0, 8, 2)) && ranges.contains(&(8, 10, 1)),
        "{ranges:?}"
    );
    let big = metas.iter().find(|m| m.compaction.level == 2).unwrap();
    let srcs: BTreeSet<_> = inputs[..4].iter().map(|m| m.ulid).collect();
    assert_eq!(
        big.compaction
            .sources
            .iter()
            .copied()
            .collect::<BTreeSet<_>>(),
        srcs
    );
    assert_eq!(big.compaction.parents.len(), 4);
    assert_eq!(big.source, "compactor");
    assert_eq!(visible(&bucket, "t1").await, want);
    // delete_delay 0: the inputs are gone, files and all.
    let (all, partial) = list_blocks(&bucket, "t1").await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(partial.is_empty());
    assert!(bucket.list(&inputs[0].dir()).await.unwrap().is_empty());
    assert_eq!(m.compactions.get(), 1);
    assert_eq!(m.blocks_deleted.get(), 4);
    assert!(m.bytes_written.get() > 0);
    // Chunks of the new block hold at most 120 samples.
    let checked = read_and_check(&bucket, big).await.unwrap();
    for s in &checked.series {
        for ch in &s.chunks {
            assert!(ch.data.num_samples() <= 120);
        }
    }
    // Nothing more to do: a second run changes nothing.
    c.run_once().await;
    assert_eq!(live(&bucket, "t1").await.len(), 2);
    let v = tools::verify(&bucket, &cfg(), None).await.unwrap();
    assert!(v.problems.is_empty() && v.warnings.is_empty(), "{v:?}");
}

#[tokio::test]
async fn deletion_waits_for_the_delay() {
    let bucket = Bucket::memory();
    five_blocks(&bucket).await;
    let now = Arc::new(AtomicI64::new(chrono_now()));
    let clock = now.clone();
    let (c, _m, _dir) = compactor(
        &bucket,
        CompactConfig {
            delete_delay: Duration::from_secs(48 * 3600),
            ..cfg()
        },
    );
    let c = c.with_clock(Arc::new(move || clock.load(Ordering::SeqCst)));
    c.run_once().await;
    let (all, _) = list_blocks(&bucket, "t1").await.unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all.iter().filter(|b| b.deletion_mark.is_some()).count(), 4);
    now.fetch_add(47 * H, Ordering::SeqCst);
    c.run_once().await;
    assert_eq!(list_blocks(&bucket, "t1").await.unwrap().0.len(), 6);
    now.fetch_add(2 * H, Ordering::SeqCst);
    c.run_once().await;
    assert_eq!(list_blocks(&bucket, "t1").await.unwrap().0.len(), 2);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn identical_replicas_are_deduplicated() {
    let bucket = Bucket::memory();
    let d = data(10, 0, 2 * H, 15_000, 0, 0.0);
    put_block(
        &bucket,
        "t1",
        (0, 2 * H),
        &d,
        &[("cluster", "eu"), ("replica", "a")],
    )
    .await;
    put_block(
        &bucket,
        "t1",
        (0, 2 * H),
        &d,
        &[("cluster", "eu"), ("replica", "b")],
    )
    .await;
    let (c, m, _dir) = compactor(&bucket, cfg());
    assert_eq!(c.run_once().await.failed, vec![]);
    let metas = live(&bucket, "t1").await;
    assert_eq!(metas.len(), 1);
    assert_eq!(
        metas[0].external_labels,
        BTreeMap::from([("cluster".to_string(), "eu".to_string())])
    );
    assert_eq!(metas[0].compaction.sources.len(), 2);
    assert_eq!(visible(&bucket, "t1").await, d);
    assert_eq!(m.vertical_compactions.get(), 1);
}

#[tokio::test]
async fn jittered_replicas_are_deduplicated_without_raising_the_sample_rate() {
    let bucket = Bucket::memory();
    let a = data(10, 0, 2 * H, 15_000, 0, 0.0);
    let b = data(10, 0, 2 * H, 15_000, 900, 0.5);
    put_block(&bucket, "t1", (0, 2 * H), &a, &[("replica", "a")]).await;
    put_block(&bucket, "t1", (0, 2 * H), &b, &[("replica", "b")]).await;
    let (c, _m, _dir) = compactor(&bucket, cfg());
    assert_eq!(c.run_once().await.failed, vec![]);
    assert_eq!(live(&bucket, "t1").await.len(), 1);
    // Replica a starts first and has no gaps, so it is followed throughout.
    assert_eq!(visible(&bucket, "t1").await, a);
}

#[tokio::test]
async fn a_replica_gap_is_filled_from_the_other_replica() {
    let bucket = Bucket::memory();
    let mut a = data(3, 0, 2 * H, 15_000, 0, 0.0);
    for s in a.values_mut() {
        s.retain(|x| !(H..H + 10 * 60_000).contains(&x.t));
    }
    let b = data(3, 0, 2 * H, 15_000, 900, 0.5);
    put_block(&bucket, "t1", (0, 2 * H), &a, &[("replica", "a")]).await;
    put_block(&bucket, "t1", (0, 2 * H), &b, &[("replica", "b")]).await;
    let (c, _m, _dir) = compactor(&bucket, cfg());
    assert_eq!(c.run_once().await.failed, vec![]);
    for (l, s) in visible(&bucket, "t1").await {
        // a until its gap, then b (which has none) to the end.
        assert!(
            s.iter().filter(|x| x.t < H).all(|x| x.t % 15_000 == 0),
            "{l}"
        );
        assert!(
            s.iter().filter(|x| x.t > H).all(|x| x.t % 15_000 == 900),
            "{l}"
        );
        assert!(s.windows(2).all(|w| w[1].t - w[0].t >= 14_000), "{l}");
        assert!(s.len() >= 475, "{l}: {}", s.len());
    }
}

#[tokio::test]
async fn old_raw_blocks_get_a_5m_copy_with_correct_aggregates() {
    let bucket = Bucket::memory();
    let d = data(5, 0, 2 * H, 15_000, 0, 0.0);
    let src = put_block(&bucket, "t1", (0, 2 * H), &d, &[("replica", "a")]).await;
    let (c, m, _dir) = compactor(
        &bucket,
        CompactConfig {
            downsample_5m_after: Duration::from_secs(40 * 3600),
            ..cfg()
        },
    );
    assert_eq!(c.run_once().await.failed, vec![]);
    let metas = live(&bucket, "t1").await;
    assert_eq!(metas.len(), 2);
    let ds = metas
        .iter()
        .find(|m| m.resolution == RESOLUTION_5M)
        .unwrap();
    assert_eq!(ds.compaction.sources, src.compaction.sources);
    assert_eq!((ds.min_time, ds.max_time), (src.min_time, src.max_time));
    let checked = read_and_check(&bucket, ds).await.unwrap();
    assert!(checked.problems.is_empty(), "{:?}", checked.problems);
    assert_eq!(checked.series.len(), 5);
    for s in &checked.series {
        let raw = &d[&s.labels];
        let get = |t: AggrType| -> Vec<Sample> {
            s.chunks
                .iter()
                .flat_map(|c| {
                    let ChunkData::Aggr(a) = &c.data else {
                        panic!()
                    };
                    cairn_chunk::decode(a.get(t).unwrap()).unwrap()
                })
                .collect()
        };
        let counts = get(AggrType::Count);
        assert_eq!(counts.len(), 24);
        assert!(counts.iter().all(|c| c.v == 20.0));
        let sums: f64 = get(AggrType::Sum).iter().map(|x| x.v).sum();
        assert_eq!(sums, raw.iter().map(|x| x.v).sum::<f64>());
        let mins = get(AggrType::Min);
        assert_eq!(mins[0].v, raw[0].v);
        assert_eq!(get(AggrType::Max).last().unwrap().v, raw.last().unwrap().v);
        let ctr = get(AggrType::Counter);
        assert_eq!(ctr[0], raw[0]);
        assert_eq!(ctr.last().unwrap().v, raw.last().unwrap().v);
    }
    assert_eq!(
        m.downsamplings
            .get_or_create(&metrics::ResolutionLabel {
                resolution: "5m".into()
            })
            .get(),
        1
    );
    // Downsampling happens once.
    c.run_once().await;
    assert_eq!(live(&bucket, "t1").await.len(), 2);
}

#[tokio::test]
async fn retention_marks_expired_blocks() {
    let bucket = Bucket::memory();
    let d = data(2, 0, 2 * H, 60_000, 0, 0.0);
    put_block(&bucket, "t1", (0, 2 * H), &d, &[]).await;
    let (c, m, _dir) = compactor(
        &bucket,
        CompactConfig {
            retention_raw: Duration::from_secs(24 * 3600),
            delete_delay: Duration::from_secs(3600),
            ..cfg()
        },
    );
    c.run_once().await;
    let (all, _) = list_blocks(&bucket, "t1").await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].deletion_mark.as_ref().unwrap().reason, "retention");
    assert_eq!(
        m.blocks_marked
            .get_or_create(&metrics::ReasonLabel {
                reason: "retention".into()
            })
            .get(),
        1
    );
}

#[tokio::test]
async fn leftovers_of_a_killed_compaction_are_recovered() {
    let bucket = Bucket::memory();
    let (want, inputs) = five_blocks(&bucket).await;
    // A compaction that uploaded its block and died before marking its inputs: build
    // the same block by hand.
    let (c, _m, _dir) = compactor(&bucket, cfg());
    let mut all = Vec::new();
    for m in &inputs[..4] {
        all.push(read_and_check(&bucket, m).await.unwrap().series);
    }
    let d = merge_data(&[&want]);
    let dir = tempfile::tempdir().unwrap();
    let names: BTreeSet<String> = ["__name__", "instance", "job"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let series: Vec<_> = d
        .iter()
        .map(|(l, s)| {
            let s: Vec<Sample> = s.iter().copied().filter(|x| x.t < 8 * H).collect();
            Ok(BlockSeries {
                labels: l.clone(),
                chunks: encode_raw(&s, &[], 0, 2 * H),
            })
        })
        .collect();
    let meta = write_block(
        dir.path(),
        NewBlock {
            tenant: "t1".into(),
            min_time: 0,
            max_time: 8 * H,
            resolution: RESOLUTION_RAW,
            compaction: Compaction {
                level: 2,
                sources: inputs[..4].iter().map(|m| m.ulid).collect(),
                parents: inputs[..4].iter().map(|m| m.ulid).collect(),
            },
            external_labels: BTreeMap::from([("replica".into(), "a".into())]),
            source: "compactor".into(),
        },
        &names,
        series,
        &small(),
    )
    .unwrap();
    upload_block(&bucket, &dir.path().join(meta.ulid.to_string()), &meta)
        .await
        .unwrap();
    // An upload that died before meta.json (old), and a deletion that died after it.
    let orphan = ulid::Ulid::from_parts(1, 1);
    bucket
        .put(
            &format!("t1/{orphan}/block.parquet"),
            bytes::Bytes::from_static(b"x"),
        )
        .await
        .unwrap();
    let half = ulid::Ulid::new();
    bucket
        .put(
            &format!("t1/{half}/block.parquet"),
            bytes::Bytes::from_static(b"x"),
        )
        .await
        .unwrap();
    write_mark(
        &bucket,
        "t1",
        &BlockMark {
            ulid: half,
            marked_at: 0,
            reason: "x".into(),
        },
        DELETION_MARK_FILE,
    )
    .await
    .unwrap();
    // A fresh upload in progress stays. The clock runs 2h ahead so the files written now
    // count as old.
    let fresh = ulid::Ulid::from_parts((chrono_now() + 2 * H - 60_000) as u64, 7);
    let c = c.with_clock(Arc::new(|| chrono_now() + 2 * H));
    bucket
        .put(
            &format!("t1/{fresh}/block.parquet"),
            bytes::Bytes::from_static(b"x"),
        )
        .await
        .unwrap();

    assert_eq!(c.run_once().await.failed, vec![]);
    let metas = live(&bucket, "t1").await;
    assert_eq!(metas.len(), 2, "{metas:?}");
    assert!(metas.iter().any(|m| m.ulid == meta.ulid));
    assert_eq!(visible(&bucket, "t1").await, want);
    let (_, partial) = list_blocks(&bucket, "t1").await.unwrap();
    assert_eq!(partial, vec![fresh]);
}

#[tokio::test]
async fn a_corrupt_block_halts_the_tenant_and_nothing_is_deleted() {
    let bucket = Bucket::memory();
    let (_, inputs) = five_blocks(&bucket).await;
    // Another tenant is unaffected.
    let d = data(3, 0, 2 * H, 60_000, 0, 0.0);
    for i in 0..5 {
        put_block(
            &bucket,
            "t2",
            (i * 2 * H, (i + 1) * 2 * H),
            &data(3, i * 2 * H, (i + 1) * 2 * H, 60_000, 0, 0.0),
            &[],
        )
        .await;
    }
    let _ = d;
    bucket
        .put(
            &inputs[2].path("block.parquet"),
            bytes::Bytes::from_static(b"garbage"),
        )
        .await
        .unwrap();
    // A block marked long ago would normally be deleted now.
    let marked = put_block(
        &bucket,
        "t1",
        (20 * H, 22 * H),
        &data(1, 20 * H, 22 * H, 60_000, 0, 0.0),
        &[("replica", "z")],
    )
    .await;
    write_mark(
        &bucket,
        "t1",
        &BlockMark {
            ulid: marked.ulid,
            marked_at: 0,
            reason: "x".into(),
        },
        DELETION_MARK_FILE,
    )
    .await
    .unwrap();
    let (c, m, _dir) = compactor(&bucket, cfg());
    let report = c.run_once().await;
    assert_eq!(report.ok, vec!["t2".to_string()]);
    assert_eq!(report.failed.len(), 1);
    let msg = &report.failed[0].1;
    assert!(
        msg.contains("corrupt") && msg.contains(&inputs[2].ulid.to_string()),
        "{msg}"
    );
    assert_eq!(
        m.halted
            .get_or_create(&HaltLabels {
                tenant: "t1".into(),
                reason: "corrupt".into()
            })
            .get(),
        1
    );
    let (all, _) = list_blocks(&bucket, "t1").await.unwrap();
    assert_eq!(all.len(), 6, "nothing deleted");
    assert!(all
        .iter()
        .filter(|b| b.meta.ulid != marked.ulid)
        .all(|b| b.deletion_mark.is_none()));
    // The operator excludes the block: the tenant runs again and the halt clears.
    write_mark(
        &bucket,
        "t1",
        &BlockMark {
            ulid: inputs[2].ulid,
            marked_at: 0,
            reason: "corrupt".into(),
        },
        cairn_block::NO_COMPACT_MARK_FILE,
    )
    .await
    .unwrap();
    let report = c.run_once().await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        m.halted
            .get_or_create(&HaltLabels {
                tenant: "t1".into(),
                reason: "corrupt".into()
            })
            .get(),
        0
    );
    let v = tools::verify(&bucket, &cfg(), Some("t1")).await.unwrap();
    assert!(
        v.problems.iter().any(|p| p.block == Some(inputs[2].ulid)),
        "{v:?}"
    );
}

#[tokio::test]
async fn overlaps_halt_when_vertical_compaction_is_off() {
    let bucket = Bucket::memory();
    let a = put_block(
        &bucket,
        "t1",
        (0, 2 * H),
        &data(2, 0, 2 * H, 60_000, 0, 0.0),
        &[],
    )
    .await;
    let b = put_block(
        &bucket,
        "t1",
        (H, 3 * H),
        &data(2, H, 3 * H, 60_000, 0, 0.0),
        &[],
    )
    .await;
    let (c, m, _dir) = compactor(
        &bucket,
        CompactConfig {
            vertical_compaction: false,
            ..cfg()
        },
    );
    let report = c.run_once().await;
    let msg = &report.failed[0].1;
    assert!(
        msg.contains("overlap")
            && msg.contains(&a.ulid.to_string())
            && msg.contains(&b.ulid.to_string()),
        "{msg}"
    );
    assert_eq!(m.halts.get(), 1);
    // With vertical compaction the same blocks merge into one.
    let (c, _m, _dir2) = compactor(&bucket, cfg());
    assert!(c.run_once().await.failed.is_empty());
    let metas = live(&bucket, "t1").await;
    assert_eq!(metas.len(), 1);
    assert_eq!((metas[0].min_time, metas[0].max_time), (0, 3 * H));
}

#[tokio::test]
async fn filesystem_bucket_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let bucket = Bucket::from_config(&cairn_objstore::BucketConfig::default(), dir.path()).unwrap();
    let (want, _) = five_blocks(&bucket).await;
    let (c, _m, _d) = compactor(&bucket, cfg());
    assert_eq!(c.run_once().await.failed, vec![]);
    assert_eq!(live(&bucket, "t1").await.len(), 2);
    assert_eq!(visible(&bucket, "t1").await, want);
    // No empty directories are mistaken for blocks.
    let (_, partial) = list_blocks(&bucket, "t1").await.unwrap();
    assert!(partial.is_empty());
}

#[tokio::test]
async fn s3_bucket_compaction_and_downsampling() {
    let server = cairn_objstore::testing::S3Server::start();
    let bucket = Bucket::from_config(
        &server.bucket("blocks"),
        std::path::Path::new("/nonexistent"),
    )
    .unwrap();
    let (want, _) = five_blocks(&bucket).await;
    let (c, _m, _d) = compactor(
        &bucket,
        CompactConfig {
            downsample_5m_after: Duration::from_secs(40 * 3600),
            ..cfg()
        },
    );
    assert_eq!(c.run_once().await.failed, vec![]);
    let metas = live(&bucket, "t1").await;
    let raw: Vec<_> = metas
        .iter()
        .filter(|m| m.resolution == RESOLUTION_RAW)
        .collect();
    assert_eq!(raw.len(), 2, "{metas:?}");
    assert!(metas.iter().any(|m| m.resolution == RESOLUTION_5M));
    let mut got: Data = BTreeMap::new();
    for m in raw {
        for s in read_and_check(&bucket, m).await.unwrap().series {
            got.entry(s.labels)
                .or_default()
                .extend(decode_raw(&s.chunks).unwrap().floats);
        }
    }
    for s in got.values_mut() {
        s.sort_by_key(|x| x.t);
    }
    assert_eq!(got, want);
    let v = tools::verify(&bucket, &cfg(), None).await.unwrap();
    assert!(v.problems.is_empty(), "{v:?}");
}
