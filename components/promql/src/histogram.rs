//! `histogram_quantile`, `histogram_quantiles` and `histogram_fraction` over classic
//! (`le`-labelled) bucket series.

use std::collections::HashMap;

use cairn_model::{FloatHistogram, Labels, Sample, METRIC_NAME};
use promql_parser::parser::{Call, Expr};

use crate::error::{QueryError, Result};
use crate::eval::{dedup_merge, Evaluator, Series, StepCursor, Val};
use crate::mathx::{almost_equal, format_openmetrics_float};
use crate::native_histogram;

const BUCKET_LABEL: &str = "le";

#[derive(Debug, Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// Sorts by upper bound and merges buckets with the same bound; false when there is no
/// `+Inf` bucket (the result is then NaN).
fn sort_and_coalesce(buckets: &mut Vec<Bucket>) -> bool {
    buckets.sort_by(|a, b| {
        a.upper
            .partial_cmp(&b.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    match buckets.last() {
        Some(b) if b.upper == f64::INFINITY => {}
        _ => return false,
    }
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => merged.push(*b),
        }
    }
    *buckets = merged;
    true
}

/// Upstream's `ensureMonotonicAndIgnoreSmallDeltas`: numerically insignificant
/// differences are evened out silently; true when a real decrease had to be removed
/// (upstream reports that as an info annotation).
fn ensure_monotonic(buckets: &mut [Bucket]) -> bool {
    let mut forced = false;
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) {
            b.count = prev;
            continue;
        }
        if curr < prev {
            b.count = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    forced
}

/// Prometheus's `BucketQuantile` for classic buckets.
fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    if !sort_and_coalesce(buckets) {
        return (f64::NAN, false);
    }
    let forced = ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return (f64::NAN, forced);
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * observations;
    let n = buckets.len() - 1;
    let b = buckets[..n].partition_point(|b| b.count < rank);
    if b == n {
        return (buckets[n - 1].upper, forced);
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return (buckets[0].upper, forced);
    }
    let bucket_end = buckets[b].upper;
    let mut count = buckets[b].count;
    let mut bucket_start = 0.0;
    if b > 0 {
        bucket_start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (
        bucket_start + (bucket_end - bucket_start) * (rank / count),
        forced,
    )
}

/// Prometheus's `BucketFraction`: the estimated share of observations in
/// `[lower, upper]`, interpolating linearly inside buckets (never inside the infinite
/// ones).
fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if !sort_and_coalesce(buckets) {
        return f64::NAN;
    }
    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    // Only positive buckets: observations start at 0; otherwise at -Inf.
    let mut lower_bound = if buckets[0].upper <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].upper;
        }
        let upper_bound = b.upper;
        // An infinite-width bucket contributes nothing partial: below -Inf the whole
        // first bucket counts, and for +Inf the formula already yields the previous rank.
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                b.count
            } else {
                rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// The classic histograms of an instant vector: bucket series grouped by their labels
/// without `le`. The metric name stays in the group labels (delayed name removal), so
/// two histograms that differ only in name are computed apart and collide at the end.
struct Histograms {
    input: Vec<Series>,
    /// Per input series: (group, upper bound), or None when `le` is missing or invalid.
    of: Vec<Option<(usize, f64)>>,
    groups: Vec<Labels>,
}

impl Histograms {
    fn new(ev: &Evaluator<'_>, input: Vec<Series>) -> Self {
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut groups: Vec<Labels> = Vec::new();
        let mut of: Vec<Option<(usize, f64)>> = Vec::with_capacity(input.len());
        for s in &input {
            if s.points.is_empty() {
                // Native histograms only: no classic bucket here.
                of.push(None);
                continue;
            }
            let upper = s.labels.get(BUCKET_LABEL).and_then(parse_go_float);
            let Some(upper) = upper else {
                ev.warn(format!(
                    "PromQL warning: bucket label \"le\" is missing or has a malformed value of {:?} for metric name {:?}",
                    s.labels.get(BUCKET_LABEL).unwrap_or(""),
                    s.labels.get(METRIC_NAME).unwrap_or("")
                ));
                of.push(None);
                continue;
            };
            let key = s.labels.without(&[BUCKET_LABEL]);
            let next = groups.len();
            let g = *index.entry(key.clone()).or_insert(next);
            if g == next {
                groups.push(key);
            }
            of.push(Some((g, upper)));
        }
        Self { input, of, groups }
    }

    /// Calls `f(step, group, buckets)` for every group with buckets at the step.
    fn for_each_step(
        &self,
        ev: &Evaluator<'_>,
        mut f: impl FnMut(usize, usize, &mut Vec<Bucket>),
    ) -> Result<()> {
        let mut buckets: Vec<Vec<Bucket>> = vec![Vec::new(); self.groups.len()];
        let mut cur = StepCursor::new(&self.input);
        let mut at = Vec::new();
        for step in 0..ev.num_steps() {
            ev.limits.tick()?;
            cur.at(ev.ts(step), &mut at);
            for &(i, v) in &at {
                if let Some((g, upper)) = self.of[i] {
                    buckets[g].push(Bucket { upper, count: v });
                }
            }
            for (g, b) in buckets.iter_mut().enumerate() {
                if !b.is_empty() {
                    f(step, g, b);
                    b.clear();
                }
            }
        }
        ev.limits.release(self.input.iter().map(Series::len).sum());
        Ok(())
    }

    /// Computes `f(step, histogram, metric name)` for every native-histogram point of
    /// the input and adds the results to `labels`/`out` (the output series, one per
    /// classic group so far). A native histogram with the labels of a classic group that
    /// has buckets at the same step is upstream's "mix of classic and native histograms":
    /// neither gives a result there.
    fn add_native(
        &self,
        ev: &Evaluator<'_>,
        labels: &mut Vec<Labels>,
        out: &mut Vec<Vec<Sample>>,
        mut f: impl FnMut(usize, &FloatHistogram, &str) -> f64,
    ) {
        let group_of: HashMap<&Labels, usize> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, l)| (l, i))
            .collect();
        for s in self.input.iter().filter(|s| !s.hpoints.is_empty()) {
            let metric = s.labels.get(METRIC_NAME).unwrap_or("");
            let classic = group_of.get(&s.labels).copied();
            let mut points = Vec::with_capacity(s.hpoints.len());
            for p in &s.hpoints {
                if let Some(g) = classic {
                    if let Ok(i) = out[g].binary_search_by_key(&p.t, |x| x.t) {
                        out[g].remove(i);
                        ev.warn(format!(
                            "PromQL warning: vector contains a mix of classic and native histograms for metric name {metric:?}"
                        ));
                        continue;
                    }
                }
                let step = ((p.t - ev.start) / ev.interval) as usize;
                points.push(Sample::new(p.t, f(step, &p.h, metric)));
            }
            labels.push(s.labels.clone());
            out.push(points);
        }
    }
}

