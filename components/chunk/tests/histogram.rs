//! The native-histogram chunks through the public API: round trips, when a sample
//! needs a new chunk and with which header, the hints decoded samples carry, and
//! garbage that must give errors, never panics.

use std::sync::Arc;

use cairn_chunk::{
    decode_float_histograms, decode_histograms, ChunkError, FloatHistogramChunk, HistogramIter,
};
use cairn_model::histogram::{CounterResetHint, Span, CUSTOM_BUCKETS_SCHEMA};
use cairn_model::{FloatHistogram, STALE_NAN, STALE_NAN_BITS};
use proptest::collection::vec;
use proptest::prelude::*;

use CounterResetHint::{CounterReset, Gauge, NotCounterReset, Unknown};

fn span(offset: i32, length: u32) -> Span {
    Span { offset, length }
}

/// Everything of a histogram, floats as bits.
type Key = (
    CounterResetHint,
    i32,
    Vec<u64>,
    Vec<Span>,
    Vec<Span>,
    Option<Vec<u64>>,
);

fn key(h: &FloatHistogram) -> Key {
    let mut floats = vec![
        h.zero_threshold.to_bits(),
        h.zero_count.to_bits(),
        h.count.to_bits(),
        h.sum.to_bits(),
    ];
    floats.extend(h.positive_buckets.iter().map(|b| b.to_bits()));
    floats.push(u64::MAX); // Separator: the sides must not run into each other.
    floats.extend(h.negative_buckets.iter().map(|b| b.to_bits()));
    (
        h.counter_reset_hint,
        h.schema,
        floats,
        h.positive_spans.clone(),
        h.negative_spans.clone(),
        h.custom_values
            .as_deref()
            .map(|c| c.iter().map(|b| b.to_bits()).collect()),
    )
}

/// What decoding should give for `samples` written into one counter chunk.
fn as_decoded(samples: &[(i64, FloatHistogram)], gauge: bool) -> Vec<(i64, Key)> {
    samples
        .iter()
        .enumerate()
        .map(|(i, (t, h))| {
            let h = if h.sum.to_bits() == STALE_NAN_BITS {
                FloatHistogram {
                    sum: h.sum,
                    ..FloatHistogram::default()
                }
            } else {
                let hint = match (gauge, i) {
                    (true, _) => Gauge,
                    (false, 0) => Unknown,
                    (false, _) => NotCounterReset,
                };
                FloatHistogram {
                    counter_reset_hint: hint,
                    ..h.clone()
                }
            };
            (*t, key(&h))
        })
        .collect()
}

fn keys(samples: &[(i64, FloatHistogram)]) -> Vec<(i64, Key)> {
    samples.iter().map(|(t, h)| (*t, key(h))).collect()
}

/// Appends all of `samples` (each must fit) and checks every way of reading back.
fn round_trip(samples: &[(i64, FloatHistogram)]) -> FloatHistogramChunk {
    let mut c = FloatHistogramChunk::new();
    for (t, h) in samples {
        assert!(c.append(*t, h), "sample at {t} fits");
    }
    assert_eq!(c.num_samples(), samples.len());
    let gauge = samples[0].1.counter_reset_hint == Gauge;
    let want = as_decoded(samples, gauge);
    assert_eq!(keys(&decode_float_histograms(c.bytes()).unwrap()), want);
    let iterated: Vec<(i64, FloatHistogram)> = c.iter().collect::<Result<_, _>>().unwrap();
    assert_eq!(keys(&iterated), want);
    assert_eq!((&c).into_iter().count(), samples.len());
    c
}

/// A counter histogram: schema 1, zero bucket, positive buckets at -1, 0 and 3,
/// negative buckets at 2 and 3, all growing with `n`.
fn counter(n: f64) -> FloatHistogram {
    FloatHistogram {
        schema: 1,
        zero_threshold: 2f64.powi(-128),
        zero_count: n,
        count: 9.0 * n,
        sum: 1.75 * n,
        positive_spans: vec![span(-1, 2), span(2, 1)],
        positive_buckets: vec![n, 2.0 * n, 3.0 * n],
        negative_spans: vec![span(2, 2)],
        negative_buckets: vec![1.5 * n, 0.5 * n],
        ..FloatHistogram::default()
    }
}

