use std::fs::{self, OpenOptions};
use std::path::Path;
use std::time::Duration;

use cairn_model::Labels;

use super::*;

fn opts(segment_size: u64) -> WalOptions {
    WalOptions {
        segment_size,
        fsync: FsyncPolicy::Never,
    }
}

fn series(r: u64, name: &str) -> WalRecord {
    WalRecord::Series(vec![RefSeries {
        series_ref: r,
        labels: Labels::from_pairs([("__name__", name), ("job", "test")]),
    }])
}

fn samples(r: u64, ts: std::ops::Range<i64>) -> WalRecord {
    WalRecord::Samples(
        ts.map(|t| RefSample {
            series_ref: r,
            t,
            v: t as f64 * 0.5,
        })
        .collect(),
    )
}

fn read_all(dir: &Path, o: WalOptions) -> (Wal, Vec<WalRecord>, WalReplayStats) {
    let mut recs = Vec::new();
    let (wal, stats) = Wal::open(dir, o, |r| recs.push(r)).unwrap();
    (wal, recs, stats)
}

fn segment_files(dir: &Path) -> Vec<(u64, u64)> {
    list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|s| (s, fs::metadata(segment_path(dir, s)).unwrap().len()))
        .collect()
}

/// Writes `n` records (a series record then samples records) into a fresh WAL.
fn write_records(dir: &Path, o: WalOptions, n: usize) -> Vec<WalRecord> {
    let (mut wal, recs, _) = read_all(dir, o);
    assert!(recs.is_empty());
    let mut written = vec![series(1, "a")];
    for i in 0..n - 1 {
        let start = i as i64 * 10;
        written.push(samples(1, start..start + 10));
    }
    for rec in &written {
        wal.log(std::slice::from_ref(rec)).unwrap();
    }
    written
}

#[test]
fn round_trip_through_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_records(tmp.path(), opts(DEFAULT_SEGMENT_SIZE), 20);
    let (_wal, recs, stats) = read_all(tmp.path(), opts(DEFAULT_SEGMENT_SIZE));
    assert_eq!(recs, written);
    assert_eq!(stats.records, 20);
    assert_eq!(stats.segments, 1);
    assert_eq!(stats.corruption, None);
}

#[test]
fn every_open_starts_a_fresh_segment_unless_the_last_is_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _, _) = read_all(tmp.path(), opts(1024));
    assert_eq!(wal.current_segment(), 0);
    drop(wal);
    let (mut wal, _, _) = read_all(tmp.path(), opts(1024));
    assert_eq!(wal.current_segment(), 0, "empty segment 0 is reused");
    wal.log(&[series(1, "a")]).unwrap();
    drop(wal);
    let (wal, recs, _) = read_all(tmp.path(), opts(1024));
    assert_eq!(wal.current_segment(), 1);
    assert_eq!(recs.len(), 1);
}

#[test]
fn rolls_over_to_new_segments_and_replays_them_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_records(tmp.path(), opts(500), 60);
    let files = segment_files(tmp.path());
    assert!(files.len() > 5, "{files:?}");
    for (i, (seg, len)) in files.iter().enumerate() {
        assert_eq!(
            *seg, i as u64,
            "segments are numbered from zero without gaps"
        );
        assert!(*len <= 500, "segment {seg} is {len} bytes");
    }
    assert!(
        tmp.path().join("00000003").exists(),
        "names are zero-padded"
    );
    let (_wal, recs, stats) = read_all(tmp.path(), opts(500));
    assert_eq!(recs, written);
    assert_eq!(stats.segments, files.len());
}

#[test]
fn one_log_call_may_span_a_rollover_and_oversized_records_get_their_own_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = read_all(tmp.path(), opts(300));
    let batch = vec![
        series(1, "a"),
        samples(1, 0..10),
        samples(1, 10..20),
        samples(1, 20..200),
    ];
    wal.log(&batch).unwrap();
    wal.log(&[samples(1, 200..201)]).unwrap();
    drop(wal);
    let files = segment_files(tmp.path());
    assert!(files.iter().any(|(_, len)| *len > 300), "{files:?}");
    let (_wal, recs, _) = read_all(tmp.path(), opts(300));
    assert_eq!(recs.len(), 5);
    assert_eq!(&recs[..4], &batch[..]);
}

