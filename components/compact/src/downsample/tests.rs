use super::*;

const M5: i64 = 300_000;
const H1: i64 = 3_600_000;

fn aggr_points(chunks: &[BlockChunk], t: AggrType) -> Vec<(i64, f64)> {
    chunks
        .iter()
        .flat_map(|c| {
            let ChunkData::Aggr(a) = &c.data else {
                panic!("raw chunk")
            };
            cairn_chunk::decode(a.get(t).expect("aggregate present")).unwrap()
        })
        .map(|s| (s.t, s.v))
        .collect()
}

/// A counter scraped every 15s for 3h that resets at 1h10m, plus some jitter.
fn counter_series() -> Vec<Sample> {
    let mut v = 0.0;
    (0..720)
        .map(|i| {
            let t = i * 15_000 + (i % 3) * 7;
            if i == 280 {
                v = 3.0;
            } else {
                v += (i % 5) as f64;
            }
            Sample::new(t, v)
        })
        .collect()
}

#[test]
fn raw_windows_have_count_sum_min_max() {
    let raw = counter_series();
    let chunks = downsample_raw(&raw, M5, |_| 0);
    let count = aggr_points(&chunks, AggrType::Count);
    let sum = aggr_points(&chunks, AggrType::Sum);
    let min = aggr_points(&chunks, AggrType::Min);
    let max = aggr_points(&chunks, AggrType::Max);
    // Expected, straight from the definition.
    let mut expect: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for s in &raw {
        expect.entry(window_end(s.t, M5)).or_default().push(s.v);
    }
    let last_t = raw.last().unwrap().t;
    assert_eq!(count.len(), expect.len());
    for (i, (w, vs)) in expect.iter().enumerate() {
        let t = (*w).min(last_t);
        assert_eq!(count[i], (t, vs.len() as f64));
        assert_eq!(sum[i], (t, vs.iter().sum::<f64>()));
        assert_eq!(min[i], (t, vs.iter().copied().fold(f64::MAX, f64::min)));
        assert_eq!(max[i], (t, vs.iter().copied().fold(-f64::MAX, f64::max)));
    }
}

use std::collections::BTreeMap;

/// The true increase of a counter: deltas, with a reset counting the new value.
fn increase(raw: &[Sample]) -> f64 {
    raw.windows(2)
        .map(|w| {
            if w[1].v >= w[0].v {
                w[1].v - w[0].v
            } else {
                w[1].v
            }
        })
        .sum()
}

#[test]
fn counter_aggregate_removes_resets_and_keeps_first_and_last_raw_values() {
    let raw = counter_series();
    assert!(
        raw.windows(2).any(|w| w[1].v < w[0].v),
        "the series has a reset"
    );
    let chunks = downsample_raw(&raw, M5, |_| 0);
    assert_eq!(chunks.len(), 1);
    let counter = aggr_points(&chunks, AggrType::Counter);
    let first = raw[0];
    let last = raw[raw.len() - 1];
    assert_eq!(counter[0], (first.t, first.v));
    let n = counter.len();
    // The last point repeats the last window's timestamp with the last raw value.
    assert_eq!(counter[n - 1], (counter[n - 2].0, last.v));
    // Window values: running counter with resets added back.
    let mut expect = Vec::new();
    let mut total = raw[0].v;
    for (i, s) in raw.iter().enumerate() {
        if i > 0 {
            let prev = raw[i - 1].v;
            total += if s.v >= prev { s.v - prev } else { s.v };
        }
        let w = window_end(s.t, M5).min(last.t);
        if raw.get(i + 1).is_none_or(|n| n.t > w) {
            expect.push((w, total));
        }
    }
    assert_eq!(&counter[1..n - 1], &expect[..]);
    // Monotonic: rate/increase see no reset, and the increase is the true one.
    assert!(counter[1..n - 1].windows(2).all(|w| w[1].1 >= w[0].1));
    assert_eq!(counter[n - 2].1 - counter[0].1, increase(&raw));
}