/// `counter(n)` at schema 0, its buckets merged: -1 and 0 into 0, 3 into 2 (positive),
/// 2 into 1 and 3 into 2 (negative). No reset after `counter(m)` for `m <= n`.
fn coarse(n: f64) -> FloatHistogram {
    FloatHistogram {
        schema: 0,
        positive_spans: vec![span(0, 1), span(1, 1)],
        positive_buckets: vec![3.0 * n, 3.0 * n],
        negative_spans: vec![span(1, 2)],
        negative_buckets: vec![1.5 * n, 0.5 * n],
        ..counter(n)
    }
}

fn with_hint(hint: CounterResetHint, h: FloatHistogram) -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: hint,
        ..h
    }
}

fn custom(n: f64) -> FloatHistogram {
    FloatHistogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: 6.0 * n,
        sum: 10.0 * n,
        positive_spans: vec![span(0, 2), span(1, 1)],
        positive_buckets: vec![n, 2.0 * n, 3.0 * n],
        custom_values: Some(Arc::from([0.005, 0.1, 1.0 / 3.0, 2.5, 1e9].as_slice())),
        ..FloatHistogram::default()
    }
}

fn stale() -> FloatHistogram {
    FloatHistogram {
        sum: STALE_NAN,
        ..FloatHistogram::default()
    }
}

// ------------------------------------------------------------------ round trips

#[test]
fn many_samples_of_one_layout() {
    let samples: Vec<(i64, FloatHistogram)> = (0..1000)
        .map(|i| {
            (
                1_700_000_000_000 + i * 15_000 + i % 7,
                counter(f64::from(i as i32)),
            )
        })
        .collect();
    let c = round_trip(&samples);
    assert_eq!(c.counter_reset_header(), Unknown);
}

#[test]
fn exponential_schemas_with_negative_buckets_and_zero_bucket() {
    for schema in -4..=8 {
        let samples: Vec<(i64, FloatHistogram)> = (0..20)
            .map(|i| {
                let h = FloatHistogram {
                    schema,
                    ..counter(f64::from(i) * 0.1)
                };
                (i64::from(i) * 1000, h)
            })
            .collect();
        round_trip(&samples);
    }
    // Any zero threshold: the one-byte powers of two and the nine-byte rest.
    for zero_threshold in [
        0.0,
        2f64.powi(-243),
        1024.0,
        2048.0,
        0.001,
        f64::MIN_POSITIVE,
    ] {
        let h = FloatHistogram {
            zero_threshold,
            ..counter(1.0)
        };
        round_trip(&[(0, h.clone()), (1, h)]);
    }
}

#[test]
fn gauge_histograms_go_up_and_down() {
    let samples: Vec<(i64, FloatHistogram)> = [3.0, 1.0, -2.0, 7.0, 0.0]
        .iter()
        .enumerate()
        .map(|(i, &n)| (i as i64, with_hint(Gauge, counter(n))))
        .collect();
    let c = round_trip(&samples);
    assert_eq!(c.counter_reset_header(), Gauge);
}

#[test]
fn custom_buckets_keep_their_bounds() {
    let samples: Vec<(i64, FloatHistogram)> =
        (1..50).map(|i| (i * 60_000, custom(i as f64))).collect();
    round_trip(&samples);
    let got = decode_float_histograms(round_trip(&samples).bytes()).unwrap();
    // The bounds are shared, not copied per sample.
    let first = got[0].1.custom_values.as_ref().unwrap();
    assert!(got
        .iter()
        .all(|(_, h)| Arc::ptr_eq(h.custom_values.as_ref().unwrap(), first)));
    assert_eq!(&first[..], [0.005, 0.1, 1.0 / 3.0, 2.5, 1e9]);
}

#[test]
fn empty_histograms() {
    let empty = |count: f64| FloatHistogram {
        count,
        ..FloatHistogram::default()
    };
    round_trip(&[(0, empty(0.0)), (10, empty(0.0)), (20, empty(3.0))]);
    round_trip(&[(
        5,
        FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            custom_values: Some(Arc::from([].as_slice())),
            ..FloatHistogram::default()
        },
    )]);
}