#[test]
fn torn_tail_is_truncated_and_appending_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_records(tmp.path(), opts(DEFAULT_SEGMENT_SIZE), 10);
    let path = segment_path(tmp.path(), 0);
    let full = fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(full - 3)
        .unwrap();

    let (mut wal, recs, stats) = read_all(tmp.path(), opts(DEFAULT_SEGMENT_SIZE));
    assert_eq!(recs, written[..9]);
    let c = stats.corruption.clone().expect("corruption reported");
    assert_eq!(c.segment, 0);
    assert_eq!(c.reason, "record extends past end of segment");
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        c.offset,
        "tail cut off the file"
    );
    assert_eq!(wal.current_segment(), 1);

    wal.log(&[samples(1, 1000..1005)]).unwrap();
    drop(wal);
    let (_wal, recs, stats) = read_all(tmp.path(), opts(DEFAULT_SEGMENT_SIZE));
    assert_eq!(stats.corruption, None);
    assert_eq!(recs[..9], written[..9]);
    assert_eq!(recs[9], samples(1, 1000..1005));
}

#[test]
fn short_frame_header_at_the_tail_is_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_records(tmp.path(), opts(DEFAULT_SEGMENT_SIZE), 4);
    let path = segment_path(tmp.path(), 0);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&[1, 2, 3]).unwrap();
    drop(f);
    let (_wal, recs, stats) = read_all(tmp.path(), opts(DEFAULT_SEGMENT_SIZE));
    assert_eq!(recs, written);
    assert_eq!(stats.corruption.unwrap().reason, "short frame header");
}

#[test]
fn flipped_byte_in_last_record_is_a_checksum_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_records(tmp.path(), opts(DEFAULT_SEGMENT_SIZE), 10);
    let path = segment_path(tmp.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x40;
    fs::write(&path, &bytes).unwrap();

    let (mut wal, recs, stats) = read_all(tmp.path(), opts(DEFAULT_SEGMENT_SIZE));
    assert_eq!(recs, written[..9]);
    assert_eq!(stats.corruption.unwrap().reason, "checksum mismatch");
    wal.log(&[samples(1, 2000..2001)]).unwrap();
    drop(wal);
    let (_wal, recs, _) = read_all(tmp.path(), opts(DEFAULT_SEGMENT_SIZE));
    assert_eq!(recs.len(), 10);
    assert_eq!(recs[9], samples(1, 2000..2001));
}

#[test]
fn flipped_length_byte_is_caught_by_the_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_records(tmp.path(), opts(DEFAULT_SEGMENT_SIZE), 3);
    let path = segment_path(tmp.path(), 0);
    let mut bytes = fs::read(&path).unwrap();
    // The first frame's length: shrink it by one so it still fits in the file.
    bytes[0] -= 1;
    fs::write(&path, &bytes).unwrap();
    let (_wal, recs, stats) = read_all(tmp.path(), opts(DEFAULT_SEGMENT_SIZE));
    assert!(recs.is_empty());
    let c = stats.corruption.unwrap();
    assert_eq!((c.offset, c.reason.as_str()), (0, "checksum mismatch"));
    drop(written);
}

#[test]
fn zero_filled_tail_is_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_records(tmp.path(), opts(DEFAULT_SEGMENT_SIZE), 5);
    let path = segment_path(tmp.path(), 0);
    let len = fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len + 4096)
        .unwrap();
    let (_wal, recs, stats) = read_all(tmp.path(), opts(DEFAULT_SEGMENT_SIZE));
    assert_eq!(recs, written);
    let c = stats.corruption.unwrap();
    assert_eq!((c.offset, c.reason.as_str()), (len, "zero-length record"));
    assert_eq!(fs::metadata(&path).unwrap().len(), len);
}

