use std::collections::{BTreeMap, HashMap, HashSet};

use super::*;
use crate::args::Counts;
use crate::encode::{decode, Compressor};
use cairn_proto::prometheus::WriteRequest;
use prost::Message;

fn shape(series: usize, kind: Kind) -> ShapeArgs {
    ShapeArgs {
        series,
        labels: 12,
        label_values: Counts(vec![3, 2]),
        metrics: 7,
        kind,
        mix: Counts(vec![2, 2, 1]),
        histogram_buckets: 4,
    }
}

fn catalog(series: usize, kind: Kind) -> Arc<Catalog> {
    Arc::new(Catalog::new(&shape(series, kind)))
}

/// One shard over every id, batches of `batch` samples.
fn shard(cat: &Arc<Catalog>, batch: usize, clock: Clock, start: i64) -> Shard {
    let plan = Plan::new(cat, 1, batch);
    Shard::new(cat.clone(), plan.shards[0].clone(), clock, start, 1)
}

/// Encodes batch `b`, checks the bytes against prost and `current`, returns it decoded.
fn send(shard: &mut Shard, b: usize, now: i64) -> WriteRequest {
    let mut raw = Vec::new();
    let n = shard.encode_batch(b, now, &mut raw).unwrap();
    assert_eq!(n, shard.batches()[b].samples);
    let body = Compressor::new().compress(&raw).unwrap();
    let req = decode(&body).unwrap();
    assert_eq!(req.timeseries.len(), n);
    // The hand-written bytes are exactly prost's encoding of the same message.
    assert_eq!(req.encode_to_vec(), raw);
    assert_eq!(req.timeseries, shard.current(b));
    req
}

fn send_all(shard: &mut Shard, now: i64) -> Vec<TimeSeries> {
    (0..shard.batches().len())
        .flat_map(|b| send(shard, b, now).timeseries)
        .collect()
}

fn key(ts: &TimeSeries) -> Vec<(String, String)> {
    ts.labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

fn get<'a>(ts: &'a TimeSeries, name: &str) -> Option<&'a str> {
    ts.labels
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.value.as_str())
}

#[test]
fn series_count_is_exact_and_histograms_stay_whole() {
    // Metrics 0,1 counters, 2,3 gauges, 4 histogram (4 buckets + Inf + sum + count = 7),
    // 5,6 counters: one cycle of 7 ids is 13 series.
    let cat = catalog(1303, Kind::Mixed);
    assert_eq!(cat.active_series(), 1303);
    assert_eq!(cat.ids(), 100 * 7 + 3);
    let cat = catalog(1306, Kind::Mixed);
    // Id 704 is a histogram: 1304 + 7 > 1306, so stop before it.
    assert_eq!((cat.ids(), cat.active_series()), (704, 1304));
    let cat = catalog(1, Kind::Histogram);
    assert_eq!((cat.ids(), cat.active_series()), (1, 7));
    assert_eq!(
        cat.metric_names(MetricType::Histogram),
        vec!["loadgen_metric_0_seconds"]
    );
    let cat = catalog(5, Kind::Mixed);
    assert_eq!(
        cat.metric_names(MetricType::Counter),
        vec!["loadgen_metric_0_total", "loadgen_metric_1_total"]
    );
    assert_eq!(
        cat.metric_names(MetricType::Gauge),
        vec!["loadgen_metric_2", "loadgen_metric_3"]
    );
    assert!(cat.metric_names(MetricType::Histogram).is_empty());
    assert_eq!(bucket_bounds(13).last().unwrap().to_string(), "50");
    assert_eq!(
        bucket_bounds(4)
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>(),
        vec!["0.005", "0.01", "0.025", "0.05"]
    );
}

