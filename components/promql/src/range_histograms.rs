//! Range functions over windows that hold native histograms: `rate`/`increase`/`delta`
//! of histograms (upstream's `histogramRate` with the same extrapolation as floats),
//! `irate`/`idelta`, `sum_over_time`/`avg_over_time` of histograms, the functions that
//! count or pick samples of either kind, and the annotations for everything that mixes
//! floats and histograms or ignores histograms.
//!
//! ```text
//!  window (lo, hi] ─┬─ floats only ──────────▶ the float RangeFn (functions.rs)
//!                   └─ any histogram ─▶ histogram_window() ─▶ RangeOut::Float | Hist
//! ```

use cairn_model::histogram::{CounterResetHint, FloatHistogram, HistogramError};
use cairn_model::{HistogramSample, Sample};

use crate::annotations::{self as notes, HistogramOp};
use crate::eval::Evaluator;

/// A range function's value at one step.
#[derive(Debug)]
pub(crate) enum RangeOut {
    Float(f64),
    Hist(FloatHistogram),
}

/// `base += other`, turning failures and reconciliations into annotations; false when
/// the two cannot be added.
pub(crate) fn add_noting(
    ev: &Evaluator<'_>,
    base: &mut FloatHistogram,
    other: &FloatHistogram,
    metric: &str,
    op: HistogramOp,
) -> bool {
    match base.add(other) {
        Ok(outcome) => {
            if outcome.nhcb_bounds_reconciled {
                ev.info(notes::mismatched_custom_buckets(op));
            }
            true
        }
        Err(_) => {
            ev.warn(notes::mixed_exponential_custom(metric));
            false
        }
    }
}

/// `base -= other`, like [`add_noting`].
pub(crate) fn sub_noting(
    ev: &Evaluator<'_>,
    base: &mut FloatHistogram,
    other: &FloatHistogram,
    metric: &str,
) -> bool {
    match base.sub(other) {
        Ok(outcome) => {
            if outcome.nhcb_bounds_reconciled {
                ev.info(notes::mismatched_custom_buckets(HistogramOp::Sub));
            }
            true
        }
        Err(_) => {
            ev.warn(notes::mixed_exponential_custom(metric));
            false
        }
    }
}

/// The value of range function `name` over a window with at least one histogram
/// (`hw`) and maybe floats (`w`). `float_value` computes the float-only answer for the
/// functions that ignore histograms.
#[allow(clippy::too_many_arguments)]
pub(crate) fn histogram_window(
    ev: &Evaluator<'_>,
    name: &str,
    metric: &str,
    w: &[Sample],
    hw: &[HistogramSample],
    lo: i64,
    hi: i64,
    float_value: impl FnOnce(&[Sample]) -> Option<f64>,
) -> Option<RangeOut> {
    match name {
        "rate" | "increase" | "delta" => {
            if !w.is_empty() {
                ev.warn(notes::mixed_floats_histograms(metric));
                return None;
            }
            let is_counter = name != "delta";
            histogram_rate(ev, metric, hw, lo, hi, is_counter, name == "rate").map(RangeOut::Hist)
        }
        "irate" | "idelta" => instant_histogram_value(ev, metric, w, hw, name == "irate"),
        "sum_over_time" | "avg_over_time" => {
            if !w.is_empty() {
                ev.warn(notes::mixed_floats_histograms(metric));
                return None;
            }
            sum_histograms(ev, metric, hw, name == "avg_over_time").map(RangeOut::Hist)
        }
        "count_over_time" => Some(RangeOut::Float((w.len() + hw.len()) as f64)),
        "present_over_time" | "absent_over_time" => Some(RangeOut::Float(1.0)),
        "last_over_time" => {
            let h = hw.last()?;
            match w.last() {
                Some(f) if f.t > h.t => Some(RangeOut::Float(f.v)),
                _ => Some(RangeOut::Hist((*h.h).clone())),
            }
        }
        "first_over_time" => {
            let h = hw.first()?;
            match w.first() {
                Some(f) if f.t < h.t => Some(RangeOut::Float(f.v)),
                _ => Some(RangeOut::Hist((*h.h).clone())),
            }
        }
        "ts_of_last_over_time" => {
            let t = w.last().map_or(i64::MIN, |f| f.t).max(hw.last()?.t);
            Some(RangeOut::Float(t as f64 / 1000.0))
        }
        "ts_of_first_over_time" => {
            let t = w.first().map_or(i64::MAX, |f| f.t).min(hw.first()?.t);
            Some(RangeOut::Float(t as f64 / 1000.0))
        }
        "changes" | "resets" => Some(RangeOut::Float(changes_or_resets(w, hw, name == "resets"))),
        _ => {
            if w.is_empty() {
                return None;
            }
            ev.info(notes::histogram_ignored_in_mixed_range(metric));
            float_value(w).map(RangeOut::Float)
        }
    }
}

