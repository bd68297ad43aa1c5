//! The synthetic series: their label sets, values, timestamps and churn.
//!
//! The unit of generation is a *series id* `u` (0 ≤ u < ids). Id `u` belongs to metric
//! family `m = u mod metrics` and is one series for a counter or gauge, or a whole
//! classic histogram (`B + 1` bucket series, `_sum`, `_count`) for a histogram family,
//! so a histogram's series are always written together, with one timestamp and
//! consistent values. Its labels, sorted by name as remote write requires:
//!
//! ```text
//! __name__="loadgen_metric_<m>_total"          counter
//! __name__="loadgen_metric_<m>"                gauge
//! __name__="loadgen_metric_<m>_seconds_bucket" histogram (+ le="<bound>" | "+Inf"),
//!          "loadgen_metric_<m>_seconds_sum", "loadgen_metric_<m>_seconds_count"
//! cycle_id="<generation>"
//! label_<j>="value_<digit j of u / metrics>"   (mixed radix over --label-values)
//! series_id="<u>"
//! ```
//!
//! Churn bumps an id's `cycle_id`, which makes all of its series brand new. The ids are
//! split into one [`Shard`] per worker, so a series is only ever written by one worker
//! and its samples can never overtake each other on the wire.

use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;

use cairn_proto::prometheus::{Label, Sample, TimeSeries};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::args::{Kind, ShapeArgs};
use cairn_proto::wire::{put_bytes, put_label, put_sample, TAG_TIMESERIES};

/// Label names other than the extra `label_<j>` ones.
const METRIC_NAME: &str = "__name__";
const CYCLE_ID: &str = "cycle_id";
const SERIES_ID: &str = "series_id";
const LE: &str = "le";

/// Histogram observations are log-uniform in [`OBS_MIN`, `OBS_MIN * OBS_SPAN`] seconds.
const OBS_MIN: f64 = 0.001;
const OBS_SPAN: f64 = 20_000.0;

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// `_total`, only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Classic histogram: `_bucket{le}`, `_sum`, `_count`.
    Histogram,
}

#[derive(Debug)]
struct Family {
    /// The name queries use: the counter/gauge name, or the histogram's base name.
    name: String,
    kind: MetricType,
    /// Encoded `__name__` fields: one, or `_bucket`, `_sum`, `_count` for histograms.
    encoded_names: Vec<Vec<u8>>,
    /// Series per id.
    width: usize,
    /// Values kept per id (buckets incl. `+Inf`, then `_sum`, for histograms).
    values: usize,
    /// Where this family's values start within one cycle of `metrics` ids.
    value_offset: usize,
}

#[derive(Debug)]
struct ExtraLabel {
    name: String,
    cardinality: usize,
    /// Product of the cardinalities of the labels before it (by index, not name).
    divisor: usize,
    /// Encoded label fields, one per value.
    encoded: Vec<Vec<u8>>,
}

impl ExtraLabel {
    fn digit(&self, instance: usize) -> usize {
        instance / self.divisor % self.cardinality
    }
}

/// What every series looks like; shared read-only by all shards.
#[derive(Debug)]
pub struct Catalog {
    ids: usize,
    active_series: usize,
    families: Vec<Family>,
    /// Values per cycle of `metrics` ids.
    cycle_values: usize,
    /// Extra labels sorted by name.
    extra: Vec<ExtraLabel>,
    /// Finite bucket bounds, ascending.
    bounds: Vec<f64>,
    /// `le` values incl. `+Inf`, and their encoded fields.
    le_values: Vec<String>,
    encoded_le: Vec<Vec<u8>>,
}