#[test]
fn labels_sorted_unique_typed_and_spread_over_the_label_values() {
    let cat = catalog(13 * 60, Kind::Mixed);
    let mut s = shard(&cat, 100, Clock::RealTime, 0);
    let all = send_all(&mut s, 1_000);
    assert_eq!(all.len(), 780);
    let mut seen = HashSet::new();
    // metric name → (label_0, label_1) → number of series ids.
    let mut combos: BTreeMap<String, HashMap<(String, String), HashSet<String>>> = BTreeMap::new();
    for ts in &all {
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "unsorted: {names:?}");
        assert_eq!(names[0], "__name__");
        assert_eq!(names[1], "cycle_id");
        assert_eq!(*names.last().unwrap(), "series_id");
        assert!(seen.insert(key(ts)), "duplicate label set {:?}", key(ts));
        let name = get(ts, "__name__").unwrap();
        let id: usize = get(ts, "series_id").unwrap().parse().unwrap();
        let m = id % 7;
        let expected = match m {
            0 | 1 | 5 | 6 => format!("loadgen_metric_{m}_total"),
            2 | 3 => format!("loadgen_metric_{m}"),
            _ => format!("loadgen_metric_{m}_seconds"),
        };
        assert!(name.starts_with(&expected), "{name} for id {id}");
        assert_eq!(get(ts, "le").is_some(), name.ends_with("_bucket"));
        assert_eq!(get(ts, "label_11"), Some("value_0"));
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        combos
            .entry(family.to_owned())
            .or_default()
            .entry((
                get(ts, "label_0").unwrap().to_owned(),
                get(ts, "label_1").unwrap().to_owned(),
            ))
            .or_default()
            .insert(id.to_string());
    }
    assert_eq!(combos.len(), 7);
    for (family, by_combo) in combos {
        // 60 ids per metric over 3 × 2 combinations: all 6 present, 10 ids each.
        assert_eq!(by_combo.len(), 6, "{family}");
        assert!(by_combo.values().all(|ids| ids.len() == 10), "{family}");
    }
    assert_eq!(cat.label_values(0), vec!["value_0", "value_1", "value_2"]);
    assert_eq!(cat.label_values(5), vec!["value_0"]);
}

/// One histogram's scrape: (le, cumulative count) per bucket, sum, count.
type Scrape = (Vec<(f64, f64)>, f64, f64);

#[test]
fn histograms_are_consistent_within_and_across_scrapes() {
    let cat = catalog(7 * 5, Kind::Histogram);
    assert_eq!(cat.ids(), 5);
    let mut s = shard(&cat, 1000, Clock::RealTime, 0);
    let bounds = bucket_bounds(4);
    let mut prev: HashMap<String, (Vec<f64>, f64, f64)> = HashMap::new();
    let mut total_count = 0.0;
    for round in 0..50 {
        let all = send_all(&mut s, 1_000 + round);
        // id → ((le, bucket value) pairs, sum, count)
        let mut per_id: BTreeMap<String, Scrape> = BTreeMap::new();
        for ts in &all {
            let id = get(ts, "series_id").unwrap().to_owned();
            let name = get(ts, "__name__").unwrap();
            let v = ts.samples[0].value;
            assert_eq!(ts.samples[0].timestamp, 1_000 + round);
            let e = per_id.entry(id).or_default();
            if name.ends_with("_bucket") {
                let le = get(ts, "le").unwrap();
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                e.0.push((le, v));
            } else if name.ends_with("_sum") {
                e.1 = v;
            } else {
                assert!(name.ends_with("_count"), "{name}");
                e.2 = v;
            }
        }
        assert_eq!(per_id.len(), 5);
        for (id, (buckets, sum, count)) in per_id {
            let les: Vec<f64> = buckets.iter().map(|b| b.0).collect();
            let mut want = bounds.clone();
            want.push(f64::INFINITY);
            assert_eq!(les, want, "le order");
            let counts: Vec<f64> = buckets.iter().map(|b| b.1).collect();
            assert!(
                counts.windows(2).all(|w| w[0] <= w[1]),
                "not cumulative: {counts:?}"
            );
            assert_eq!(*counts.last().unwrap(), count, "+Inf bucket != count");
            assert!(sum >= count * OBS_MIN && sum <= count * OBS_MIN * OBS_SPAN);
            if let Some((pc, psum, pcount)) = prev.get(&id) {
                assert!(
                    counts.iter().zip(pc).all(|(a, b)| a >= b),
                    "bucket went down"
                );
                assert!(sum >= *psum && count >= *pcount);
                assert!(count - pcount <= 10.0);
                total_count += count - pcount;
            }
            prev.insert(id, (counts, sum, count));
        }
    }
    // 5 histograms × 49 scrapes × 5 observations on average.
    assert!(total_count > 500.0, "{total_count}");
    // Observations land in more than one bucket.
    let (counts, _, count) = prev.values().next().unwrap();
    assert!(counts[0] < *count && counts[3] > 0.0, "{counts:?}");
}

