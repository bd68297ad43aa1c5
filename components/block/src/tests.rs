use std::collections::{BTreeMap, BTreeSet};

use cairn_chunk::XorChunk;
use cairn_model::{Labels, MatchOp, Matcher};
use cairn_objstore::Bucket;

use crate::*;

const H: i64 = 3_600_000;

fn xor(points: impl IntoIterator<Item = (i64, f64)>) -> BlockChunk {
    let mut c = XorChunk::new();
    for (t, v) in points {
        c.append(t, v);
    }
    BlockChunk {
        min_time: c.first_time().unwrap(),
        max_time: c.last_time().unwrap(),
        data: ChunkData::Xor(c.into_bytes()),
    }
}

/// `n` series `metric{job, instance}` sorted by labels, one chunk each over [0, 2h).
fn series(n: usize) -> (BTreeSet<String>, Vec<BlockSeries>) {
    let mut out: Vec<BlockSeries> = (0..n)
        .map(|i| BlockSeries {
            labels: Labels::from_pairs([
                (
                    "__name__",
                    if i % 2 == 0 {
                        "up"
                    } else {
                        "http_requests_total"
                    }
                    .to_string(),
                ),
                ("instance", format!("host-{i:05}")),
                ("job", format!("job-{}", i % 7)),
            ]),
            chunks: vec![xor((0..120).map(|s| (s * 60_000, (s as usize * i) as f64)))],
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    let names = ["__name__", "instance", "job"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    (names, out)
}

fn new_block(min: i64, max: i64) -> NewBlock {
    NewBlock {
        tenant: "team-a".into(),
        min_time: min,
        max_time: max,
        resolution: RESOLUTION_RAW,
        compaction: Compaction {
            level: 1,
            sources: vec![],
            parents: vec![],
        },
        external_labels: BTreeMap::from([("replica".to_string(), "a".to_string())]),
        source: "test".into(),
    }
}

fn small_groups() -> BlockWriterOptions {
    BlockWriterOptions {
        row_group_rows: 256,
        page_rows: 64,
        ..BlockWriterOptions::default()
    }
}

async fn written(n: usize) -> (tempfile::TempDir, Bucket, BlockMeta) {
    let dir = tempfile::tempdir().unwrap();
    let (names, s) = series(n);
    let meta = write_block(
        dir.path(),
        new_block(0, 2 * H),
        &names,
        s.into_iter().map(Ok),
        &small_groups(),
    )
    .unwrap();
    let bucket = uploaded(dir.path(), &meta).await;
    (dir, bucket, meta)
}

/// An in-memory bucket holding the block written under `dir`.
async fn uploaded(dir: &std::path::Path, meta: &BlockMeta) -> Bucket {
    let bucket = Bucket::memory();
    upload_block(&bucket, &local_block_dir(dir, &meta.ulid), meta)
        .await
        .unwrap();
    bucket
}

#[tokio::test]
async fn write_upload_and_read_back_everything() {
    let (_dir, bucket, meta) = written(1000).await;
    assert_eq!(meta.stats.num_series, 1000);
    assert_eq!(meta.stats.num_chunks, 1000);
    assert_eq!(meta.stats.num_samples, 120_000);
    assert_eq!(meta.compaction.sources, vec![meta.ulid]);

    let (blocks, partial) = list_blocks(&bucket, "team-a").await.unwrap();
    assert!(partial.is_empty());
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].meta, meta);

    let r = BlockReader::open(
        bucket.clone(),
        meta.clone(),
        BlockCaches::new(CacheSizes::default()),
    )
    .await
    .unwrap();
    let all = r.series(&[], i64::MIN, i64::MAX, false).await.unwrap();
    let (_, expected) = series(1000);
    assert_eq!(all, expected);
}

#[tokio::test]
async fn matchers_select_the_right_rows_and_prune_row_groups() {
    let (_dir, bucket, meta) = written(2000).await;
    let caches = BlockCaches::new(CacheSizes::default());
    let r = BlockReader::open(bucket, meta, caches.clone())
        .await
        .unwrap();
    let (_, all) = series(2000);

    let cases = vec![
        vec![
            Matcher::equal("__name__", "up"),
            Matcher::equal("instance", "host-00042"),
        ],
        vec![Matcher::new(MatchOp::Regex, "job", "job-[12]").unwrap()],
        vec![
            Matcher::new(MatchOp::NotEqual, "job", "job-3").unwrap(),
            Matcher::equal("__name__", "http_requests_total"),
        ],
        vec![Matcher::new(MatchOp::NotRegex, "instance", "host-0.*").unwrap()],
        vec![Matcher::equal("missing", "")],
        vec![Matcher::equal("missing", "x")],
        vec![Matcher::equal("instance", "host-99999")],
    ];
    for ms in cases {
        let want: Vec<&BlockSeries> = all
            .iter()
            .filter(|s| {
                ms.iter()
                    .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
            })
            .collect();
        let got = r.series(&ms, 0, 2 * H, false).await.unwrap();
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "{ms:?}");
    }

    // A single-series lookup reads far less than the file: row groups are pruned.
    let before = caches
        .stats()
        .bytes_fetched
        .load(std::sync::atomic::Ordering::Relaxed);
    let got = r
        .series(&[Matcher::equal("instance", "host-01999")], 0, 2 * H, false)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let fetched = caches
        .stats()
        .bytes_fetched
        .load(std::sync::atomic::Ordering::Relaxed)
        - before;
    let size = r.meta().block_file_size().unwrap();
    assert!(fetched < size / 2, "fetched {fetched} of {size} bytes");
}

