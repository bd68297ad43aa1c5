use std::collections::BTreeMap;
use std::time::Duration;

use cairn_block::{BlockFile, BlockMark, BlockStats, Compaction, FORMAT_VERSION};

use super::*;

const H: i64 = 3_600_000;
const NOW: i64 = 1_000 * 24 * H;

fn cfg() -> CompactConfig {
    CompactConfig {
        consistency_delay: Duration::ZERO,
        downsample_5m_after: Duration::ZERO,
        downsample_1h_after: Duration::ZERO,
        ..CompactConfig::default()
    }
}

fn ulid_at(ms: i64) -> Ulid {
    Ulid::from_parts(ms as u64, rand_bits())
}

fn rand_bits() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    u128::from(N.fetch_add(1, Ordering::Relaxed))
}

fn block(min_h: i64, max_h: i64, replica: &str) -> BlockEntry {
    let ulid = ulid_at(NOW - 100 * H + max_h * H);
    BlockEntry {
        meta: BlockMeta {
            ulid,
            version: FORMAT_VERSION,
            tenant: "t".into(),
            min_time: min_h * H,
            max_time: max_h * H,
            stats: BlockStats::default(),
            compaction: Compaction {
                level: 1,
                sources: vec![ulid],
                parents: vec![],
            },
            resolution: RESOLUTION_RAW,
            external_labels: BTreeMap::from([
                ("cluster".to_string(), "eu".to_string()),
                ("replica".to_string(), replica.to_string()),
            ]),
            source: "ingester".into(),
            slice_ms: 8 * H,
            files: vec![BlockFile {
                name: "block.parquet".into(),
                size: 1,
            }],
        },
        deletion_mark: None,
        no_compact_mark: None,
    }
}

fn seq(ranges: &[(i64, i64)]) -> Vec<BlockEntry> {
    ranges.iter().map(|&(a, b)| block(a, b, "a")).collect()
}

fn compacted_ranges(p: &Plan) -> Vec<(i64, i64, bool)> {
    p.compactions
        .iter()
        .map(|c| {
            (
                c.inputs.first().unwrap().min_time / H,
                c.inputs.iter().map(|m| m.max_time).max().unwrap() / H,
                c.vertical,
            )
        })
        .collect()
}