/// `changes` or `resets` over floats and histograms merged in time order; a switch
/// between a float and a histogram counts as both.
fn changes_or_resets(w: &[Sample], hw: &[HistogramSample], resets: bool) -> f64 {
    enum Point<'a> {
        F(f64),
        H(&'a FloatHistogram),
    }
    let (mut i, mut j) = (0, 0);
    let mut prev: Option<Point<'_>> = None;
    let mut n = 0u32;
    while i < w.len() || j < hw.len() {
        let cur = if j >= hw.len() || (i < w.len() && w[i].t < hw[j].t) {
            i += 1;
            Point::F(w[i - 1].v)
        } else {
            j += 1;
            Point::H(&hw[j - 1].h)
        };
        if let Some(p) = &prev {
            let counted = match (p, &cur) {
                (Point::F(a), Point::F(b)) if resets => b < a,
                (Point::F(a), Point::F(b)) => a != b && !(a.is_nan() && b.is_nan()),
                (Point::H(a), Point::H(b)) if resets => b.detect_reset(a),
                (Point::H(a), Point::H(b)) => !b.equals(a),
                _ => true,
            };
            n += u32::from(counted);
        }
        prev = Some(cur);
    }
    f64::from(n)
}

/// Upstream's `extrapolatedRate` for histogram windows.
fn histogram_rate(
    ev: &Evaluator<'_>,
    metric: &str,
    hw: &[HistogramSample],
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<FloatHistogram> {
    if hw.len() < 2 {
        return None;
    }
    let mut result = histogram_increase(ev, metric, hw, is_counter)?;
    let n1 = hw.len() - 1;
    let (first_t, last_t) = (hw[0].t, hw[n1].t);
    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let avg_between = sampled_interval / n1 as f64;
    let threshold = avg_between * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = avg_between / 2.0;
    }
    if is_counter && result.count > 0.0 && hw[0].h.count >= 0.0 {
        let duration_to_zero = sampled_interval * (hw[0].h.count / result.count);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = avg_between / 2.0;
    }
    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if is_rate {
        factor /= (range_end - range_start) as f64 / 1000.0;
    }
    result.mul(factor);
    Some(result)
}

