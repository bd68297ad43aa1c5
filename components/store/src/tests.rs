use std::collections::BTreeMap;

use cairn_block::{
    local_block_dir, upload_block, write_block, AggrChunk, AggrType, BlockChunk, BlockMeta,
    BlockSeries, BlockWriterOptions, ChunkData, Compaction, NewBlock, RESOLUTION_5M,
    RESOLUTION_RAW,
};
use cairn_chunk::XorChunk;
use cairn_model::{Labels, MatchOp, Matcher, TenantId};
use cairn_objstore::Bucket;
use cairn_storeapi::{Aggregate, SeriesQuery, StoreBackend};

use crate::{BlockStore, StoreConfig};

const H: i64 = 3_600_000;

fn xor(points: impl IntoIterator<Item = (i64, f64)>) -> Vec<u8> {
    let mut c = XorChunk::new();
    for (t, v) in points {
        c.append(t, v);
    }
    c.into_bytes()
}

fn labels(name: &str, instance: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("instance", instance)])
}

/// A raw series sampled every minute over `[from, to)`, value = minute index.
fn raw_series(l: Labels, from: i64, to: i64) -> BlockSeries {
    let points: Vec<(i64, f64)> = (from..to)
        .step_by(60_000)
        .map(|t| (t, (t / 60_000) as f64))
        .collect();
    BlockSeries {
        labels: l,
        chunks: vec![BlockChunk {
            min_time: points[0].0,
            max_time: points[points.len() - 1].0,
            data: ChunkData::Xor(xor(points)),
        }],
    }
}

struct Blocks {
    dir: tempfile::TempDir,
    bucket: Bucket,
}

impl Blocks {
    fn new(bucket: Bucket) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            bucket,
        }
    }

    async fn put(
        &self,
        tenant: &str,
        range: (i64, i64),
        resolution: i64,
        sources: Vec<ulid::Ulid>,
        mut series: Vec<BlockSeries>,
    ) -> BlockMeta {
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        let names = ["__name__", "instance"].map(String::from).into();
        let meta = write_block(
            self.dir.path(),
            NewBlock {
                tenant: tenant.into(),
                min_time: range.0,
                max_time: range.1,
                resolution,
                compaction: Compaction {
                    level: 1,
                    sources,
                    parents: vec![],
                },
                external_labels: BTreeMap::from([("cluster".into(), "eu".into())]),
                source: "test".into(),
            },
            &names,
            series.into_iter().map(Ok),
            &BlockWriterOptions::default(),
        )
        .unwrap();
        upload_block(
            &self.bucket,
            &local_block_dir(self.dir.path(), &meta.ulid),
            &meta,
        )
        .await
        .unwrap();
        meta
    }

    async fn delete(&self, meta: &BlockMeta) {
        for o in self.bucket.list(&meta.dir()).await.unwrap() {
            self.bucket.delete(&o.path).await.unwrap();
        }
    }
}

fn tenant(t: &str) -> TenantId {
    TenantId::new(t).unwrap()
}

fn everything() -> SeriesQuery {
    SeriesQuery::new(
        vec![Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()],
        i64::MIN,
        i64::MAX,
    )
}

fn store(bucket: &Bucket) -> BlockStore {
    BlockStore::new(bucket.clone(), &StoreConfig::default(), None)
}

#[tokio::test]
async fn sync_picks_up_new_blocks_and_drops_deleted_ones() {
    let blocks = Blocks::new(Bucket::memory());
    let s = store(&blocks.bucket);
    assert!(!*s.synced().borrow());
    assert_eq!(s.sync().await.unwrap().blocks, 0);
    assert!(*s.synced().borrow());
    assert!(s
        .series(&tenant("a"), &everything())
        .await
        .unwrap()
        .is_empty());

    let first = blocks
        .put(
            "a",
            (0, 2 * H),
            RESOLUTION_RAW,
            vec![],
            vec![raw_series(labels("up", "1"), 0, 2 * H)],
        )
        .await;
    let r = s.sync().await.unwrap();
    assert_eq!((r.blocks, r.added, r.removed), (1, 1, 0));
    assert_eq!(
        s.series(&tenant("a"), &everything()).await.unwrap().len(),
        1
    );
    let info = s.info();
    assert_eq!((info.min_time, info.max_time), (0, 2 * H - 1));
    assert_eq!(
        info.label_sets,
        vec![Labels::from_pairs([("cluster", "eu")])]
    );

    blocks
        .put(
            "a",
            (2 * H, 4 * H),
            RESOLUTION_RAW,
            vec![],
            vec![raw_series(labels("down", "1"), 2 * H, 4 * H)],
        )
        .await;
    // A block being uploaded (no meta.json yet) is not served.
    blocks
        .bucket
        .put(
            "a/01J00000000000000000000000/block.parquet",
            vec![1u8].into(),
        )
        .await
        .unwrap();
    let r = s.sync().await.unwrap();
    assert_eq!((r.blocks, r.added, r.removed), (2, 1, 0));

    blocks.delete(&first).await;
    let r = s.sync().await.unwrap();
    assert_eq!((r.blocks, r.added, r.removed), (1, 0, 1));
    let names: Vec<String> = s
        .series(&tenant("a"), &everything())
        .await
        .unwrap()
        .iter()
        .map(|s| s.labels.metric_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["down"]);
    assert_eq!(s.info().min_time, 2 * H);
}

