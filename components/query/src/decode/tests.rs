use cairn_chunk::XorChunk;
use cairn_model::Labels;
use cairn_promql::SeriesData;
use cairn_storeapi::RawAggregates;

use super::*;

fn xor(points: impl IntoIterator<Item = (i64, f64)>) -> Vec<u8> {
    let mut c = XorChunk::new();
    for (t, v) in points {
        c.append(t, v);
    }
    c.bytes().to_vec()
}

fn chunk(points: &[(i64, f64)]) -> RawChunk {
    RawChunk::xor(
        points[0].0,
        points[points.len() - 1].0,
        xor(points.iter().copied()),
    )
}

fn series(chunks: Vec<RawChunk>) -> RawSeries {
    RawSeries {
        labels: Labels::from_pairs([("__name__", "x")]),
        chunks,
    }
}

/// Downsamples raw samples the way Thanos's compactor does: windows ending at
/// `t - t % res + res - 1`, each point stamped with its window's last sample, the
/// counter aggregate opened by the first raw sample and closed by a marker holding
/// the last raw value.
pub(crate) fn downsample(samples: &[(i64, f64)], res: i64) -> RawChunk {
    let mut windows: Vec<(i64, [f64; 5])> = Vec::new();
    let (mut counter, mut last) = (0.0, 0.0);
    let mut window_end = i64::MIN;
    for (i, &(t, v)) in samples.iter().enumerate() {
        if i == 0 {
            counter = v;
        } else if v < last {
            counter += v;
        } else {
            counter += v - last;
        }
        last = v;
        if t > window_end {
            window_end = t - t.rem_euclid(res) + res - 1;
            windows.push((t, [0.0, 0.0, f64::MAX, f64::MIN, 0.0]));
        }
        let (wt, a) = windows.last_mut().unwrap();
        *wt = t;
        a[0] += 1.0;
        a[1] += v;
        a[2] = a[2].min(v);
        a[3] = a[3].max(v);
        a[4] = counter;
    }
    let mut aggr = RawAggregates::default();
    for (i, a) in Aggregate::ALL.into_iter().enumerate() {
        let mut points: Vec<(i64, f64)> = windows.iter().map(|(t, v)| (*t, v[i])).collect();
        if a == Aggregate::Counter {
            points.insert(0, samples[0]);
            points.push(*samples.last().unwrap());
        }
        aggr.set(a, xor(points));
    }
    RawChunk::downsampled(samples[0].0, samples.last().unwrap().0, aggr)
}

fn times(s: &StorageSeries) -> Vec<i64> {
    decoded(s).iter().map(|s| s.t).collect()
}

#[test]
fn overlapping_raw_chunks_are_merged_without_double_counting() {
    let s = series(vec![
        chunk(&[(10, 1.0), (20, 2.0), (30, 3.0)]),
        chunk(&[(20, 2.0), (30, 3.0), (40, 4.0)]),
    ]);
    let decoded = decode_series(s, 15, 40, ReadMode::Average).unwrap();
    assert_eq!(times(&decoded), [20, 30, 40]);
}

#[test]
fn a_corrupt_chunk_is_an_error_not_a_panic() {
    let s = series(vec![RawChunk::xor(0, 10, vec![0, 5, 1])]);
    assert!(decode_series(s, 0, 10, ReadMode::Average).is_err());
    let mut aggr = downsample(&[(0, 1.0), (10, 2.0)], 5);
    aggr.aggregates.as_mut().unwrap().0[Aggregate::Sum as usize] = None;
    let err = decode_series(series(vec![aggr]), 0, 10, ReadMode::Sum).unwrap_err();
    assert!(err.to_string().contains("Sum"), "{err}");
}

#[test]
fn functions_pick_the_aggregate_they_need() {
    let cases = [
        (Some("rate"), vec![Aggregate::Counter]),
        (Some("increase"), vec![Aggregate::Counter]),
        (Some("count_over_time"), vec![Aggregate::Count]),
        (Some("sum_over_time"), vec![Aggregate::Sum]),
        (Some("min_over_time"), vec![Aggregate::Min]),
        (Some("max_over_time"), vec![Aggregate::Max]),
        (
            Some("avg_over_time"),
            vec![Aggregate::Count, Aggregate::Sum],
        ),
        (None, vec![Aggregate::Count, Aggregate::Sum]),
    ];
    for (f, want) in cases {
        assert_eq!(ReadMode::for_function(f).aggregates(), want, "{f:?}");
    }
}

