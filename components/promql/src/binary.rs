//! Binary operators: arithmetic, comparisons and set operators between scalars and
//! vectors, with Prometheus's vector matching (`on`/`ignoring`, `group_left/right`).

use std::collections::{HashMap, HashSet};

use cairn_model::{Labels, Sample, METRIC_NAME};
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_DIV, T_EQLC, T_GTE, T_GTR, T_LAND, T_LOR, T_LSS, T_LTE, T_LUNLESS, T_MOD,
    T_MUL, T_NEQ, T_POW, T_SUB,
};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use crate::error::{QueryError, Result};
use crate::eval::{dedup_merge, drop_name, Evaluator, Series, StepCursor, Val};

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
    let modifier = b.modifier.as_ref();
    let return_bool = modifier.is_some_and(|m| m.return_bool);
    if modifier.is_some_and(|m| m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some()) {
        return Err(QueryError::exec("fill modifiers are not supported yet"));
    }
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
        (Val::Vector(v), Val::Scalar(s)) => vector_scalar(ev, op, v, &s, false, return_bool)?,
        (Val::Scalar(s), Val::Vector(v)) => vector_scalar(ev, op, v, &s, true, return_bool)?,
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
                _ => vector_vector(ev, op, &l, &r, &lsig, &rsig, &matching, return_bool)?,
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
        ev.limits.add(v.iter().map(|s| s.points.len()).sum())?;
    }
    Ok(result)
}

fn vector_scalar(
    ev: &Evaluator<'_>,
    op: u16,
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
        if !pts.is_empty() {
            out.push(Series {
                labels: s.labels,
                points: pts,
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

#[allow(clippy::too_many_arguments)]
fn vector_vector(
    ev: &Evaluator<'_>,
    op: u16,
    l: &[Series],
    r: &[Series],
    lsig: &[Labels],
    rsig: &[Labels],
    m: &Matching<'_>,
    return_bool: bool,
) -> Result<Val> {
    if matches!(m.card, VectorMatchCardinality::ManyToMany) {
        return Err(QueryError::exec(
            "many-to-many only allowed for set operators",
        ));
    }
    let one_to_many = matches!(m.card, VectorMatchCardinality::OneToMany(_));
    // "many" side first, "one" side second.
    let (many, one, many_sig, one_sig) = if one_to_many {
        (r, l, rsig, lsig)
    } else {
        (l, r, lsig, rsig)
    };
    let mut many_cur = StepCursor::new(many);
    let mut one_cur = StepCursor::new(one);
    let (mut many_at, mut one_at) = (Vec::new(), Vec::new());
    let mut pair_out: HashMap<(usize, usize), usize> = HashMap::new();
    let mut out_index: HashMap<(Labels, bool), usize> = HashMap::new();
    let mut out: Vec<Series> = Vec::new();
    let mut step_out: Vec<(usize, f64)> = Vec::new();
    for step in 0..ev.num_steps() {
        ev.limits.tick()?;
        let ts = ev.ts(step);
        many_cur.at(ts, &mut many_at);
        one_cur.at(ts, &mut one_at);
        if many_at.is_empty() || one_at.is_empty() {
            continue;
        }
        let mut one_sigs: HashMap<&Labels, (usize, f64)> = HashMap::with_capacity(one_at.len());
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
        for &(i, f) in &many_at {
            let Some(&(j, rf)) = one_sigs.get(&many_sig[i]) else {
                continue;
            };
            // Duplicate matches are errors even when the comparison filters them out.
            if matches!(m.card, VectorMatchCardinality::OneToOne)
                && !one_to_one_seen.insert(&many_sig[i])
            {
                return Err(QueryError::exec(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
            let (fl, fr) = if one_to_many { (rf, f) } else { (f, rf) };
            let (mut v, keep) = elem_binop(op, fl, fr)?;
            if return_bool {
                v = f64::from(u8::from(keep));
            } else if !keep {
                continue;
            }
            let oi = match pair_out.get(&(i, j)) {
                Some(&oi) => oi,
                None => {
                    let labels = m.result_metric(op, &many[i].labels, &one[j].labels);
                    // Upstream marks only `bool` results; a filtering comparison also keeps
                    // the mark of its input here, so that `rate(a[5m]) > rate(b[5m])` has
                    // no name, as without delayed removal (upstream keeps `a`'s name).
                    let drop = return_bool || (!drops_name(op) && many[i].drop_name);
                    let next = out.len();
                    let oi = *out_index.entry((labels.clone(), drop)).or_insert(next);
                    if oi == next {
                        out.push(Series {
                            labels,
                            points: Vec::new(),
                            drop_name: drop,
                        });
                    }
                    pair_out.insert((i, j), oi);
                    oi
                }
            };
            if !matches!(m.card, VectorMatchCardinality::OneToOne)
                && !matched.entry(&many_sig[i]).or_default().insert(oi)
            {
                return Err(QueryError::exec(
                    "multiple matches for labels: grouping labels must ensure unique matches",
                ));
            }
            step_out.push((oi, v));
        }
        for (oi, v) in step_out.drain(..) {
            let s = &mut out[oi];
            if s.points.last().is_some_and(|p| p.t == ts) {
                return Err(QueryError::exec(
                    "vector cannot contain metrics with the same labelset",
                ));
            }
            s.points.push(Sample::new(ts, v));
        }
    }
    out.retain(|s| !s.points.is_empty());
    Ok(Val::Vector(out))
}

fn set_op(
    ev: &Evaluator<'_>,
    op: u16,
    l: Vec<Series>,
    r: Vec<Series>,
    lsig: &[Labels],
    rsig: &[Labels],
) -> Result<Val> {
    let mut lcur = StepCursor::new(&l);
    let mut rcur = StepCursor::new(&r);
    let (mut lat, mut rat) = (Vec::new(), Vec::new());
    let mut lpts: Vec<Vec<Sample>> = vec![Vec::new(); l.len()];
    let mut rpts: Vec<Vec<Sample>> = vec![Vec::new(); r.len()];
    for step in 0..ev.num_steps() {
        ev.limits.tick()?;
        let ts = ev.ts(step);
        lcur.at(ts, &mut lat);
        rcur.at(ts, &mut rat);
        match op {
            T_LAND => {
                let sigs: HashSet<&Labels> = rat.iter().map(|(j, _)| &rsig[*j]).collect();
                for &(i, f) in &lat {
                    if sigs.contains(&lsig[i]) {
                        lpts[i].push(Sample::new(ts, f));
                    }
                }
            }
            T_LUNLESS => {
                let sigs: HashSet<&Labels> = rat.iter().map(|(j, _)| &rsig[*j]).collect();
                for &(i, f) in &lat {
                    if !sigs.contains(&lsig[i]) {
                        lpts[i].push(Sample::new(ts, f));
                    }
                }
            }
            _ => {
                let sigs: HashSet<&Labels> = lat.iter().map(|(i, _)| &lsig[*i]).collect();
                for &(i, f) in &lat {
                    lpts[i].push(Sample::new(ts, f));
                }
                for &(j, f) in &rat {
                    if !sigs.contains(&rsig[j]) {
                        rpts[j].push(Sample::new(ts, f));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for (s, pts) in l.into_iter().zip(lpts).chain(r.into_iter().zip(rpts)) {
        if !pts.is_empty() {
            out.push(Series {
                labels: s.labels,
                points: pts,
                drop_name: s.drop_name,
            });
        }
    }
    Ok(Val::Vector(dedup_merge(out)?))
}