/// Upstream's forced-monotonicity info. Like Cairn's other annotations it has the form
/// upstream gives without the query text (which its API adds with the bucket range, the
/// sample count and the position).
fn report_forced_monotonicity(ev: &Evaluator<'_>, group: &Labels) {
    let name = group.get(METRIC_NAME).unwrap_or("");
    let for_name = if name.is_empty() {
        String::new()
    } else {
        format!(" for metric name {name:?}")
    };
    ev.info(format!(
        "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile){for_name}"
    ));
}

fn warn_invalid_quantiles(ev: &Evaluator<'_>, qs: &[f64]) {
    if let Some(q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        ev.warn(format!(
            "PromQL warning: quantile value should be between 0 and 1, got {q}"
        ));
    }
}

/// The output series of a histogram function: one per (group, variant) with points, the
/// name marked for removal.
fn collect_output(
    ev: &Evaluator<'_>,
    labels: Vec<Labels>,
    points: Vec<Vec<Sample>>,
) -> Result<Val> {
    let mut result = Vec::new();
    for (labels, points) in labels.into_iter().zip(points) {
        if !points.is_empty() {
            ev.limits.add(points.len())?;
            result.push(Series {
                labels,
                points,
                hpoints: Vec::new(),
                drop_name: true,
            });
        }
    }
    // Distinct groups can end up with the same labels (histogram_quantiles overwriting a
    // grouping label with the quantile): that is upstream's duplicate-labelset error.
    Ok(Val::Vector(dedup_merge(result)?))
}