impl Catalog {
    /// The layout `shape` describes (validated by the caller).
    pub fn new(shape: &ShapeArgs) -> Self {
        let metrics = shape.metrics.max(1);
        let buckets = shape.histogram_buckets.max(1);
        let bounds = bucket_bounds(buckets);
        let le_values: Vec<String> = bounds
            .iter()
            .map(|b| b.to_string())
            .chain(["+Inf".to_owned()])
            .collect();
        let encoded_le = le_values.iter().map(|v| encoded(LE, v)).collect();

        let mut families = Vec::with_capacity(metrics);
        let mut cycle_values = 0;
        for m in 0..metrics {
            let kind = metric_type(shape.kind, &shape.mix.0, m);
            let (name, wire_names) = match kind {
                MetricType::Counter => {
                    let n = format!("loadgen_metric_{m}_total");
                    (n.clone(), vec![n])
                }
                MetricType::Gauge => {
                    let n = format!("loadgen_metric_{m}");
                    (n.clone(), vec![n])
                }
                MetricType::Histogram => {
                    let n = format!("loadgen_metric_{m}_seconds");
                    let wire = ["_bucket", "_sum", "_count"].map(|s| format!("{n}{s}"));
                    (n, wire.to_vec())
                }
            };
            let (width, values) = match kind {
                MetricType::Histogram => (buckets + 3, buckets + 2),
                _ => (1, 1),
            };
            families.push(Family {
                name,
                kind,
                encoded_names: wire_names.iter().map(|n| encoded(METRIC_NAME, n)).collect(),
                width,
                values,
                value_offset: cycle_values,
            });
            cycle_values += values;
        }

        // As many whole ids as fit into `series` active series (at least one).
        let cycle_width: usize = families.iter().map(|f| f.width).sum();
        let full = shape.series / cycle_width;
        let mut ids = full * metrics;
        let mut active_series = full * cycle_width;
        for f in &families {
            if active_series + f.width > shape.series {
                break;
            }
            active_series += f.width;
            ids += 1;
        }
        if ids == 0 {
            ids = 1;
            active_series = families[0].width;
        }

        let mut divisor = 1usize;
        let mut extra: Vec<ExtraLabel> = (0..shape.labels)
            .map(|j| {
                let cardinality = shape.label_values.0.get(j).copied().unwrap_or(1).max(1);
                let name = format!("label_{j}");
                let label = ExtraLabel {
                    encoded: (0..cardinality)
                        .map(|k| encoded(&name, &format!("value_{k}")))
                        .collect(),
                    name,
                    cardinality,
                    divisor,
                };
                divisor = divisor.saturating_mul(cardinality);
                label
            })
            .collect();
        extra.sort_by(|a, b| a.name.cmp(&b.name));

        Self {
            ids,
            active_series,
            families,
            cycle_values,
            extra,
            bounds,
            le_values,
            encoded_le,
        }
    }

    /// Number of series ids.
    pub fn ids(&self) -> usize {
        self.ids
    }

    /// Number of series written per round (every bucket of a histogram counts).
    pub fn active_series(&self) -> usize {
        self.active_series
    }

    fn family(&self, id: usize) -> &Family {
        &self.families[id % self.families.len()]
    }

    /// Series of id `id`.
    pub fn width(&self, id: usize) -> usize {
        self.family(id).width
    }

    /// The type of id `id`'s metric.
    pub fn metric_type(&self, id: usize) -> MetricType {
        self.family(id).kind
    }

    /// Names (histograms: base names) of the metrics of type `kind` that have at least
    /// one series, in metric order.
    pub fn metric_names(&self, kind: MetricType) -> Vec<String> {
        self.families
            .iter()
            .take(self.ids)
            .filter(|f| f.kind == kind)
            .map(|f| f.name.clone())
            .collect()
    }

    /// Values `label_<j>` takes.
    pub fn label_values(&self, j: usize) -> Vec<String> {
        let name = format!("label_{j}");
        self.extra
            .iter()
            .find(|l| l.name == name)
            .map(|l| (0..l.cardinality).map(|k| format!("value_{k}")).collect())
            .unwrap_or_default()
    }

    fn value_offset(&self, id: usize) -> usize {
        id / self.families.len() * self.cycle_values + self.family(id).value_offset
    }

    /// The label sets of id `id` in churn generation `generation`, each sorted by name,
    /// in the order they are sent (histograms: buckets by `le`, `_sum`, `_count`).
    pub fn labels(&self, id: usize, generation: u64) -> Vec<Vec<Label>> {
        let family = self.family(id);
        let instance = id / self.families.len();
        let label = |n: &str, v: String| Label {
            name: n.to_owned(),
            value: v,
        };
        let base = |name: &str, le: Option<&str>| {
            let mut out = vec![
                label(METRIC_NAME, name.to_owned()),
                label(CYCLE_ID, generation.to_string()),
            ];
            out.extend(
                self.extra
                    .iter()
                    .map(|l| label(&l.name, format!("value_{}", l.digit(instance)))),
            );
            if let Some(le) = le {
                out.push(label(LE, le.to_owned()));
            }
            out.push(label(SERIES_ID, id.to_string()));
            out.sort_by(|a, b| a.name.cmp(&b.name));
            out
        };
        match family.kind {
            MetricType::Counter | MetricType::Gauge => vec![base(&family.name, None)],
            MetricType::Histogram => {
                let mut out: Vec<Vec<Label>> = self
                    .le_values
                    .iter()
                    .map(|le| base(&format!("{}_bucket", family.name), Some(le)))
                    .collect();
                out.push(base(&format!("{}_sum", family.name), None));
                out.push(base(&format!("{}_count", family.name), None));
                out
            }
        }
    }
}