#[tokio::test]
async fn time_range_and_label_apis() {
    let (_dir, bucket, meta) = written(100).await;
    let r = BlockReader::open(bucket, meta, BlockCaches::new(CacheSizes::default()))
        .await
        .unwrap();
    assert!(r.series(&[], 3 * H, 4 * H, false).await.unwrap().is_empty());
    assert_eq!(
        r.label_names(&[]).await.unwrap(),
        vec!["__name__", "instance", "job"]
    );
    assert_eq!(
        r.label_values("__name__", &[]).await.unwrap(),
        vec!["http_requests_total", "up"]
    );
    assert_eq!(
        r.label_values("job", &[Matcher::equal("instance", "host-00003")])
            .await
            .unwrap(),
        vec!["job-3"]
    );
    assert!(r.label_values("nope", &[]).await.unwrap().is_empty());
    let only_labels = r
        .series(&[Matcher::equal("__name__", "up")], 0, H, true)
        .await
        .unwrap();
    assert_eq!(only_labels.len(), 50);
    assert!(only_labels.iter().all(|s| s.chunks.is_empty()));
}

#[tokio::test]
async fn chunks_crossing_slices_are_split_and_read_by_range() {
    let dir = tempfile::tempdir().unwrap();
    let names: BTreeSet<String> = ["__name__".to_string()].into();
    let s = BlockSeries {
        labels: Labels::from_pairs([("__name__", "m")]),
        chunks: vec![xor((0..8 * 60).map(|m| (m * 60_000, m as f64)))],
    };
    let opts = BlockWriterOptions {
        slice_ms: 2 * H,
        ..small_groups()
    };
    let meta = write_block(dir.path(), new_block(0, 8 * H), &names, [Ok(s)], &opts).unwrap();
    assert_eq!(meta.num_slices(), 4);
    assert_eq!(meta.stats.num_chunks, 4);
    assert_eq!(meta.stats.num_samples, 480);
    let bucket = uploaded(dir.path(), &meta).await;
    let r = BlockReader::open(bucket, meta, BlockCaches::new(CacheSizes::default()))
        .await
        .unwrap();
    let got = r.series(&[], 3 * H, 5 * H, false).await.unwrap();
    let times: Vec<(i64, i64)> = got[0]
        .chunks
        .iter()
        .map(|c| (c.min_time, c.max_time))
        .collect();
    assert_eq!(
        times,
        vec![(2 * H, 4 * H - 60_000), (4 * H, 6 * H - 60_000)]
    );
}

