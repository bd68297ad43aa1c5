//! Binary operators: arithmetic, comparisons and set operators between scalars and
//! vectors, with Prometheus's vector matching (`on`/`ignoring`, `group_left/right`).

use std::collections::{HashMap, HashSet};

use cairn_model::histogram::{CounterResetHint, FloatHistogram};
use cairn_model::{HistogramSample, Labels, Sample, METRIC_NAME};
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use crate::annotations::{self as notes, HistogramOp};
use crate::error::{QueryError, Result};
use crate::eval::{dedup_merge, drop_name, Evaluator, PointValue, Series, StepCursor, Val};

/// Whether the operator's result loses the metric name.
fn drops_name(op: u16) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2)
}

fn is_comparison(op: u16) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Prometheus's `vectorElemBinop` for floats: (value, keep).
fn elem_binop(op: u16, l: f64, r: f64) -> Result<(f64, bool)> {
    Ok(match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (l.powf(r), true),
        T_MOD => (l % r, true),
        T_ATAN2 => (l.atan2(r), true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => return Err(QueryError::exec(format!("operator {op} not allowed here"))),
    })
}

/// The outcome of an operator on one pair where a histogram is involved (upstream's
/// `vectorElemBinop` with its `info`/`err` results).
struct HistogramBinop {
    /// The float (comparisons, `bool`) or histogram result, and whether it is kept.
    value: Option<FloatHistogram>,
    keep: bool,
    /// Annotation that drops the pair (upstream's `err`).
    err: Option<String>,
    /// Annotation that keeps it (upstream's `info`).
    info: Option<String>,
}

impl HistogramBinop {
    fn kept(h: FloatHistogram) -> Self {
        Self {
            value: Some(h),
            keep: true,
            err: None,
            info: None,
        }
    }

    /// `h` multiplied by `f` (divided by it with `divide`), compacted.
    fn scaled(h: &FloatHistogram, f: f64, divide: bool) -> Self {
        let mut h = h.clone();
        if divide {
            h.div(f);
        } else {
            h.mul(f);
        }
        h.compact(0);
        Self::kept(h)
    }

    fn incompatible(op: &str, l: &str, r: &str) -> Self {
        Self {
            value: None,
            keep: false,
            err: Some(notes::incompatible_types_in_binop(op, l, r)),
            info: None,
        }
    }
}

/// `l op r` where at least one side is a histogram.
fn histogram_binop(op: u16, op_name: &str, l: PointValue<'_>, r: PointValue<'_>) -> HistogramBinop {
    use PointValue::{Float, Hist};
    match (l, r) {
        (Float(f), Hist(h)) => match op {
            T_MUL => HistogramBinop::scaled(h, f, false),
            _ => HistogramBinop::incompatible(op_name, "float", "histogram"),
        },
        (Hist(h), Float(f)) => match op {
            T_MUL | T_DIV => HistogramBinop::scaled(h, f, op == T_DIV),
            _ => HistogramBinop::incompatible(op_name, "histogram", "float"),
        },
        (Hist(a), Hist(b)) => match op {
            T_ADD | T_SUB => {
                let mut h = (**a).clone();
                let (r, what) = if op == T_ADD {
                    (h.add(b), HistogramOp::Add)
                } else {
                    (h.sub(b), HistogramOp::Sub)
                };
                let outcome = match r {
                    Ok(o) => o,
                    Err(_) => {
                        return HistogramBinop {
                            value: None,
                            keep: false,
                            err: Some(notes::incompatible_bucket_layout_in_binop(op_name)),
                            info: None,
                        }
                    }
                };
                if op == T_SUB {
                    h.counter_reset_hint = CounterResetHint::Gauge;
                }
                h.compact(0);
                HistogramBinop {
                    value: Some(h),
                    keep: true,
                    err: outcome
                        .counter_reset_collision
                        .then(|| notes::counter_reset_collision(what)),
                    info: outcome
                        .nhcb_bounds_reconciled
                        .then(|| notes::mismatched_custom_buckets(what)),
                }
            }
            T_EQLC | T_NEQ => {
                let equal = a.equals(b);
                HistogramBinop {
                    value: Some((**a).clone()),
                    keep: equal == (op == T_EQLC),
                    err: None,
                    info: None,
                }
            }
            _ => HistogramBinop::incompatible(op_name, "histogram", "histogram"),
        },
        (Float(_), Float(_)) => unreachable!("float pairs are handled by elem_binop"),
    }
}

