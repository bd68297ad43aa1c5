//! Aggregation operators (`sum`, `avg`, `topk`, `count_values`, ...) evaluated step by
//! step with Prometheus's float arithmetic (Kahan summation, incremental mean, Go heaps).

use std::collections::HashMap;

use cairn_model::histogram::FloatHistogram;
use cairn_model::{HistogramSample, Labels, Sample, METRIC_NAME};
use promql_parser::parser::token::{
    T_AVG, T_BOTTOMK, T_COUNT, T_COUNT_VALUES, T_GROUP, T_LIMITK, T_LIMIT_RATIO, T_MAX, T_MIN,
    T_QUANTILE, T_STDDEV, T_STDVAR, T_SUM, T_TOPK,
};
use promql_parser::parser::{AggregateExpr, LabelModifier};

use crate::annotations as notes;
use crate::error::{QueryError, Result};
use crate::eval::{Evaluator, PointValue, Series, StepCursor, Val};
use crate::mathx::{format_float, kahan_sum_inc, quantile};
use crate::parse::{go_quote, has_invalid_bytes};
use crate::range_histograms::HistogramMean;

/// How series are grouped.
struct Grouping<'e> {
    names: Vec<&'e str>,
    without: bool,
}

impl Grouping<'_> {
    fn labels(&self, l: &Labels) -> Labels {
        if self.without {
            let mut names = self.names.clone();
            names.push(METRIC_NAME);
            l.without(&names)
        } else {
            l.keep_only(&self.names)
        }
    }
}

/// Per-group running state (Prometheus's `groupedAggregation`).
#[derive(Clone, Default)]
struct Group {
    seen: bool,
    value: f64,
    mean: f64,
    kahan_c: f64,
    count: f64,
    incremental: bool,
    values: Vec<f64>,
    /// `sum`/`avg` of native histograms (boxed: most groups never see one).
    hist: Option<Box<HistogramState>>,
    has_float: bool,
}

/// The native-histogram part of a `sum`/`avg` group.
#[derive(Clone, Default)]
struct HistogramState {
    /// The running sum or mean; None when a float came first (the group is then
    /// invalid anyway).
    acc: Option<HistogramMean>,
    incompatible: bool,
}

/// What a group gives at a step.
enum GroupValue {
    Float(f64),
    Hist(FloatHistogram),
    /// Nothing: mixed floats and histograms, or incompatible histograms.
    None,
}

/// The name of a float-only aggregation, for the "ignored histogram" info.
fn float_only_name(op: u16) -> Option<&'static str> {
    Some(match op {
        T_MIN => "min",
        T_MAX => "max",
        T_STDDEV => "stddev",
        T_STDVAR => "stdvar",
        T_QUANTILE => "quantile",
        _ => return None,
    })
}

impl Group {
    /// Folds histogram `h` into the group (upstream's `aggregation` for `H != nil`).
    fn observe_histogram(&mut self, ev: &Evaluator<'_>, op: u16, h: &FloatHistogram, metric: &str) {
        if let Some(name) = float_only_name(op) {
            // Ignored, and a group it would start stays unseen.
            ev.info(notes::histogram_ignored_in_aggregation(name));
            return;
        }
        let g = self;
        if !g.seen {
            *g = Group {
                seen: true,
                value: 1.0,
                count: 1.0,
                values: std::mem::take(&mut g.values),
                ..Group::default()
            };
            if matches!(op, T_SUM | T_AVG) {
                g.hist = Some(Box::new(HistogramState {
                    acc: Some(HistogramMean::new(h)),
                    incompatible: false,
                }));
            }
            return;
        }
        match op {
            T_COUNT => g.count += 1.0,
            T_SUM | T_AVG => {
                // A group that began with floats gets an empty state: it is mixed now.
                let st = g.hist.get_or_insert_with(Box::default);
                if st.incompatible {
                    return;
                }
                let Some(acc) = st.acc.as_mut() else {
                    return;
                };
                let r = if op == T_AVG {
                    acc.add_for_mean(h)
                } else {
                    acc.add_for_sum(h)
                };
                if r.is_err() {
                    ev.warn(notes::mixed_exponential_custom(metric));
                    st.incompatible = true;
                }
            }
            _ => {}
        }
    }

