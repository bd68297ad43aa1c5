//! Cutting blocks out of the head, truncation and WAL checkpoints, including crashes
//! between the steps.

use std::fs;
use std::path::Path;

use cairn_model::{Labels, Sample};

use super::*;
use crate::wal::FsyncPolicy;

const RANGE: i64 = 100;

fn ls(name: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("job", "j")])
}

fn opts() -> HeadOptions {
    HeadOptions {
        chunk_range_ms: RANGE,
        samples_per_chunk: 120,
        wal: WalOptions {
            segment_size: 128,
            fsync: FsyncPolicy::Never,
        },
    }
}

fn open(dir: &Path) -> Head {
    Head::open(dir, opts()).unwrap()
}

fn samples(ts: impl IntoIterator<Item = i64>) -> Vec<Sample> {
    ts.into_iter().map(|t| Sample::new(t, t as f64)).collect()
}

fn decode(series: &[SeriesChunks]) -> Vec<(String, Vec<i64>)> {
    series
        .iter()
        .map(|s| {
            let mut ts = Vec::new();
            for c in &s.chunks {
                let got = cairn_chunk::decode(&c.bytes).unwrap();
                assert_eq!(got.first().map(|s| s.t), Some(c.min_t));
                assert_eq!(got.last().map(|s| s.t), Some(c.max_t));
                for x in got {
                    assert_eq!(x.v, x.t as f64, "value of {} at {}", s.labels, x.t);
                    ts.push(x.t);
                }
            }
            (s.labels.get("__name__").unwrap_or("").to_owned(), ts)
        })
        .collect()
}

fn all(head: &Head) -> Vec<(String, Vec<i64>)> {
    decode(&head.select(&[], i64::MIN, i64::MAX))
}

fn range(from: i64, to: i64) -> Vec<i64> {
    (from..to).step_by(10).collect()
}

/// Appends one sample per series per step, each in its own append so the WAL gets
/// many records (and, with 128-byte segments, several segments).
fn fill(head: &Head, names: &[&str], from: i64, to: i64) {
    for t in (from..to).step_by(10) {
        let batch: Vec<_> = names.iter().map(|n| (ls(n), samples([t]))).collect();
        let r = head.append(&batch).unwrap();
        assert_eq!(r.rejected_count(), 0, "{r:?}");
    }
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn cut_block_returns_the_range_sorted_and_closes_it_to_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let head = open(tmp.path());
    fill(&head, &["b", "a"], 0, 350);
    fill(&head, &["only_early"], 0, 50);

    let cut = head.cut_block(100, 200);
    assert_eq!(
        decode(&cut),
        vec![("a".into(), range(100, 200)), ("b".into(), range(100, 200))]
    );
    for s in &cut {
        assert!(s.chunks.iter().all(|c| c.min_t >= 100 && c.max_t < 200));
    }
    assert_eq!(head.min_valid_time(), 200);

    let r = head
        .append(&[(ls("a"), samples([199, 350])), (ls("new"), samples([150]))])
        .unwrap();
    assert_eq!(r.appended, 1);
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].reason, RejectReason::OutOfBounds);
    assert_eq!(r.rejected[0].count, 2);
    assert!(r.rejected[0].to_string().contains("out of bounds"));

    // Nothing is dropped until truncation: the cut range is still queryable.
    let got = all(&head);
    assert_eq!(got[0], ("a".into(), [range(0, 350), vec![350]].concat()));
    assert_eq!(got[2], ("only_early".into(), range(0, 50)));
    // An earlier range can still be cut (its data is there), but the bound never drops.
    assert_eq!(decode(&head.cut_block(0, 100)).len(), 3);
    assert_eq!(head.min_valid_time(), 200);
    head.set_min_valid_time(150);
    assert_eq!(head.min_valid_time(), 200);
}

#[test]
fn cut_block_reencodes_chunks_crossing_an_unaligned_range() {
    let tmp = tempfile::tempdir().unwrap();
    let head = open(tmp.path());
    fill(&head, &["a"], 0, 300);
    let cut = head.cut_block(150, 250);
    assert_eq!(decode(&cut), vec![("a".into(), range(150, 250))]);
    assert_eq!(cut[0].chunks.len(), 2, "one piece per chunk range");
    assert!(head.cut_block(1000, 2000).is_empty());
}

