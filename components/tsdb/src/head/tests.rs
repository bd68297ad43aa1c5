use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::Arc;

use cairn_model::{Labels, MatchOp, Matcher, Sample, STALE_NAN};
use proptest::prelude::*;

use super::*;
use crate::wal::FsyncPolicy;

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn opts() -> HeadOptions {
    HeadOptions {
        wal: WalOptions {
            segment_size: 1 << 20,
            fsync: FsyncPolicy::Never,
        },
        ..HeadOptions::default()
    }
}

fn open(dir: &Path) -> Head {
    Head::open(dir, opts()).unwrap()
}

fn samples(ts: impl IntoIterator<Item = i64>) -> Vec<Sample> {
    ts.into_iter()
        .map(|t| Sample::new(t, t as f64 / 10.0))
        .collect()
}

fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).unwrap()
}

/// Every sample of every selected series, decoded from the chunk bytes.
fn decoded(series: &[SeriesChunks]) -> Vec<(Labels, Vec<Sample>)> {
    series
        .iter()
        .map(|s| {
            let mut out = Vec::new();
            for c in &s.chunks {
                let got = cairn_chunk::decode(&c.bytes).unwrap();
                assert_eq!(got.first().map(|s| s.t), Some(c.min_t));
                assert_eq!(got.last().map(|s| s.t), Some(c.max_t));
                out.extend(got);
            }
            (s.labels.clone(), out)
        })
        .collect()
}

fn all(head: &Head) -> Vec<(Labels, Vec<Sample>)> {
    decoded(&head.select(&[], i64::MIN, i64::MAX))
}

fn names(series: &[SeriesChunks]) -> Vec<String> {
    series.iter().map(|s| s.labels.to_string()).collect()
}

#[test]
fn out_of_order_and_duplicate_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let head = open(tmp.path());
    let a = ls(&[("__name__", "up"), ("job", "a")]);
    let r = head.append(&[(a.clone(), samples([10, 20, 30]))]).unwrap();
    assert_eq!(
        r,
        AppendReport {
            appended: 3,
            rejected: vec![]
        }
    );

    let batch = vec![(
        a.clone(),
        vec![
            Sample::new(30, 3.0),  // same t, same value: accepted no-op
            Sample::new(30, 99.0), // same t, other value: duplicate
            Sample::new(5, 1.0),   // older: out of order
            Sample::new(40, 4.0),  // fine
            Sample::new(40, 4.0),  // repeated within the batch: no-op
            Sample::new(35, 1.0),  // older than 40 from this very batch
            Sample::new(50, STALE_NAN),
        ],
    )];
    let r = head.append(&batch).unwrap();
    assert_eq!(r.appended, 4);
    assert_eq!(r.rejected_count(), 3);
    assert_eq!(r.rejected.len(), 2);
    let dup = &r.rejected[0];
    assert_eq!(dup.reason, RejectReason::DuplicateTimestamp);
    assert_eq!((dup.count, dup.examples[0].t), (1, 30));
    let ooo = &r.rejected[1];
    assert_eq!(ooo.reason, RejectReason::OutOfOrder);
    assert_eq!(ooo.count, 2);
    assert_eq!(
        ooo.examples.iter().map(|e| e.t).collect::<Vec<_>>(),
        vec![5, 35]
    );
    assert_eq!(ooo.examples[0].labels, a);
    assert_eq!(
        ooo.to_string(),
        r#"2 samples rejected: out of order sample (up{job="a"} at t=5, up{job="a"} at t=35)"#
    );
    assert_eq!(dup.reason.to_string(), "duplicate sample for timestamp");

    let got = all(&head);
    let ts: Vec<i64> = got[0].1.iter().map(|s| s.t).collect();
    assert_eq!(ts, vec![10, 20, 30, 40, 50], "no-ops are not stored twice");
    assert_eq!(got[0].1[2].v, 3.0);
    assert!(
        cairn_model::is_stale_nan(got[0].1[4].v),
        "stale markers are normal samples"
    );
    assert_eq!(head.stats().num_samples, 5);
}

