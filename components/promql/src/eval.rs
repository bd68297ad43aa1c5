//! The evaluator: walks the AST over a fixed set of steps with all selector data already
//! fetched. Every node evaluates to a [`Val`] covering all steps at once (like
//! Prometheus's range evaluation); per-step work happens inside the operators.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use cairn_model::histogram::CounterResetHint;
use cairn_model::{is_stale_nan, FloatHistogram, HistogramSample, Labels, Sample, METRIC_NAME};
use promql_parser::parser::{Expr, MatrixSelector, SubqueryExpr, VectorSelector};

use crate::error::{QueryError, Result};
use crate::plan::{at_ms, duration_ms, offset_ms, selector_key, subquery_window, TimeParams};
use crate::storage::{SampleIter, StorageSeries};

/// A selector's fetched series and the time range they were fetched for.
#[derive(Debug, Default)]
pub(crate) struct SelectorData {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) series: Vec<StorageSeries>,
}

/// A series of an instant vector evaluated over steps (points at step timestamps), or of
/// a range vector (raw sample timestamps).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) labels: Labels,
    /// Float points.
    pub(crate) points: Vec<Sample>,
    /// Native-histogram points (a step has a float or a histogram, never both).
    pub(crate) hpoints: Vec<HistogramSample>,
    /// Prometheus 3's delayed `__name__` removal: the series went through something that
    /// drops the metric name, but the name stays in `labels` (label functions and
    /// `by (__name__)` can still see it) until the end of the evaluation.
    pub(crate) drop_name: bool,
}

impl Series {
    /// Number of points, floats and histograms.
    pub(crate) fn len(&self) -> usize {
        self.points.len() + self.hpoints.len()
    }
}

/// The value of an AST node over all steps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    /// A string literal.
    String(String),
    /// An instant vector over the steps.
    Vector(Vec<Series>),
    /// A range vector (only at the top of an instant query).
    Matrix(Vec<Series>),
}

impl Val {
    pub(crate) fn num_points(&self) -> usize {
        match self {
            Self::Scalar(v) => v.len(),
            Self::String(_) => 0,
            Self::Vector(s) | Self::Matrix(s) => s.iter().map(Series::len).sum(),
        }
    }

    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Self::Scalar(_) => "scalar",
            Self::String(_) => "string",
            Self::Vector(_) => "instant vector",
            Self::Matrix(_) => "range vector",
        }
    }
}

/// One series' points of an instant selector: `(step ts, sample ts, value)` for float
/// steps, `(step ts, sample)` for histogram steps.
#[derive(Debug, Default)]
pub(crate) struct LookbackPoints {
    pub(crate) floats: Vec<(i64, i64, f64)>,
    pub(crate) hists: Vec<(i64, HistogramSample)>,
}

impl LookbackPoints {
    pub(crate) fn len(&self) -> usize {
        self.floats.len() + self.hists.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The points as an instant-vector series.
    pub(crate) fn into_series(self, labels: Labels) -> Series {
        Series {
            labels,
            points: self
                .floats
                .into_iter()
                .map(|(ts, _, v)| Sample::new(ts, v))
                .collect(),
            hpoints: self
                .hists
                .into_iter()
                .map(|(ts, h)| HistogramSample { t: ts, h: h.h })
                .collect(),
            drop_name: false,
        }
    }
}

/// Sample limit, deadline and cancellation shared by one query's evaluation.
#[derive(Debug)]
pub(crate) struct Limits {
    pub(crate) max_samples: usize,
    pub(crate) current: Cell<usize>,
    pub(crate) deadline: Instant,
    pub(crate) cancel: Arc<AtomicBool>,
    checks: Cell<u32>,
}

impl Limits {
    pub(crate) fn new(max_samples: usize, deadline: Instant, cancel: Arc<AtomicBool>) -> Self {
        Self {
            max_samples,
            current: Cell::new(0),
            deadline,
            cancel,
            checks: Cell::new(0),
        }
    }

    /// Accounts for `n` more samples held in memory.
    pub(crate) fn add(&self, n: usize) -> Result<()> {
        let cur = self.current.get().saturating_add(n);
        if cur > self.max_samples {
            return Err(QueryError::TooManySamples);
        }
        self.current.set(cur);
        Ok(())
    }

    /// Whether `n` more samples would fit right now (for transient buffers).
    pub(crate) fn check_transient(&self, n: usize) -> Result<()> {
        if self.current.get().saturating_add(n) > self.max_samples {
            return Err(QueryError::TooManySamples);
        }
        Ok(())
    }