#[test]
fn nan_sums_and_stale_markers_keep_their_bits() {
    let nan = |bits: u64| FloatHistogram {
        sum: f64::from_bits(bits),
        ..counter(1.0)
    };
    let samples = vec![
        (0, nan(0x7FF8_0000_0000_0001)),
        (1, nan(0xFFF8_0000_0000_0000)),
        (2, counter(1.0)),
        (3, stale()),
        (4, stale()),
    ];
    let c = round_trip(&samples);
    let got = decode_float_histograms(c.bytes()).unwrap();
    assert_eq!(got[3].1.sum.to_bits(), STALE_NAN_BITS);
    assert_eq!(got[3].1.counter_reset_hint, Unknown);
    // After a stale marker only stale markers fit; the next sample starts a chunk
    // whose header cannot say anything about the series.
    let mut c = c;
    let before = c.bytes().to_vec();
    assert!(!c.append(5, &counter(1.0)));
    assert_eq!(c.bytes(), before);
    let next = c.append_or_cut(5, &counter(1.0)).unwrap();
    assert_eq!(next.counter_reset_header(), Unknown);
    // A chunk may start with a stale marker, and then holds only stale markers.
    round_trip(&[(0, stale()), (1, stale())]);
}

#[test]
fn huge_timestamp_deltas_wrap_like_go() {
    let ts = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
    let samples: Vec<(i64, FloatHistogram)> = ts.iter().map(|&t| (t, counter(1.0))).collect();
    round_trip(&samples);
    round_trip(&[(i64::MIN, counter(1.0)), (i64::MAX, counter(1.0))]);
}

// ------------------------------------------------------- what needs a new chunk

/// A non-empty chunk refuses `h` at `t`: `append` returns false and leaves the bytes
/// alone, and `append_or_cut` returns a one-sample chunk with `header`.
fn assert_cut(c: &FloatHistogramChunk, t: i64, h: &FloatHistogram, header: CounterResetHint) {
    let mut c = c.clone();
    let before = c.bytes().to_vec();
    assert!(!c.append(t, h), "append refuses");
    assert_eq!(c.bytes(), before, "append changed nothing");
    let next = c.append_or_cut(t, h).expect("a new chunk");
    assert_eq!(c.bytes(), before, "append_or_cut left the old chunk alone");
    assert_eq!(next.num_samples(), 1);
    assert_eq!(
        next.counter_reset_header(),
        header,
        "header of the new chunk"
    );
    assert_eq!(
        HistogramIter::float(next.bytes()).counter_reset_header(),
        Some(header)
    );
    // The new chunk decodes to the sample (hint: gauge or unknown, as Prometheus).
    let got = decode_float_histograms(next.bytes()).unwrap();
    let gauge = header == Gauge;
    assert_eq!(keys(&got), as_decoded(&[(t, h.clone())], gauge));
}

fn chunk_of(samples: &[(i64, FloatHistogram)]) -> FloatHistogramChunk {
    let mut c = FloatHistogramChunk::new();
    for (t, h) in samples {
        assert!(c.append(*t, h));
    }
    c
}