/// One sample every 15s for 2h; a counter growing by 1/s that resets at 50 minutes.
fn counter_samples() -> Vec<(i64, f64)> {
    (0..480)
        .map(|i| {
            let t = i * 15_000;
            let v = if t < 3_000_000 {
                t / 1000
            } else {
                (t - 3_000_000) / 1000
            };
            (t, v as f64)
        })
        .collect()
}

fn raw_increase(samples: &[(i64, f64)]) -> f64 {
    samples
        .windows(2)
        .map(|w| {
            if w[1].1 >= w[0].1 {
                w[1].1 - w[0].1
            } else {
                w[1].1
            }
        })
        .sum()
}

#[test]
fn downsampled_aggregates_read_like_the_raw_samples_they_replace() {
    let raw = counter_samples();
    let five_m = 300_000;
    // Two downsampled chunks, as two blocks (or two chunk ranges) would give.
    let (a, b) = raw.split_at(240);
    let s = || series(vec![downsample(a, five_m), downsample(b, five_m)]);
    let (start, end) = (0, 7_200_000);

    let counter = decode_series(s(), start, end, ReadMode::Counter).unwrap();
    assert!(decoded(&counter).windows(2).all(|w| w[1].v >= w[0].v));
    let got = decoded(&counter).last().unwrap().v - decoded(&counter)[0].v;
    assert_eq!(got, raw_increase(&raw));

    let count = decode_series(s(), start, end, ReadMode::Count).unwrap();
    assert_eq!(decoded(&count).len(), raw.len());

    let sum = decode_series(s(), start, end, ReadMode::Sum).unwrap();
    let total: f64 = decoded(&sum).iter().map(|s| s.v).sum();
    assert_eq!(total, raw.iter().map(|s| s.1).sum::<f64>());

    let min = decode_series(s(), start, end, ReadMode::Min).unwrap();
    let max = decode_series(s(), start, end, ReadMode::Max).unwrap();
    let fold = |f: fn(f64, f64) -> f64, init| raw.iter().map(|s| s.1).fold(init, f);
    assert_eq!(
        decoded(&min).iter().map(|s| s.v).fold(f64::MAX, f64::min),
        fold(f64::min, f64::MAX)
    );
    assert_eq!(
        decoded(&max).iter().map(|s| s.v).fold(f64::MIN, f64::max),
        fold(f64::max, f64::MIN)
    );

    let avg = decode_series(s(), start, end, ReadMode::Average).unwrap();
    assert_eq!(decoded(&avg).len(), 24);
    // First window: samples 0..=285 step 15 → mean of 0, 15, ..., 285.
    assert_eq!(decoded(&avg)[0].v, 142.5);
}

#[test]
fn downsampled_and_raw_data_of_one_range_are_never_both_counted() {
    let raw = counter_samples();
    let (old, recent) = raw.split_at(240);
    let raw_sum: f64 = raw.iter().map(|s| s.1).sum();

    // A downsampled block over both hours and raw data (e.g. an ingester head) for the
    // second: the downsampled chunk reaches past the raw data and replaces it.
    let s = series(vec![downsample(&raw, 300_000), chunk(recent)]);
    let sum = decode_series(s.clone(), 0, 7_200_000, ReadMode::Sum).unwrap();
    assert_eq!(decoded(&sum).iter().map(|s| s.v).sum::<f64>(), raw_sum);
    let counter = decode_series(s, 0, 7_200_000, ReadMode::Counter).unwrap();
    let got = decoded(&counter).last().unwrap().v - decoded(&counter)[0].v;
    assert_eq!(got, raw_increase(&raw));

    // A downsampled chunk within the raw data's span is not read at all.
    let s = series(vec![chunk(old), downsample(recent, 300_000), chunk(recent)]);
    let sum = decode_series(s, 0, 7_200_000, ReadMode::Sum).unwrap();
    assert_eq!(decoded(&sum).len(), raw.len());
    assert_eq!(decoded(&sum).iter().map(|s| s.v).sum::<f64>(), raw_sum);
}

/// The decoded samples of a series `decode_series` produced.
fn decoded(s: &StorageSeries) -> &Vec<Sample> {
    match &s.data {
        SeriesData::Samples(v) => v,
        SeriesData::Xor(_) => panic!("decode_series returns decoded samples"),
    }
}