/// Prometheus's `labels.String()`: `{__name__="x", a="b"}`.
pub(crate) fn prom_labels_string(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Evaluates a binary expression.
pub(crate) fn eval_binary(ev: &Evaluator<'_>, b: &BinaryExpr) -> Result<Val> {
    let op = b.op.id();
    let op_name = b.op.to_string();
    let modifier = b.modifier.as_ref();
    let return_bool = modifier.is_some_and(|m| m.return_bool);
    let fill = modifier.map_or(Fill::default(), |m| Fill {
        lhs: m.fill_values.lhs,
        rhs: m.fill_values.rhs,
    });
    let lhs = ev.eval(&b.lhs)?;
    let rhs = ev.eval(&b.rhs)?;
    let consumed = lhs.num_points() + rhs.num_points();
    let result = match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => {
            let mut out = Vec::with_capacity(l.len());
            for (a, c) in l.into_iter().zip(r) {
                let (v, keep) = elem_binop(op, a, c)?;
                out.push(if is_comparison(op) {
                    f64::from(u8::from(keep))
                } else {
                    v
                });
            }
            Val::Scalar(out)
        }
        (Val::Vector(v), Val::Scalar(s)) => {
            vector_scalar(ev, op, &op_name, v, &s, false, return_bool)?
        }
        (Val::Scalar(s), Val::Vector(v)) => {
            vector_scalar(ev, op, &op_name, v, &s, true, return_bool)?
        }
        (Val::Vector(l), Val::Vector(r)) => {
            let (on, names): (bool, Vec<&str>) = match modifier.and_then(|m| m.matching.as_ref()) {
                Some(LabelModifier::Include(ls)) => {
                    (true, ls.labels.iter().map(String::as_str).collect())
                }
                Some(LabelModifier::Exclude(ls)) => {
                    (false, ls.labels.iter().map(String::as_str).collect())
                }
                None => (false, Vec::new()),
            };
            let matching = Matching {
                on,
                names,
                card: modifier.map_or(VectorMatchCardinality::OneToOne, |m| m.card.clone()),
            };
            let lsig: Vec<Labels> = l.iter().map(|s| matching.signature(&s.labels)).collect();
            let rsig: Vec<Labels> = r.iter().map(|s| matching.signature(&s.labels)).collect();
            match op {
                T_LAND | T_LOR | T_LUNLESS => set_op(ev, op, l, r, &lsig, &rsig)?,
                _ => vector_vector(
                    ev,
                    op,
                    &op_name,
                    &l,
                    &r,
                    &lsig,
                    &rsig,
                    &matching,
                    return_bool,
                    fill,
                )?,
            }
        }
        (l, r) => {
            return Err(QueryError::exec(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            l.type_name(),
            r.type_name()
        )))
        }
    };
    ev.limits.release(consumed);
    if let Val::Vector(v) = &result {
        ev.limits.add(v.iter().map(Series::len).sum())?;
    }
    Ok(result)
}