#[test]
fn layout_changes_need_a_new_chunk() {
    let c = chunk_of(&[(0, counter(1.0)), (10, counter(2.0))]);
    let grown = |f: fn(&mut FloatHistogram)| {
        let mut h = counter(3.0);
        f(&mut h);
        h
    };
    // A coarser schema merges buckets: no reset against the previous sample, unless
    // a merged bucket went down.
    assert_cut(&c, 20, &coarse(3.0), NotCounterReset);
    assert_cut(&c, 20, &grown(|h| h.schema = 0), CounterReset);
    // A finer schema is a reset (Prometheus's DetectReset).
    assert_cut(&c, 20, &grown(|h| h.schema = 2), CounterReset);
    // A wider zero bucket is no reset; a narrower one is.
    assert_cut(
        &c,
        20,
        &grown(|h| h.zero_threshold = 2f64.powi(-100)),
        NotCounterReset,
    );
    assert_cut(&c, 20, &grown(|h| h.zero_threshold = 0.0), CounterReset);
    // An added bucket (no recoding: a new chunk) is no reset.
    assert_cut(
        &c,
        20,
        &grown(|h| {
            h.positive_spans = vec![span(-1, 2), span(2, 2)];
            h.positive_buckets.push(0.5);
        }),
        NotCounterReset,
    );
    // A populated bucket gone is a reset.
    assert_cut(
        &c,
        20,
        &grown(|h| {
            h.negative_spans = vec![span(2, 1)];
            h.negative_buckets.pop();
        }),
        CounterReset,
    );
    // The same buckets described by other spans fit.
    let mut c2 = c.clone();
    let mut split = counter(3.0);
    split.positive_spans = vec![span(-1, 1), span(0, 1), span(0, 0), span(2, 1)];
    assert!(c2.append(20, &split));
    // Custom bounds: other bounds are another layout.
    let cc = chunk_of(&[(0, custom(1.0))]);
    let mut other = custom(2.0);
    other.custom_values = Some(Arc::from([0.005, 0.1, 1.0 / 3.0, 2.5, 1e10].as_slice()));
    assert_cut(&cc, 10, &other, NotCounterReset);
    // Exponential after custom buckets: a reset.
    assert_cut(&cc, 10, &counter(5.0), CounterReset);
}

#[test]
fn counter_resets_need_a_new_chunk() {
    let c = chunk_of(&[(0, counter(2.0)), (10, counter(3.0))]);
    let lower = |f: fn(&mut FloatHistogram)| {
        let mut h = counter(3.0);
        f(&mut h);
        h
    };
    assert_cut(&c, 20, &lower(|h| h.count = 1.0), CounterReset);
    assert_cut(&c, 20, &lower(|h| h.zero_count = 2.5), CounterReset);
    assert_cut(
        &c,
        20,
        &lower(|h| h.positive_buckets[2] = 8.0),
        CounterReset,
    );
    assert_cut(
        &c,
        20,
        &lower(|h| h.negative_buckets[0] = 0.0),
        CounterReset,
    );
    // The hint says so: whatever the counts.
    assert_cut(&c, 20, &with_hint(CounterReset, counter(4.0)), CounterReset);
    // A "not a counter reset" hint does not hide lower counts (Prometheus's appender
    // looks at the counts).
    assert_cut(
        &c,
        20,
        &with_hint(NotCounterReset, counter(1.0)),
        CounterReset,
    );
    // Equal counts and a NaN count are no reset.
    let mut c2 = c.clone();
    assert!(c2.append(20, &counter(3.0)));
    assert!(c2.append(
        30,
        &FloatHistogram {
            count: f64::NAN,
            ..counter(3.0)
        }
    ));
}

#[test]
fn gauge_and_counter_histograms_do_not_mix() {
    let counters = chunk_of(&[(0, counter(1.0))]);
    assert_cut(&counters, 10, &with_hint(Gauge, counter(2.0)), Gauge);
    let gauges = chunk_of(&[(0, with_hint(Gauge, counter(1.0)))]);
    assert_cut(&gauges, 10, &counter(2.0), Unknown);
    assert_cut(
        &gauges,
        10,
        &with_hint(NotCounterReset, counter(2.0)),
        Unknown,
    );
    // Stale markers carry no gauge hint: they do not go into gauge chunks either.
    assert_cut(&gauges, 10, &stale(), Unknown);
    // A gauge histogram with another layout.
    assert_cut(
        &gauges,
        10,
        &with_hint(
            Gauge,
            FloatHistogram {
                schema: 0,
                ..counter(0.5)
            },
        ),
        Gauge,
    );
}

#[test]
fn timestamps_must_increase() {
    let c = chunk_of(&[(0, counter(1.0)), (10, counter(2.0))]);
    assert_cut(&c, 10, &counter(3.0), Unknown);
    assert_cut(&c, -5, &counter(3.0), Unknown);
    let gauges = chunk_of(&[(0, with_hint(Gauge, counter(1.0)))]);
    assert_cut(&gauges, 0, &with_hint(Gauge, counter(1.0)), Gauge);
}