#[test]
fn corruption_in_a_middle_segment_keeps_the_prefix_and_drops_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_records(tmp.path(), opts(400), 60);
    let files = segment_files(tmp.path());
    assert!(files.len() >= 5, "{files:?}");

    // Count the records in segments 0 and 1 by replaying a copy without segment 2..
    let mut per_segment = Vec::new();
    for (seg, _) in &files {
        let mut stats = WalReplayStats::default();
        let mut n = 0;
        replay_segment(&segment_path(tmp.path(), *seg), &mut stats, &mut |_| n += 1).unwrap();
        per_segment.push(n);
    }
    // Damage the second record of segment 2.
    let path = segment_path(tmp.path(), 2);
    let mut bytes = fs::read(&path).unwrap();
    let first_len = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    let second = FRAME_HEADER_LEN + first_len;
    bytes[second + FRAME_HEADER_LEN + 1] ^= 0xff;
    fs::write(&path, &bytes).unwrap();

    let (mut wal, recs, stats) = read_all(tmp.path(), opts(400));
    let keep = per_segment[0] + per_segment[1] + 1;
    assert_eq!(recs, written[..keep]);
    let c = stats.corruption.unwrap();
    assert_eq!((c.segment, c.offset), (2, second as u64));
    assert_eq!(stats.segments_deleted, files.len() - 3);
    assert_eq!(
        wal.current_segment(),
        3,
        "appending continues in a fresh segment"
    );
    assert_eq!(fs::metadata(&path).unwrap().len(), second as u64);

    wal.log(&[samples(1, 5000..5003)]).unwrap();
    drop(wal);
    let (_wal, recs, stats) = read_all(tmp.path(), opts(400));
    assert_eq!(stats.corruption, None);
    assert_eq!(recs.len(), keep + 1);
    assert_eq!(recs[..keep], written[..keep]);
    assert_eq!(recs[keep], samples(1, 5000..5003));
}

#[test]
fn a_gap_in_segment_numbers_drops_what_follows_it() {
    let tmp = tempfile::tempdir().unwrap();
    write_records(tmp.path(), opts(400), 40);
    let files = segment_files(tmp.path());
    assert!(files.len() >= 4);
    fs::remove_file(segment_path(tmp.path(), 1)).unwrap();
    let (wal, _, stats) = read_all(tmp.path(), opts(400));
    assert_eq!(stats.segments, 1);
    assert_eq!(stats.segments_deleted, files.len() - 2);
    assert_eq!(wal.current_segment(), 1);
    assert_eq!(list_segments(tmp.path()).unwrap(), vec![0, 1]);
}

#[test]
fn unrelated_files_are_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_records(tmp.path(), opts(DEFAULT_SEGMENT_SIZE), 3);
    fs::write(tmp.path().join("checkpoint.tmp"), b"junk").unwrap();
    fs::write(tmp.path().join("0001.bak"), b"junk").unwrap();
    let (_wal, recs, stats) = read_all(tmp.path(), opts(DEFAULT_SEGMENT_SIZE));
    assert_eq!(recs, written);
    assert_eq!(stats.corruption, None);
}

#[test]
fn truncate_before_deletes_old_segments_but_never_the_current_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = read_all(tmp.path(), opts(200));
    for i in 0..30 {
        wal.log(&[samples(1, i * 10..i * 10 + 5)]).unwrap();
    }
    let current = wal.current_segment();
    assert!(current > 3);
    assert_eq!(wal.truncate_before(3).unwrap(), 3);
    assert_eq!(list_segments(tmp.path()).unwrap()[0], 3);
    wal.truncate_before(u64::MAX).unwrap();
    assert_eq!(list_segments(tmp.path()).unwrap(), vec![current]);
    wal.log(&[samples(1, 1000..1001)]).unwrap();
    drop(wal);
    // A log that starts above zero replays fine.
    let (_wal, recs, stats) = read_all(tmp.path(), opts(200));
    assert_eq!(stats.corruption, None);
    assert_eq!(recs.last(), Some(&samples(1, 1000..1001)));
}

#[test]
fn fsync_policies_all_write_through_to_the_file() {
    for fsync in [
        FsyncPolicy::Always,
        FsyncPolicy::Interval(Duration::ZERO),
        FsyncPolicy::Interval(Duration::from_secs(3600)),
        FsyncPolicy::Never,
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let o = WalOptions {
            segment_size: 1 << 20,
            fsync,
        };
        let (mut wal, _, _) = read_all(tmp.path(), o);
        wal.log(&[series(1, "a"), samples(1, 0..3)]).unwrap();
        // Without closing or syncing, the bytes are already visible to a reader.
        let (_other, recs, _) = read_all(tmp.path(), o);
        assert_eq!(recs.len(), 2, "{fsync:?}");
        wal.sync().unwrap();
    }
}