#[test]
fn writer_rejects_unsorted_or_out_of_range_input() {
    let dir = tempfile::tempdir().unwrap();
    let (names, mut s) = series(3);
    s.swap(0, 1);
    let err = write_block(
        dir.path(),
        new_block(0, 2 * H),
        &names,
        s.into_iter().map(Ok),
        &small_groups(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("not sorted"), "{err}");
    let (names, s) = series(3);
    let err = write_block(
        dir.path(),
        new_block(0, H),
        &names,
        s.into_iter().map(Ok),
        &small_groups(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("outside block range"), "{err}");
    // Failed writes leave no block directory under a final name.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        assert!(e.unwrap().file_name().to_string_lossy().ends_with(".tmp"));
    }
}

#[tokio::test]
async fn partial_uploads_and_marks_are_reported() {
    let (_dir, bucket, meta) = written(10).await;
    bucket
        .put(
            "team-a/01JAAAAAAAAAAAAAAAAAAAAAAA/block.parquet",
            bytes::Bytes::from_static(b"x"),
        )
        .await
        .unwrap();
    let mark = BlockMark {
        ulid: meta.ulid,
        marked_at: 1,
        reason: "test".into(),
    };
    write_mark(&bucket, "team-a", &mark, DELETION_MARK_FILE)
        .await
        .unwrap();
    let (blocks, partial) = list_blocks(&bucket, "team-a").await.unwrap();
    assert_eq!(partial.len(), 1);
    assert_eq!(blocks[0].deletion_mark.as_ref(), Some(&mark));
    assert!(blocks[0].no_compact_mark.is_none());
    assert_eq!(list_tenants(&bucket).await.unwrap(), vec!["team-a"]);
}

#[tokio::test]
async fn native_histogram_chunks_round_trip_and_are_split_at_slices() {
    use cairn_chunk::{decode_chunk, encode_samples, ChunkSample, DecodedChunk};
    use cairn_model::histogram::Span;
    use cairn_model::{FloatHistogram, HistogramSample};

    let hs: Vec<HistogramSample> = (0..100)
        .map(|i| {
            let n = f64::from(i);
            HistogramSample::new(
                i64::from(i) * 60_000,
                FloatHistogram {
                    count: 2.0 * n,
                    sum: n,
                    positive_spans: vec![Span {
                        offset: 1,
                        length: 2,
                    }],
                    positive_buckets: vec![n, n],
                    ..Default::default()
                },
            )
        })
        .collect();
    // One chunk over 100 minutes: it crosses the one-hour slice boundary.
    let mut encoded = encode_samples(hs.iter().cloned().map(ChunkSample::Histogram), 1000);
    assert_eq!(encoded.len(), 1);
    let chunk = BlockChunk::from_encoded(encoded.remove(0)).unwrap();
    let labels = Labels::from_pairs([("__name__", "latency_seconds")]);
    let dir = tempfile::tempdir().unwrap();
    let names = BTreeSet::from(["__name__".to_string()]);
    let opts = BlockWriterOptions {
        slice_ms: H,
        ..small_groups()
    };
    let meta = write_block(
        dir.path(),
        new_block(0, 2 * H),
        &names,
        [Ok(BlockSeries {
            labels: labels.clone(),
            chunks: vec![chunk],
        })]
        .into_iter(),
        &opts,
    )
    .unwrap();
    assert_eq!(meta.stats.num_samples, 100);
    let bucket = uploaded(dir.path(), &meta).await;
    let r = BlockReader::open(bucket, meta, BlockCaches::new(CacheSizes::default()))
        .await
        .unwrap();
    let got = r.series(&[], i64::MIN, i64::MAX, false).await.unwrap();
    assert_eq!(got.len(), 1);
    let mut back = Vec::new();
    for c in &got[0].chunks {
        let ChunkData::FloatHistogram(b) = &c.data else {
            panic!("histograms come back as histogram chunks: {c:?}");
        };
        assert_eq!(
            c.min_time / H,
            c.max_time / H,
            "split at the slice boundary"
        );
        let DecodedChunk::Histograms(h) =
            decode_chunk(cairn_chunk::Encoding::FloatHistogram, b).unwrap()
        else {
            unreachable!()
        };
        back.extend(h);
    }
    assert_eq!(got[0].chunks.len(), 2);
    let strip = |h: &[HistogramSample]| -> Vec<(i64, f64, f64)> {
        h.iter().map(|s| (s.t, s.h.count, s.h.sum)).collect()
    };
    assert_eq!(strip(&back), strip(&hs));
}