#[allow(clippy::too_many_arguments)]
fn vector_scalar(
    ev: &Evaluator<'_>,
    op: u16,
    op_name: &str,
    vector: Vec<Series>,
    scalar: &[f64],
    swap: bool,
    return_bool: bool,
) -> Result<Val> {
    let drop = drops_name(op) || return_bool;
    let mut out = Vec::with_capacity(vector.len());
    for s in vector {
        ev.limits.tick()?;
        let mut pts = Vec::with_capacity(s.points.len());
        for p in &s.points {
            let sv = scalar[((p.t - ev.start) / ev.interval) as usize];
            let (l, r) = if swap { (sv, p.v) } else { (p.v, sv) };
            let (mut v, mut keep) = elem_binop(op, l, r)?;
            if is_comparison(op) && swap {
                v = r;
            }
            if return_bool {
                v = f64::from(u8::from(keep));
                keep = true;
            }
            if keep {
                pts.push(Sample::new(p.t, v));
            }
        }
        let mut hpts = Vec::new();
        for p in &s.hpoints {
            let sv = PointValue::Float(scalar[((p.t - ev.start) / ev.interval) as usize]);
            let hv = PointValue::Hist(&p.h);
            let (l, r) = if swap { (sv, hv) } else { (hv, sv) };
            let res = histogram_binop(op, op_name, l, r);
            if let Some(e) = res.err {
                // Upstream keeps the result only when the problem is a mere warning.
                let warning = e.starts_with("PromQL warning");
                ev.note(e);
                if !warning {
                    continue;
                }
            }
            if let Some(i) = res.info {
                ev.note(i);
            }
            if return_bool {
                pts.push(Sample::new(p.t, f64::from(u8::from(res.keep))));
            } else if res.keep {
                if let Some(h) = res.value {
                    // A comparison keeps the vector's histogram even with the scalar first.
                    hpts.push(HistogramSample::new(p.t, h));
                }
            }
        }
        if !pts.is_empty() || !hpts.is_empty() {
            pts.sort_by_key(|p| p.t);
            out.push(Series {
                labels: s.labels,
                points: pts,
                hpoints: hpts,
                drop_name: drop || s.drop_name,
            });
        }
    }
    Ok(Val::Vector(out))
}

struct Matching<'e> {
    on: bool,
    names: Vec<&'e str>,
    card: VectorMatchCardinality,
}

impl Matching<'_> {
    fn signature(&self, l: &Labels) -> Labels {
        if self.on {
            l.keep_only(&self.names)
        } else {
            let mut names = self.names.clone();
            names.push(METRIC_NAME);
            l.without(&names)
        }
    }

    /// Prometheus's `resultMetric` with delayed name removal: arithmetic drops the name at
    /// once, `bool` comparisons only mark it for removal (see the caller).
    fn result_metric(&self, op: u16, lhs: &Labels, rhs: &Labels) -> Labels {
        let mut l = if drops_name(op) {
            drop_name(lhs)
        } else {
            lhs.clone()
        };
        if matches!(self.card, VectorMatchCardinality::OneToOne) {
            l = if self.on {
                l.keep_only(&self.names)
            } else {
                l.without(&self.names)
            };
        }
        let include = match &self.card {
            VectorMatchCardinality::ManyToOne(ls) | VectorMatchCardinality::OneToMany(ls) => {
                &ls.labels
            }
            _ => return l,
        };
        let mut b = l.to_builder();
        for name in include {
            match rhs.get(name) {
                Some(v) if !v.is_empty() => b.set(name.clone(), v),
                _ => b.del(name),
            };
        }
        b.build()
    }
}

/// The fill values of `fill`/`fill_left`/`fill_right` (upstream's `FillValues`): what a
/// side without a match contributes instead of dropping the other side's sample.
#[derive(Debug, Clone, Copy, Default)]
struct Fill {
    lhs: Option<f64>,
    rhs: Option<f64>,
}

/// One output point of a vector/vector operation: the output series' labels and mark,
/// the pair it came from (for caching) and the value.
type PairValue = Result<f64, FloatHistogram>;