#[test]
fn rejection_examples_are_capped_and_valid_series_still_land() {
    let tmp = tempfile::tempdir().unwrap();
    let head = open(tmp.path());
    let a = ls(&[("__name__", "a")]);
    head.append(&[(a.clone(), samples([100]))]).unwrap();
    let b = ls(&[("__name__", "b")]);
    let r = head
        .append(&[
            (a.clone(), samples(0..10)),
            (Labels::empty(), samples([1])),
            (b.clone(), samples([1, 2])),
        ])
        .unwrap();
    assert_eq!(r.appended, 2);
    assert_eq!(r.rejected[0].count, 10);
    assert_eq!(r.rejected[0].examples.len(), MAX_REJECTION_EXAMPLES);
    assert!(r.rejected[0].to_string().ends_with(", ...)"));
    assert_eq!(r.rejected[1].reason, RejectReason::EmptyLabels);
    assert_eq!(names(&head.select(&[], 0, 1000)), vec!["a{}", "b{}"]);
}

#[test]
fn same_series_twice_in_one_batch_and_empty_sample_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let head = open(tmp.path());
    let a = ls(&[("__name__", "a")]);
    let r = head
        .append(&[
            (a.clone(), samples([1, 2])),
            (ls(&[("__name__", "empty")]), vec![]),
            (a.clone(), samples([2, 3])),
        ])
        .unwrap();
    assert_eq!(r.appended, 4);
    assert_eq!(
        head.stats().num_series,
        1,
        "no series for an empty sample list"
    );
    assert_eq!(all(&head)[0].1, samples([1, 2, 3]));
    drop(head);
    let head = open(tmp.path());
    assert_eq!(all(&head)[0].1, samples([1, 2, 3]));
    assert_eq!(head.replay_stats().series, 1);
}

fn matcher_fixture(dir: &Path) -> Head {
    let head = open(dir);
    let batch: Vec<(Labels, Vec<Sample>)> = [
        ls(&[("__name__", "up"), ("job", "api"), ("env", "prod")]),
        ls(&[("__name__", "up"), ("job", "api"), ("env", "dev")]),
        ls(&[("__name__", "up"), ("job", "web")]),
        ls(&[("__name__", "errors"), ("job", "web"), ("env", "prod")]),
        ls(&[("__name__", "errors"), ("job", "db")]),
    ]
    .into_iter()
    .map(|l| (l, samples([1000, 2000])))
    .collect();
    assert_eq!(head.append(&batch).unwrap().appended, 10);
    head
}