/// The quantile of a native histogram, with the annotations it raises.
fn native_quantile(ev: &Evaluator<'_>, q: f64, h: &FloatHistogram, metric: &str) -> f64 {
    let (v, note) = native_histogram::histogram_quantile(q, h);
    if let Some(note) = note {
        ev.note(note.message(metric));
    }
    v
}

/// Evaluates `histogram_quantile(q, buckets)`.
pub(crate) fn eval_histogram_quantile(ev: &Evaluator<'_>, call: &Call) -> Result<Val> {
    let (Some(qe), Some(ve)) = (call.args.args.first(), call.args.args.get(1)) else {
        return Err(QueryError::exec("histogram_quantile needs two arguments"));
    };
    let qs = ev.eval_scalar(qe)?;
    warn_invalid_quantiles(ev, &qs);
    let h = Histograms::new(ev, ev.eval_vector(ve)?);
    let mut out: Vec<Vec<Sample>> = vec![Vec::new(); h.groups.len()];
    h.for_each_step(ev, |step, g, b| {
        let (v, forced) = bucket_quantile(qs[step], b);
        if forced {
            report_forced_monotonicity(ev, &h.groups[g]);
        }
        out[g].push(Sample::new(ev.ts(step), v));
    })?;
    let mut labels = h.groups.clone();
    h.add_native(ev, &mut labels, &mut out, |step, hist, metric| {
        native_quantile(ev, qs[step], hist, metric)
    });
    collect_output(ev, labels, out)
}

/// Evaluates `histogram_quantiles(buckets, "label", q0, q1, ...)`: one series per
/// histogram and quantile, the quantile in the given label.
pub(crate) fn eval_histogram_quantiles(ev: &Evaluator<'_>, call: &Call) -> Result<Val> {
    let args: Vec<&Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    if args.len() < 3 {
        return Err(QueryError::exec(
            "histogram_quantiles needs at least three arguments",
        ));
    }
    let label = match ev.eval(args[1])? {
        Val::String(s) => s,
        other => {
            return Err(QueryError::exec(format!(
                "expected string argument 1 of histogram_quantiles, got {}",
                other.type_name()
            )))
        }
    };
    let qs = args[2..]
        .iter()
        .map(|e| ev.eval_scalar(e))
        .collect::<Result<Vec<_>>>()?;
    for q in &qs {
        warn_invalid_quantiles(ev, q);
    }
    let h = Histograms::new(ev, ev.eval_vector(args[0])?);
    // Per quantile argument, per classic group.
    let mut classic_out: Vec<Vec<Vec<Sample>>> = vec![vec![Vec::new(); h.groups.len()]; qs.len()];
    h.for_each_step(ev, |step, g, b| {
        for (qi, q) in qs.iter().enumerate() {
            let (v, forced) = bucket_quantile(q[step], b);
            if forced {
                report_forced_monotonicity(ev, &h.groups[g]);
            }
            classic_out[qi][g].push(Sample::new(ev.ts(step), v));
        }
    })?;
    let mut labels = Vec::new();
    let mut points = Vec::new();
    for (q, mut out) in qs.iter().zip(classic_out) {
        // Native histograms join the classic groups, each as a group of its own.
        let mut groups = h.groups.clone();
        h.add_native(ev, &mut groups, &mut out, |step, hist, metric| {
            native_quantile(ev, q[step], hist, metric)
        });
        for (group, pts) in groups.iter().zip(out) {
            // A quantile given by an expression can differ between steps; each value
            // gets its own series.
            let mut by_value: Vec<(String, Vec<Sample>)> = Vec::new();
            for p in pts {
                let step = ((p.t - ev.start) / ev.interval) as usize;
                let v = format_openmetrics_float(q[step]);
                match by_value.iter_mut().find(|e| e.0 == v) {
                    Some(e) => e.1.push(p),
                    None => by_value.push((v, vec![p])),
                }
            }
            for (v, pts) in by_value {
                let mut b = group.to_builder();
                b.set(label.clone(), v);
                labels.push(b.build());
                points.push(pts);
            }
        }
    }
    collect_output(ev, labels, points)
}

