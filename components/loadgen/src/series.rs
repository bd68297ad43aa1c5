//! The synthetic series: their label sets, values, timestamps and churn.
//!
//! Series `i` (0 ≤ i < N) has the labels, sorted by name as remote write requires:
//!
//! ```text
//! __name__="loadgen_metric_<i mod metrics>[_total]"  cycle_id="<generation>"
//! label_<j>="value_<j>"  (j in 0..labels)               series_id="<i>"
//! ```
//!
//! Churn bumps a series id's `cycle_id`, which makes it a brand-new series. The ids are
//! split into one [`Shard`] per worker, so a series is only ever written by one worker
//! and its samples can never overtake each other on the wire.

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;

use cairn_proto::prometheus::{Label, Sample, TimeSeries};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::args::Kind;
use crate::encode::{put_bytes, put_label, put_sample, TAG_1};

/// Label names other than the extra `label_<j>` ones.
const METRIC_NAME: &str = "__name__";
const CYCLE_ID: &str = "cycle_id";
const SERIES_ID: &str = "series_id";

/// What every series looks like; shared read-only by all shards.
#[derive(Debug)]
pub struct Catalog {
    series: usize,
    metric_names: Vec<String>,
    counters: Vec<bool>,
    /// `__name__` label fields, encoded, per metric index.
    encoded_names: Vec<Vec<u8>>,
    /// The extra labels sorted by name.
    extra: Vec<(String, String)>,
    /// The extra labels' fields, encoded, in sorted order.
    encoded_extra: Vec<u8>,
}

impl Catalog {
    /// `series` ids over `metrics` names with `labels` extra labels each.
    pub fn new(series: usize, labels: usize, metrics: usize, kind: Kind) -> Self {
        let metrics = metrics.max(1);
        let counters: Vec<bool> = (0..metrics)
            .map(|m| match kind {
                Kind::Counter => true,
                Kind::Gauge => false,
                Kind::Mixed => m % 2 == 0,
            })
            .collect();
        let metric_names: Vec<String> = (0..metrics)
            .map(|m| {
                let suffix = if counters[m] { "_total" } else { "" };
                format!("loadgen_metric_{m}{suffix}")
            })
            .collect();
        let encoded_names = metric_names
            .iter()
            .map(|n| {
                let mut b = Vec::new();
                put_label(METRIC_NAME, n, &mut b);
                b
            })
            .collect();
        let mut extra: Vec<(String, String)> = (0..labels)
            .map(|j| (format!("label_{j}"), format!("value_{j}")))
            .collect();
        extra.sort();
        let mut encoded_extra = Vec::new();
        for (n, v) in &extra {
            put_label(n, v, &mut encoded_extra);
        }
        Self {
            series,
            metric_names,
            counters,
            encoded_names,
            extra,
            encoded_extra,
        }
    }

    /// Number of series ids.
    pub fn series(&self) -> usize {
        self.series
    }

    fn metric(&self, id: usize) -> usize {
        id % self.metric_names.len()
    }

    fn is_counter(&self, id: usize) -> bool {
        self.counters[self.metric(id)]
    }

    /// The label set of series `id` in churn generation `generation`, sorted by name.
    pub fn labels(&self, id: usize, generation: u64) -> Vec<Label> {
        let label = |n: &str, v: String| Label {
            name: n.to_owned(),
            value: v,
        };
        let mut out = Vec::with_capacity(self.extra.len() + 3);
        out.push(label(
            METRIC_NAME,
            self.metric_names[self.metric(id)].clone(),
        ));
        out.push(label(CYCLE_ID, generation.to_string()));
        out.extend(self.extra.iter().map(|(n, v)| label(n, v.clone())));
        out.push(label(SERIES_ID, id.to_string()));
        out
    }
}

/// How sample timestamps advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Stamp samples with the current time (at least 1 ms after the series' previous
    /// sample).
    RealTime,
    /// Flood mode: each round is `step_ms` after the previous one on synthetic time,
    /// clamped to at most `max_ahead_ms` past the current time (and then advancing by
    /// 1 ms per round; if even that would pass the cap the worker waits).
    Synthetic {
        /// Synthetic time advanced per round.
        step_ms: i64,
        /// Newest timestamp allowed, relative to now.
        max_ahead_ms: i64,
    },
}