#[test]
fn truncate_drops_old_data_checkpoints_the_wal_and_survives_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let head = open(tmp.path());
    // "live" is created in the very first segment: its series record must survive
    // the deletion of that segment through the checkpoint.
    fill(&head, &["live", "gone"], 0, 100);
    fill(&head, &["live"], 100, 300);
    let segments_before = dir_names(tmp.path());
    assert!(segments_before.len() > 3, "{segments_before:?}");

    head.cut_block(0, 200);
    let stats = head.truncate(200).unwrap();
    assert_eq!(stats.series_removed, 1);
    assert!(stats.chunks_removed >= 3);
    let cp = stats.checkpoint.clone().unwrap();
    assert!(cp.series_kept >= 1 && cp.series_dropped >= 1, "{cp:?}");
    assert!(cp.samples_dropped > 0 && cp.samples_kept == 10, "{cp:?}");
    assert!(cp.segments_deleted >= 3);
    assert_eq!(head.stats().num_series, 1);
    assert_eq!(head.stats().min_time, Some(200));
    assert_eq!(all(&head), vec![("live".into(), range(200, 300))]);
    assert!(head.label_values("__name__", &[], i64::MIN, i64::MAX) == vec!["live"]);
    let names = dir_names(tmp.path());
    let cp_name = format!("checkpoint.{:08}", cp.last_segment);
    assert!(names.contains(&cp_name), "{names:?}");
    assert!(names.contains(&"truncated_before".to_owned()));
    let first_segment: u64 = names.iter().find_map(|n| n.parse().ok()).unwrap();
    assert_eq!(first_segment, cp.last_segment + 1);

    let r = head.append(&[(ls("gone"), samples([150, 300]))]).unwrap();
    assert_eq!((r.appended, r.rejected_count()), (1, 1));
    fill(&head, &["live"], 300, 320);
    let expected = all(&head);
    drop(head);

    let head = open(tmp.path());
    assert_eq!(all(&head), expected);
    assert_eq!(head.replay_stats().wal.checkpoint, Some(cp.last_segment));
    assert_eq!(head.replay_stats().unknown_series_samples, 0);
    assert_eq!(head.truncated_before(), Some(200));
    assert_eq!(head.min_valid_time(), 200);
    let r = head.append(&[(ls("brand_new"), samples([199]))]).unwrap();
    assert_eq!(r.rejected[0].reason, RejectReason::OutOfBounds);

    // A second truncation folds the first checkpoint into the new one.
    fill(&head, &["live"], 320, 500);
    head.truncate(400).unwrap();
    let expected = all(&head);
    assert_eq!(expected[0].1[0], 400);
    drop(head);
    let checkpoints: Vec<String> = dir_names(tmp.path())
        .into_iter()
        .filter(|n| n.starts_with("checkpoint."))
        .collect();
    assert_eq!(checkpoints.len(), 1, "{checkpoints:?}");
    assert_ne!(checkpoints[0], cp_name);
    assert_eq!(all(&open(tmp.path())), expected);
}

#[test]
fn truncating_a_closed_head_fails_and_an_empty_wal_truncates_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let head = open(tmp.path());
    let stats = head.truncate(100).unwrap();
    assert_eq!(stats.checkpoint, None, "nothing logged, nothing to fold in");
    head.close().unwrap();
    assert!(matches!(head.truncate(200), Err(Error::Closed { .. })));
}

/// Copies every plain file (segments) of `dir` into `to`.
fn save_segments(dir: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_file() && name.bytes().all(|b| b.is_ascii_digit()) {
            fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

fn restore_segments(from: &Path, dir: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
}

/// Builds a head with "live" and "gone" data, saves its segments, truncates at 200
/// and returns what the head holds afterwards.
fn truncated_head(dir: &Path, saved: &Path) -> Vec<(String, Vec<i64>)> {
    let head = open(dir);
    fill(&head, &["live", "gone"], 0, 100);
    fill(&head, &["live"], 100, 300);
    save_segments(dir, saved);
    head.truncate(200).unwrap();
    let expected = all(&head);
    assert_eq!(expected, vec![("live".into(), range(200, 300))]);
    expected
}

#[test]
fn crash_before_old_segments_were_deleted_replays_checkpoint_then_newer_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, saved) = (tmp.path().join("wal"), tmp.path().join("saved"));
    let expected = truncated_head(&dir, &saved);
    // As if the process died right after renaming the checkpoint into place.
    restore_segments(&saved, &dir);
    let head = open(&dir);
    assert_eq!(
        all(&head),
        expected,
        "no old sample comes back, none doubles"
    );
    assert_eq!(head.replay_stats().skipped_samples, 0);
    let cp = head.replay_stats().wal.checkpoint.unwrap();
    let leftovers: Vec<u64> = dir_names(&dir)
        .iter()
        .filter_map(|n| n.parse().ok())
        .filter(|&s| s <= cp)
        .collect();
    assert!(leftovers.is_empty(), "covered segments are deleted on open");
    head.append(&[(ls("live"), samples([300]))]).unwrap();
}

#[test]
fn crash_while_writing_the_checkpoint_replays_old_segments_without_truncated_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, saved) = (tmp.path().join("wal"), tmp.path().join("saved"));
    let expected = truncated_head(&dir, &saved);
    // As if the process died while the checkpoint was still a temporary directory:
    // all old segments are there, the checkpoint is half written, but the
    // truncation time was persisted first.
    let cp = dir_names(&dir)
        .into_iter()
        .find(|n| n.starts_with("checkpoint."))
        .unwrap();
    let tmp_cp = dir.join(format!("{cp}.tmp"));
    fs::rename(dir.join(&cp), &tmp_cp).unwrap();
    fs::write(tmp_cp.join("00000000"), b"half a frame").unwrap();
    restore_segments(&saved, &dir);

    let head = open(&dir);
    assert_eq!(all(&head), expected);
    assert!(head.replay_stats().truncated_samples > 0);
    assert_eq!(head.replay_stats().wal.checkpoint, None);
    assert!(!tmp_cp.exists(), "unfinished checkpoint is deleted");
    // The next truncation checkpoints everything again from the old segments.
    fill(&head, &["live"], 300, 320);
    let stats = head.truncate(300).unwrap();
    assert!(stats.checkpoint.unwrap().segments_deleted > 3);
    let expected = all(&head);
    drop(head);
    assert_eq!(all(&open(&dir)), expected);
}

#[test]
fn crash_before_anything_was_truncated_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, saved) = (tmp.path().join("wal"), tmp.path().join("saved"));
    truncated_head(&dir, &saved);
    // Died before even the truncation time was written: the WAL is as it was.
    for n in dir_names(&dir) {
        let p = dir.join(&n);
        if p.is_dir() {
            fs::remove_dir_all(p).unwrap();
        } else {
            fs::remove_file(p).unwrap();
        }
    }
    restore_segments(&saved, &dir);
    let head = open(&dir);
    assert_eq!(
        all(&head),
        vec![
            ("gone".into(), range(0, 100)),
            ("live".into(), range(0, 300))
        ]
    );
}