fn encoded(name: &str, value: &str) -> Vec<u8> {
    let mut b = Vec::new();
    put_label(name, value, &mut b);
    b
}

fn metric_type(kind: Kind, mix: &[usize], m: usize) -> MetricType {
    match kind {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
        Kind::Histogram => MetricType::Histogram,
        Kind::Mixed => {
            let w = |i: usize| mix.get(i).copied().unwrap_or(0);
            let p = m % (w(0) + w(1) + w(2)).max(1);
            if p < w(0) {
                MetricType::Counter
            } else if p < w(0) + w(1) {
                MetricType::Gauge
            } else {
                MetricType::Histogram
            }
        }
    }
}

/// Prometheus' default buckets (0.005 … 10: 1, 2.5, 5 times powers of ten), continued
/// the same way, first `n`. Parsed from decimal text so they print as written.
pub fn bucket_bounds(n: usize) -> Vec<f64> {
    (-3i32..)
        .flat_map(|e| ["1", "2.5", "5"].map(move |m| format!("{m}e{e}")))
        .skip(2)
        .take(n)
        .map(|s| s.parse().unwrap_or(f64::MAX))
        .collect()
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
/// Default synthetic time per flood round (`--flood-step`).
pub const FLOOD_STEP_MS: i64 = 1000;
/// Flood timestamps never pass now + 5 min (Cairn refuses now + 10 min by default).
pub const FLOOD_MAX_AHEAD_MS: i64 = 5 * 60 * 1000;

impl Clock {
    /// The flood-mode clock advancing `step_ms` per round.
    pub fn flood(step_ms: i64) -> Self {
        Self::Synthetic {
            step_ms: step_ms.max(1),
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

/// Which ids churn event `epoch` (1-based) replaces: `k` consecutive ids (wrapping)
/// starting where the previous event stopped, so repeated churn walks over all ids.
#[derive(Debug, Clone, Copy)]
pub struct ChurnPlan {
    ids: usize,
    per_event: usize,
}

impl ChurnPlan {
    /// Replaces `fraction` of `ids` per event (at least one).
    pub fn new(ids: usize, fraction: f64) -> Self {
        let per_event = ((ids as f64 * fraction).round() as usize).clamp(1, ids.max(1));
        Self { ids, per_event }
    }

    /// Ids replaced per event.
    pub fn per_event(&self) -> usize {
        self.per_event
    }

    fn ids(&self, epoch: u64) -> impl Iterator<Item = usize> + '_ {
        let n = self.ids as u64;
        // (epoch - 1) * k mod n, reduced first so huge epochs cannot overflow.
        let start = ((epoch - 1) % n) * (self.per_event as u64 % n) % n;
        (0..self.per_event as u64).map(move |j| ((start + j) % n) as usize)
    }
}

/// Consecutive ids sent in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The ids.
    pub ids: Range<usize>,
    /// Series (= samples) in the request.
    pub samples: usize,
}

/// One worker's ids and requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardPlan {
    /// The ids the worker owns.
    pub ids: Range<usize>,
    /// Its requests, in order.
    pub batches: Vec<Batch>,
}

/// How the ids are cut into requests and dealt out to workers.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Samples per request actually aimed for.
    pub batch_size: usize,
    /// One entry per worker that has anything to do.
    pub shards: Vec<ShardPlan>,
}

impl Plan {
    /// Batches are filled greedily with whole ids up to `batch_size` samples (an id
    /// wider than that goes alone), like a busy Prometheus sends, and consecutive
    /// batches are dealt out as evenly as possible, so one worker may own one batch more
    /// than another. When there would be fewer batches than workers the batch size
    /// shrinks to `ceil(active series / workers)` so every worker still has one.
    pub fn new(catalog: &Catalog, workers: usize, batch_size: usize) -> Self {
        let workers = workers.max(1);
        let batch = batch_size
            .max(1)
            .min(catalog.active_series().div_ceil(workers))
            .max(1);
        let mut batches = Vec::new();
        let (mut lo, mut samples) = (0, 0);
        for id in 0..catalog.ids() {
            let w = catalog.width(id);
            if samples > 0 && samples + w > batch {
                batches.push(Batch {
                    ids: lo..id,
                    samples,
                });
                (lo, samples) = (id, 0);
            }
            samples += w;
        }
        if samples > 0 {
            batches.push(Batch {
                ids: lo..catalog.ids(),
                samples,
            });
        }
        let n = batches.len();
        let shards = (0..workers)
            .map(|w| batches[n * w / workers..n * (w + 1) / workers].to_vec())
            .filter(|b| !b.is_empty())
            .map(|batches| ShardPlan {
                ids: batches[0].ids.start..batches[batches.len() - 1].ids.end,
                batches,
            })
            .collect();
        Self {
            batch_size: batch,
            shards,
        }
    }
}