#[test]
fn the_first_sample_always_fits_and_sets_the_header() {
    for hint in [Unknown, CounterReset, NotCounterReset, Gauge] {
        let mut c = FloatHistogramChunk::new();
        assert!(c.append_or_cut(0, &with_hint(hint, counter(1.0))).is_none());
        assert_eq!(c.counter_reset_header(), hint);
        // Decoding gives what Prometheus's iterator gives: unknown for the first
        // sample unless the chunk is a gauge chunk.
        let got = decode_float_histograms(c.bytes()).unwrap();
        let want = if hint == Gauge { Gauge } else { Unknown };
        assert_eq!(got[0].1.counter_reset_hint, want);
    }
    // Even a histogram whose spans describe more buckets than it has.
    let mut c = FloatHistogramChunk::new();
    let broken = FloatHistogram {
        positive_spans: vec![span(0, u32::MAX)],
        positive_buckets: vec![1.0, 2.0],
        count: 3.0,
        ..FloatHistogram::default()
    };
    assert!(c.append(0, &broken));
    let got = decode_float_histograms(c.bytes()).unwrap();
    assert_eq!(got[0].1.positive_spans, [span(0, 2)]);
    assert_eq!(got[0].1.positive_buckets, [1.0, 2.0]);
    // Later samples must be consistent: this one is cut, with a header saying
    // nothing since it cannot be compared.
    assert!(!c.append(1, &broken));
    let next = c.append_or_cut(1, &broken).unwrap();
    assert_eq!(next.counter_reset_header(), Unknown);
    assert_eq!(
        decode_float_histograms(next.bytes()).unwrap()[0]
            .1
            .positive_buckets,
        [1.0, 2.0]
    );
}

#[test]
fn a_full_chunk_cuts_without_a_reset() {
    let h = FloatHistogram {
        count: 1.0,
        ..FloatHistogram::default()
    };
    let mut c = FloatHistogramChunk::new();
    for t in 0..65_535 {
        assert!(c.append(t, &h));
    }
    assert_eq!(c.num_samples(), 65_535);
    assert_cut(&c, 65_535, &h, NotCounterReset);
    assert_cut(&c, 65_535, &stale(), NotCounterReset);
    assert_cut(
        &c,
        65_535,
        &FloatHistogram { count: 0.0, ..h },
        CounterReset,
    );
    assert_eq!(decode_float_histograms(c.bytes()).unwrap().len(), 65_535);
}

#[test]
fn append_or_cut_continues_in_the_new_chunk() {
    let mut chunks = vec![FloatHistogramChunk::new()];
    let samples = [
        (0, counter(1.0)),
        (1, counter(2.0)),
        (2, counter(0.5)), // reset
        (3, counter(0.7)),
        (4, coarse(0.8)), // layout
        (5, stale()),
        (6, counter(1.0)), // after stale
    ];
    for (t, h) in &samples {
        if let Some(next) = chunks.last_mut().unwrap().append_or_cut(*t, h) {
            chunks.push(next);
        }
    }
    let headers: Vec<CounterResetHint> = chunks
        .iter()
        .map(FloatHistogramChunk::counter_reset_header)
        .collect();
    assert_eq!(headers, [Unknown, CounterReset, NotCounterReset, Unknown]);
    let sizes: Vec<usize> = chunks
        .iter()
        .map(FloatHistogramChunk::num_samples)
        .collect();
    assert_eq!(sizes, [2, 2, 2, 1]);
}

// ------------------------------------------------------------- corrupt bytes

#[test]
fn corrupt_chunks_give_errors() {
    let c = chunk_of(&[(0, counter(1.0)), (10, counter(2.0)), (20, stale())]);
    let bytes = c.bytes();
    for len in 0..bytes.len() {
        assert!(
            decode_float_histograms(&bytes[..len]).is_err(),
            "prefix {len}"
        );
        let _ = decode_histograms(&bytes[..len]);
    }
    assert!(matches!(
        decode_float_histograms(&bytes[..2]),
        Err(ChunkError::MissingHistogramHeader { len: 2 })
    ));
    // Anything after the announced samples is ignored, as by Prometheus.
    let mut longer = bytes.to_vec();
    longer.extend_from_slice(&[0xde, 0xad]);
    assert_eq!(
        keys(&decode_float_histograms(&longer).unwrap()),
        keys(&decode_float_histograms(bytes).unwrap())
    );
    // Errors say what and where.
    let err = decode_float_histograms(&bytes[..40]).unwrap_err();
    assert!(err.to_string().contains("sample 0 of 3"), "{err}");
}