#[test]
fn chunks_do_not_cross_slices_and_hold_at_most_120_windows() {
    // 30h of 15s samples into 5m windows with 8h slices.
    let raw: Vec<Sample> = (0..7200)
        .map(|i| Sample::new(i * 15_000, i as f64))
        .collect();
    let slice = |t: i64| t.div_euclid(8 * H1);
    let chunks = downsample_raw(&raw, M5, slice);
    for c in &chunks {
        assert_eq!(slice(c.min_time), slice(c.max_time), "{c:?}");
        assert!(aggr_points(std::slice::from_ref(c), AggrType::Count).len() <= 120);
    }
    let total: f64 = aggr_points(&chunks, AggrType::Count)
        .iter()
        .map(|p| p.1)
        .sum();
    assert_eq!(total, 7200.0);
    // Counter chunks chain without gaps: last raw of one, first raw of the next.
    let starts: Vec<f64> = chunks
        .iter()
        .map(|c| aggr_points(std::slice::from_ref(c), AggrType::Counter)[0].1)
        .collect();
    assert_eq!(starts[0], 0.0);
    assert!(chunks.len() >= 4);
}

#[test]
fn five_minute_to_one_hour_keeps_totals_and_counter_increase() {
    let raw = counter_series();
    let m5 = downsample_raw(&raw, M5, |_| 0);
    let h1 = downsample_aggr(&m5, H1, |_| 0).unwrap();
    let direct = downsample_raw(&raw, H1, |_| 0);
    // Windows align (5m windows nest in hours), so 5m→1h equals raw→1h for these.
    for t in [AggrType::Count, AggrType::Sum, AggrType::Min, AggrType::Max] {
        assert_eq!(aggr_points(&h1, t), aggr_points(&direct, t), "{t:?}");
    }
    let c = aggr_points(&h1, AggrType::Counter);
    let n = c.len();
    assert_eq!(c[0], (raw[0].t, raw[0].v));
    assert_eq!(c[n - 1].1, raw[raw.len() - 1].v);
    assert_eq!(c[n - 2].1 - c[0].1, increase(&raw));
    assert_eq!(
        aggr_points(&h1, AggrType::Counter)[1..n - 1],
        aggr_points(&direct, AggrType::Counter)[1..n - 1]
    );
}

#[test]
fn nan_and_stale_markers_are_dropped() {
    let raw = vec![
        Sample::new(0, 1.0),
        Sample::new(15_000, cairn_model::STALE_NAN),
        Sample::new(30_000, 2.0),
    ];
    let chunks = downsample_raw(&raw, M5, |_| 0);
    assert_eq!(aggr_points(&chunks, AggrType::Count), vec![(30_000, 2.0)]);
    assert_eq!(aggr_points(&chunks, AggrType::Sum), vec![(30_000, 3.0)]);
}

#[test]
fn histograms_keep_the_last_of_each_window_with_unknown_hints() {
    use cairn_model::histogram::CounterResetHint;
    use cairn_model::{FloatHistogram, HistogramSample};
    let h = |t: i64, hint: CounterResetHint| {
        HistogramSample::new(
            t,
            FloatHistogram {
                counter_reset_hint: hint,
                count: t as f64,
                ..Default::default()
            },
        )
    };
    let not_reset = CounterResetHint::NotCounterReset;
    let hs: Vec<HistogramSample> = (0..25).map(|i| h(i * 60_000, not_reset)).collect();
    let out = last_per_window(&hs, 300_000);
    let times: Vec<i64> = out.iter().map(|h| h.t).collect();
    assert_eq!(times, [240_000, 540_000, 840_000, 1_140_000, 1_440_000]);
    assert!(out
        .iter()
        .all(|h| h.h.counter_reset_hint == CounterResetHint::Unknown));
    let gauges = [h(0, CounterResetHint::Gauge), h(1, CounterResetHint::Gauge)];
    assert_eq!(
        last_per_window(&gauges, 300_000)[0].h.counter_reset_hint,
        CounterResetHint::Gauge
    );
}