/// Upstream's `histogramRate`: last minus first, plus the value before every counter
/// reset, in the smallest schema of the window.
fn histogram_increase(
    ev: &Evaluator<'_>,
    metric: &str,
    hw: &[HistogramSample],
    is_counter: bool,
) -> Option<FloatHistogram> {
    let gauge = |h: &FloatHistogram| h.counter_reset_hint == CounterResetHint::Gauge;
    let last = &hw[hw.len() - 1].h;
    let mut prev: FloatHistogram = (*hw[0].h).clone();
    if is_counter && (gauge(&prev) || gauge(last)) {
        ev.warn(notes::not_counter(metric));
    }
    // A reset between the first two samples makes the first irrelevant, and with it any
    // incompatibility of its bucket layout.
    if is_counter && hw[1].h.detect_reset(&prev) {
        prev = FloatHistogram {
            schema: hw[1].h.schema,
            custom_values: hw[1].h.custom_values.clone(),
            ..Default::default()
        };
    }
    let custom = prev.uses_custom_buckets();
    if last.uses_custom_buckets() != custom {
        ev.warn(notes::mixed_exponential_custom(metric));
        return None;
    }
    let mut min_schema = last.schema.min(prev.schema);
    // The samples between first and last matter only for a counter (upstream checks
    // them only then).
    let middle = if is_counter {
        &hw[1..hw.len() - 1]
    } else {
        &[]
    };
    for p in middle {
        if gauge(&p.h) {
            ev.warn(notes::not_counter(metric));
        }
        min_schema = min_schema.min(p.h.schema);
        if p.h.uses_custom_buckets() != custom {
            ev.warn(notes::mixed_exponential_custom(metric));
            return None;
        }
    }
    let mut h = last.copy_to_schema(min_schema);
    if !sub_noting(ev, &mut h, &prev, metric) {
        return None;
    }
    if is_counter {
        let mut before: &FloatHistogram = &prev;
        for p in &hw[1..] {
            if p.h.detect_reset(before) && !add_noting(ev, &mut h, before, metric, HistogramOp::Add)
            {
                return None;
            }
            before = &p.h;
        }
    } else if !gauge(&hw[0].h) || !gauge(last) {
        ev.warn(notes::not_gauge(metric));
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    h.compact(0);
    Some(h)
}

/// Upstream's `instantValue` (`irate`/`idelta`) when the window holds histograms.
fn instant_histogram_value(
    ev: &Evaluator<'_>,
    metric: &str,
    w: &[Sample],
    hw: &[HistogramSample],
    is_rate: bool,
) -> Option<RangeOut> {
    if w.len() + hw.len() < 2 {
        return None;
    }
    // The last two samples of either kind, oldest first.
    #[derive(Clone, Copy)]
    enum P<'a> {
        F(i64, f64),
        H(i64, &'a FloatHistogram),
    }
    let t = |p: &P<'_>| match p {
        P::F(t, _) | P::H(t, _) => *t,
    };
    let mut last_two: Vec<P<'_>> = w[w.len().saturating_sub(2)..]
        .iter()
        .map(|s| P::F(s.t, s.v))
        .chain(
            hw[hw.len().saturating_sub(2)..]
                .iter()
                .map(|s| P::H(s.t, &s.h)),
        )
        .collect();
    last_two.sort_by_key(t);
    let (older, newer) = (last_two[last_two.len() - 2], last_two[last_two.len() - 1]);
    let interval = t(&newer) - t(&older);
    if interval == 0 {
        return None;
    }
    match (older, newer) {
        (P::F(ta, a), P::F(tb, b)) => {
            crate::functions::instant_value(&[Sample::new(ta, a), Sample::new(tb, b)], is_rate)
                .map(RangeOut::Float)
        }
        (P::H(_, a), P::H(_, b)) => {
            let gauge = |h: &FloatHistogram| h.counter_reset_hint == CounterResetHint::Gauge;
            if is_rate && (gauge(a) || gauge(b)) {
                ev.warn(notes::not_counter(metric));
            }
            if !is_rate && (!gauge(a) || !gauge(b)) {
                ev.warn(notes::not_gauge(metric));
            }
            let mut h = b.clone();
            if (!is_rate || !b.detect_reset(a)) && !sub_noting(ev, &mut h, a, metric) {
                return None;
            }
            h.counter_reset_hint = CounterResetHint::Gauge;
            h.compact(0);
            if is_rate {
                h.div(interval as f64 / 1000.0);
            }
            Some(RangeOut::Hist(h))
        }
        _ => {
            ev.warn(notes::mixed_floats_histograms(metric));
            None
        }
    }
}