/// Flood mode starts this far behind the wall clock. Cairn accepts samples up to 1 day
/// old; Prometheus 2.42's head refuses samples older than its newest sample minus 1 h
/// (half the 2 h block range), so the whole run must stay inside one hour.
pub const FLOOD_START_BEHIND_MS: i64 = 50 * 60 * 1000;
/// Synthetic time per flood round.
pub const FLOOD_STEP_MS: i64 = 1000;
/// Flood timestamps never pass now + 5 min (Cairn refuses now + 10 min by default).
pub const FLOOD_MAX_AHEAD_MS: i64 = 5 * 60 * 1000;

impl Clock {
    /// The flood-mode clock with the documented constants.
    pub fn flood() -> Self {
        Self::Synthetic {
            step_ms: FLOOD_STEP_MS,
            max_ahead_ms: FLOOD_MAX_AHEAD_MS,
        }
    }

    /// The timestamp for a series whose previous sample is at `last`, at wall time
    /// `now` (both ms). `Err(ms)` means no timestamp is allowed yet: wait that long.
    pub fn next(self, last: i64, now: i64) -> Result<i64, u64> {
        match self {
            Self::RealTime => Ok(now.max(last.saturating_add(1))),
            Self::Synthetic {
                step_ms,
                max_ahead_ms,
            } => {
                let ceiling = now.saturating_add(max_ahead_ms);
                let min = last.saturating_add(1);
                if min > ceiling {
                    return Err((min - ceiling) as u64);
                }
                Ok(last.saturating_add(step_ms).min(ceiling).max(min))
            }
        }
    }
}

#[derive(Debug, Clone)]
struct SeriesState {
    generation: u64,
    last_ts: i64,
    value: f64,
}

/// Which ids churn event `epoch` (1-based) replaces: `k` consecutive ids (wrapping)
/// starting where the previous event stopped, so repeated churn walks over all ids.
#[derive(Debug, Clone, Copy)]
pub struct ChurnPlan {
    series: usize,
    per_event: usize,
}

impl ChurnPlan {
    /// Replaces `fraction` of `series` ids per event (at least one).
    pub fn new(series: usize, fraction: f64) -> Self {
        let per_event = ((series as f64 * fraction).round() as usize).clamp(1, series.max(1));
        Self { series, per_event }
    }

    /// Ids replaced per event.
    pub fn per_event(&self) -> usize {
        self.per_event
    }

    fn ids(&self, epoch: u64) -> impl Iterator<Item = usize> + '_ {
        let n = self.series as u64;
        // (epoch - 1) * k mod n, reduced first so huge epochs cannot overflow.
        let start = ((epoch - 1) % n) * (self.per_event as u64 % n) % n;
        (0..self.per_event as u64).map(move |j| ((start + j) % n) as usize)
    }
}

/// One worker's series: the ids `range` and their state.
#[derive(Debug)]
pub struct Shard {
    catalog: Arc<Catalog>,
    range: Range<usize>,
    state: Vec<SeriesState>,
    clock: Clock,
    churn_epoch: u64,
    rng: StdRng,
    scratch: Vec<u8>,
    digits: String,
}