#[test]
fn realtime_timestamps_strictly_increase_even_with_a_stuck_clock() {
    let cat = catalog(10, Kind::Counter);
    let mut s = shard(&cat, 1000, Clock::RealTime, 0);
    let mut last: HashMap<Vec<(String, String)>, (i64, f64)> = HashMap::new();
    for now in [5_000, 5_000, 4_000, 5_001, 9_000] {
        for ts in &send_all(&mut s, now) {
            let x = ts.samples[0];
            assert!(x.timestamp >= now);
            if let Some(&(t, v)) = last.get(&key(ts)) {
                assert!(x.timestamp > t, "{} !> {t}", x.timestamp);
                assert!(x.value >= v, "counter went down");
            }
            last.insert(key(ts), (x.timestamp, x.value));
        }
    }
    assert_eq!(last.values().next().unwrap().0, 9_000);
}

#[test]
fn flood_clock_steps_clamps_and_waits() {
    let c = Clock::Synthetic {
        step_ms: 1000,
        max_ahead_ms: 300,
    };
    assert_eq!(c.next(0, 10_000), Ok(1000));
    assert_eq!(c.next(10_000, 10_000), Ok(10_300)); // clamped to now + 300
    assert_eq!(c.next(10_300, 10_000), Err(1)); // nothing left: wait 1 ms
    assert_eq!(c.next(10_300, 10_001), Ok(10_301));
    assert_eq!(Clock::RealTime.next(10, 5), Ok(11));
    assert_eq!(Clock::RealTime.next(i64::MIN, 5), Ok(5));

    let cat = catalog(3, Kind::Gauge);
    let now = 100 * FLOOD_START_BEHIND_MS;
    let start = now - FLOOD_START_BEHIND_MS;
    let mut s = shard(&cat, 1000, Clock::flood(15_000), start);
    let mut prev = i64::MIN;
    for round in 0..10 {
        let all = send_all(&mut s, now);
        let t = all[0].samples[0].timestamp;
        assert!(all.iter().all(|ts| ts.samples[0].timestamp == t));
        assert_eq!(t, start + round * 15_000);
        assert!(t > prev);
        prev = t;
    }
}

#[test]
fn churn_replaces_the_fraction_with_new_unique_series() {
    // 10 cycles of 7 ids (13 series each): 70 ids, 130 series.
    let cat = catalog(130, Kind::Mixed);
    assert_eq!(cat.ids(), 70);
    let plan = ChurnPlan::new(cat.ids(), 0.2);
    assert_eq!(plan.per_event(), 14);
    // Two shards, like two workers; together they must replace exactly 14 ids per
    // event, i.e. 2 whole cycles = 26 series.
    let p = Plan::new(&cat, 2, 25);
    assert_eq!(p.shards.len(), 2);
    let mut shards: Vec<Shard> = p
        .shards
        .into_iter()
        .map(|sp| Shard::new(cat.clone(), sp, Clock::RealTime, 0, 7))
        .collect();
    let mut all_ever = HashSet::new();
    let mut now = 1_000;
    let current = |shards: &mut Vec<Shard>, now: i64| -> Vec<Vec<(String, String)>> {
        shards
            .iter_mut()
            .flat_map(|s| send_all(s, now))
            .map(|ts| key(&ts))
            .collect()
    };
    let mut before = current(&mut shards, now);
    assert_eq!(before.len(), 130);
    all_ever.extend(before.iter().cloned());
    for epoch in 1..=7u64 {
        let replaced: u64 = shards.iter_mut().map(|s| s.apply_churn(&plan, epoch)).sum();
        assert_eq!(replaced, 26);
        now += 1_000;
        let after = current(&mut shards, now);
        assert_eq!(after.len(), 130);
        let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        assert_eq!(changed, 26, "epoch {epoch}");
        // Churned series are brand new: never seen before, and still unique now.
        for (a, b) in before.iter().zip(&after) {
            if a != b {
                assert!(all_ever.insert(b.clone()), "reused label set {b:?}");
            }
        }
        assert_eq!(after.iter().collect::<HashSet<_>>().len(), 130);
        before = after;
    }
    // Catching up several epochs at once gives the same series as one by one.
    let mut late = shard(&cat, 25, Clock::RealTime, 0);
    assert_eq!(late.apply_churn(&plan, 7), 7 * 26);
    let got: Vec<_> = send_all(&mut late, now + 1).iter().map(key).collect();
    assert_eq!(got, before);
}