// ------------------------------------------------------------------ properties

/// One layout for all samples; bucket values from `value`.
fn histograms(
    value: impl Strategy<Value = f64> + Clone,
) -> impl Strategy<Value = Vec<FloatHistogram>> {
    let spans = || vec((-3i32..4, 0u32..4), 0..4);
    let layout = (
        prop_oneof![3 => -4i32..=8, 1 => Just(CUSTOM_BUCKETS_SCHEMA)],
        prop::sample::select(vec![0.0, 2f64.powi(-128), 0.01]),
        spans(),
        spans(),
    );
    (layout, 1usize..60).prop_flat_map(move |((schema, zt, p, n), len)| {
        let custom = schema == CUSTOM_BUCKETS_SCHEMA;
        let p: Vec<Span> = p
            .into_iter()
            .map(|(o, l)| span(if custom { o.abs() } else { o }, l))
            .collect();
        let n: Vec<Span> = if custom {
            vec![]
        } else {
            n.into_iter().map(|(o, l)| span(o, l)).collect()
        };
        let np: usize = p.iter().map(|s| s.length as usize).sum();
        let nn: usize = n.iter().map(|s| s.length as usize).sum();
        let bounds: Option<Arc<[f64]>> =
            custom.then(|| (1..=np + 3).map(|i| i as f64 * 0.25).collect());
        let sample = (
            vec(value.clone(), 3),
            vec(value.clone(), np),
            vec(value.clone(), nn),
        );
        vec(sample, len).prop_map(move |values| {
            values
                .into_iter()
                .map(|(head, pos, neg)| FloatHistogram {
                    counter_reset_hint: Unknown,
                    schema,
                    zero_threshold: if custom { 0.0 } else { zt },
                    zero_count: head[0],
                    count: head[1],
                    sum: head[2],
                    positive_spans: p.clone(),
                    negative_spans: n.clone(),
                    positive_buckets: pos,
                    negative_buckets: neg,
                    custom_values: bounds.clone(),
                })
                .collect()
        })
    })
}

fn timestamps(len: usize) -> impl Strategy<Value = Vec<i64>> {
    let step = prop_oneof![
        4 => 14_990i64..15_010,
        2 => 1i64..3000,
        1 => 1i64..=i64::MAX / 128,
    ];
    (any::<i64>(), vec(step, len)).prop_map(|(start, steps)| {
        let mut t = start;
        steps
            .into_iter()
            .map(|s| {
                t = t.wrapping_add(s);
                t
            })
            .scan(None, |last: &mut Option<i64>, t| {
                // Keep the timestamps increasing: stop at the wrap.
                if last.is_some_and(|l| t <= l) {
                    return None;
                }
                *last = Some(t);
                Some(t)
            })
            .collect()
    })
}