impl Shard {
    /// The ids `range` of `catalog`. With a synthetic clock the first round is stamped
    /// `start_ms`; with the real-time clock `start_ms` is unused.
    pub fn new(
        catalog: Arc<Catalog>,
        range: Range<usize>,
        clock: Clock,
        start_ms: i64,
        seed: u64,
    ) -> Self {
        let mut rng =
            StdRng::seed_from_u64(seed ^ (range.start as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let first_last = match clock {
            Clock::RealTime => i64::MIN,
            Clock::Synthetic { step_ms, .. } => start_ms - step_ms,
        };
        let state = range
            .clone()
            .map(|id| SeriesState {
                generation: 0,
                last_ts: first_last,
                value: initial_value(catalog.is_counter(id), &mut rng),
            })
            .collect();
        Self {
            catalog,
            range,
            state,
            clock,
            churn_epoch: 0,
            rng,
            scratch: Vec::with_capacity(512),
            digits: String::with_capacity(24),
        }
    }

    /// The ids this shard owns.
    pub fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// Batches of at most `batch_size` ids, as ranges of global ids.
    pub fn batches(&self, batch_size: usize) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut lo = self.range.start;
        while lo < self.range.end {
            let hi = (lo + batch_size).min(self.range.end);
            out.push(lo..hi);
            lo = hi;
        }
        out
    }

    /// Applies every churn event up to `epoch` not applied yet; returns how many of
    /// this shard's series were replaced.
    pub fn apply_churn(&mut self, plan: &ChurnPlan, epoch: u64) -> u64 {
        let mut replaced = 0;
        while self.churn_epoch < epoch {
            self.churn_epoch += 1;
            for id in plan.ids(self.churn_epoch) {
                if self.range.contains(&id) {
                    let counter = self.catalog.is_counter(id);
                    let s = &mut self.state[id - self.range.start];
                    s.generation += 1;
                    s.value = initial_value(counter, &mut self.rng);
                    replaced += 1;
                }
            }
        }
        replaced
    }

    /// Writes one sample for each series in `ids` (global ids inside this shard) as a
    /// serialized `WriteRequest` into `out` (cleared first) and returns the number of
    /// samples. `Err(ms)` if the clock allows no timestamp yet.
    pub fn encode_batch(
        &mut self,
        ids: Range<usize>,
        now_ms: i64,
        out: &mut Vec<u8>,
    ) -> Result<usize, u64> {
        debug_assert!(ids.start >= self.range.start && ids.end <= self.range.end);
        let local = ids.start - self.range.start..ids.end - self.range.start;
        let last = self.state[local.clone()]
            .iter()
            .map(|s| s.last_ts)
            .max()
            .unwrap_or(i64::MIN);
        let ts = self.clock.next(last, now_ms)?;
        out.clear();
        for (k, id) in ids.enumerate() {
            let counter = self.catalog.is_counter(id);
            let s = &mut self.state[local.start + k];
            s.last_ts = ts.max(s.last_ts + 1);
            s.value = next_value(counter, s.value, &mut self.rng);

            self.scratch.clear();
            self.scratch
                .extend_from_slice(&self.catalog.encoded_names[self.catalog.metric(id)]);
            self.digits.clear();
            let _ = write!(self.digits, "{}", s.generation);
            put_label(CYCLE_ID, &self.digits, &mut self.scratch);
            self.scratch.extend_from_slice(&self.catalog.encoded_extra);
            self.digits.clear();
            let _ = write!(self.digits, "{id}");
            put_label(SERIES_ID, &self.digits, &mut self.scratch);
            put_sample(s.value, s.last_ts, &mut self.scratch);
            put_bytes(TAG_1, &self.scratch, out);
        }
        Ok(local.len())
    }

    /// The same batch as `prost` messages, without advancing anything (tests and
    /// debugging): the series as they would be sent next, with their last sample.
    pub fn current(&self, ids: Range<usize>) -> Vec<TimeSeries> {
        ids.map(|id| {
            let s = &self.state[id - self.range.start];
            TimeSeries {
                labels: self.catalog.labels(id, s.generation),
                samples: vec![Sample {
                    value: s.value,
                    timestamp: s.last_ts,
                }],
                ..Default::default()
            }
        })
        .collect()
    }
}

/// Plans the requests: returns the batch size actually used and one contiguous id range
/// per worker (workers with nothing to do are dropped).
///
/// Batches are full `batch_size` batches (only the very last one may be short), like a
/// busy Prometheus sends, and whole batches are dealt out to the workers as evenly as
/// possible, so one worker may own one batch more than another. When there are fewer
/// batches than workers the batch size shrinks to `ceil(series / workers)` so that every
/// worker still has one.
pub fn split(series: usize, workers: usize, batch_size: usize) -> (usize, Vec<Range<usize>>) {
    let workers = workers.max(1);
    let batch = batch_size.max(1).min(series.div_ceil(workers)).max(1);
    let batches = series.div_ceil(batch);
    let ranges = (0..workers)
        .map(|w| {
            let lo = batches * w / workers * batch;
            let hi = (batches * (w + 1) / workers * batch).min(series);
            lo..hi
        })
        .filter(|r| !r.is_empty())
        .collect();
    (batch, ranges)
}

fn initial_value(counter: bool, rng: &mut StdRng) -> f64 {
    if counter {
        0.0
    } else {
        f64::from(rng.gen_range(0..1000u32))
    }
}

fn next_value(counter: bool, value: f64, rng: &mut StdRng) -> f64 {
    if counter {
        value + f64::from(rng.gen_range(0..=10u32))
    } else {
        value + f64::from(rng.gen_range(-5..=5i32))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::encode::decode;
    use crate::encode::Compressor;
    use cairn_proto::prometheus::WriteRequest;
    use prost::Message;

    fn catalog(series: usize, kind: Kind) -> Arc<Catalog> {
        Arc::new(Catalog::new(series, 12, 7, kind))
    }

    fn send(shard: &mut Shard, ids: Range<usize>, now: i64) -> WriteRequest {
        let mut raw = Vec::new();
        let n = shard.encode_batch(ids.clone(), now, &mut raw).unwrap();
        assert_eq!(n, ids.len());
        let body = Compressor::new().compress(&raw).unwrap();
        let req = decode(&body).unwrap();
        // The hand-written bytes are exactly prost's encoding of the same message.
        assert_eq!(req.encode_to_vec(), raw);
        assert_eq!(req.timeseries, shard.current(ids));
        req
    }

    fn key(ts: &TimeSeries) -> Vec<(String, String)> {
        ts.labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect()
    }

    #[test]
    fn label_shape_sorted_and_unique() {
        let cat = catalog(100, Kind::Mixed);
        let mut shard = Shard::new(cat, 0..100, Clock::RealTime, 0, 1);
        let req = send(&mut shard, 0..100, 1_000);
        let mut seen = HashSet::new();
        for (i, ts) in req.timeseries.iter().enumerate() {
            let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
            assert_eq!(names.len(), 12 + 3);
            assert!(names.windows(2).all(|w| w[0] < w[1]), "unsorted: {names:?}");
            assert_eq!(names[0], "__name__");
            assert_eq!(names[1], "cycle_id");
            assert_eq!(*names.last().unwrap(), "series_id");
            let get = |n: &str| {
                ts.labels
                    .iter()
                    .find(|l| l.name == n)
                    .unwrap()
                    .value
                    .as_str()
            };
            assert_eq!(get("series_id"), i.to_string());
            assert_eq!(get("cycle_id"), "0");
            assert_eq!(get("label_11"), "value_11");
            let metric = i % 7;
            let expected = if metric % 2 == 0 {
                format!("loadgen_metric_{metric}_total")
            } else {
                format!("loadgen_metric_{metric}")
            };
            assert_eq!(get("__name__"), expected);
            assert!(seen.insert(key(ts)), "duplicate label set {:?}", key(ts));
        }
    }

    #[test]
    fn realtime_timestamps_strictly_increase_even_with_a_stuck_clock() {
        let cat = catalog(10, Kind::Counter);
        let mut shard = Shard::new(cat, 0..10, Clock::RealTime, 0, 1);
        let mut last: HashMap<Vec<(String, String)>, (i64, f64)> = HashMap::new();
        for now in [5_000, 5_000, 4_000, 5_001, 9_000] {
            let req = send(&mut shard, 0..10, now);
            for ts in &req.timeseries {
                let s = ts.samples[0];
                assert!(s.timestamp >= now);
                if let Some(&(t, v)) = last.get(&key(ts)) {
                    assert!(s.timestamp > t, "{} !> {t}", s.timestamp);
                    assert!(s.value >= v, "counter went down");
                }
                last.insert(key(ts), (s.timestamp, s.value));
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
        let mut shard = Shard::new(cat, 0..3, Clock::flood(), start, 1);
        let mut prev = i64::MIN;
        for round in 0..10 {
            let req = send(&mut shard, 0..3, now);
            let t = req.timeseries[0].samples[0].timestamp;
            assert!(req.timeseries.iter().all(|ts| ts.samples[0].timestamp == t));
            assert_eq!(t, start + round * FLOOD_STEP_MS);
            assert!(t > prev);
            prev = t;
        }
    }

    #[test]
    fn churn_replaces_the_fraction_with_new_unique_series() {
        let n = 50;
        let cat = catalog(n, Kind::Mixed);
        let plan = ChurnPlan::new(n, 0.2);
        assert_eq!(plan.per_event(), 10);
        // Two shards, like two workers; together they must replace exactly 10 per event.
        let (_, ranges) = split(n, 2, 2000);
        let mut shards: Vec<Shard> = ranges
            .into_iter()
            .map(|r| Shard::new(cat.clone(), r, Clock::RealTime, 0, 7))
            .collect();
        let mut all_ever = HashSet::new();
        let mut now = 1_000;
        let current = |shards: &mut Vec<Shard>, now: i64| -> Vec<Vec<(String, String)>> {
            let mut out = Vec::new();
            for s in shards.iter_mut() {
                let r = s.range();
                out.extend(send(s, r, now).timeseries.iter().map(key));
            }
            out
        };
        let mut before = current(&mut shards, now);
        all_ever.extend(before.iter().cloned());
        for epoch in 1..=7u64 {
            let replaced: u64 = shards.iter_mut().map(|s| s.apply_churn(&plan, epoch)).sum();
            assert_eq!(replaced, 10);
            now += 1_000;
            let after = current(&mut shards, now);
            assert_eq!(after.len(), n);
            let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
            assert_eq!(changed, 10, "epoch {epoch}");
            // Churned series are brand new: never seen before, and still unique now.
            for (a, b) in before.iter().zip(&after) {
                if a != b {
                    assert!(all_ever.insert(b.clone()), "reused label set {b:?}");
                }
            }
            assert_eq!(after.iter().collect::<HashSet<_>>().len(), n);
            before = after;
        }
        // Catching up several epochs at once gives the same result as one by one.
        let mut late = Shard::new(cat.clone(), 0..n, Clock::RealTime, 0, 7);
        assert_eq!(late.apply_churn(&plan, 7), 70);
        let r = late.range();
        assert_eq!(
            send(&mut late, r, now + 1)
                .timeseries
                .iter()
                .map(key)
                .collect::<Vec<_>>(),
            before
        );
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
    fn split_and_batches_cover_every_id_once() {
        for (n, w, b, want_batch, want_workers) in [
            (10_000, 4, 2000, 2000, 4),
            (10_001, 4, 2000, 2000, 4),
            (7, 3, 2, 2, 3),
            (2, 4, 2000, 1, 2),
            (2_500, 4, 2000, 625, 4),
            (1, 1, 1, 1, 1),
        ] {
            let cat = catalog(n, Kind::Counter);
            let mut ids = Vec::new();
            let (batch, ranges) = split(n, w, b);
            assert_eq!(
                (batch, ranges.len()),
                (want_batch, want_workers),
                "{n} {w} {b}"
            );
            let mut per_worker = Vec::new();
            for r in ranges {
                let shard = Shard::new(cat.clone(), r, Clock::RealTime, 0, 1);
                let batches = shard.batches(batch);
                per_worker.push(batches.len());
                for ids_in_batch in batches {
                    // Only the last batch overall may be short.
                    assert!(ids_in_batch.len() == batch || ids_in_batch.end == n);
                    ids.extend(ids_in_batch);
                }
            }
            assert_eq!(ids, (0..n).collect::<Vec<_>>());
            let (min, max) = (
                per_worker.iter().min().unwrap(),
                per_worker.iter().max().unwrap(),
            );
            assert!(max - min <= 1, "{per_worker:?}");
        }
    }
}