    /// The group's value at the step, histograms considered.
    fn finish(&mut self, ev: &Evaluator<'_>, op: u16, q: f64) -> GroupValue {
        let Some(st) = self.hist.take() else {
            return GroupValue::Float(self.result(op, q));
        };
        if !matches!(op, T_SUM | T_AVG) {
            return GroupValue::Float(self.result(op, q));
        }
        if self.has_float {
            ev.warn(notes::mixed_floats_histograms_aggregation());
            return GroupValue::None;
        }
        if st.incompatible {
            return GroupValue::None;
        }
        match st.acc.and_then(|acc| acc.finish(ev, op == T_AVG)) {
            Some(h) => GroupValue::Hist(h),
            None => GroupValue::None,
        }
    }

    /// Folds `f` into the group (the first value of a step starts it).
    fn observe(&mut self, op: u16, f: f64) {
        let g = self;
        if g.seen && matches!(op, T_SUM | T_AVG) {
            g.has_float = true;
            if g.hist.is_some() {
                // The group already holds histograms: mixed, so it has no value.
                return;
            }
        }
        if !g.seen {
            *g = Group {
                seen: true,
                value: f,
                mean: f,
                kahan_c: 0.0,
                count: 1.0,
                incremental: false,
                values: std::mem::take(&mut g.values),
                hist: None,
                has_float: true,
            };
            match op {
                T_STDVAR | T_STDDEV => {
                    g.value = if f.is_nan() || f.is_infinite() {
                        f64::NAN
                    } else {
                        0.0
                    };
                }
                T_QUANTILE => g.values.push(f),
                T_GROUP => g.value = 1.0,
                _ => {}
            }
            return;
        }
        match op {
            T_SUM => (g.value, g.kahan_c) = kahan_sum_inc(f, g.value, g.kahan_c),
            T_AVG => {
                g.count += 1.0;
                if !g.incremental {
                    let (nv, nc) = kahan_sum_inc(f, g.value, g.kahan_c);
                    if !nv.is_infinite() {
                        (g.value, g.kahan_c) = (nv, nc);
                        return;
                    }
                    g.incremental = true;
                    g.mean = g.value / (g.count - 1.0);
                    g.kahan_c /= g.count - 1.0;
                }
                let q = (g.count - 1.0) / g.count;
                (g.mean, g.kahan_c) = kahan_sum_inc(f / g.count, q * g.mean, q * g.kahan_c);
            }
            T_MAX if g.value < f || g.value.is_nan() => g.value = f,
            T_MIN if g.value > f || g.value.is_nan() => g.value = f,
            T_COUNT => g.count += 1.0,
            T_STDVAR | T_STDDEV => {
                g.count += 1.0;
                let delta = f - g.mean;
                g.mean += delta / g.count;
                g.value += delta * (f - g.mean);
            }
            T_QUANTILE => g.values.push(f),
            _ => {}
        }
    }

    /// The group's value for the step (`q` is `quantile`'s parameter).
    fn result(&mut self, op: u16, q: f64) -> f64 {
        let g = self;
        match op {
            T_AVG if g.incremental => g.mean + g.kahan_c,
            T_AVG => g.value / g.count + g.kahan_c / g.count,
            T_COUNT => g.count,
            T_STDVAR => g.value / g.count,
            T_STDDEV => (g.value / g.count).sqrt(),
            T_QUANTILE => quantile(q, &mut g.values),
            T_SUM => g.value + g.kahan_c,
            _ => g.value,
        }
    }
}