#[derive(Debug, Clone)]
struct IdState {
    generation: u64,
    last_ts: i64,
}

/// One worker's series: its ids, their state, and reusable encoding buffers.
#[derive(Debug)]
pub struct Shard {
    catalog: Arc<Catalog>,
    plan: ShardPlan,
    state: Vec<IdState>,
    /// Every id's values, back to back (see [`Catalog::value_offset`]).
    values: Vec<f64>,
    base_offset: usize,
    clock: Clock,
    churn_epoch: u64,
    rng: StdRng,
    scratch: Vec<u8>,
    /// `cycle_id` and extra label fields of the id being encoded.
    common: Vec<u8>,
    /// `series_id` field of the id being encoded.
    sid: Vec<u8>,
    digits: String,
}

impl Shard {
    /// The ids of `plan`. With a synthetic clock the first round is stamped `start_ms`;
    /// with the real-time clock `start_ms` is unused.
    pub fn new(
        catalog: Arc<Catalog>,
        plan: ShardPlan,
        clock: Clock,
        start_ms: i64,
        seed: u64,
    ) -> Self {
        let ids = plan.ids.clone();
        let mut rng =
            StdRng::seed_from_u64(seed ^ (ids.start as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let first_last = match clock {
            Clock::RealTime => i64::MIN,
            Clock::Synthetic { step_ms, .. } => start_ms - step_ms,
        };
        let base_offset = catalog.value_offset(ids.start);
        let end_offset = if ids.is_empty() {
            base_offset
        } else {
            catalog.value_offset(ids.end - 1) + catalog.family(ids.end - 1).values
        };
        let mut values = vec![0.0; end_offset - base_offset];
        for id in ids.clone() {
            let off = catalog.value_offset(id) - base_offset;
            let f = catalog.family(id);
            reset(f.kind, &mut values[off..off + f.values], &mut rng);
        }
        Self {
            state: vec![
                IdState {
                    generation: 0,
                    last_ts: first_last,
                };
                ids.len()
            ],
            catalog,
            plan,
            values,
            base_offset,
            clock,
            churn_epoch: 0,
            rng,
            scratch: Vec::with_capacity(512),
            common: Vec::with_capacity(512),
            sid: Vec::with_capacity(32),
            digits: String::with_capacity(24),
        }
    }

    /// The ids this shard owns.
    pub fn ids(&self) -> Range<usize> {
        self.plan.ids.clone()
    }

    /// Its requests.
    pub fn batches(&self) -> &[Batch] {
        &self.plan.batches
    }

    /// Applies every churn event up to `epoch` not applied yet; returns how many of
    /// this shard's series were replaced.
    pub fn apply_churn(&mut self, plan: &ChurnPlan, epoch: u64) -> u64 {
        let mut replaced = 0;
        while self.churn_epoch < epoch {
            self.churn_epoch += 1;
            for id in plan.ids(self.churn_epoch) {
                if self.plan.ids.contains(&id) {
                    let f = self.catalog.family(id);
                    self.state[id - self.plan.ids.start].generation += 1;
                    let off = self.catalog.value_offset(id) - self.base_offset;
                    reset(f.kind, &mut self.values[off..off + f.values], &mut self.rng);
                    replaced += f.width as u64;
                }
            }
        }
        replaced
    }

    /// Advances every series of batch `batch` by one sample and writes them as a
    /// serialized `WriteRequest` into `out` (cleared first); returns the number of
    /// samples. `Err(ms)` if the clock allows no timestamp yet.
    pub fn encode_batch(
        &mut self,
        batch: usize,
        now_ms: i64,
        out: &mut Vec<u8>,
    ) -> Result<usize, u64> {
        let ids = self.plan.batches[batch].ids.clone();
        let start = self.plan.ids.start;
        let last = self.state[ids.start - start..ids.end - start]
            .iter()
            .map(|s| s.last_ts)
            .max()
            .unwrap_or(i64::MIN);
        let ts = self.clock.next(last, now_ms)?;
        out.clear();
        let catalog = self.catalog.clone();
        let buckets = catalog.bounds.len();
        let mut samples = 0;
        for id in ids {
            let f = catalog.family(id);
            let instance = id / catalog.families.len();
            let st = &mut self.state[id - start];
            st.last_ts = ts;
            let off = catalog.value_offset(id) - self.base_offset;
            let vals = &mut self.values[off..off + f.values];
            step(f.kind, vals, &catalog.bounds, &mut self.rng);

            self.common.clear();
            self.digits.clear();
            let _ = write!(self.digits, "{}", st.generation);
            put_label(CYCLE_ID, &self.digits, &mut self.common);
            for l in &catalog.extra {
                self.common.extend_from_slice(&l.encoded[l.digit(instance)]);
            }
            self.sid.clear();
            self.digits.clear();
            let _ = write!(self.digits, "{id}");
            put_label(SERIES_ID, &self.digits, &mut self.sid);

            let mut emit = |name: &[u8], le: Option<&[u8]>, v: f64| {
                self.scratch.clear();
                self.scratch.extend_from_slice(name);
                self.scratch.extend_from_slice(&self.common);
                if let Some(le) = le {
                    self.scratch.extend_from_slice(le);
                }
                self.scratch.extend_from_slice(&self.sid);
                put_sample(v, ts, &mut self.scratch);
                put_bytes(TAG_TIMESERIES, &self.scratch, out);
            };
            match f.kind {
                MetricType::Counter | MetricType::Gauge => emit(&f.encoded_names[0], None, vals[0]),
                MetricType::Histogram => {
                    for (b, le) in catalog.encoded_le.iter().enumerate() {
                        emit(&f.encoded_names[0], Some(le), vals[b]);
                    }
                    emit(&f.encoded_names[1], None, vals[buckets + 1]);
                    emit(&f.encoded_names[2], None, vals[buckets]);
                }
            }
            samples += f.width;
        }
        Ok(samples)
    }

    /// Batch `batch` as `prost` messages as last sent (or as initialised, before the
    /// first send), without advancing anything: tests and debugging.
    pub fn current(&self, batch: usize) -> Vec<TimeSeries> {
        let buckets = self.catalog.bounds.len();
        let mut out = Vec::new();
        for id in self.plan.batches[batch].ids.clone() {
            let st = &self.state[id - self.plan.ids.start];
            let f = self.catalog.family(id);
            let off = self.catalog.value_offset(id) - self.base_offset;
            let vals = &self.values[off..off + f.values];
            let values: Vec<f64> = match f.kind {
                MetricType::Counter | MetricType::Gauge => vec![vals[0]],
                MetricType::Histogram => vals[..=buckets]
                    .iter()
                    .copied()
                    .chain([vals[buckets + 1], vals[buckets]])
                    .collect(),
            };
            for (labels, value) in self
                .catalog
                .labels(id, st.generation)
                .into_iter()
                .zip(values)
            {
                out.push(TimeSeries {
                    labels,
                    samples: vec![Sample {
                        value,
                        timestamp: st.last_ts,
                    }],
                    ..Default::default()
                });
            }
        }
        out
    }
}

/// Initial values of a (new) id.
fn reset(kind: MetricType, vals: &mut [f64], rng: &mut StdRng) {
    match kind {
        MetricType::Gauge => vals[0] = f64::from(rng.gen_range(0..1000u32)),
        MetricType::Counter | MetricType::Histogram => vals.fill(0.0),
    }
}

/// One scrape's change. Histogram layout: cumulative buckets (last = `+Inf` = count),
/// then the sum.
fn step(kind: MetricType, vals: &mut [f64], bounds: &[f64], rng: &mut StdRng) {
    match kind {
        MetricType::Counter => vals[0] += f64::from(rng.gen_range(0..=10u32)),
        MetricType::Gauge => vals[0] += f64::from(rng.gen_range(-5..=5i32)),
        MetricType::Histogram => {
            let inf = bounds.len();
            for _ in 0..rng.gen_range(0..=10u32) {
                let v = OBS_MIN * OBS_SPAN.powf(rng.gen::<f64>());
                // Every bucket whose bound is ≥ v counts it (le is inclusive).
                let first = bounds.partition_point(|b| *b < v);
                for c in &mut vals[first..=inf] {
                    *c += 1.0;
                }
                vals[inf + 1] += v;
            }
        }
    }
}

#[cfg(test)]
#[path = "series_tests.rs"]
mod tests;
