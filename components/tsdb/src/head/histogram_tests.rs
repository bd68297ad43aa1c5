//! Native histograms in the head: appends, chunk kinds, duplicates, WAL replay, cutting
//! and truncation with checkpoints.

use std::path::Path;

use cairn_chunk::{decode_chunk, ChunkSample, Encoding};
use cairn_model::histogram::{CounterResetHint, Span};
use cairn_model::{FloatHistogram, HistogramSample, Labels, Sample};

use super::*;
use crate::wal::FsyncPolicy;

const RANGE: i64 = 1_000;

fn opts() -> HeadOptions {
    HeadOptions {
        chunk_range_ms: RANGE,
        samples_per_chunk: 120,
        wal: WalOptions {
            segment_size: 512,
            fsync: FsyncPolicy::Never,
        },
    }
}

fn open(dir: &Path) -> Head {
    Head::open(dir, opts()).unwrap()
}

fn labels(name: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("job", "j")])
}

/// A counter histogram growing with `i`, with one more bucket from `i >= wide_from`.
fn hist(t: i64, i: u32, wide_from: u32) -> HistogramSample {
    let n = f64::from(i);
    let wide = i >= wide_from;
    HistogramSample::new(
        t,
        FloatHistogram {
            schema: 1,
            zero_threshold: 0.001,
            zero_count: n,
            count: if wide { 4.0 * n } else { 3.0 * n },
            sum: 2.5 * n,
            positive_spans: vec![Span {
                offset: 0,
                length: if wide { 3 } else { 2 },
            }],
            positive_buckets: if wide { vec![n, n, n] } else { vec![n, n] },
            ..Default::default()
        },
    )
}

fn append(head: &Head, name: &str, floats: &[Sample], hs: &[HistogramSample]) -> AppendReport {
    let l = labels(name);
    let pairs: Vec<(&str, &str)> = l
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    head.append(&[(pairs.as_slice(), floats, hs)]).unwrap()
}

/// Every sample of the series named `name`, decoded, with the encodings of its chunks.
fn contents(head: &Head, name: &str) -> (Vec<ChunkSample>, Vec<Encoding>) {
    let mut samples = Vec::new();
    let mut encodings = Vec::new();
    for s in head.select(&[], i64::MIN, i64::MAX) {
        if s.labels.get("__name__") != Some(name) {
            continue;
        }
        for c in s.chunks {
            let got = decode_chunk(c.encoding, &c.bytes).unwrap().into_samples();
            assert_eq!(got.first().map(ChunkSample::t), Some(c.min_t));
            assert_eq!(got.last().map(ChunkSample::t), Some(c.max_t));
            encodings.push(c.encoding);
            samples.extend(got);
        }
    }
    (samples, encodings)
}

/// The histograms without their counter-reset hints (which decoding sets per chunk).
fn values(samples: &[ChunkSample]) -> Vec<(i64, Option<FloatHistogram>)> {
    samples
        .iter()
        .map(|s| match s {
            ChunkSample::Float(f) => (f.t, None),
            ChunkSample::Histogram(h) => {
                let mut h2 = (*h.h).clone();
                h2.counter_reset_hint = CounterResetHint::Unknown;
                (h.t, Some(h2))
            }
        })
        .collect()
}

fn expected(hs: &[HistogramSample]) -> Vec<(i64, Option<FloatHistogram>)> {
    values(
        &hs.iter()
            .cloned()
            .map(ChunkSample::Histogram)
            .collect::<Vec<_>>(),
    )
}

#[test]
fn histograms_are_stored_in_float_histogram_chunks_cut_on_layout_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let head = open(tmp.path());
    let hs: Vec<HistogramSample> = (1..=20).map(|i| hist(i64::from(i) * 10, i, 12)).collect();
    let r = append(&head, "h", &[], &hs);
    assert_eq!((r.appended, r.rejected_count()), (20, 0));
    let (got, encodings) = contents(&head, "h");
    assert_eq!(values(&got), expected(&hs));
    // The bucket layout changes at the 12th histogram: a second chunk.
    assert_eq!(
        encodings,
        [Encoding::FloatHistogram, Encoding::FloatHistogram]
    );
    assert_eq!(head.stats().num_samples, 20);
}

#[test]
fn duplicates_out_of_order_and_kind_switches() {
    let tmp = tempfile::tempdir().unwrap();
    let head = open(tmp.path());
    let hs: Vec<HistogramSample> = (1..=3).map(|i| hist(i64::from(i) * 10, i, 99)).collect();
    append(&head, "h", &[], &hs);
    // The same histograms again: acknowledged, nothing stored twice.
    let r = append(&head, "h", &[], &hs[2..]);
    assert_eq!((r.appended, r.rejected_count()), (1, 0));
    // A different histogram at the newest timestamp, an older one, a float at the
    // newest timestamp: refused.
    let r = append(&head, "h", &[], &[hist(30, 7, 99), hist(15, 1, 99)]);
    assert_eq!(r.rejected_count(), 2);
    let r = append(&head, "h", &[Sample::new(30, 1.0)], &[]);
    assert_eq!(r.rejected_count(), 1);
    // A series may switch kinds: floats after histograms, and a histogram after floats
    // in the same append (floats first).
    let r = append(&head, "h", &[Sample::new(40, 1.0)], &[hist(50, 4, 99)]);
    assert_eq!((r.appended, r.rejected_count()), (2, 0));
    let (got, encodings) = contents(&head, "h");
    let times: Vec<i64> = got.iter().map(ChunkSample::t).collect();
    assert_eq!(times, [10, 20, 30, 40, 50]);
    assert_eq!(
        encodings,
        [
            Encoding::FloatHistogram,
            Encoding::Xor,
            Encoding::FloatHistogram
        ]
    );
}

#[test]
fn histograms_survive_reopen_and_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let hs: Vec<HistogramSample> = (1..=60).map(|i| hist(i64::from(i) * 50, i, 30)).collect();
    let floats: Vec<Sample> = (1..=60).map(|i| Sample::new(i * 50, i as f64)).collect();
    {
        let head = open(tmp.path());
        for chunk in hs.chunks(7) {
            append(&head, "h", &[], chunk);
        }
        append(&head, "f", &floats, &[]);
        head.close().unwrap();
    }
    let head = open(tmp.path());
    assert_eq!(values(&contents(&head, "h").0), expected(&hs));
    // Cut the first second into a block and truncate: the WAL is checkpointed and the
    // rest of the histograms still come back after another reopen.
    let cut = head.cut_block(0, RANGE);
    let cut_times: Vec<i64> = cut
        .iter()
        .filter(|s| s.labels.get("__name__") == Some("h"))
        .flat_map(|s| s.chunks.iter())
        .flat_map(|c| decode_chunk(c.encoding, &c.bytes).unwrap().into_samples())
        .map(|s| s.t())
        .collect();
    assert_eq!(cut_times, (1..20).map(|i| i * 50).collect::<Vec<_>>());
    head.truncate(RANGE).unwrap();
    head.close().unwrap();
    drop(head);
    let head = open(tmp.path());
    let rest: Vec<HistogramSample> = hs.iter().filter(|h| h.t >= RANGE).cloned().collect();
    assert_eq!(values(&contents(&head, "h").0), expected(&rest));
    assert_eq!(
        contents(&head, "f").0.len(),
        floats.iter().filter(|s| s.t >= RANGE).count()
    );
}