/// Evaluates an aggregation expression.
pub(crate) fn eval_aggregate(ev: &Evaluator<'_>, agg: &AggregateExpr) -> Result<Val> {
    let grouping = match &agg.modifier {
        None => Grouping {
            names: Vec::new(),
            without: false,
        },
        Some(m) => Grouping {
            names: m.labels().labels.iter().map(String::as_str).collect(),
            without: matches!(m, LabelModifier::Exclude(_)),
        },
    };
    let op = agg.op.id();
    if op == T_COUNT_VALUES {
        let label = match agg.param.as_deref().map(|p| ev.eval(p)).transpose()? {
            Some(Val::String(s)) => s,
            _ => return Err(QueryError::exec("count_values needs a string parameter")),
        };
        if label.is_empty() || has_invalid_bytes(&label) {
            return Err(QueryError::exec(format!(
                "invalid label name {}",
                go_quote(&label)
            )));
        }
        let input = ev.eval_vector(&agg.expr)?;
        return count_values(ev, &input, &grouping, &label);
    }
    let mut param = match (&agg.param, op) {
        (Some(p), T_TOPK | T_BOTTOMK | T_QUANTILE | T_LIMITK | T_LIMIT_RATIO) => {
            Some(ev.eval_scalar(p)?)
        }
        (None, T_TOPK | T_BOTTOMK | T_QUANTILE | T_LIMITK | T_LIMIT_RATIO) => {
            return Err(QueryError::exec(format!("{} needs a parameter", agg.op)))
        }
        (_, T_SUM | T_AVG | T_COUNT | T_MIN | T_MAX | T_GROUP | T_STDDEV | T_STDVAR) => None,
        _ => {
            return Err(QueryError::exec(format!(
                "aggregation {} is not supported yet",
                agg.op
            )))
        }
    };
    if let Some(p) = &mut param {
        if op == T_LIMIT_RATIO {
            for r in p.iter_mut() {
                if r.is_nan() {
                    return Err(QueryError::exec("Ratio value is NaN"));
                }
                if !(-1.0..=1.0).contains(r) {
                    let capped = r.clamp(-1.0, 1.0);
                    ev.warn(format!(
                        "PromQL warning: ratio value should be between -1 and 1, got {}, capping to {}",
                        format_float(*r),
                        format_float(capped)
                    ));
                    *r = capped;
                }
            }
        } else if op == T_TOPK || op == T_BOTTOMK || op == T_LIMITK {
            if p.iter().any(|k| k.is_nan()) {
                return Err(QueryError::exec("Parameter value is NaN"));
            }
            if let Some(k) = p
                .iter()
                .find(|k| **k >= 9.223_372_036_854_776e18 || **k < -9.223_372_036_854_776e18)
            {
                return Err(QueryError::exec(format!(
                    "Scalar value {k} overflows int64"
                )));
            }
        } else if let Some(q) = p.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            ev.warn(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {q}"
            ));
        }
    }
    if matches!(
        op,
        T_SUM | T_AVG | T_COUNT | T_MIN | T_MAX | T_GROUP | T_STDDEV | T_STDVAR
    ) {
        return streamed(ev, &agg.expr, &grouping, op).map(Val::Vector);
    }
    let input = ev.eval_vector(&agg.expr)?;
    // Group index of every input series, and each group's output labels.
    let mut group_of = Vec::with_capacity(input.len());
    let mut group_labels: Vec<Labels> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in &input {
        let key = grouping.labels(&s.labels);
        let next = group_labels.len();
        let g = *index.entry(key.clone()).or_insert(next);
        if g == next {
            group_labels.push(key);
        }
        group_of.push(g);
    }
    if let Some(name) = match op {
        T_TOPK => Some("topk"),
        T_BOTTOMK => Some("bottomk"),
        T_QUANTILE => Some("quantile"),
        _ => None,
    } {
        if input.iter().any(|s| !s.hpoints.is_empty()) {
            ev.info(notes::histogram_ignored_in_aggregation(name));
        }
    }
    let result = if op == T_LIMITK || op == T_LIMIT_RATIO {
        limit(
            ev,
            &input,
            &group_of,
            group_labels.len(),
            param.as_deref().unwrap_or(&[]),
            op == T_LIMIT_RATIO,
        )?
    } else if op == T_TOPK || op == T_BOTTOMK {
        top_k(
            ev,
            &input,
            &group_of,
            group_labels.len(),
            param.as_deref().unwrap_or(&[]),
            op == T_TOPK,
        )?
    } else {
        simple(ev, &input, &group_of, group_labels, op, param.as_deref())?
    };
    ev.limits.release(input.iter().map(Series::len).sum());
    Ok(Val::Vector(result))
}