    /// Releases `n` samples.
    pub(crate) fn release(&self, n: usize) {
        self.current.set(self.current.get().saturating_sub(n));
    }

    /// Fails when the deadline passed or the query was canceled (cheap; call often).
    pub(crate) fn tick(&self) -> Result<()> {
        let c = self.checks.get().wrapping_add(1);
        self.checks.set(c);
        if c & 63 != 0 {
            return Ok(());
        }
        if self.cancel.load(Ordering::Relaxed) {
            return Err(QueryError::Canceled("query execution"));
        }
        if Instant::now() >= self.deadline {
            return Err(QueryError::Timeout("query execution"));
        }
        Ok(())
    }
}

/// Warnings and infos gathered during evaluation.
#[derive(Debug, Default)]
pub(crate) struct Annotations {
    pub(crate) warnings: Vec<String>,
    pub(crate) infos: Vec<String>,
}

/// A range-vector argument of a function: raw samples (staleness markers removed) plus
/// how to find each step's window `(ref - range, ref]`.
#[derive(Debug)]
pub(crate) struct RangeArg<'a> {
    pub(crate) source: RangeSource<'a>,
    pub(crate) range: i64,
    pub(crate) offset: i64,
    pub(crate) at: Option<i64>,
}

/// Where a range argument's series come from.
#[derive(Debug)]
pub(crate) enum RangeSource<'a> {
    /// A range selector: its fetched (possibly still encoded) data, decoded one series at
    /// a time by [`RangeArg::for_each_series`].
    Selector(&'a SelectorData),
    /// A subquery, already evaluated.
    Evaluated(Vec<Series>),
}

impl RangeArg<'_> {
    /// Number of series.
    pub(crate) fn len(&self) -> usize {
        match &self.source {
            RangeSource::Selector(d) => d.series.len(),
            RangeSource::Evaluated(s) => s.len(),
        }
    }

    /// Calls `f` with every series' labels, its delayed-name-removal mark and samples
    /// (without staleness markers), in
    /// order. Selector data is decoded into one reused buffer, so only the current
    /// series' samples are held, and they count against `max_samples` only meanwhile.
    pub(crate) fn for_each_series(
        &self,
        limits: &Limits,
        mut f: impl FnMut(&Labels, bool, &[Sample], &[HistogramSample]) -> Result<()>,
    ) -> Result<()> {
        match &self.source {
            RangeSource::Evaluated(series) => {
                for s in series {
                    f(&s.labels, s.drop_name, &s.points, &s.hpoints)?;
                }
            }
            RangeSource::Selector(data) => {
                let mut buf = Vec::new();
                for s in &data.series {
                    limits.tick()?;
                    s.decode_into(data.start, data.end, &mut buf)?;
                    buf.retain(|p| !is_stale_nan(p.v));
                    let mut hists =
                        std::borrow::Cow::Borrowed(s.histograms_in(data.start, data.end));
                    if hists.iter().any(HistogramSample::is_stale) {
                        hists.to_mut().retain(|h| !h.is_stale());
                    }
                    let n = buf.len() + hists.len();
                    limits.add(n)?;
                    let r = f(&s.labels, false, &buf, &hists);
                    limits.release(n);
                    r?;
                }
            }
        }
        Ok(())
    }

    /// The window `(lo, hi]` for evaluation time `ts`.
    pub(crate) fn window(&self, ts: i64) -> (i64, i64) {
        let r = self.at.unwrap_or(ts).saturating_sub(self.offset);
        (r.saturating_sub(self.range), r)
    }
}

/// The points with `lo < t <= hi`.
pub(crate) fn window_slice(points: &[Sample], lo: i64, hi: i64) -> &[Sample] {
    window_slice_by(points, |p| p.t, lo, hi)
}

/// The items with `lo < t(item) <= hi` of a slice sorted by `t`.
pub(crate) fn window_slice_by<T>(items: &[T], t: impl Fn(&T) -> i64, lo: i64, hi: i64) -> &[T] {
    let a = items.partition_point(|p| t(p) <= lo);
    let b = items.partition_point(|p| t(p) <= hi);
    &items[a..b.max(a)]
}

/// The evaluator for one set of steps (the query's, or a subquery's).
#[derive(Debug)]
pub(crate) struct Evaluator<'a> {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) interval: i64,
    pub(crate) tp: TimeParams,
    pub(crate) data: &'a HashMap<usize, SelectorData>,
    pub(crate) limits: &'a Limits,
    pub(crate) annotations: &'a RefCell<Annotations>,
}

