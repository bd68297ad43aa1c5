//! Function calls: range-vector functions (`rate`, `*_over_time`, ...), element-wise
//! math, label manipulation and the special cases (`absent`, `timestamp`, `scalar`, ...).

use cairn_model::{FloatHistogram, HistogramSample, Labels, Sample};
use promql_parser::parser::{Call, Expr};

use crate::error::{QueryError, Result};
use crate::eval::{dedup_merge, Evaluator, Series, StepCursor, Val};
use crate::mathx::{go_max, go_min, kahan_sum_inc, linear_regression, quantile};
use crate::native_histogram;
use crate::parse::{go_raw, has_invalid_bytes};
use crate::range_histograms::{histogram_window, RangeOut};

fn arg(call: &Call, i: usize) -> Result<&Expr> {
    call.args
        .args
        .get(i)
        .map(|b| b.as_ref())
        .ok_or_else(|| QueryError::exec(format!("missing argument {i} of {}", call.func.name)))
}

fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// Evaluates a function call.
pub(crate) fn eval_call(ev: &Evaluator<'_>, call: &Call) -> Result<Val> {
    let name = call.func.name;
    if let Some(f) = range_function(name) {
        return eval_range_function(ev, call, f);
    }
    if let Some(f) = simple_function(name) {
        return map_values(ev, arg(call, 0)?, false, |v, _| Some(f(v)));
    }
    match name {
        "time" => Ok(Val::Scalar(
            (0..ev.num_steps())
                .map(|i| ev.ts(i) as f64 / 1000.0)
                .collect(),
        )),
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; ev.num_steps()])),
        // The outer query's parameters, in seconds.
        "start" | "end" | "range" | "step" => {
            let tp = &ev.tp;
            let ms = match name {
                "start" => tp.query_start,
                "end" => tp.query_end,
                "range" => tp.query_end - tp.query_start,
                _ => tp.step,
            };
            Ok(Val::Scalar(vec![ms as f64 / 1000.0; ev.num_steps()]))
        }
        "min_of" | "max_of" => {
            let a = ev.eval_scalar(arg(call, 0)?)?;
            let b = ev.eval_scalar(arg(call, 1)?)?;
            let f = if name == "min_of" { go_min } else { go_max };
            Ok(Val::Scalar(
                a.into_iter().zip(b).map(|(a, b)| f(a, b)).collect(),
            ))
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let names = (1..call.args.args.len())
                .map(|i| string_arg(ev, call, i))
                .collect::<Result<Vec<_>>>()?;
            let mut input = ev.eval_vector(arg(call, 0)?)?;
            if ev.is_instant() {
                let desc = name == "sort_by_label_desc";
                input.sort_by(|a, b| {
                    let (a, b) = if desc { (b, a) } else { (a, b) };
                    names
                        .iter()
                        .map(|n| {
                            natural_cmp(
                                a.labels.get(n).unwrap_or(""),
                                b.labels.get(n).unwrap_or(""),
                            )
                        })
                        .find(|o| o.is_ne())
                        .unwrap_or_else(|| a.labels.cmp(&b.labels))
                });
            }
            Ok(Val::Vector(input))
        }
        "vector" => {
            let v = ev.eval_scalar(arg(call, 0)?)?;
            ev.limits.add(v.len())?;
            Ok(Val::Vector(vec![Series {
                labels: Labels::empty(),
                points: v
                    .into_iter()
                    .enumerate()
                    .map(|(i, x)| Sample::new(ev.ts(i), x))
                    .collect(),
                hpoints: Vec::new(),
                drop_name: false,
            }]))
        }
        "scalar" => {
            let input = ev.eval_vector(arg(call, 0)?)?;
            let mut cur = StepCursor::new(&input);
            let mut buf = Vec::new();
            let out = (0..ev.num_steps())
                .map(|i| {
                    cur.at(ev.ts(i), &mut buf);
                    if buf.len() == 1 {
                        buf[0].1
                    } else {
                        f64::NAN
                    }
                })
                .collect();
            ev.limits.release(points(&input));
            Ok(Val::Scalar(out))
        }
        "timestamp" => eval_timestamp(ev, arg(call, 0)?),
        "absent" => eval_absent(ev, call),
        "round" => {
            let to = match call.args.args.get(1) {
                Some(e) => ev.eval_scalar(e)?,
                None => vec![1.0; ev.num_steps()],
            };
            map_values(ev, arg(call, 0)?, false, |v, i| {
                let inv = 1.0 / to[i];
                Some((v * inv + 0.5).floor() / inv)
            })
        }
        "clamp" => {
            let lo = ev.eval_scalar(arg(call, 1)?)?;
            let hi = ev.eval_scalar(arg(call, 2)?)?;
            map_values(ev, arg(call, 0)?, false, |v, i| {
                (hi[i] >= lo[i] || lo[i].is_nan() || hi[i].is_nan())
                    .then(|| go_max(lo[i], go_min(hi[i], v)))
            })
        }
        "clamp_min" => {
            let lo = ev.eval_scalar(arg(call, 1)?)?;
            map_values(ev, arg(call, 0)?, false, |v, i| Some(go_max(lo[i], v)))
        }
        "clamp_max" => {
            let hi = ev.eval_scalar(arg(call, 1)?)?;
            map_values(ev, arg(call, 0)?, false, |v, i| Some(go_min(hi[i], v)))
        }
        "label_replace" => eval_label_replace(ev, call),
        "label_join" => eval_label_join(ev, call),
        "sort" | "sort_desc" => {
            let mut input = ev.eval_vector(arg(call, 0)?)?;
            // Histograms have no value to sort by: upstream leaves them out.
            for s in &mut input {
                ev.limits.release(s.hpoints.len());
                s.hpoints.clear();
            }
            input.retain(|s| !s.points.is_empty());
            if ev.is_instant() {
                let desc = name == "sort_desc";
                input.sort_by(|a, b| {
                    let first = |s: &Series| s.points.first().map_or(f64::NAN, |p| p.v);
                    let (x, y) = (first(a), first(b));
                    match (x.is_nan(), y.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ if desc => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
                        _ => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                    }
                });
            }
            Ok(Val::Vector(input))
        }
        "histogram_count" => map_histograms(ev, arg(call, 0)?, |h| h.count),
        "histogram_sum" => map_histograms(ev, arg(call, 0)?, |h| h.sum),
        "histogram_avg" => map_histograms(ev, arg(call, 0)?, |h| h.sum / h.count),
        "histogram_stddev" => map_histograms(ev, arg(call, 0)?, native_histogram::histogram_stddev),
        "histogram_stdvar" => map_histograms(ev, arg(call, 0)?, native_histogram::histogram_stdvar),
        "histogram_quantile" => crate::histogram::eval_histogram_quantile(ev, call),
        "histogram_quantiles" => crate::histogram::eval_histogram_quantiles(ev, call),
        "histogram_fraction" => crate::histogram::eval_histogram_fraction(ev, call),
        "year" | "month" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month"
        | "hour" | "minute" => eval_date(ev, call, name),
        _ => Err(QueryError::exec(format!(
            "function {name} is not supported yet"
        ))),
    }
}