fn simple(
    ev: &Evaluator<'_>,
    input: &[Series],
    group_of: &[usize],
    group_labels: Vec<Labels>,
    op: u16,
    param: Option<&[f64]>,
) -> Result<Vec<Series>> {
    let mut groups = vec![Group::default(); group_labels.len()];
    let mut out: Vec<Vec<Sample>> = vec![Vec::new(); group_labels.len()];
    // Delayed name removal: a group's result is marked when any of its inputs at the step
    // is; as upstream, the last step with a result decides for the whole series.
    let mut step_drop = vec![false; group_labels.len()];
    let mut out_drop = vec![false; group_labels.len()];
    let mut cur = StepCursor::new(input);
    let mut buf = Vec::new();
    for step in 0..ev.num_steps() {
        ev.limits.tick()?;
        let ts = ev.ts(step);
        cur.at(ts, &mut buf);
        groups.iter_mut().for_each(|g| {
            g.seen = false;
            g.values.clear();
        });
        step_drop.iter_mut().for_each(|d| *d = false);
        for &(si, f) in &buf {
            step_drop[group_of[si]] |= input[si].drop_name;
            groups[group_of[si]].observe(op, f);
        }
        for (gi, g) in groups.iter_mut().enumerate() {
            if !g.seen {
                continue;
            }
            let v = g.result(op, param.map_or(f64::NAN, |p| p[step]));
            out[gi].push(Sample::new(ts, v));
            out_drop[gi] = step_drop[gi];
        }
    }
    let mut result = Vec::with_capacity(out.len());
    for ((labels, points), drop_name) in group_labels.into_iter().zip(out).zip(out_drop) {
        if !points.is_empty() {
            ev.limits.add(points.len())?;
            result.push(Series {
                labels,
                points,
                hpoints: Vec::new(),
                drop_name,
            });
        }
    }
    Ok(result)
}

/// The aggregations that need no more than one running value per group and step, over
/// input series handed over one at a time: only the current input series and the
/// per-group state (the size of the output) are held. Each (group, step) sees its
/// values in input order, exactly as the step-by-step [`simple`] would.
fn streamed(
    ev: &Evaluator<'_>,
    expr: &promql_parser::parser::Expr,
    grouping: &Grouping<'_>,
    op: u16,
) -> Result<Vec<Series>> {
    let n = ev.num_steps();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut group_labels: Vec<Labels> = Vec::new();
    let mut state: Vec<Vec<Group>> = Vec::new();
    // Delayed name removal, as in `simple`: a (group, step) is marked when any input
    // there is, and the group's last step with a result decides for the series.
    let mut drops: Vec<Vec<bool>> = Vec::new();
    let result = ev.eval_vector_each(expr, &mut |s| {
        let key = grouping.labels(&s.labels);
        let g = match index.get(&key) {
            Some(&g) => g,
            None => {
                // The state is as large as the group's output can be.
                ev.limits.add(n)?;
                index.insert(key.clone(), group_labels.len());
                group_labels.push(key);
                state.push(vec![Group::default(); n]);
                drops.push(vec![false; n]);
                state.len() - 1
            }
        };
        let steps = &mut state[g];
        // A step has a float or a histogram; either way the series' points reach the
        // groups in input order, as upstream folds them.
        for p in &s.points {
            let i = ((p.t - ev.start) / ev.interval) as usize;
            steps[i].observe(op, p.v);
            drops[g][i] |= s.drop_name;
        }
        let metric = s.labels.get(METRIC_NAME).unwrap_or("");
        for p in &s.hpoints {
            let i = ((p.t - ev.start) / ev.interval) as usize;
            steps[i].observe_histogram(ev, op, &p.h, metric);
            if steps[i].seen {
                drops[g][i] |= s.drop_name;
            }
        }
        Ok(())
    });
    ev.limits.release(n * state.len());
    result?;
    let mut out = Vec::with_capacity(group_labels.len());
    for ((labels, mut steps), drop) in group_labels.into_iter().zip(state).zip(drops) {
        let drop_name = steps
            .iter()
            .zip(&drop)
            .rev()
            .find(|(g, _)| g.seen)
            .is_some_and(|(_, d)| *d);
        let mut points = Vec::new();
        let mut hpoints = Vec::new();
        for (i, g) in steps.iter_mut().enumerate().filter(|(_, g)| g.seen) {
            match g.finish(ev, op, f64::NAN) {
                GroupValue::Float(v) => points.push(Sample::new(ev.ts(i), v)),
                GroupValue::Hist(h) => hpoints.push(HistogramSample::new(ev.ts(i), h)),
                GroupValue::None => {}
            }
        }
        if !points.is_empty() || !hpoints.is_empty() {
            ev.limits.add(points.len() + hpoints.len())?;
            out.push(Series {
                labels,
                points,
                hpoints,
                drop_name,
            });
        }
    }
    Ok(out)
}