/// The Kahan sum of the window's histograms, or their mean (upstream's
/// `sum_over_time`/`avg_over_time`: a direct mean while the sum does not overflow, an
/// incremental one from then on).
fn sum_histograms(
    ev: &Evaluator<'_>,
    metric: &str,
    hw: &[HistogramSample],
    mean: bool,
) -> Option<FloatHistogram> {
    let mut acc = HistogramMean::new(&hw[0].h);
    for p in &hw[1..] {
        let r = if mean {
            acc.add_for_mean(&p.h)
        } else {
            acc.add_for_sum(&p.h)
        };
        if r.is_err() {
            ev.warn(notes::mixed_exponential_custom(metric));
            return None;
        }
    }
    acc.finish(ev, mean)
}

/// A running Kahan sum of histograms that can turn into a running mean (upstream's
/// `sum`/`avg` state for histograms, shared by the aggregations and `*_over_time`).
#[derive(Debug, Clone)]
pub(crate) struct HistogramMean {
    sum: FloatHistogram,
    comp: Option<FloatHistogram>,
    /// Set once the sum overflowed: from then on `sum` holds the mean.
    incremental: bool,
    count: f64,
    reset_seen: bool,
    not_reset_seen: bool,
    reconciled: bool,
}

impl HistogramMean {
    pub(crate) fn new(first: &FloatHistogram) -> Self {
        let mut m = Self {
            sum: first.clone(),
            comp: None,
            incremental: false,
            count: 1.0,
            reset_seen: false,
            not_reset_seen: false,
            reconciled: false,
        };
        m.track(first);
        m
    }

    fn track(&mut self, h: &FloatHistogram) {
        match h.counter_reset_hint {
            CounterResetHint::CounterReset => self.reset_seen = true,
            CounterResetHint::NotCounterReset => self.not_reset_seen = true,
            _ => {}
        }
    }

    /// Adds `h` to the sum.
    pub(crate) fn add_for_sum(&mut self, h: &FloatHistogram) -> Result<(), HistogramError> {
        self.track(h);
        self.count += 1.0;
        let (c, outcome) = self.sum.kahan_add(h, self.comp.take())?;
        self.comp = Some(c);
        self.reconciled |= outcome.nhcb_bounds_reconciled;
        Ok(())
    }

    /// Adds `h` for a mean: summed while the sum stays finite, then folded into an
    /// incremental mean.
    pub(crate) fn add_for_mean(&mut self, h: &FloatHistogram) -> Result<(), HistogramError> {
        self.track(h);
        self.count += 1.0;
        let count = self.count;
        if !self.incremental {
            let mut sum = self.sum.clone();
            let (c, outcome) = sum.kahan_add(h, self.comp.clone())?;
            self.reconciled |= outcome.nhcb_bounds_reconciled;
            if !sum.has_overflow() {
                self.sum = sum;
                self.comp = Some(c);
                return Ok(());
            }
            self.incremental = true;
            self.sum.div(count - 1.0);
            if let Some(c) = &mut self.comp {
                c.div(count - 1.0);
            }
        }
        let q = (count - 1.0) / count;
        if let Some(c) = &mut self.comp {
            c.mul(q);
        }
        let mut to_add = h.clone();
        to_add.div(count);
        self.sum.mul(q);
        let (c, outcome) = self.sum.kahan_add(&to_add, self.comp.take())?;
        self.comp = Some(c);
        self.reconciled |= outcome.nhcb_bounds_reconciled;
        Ok(())
    }

    /// The sum or mean, compacted, with the aggregation's annotations.
    pub(crate) fn finish(self, ev: &Evaluator<'_>, mean: bool) -> Option<FloatHistogram> {
        let Self {
            mut sum,
            mut comp,
            incremental,
            count,
            ..
        } = self;
        if mean && !incremental {
            sum.div(count);
            if let Some(c) = &mut comp {
                c.div(count);
            }
        }
        // Cannot fail: every addition before it succeeded.
        let _ = sum.kahan_finish(comp.as_ref());
        if self.reset_seen && self.not_reset_seen {
            ev.warn(notes::counter_reset_collision(HistogramOp::Agg));
        }
        if self.reconciled {
            ev.info(notes::mismatched_custom_buckets(HistogramOp::Agg));
        }
        sum.compact(0);
        Some(sum)
    }
}