#[test]
fn matchers_all_four_operators_and_empty_matching() {
    let tmp = tempfile::tempdir().unwrap();
    let head = matcher_fixture(tmp.path());
    let sel = |ms: &[Matcher]| names(&head.select(ms, 0, 10_000));
    use MatchOp::*;

    assert_eq!(
        sel(&[m(Equal, "job", "api")]),
        vec![
            r#"up{env="dev", job="api"}"#,
            r#"up{env="prod", job="api"}"#
        ]
    );
    // Sorted by labels: `env` sorts before `job`, and a missing `env` sorts first.
    assert_eq!(
        sel(&[m(Equal, "__name__", "up")]),
        vec![
            r#"up{env="dev", job="api"}"#,
            r#"up{env="prod", job="api"}"#,
            r#"up{job="web"}"#
        ]
    );
    assert_eq!(
        sel(&[m(Equal, "__name__", "up"), m(NotEqual, "env", "prod")]),
        vec![r#"up{env="dev", job="api"}"#, r#"up{job="web"}"#],
        "!= also selects series without the label"
    );
    assert_eq!(
        sel(&[m(Regex, "job", "w.*|d.")]),
        vec![
            r#"errors{env="prod", job="web"}"#,
            r#"errors{job="db"}"#,
            r#"up{job="web"}"#
        ]
    );
    assert_eq!(
        sel(&[m(NotRegex, "env", "pro.*"), m(Equal, "__name__", "errors")]),
        vec![r#"errors{job="db"}"#]
    );
    // `env=""` selects exactly the series without `env`.
    assert_eq!(
        sel(&[m(Equal, "env", "")]),
        vec![r#"errors{job="db"}"#, r#"up{job="web"}"#]
    );
    // `env!=""` selects the series that have it.
    assert_eq!(sel(&[m(NotEqual, "env", "")]).len(), 3);
    // A regex that matches "" keeps series lacking the label.
    assert_eq!(
        sel(&[m(Regex, "env", "dev|"), m(Equal, "job", "api")]),
        vec![r#"up{env="dev", job="api"}"#]
    );
    assert_eq!(sel(&[m(Regex, "env", "dev|")]).len(), 3);
    assert_eq!(sel(&[m(Regex, "nope", ".*")]).len(), 5);
    assert_eq!(sel(&[m(NotEqual, "nope", "x")]).len(), 5);
    assert!(sel(&[m(Regex, "nope", ".+")]).is_empty());
    assert!(sel(&[m(Equal, "job", "api"), m(Equal, "job", "web")]).is_empty());
    assert!(sel(&[m(Equal, "job", "missing")]).is_empty());
    assert_eq!(sel(&[]).len(), 5, "no matchers selects everything");
}

#[test]
fn select_honours_the_time_range() {
    let tmp = tempfile::tempdir().unwrap();
    let head = open(tmp.path());
    let old = ls(&[("__name__", "old")]);
    let new = ls(&[("__name__", "new")]);
    head.append(&[
        (old.clone(), samples([0, 10])),
        (new.clone(), samples([100, 200])),
    ])
    .unwrap();
    assert_eq!(names(&head.select(&[], 0, 50)), vec!["old{}"]);
    assert_eq!(names(&head.select(&[], 10, 100)), vec!["new{}", "old{}"]);
    assert_eq!(
        names(&head.select(&[], 150, 150)),
        vec!["new{}"],
        "chunk spans the range"
    );
    assert!(head.select(&[], 11, 99).is_empty());
    assert!(head.select(&[], 100, 0).is_empty());
}

#[test]
fn label_names_and_values() {
    let tmp = tempfile::tempdir().unwrap();
    let head = matcher_fixture(tmp.path());
    head.append(&[(
        ls(&[("__name__", "late"), ("zone", "z1")]),
        samples([50_000]),
    )])
    .unwrap();
    use MatchOp::*;
    assert_eq!(
        head.label_names(&[], 0, 100_000),
        vec!["__name__", "env", "job", "zone"]
    );
    assert_eq!(
        head.label_names(&[], 0, 10_000),
        vec!["__name__", "env", "job"]
    );
    assert_eq!(
        head.label_names(&[m(Equal, "job", "db")], 0, 10_000),
        vec!["__name__", "job"]
    );
    assert_eq!(
        head.label_values("job", &[], 0, 100_000),
        vec!["api", "db", "web"]
    );
    assert_eq!(
        head.label_values("env", &[], 0, 100_000),
        vec!["dev", "prod"]
    );
    assert_eq!(
        head.label_values("__name__", &[], 0, 100_000),
        vec!["errors", "late", "up"]
    );
    assert_eq!(
        head.label_values("__name__", &[], 0, 10_000),
        vec!["errors", "up"]
    );
    assert_eq!(
        head.label_values("job", &[m(Equal, "__name__", "errors")], 0, 10_000),
        vec!["db", "web"]
    );
    assert_eq!(
        head.label_values("env", &[m(Regex, "job", "web|db")], 0, 10_000),
        vec!["prod"]
    );
    assert!(head.label_values("zone", &[], 0, 10_000).is_empty());
    assert!(head.label_values("missing", &[], 0, 100_000).is_empty());
    assert!(head
        .label_names(&[m(Equal, "job", "x")], 0, 100_000)
        .is_empty());
}

#[test]
fn chunks_are_cut_at_120_samples_and_decode_to_what_was_appended() {
    let tmp = tempfile::tempdir().unwrap();
    let head = open(tmp.path());
    let a = ls(&[("__name__", "a")]);
    // 300 samples 15s apart: 75 minutes, well inside one 2h range.
    let input: Vec<Sample> = (0..300)
        .map(|i| Sample::new(1_000_000 + i * 15_000, (i as f64).sin()))
        .collect();
    for chunk in input.chunks(7) {
        head.append(&[(a.clone(), chunk.to_vec())]).unwrap();
    }
    let sel = head.select(&[], i64::MIN, i64::MAX);
    let counts: Vec<usize> = sel[0]
        .chunks
        .iter()
        .map(|c| cairn_chunk::decode(&c.bytes).unwrap().len())
        .collect();
    assert_eq!(counts, vec![120, 120, 60]);
    assert_eq!(decoded(&sel)[0].1, input);

    // A range in the middle returns only the overlapping chunks.
    let mid = input[150].t;
    let part = head.select(&[], mid, mid);
    assert_eq!(part[0].chunks.len(), 1);
    assert_eq!(part[0].chunks[0].min_t, input[120].t);
}

#[test]
fn chunks_are_cut_at_chunk_range_boundaries() {
    let tmp = tempfile::tempdir().unwrap();
    let head = Head::open(
        tmp.path(),
        HeadOptions {
            chunk_range_ms: 1000,
            ..opts()
        },
    )
    .unwrap();
    let a = ls(&[("__name__", "a")]);
    head.append(&[(a.clone(), samples([500, 900, 999, 1000, 1500, 4200]))])
        .unwrap();
    let sel = head.select(&[], i64::MIN, i64::MAX);
    let spans: Vec<(i64, i64)> = sel[0].chunks.iter().map(|c| (c.min_t, c.max_t)).collect();
    assert_eq!(spans, vec![(500, 999), (1000, 1500), (4200, 4200)]);
}

#[test]
fn replay_after_reopen_gives_identical_results() {
    let tmp = tempfile::tempdir().unwrap();
    let head = matcher_fixture(tmp.path());
    let a = ls(&[("__name__", "long"), ("job", "api")]);
    for i in 0..50 {
        head.append(&[(a.clone(), samples(i * 10..i * 10 + 10))])
            .unwrap();
    }
    let before = head.select(&[], i64::MIN, i64::MAX);
    let stats = head.stats();
    let queries = |h: &Head| {
        (
            h.select(&[m(MatchOp::Equal, "job", "api")], 0, 3000),
            h.label_names(&[], 0, 3000),
            h.label_values("job", &[], 0, 3000),
        )
    };
    let q_before = queries(&head);
    drop(head);

    let head = open(tmp.path());
    assert_eq!(head.select(&[], i64::MIN, i64::MAX), before);
    assert_eq!(queries(&head), q_before);
    assert_eq!(head.stats(), stats);
    let r = head.replay_stats();
    assert_eq!((r.series, r.samples), (6, 510));
    assert_eq!((r.skipped_samples, r.unknown_series_samples), (0, 0));
    assert_eq!(r.wal.corruption, None);

    // Appending continues where the data left off, with new refs not colliding.
    let r = head
        .append(&[(
            a.clone(),
            vec![Sample::new(499, 1.0), Sample::new(500, 1.0)],
        )])
        .unwrap();
    assert_eq!(r.rejected[0].reason, RejectReason::DuplicateTimestamp);
    head.append(&[(ls(&[("__name__", "fresh")]), samples([1]))])
        .unwrap();
    drop(head);
    let head = open(tmp.path());
    assert_eq!(head.stats().num_series, 7);
    assert_eq!(
        all(&head)
            .iter()
            .find(|s| s.0 == a)
            .unwrap()
            .1
            .last()
            .unwrap()
            .t,
        500
    );
}

#[test]
fn torn_wal_tail_loses_only_the_torn_append() {
    let tmp = tempfile::tempdir().unwrap();
    let head = open(tmp.path());
    let a = ls(&[("__name__", "a")]);
    head.append(&[(a.clone(), samples([1, 2]))]).unwrap();
    head.append(&[(a.clone(), samples([3, 4]))]).unwrap();
    drop(head);
    let seg = tmp.path().join("00000000");
    let len = fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 2)
        .unwrap();

    let head = open(tmp.path());
    assert_eq!(all(&head)[0].1, samples([1, 2]));
    assert!(head.replay_stats().wal.corruption.is_some());
    head.append(&[(a.clone(), samples([3, 4]))]).unwrap();
    drop(head);
    assert_eq!(all(&open(tmp.path()))[0].1, samples([1, 2, 3, 4]));
}

#[test]
fn samples_whose_series_record_was_lost_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let o = HeadOptions {
        wal: WalOptions {
            segment_size: 200,
            fsync: FsyncPolicy::Never,
        },
        ..opts()
    };
    let head = Head::open(tmp.path(), o).unwrap();
    let a = ls(&[("__name__", "a"), ("pad", &"x".repeat(150))]);
    head.append(&[(a.clone(), samples([1]))]).unwrap();
    for t in 2..20 {
        head.append(&[(a.clone(), samples([t]))]).unwrap();
    }
    let segment = head.wal_segment().unwrap();
    assert!(segment > 0);
    head.append(&[(a.clone(), samples([100]))]).unwrap();
    drop(head);
    // Losing the first segment (no checkpoint) loses the series record in it.
    fs::remove_file(tmp.path().join("00000000")).unwrap();
    let head = Head::open(tmp.path(), o).unwrap();
    // The samples still in the log (at least the last one) have no series to go to.
    assert!(head.replay_stats().unknown_series_samples >= 1);
    assert_eq!(head.stats().num_series, 0);
    assert_eq!(head.stats().num_samples, 0);
}

#[test]
fn closed_head_refuses_appends_but_answers_queries() {
    let tmp = tempfile::tempdir().unwrap();
    let head = open(tmp.path());
    let a = ls(&[("__name__", "a")]);
    head.append(&[(a.clone(), samples([1]))]).unwrap();
    head.close().unwrap();
    head.close().unwrap();
    head.sync().unwrap();
    let err = head.append(&[(a.clone(), samples([2]))]).unwrap_err();
    assert!(matches!(err, Error::Closed { .. }));
    assert!(err.to_string().contains("is closed"), "{err}");
    assert_eq!(head.select(&[], 0, 10).len(), 1);
    assert_eq!(head.wal_segment(), None);
}

#[test]
fn concurrent_appends_and_queries() {
    let tmp = tempfile::tempdir().unwrap();
    let head = Arc::new(open(tmp.path()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let head = head.clone();
            std::thread::spawn(move || {
                let l = ls(&[("__name__", "x"), ("w", &w.to_string())]);
                for i in 0..200 {
                    let r = head.append(&[(l.clone(), samples([i]))]).unwrap();
                    assert_eq!(r.appended, 1);
                }
            })
        })
        .collect();
    let reader = {
        let head = head.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                for s in decoded(&head.select(&[m(MatchOp::Regex, "w", ".+")], 0, 1000)) {
                    let ts: Vec<i64> = s.1.iter().map(|s| s.t).collect();
                    assert_eq!(ts, (0..ts.len() as i64).collect::<Vec<_>>());
                }
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    reader.join().unwrap();
    assert_eq!(head.stats().num_samples, 800);
    assert_eq!(head.stats().num_series, 4);
    assert_eq!(
        (head.stats().min_time, head.stats().max_time),
        (Some(0), Some(199))
    );
}

/// The expected content of a head after appending `batches`, by the documented rules.
fn model(batches: &[Vec<(Labels, Vec<Sample>)>]) -> Vec<(Labels, Vec<u64>, Vec<i64>)> {
    let mut series: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
    for batch in batches {
        for (l, ss) in batch {
            for s in ss {
                let stored = series.entry(l.clone()).or_default();
                if stored.last().is_none_or(|last| s.t > last.t) {
                    stored.push(*s);
                }
            }
        }
    }
    series
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(l, s)| {
            (
                l,
                s.iter().map(|s| s.v.to_bits()).collect(),
                s.iter().map(|s| s.t).collect(),
            )
        })
        .collect()
}

fn as_bits(got: Vec<(Labels, Vec<Sample>)>) -> Vec<(Labels, Vec<u64>, Vec<i64>)> {
    got.into_iter()
        .map(|(l, s)| {
            (
                l,
                s.iter().map(|s| s.v.to_bits()).collect(),
                s.iter().map(|s| s.t).collect(),
            )
        })
        .collect()
}

fn arb_batches() -> impl Strategy<Value = Vec<Vec<(Labels, Vec<Sample>)>>> {
    let labels = (0..4u8, 0..3u8)
        .prop_map(|(n, j)| ls(&[("__name__", &format!("m{n}")), ("job", &format!("j{j}"))]));
    let value = prop_oneof![any::<f64>(), Just(STALE_NAN), (0..3u8).prop_map(f64::from),];
    let sample = (-50i64..400, value).prop_map(|(t, v)| Sample::new(t * 1000, v));
    let series = (labels, prop::collection::vec(sample, 0..30));
    prop::collection::vec(prop::collection::vec(series, 1..5), 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_batches_survive_reopen_unchanged(batches in arb_batches(), seg in 150u64..2000) {
        let tmp = tempfile::tempdir().unwrap();
        let o = HeadOptions {
            chunk_range_ms: 60_000,
            samples_per_chunk: 7,
            wal: WalOptions { segment_size: seg, fsync: FsyncPolicy::Never },
        };
        let head = Head::open(tmp.path(), o).unwrap();
        for b in &batches {
            head.append(b).unwrap();
        }
        let expected = model(&batches);
        let before = head.select(&[], i64::MIN, i64::MAX);
        prop_assert_eq!(as_bits(decoded(&before)), expected);
        let stats = head.stats();
        drop(head);
        let head = Head::open(tmp.path(), o).unwrap();
        prop_assert_eq!(head.select(&[], i64::MIN, i64::MAX), before);
        prop_assert_eq!(head.stats(), stats);
        prop_assert_eq!(head.replay_stats().wal.corruption.clone(), None);
    }
}