/// Go's `container/heap` over `(series index, value)` with a custom `less`.
struct GoHeap<F: Fn(f64, f64) -> bool> {
    items: Vec<(usize, f64)>,
    less: F,
}

impl<F: Fn(f64, f64) -> bool> GoHeap<F> {
    fn less(&self, i: usize, j: usize) -> bool {
        (self.less)(self.items[i].1, self.items[j].1)
    }

    fn push(&mut self, x: (usize, f64)) {
        self.items.push(x);
        self.up(self.items.len() - 1);
    }

    fn up(&mut self, mut j: usize) {
        while j > 0 {
            let i = (j - 1) / 2;
            if !self.less(j, i) {
                break;
            }
            self.items.swap(i, j);
            j = i;
        }
    }

    fn down(&mut self, i0: usize) -> bool {
        let n = self.items.len();
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            let j2 = j1 + 1;
            if j2 < n && self.less(j2, j1) {
                j = j2;
            }
            if !self.less(j, i) {
                break;
            }
            self.items.swap(i, j);
            i = j;
        }
        i > i0
    }

    fn fix(&mut self, i: usize) {
        if !self.down(i) {
            self.up(i);
        }
    }
}

fn top_k(
    ev: &Evaluator<'_>,
    input: &[Series],
    group_of: &[usize],
    num_groups: usize,
    ks: &[f64],
    top: bool,
) -> Result<Vec<Series>> {
    let less_top = |a: f64, b: f64| a.is_nan() || a < b;
    let less_bottom = |a: f64, b: f64| a.is_nan() || a > b;
    let less: &dyn Fn(f64, f64) -> bool = if top { &less_top } else { &less_bottom };
    let mut out_of: Vec<Option<usize>> = vec![None; input.len()];
    let mut out: Vec<Series> = Vec::new();
    let mut cur = StepCursor::new(input);
    let mut buf = Vec::new();
    for (step, k) in ks.iter().enumerate() {
        ev.limits.tick()?;
        let ts = ev.ts(step);
        cur.at(ts, &mut buf);
        let k = (*k as i64).min(input.len() as i64);
        if k < 1 {
            continue;
        }
        let k = k as usize;
        let mut heaps: Vec<GoHeap<&dyn Fn(f64, f64) -> bool>> = (0..num_groups)
            .map(|_| GoHeap {
                items: Vec::new(),
                less,
            })
            .collect();
        let mut order = Vec::new();
        for &(si, f) in &buf {
            let gi = group_of[si];
            let h = &mut heaps[gi];
            if h.items.is_empty() {
                order.push(gi);
            }
            if h.items.len() < k {
                h.push((si, f));
            } else {
                let top0 = h.items[0].1;
                let replace =
                    if top { top0 < f } else { top0 > f } || (top0.is_nan() && !f.is_nan());
                if replace {
                    h.items[0] = (si, f);
                    if k > 1 {
                        h.fix(0);
                    }
                }
            }
        }
        for gi in order {
            let mut items = std::mem::take(&mut heaps[gi].items);
            items.sort_by(|a, b| {
                use std::cmp::Ordering;
                match (a.1.is_nan(), b.1.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    _ if top => b.1.partial_cmp(&a.1).unwrap_or(Ordering::Equal),
                    _ => a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal),
                }
            });
            for (si, f) in items {
                let oi = *out_of[si].get_or_insert_with(|| {
                    out.push(Series {
                        labels: input[si].labels.clone(),
                        points: Vec::new(),
                        hpoints: Vec::new(),
                        drop_name: input[si].drop_name,
                    });
                    out.len() - 1
                });
                ev.limits.add(1)?;
                out[oi].points.push(Sample::new(ts, f));
            }
        }
    }
    Ok(out)
}