fn points(series: &[Series]) -> usize {
    series.iter().map(Series::len).sum()
}

/// Natural order of label values (`facette/natsort`, which upstream's `sort_by_label`
/// uses): runs of digits compare as numbers, everything else bytewise.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    if a == b {
        return Ordering::Equal;
    }
    fn chunks(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0;
        let b = s.as_bytes();
        for i in 1..=b.len() {
            if i == b.len() || b[i].is_ascii_digit() != b[i - 1].is_ascii_digit() {
                out.push(&s[start..i]);
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    // natsort.Compare(a, b): whether a sorts first.
    let less = |ca: &[&str], cb: &[&str]| -> bool {
        for (i, x) in ca.iter().enumerate() {
            let Some(y) = cb.get(i) else {
                return false;
            };
            let same = match (x.parse::<i64>(), y.parse::<i64>()) {
                (Ok(p), Ok(q)) if p != q => return p < q,
                (Ok(_), Ok(_)) => true,
                _ => x == y,
            };
            if !same {
                return x < y;
            }
            if i == ca.len() - 1 {
                return true;
            }
            if i == cb.len() - 1 {
                return false;
            }
        }
        false
    };
    if less(&ca, &cb) {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

/// Element-wise math functions that drop the metric name.
fn simple_function(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => |v: f64| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
        "rad" => |v: f64| v * std::f64::consts::PI / 180.0,
        _ => return None,
    })
}

/// Applies `f(value, step index)` to every point of an instant-vector argument.
fn map_values(
    ev: &Evaluator<'_>,
    e: &Expr,
    keep_name: bool,
    f: impl Fn(f64, usize) -> Option<f64>,
) -> Result<Val> {
    let input = ev.eval_vector(e)?;
    let mut out = Vec::with_capacity(input.len());
    for s in input {
        let before = s.points.len();
        let pts: Vec<Sample> = s
            .points
            .into_iter()
            .filter_map(|p| {
                let i = ((p.t - ev.start) / ev.interval) as usize;
                f(p.v, i).map(|v| Sample::new(p.t, v))
            })
            .collect();
        // Histograms have no value to map: they are dropped, as upstream does.
        ev.limits.release(before - pts.len() + s.hpoints.len());
        if !pts.is_empty() {
            out.push(Series {
                labels: s.labels,
                points: pts,
                hpoints: Vec::new(),
                drop_name: !keep_name || s.drop_name,
            });
        }
    }
    Ok(Val::Vector(out))
}

/// Applies `f` to every native-histogram point of an instant-vector argument; float
/// points give nothing (upstream's `simpleHistogramFunc`).
fn map_histograms(ev: &Evaluator<'_>, e: &Expr, f: impl Fn(&FloatHistogram) -> f64) -> Result<Val> {
    let input = ev.eval_vector(e)?;
    let mut out = Vec::with_capacity(input.len());
    for s in input {
        ev.limits.release(s.points.len());
        if s.hpoints.is_empty() {
            continue;
        }
        out.push(Series {
            labels: s.labels,
            points: s
                .hpoints
                .iter()
                .map(|p| Sample::new(p.t, f(&p.h)))
                .collect(),
            hpoints: Vec::new(),
            drop_name: true,
        });
    }
    Ok(Val::Vector(out))
}

/// What a range function computes from one window `(lo, hi]` at step `ts`, given its
/// scalar parameters for that step.
type RangeFn = fn(&[Sample], i64, i64, i64, [f64; 2]) -> Option<f64>;

fn range_function(name: &str) -> Option<RangeFn> {
    Some(match name {
        "rate" => |w, lo, hi, _, _| extrapolated_rate(w, lo, hi, true, true),
        "increase" => |w, lo, hi, _, _| extrapolated_rate(w, lo, hi, true, false),
        "delta" => |w, lo, hi, _, _| extrapolated_rate(w, lo, hi, false, false),
        "irate" => |w, _, _, _, _| instant_value(w, true),
        "idelta" => |w, _, _, _, _| instant_value(w, false),
        "avg_over_time" => |w, _, _, _, _| Some(avg_over_time(w)),
        "sum_over_time" => |w, _, _, _, _| {
            let (mut sum, mut c) = (0.0, 0.0);
            for p in w {
                (sum, c) = kahan_sum_inc(p.v, sum, c);
            }
            Some(if sum.is_infinite() { sum } else { sum + c })
        },
        "count_over_time" => |w, _, _, _, _| Some(w.len() as f64),
        "min_over_time" => |w, _, _, _, _| {
            Some(
                w.iter()
                    .fold(w[0].v, |m, p| if p.v < m || m.is_nan() { p.v } else { m }),
            )
        },
        "max_over_time" => |w, _, _, _, _| {
            Some(
                w.iter()
                    .fold(w[0].v, |m, p| if p.v > m || m.is_nan() { p.v } else { m }),
            )
        },
        "last_over_time" => |w, _, _, _, _| w.last().map(|p| p.v),
        "first_over_time" => |w, _, _, _, _| w.first().map(|p| p.v),
        "present_over_time" => |_, _, _, _, _| Some(1.0),
        "stddev_over_time" => |w, _, _, _, _| Some(variance_over_time(w).sqrt()),
        "stdvar_over_time" => |w, _, _, _, _| Some(variance_over_time(w)),
        "quantile_over_time" => |w, _, _, _, [q, _]| {
            let mut vals: Vec<f64> = w.iter().map(|p| p.v).collect();
            Some(quantile(q, &mut vals))
        },
        "mad_over_time" => |w, _, _, _, _| {
            if w.iter().any(|p| p.v.is_nan()) {
                return Some(f64::NAN);
            }
            let mut vals: Vec<f64> = w.iter().map(|p| p.v).collect();
            let median = quantile(0.5, &mut vals);
            let mut dev: Vec<f64> = w.iter().map(|p| (p.v - median).abs()).collect();
            Some(quantile(0.5, &mut dev))
        },
        "ts_of_min_over_time" => |w, _, _, _, _| Some(ts_of_extreme(w, |cur, m| cur <= m)),
        "ts_of_max_over_time" => |w, _, _, _, _| Some(ts_of_extreme(w, |cur, m| cur >= m)),
        "ts_of_first_over_time" => |w, _, _, _, _| w.first().map(|p| p.t as f64 / 1000.0),
        "ts_of_last_over_time" => |w, _, _, _, _| w.last().map(|p| p.t as f64 / 1000.0),
        "double_exponential_smoothing" => {
            |w, _, _, _, [sf, tf]| double_exponential_smoothing(w, sf, tf)
        }
        "changes" => |w, _, _, _, _| {
            let mut n = 0;
            for p in w.windows(2) {
                if p[1].v != p[0].v && !(p[1].v.is_nan() && p[0].v.is_nan()) {
                    n += 1;
                }
            }
            Some(f64::from(n))
        },
        "resets" => |w, _, _, _, _| Some(w.windows(2).filter(|p| p[1].v < p[0].v).count() as f64),
        "deriv" => |w, _, _, _, _| (w.len() >= 2).then(|| linear_regression(w, w[0].t).0),
        "predict_linear" => |w, _, _, ts, [dur, _]| {
            (w.len() >= 2).then(|| {
                let (slope, intercept) = linear_regression(w, ts);
                slope * dur + intercept
            })
        },
        "absent_over_time" => |_, _, _, _, _| Some(1.0),
        _ => return None,
    })
}

/// Prometheus's `extrapolatedRate` for float samples.
pub(crate) fn extrapolated_rate(
    w: &[Sample],
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let n1 = w.len() - 1;
    let (first_t, last_t) = (w[0].t, w[n1].t);
    let mut result = w[n1].v - w[0].v;
    if is_counter {
        let mut prev = w[0].v;
        for p in &w[1..] {
            if p.v < prev {
                result += prev;
            }
            prev = p.v;
        }
    }
    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let avg_between = sampled_interval / n1 as f64;
    let threshold = avg_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    if duration_to_start >= threshold {
        duration_to_start = avg_between / 2.0;
    }
    if is_counter && result > 0.0 && w[0].v >= 0.0 {
        let duration_to_zero = sampled_interval * (w[0].v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    extrapolate_to += duration_to_start;
    if duration_to_end >= threshold {
        duration_to_end = avg_between / 2.0;
    }
    extrapolate_to += duration_to_end;
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Prometheus's `instantValue` (irate/idelta) for float samples.
pub(crate) fn instant_value(w: &[Sample], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (prev, last) = (w[w.len() - 2], w[w.len() - 1]);
    let mut v = if is_rate && last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    if is_rate {
        let interval = last.t - prev.t;
        if interval == 0 {
            return None;
        }
        v /= interval as f64 / 1000.0;
    }
    Some(v)
}

fn avg_over_time(w: &[Sample]) -> f64 {
    let (mut sum, mut count) = (w[0].v, 1.0);
    let (mut mean, mut c) = (0.0, 0.0);
    let mut incremental = false;
    for (i, p) in w[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (ns, nc) = kahan_sum_inc(p.v, sum, c);
            if !ns.is_infinite() {
                (sum, c) = (ns, nc);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_sum_inc(p.v / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

/// The time (seconds) of the last sample `better` than every one before it (upstream's
/// `compareOverTime` for `ts_of_min/max_over_time`; NaN never wins over a number).
fn ts_of_extreme(w: &[Sample], better: fn(f64, f64) -> bool) -> f64 {
    let (mut best, mut ts) = (w[0].v, w[0].t);
    for p in w {
        if better(p.v, best) || best.is_nan() {
            (best, ts) = (p.v, p.t);
        }
    }
    ts as f64 / 1000.0
}

/// Upstream's `funcDoubleExponentialSmoothing` (Holt's linear method) for one window.
fn double_exponential_smoothing(w: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (mut s0, mut s1, mut b) = (0.0, w[0].v, w[1].v - w[0].v);
    for (i, p) in w.iter().enumerate().skip(1) {
        let x = sf * p.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, x + y);
    }
    Some(s1)
}

fn check_smoothing_factors([sf, tf]: [f64; 2]) -> Result<()> {
    // NaN passes, as in Go.
    if sf <= 0.0 || sf >= 1.0 {
        return Err(QueryError::exec(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(QueryError::exec(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    Ok(())
}

fn variance_over_time(w: &[Sample]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in w {
        count += 1.0;
        let delta = p.v - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (p.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

fn eval_range_function(ev: &Evaluator<'_>, call: &Call, f: RangeFn) -> Result<Val> {
    let mut out = Vec::new();
    range_function_each(ev, call, f, &mut |s| {
        out.push(s);
        Ok(())
    })?;
    if call.func.name == "absent_over_time" {
        return Ok(absent_series(ev, &out, unparen(arg(call, 0)?)));
    }
    Ok(Val::Vector(out))
}

/// Whether a call of a range function can hand out its output one series at a time:
/// when its argument is a range selector (decoded series by series). Output series never
/// collide here: names are only marked for removal, and collisions are checked when the
/// marks are applied at the end of the query.
pub(crate) fn streams(call: &Call) -> bool {
    let name = call.func.name;
    if range_function(name).is_none() || name == "absent_over_time" {
        return false;
    }
    let idx = usize::from(name == "quantile_over_time");
    matches!(arg(call, idx).map(unparen), Ok(Expr::MatrixSelector(_)))
}

/// [`range_function_each`] for a call that [`streams`].
pub(crate) fn range_call_each(
    ev: &Evaluator<'_>,
    call: &Call,
    emit: &mut dyn FnMut(Series) -> Result<()>,
) -> Result<()> {
    match range_function(call.func.name) {
        Some(f) => range_function_each(ev, call, f, emit),
        None => Err(QueryError::exec(format!(
            "{} is not a range function",
            call.func.name
        ))),
    }
}

/// Evaluates the range function call and passes each output series to `emit` as soon as
/// it is computed; each is accounted in `max_samples` when emitted.
pub(crate) fn range_function_each(
    ev: &Evaluator<'_>,
    call: &Call,
    f: RangeFn,
    emit: &mut dyn FnMut(Series) -> Result<()>,
) -> Result<()> {
    let name = call.func.name;
    let (matrix_idx, param, param2) = match name {
        "quantile_over_time" => (1, Some(ev.eval_scalar(arg(call, 0)?)?), None),
        "predict_linear" => (0, Some(ev.eval_scalar(arg(call, 1)?)?), None),
        "double_exponential_smoothing" => (
            0,
            Some(ev.eval_scalar(arg(call, 1)?)?),
            Some(ev.eval_scalar(arg(call, 2)?)?),
        ),
        _ => (0, None, None),
    };
    if name == "quantile_over_time" {
        if let Some(q) = param
            .as_ref()
            .and_then(|p| p.iter().find(|q| !(0.0..=1.0).contains(*q)))
        {
            ev.warn(format!(
                "PromQL warning: quantile value should be between 0 and 1, got {q}"
            ));
        }
    }
    let matrix_expr = arg(call, matrix_idx)?;
    let ra = ev.range_arg(matrix_expr)?;
    let keep_name = matches!(name, "last_over_time" | "first_over_time");
    let n = ev.num_steps();
    ra.for_each_series(ev.limits, |labels, source_drop_name, points, hists| {
        let metric = labels.get(cairn_model::METRIC_NAME).unwrap_or("");
        let mut pts = Vec::new();
        let mut hpts = Vec::new();
        // Window bounds only move forward with the steps, so both ends are found by
        // advancing cursors rather than two binary searches per step.
        let (mut a, mut b) = (0, 0);
        let (mut ha, mut hb) = (0, 0);
        for i in 0..n {
            let ts = ev.ts(i);
            let (lo, hi) = ra.window(ts);
            while a < points.len() && points[a].t <= lo {
                a += 1;
            }
            b = b.max(a);
            while b < points.len() && points[b].t <= hi {
                b += 1;
            }
            while ha < hists.len() && hists[ha].t <= lo {
                ha += 1;
            }
            hb = hb.max(ha);
            while hb < hists.len() && hists[hb].t <= hi {
                hb += 1;
            }
            let (w, hw) = (&points[a..b], &hists[ha..hb]);
            if w.is_empty() && hw.is_empty() {
                continue;
            }
            ev.limits.check_transient(w.len() + hw.len())?;
            let p = [
                param.as_ref().map_or(0.0, |p| p[i]),
                param2.as_ref().map_or(0.0, |p| p[i]),
            ];
            if name == "double_exponential_smoothing" {
                check_smoothing_factors(p)?;
            }
            if hw.is_empty() {
                if let Some(v) = f(w, lo, hi, ts, p) {
                    pts.push(Sample::new(ts, v));
                }
                continue;
            }
            match histogram_window(ev, name, metric, w, hw, lo, hi, |w| f(w, lo, hi, ts, p)) {
                Some(RangeOut::Float(v)) => pts.push(Sample::new(ts, v)),
                Some(RangeOut::Hist(h)) => hpts.push(HistogramSample::new(ts, h)),
                None => {}
            }
        }
        if !pts.is_empty() || !hpts.is_empty() {
            ev.limits.add(pts.len() + hpts.len())?;
            // Upstream gives this info for float inputs only.
            if matches!(name, "rate" | "increase")
                && !pts.is_empty()
                && !["_total", "_sum", "_count", "_bucket"]
                    .iter()
                    .any(|x| metric.ends_with(x))
            {
                ev.info(format!(
                    "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {metric:?}"
                ));
            }
            emit(Series {
                labels: labels.clone(),
                points: pts,
                hpoints: hpts,
                // A name already marked for removal (a subquery's) stays marked even
                // through the functions that keep names.
                drop_name: !keep_name || source_drop_name,
            })?;
        }
        Ok(())
    })
}

/// One series with value 1 at each step where `present` has no point, labelled from the
/// selector's equality matchers.
fn absent_series(ev: &Evaluator<'_>, present: &[Series], arg: &Expr) -> Val {
    let n = ev.num_steps();
    let mut seen = vec![false; n];
    for s in present {
        for t in s
            .points
            .iter()
            .map(|p| p.t)
            .chain(s.hpoints.iter().map(|p| p.t))
        {
            seen[((t - ev.start) / ev.interval) as usize] = true;
        }
    }
    let points: Vec<Sample> = (0..n)
        .filter(|i| !seen[*i])
        .map(|i| Sample::new(ev.ts(i), 1.0))
        .collect();
    ev.limits.release(self::points(present));
    if points.is_empty() {
        return Val::Vector(Vec::new());
    }
    Val::Vector(vec![Series {
        labels: absent_labels(arg),
        points,
        hpoints: Vec::new(),
        drop_name: false,
    }])
}

fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::empty(),
    };
    let mut b = Labels::empty().to_builder();
    let mut has = std::collections::HashSet::new();
    for m in &vs.matchers.matchers {
        if m.name == cairn_model::METRIC_NAME {
            continue;
        }
        if matches!(m.op, promql_parser::label::MatchOp::Equal) && !has.contains(&m.name) {
            b.set(m.name.clone(), m.value.clone());
            has.insert(m.name.clone());
        } else {
            b.del(&m.name);
        }
    }
    b.build()
}

fn eval_absent(ev: &Evaluator<'_>, call: &Call) -> Result<Val> {
    let e = arg(call, 0)?;
    let input = ev.eval_vector(e)?;
    Ok(absent_series(ev, &input, e))
}

fn eval_timestamp(ev: &Evaluator<'_>, e: &Expr) -> Result<Val> {
    if let Expr::VectorSelector(vs) = unparen(e) {
        let out = ev
            .vector_selector_points(vs)?
            .into_iter()
            .map(|(labels, pts)| {
                let mut points: Vec<Sample> = pts
                    .floats
                    .iter()
                    .map(|&(ts, t, _)| Sample::new(ts, t as f64 / 1000.0))
                    .chain(
                        pts.hists
                            .iter()
                            .map(|(ts, h)| Sample::new(*ts, h.t as f64 / 1000.0)),
                    )
                    .collect();
                points.sort_by_key(|p| p.t);
                Series {
                    labels,
                    points,
                    hpoints: Vec::new(),
                    drop_name: true,
                }
            })
            .collect();
        return Ok(Val::Vector(out));
    }
    map_values(ev, e, false, |_, i| Some(ev.ts(i) as f64 / 1000.0))
}

fn string_arg(ev: &Evaluator<'_>, call: &Call, i: usize) -> Result<String> {
    match ev.eval(arg(call, i)?)? {
        Val::String(s) => Ok(s),
        other => Err(QueryError::exec(format!(
            "expected string argument {i} of {}, got {}",
            call.func.name,
            other.type_name()
        ))),
    }
}

/// Prometheus 3 takes any UTF-8 label name; empty ones and bytes that were not UTF-8
/// in the query text are refused.
fn check_destination(func: &str, dst: &str) -> Result<()> {
    if dst.is_empty() || has_invalid_bytes(dst) {
        return Err(QueryError::exec(format!(
            "invalid destination label name in {func}(): {}",
            go_raw(dst)
        )));
    }
    Ok(())
}

fn eval_label_replace(ev: &Evaluator<'_>, call: &Call) -> Result<Val> {
    let dst = string_arg(ev, call, 1)?;
    let repl = string_arg(ev, call, 2)?;
    let src = string_arg(ev, call, 3)?;
    let re_src = string_arg(ev, call, 4)?;
    let re = cairn_model::regex_compat::anchored_regex(&re_src).map_err(|_| {
        QueryError::exec(format!(
            "invalid regular expression in label_replace(): {re_src}"
        ))
    })?;
    check_destination("label_replace", &dst)?;
    let mut input = ev.eval_vector(arg(call, 0)?)?;
    for s in &mut input {
        let v = s.labels.get(&src).unwrap_or("");
        if let Some(caps) = re.captures(v) {
            let mut res = String::new();
            caps.expand(&repl, &mut res);
            let mut b = s.labels.to_builder();
            b.set(dst.clone(), res);
            s.labels = b.build();
            // Setting `__name__` explicitly keeps it, even where it was marked for removal.
            if dst == cairn_model::METRIC_NAME {
                s.drop_name = false;
            }
        }
    }
    Ok(Val::Vector(dedup_merge(input)?))
}

fn eval_label_join(ev: &Evaluator<'_>, call: &Call) -> Result<Val> {
    let dst = string_arg(ev, call, 1)?;
    let sep = string_arg(ev, call, 2)?;
    let srcs = (3..call.args.args.len())
        .map(|i| string_arg(ev, call, i))
        .collect::<Result<Vec<_>>>()?;
    check_destination("label_join", &dst)?;
    let mut input = ev.eval_vector(arg(call, 0)?)?;
    for s in &mut input {
        let joined = srcs
            .iter()
            .map(|l| s.labels.get(l).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(&sep);
        let mut b = s.labels.to_builder();
        b.set(dst.clone(), joined);
        s.labels = b.build();
        if dst == cairn_model::METRIC_NAME {
            s.drop_name = false;
        }
    }
    Ok(Val::Vector(dedup_merge(input)?))
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn date_part(secs: i64, part: &str) -> f64 {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let month_days = [
        31,
        if is_leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    match part {
        "year" => y as f64,
        "month" => f64::from(m),
        "day_of_month" => f64::from(d),
        "day_of_week" => (days + 4).rem_euclid(7) as f64,
        "day_of_year" => f64::from(month_days[..(m - 1) as usize].iter().sum::<u32>() + d),
        "days_in_month" => f64::from(month_days[(m - 1) as usize]),
        "hour" => (sod / 3600) as f64,
        _ => ((sod % 3600) / 60) as f64,
    }
}

fn eval_date(ev: &Evaluator<'_>, call: &Call, part: &str) -> Result<Val> {
    match call.args.args.first() {
        None => {
            let pts: Vec<Sample> = (0..ev.num_steps())
                .map(|i| Sample::new(ev.ts(i), date_part(ev.ts(i).div_euclid(1000), part)))
                .collect();
            ev.limits.add(pts.len())?;
            Ok(Val::Vector(vec![Series {
                labels: Labels::empty(),
                points: pts,
                hpoints: Vec::new(),
                drop_name: false,
            }]))
        }
        Some(e) => map_values(ev, e, false, |v, _| {
            (!v.is_nan() && !v.is_infinite()).then(|| date_part(v as i64, part))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_known_values() {
        // 2024-02-29T13:45:00Z
        let t = 1_709_214_300;
        assert_eq!(date_part(t, "year"), 2024.0);
        assert_eq!(date_part(t, "month"), 2.0);
        assert_eq!(date_part(t, "day_of_month"), 29.0);
        assert_eq!(date_part(t, "days_in_month"), 29.0);
        assert_eq!(date_part(t, "day_of_year"), 60.0);
        assert_eq!(date_part(t, "day_of_week"), 4.0);
        assert_eq!(date_part(t, "hour"), 13.0);
        assert_eq!(date_part(t, "minute"), 45.0);
        assert_eq!(date_part(0, "day_of_week"), 4.0);
    }
}