#[tokio::test]
async fn series_are_merged_across_blocks_and_duplicate_chunks_dropped() {
    let blocks = Blocks::new(Bucket::memory());
    let up = labels("up", "1");
    blocks
        .put(
            "a",
            (0, 2 * H),
            RESOLUTION_RAW,
            vec![],
            vec![raw_series(up.clone(), 0, 2 * H)],
        )
        .await;
    blocks
        .put(
            "a",
            (2 * H, 4 * H),
            RESOLUTION_RAW,
            vec![],
            vec![
                raw_series(up.clone(), 2 * H, 4 * H),
                raw_series(labels("up", "2"), 2 * H, 4 * H),
            ],
        )
        .await;
    // The same data uploaded twice under another id (e.g. by two replicas).
    blocks
        .put(
            "a",
            (0, 2 * H),
            RESOLUTION_RAW,
            vec![],
            vec![raw_series(up.clone(), 0, 2 * H)],
        )
        .await;
    let s = store(&blocks.bucket);
    s.sync().await.unwrap();
    let series = s.series(&tenant("a"), &everything()).await.unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].labels, up);
    let ranges: Vec<(i64, i64)> = series[0]
        .chunks
        .iter()
        .map(|c| (c.min_time, c.max_time))
        .collect();
    assert_eq!(ranges, [(0, 2 * H - 60_000), (2 * H, 4 * H - 60_000)]);

    // Time range and matchers narrow the selection.
    let q = SeriesQuery::new(vec![Matcher::equal("instance", "1")], 3 * H, 5 * H);
    let series = s.series(&tenant("a"), &q).await.unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].chunks.len(), 1);

    let names = s.label_names(&tenant("a"), &everything()).await.unwrap();
    assert_eq!(names, ["__name__", "instance"]);
    let values = s
        .label_values(&tenant("a"), "instance", &SeriesQuery::new(vec![], 0, H))
        .await
        .unwrap();
    assert_eq!(values, ["1"]);
}