impl<'a> Evaluator<'a> {
    /// Number of steps.
    pub(crate) fn num_steps(&self) -> usize {
        usize::try_from(self.end.saturating_sub(self.start) / self.interval + 1).unwrap_or(0)
    }

    /// The timestamp of step `i`.
    pub(crate) fn ts(&self, i: usize) -> i64 {
        self.start + self.interval * i as i64
    }

    /// Whether this evaluates a single instant.
    pub(crate) fn is_instant(&self) -> bool {
        self.start == self.end
    }

    pub(crate) fn warn(&self, msg: impl Into<String>) {
        let msg = msg.into();
        let mut a = self.annotations.borrow_mut();
        if !a.warnings.contains(&msg) {
            a.warnings.push(msg);
        }
    }

    /// Records an annotation as a warning or an info by its `PromQL warning:`/`PromQL
    /// info:` prefix.
    pub(crate) fn note(&self, msg: String) {
        if msg.starts_with("PromQL info") {
            self.info(msg);
        } else {
            self.warn(msg);
        }
    }

    pub(crate) fn info(&self, msg: impl Into<String>) {
        let msg = msg.into();
        let mut a = self.annotations.borrow_mut();
        if !a.infos.contains(&msg) {
            a.infos.push(msg);
        }
    }

    /// Evaluates `expr` at every step.
    pub(crate) fn eval(&self, expr: &Expr) -> Result<Val> {
        self.limits.tick()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; self.num_steps()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => match self.eval(&u.expr)? {
                Val::Scalar(mut v) => {
                    v.iter_mut().for_each(|x| *x = -*x);
                    Ok(Val::Scalar(v))
                }
                Val::Vector(mut series) => {
                    for s in &mut series {
                        s.drop_name = true;
                        s.points.iter_mut().for_each(|p| p.v = -p.v);
                        // Negated histograms are gauges (`mul` sets the hint).
                        s.hpoints
                            .iter_mut()
                            .for_each(|p| Arc::make_mut(&mut p.h).mul(-1.0));
                    }
                    Ok(Val::Vector(series))
                }
                other => Err(QueryError::exec(format!(
                    "unary minus is not defined on {}",
                    other.type_name()
                ))),
            },
            Expr::VectorSelector(vs) => self.eval_vector_selector(vs).map(Val::Vector),
            Expr::MatrixSelector(ms) => {
                let arg = self.matrix_selector_arg(ms)?;
                self.range_arg_as_matrix(arg)
            }
            Expr::Subquery(sq) => {
                let arg = self.subquery_arg(sq)?;
                self.range_arg_as_matrix(arg)
            }
            Expr::Call(c) => crate::functions::eval_call(self, c),
            Expr::Aggregate(a) => crate::aggregations::eval_aggregate(self, a),
            Expr::Binary(b) => crate::binary::eval_binary(self, b),
            Expr::Extension(_) => Err(QueryError::exec("extension expressions are not supported")),
        }
    }

    /// Evaluates `expr`, requiring an instant vector.
    pub(crate) fn eval_vector(&self, expr: &Expr) -> Result<Vec<Series>> {
        match self.eval(expr)? {
            Val::Vector(v) => Ok(v),
            other => Err(QueryError::exec(format!(
                "expected instant vector, got {}",
                other.type_name()
            ))),
        }
    }

    /// Evaluates instant-vector `expr` and hands its series to `f` one at a time, each
    /// counting against `max_samples` until `f` returns. Plain selectors and range
    /// functions over a selector stream: a series is decoded, computed, handed over and
    /// dropped before the next, so the whole vector is never held. Anything else is
    /// evaluated whole first.
    pub(crate) fn eval_vector_each(
        &self,
        expr: &Expr,
        f: &mut dyn FnMut(Series) -> Result<()>,
    ) -> Result<()> {
        let mut hand_over = |s: Series| {
            let n = s.points.len();
            let r = f(s);
            self.limits.release(n);
            r
        };
        match expr {
            Expr::Paren(p) => return self.eval_vector_each(&p.expr, f),
            Expr::Call(c) if crate::functions::streams(c) => {
                return crate::functions::range_call_each(self, c, &mut hand_over);
            }
            Expr::VectorSelector(vs) => {
                let off = offset_ms(vs.offset.as_ref());
                let at = at_ms(vs.at.as_ref(), self.tp.query_start, self.tp.query_end);
                return self.for_each_selected(vs, |labels, samples, hists| {
                    let pts = self.lookback_points(samples, hists, off, at, self.tp.lookback)?;
                    if pts.is_empty() {
                        return Ok(());
                    }
                    self.limits.add(pts.len())?;
                    hand_over(pts.into_series(labels.clone()))
                });
            }
            _ => {}
        }
        for s in self.eval_vector(expr)? {
            hand_over(s)?;
        }
        Ok(())
    }

    /// Evaluates `expr`, requiring a scalar (one value per step).
    pub(crate) fn eval_scalar(&self, expr: &Expr) -> Result<Vec<f64>> {
        match self.eval(expr)? {
            Val::Scalar(v) => Ok(v),
            other => Err(QueryError::exec(format!(
                "expected scalar, got {}",
                other.type_name()
            ))),
        }
    }

    /// A range selector or subquery at the top of an instant query: the raw window.
    fn range_arg_as_matrix(&self, arg: RangeArg<'_>) -> Result<Val> {
        if !self.is_instant() {
            return Err(QueryError::exec(
                "range vectors can only be evaluated in instant queries",
            ));
        }
        let (lo, hi) = arg.window(self.start);
        let mut out = Vec::with_capacity(arg.len());
        arg.for_each_series(self.limits, |labels, drop_name, points, hists| {
            let pts = window_slice(points, lo, hi);
            let hpts = window_slice_by(hists, |h| h.t, lo, hi);
            if !pts.is_empty() || !hpts.is_empty() {
                self.limits.add(pts.len() + hpts.len())?;
                out.push(Series {
                    labels: labels.clone(),
                    points: pts.to_vec(),
                    hpoints: hpts.to_vec(),
                    drop_name,
                });
            }
            Ok(())
        })?;
        Ok(Val::Matrix(out))
    }

    /// The fetched series of a selector.
    fn selector_data(&self, vs: &VectorSelector) -> &'a SelectorData {
        static NONE: SelectorData = SelectorData {
            start: 0,
            end: 0,
            series: Vec::new(),
        };
        self.data.get(&selector_key(vs)).unwrap_or(&NONE)
    }

    /// An instant vector selector: per step, the newest sample in `(ref - lookback, ref]`
    /// unless it is a staleness marker.
    pub(crate) fn eval_vector_selector(&self, vs: &VectorSelector) -> Result<Vec<Series>> {
        Ok(self
            .vector_selector_points(vs)?
            .into_iter()
            .map(|(labels, pts)| pts.into_series(labels))
            .collect())
    }

    /// Per series, the points of each step with a value.
    pub(crate) fn vector_selector_points(
        &self,
        vs: &VectorSelector,
    ) -> Result<Vec<(Labels, LookbackPoints)>> {
        let off = offset_ms(vs.offset.as_ref());
        let at = at_ms(vs.at.as_ref(), self.tp.query_start, self.tp.query_end);
        let lookback = self.tp.lookback;
        let mut out = Vec::new();
        self.for_each_selected(vs, |labels, samples, hists| {
            let pts = self.lookback_points(samples, hists, off, at, lookback)?;
            if !pts.is_empty() {
                self.limits.add(pts.len())?;
                out.push((labels.clone(), pts));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` with each selected series' labels, a forward iterator over its float
    /// samples (staleness markers included), decoded as `f` reads them, and its
    /// histogram samples.
    fn for_each_selected(
        &self,
        vs: &VectorSelector,
        mut f: impl FnMut(&Labels, &mut SampleIter<'_>, &[HistogramSample]) -> Result<()>,
    ) -> Result<()> {
        let data = self.selector_data(vs);
        for s in &data.series {
            self.limits.tick()?;
            let mut it = s.samples(data.start, data.end);
            f(&s.labels, &mut it, s.histograms_in(data.start, data.end))?;
            it.finish()?;
        }
        Ok(())
    }

    /// One series' points for each step with a sample in the lookback window that is not
    /// a staleness marker. The reference time never decreases from step to step (`@`
    /// pins it), so one forward pass over the samples suffices and only the newest one
    /// read is held.
    fn lookback_points(
        &self,
        samples: &mut SampleIter<'_>,
        hists: &[HistogramSample],
        off: i64,
        at: Option<i64>,
        lookback: i64,
    ) -> Result<LookbackPoints> {
        let n = self.num_steps();
        let mut pts = LookbackPoints::default();
        let mut samples = samples.peekable();
        let mut last: Option<Sample> = None;
        let mut next_hist = 0;
        for i in 0..n {
            if i & 1023 == 1023 {
                self.limits.tick()?;
            }
            let ts = self.ts(i);
            let r = at.unwrap_or(ts).saturating_sub(off);
            while let Some(p) = samples.next_if(|p| p.t <= r) {
                last = Some(p);
            }
            while next_hist < hists.len() && hists[next_hist].t <= r {
                next_hist += 1;
            }
            let hist = next_hist.checked_sub(1).map(|j| &hists[j]);
            // The newer of the last float and the last histogram is the series' value.
            let newest_float = last.filter(|p| hist.is_none_or(|h| h.t < p.t));
            let fresh = |t: i64| t > r.saturating_sub(lookback);
            if let Some(p) = newest_float {
                if fresh(p.t) && !is_stale_nan(p.v) {
                    pts.floats.push((ts, p.t, p.v));
                }
            } else if let Some(h) = hist.filter(|h| fresh(h.t) && !h.is_stale()) {
                pts.hists.push((ts, h.clone()));
            }
        }
        Ok(pts)
    }

    /// Evaluates a function's range-vector argument (a range selector or a subquery,
    /// possibly in parentheses).
    pub(crate) fn range_arg(&self, expr: &Expr) -> Result<RangeArg<'a>> {
        match expr {
            Expr::Paren(p) => self.range_arg(&p.expr),
            Expr::MatrixSelector(ms) => self.matrix_selector_arg(ms),
            Expr::Subquery(sq) => self.subquery_arg(sq),
            other => Err(QueryError::exec(format!(
                "expected range vector, got {}",
                match other.value_type() {
                    promql_parser::parser::value::ValueType::Vector => "instant vector",
                    promql_parser::parser::value::ValueType::Scalar => "scalar",
                    promql_parser::parser::value::ValueType::String => "string",
                    promql_parser::parser::value::ValueType::Matrix => "range vector",
                }
            ))),
        }
    }

    fn matrix_selector_arg(&self, ms: &MatrixSelector) -> Result<RangeArg<'a>> {
        let vs = &ms.vs;
        Ok(RangeArg {
            source: RangeSource::Selector(self.selector_data(vs)),
            range: duration_ms(&ms.range),
            offset: offset_ms(vs.offset.as_ref()),
            at: at_ms(vs.at.as_ref(), self.tp.query_start, self.tp.query_end),
        })
    }

    fn subquery_arg(&self, sq: &SubqueryExpr) -> Result<RangeArg<'a>> {
        let w = subquery_window(sq, self.start, self.end, &self.tp);
        let inner = Evaluator {
            start: w.start,
            end: w.end,
            interval: w.step,
            tp: self.tp,
            data: self.data,
            limits: self.limits,
            annotations: self.annotations,
        };
        if inner.num_steps() > self.limits.max_samples {
            return Err(QueryError::TooManySamples);
        }
        let series = if inner.start > inner.end {
            Vec::new()
        } else {
            match inner.eval(&sq.expr)? {
                Val::Vector(mut v) => {
                    // As upstream: counter reset hints become unknown, since the steps
                    // may skip a reset or repeat one; resets are then detected from
                    // the buckets, as with floats.
                    for s in &mut v {
                        for p in &mut s.hpoints {
                            if matches!(
                                p.h.counter_reset_hint,
                                CounterResetHint::CounterReset | CounterResetHint::NotCounterReset
                            ) {
                                Arc::make_mut(&mut p.h).counter_reset_hint =
                                    CounterResetHint::Unknown;
                            }
                        }
                    }
                    v
                }
                Val::Scalar(v) => vec![Series {
                    labels: Labels::empty(),
                    points: v
                        .into_iter()
                        .enumerate()
                        .map(|(i, x)| Sample::new(inner.ts(i), x))
                        .collect(),
                    hpoints: Vec::new(),
                    drop_name: false,
                }],
                other => {
                    return Err(QueryError::exec(format!(
                        "subquery is only allowed on instant vector, got {}",
                        other.type_name()
                    )))
                }
            }
        };
        Ok(RangeArg {
            source: RangeSource::Evaluated(series),
            range: w.range,
            offset: w.offset,
            at: w.at,
        })
    }
}

/// The labels without `__name__`.
pub(crate) fn drop_name(labels: &Labels) -> Labels {
    if labels.get(METRIC_NAME).is_some() {
        labels.without(&[METRIC_NAME])
    } else {
        labels.clone()
    }
}

/// Ends delayed name removal at the top of the query: drops `__name__` from the series
/// marked for it and merges the series that now share a label set, failing like
/// upstream's `cleanupMetricLabels` when two of them have a point at the same step.
pub(crate) fn remove_pending_names(series: Vec<Series>) -> Result<Vec<Series>> {
    let series = series
        .into_iter()
        .map(|mut s| {
            if s.drop_name {
                s.labels = drop_name(&s.labels);
                s.drop_name = false;
            }
            s
        })
        .collect();
    dedup_merge(series)
}

/// Merges series with identical labels (e.g. after dropping `__name__`); fails like
/// Prometheus when two of them have a point at the same timestamp. Series whose names
/// are marked for removal stay apart from unmarked ones with the same labels (`m == 0 or
/// m * 0 + 2` gives `m{…}` and `{…}`, as without delayed removal); upstream merges them
/// into one series that keeps or loses the name as a whole.
pub(crate) fn dedup_merge(series: Vec<Series>) -> Result<Vec<Series>> {
    let mut index: HashMap<(Labels, bool), usize> = HashMap::with_capacity(series.len());
    let mut out: Vec<Series> = Vec::with_capacity(series.len());
    let mut merged = false;
    for s in series {
        let key = (s.labels.clone(), s.drop_name);
        match index.get(&key) {
            Some(&i) => {
                out[i].points.extend(s.points);
                out[i].hpoints.extend(s.hpoints);
                merged = true;
            }
            None => {
                index.insert(key, out.len());
                out.push(s);
            }
        }
    }
    if merged {
        for s in &mut out {
            s.points.sort_by_key(|p| p.t);
            s.hpoints.sort_by_key(|p| p.t);
            let collides = s.points.windows(2).any(|w| w[0].t == w[1].t)
                || s.hpoints.windows(2).any(|w| w[0].t == w[1].t)
                || s.hpoints
                    .iter()
                    .any(|h| s.points.binary_search_by_key(&h.t, |p| p.t).is_ok());
            if collides {
                return Err(QueryError::exec(
                    "vector cannot contain metrics with the same labelset",
                ));
            }
        }
    }
    Ok(out)
}

/// Walks instant-vector series step by step.
#[derive(Debug)]
pub(crate) struct StepCursor<'s> {
    series: &'s [Series],
    pos: Vec<usize>,
    hpos: Vec<usize>,
}

/// A point's value: a float or a native histogram.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PointValue<'a> {
    Float(f64),
    Hist(&'a Arc<FloatHistogram>),
}

impl<'s> StepCursor<'s> {
    pub(crate) fn new(series: &'s [Series]) -> Self {
        Self {
            series,
            pos: vec![0; series.len()],
            hpos: vec![0; series.len()],
        }
    }

    /// Fills `out` with `(series index, value)` of every series with a float or a
    /// histogram point at `ts`, in series order. Steps must be visited in increasing
    /// order, and a cursor used either with this or with [`StepCursor::at`].
    pub(crate) fn at_any(&mut self, ts: i64, out: &mut Vec<(usize, PointValue<'s>)>) {
        out.clear();
        for (i, s) in self.series.iter().enumerate() {
            let p = &mut self.pos[i];
            while *p < s.points.len() && s.points[*p].t < ts {
                *p += 1;
            }
            if *p < s.points.len() && s.points[*p].t == ts {
                out.push((i, PointValue::Float(s.points[*p].v)));
                *p += 1;
                continue;
            }
            let h = &mut self.hpos[i];
            while *h < s.hpoints.len() && s.hpoints[*h].t < ts {
                *h += 1;
            }
            if *h < s.hpoints.len() && s.hpoints[*h].t == ts {
                out.push((i, PointValue::Hist(&s.hpoints[*h].h)));
                *h += 1;
            }
        }
    }

    /// Fills `out` with `(series index, value)` of every series with a point at `ts`.
    /// Steps must be visited in increasing order.
    pub(crate) fn at(&mut self, ts: i64, out: &mut Vec<(usize, f64)>) {
        out.clear();
        for (i, s) in self.series.iter().enumerate() {
            let p = &mut self.pos[i];
            while *p < s.points.len() && s.points[*p].t < ts {
                *p += 1;
            }
            if *p < s.points.len() && s.points[*p].t == ts {
                out.push((i, s.points[*p].v));
                *p += 1;
            }
        }
    }
}