#[test]
fn a_complete_8h_range_is_compacted() {
    let blocks = seq(&[(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]);
    let p = plan(&cfg(), &blocks, NOW).unwrap();
    assert_eq!(compacted_ranges(&p), vec![(0, 8, false)]);
    assert_eq!(p.compactions[0].inputs.len(), 4);
}

#[test]
fn an_incomplete_range_is_left_alone() {
    // Nothing newer than the range: more blocks may still arrive for [0, 8h).
    let blocks = seq(&[(0, 2), (2, 4), (4, 6)]);
    assert!(plan(&cfg(), &blocks, NOW).unwrap().is_empty());
    // The newest block is never compacted, even when it completes the range.
    let blocks = seq(&[(0, 2), (2, 4), (4, 6), (6, 8)]);
    assert!(plan(&cfg(), &blocks, NOW).unwrap().is_empty());
}

#[test]
fn a_range_with_a_gap_is_compacted_once_newer_blocks_exist() {
    let blocks = seq(&[(0, 2), (2, 4), (4, 6), (8, 10)]);
    assert!(plan(&cfg(), &blocks, NOW).unwrap().is_empty());
    let blocks = seq(&[(0, 2), (2, 4), (4, 6), (8, 10), (10, 12)]);
    let p = plan(&cfg(), &blocks, NOW).unwrap();
    assert_eq!(compacted_ranges(&p), vec![(0, 6, false)]);
}

#[test]
fn higher_levels_follow() {
    let mut ranges: Vec<(i64, i64)> = (0..6).map(|i| (i * 8, i * 8 + 8)).collect();
    ranges.push((48, 50));
    ranges.push((50, 52));
    let p = plan(&cfg(), &seq(&ranges), NOW).unwrap();
    assert_eq!(compacted_ranges(&p), vec![(0, 48, false)]);
    // Custom levels: 2h → 4h only.
    let c = CompactConfig {
        levels: vec![Duration::from_secs(7200), Duration::from_secs(14400)],
        ..cfg()
    };
    let p = plan(&c, &seq(&[(0, 2), (2, 4), (4, 6)]), NOW).unwrap();
    assert_eq!(compacted_ranges(&p), vec![(0, 4, false)]);
}

#[test]
fn replicas_of_one_range_are_merged_vertically() {
    let blocks = vec![block(0, 2, "a"), block(0, 2, "b"), block(2, 4, "a")];
    let p = plan(&cfg(), &blocks, NOW).unwrap();
    assert_eq!(compacted_ranges(&p), vec![(0, 2, true)]);
    let job = &p.compactions[0];
    assert_eq!(job.inputs.len(), 2);
    assert_eq!(
        job.group.labels,
        BTreeMap::from([("cluster".to_string(), "eu".to_string())])
    );
}

#[test]
fn without_vertical_compaction_replicas_are_separate_groups_and_overlaps_halt() {
    let c = CompactConfig {
        vertical_compaction: false,
        ..cfg()
    };
    let blocks = vec![block(0, 2, "a"), block(0, 2, "b")];
    assert!(plan(&c, &blocks, NOW).unwrap().is_empty());
    let blocks = vec![block(0, 2, "a"), block(1, 3, "a"), block(4, 6, "a")];
    let halt = plan(&c, &blocks, NOW).unwrap_err();
    assert_eq!(halt.reason, "overlap");
    for b in &blocks[..2] {
        assert!(
            halt.detail.contains(&b.meta.ulid.to_string()),
            "{}",
            halt.detail
        );
    }
    assert!(
        halt.detail.contains(&format!("[{}, {})", H, 3 * H)),
        "{}",
        halt.detail
    );
}

#[test]
fn overlapping_downsampled_blocks_halt() {
    let mut blocks = vec![block(0, 2, "a"), block(1, 3, "a")];
    for b in &mut blocks {
        b.meta.resolution = RESOLUTION_5M;
    }
    assert_eq!(plan(&cfg(), &blocks, NOW).unwrap_err().reason, "overlap");
}

#[test]
fn blocks_held_by_a_compacted_block_are_marked_not_reported_as_overlap() {
    let mut blocks = seq(&[(0, 2), (2, 4), (4, 6), (6, 8)]);
    let mut big = block(0, 8, "a");
    big.meta.compaction.level = 2;
    big.meta.compaction.sources = blocks.iter().map(|b| b.meta.ulid).collect();
    big.meta.source = COMPACTOR_SOURCE.into();
    blocks.push(big.clone());
    let c = CompactConfig {
        vertical_compaction: false,
        ..cfg()
    };
    let p = plan(&c, &blocks, NOW).unwrap();
    assert_eq!(p.covered.len(), 4);
    assert!(p.covered.iter().all(|c| c.by == big.meta.ulid));
    assert!(p.compactions.is_empty());
    // Once the old blocks are marked, nothing is left to do.
    for b in &mut blocks[..4] {
        b.deletion_mark = Some(BlockMark {
            ulid: b.meta.ulid,
            marked_at: 0,
            reason: "x".into(),
        });
    }
    assert!(plan(&c, &blocks, NOW).unwrap().is_empty());
}

#[test]
fn no_compact_marked_and_fresh_blocks_are_skipped() {
    let mut blocks = seq(&[(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]);
    blocks[1].no_compact_mark = Some(BlockMark {
        ulid: blocks[1].meta.ulid,
        marked_at: 0,
        reason: "operator".into(),
    });
    let p = plan(&cfg(), &blocks, NOW).unwrap();
    assert_eq!(p.compactions[0].inputs.len(), 3);
    assert!(p.compactions[0]
        .inputs
        .iter()
        .all(|m| m.ulid != blocks[1].meta.ulid));

    let c = CompactConfig {
        consistency_delay: Duration::from_secs(3600),
        ..cfg()
    };
    let mut fresh = seq(&[(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]);
    for b in &mut fresh {
        b.meta.ulid = ulid_at(NOW - 10);
    }
    assert!(plan(&c, &fresh, NOW).unwrap().is_empty());
}

#[test]
fn old_raw_blocks_are_downsampled_once() {
    let c = CompactConfig {
        downsample_5m_after: Duration::from_secs(40 * 3600),
        downsample_1h_after: Duration::from_secs(240 * 3600),
        ..cfg()
    };
    let now = 100 * H;
    let mut blocks = seq(&[(0, 48), (48, 70)]);
    for b in &mut blocks {
        b.meta.ulid = ulid_at(b.meta.max_time);
        b.meta.compaction.sources = vec![b.meta.ulid];
    }
    let p = plan(&c, &blocks, now).unwrap();
    assert_eq!(p.downsamples.len(), 1);
    assert_eq!(p.downsamples[0].block.ulid, blocks[0].meta.ulid);
    assert_eq!(p.downsamples[0].resolution, RESOLUTION_5M);

    // With a 5m block holding its sources, nothing more; that block is too young for 1h.
    let mut ds = block(0, 48, "a");
    ds.meta.resolution = RESOLUTION_5M;
    ds.meta.compaction.sources = blocks[0].meta.compaction.sources.clone();
    ds.meta.source = COMPACTOR_SOURCE.into();
    let mut with = blocks.clone();
    with.push(ds.clone());
    assert!(plan(&c, &with, now).unwrap().is_empty());
    let p = plan(&c, &with, 400 * H).unwrap();
    let jobs: Vec<(Ulid, i64)> = p
        .downsamples
        .iter()
        .map(|j| (j.block.ulid, j.resolution))
        .collect();
    assert!(jobs.contains(&(ds.meta.ulid, RESOLUTION_1H)), "{jobs:?}");
    assert!(
        jobs.contains(&(blocks[1].meta.ulid, RESOLUTION_5M)),
        "{jobs:?}"
    );
}

#[test]
fn retention_is_per_resolution() {
    let c = CompactConfig {
        retention_raw: Duration::from_secs(10 * 3600),
        ..cfg()
    };
    let mut blocks = vec![block(0, 2, "a"), block(20, 22, "a")];
    blocks[1].meta.resolution = RESOLUTION_5M;
    let mut b3 = block(30, 32, "a");
    b3.meta.resolution = RESOLUTION_RAW;
    blocks.push(b3);
    let p = plan(&c, &blocks, 35 * H).unwrap();
    assert_eq!(p.expired, vec![blocks[0].meta.ulid]);
}