#[tokio::test]
async fn tenants_only_see_their_own_blocks() {
    let blocks = Blocks::new(Bucket::memory());
    blocks
        .put(
            "a",
            (0, 2 * H),
            RESOLUTION_RAW,
            vec![],
            vec![raw_series(labels("a_metric", "1"), 0, 2 * H)],
        )
        .await;
    blocks
        .put(
            "b",
            (0, 2 * H),
            RESOLUTION_RAW,
            vec![],
            vec![raw_series(labels("b_metric", "1"), 0, 2 * H)],
        )
        .await;
    let s = store(&blocks.bucket);
    s.sync().await.unwrap();
    for (t, want) in [("a", "a_metric"), ("b", "b_metric")] {
        let got = s.series(&tenant(t), &everything()).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels.metric_name(), Some(want));
        let values = s
            .label_values(&tenant(t), "__name__", &everything())
            .await
            .unwrap();
        assert_eq!(values, [want]);
    }
    assert!(s
        .series(&tenant("c"), &everything())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_compacted_block_hides_its_sources_until_they_are_deleted() {
    let blocks = Blocks::new(Bucket::memory());
    let up = labels("up", "1");
    let a = blocks
        .put(
            "a",
            (0, 2 * H),
            RESOLUTION_RAW,
            vec![],
            vec![raw_series(up.clone(), 0, 2 * H)],
        )
        .await;
    let b = blocks
        .put(
            "a",
            (2 * H, 4 * H),
            RESOLUTION_RAW,
            vec![],
            vec![raw_series(up.clone(), 2 * H, 4 * H)],
        )
        .await;
    // The compactor's output: one chunk spanning both, with a different encoding
    // boundary than the sources, so only hiding the sources avoids reading both.
    blocks
        .put(
            "a",
            (0, 4 * H),
            RESOLUTION_RAW,
            vec![a.ulid, b.ulid],
            vec![raw_series(up.clone(), 0, 4 * H)],
        )
        .await;
    let s = store(&blocks.bucket);
    assert_eq!(s.sync().await.unwrap().blocks, 3);
    let series = s.series(&tenant("a"), &everything()).await.unwrap();
    assert_eq!(series[0].chunks.len(), 1, "sources must be hidden");
    assert_eq!(series[0].chunks[0].min_time, 0);
}

fn aggr_chunk(windows: &[(i64, [f64; 5])]) -> BlockChunk {
    let mut a = AggrChunk::default();
    for (i, t) in AggrType::ALL.iter().enumerate() {
        a.set(*t, xor(windows.iter().map(|(ts, v)| (*ts, v[i]))));
    }
    BlockChunk {
        min_time: windows[0].0,
        max_time: windows[windows.len() - 1].0,
        data: ChunkData::Aggr(a),
    }
}

/// One 5m-resolution series over `[from, to)`: one window per 5 minutes.
fn downsampled_series(l: Labels, from: i64, to: i64) -> BlockSeries {
    let windows: Vec<(i64, [f64; 5])> = (from..to)
        .step_by(300_000)
        .map(|t| (t + 240_000, [5.0, 10.0, 0.0, 4.0, (t / 60_000 + 4) as f64]))
        .collect();
    BlockSeries {
        labels: l,
        chunks: vec![aggr_chunk(&windows)],
    }
}

#[tokio::test]
async fn the_coarsest_allowed_resolution_answers_and_finer_blocks_fill_gaps() {
    let blocks = Blocks::new(Bucket::memory());
    let up = labels("up", "1");
    blocks
        .put(
            "a",
            (0, 4 * H),
            RESOLUTION_RAW,
            vec![],
            vec![
                raw_series(up.clone(), 0, 2 * H),
                raw_series(labels("up", "2"), 2 * H, 4 * H),
            ],
        )
        .await;
    blocks
        .put(
            "a",
            (0, 2 * H),
            RESOLUTION_5M,
            vec![],
            vec![downsampled_series(up.clone(), 0, 2 * H)],
        )
        .await;
    let s = store(&blocks.bucket);
    s.sync().await.unwrap();

    let raw_only = s.series(&tenant("a"), &everything()).await.unwrap();
    assert!(raw_only
        .iter()
        .flat_map(|s| &s.chunks)
        .all(|c| !c.is_downsampled()));
    assert_eq!(raw_only.len(), 2);

    let q = SeriesQuery {
        max_resolution_ms: RESOLUTION_5M,
        aggregates: vec![Aggregate::Count, Aggregate::Sum],
        ..everything()
    };
    let mixed = s.series(&tenant("a"), &q).await.unwrap();
    assert_eq!(mixed.len(), 2);
    // up{instance="1"} lives in [0, 2h): the 5m block answers, the raw one is not read.
    assert_eq!(mixed[0].labels, up);
    assert!(mixed[0].chunks.iter().all(|c| c.is_downsampled()));
    // up{instance="2"} lives in [2h, 4h): only the raw block covers it.
    assert!(mixed[1].chunks.iter().all(|c| !c.is_downsampled()));
}

#[tokio::test]
async fn caches_stay_within_their_configured_size_however_many_blocks() {
    let blocks = Blocks::new(Bucket::memory());
    let n = 60;
    for i in 0..n {
        let from = i * 2 * H;
        let series = (0..20)
            .map(|j| raw_series(labels("m", &format!("{j:03}")), from, from + 2 * H))
            .collect();
        blocks
            .put("a", (from, from + 2 * H), RESOLUTION_RAW, vec![], series)
            .await;
    }
    let config = StoreConfig {
        metadata_cache_bytes: 64 << 10,
        data_cache_bytes: 128 << 10,
        max_concurrent_block_reads: 4,
        ..StoreConfig::default()
    };
    let s = BlockStore::new(blocks.bucket.clone(), &config, None);
    assert_eq!(s.sync().await.unwrap().blocks, n as usize);
    // Opening blocks reads only meta.json: nothing is cached yet.
    let usage = s.caches().usage();
    assert_eq!((usage.metadata_bytes, usage.data_bytes), (0, 0));

    for _ in 0..2 {
        let all = s.series(&tenant("a"), &everything()).await.unwrap();
        assert_eq!(all.len(), 20);
        assert!(all.iter().all(|s| s.chunks.len() == n as usize));
        let usage = s.caches().usage();
        assert!(
            usage.metadata_bytes > 0 && usage.metadata_bytes <= config.metadata_cache_bytes,
            "{usage:?}"
        );
        assert!(
            usage.data_bytes > 0 && usage.data_bytes <= config.data_cache_bytes,
            "{usage:?}"
        );
    }
    // Every footer together is larger than the metadata cache, so reading all blocks
    // twice must have missed again: the cache evicts instead of growing.
    let misses = s
        .caches()
        .stats()
        .metadata_misses
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        misses > n as u64,
        "{misses} metadata misses for {n} blocks read twice"
    );
}

#[tokio::test]
async fn a_failing_block_read_is_an_error_naming_the_block() {
    let blocks = Blocks::new(Bucket::memory());
    let meta = blocks
        .put(
            "a",
            (0, 2 * H),
            RESOLUTION_RAW,
            vec![],
            vec![raw_series(labels("up", "1"), 0, 2 * H)],
        )
        .await;
    let s = store(&blocks.bucket);
    s.sync().await.unwrap();
    blocks
        .bucket
        .delete(&meta.path(cairn_block::BLOCK_FILE))
        .await
        .unwrap();
    let err = s.series(&tenant("a"), &everything()).await.unwrap_err();
    assert!(err.to_string().contains(&meta.ulid.to_string()), "{err}");
}