/// Evaluates `histogram_fraction(lower, upper, buckets)`.
pub(crate) fn eval_histogram_fraction(ev: &Evaluator<'_>, call: &Call) -> Result<Val> {
    let (Some(le), Some(ue), Some(ve)) = (
        call.args.args.first(),
        call.args.args.get(1),
        call.args.args.get(2),
    ) else {
        return Err(QueryError::exec("histogram_fraction needs three arguments"));
    };
    let lower = ev.eval_scalar(le)?;
    let upper = ev.eval_scalar(ue)?;
    let h = Histograms::new(ev, ev.eval_vector(ve)?);
    let mut out: Vec<Vec<Sample>> = vec![Vec::new(); h.groups.len()];
    h.for_each_step(ev, |step, g, b| {
        let v = bucket_fraction(lower[step], upper[step], b);
        out[g].push(Sample::new(ev.ts(step), v));
    })?;
    let mut labels = h.groups.clone();
    h.add_native(ev, &mut labels, &mut out, |step, hist, metric| {
        let (v, note) = native_histogram::histogram_fraction(lower[step], upper[step], hist);
        if let Some(note) = note {
            ev.note(note.message(metric));
        }
        v
    });
    collect_output(ev, labels, out)
}

/// Parses a float like Go's `strconv.ParseFloat` for the usual spellings (`+Inf`, `1e3`).
fn parse_go_float(s: &str) -> Option<f64> {
    s.trim_start_matches('+').parse::<f64>().ok().or_else(|| {
        match s.to_ascii_lowercase().as_str() {
            "+inf" | "inf" | "+infinity" | "infinity" => Some(f64::INFINITY),
            "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper, count)| Bucket { upper, count })
            .collect()
    }

    #[test]
    fn interpolates_within_bucket() {
        let mut bs = b(&[(0.1, 10.0), (0.5, 20.0), (f64::INFINITY, 20.0)]);
        // rank 10 → end of first bucket.
        assert_eq!(bucket_quantile(0.5, &mut bs).0, 0.1);
        let mut bs = b(&[(0.1, 10.0), (0.5, 20.0), (f64::INFINITY, 20.0)]);
        // rank 15 → halfway into (0.1, 0.5].
        assert!((bucket_quantile(0.75, &mut bs).0 - 0.3).abs() < 1e-12);
        // Highest bucket → upper bound of the second-highest.
        let mut bs = b(&[(0.1, 10.0), (0.5, 20.0), (f64::INFINITY, 30.0)]);
        assert_eq!(bucket_quantile(0.99, &mut bs).0, 0.5);
    }

    #[test]
    fn needs_inf_bucket() {
        let mut bs = b(&[(0.1, 10.0), (0.5, 20.0)]);
        assert!(bucket_quantile(0.5, &mut bs).0.is_nan());
    }

    #[test]
    fn parses_go_floats() {
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("0.5"), Some(0.5));
        assert_eq!(parse_go_float("1e3"), Some(1000.0));
        assert_eq!(parse_go_float("x"), None);
    }
}