#[allow(clippy::too_many_arguments)]
fn vector_vector(
    ev: &Evaluator<'_>,
    op: u16,
    op_name: &str,
    l: &[Series],
    r: &[Series],
    lsig: &[Labels],
    rsig: &[Labels],
    m: &Matching<'_>,
    return_bool: bool,
    fill: Fill,
) -> Result<Val> {
    if matches!(m.card, VectorMatchCardinality::ManyToMany) {
        return Err(QueryError::exec(
            "many-to-many only allowed for set operators",
        ));
    }
    let one_to_many = matches!(m.card, VectorMatchCardinality::OneToMany(_));
    // "many" side first, "one" side second; like upstream, the fill for a missing "one"
    // sample is the right-hand fill and for a missing "many" sample the left-hand one,
    // after this swap.
    let (many, one, many_sig, one_sig) = if one_to_many {
        (r, l, rsig, lsig)
    } else {
        (l, r, lsig, rsig)
    };
    // The labels a fill sample gets: the present sample's matching labels.
    let fill_labels = |labels: &Labels| -> Labels {
        if m.on {
            labels.keep_only(&m.names)
        } else {
            let mut names = m.names.clone();
            names.push(METRIC_NAME);
            labels.without(&names)
        }
    };
    let mut many_cur = StepCursor::new(many);
    let mut one_cur = StepCursor::new(one);
    let (mut many_at, mut one_at) = (Vec::new(), Vec::new());
    let mut out = Outputs {
        m,
        op,
        return_bool,
        by_pair: HashMap::new(),
        by_labels: HashMap::new(),
        series: Vec::new(),
    };
    let mut step_out: Vec<(usize, PairValue)> = Vec::new();
    // Per step: a many-side sample and its one-side match (None: filled in), index and
    // value of each.
    let mut pairs: Vec<(usize, Option<usize>, PointValue<'_>, PointValue<'_>)> = Vec::new();
    for step in 0..ev.num_steps() {
        ev.limits.tick()?;
        let ts = ev.ts(step);
        many_cur.at_any(ts, &mut many_at);
        one_cur.at_any(ts, &mut one_at);
        if many_at.is_empty() && one_at.is_empty() {
            continue;
        }
        if (many_at.is_empty() || one_at.is_empty()) && fill.lhs.is_none() && fill.rhs.is_none() {
            continue;
        }
        let mut one_sigs: HashMap<&Labels, (usize, PointValue<'_>)> =
            HashMap::with_capacity(one_at.len());
        for &(j, f) in &one_at {
            if let Some(&(prev, _)) = one_sigs.get(&one_sig[j]) {
                return Err(QueryError::exec(format!(
                    "found duplicate series for the match group {} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    prom_labels_string(&one_sig[j]),
                    if one_to_many { "left" } else { "right" },
                    prom_labels_string(&one[j].labels),
                    prom_labels_string(&one[prev].labels),
                )));
            }
            one_sigs.insert(&one_sig[j], (j, f));
        }
        let mut matched: HashMap<&Labels, HashSet<usize>> = HashMap::new();
        let mut one_to_one_seen: HashSet<&Labels> = HashSet::new();
        pairs.clear();
        for &(i, f) in &many_at {
            match one_sigs.get(&many_sig[i]) {
                Some(&(j, rf)) => pairs.push((i, Some(j), f, rf)),
                None => {
                    if let Some(v) = fill.rhs {
                        pairs.push((i, None, f, PointValue::Float(v)));
                    }
                }
            }
        }
        // One-side signatures that met a many-side sample: only a left-hand fill asks.
        let mut sig_matched: HashSet<&Labels> = HashSet::new();
        for &(i, j, f, rf) in &pairs {
            let sig = &many_sig[i];
            if j.is_some() && fill.lhs.is_some() {
                sig_matched.insert(sig);
            }
            if let Some(pv) = pair_value(ev, op, op_name, f, rf, one_to_many, return_bool) {
                let oi = out.index((Some(i), j), || {
                    let one_labels = match j {
                        Some(j) => one[j].labels.clone(),
                        None => fill_labels(&many[i].labels),
                    };
                    (many[i].labels.clone(), one_labels, many[i].drop_name)
                });
                record_match(m, sig, oi, &mut matched, &mut one_to_one_seen)?;
                step_out.push((oi, pv));
            } else if j.is_some() {
                // Duplicate matches are errors even when the comparison filters them out.
                record_match_only(m, sig, &mut one_to_one_seen)?;
            }
        }
        if let Some(v) = fill.lhs {
            for &(j, rf) in &one_at {
                if sig_matched.contains(&one_sig[j]) {
                    continue;
                }
                let fill = PointValue::Float(v);
                let Some(pv) = pair_value(ev, op, op_name, fill, rf, one_to_many, return_bool)
                else {
                    continue;
                };
                let oi = out.index((None, Some(j)), || {
                    (fill_labels(&one[j].labels), one[j].labels.clone(), false)
                });
                step_out.push((oi, pv));
            }
        }
        for (oi, v) in step_out.drain(..) {
            let s = &mut out.series[oi];
            if s.points.last().is_some_and(|p| p.t == ts)
                || s.hpoints.last().is_some_and(|p| p.t == ts)
            {
                return Err(QueryError::exec(
                    "vector cannot contain metrics with the same labelset",
                ));
            }
            match v {
                Ok(v) => s.points.push(Sample::new(ts, v)),
                Err(h) => s.hpoints.push(HistogramSample::new(ts, h)),
            }
        }
    }
    out.series.retain(|s| s.len() > 0);
    Ok(Val::Vector(out.series))
}

/// The value of one matched pair (`f` from the many side, `rf` from the one side), or
/// None when the pair gives no output.
fn pair_value(
    ev: &Evaluator<'_>,
    op: u16,
    op_name: &str,
    f: PointValue<'_>,
    rf: PointValue<'_>,
    one_to_many: bool,
    return_bool: bool,
) -> Option<PairValue> {
    let (fl, fr) = if one_to_many { (rf, f) } else { (f, rf) };
    match (fl, fr) {
        (PointValue::Float(a), PointValue::Float(b)) => {
            // elem_binop only fails for set operators, which never get here.
            let (v, keep) = elem_binop(op, a, b).ok()?;
            if return_bool {
                Some(Ok(f64::from(u8::from(keep))))
            } else {
                keep.then_some(Ok(v))
            }
        }
        (a, b) => {
            let res = histogram_binop(op, op_name, a, b);
            if let Some(e) = res.err {
                ev.note(e);
                return None;
            }
            if let Some(i) = res.info {
                ev.note(i);
            }
            if return_bool {
                Some(Ok(f64::from(u8::from(res.keep))))
            } else if !res.keep {
                None
            } else {
                res.value.map(Err)
            }
        }
    }
}

/// The output series of a vector/vector operation, found by the pair of input series
/// they come from or, on first sight, by their labels.
struct Outputs<'m, 'e> {
    m: &'m Matching<'e>,
    op: u16,
    return_bool: bool,
    /// Output index by (many index, one index); a fill stands in as usize::MAX.
    by_pair: HashMap<(usize, usize), usize>,
    by_labels: HashMap<(Labels, bool), usize>,
    series: Vec<Series>,
}

impl Outputs<'_, '_> {
    /// The output series of pair `key`, created with the labels of `sides()` (many-side
    /// labels, one-side labels, many-side mark) the first time.
    fn index(
        &mut self,
        key: (Option<usize>, Option<usize>),
        sides: impl FnOnce() -> (Labels, Labels, bool),
    ) -> usize {
        let key = (key.0.unwrap_or(usize::MAX), key.1.unwrap_or(usize::MAX));
        if let Some(&oi) = self.by_pair.get(&key) {
            return oi;
        }
        let (many_labels, one_labels, many_drop) = sides();
        let labels = self.m.result_metric(self.op, &many_labels, &one_labels);
        // Upstream marks only `bool` results; a filtering comparison also keeps the mark
        // of its input here, so that `rate(a[5m]) > rate(b[5m])` has no name, as without
        // delayed removal (upstream keeps `a`'s name).
        let drop = self.return_bool || (!drops_name(self.op) && many_drop);
        let next = self.series.len();
        let oi = *self.by_labels.entry((labels.clone(), drop)).or_insert(next);
        if oi == next {
            self.series.push(Series {
                labels,
                points: Vec::new(),
                hpoints: Vec::new(),
                drop_name: drop,
            });
        }
        self.by_pair.insert(key, oi);
        oi
    }
}

/// Upstream's checks that one-to-one matches are unique and many-to-one matches give
/// distinct output series.
fn record_match<'l>(
    m: &Matching<'_>,
    sig: &'l Labels,
    oi: usize,
    matched: &mut HashMap<&'l Labels, HashSet<usize>>,
    one_to_one_seen: &mut HashSet<&'l Labels>,
) -> Result<()> {
    if matches!(m.card, VectorMatchCardinality::OneToOne) {
        return record_match_only(m, sig, one_to_one_seen);
    }
    if !matched.entry(sig).or_default().insert(oi) {
        return Err(QueryError::exec(
            "multiple matches for labels: grouping labels must ensure unique matches",
        ));
    }
    Ok(())
}