#[test]
fn churned_counters_and_histograms_restart_from_zero() {
    let cat = catalog(12, Kind::Mixed);
    let mut s = shard(&cat, 1000, Clock::RealTime, 0);
    for t in 0..20 {
        send_all(&mut s, 1_000 + t);
    }
    let plan = ChurnPlan::new(cat.ids(), 1.0);
    assert_eq!(s.apply_churn(&plan, 1), 12);
    for ts in s.current(0) {
        let name = get(&ts, "__name__").unwrap();
        if !name.starts_with("loadgen_metric_2") && !name.starts_with("loadgen_metric_3") {
            assert_eq!(ts.samples[0].value, 0.0, "{name}");
        }
        assert_eq!(get(&ts, "cycle_id"), Some("1"));
    }
}

#[test]
fn churn_wraps_and_caps() {
    let plan = ChurnPlan::new(10, 0.3);
    let ids: Vec<Vec<usize>> = (1..=4).map(|e| plan.ids(e).collect()).collect();
    assert_eq!(ids[0], vec![0, 1, 2]);
    assert_eq!(ids[1], vec![3, 4, 5]);
    assert_eq!(ids[3], vec![9, 0, 1]);
    assert_eq!(ChurnPlan::new(10, 1.0).ids(5).count(), 10);
    assert_eq!(ChurnPlan::new(10, 0.0001).per_event(), 1);
}

#[test]
fn plan_covers_every_id_once_in_even_shards() {
    for (series, kind, workers, batch, want_batch, want_workers) in [
        (10_000, Kind::Counter, 4, 2000, 2000, 4),
        (10_001, Kind::Counter, 4, 2000, 2000, 4),
        (7, Kind::Gauge, 3, 2, 2, 3),
        (2, Kind::Counter, 4, 2000, 1, 2),
        (2_500, Kind::Counter, 4, 2000, 625, 4),
        (1, Kind::Counter, 1, 1, 1, 1),
        (10_000, Kind::Mixed, 4, 2000, 2000, 4),
        // Histograms (7 series) wider than the batch go alone.
        (70, Kind::Histogram, 2, 3, 3, 2),
    ] {
        let cat = catalog(series, kind);
        let plan = Plan::new(&cat, workers, batch);
        assert_eq!(
            (plan.batch_size, plan.shards.len()),
            (want_batch, want_workers),
            "{series} {workers} {batch}"
        );
        let mut ids = Vec::new();
        let mut per_worker = Vec::new();
        let mut samples = 0;
        for sp in &plan.shards {
            per_worker.push(sp.batches.len());
            let mut shard_ids = Vec::new();
            for b in &sp.batches {
                let widths: usize = b.ids.clone().map(|id| cat.width(id)).sum();
                assert_eq!(widths, b.samples);
                assert!(b.samples <= plan.batch_size || b.ids.len() == 1, "{b:?}");
                samples += b.samples;
                shard_ids.extend(b.ids.clone());
            }
            assert_eq!(shard_ids, sp.ids.clone().collect::<Vec<_>>());
            ids.extend(shard_ids);
            // A shard's first and last requests encode as planned.
            let mut s = Shard::new(cat.clone(), sp.clone(), Clock::RealTime, 0, 1);
            send(&mut s, 0, 1_000);
            send(&mut s, sp.batches.len() - 1, 1_000);
        }
        assert_eq!(ids, (0..cat.ids()).collect::<Vec<_>>());
        assert_eq!(samples, cat.active_series());
        let (min, max) = (
            per_worker.iter().min().unwrap(),
            per_worker.iter().max().unwrap(),
        );
        assert!(max - min <= 1, "{per_worker:?}");
    }
}