/// `limitk` (the first k series of each group, in input order) and `limit_ratio` (the
/// series whose label hash falls in the ratio's share of the hash space), per step.
fn limit(
    ev: &Evaluator<'_>,
    input: &[Series],
    group_of: &[usize],
    num_groups: usize,
    params: &[f64],
    ratio: bool,
) -> Result<Vec<Series>> {
    // Upstream's `AddRatioSample`: a series' place in [0, 1) is its label hash's.
    let offsets: Vec<f64> = if ratio {
        input
            .iter()
            .map(|s| crate::mathx::prometheus_labels_hash(&s.labels) as f64 / u64::MAX as f64)
            .collect()
    } else {
        Vec::new()
    };
    let mut out: Vec<Series> = input
        .iter()
        .map(|s| Series {
            labels: s.labels.clone(),
            points: Vec::new(),
            hpoints: Vec::new(),
            drop_name: s.drop_name,
        })
        .collect();
    let mut cur = StepCursor::new(input);
    let mut buf = Vec::new();
    let mut hpos = vec![0usize; input.len()];
    let mut present: Vec<(usize, Option<f64>)> = Vec::new();
    let mut taken = vec![0i64; num_groups];
    for (step, p) in params.iter().enumerate() {
        ev.limits.tick()?;
        let ts = ev.ts(step);
        cur.at(ts, &mut buf);
        // Floats and histograms at this step, in input order (histograms are kept too).
        present.clear();
        present.extend(buf.iter().map(|&(si, f)| (si, Some(f))));
        for (si, s) in input.iter().enumerate() {
            let hp = &mut hpos[si];
            while *hp < s.hpoints.len() && s.hpoints[*hp].t < ts {
                *hp += 1;
            }
            if *hp < s.hpoints.len() && s.hpoints[*hp].t == ts {
                present.push((si, None));
            }
        }
        present.sort_by_key(|&(si, _)| si);
        taken.iter_mut().for_each(|t| *t = 0);
        for &(si, f) in &present {
            let keep = if ratio {
                let off = offsets[si];
                (*p >= 0.0 && off < *p) || (*p < 0.0 && off >= 1.0 + *p)
            } else {
                let t = &mut taken[group_of[si]];
                *t += 1;
                *t <= *p as i64
            };
            if keep {
                ev.limits.add(1)?;
                match f {
                    Some(f) => out[si].points.push(Sample::new(ts, f)),
                    None => out[si].hpoints.push(input[si].hpoints[hpos[si]].clone()),
                }
            }
        }
    }
    out.retain(|s| s.len() > 0);
    Ok(out)
}

fn count_values(
    ev: &Evaluator<'_>,
    input: &[Series],
    grouping: &Grouping<'_>,
    label: &str,
) -> Result<Val> {
    let mut names = grouping.names.clone();
    if !grouping.without {
        names.push(label);
    }
    let g = Grouping {
        names,
        without: grouping.without,
    };
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut out: Vec<Series> = Vec::new();
    let mut cur = StepCursor::new(input);
    let mut buf = Vec::new();
    for step in 0..ev.num_steps() {
        ev.limits.tick()?;
        let ts = ev.ts(step);
        cur.at_any(ts, &mut buf);
        let mut counts: Vec<(usize, f64)> = Vec::new();
        for &(si, v) in &buf {
            let mut b = input[si].labels.to_builder();
            b.set(
                label,
                match v {
                    PointValue::Float(f) => format_float(f),
                    PointValue::Hist(h) => h.go_string(),
                },
            );
            let key = g.labels(&b.build());
            let next = out.len();
            let oi = *index.entry(key.clone()).or_insert(next);
            if oi == next {
                out.push(Series {
                    labels: key,
                    points: Vec::new(),
                    hpoints: Vec::new(),
                    drop_name: false,
                });
            }
            match counts.iter_mut().find(|c| c.0 == oi) {
                Some(c) => c.1 += 1.0,
                None => counts.push((oi, 1.0)),
            }
        }
        ev.limits.add(counts.len())?;
        for (oi, c) in counts {
            out[oi].points.push(Sample::new(ts, c));
        }
    }
    ev.limits.release(input.iter().map(Series::len).sum());
    Ok(Val::Vector(out))
}