fn record_match_only<'l>(
    m: &Matching<'_>,
    sig: &'l Labels,
    one_to_one_seen: &mut HashSet<&'l Labels>,
) -> Result<()> {
    if matches!(m.card, VectorMatchCardinality::OneToOne) && !one_to_one_seen.insert(sig) {
        return Err(QueryError::exec(
            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
        ));
    }
    Ok(())
}

fn set_op(
    ev: &Evaluator<'_>,
    op: u16,
    l: Vec<Series>,
    r: Vec<Series>,
    lsig: &[Labels],
    rsig: &[Labels],
) -> Result<Val> {
    // Which points of each side survive, as (series, step timestamp); the set operators
    // pass floats and histograms through alike.
    let mut keep_l: Vec<HashSet<i64>> = vec![HashSet::new(); l.len()];
    let mut keep_r: Vec<HashSet<i64>> = vec![HashSet::new(); r.len()];
    {
        let mut lcur = StepCursor::new(&l);
        let mut rcur = StepCursor::new(&r);
        let (mut lat, mut rat) = (Vec::new(), Vec::new());
        for step in 0..ev.num_steps() {
            ev.limits.tick()?;
            let ts = ev.ts(step);
            lcur.at_any(ts, &mut lat);
            rcur.at_any(ts, &mut rat);
            match op {
                T_LAND | T_LUNLESS => {
                    let sigs: HashSet<&Labels> = rat.iter().map(|(j, _)| &rsig[*j]).collect();
                    for &(i, _) in &lat {
                        if sigs.contains(&lsig[i]) == (op == T_LAND) {
                            keep_l[i].insert(ts);
                        }
                    }
                }
                _ => {
                    let sigs: HashSet<&Labels> = lat.iter().map(|(i, _)| &lsig[*i]).collect();
                    for &(i, _) in &lat {
                        keep_l[i].insert(ts);
                    }
                    for &(j, _) in &rat {
                        if !sigs.contains(&rsig[j]) {
                            keep_r[j].insert(ts);
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for (mut s, keep) in l.into_iter().zip(keep_l).chain(r.into_iter().zip(keep_r)) {
        if keep.is_empty() {
            continue;
        }
        s.points.retain(|p| keep.contains(&p.t));
        s.hpoints.retain(|p| keep.contains(&p.t));
        out.push(s);
    }
    Ok(Val::Vector(dedup_merge(out)?))
}