fn any_bits() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![
        3 => any::<u64>().prop_map(f64::from_bits),
        1 => Just(STALE_NAN),
        1 => Just(f64::NAN),
        2 => (0u32..100).prop_map(f64::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn gauge_chunks_round_trip_any_values_bit_exactly(
        (hs, ts) in histograms(any_bits()).prop_flat_map(|hs| {
            let len = hs.len();
            (Just(hs), timestamps(len))
        })
    ) {
        let mut samples: Vec<(i64, FloatHistogram)> = ts
            .into_iter()
            .zip(hs)
            .map(|(t, h)| (t, with_hint(Gauge, h)))
            .collect();
        // After a stale marker only stale markers fit (and they carry no hint).
        if let Some(i) = samples.iter().position(|(_, h)| h.sum.to_bits() == STALE_NAN_BITS) {
            samples.truncate(i + 1);
        }
        round_trip(&samples);
    }

    #[test]
    fn counter_chunks_round_trip_growing_values(
        hs in histograms((0u32..1000).prop_map(f64::from)),
    ) {
        // Make every count cumulative so nothing resets.
        let mut running: Option<FloatHistogram> = None;
        let samples: Vec<(i64, FloatHistogram)> = hs
            .into_iter()
            .enumerate()
            .map(|(i, mut h)| {
                if let Some(r) = &running {
                    h.count += r.count;
                    h.zero_count += r.zero_count;
                    for (b, p) in h.positive_buckets.iter_mut().zip(&r.positive_buckets) {
                        *b += p;
                    }
                    for (b, p) in h.negative_buckets.iter_mut().zip(&r.negative_buckets) {
                        *b += p;
                    }
                }
                running = Some(h.clone());
                (i as i64 * 15_000, h)
            })
            .collect();
        let mut c = FloatHistogramChunk::new();
        for (t, h) in &samples {
            prop_assert!(c.append_or_cut(*t, h).is_none());
        }
        prop_assert_eq!(keys(&decode_float_histograms(c.bytes()).unwrap()), as_decoded(&samples, false));
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..200), flags in 0u8..4) {
        let mut bytes = bytes;
        if bytes.len() > 2 {
            bytes[2] = flags << 6;
        }
        let _ = decode_float_histograms(&bytes);
        let _ = decode_histograms(&bytes);
        let mut it = HistogramIter::integer(&bytes);
        while let Some(Ok(_)) = it.next() {}
        prop_assert!(it.next().is_none());
    }

    #[test]
    fn damaged_chunks_never_panic(
        hs in histograms(any_bits()),
        flips in vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut c = FloatHistogramChunk::new();
        for (t, h) in hs.iter().enumerate() {
            if !c.append(t as i64, h) {
                break;
            }
        }
        let bytes = c.into_bytes();
        // Every strict prefix is an error.
        let len = cut.index(bytes.len());
        prop_assert!(decode_float_histograms(&bytes[..len]).is_err());
        let _ = decode_histograms(&bytes[..len]);
        // Flipped bits decode to something or to an error.
        let mut damaged = bytes.clone();
        for (at, bit) in flips {
            let i = at.index(damaged.len());
            damaged[i] ^= 1 << bit;
        }
        let _ = decode_float_histograms(&damaged);
        let _ = decode_histograms(&damaged);
    }
}

/// A second, independent hand derivation (count 1→2, sum 2→4, one bucket 1→2 at
/// t 1000 and 2000; zero threshold 0, schema 0, one span of one bucket at 0): the
/// encoder writes these bytes, and the integer decoder reads its own golden chunk.
#[test]
fn independently_derived_golden_chunks() {
    let h = |n: f64| FloatHistogram {
        count: n,
        sum: 2.0 * n,
        positive_spans: vec![Span {
            offset: 0,
            length: 1,
        }],
        positive_buckets: vec![n],
        ..FloatHistogram::default()
    };
    let mut c = FloatHistogramChunk::new();
    assert!(c.append(1000, &h(1.0)));
    assert!(c.append(2000, &h(2.0)));
    let want: [u8; 50] = [
        0x00, 0x02, 0x00, 0x00, 0x46, 0x27, 0x8f, 0xa0, 0xff, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xff, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xc7, 0xd1, 0x84, 0xbf, 0xfe,
        0xd6, 0x0f, 0x09, 0x7f, 0xfc,
    ];
    assert_eq!(c.bytes(), want);

    // Integer chunk, header "no counter reset": zero threshold 0.001, one span of two
    // buckets; (t 1000: count 3, zero 1, sum 2.5, bucket deltas 1, 0) then (t 2000:
    // count 6, zero 2, sum 5, bucket deltas 2, 0).
    let bytes = [
        0x00, 0x02, 0x40, 0xff, 0x3f, 0x50, 0x62, 0x4d, 0xd2, 0xf1, 0xa9, 0xfc, 0x46, 0x47, 0x8f,
        0xa2, 0x71, 0x40, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8b, 0xc7, 0xd1, 0x38, 0xeb,
        0x07, 0x10,
    ];
    let got = decode_histograms(&bytes).unwrap();
    let ih = |hint, n: f64| FloatHistogram {
        counter_reset_hint: hint,
        zero_threshold: 0.001,
        zero_count: n,
        count: 3.0 * n,
        sum: 2.5 * n,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![n, n],
        ..FloatHistogram::default()
    };
    assert_eq!(
        got,
        [(1000, ih(Unknown, 1.0)), (2000, ih(NotCounterReset, 2.0))]
    );
}