#[test]
fn io_errors_name_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    fs::write(&file, b"x").unwrap();
    let err = Wal::open(&file, WalOptions::default(), |_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("cannot create wal directory"), "{msg}");
    assert!(msg.contains("not-a-dir"), "{msg}");
}

fn checkpoint_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("checkpoint."))
        .collect();
    v.sort();
    v
}

#[test]
fn checkpoint_keeps_wanted_series_and_recent_samples_then_deletes_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = read_all(tmp.path(), opts(200));
    wal.log(&[series(1, "keep"), series(2, "drop")]).unwrap();
    for i in 0..20 {
        wal.log(&[
            samples(1, i * 10..i * 10 + 10),
            samples(2, i * 10..i * 10 + 10),
        ])
        .unwrap();
    }
    let before = wal.cut_segment().unwrap();
    assert!(before > 3);
    assert_eq!(
        wal.cut_segment().unwrap(),
        before,
        "an empty segment is not cut"
    );
    wal.log(&[series(3, "later"), samples(3, 0..5)]).unwrap();

    let keep = |l: &Labels| l.get("__name__") != Some("drop");
    let stats = checkpoint(tmp.path(), before, 150, keep).unwrap().unwrap();
    assert_eq!(stats.last_segment, before - 1);
    assert_eq!((stats.series_kept, stats.series_dropped), (1, 1));
    assert_eq!((stats.samples_kept, stats.samples_dropped), (100, 300));
    assert_eq!(stats.segments_deleted as u64, before);
    assert_eq!(list_segments(tmp.path()).unwrap(), vec![before]);
    assert_eq!(
        checkpoint_names(tmp.path()),
        vec![format!("checkpoint.{:08}", before - 1)]
    );
    drop(wal);

    let (_wal, recs, stats) = read_all(tmp.path(), opts(200));
    assert_eq!(stats.checkpoint, Some(before - 1));
    let mut expected = vec![series(1, "keep")];
    for i in 15..20 {
        expected.push(samples(1, i * 10..i * 10 + 10));
        expected.push(samples(2, i * 10..i * 10 + 10));
    }
    expected.push(series(3, "later"));
    expected.push(samples(3, 0..5));
    assert_eq!(recs, expected);
}

#[test]
fn numbering_continues_after_a_checkpoint_even_without_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = read_all(tmp.path(), opts(200));
    for i in 0..10 {
        wal.log(&[series(i + 1, "x"), samples(i + 1, 0..5)])
            .unwrap();
    }
    let before = wal.cut_segment().unwrap();
    checkpoint(tmp.path(), before, 0, |_| true)
        .unwrap()
        .unwrap();
    drop(wal);
    fs::remove_file(segment_path(tmp.path(), before)).unwrap();
    // Restarting at 0 would put new records in numbers the checkpoint claims to cover,
    // and the next open would skip them.
    let (mut wal, recs, _) = read_all(tmp.path(), opts(200));
    assert_eq!(recs.len(), 20);
    assert_eq!(wal.current_segment(), before);
    wal.log(&[samples(1, 5..6)]).unwrap();
    drop(wal);
    let (_wal, recs, _) = read_all(tmp.path(), opts(200));
    assert_eq!(recs.last(), Some(&samples(1, 5..6)));
    // Nothing new to fold in.
    assert_eq!(checkpoint(tmp.path(), 0, 0, |_| true).unwrap(), None);
}

#[test]
fn checkpoint_refuses_a_damaged_segment_and_deletes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut wal, _, _) = read_all(tmp.path(), opts(200));
    for i in 0..10 {
        wal.log(&[series(i + 1, "x"), samples(i + 1, 0..5)])
            .unwrap();
    }
    let before = wal.cut_segment().unwrap();
    let victim = segment_path(tmp.path(), 1);
    let mut bytes = fs::read(&victim).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&victim, bytes).unwrap();
    let err = checkpoint(tmp.path(), before, 0, |_| true).unwrap_err();
    assert!(matches!(err, Error::Checkpoint { .. }), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
    assert_eq!(list_segments(tmp.path()).unwrap().len() as u64, before + 1);
    assert!(checkpoint_names(tmp.path())[0].ends_with(".tmp"));
    // The leftover temporary directory is cleaned up by the next open.
    drop(wal);
    let (_wal, _, _) = read_all(tmp.path(), opts(200));
    assert!(checkpoint_names(tmp.path()).is_empty());
}
