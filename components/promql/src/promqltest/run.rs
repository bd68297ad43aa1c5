//! Running a parsed script against the engine and comparing results like upstream's
//! `promqltest` (`compareResult`, `checkAnnotations`, `checkExpectedFailure`).

use std::time::{Duration, SystemTime};

use std::sync::Arc;

use cairn_model::histogram::CounterResetHint;
use cairn_model::{FloatHistogram, HistogramSample, Labels, Matcher, Sample};
use promql_parser::parser::{AtModifier, Expr};

use super::script::{Command, Eval, EvalKind, ExpectKind, Load, Point};
use super::{EvalOutcome, FileReport, Outcome, RunOptions};
use crate::mathx::almost_equal;
use crate::plan::selector_matchers;
use crate::{Engine, InMemoryStorage, QueryError, QueryOptions, QueryResult, Value};

/// Relative tolerance of float comparisons (upstream's `defaultEpsilon`).
const EPSILON: f64 = 1e-6;

/// Functions whose result can change with the evaluation time even when their arguments
/// are pinned with `@` (upstream's `AtModifierUnsafeFunctions`).
const AT_MODIFIER_UNSAFE: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
    // Not in upstream's list: these give the (re-run) query's own start, end, range and
    // step, so pinning selectors cannot keep their answer; upstream does not re-run
    // them in range mode either.
    "start",
    "end",
    "range",
    "step",
];

/// Series the storage cannot hold as written, and why evals selecting them are skipped.
#[derive(Debug)]
struct Unsupported {
    labels: Labels,
    reason: &'static str,
}

/// The state of one script run.
pub(super) struct Runner<'o> {
    opts: &'o RunOptions,
    engine: Engine,
    storage: InMemoryStorage,
    unsupported: Vec<Unsupported>,
}

impl<'o> Runner<'o> {
    pub(super) fn new(opts: &'o RunOptions) -> Self {
        Self {
            opts,
            engine: Engine::new(opts.engine.clone()),
            storage: InMemoryStorage::new(),
            unsupported: Vec::new(),
        }
    }

    pub(super) async fn run(&mut self, commands: Vec<(usize, Command)>, report: &mut FileReport) {
        for (_, cmd) in commands {
            match cmd {
                Command::Clear => {
                    self.storage.clear();
                    self.unsupported.clear();
                }
                Command::Load(load) => self.load(load),
                Command::Eval(ev) => {
                    let outcome = self.eval(&ev).await;
                    report.push(EvalOutcome {
                        line: ev.line,
                        query: ev.expr.clone(),
                        outcome,
                    });
                }
            }
        }
    }

    fn load(&mut self, load: Load) {
        let mut classic = Vec::new();
        for s in load.series {
            let mut samples = Vec::new();
            let mut histograms = Vec::new();
            for (i, p) in s.points.iter().enumerate() {
                let t = load.interval_ms * i as i64;
                match p {
                    Point::Float(v) => samples.push(Sample::new(t, *v)),
                    Point::Histogram(h, _) => histograms.push(HistogramSample { t, h: h.clone() }),
                    Point::Omitted => {}
                }
            }
            if s.has_start_timestamps {
                self.unsupported.push(Unsupported {
                    labels: s.labels.clone(),
                    reason: "start timestamps (@st) not stored",
                });
            }
            if load.with_nhcb {
                classic.push((s.labels.clone(), samples.clone()));
            }
            if !histograms.is_empty() {
                assign_counter_reset_hints(&s.points, &mut histograms);
                self.storage.add_histograms(s.labels.clone(), histograms);
            }
            self.storage.add(s.labels, samples);
        }
        for (labels, histograms) in super::nhcb::convert(&classic) {
            self.storage.add_histograms(labels, histograms);
        }
    }

    /// Why the eval selects data the storage could not hold as written (native
    /// histograms, start timestamps, NHCB conversions), if it does.
    fn unsupported_data(&self, expr: &Expr) -> Option<&'static str> {
        let mut selectors = Vec::new();
        collect_selectors(expr, &mut selectors);
        selectors.iter().find_map(|ms| {
            self.unsupported
                .iter()
                .find(|u| {
                    ms.iter()
                        .all(|m| m.matches(u.labels.get(&m.name).unwrap_or("")))
                })
                .map(|u| u.reason)
        })
    }

    async fn eval(&self, ev: &Eval) -> Outcome {
        if let Some(e) = &ev.invalid {
            return Outcome::Failed(format!("invalid eval: {e}"));
        }
        let expr = match crate::parse_query(&ev.expr) {
            Ok(e) => e,
            Err(e) => return Outcome::Skipped(format!("parser cannot parse: {e}")),
        };
        let unsupported = self.unsupported_data(&expr);
        let res = match ev.kind {
            EvalKind::Range { start, end, step } => {
                self.run_range(ev, expr, start, end, step).await
            }
            EvalKind::Instant { at } => self.run_instant(ev, expr, at).await,
        };
        match (res, unsupported) {
            (Ok(()), _) => Outcome::Passed,
            // The float data alone does not give the expected answer: the missing data
            // may be why.
            (Err(_), Some(reason)) => Outcome::Skipped(reason.into()),
            (Err(e), None) => Outcome::Failed(e),
        }
    }

    async fn query(
        &self,
        expr: Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, QueryError> {
        self.engine
            .query_expr(
                &self.storage,
                expr,
                start,
                end,
                step,
                &QueryOptions::default(),
            )
            .await
    }

    async fn run_range(
        &self,
        ev: &Eval,
        expr: Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<(), String> {
        let res = self.query(expr, start, end, step).await;
        let Some(res) = check_failure(ev, res)? else {
            return Ok(());
        };
        check_annotations(ev, &res)?;
        compare(ev, &res.value, Some((start, end, step)))
    }

    async fn run_instant(&self, ev: &Eval, expr: Expr, at: i64) -> Result<(), String> {
        let mut runs = vec![(expr.clone(), at, None)];
        if self.opts.at_modifier_reruns {
            if let Some(pinned) = pin_at(&expr, at) {
                let times: Vec<i64> = if at == 0 {
                    vec![-1000, 0, 1000]
                } else {
                    vec![-10 * at, 0, at / 5, at, 10 * at]
                };
                runs.extend(times.into_iter().map(|t| (pinned.clone(), t, Some(at))));
            }
        }
        for (expr, t, pinned) in runs {
            let what = match pinned {
                None => String::new(),
                Some(p) => format!(" (re-run at {} with @ {})", secs(t), secs(p)),
            };
            self.run_instant_once(ev, expr, t)
                .await
                .map_err(|e| format!("{e}{what}"))?;
        }
        Ok(())
    }

    async fn run_instant_once(&self, ev: &Eval, expr: Expr, t: i64) -> Result<(), String> {
        let res = self.query(expr.clone(), t, t, 0).await;
        let Some(res) = check_failure(ev, res)? else {
            return Ok(());
        };
        check_annotations(ev, &res)?;
        compare(ev, &res.value, ev.range_vector)?;
        if ev.exclude_from_range_query || !self.opts.range_mode_check || uses_query_context(&expr) {
            return Ok(());
        }
        // Upstream also checks that a range query around `t` gives the same answer at `t`.
        let range = self
            .query(expr, t - 60_000, t + 60_000, 60_000)
            .await
            .map_err(|e| format!("range mode: unexpected error: {e}"))?;
        if ev.is_ordered() {
            return Ok(());
        }
        let Value::Matrix(m) = range.value else {
            return Err("range mode: result is not a matrix".into());
        };
        let vector: Vec<crate::VectorSample> = m
            .into_iter()
            .filter_map(|s| {
                let (v, h) = match s.samples.iter().find(|p| p.t == t) {
                    Some(p) => (p.v, None),
                    None => (0.0, Some(s.histograms.iter().find(|p| p.t == t)?.h.clone())),
                };
                Some(crate::VectorSample {
                    labels: s.labels,
                    t,
                    v,
                    h,
                })
            })
            .collect();
        let value = match res.value {
            Value::Scalar { .. } => match vector.first() {
                Some(s) => Value::Scalar { t, v: s.v },
                None => return Err("range mode: expected a scalar, got no points".into()),
            },
            _ => Value::Vector(vector),
        };
        compare(ev, &value, None).map_err(|e| format!("range mode: {e}"))
    }
}

fn secs(ms: i64) -> String {
    format!("{}s", ms as f64 / 1000.0)
}

/// Matchers of every selector in `expr` (implicit `info()` data selectors included).
fn collect_selectors(expr: &Expr, out: &mut Vec<Vec<Matcher>>) {
    match expr {
        Expr::VectorSelector(vs) => out.extend(selector_matchers(vs).ok()),
        Expr::MatrixSelector(ms) => out.extend(selector_matchers(&ms.vs).ok()),
        Expr::Paren(p) => collect_selectors(&p.expr, out),
        Expr::Unary(u) => collect_selectors(&u.expr, out),
        Expr::Subquery(s) => collect_selectors(&s.expr, out),
        Expr::Binary(b) => {
            collect_selectors(&b.lhs, out);
            collect_selectors(&b.rhs, out);
        }
        Expr::Aggregate(a) => {
            collect_selectors(&a.expr, out);
            if let Some(p) = &a.param {
                collect_selectors(p, out);
            }
        }
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect_selectors(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Whether the expression calls `start()`, `end()`, `range()` or `step()`, which resolve
/// differently in a range query.
fn uses_query_context(expr: &Expr) -> bool {
    let mut found = false;
    walk(expr, &mut |e| {
        if let Expr::Call(c) = e {
            found |= matches!(c.func.name, "start" | "end" | "range" | "step");
        }
    });
    found
}

fn walk(expr: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(expr);
    match expr {
        Expr::Paren(p) => walk(&p.expr, f),
        Expr::Unary(u) => walk(&u.expr, f),
        Expr::Subquery(s) => walk(&s.expr, f),
        Expr::Binary(b) => {
            walk(&b.lhs, f);
            walk(&b.rhs, f);
        }
        Expr::Aggregate(a) => {
            walk(&a.expr, f);
            if let Some(p) = &a.param {
                walk(p, f);
            }
        }
        Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, f)),
        _ => {}
    }
}

fn at_time(ms: i64) -> AtModifier {
    let d = Duration::from_millis(ms.unsigned_abs());
    AtModifier::At(if ms >= 0 {
        SystemTime::UNIX_EPOCH + d
    } else {
        SystemTime::UNIX_EPOCH - d
    })
}

/// Upstream's `atModifierTestCases`: every selector and subquery without an absolute `@`
/// gets `@ at` (selectors inside subqueries are left alone); `None` when the expression
/// calls a function whose result depends on the evaluation time itself.
fn pin_at(expr: &Expr, at: i64) -> Option<Expr> {
    let mut unsafe_call = false;
    walk(expr, &mut |e| {
        if let Expr::Call(c) = e {
            unsafe_call |= AT_MODIFIER_UNSAFE.contains(&c.func.name);
        }
    });
    if unsafe_call {
        return None;
    }
    let mut e = expr.clone();
    set_at(&mut e, at);
    Some(e)
}

fn pin(slot: &mut Option<AtModifier>, at: i64) {
    if !matches!(slot, Some(AtModifier::At(_))) {
        *slot = Some(at_time(at));
    }
}

fn set_at(expr: &mut Expr, at: i64) {
    match expr {
        Expr::VectorSelector(vs) => pin(&mut vs.at, at),
        Expr::MatrixSelector(ms) => pin(&mut ms.vs.at, at),
        Expr::Subquery(s) => pin(&mut s.at, at),
        Expr::Paren(p) => set_at(&mut p.expr, at),
        Expr::Unary(u) => set_at(&mut u.expr, at),
        Expr::Binary(b) => {
            set_at(&mut b.lhs, at);
            set_at(&mut b.rhs, at);
        }
        Expr::Aggregate(a) => {
            set_at(&mut a.expr, at);
            if let Some(p) = &mut a.param {
                set_at(p, at);
            }
        }
        Expr::Call(c) => c.args.args.iter_mut().for_each(|a| set_at(a, at)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Handles the query error (or its absence) against the eval's failure expectations:
/// `Ok(None)` when the eval is done (it expected this failure), `Ok(Some(res))` to go
/// on comparing.
fn check_failure(
    ev: &Eval,
    res: Result<QueryResult, QueryError>,
) -> Result<Option<QueryResult>, String> {
    match res {
        Ok(r) if ev.is_fail() => Err(format!("expected error, got {}", describe(&r.value))),
        Ok(r) => Ok(Some(r)),
        Err(e) if !ev.is_fail() => Err(format!("unexpected error: {e}")),
        Err(e) => {
            let msg = e.to_string();
            if let Some(m) = &ev.fail_message {
                if *m != msg {
                    return Err(format!("expected error {m:?}, got {msg:?}"));
                }
            }
            if let Some(r) = &ev.fail_regexp {
                if !r.is_match(&msg) {
                    return Err(format!(
                        "expected error matching /{}/, got {msg:?}",
                        r.as_str()
                    ));
                }
            }
            if let Some(m) = ev.expects_of(ExpectKind::Fail).next() {
                if !m.matches(&msg) {
                    return Err(format!("expected error {m}, got {msg:?}"));
                }
            }
            Ok(None)
        }
    }
}

/// Upstream's `checkAnnotations`.
fn check_annotations(ev: &Eval, res: &QueryResult) -> Result<(), String> {
    if ev.warn && res.warnings.is_empty() {
        return Err("expected warnings, got none".into());
    }
    if ev.info && res.infos.is_empty() {
        return Err("expected info annotations, got none".into());
    }
    for (kind, none_kind, actual, name) in [
        (ExpectKind::Warn, ExpectKind::NoWarn, &res.warnings, "warn"),
        (ExpectKind::Info, ExpectKind::NoInfo, &res.infos, "info"),
    ] {
        let expected: Vec<_> = ev.expects_of(kind).collect();
        if !expected.is_empty() {
            if actual.is_empty() {
                return Err(format!("expected {name} annotations, got none"));
            }
            if let Some(e) = expected
                .iter()
                .find(|e| !actual.iter().any(|a| e.matches(a)))
            {
                return Err(format!("expected {name} annotation {e}, got {actual:?}"));
            }
            if let Some(a) = actual
                .iter()
                .find(|a| !expected.iter().any(|e| e.matches(a)))
            {
                return Err(format!("unexpected {name} annotation {a:?}"));
            }
        }
        if ev.expects_of(none_kind).next().is_some() && !actual.is_empty() {
            return Err(format!("expected no {name} annotations, got {actual:?}"));
        }
    }
    Ok(())
}

/// A compact description of a result for failure messages.
fn describe(v: &Value) -> String {
    const MAX: usize = 4;
    let more = |n: usize| {
        if n > MAX {
            format!(" …(+{})", n - MAX)
        } else {
            String::new()
        }
    };
    match v {
        Value::Scalar { v, .. } => format!("scalar {v}"),
        Value::String { v, .. } => format!("string {v:?}"),
        Value::Vector(s) => {
            let items: Vec<String> = s
                .iter()
                .take(MAX)
                .map(|s| match &s.h {
                    Some(h) => format!("{} {}", s.labels, h.test_expression()),
                    None => format!("{} {}", s.labels, s.v),
                })
                .collect();
            format!("vector [{}]{}", items.join(", "), more(s.len()))
        }
        Value::Matrix(m) => {
            let items: Vec<String> = m
                .iter()
                .take(MAX)
                .map(|s| {
                    format!(
                        "{} {}{}",
                        s.labels,
                        points(&s.samples),
                        hpoints(&s.histograms)
                    )
                })
                .collect();
            format!("matrix [{}]{}", items.join(", "), more(m.len()))
        }
    }
}

/// The counter reset hints Prometheus's TSDB gives histograms read back from its head
/// (a series' histograms are compared with the one before as they are appended, and a
/// counter reset starts a new chunk): the first histogram of a run (after a float, a
/// staleness marker or at the start) keeps its own hint, later ones get `Unknown` when
/// they are a counter reset (or say so) and `NotCounterReset` otherwise; gauge
/// histograms stay gauges. `histograms` are the histogram points of `points`, in order.
fn assign_counter_reset_hints(points: &[Point], histograms: &mut [HistogramSample]) {
    let mut next = histograms.iter_mut();
    let mut prev: Option<Arc<FloatHistogram>> = None;
    for p in points {
        match p {
            Point::Float(_) => prev = None,
            Point::Omitted => {}
            Point::Histogram(..) => {
                let Some(sample) = next.next() else {
                    return;
                };
                let hint = sample.h.counter_reset_hint;
                if hint != CounterResetHint::Gauge {
                    if let Some(before) = &prev {
                        let reset = hint == CounterResetHint::CounterReset
                            || (hint != CounterResetHint::NotCounterReset
                                && sample.h.detect_reset(before));
                        // A reset starts a new chunk, whose first sample upstream's head
                        // reads back with an unknown hint (prometheus#15346).
                        Arc::make_mut(&mut sample.h).counter_reset_hint = if reset {
                            CounterResetHint::Unknown
                        } else {
                            CounterResetHint::NotCounterReset
                        };
                    }
                }
                prev = Some(sample.h.clone());
            }
        }
    }
}

/// Upstream's histogram comparison: both sides compacted, then compared field by field
/// with the relative tolerance (the counter reset hint only when the script set it).
fn histograms_match(want: &FloatHistogram, got: &FloatHistogram, compare_hint: bool) -> bool {
    let (mut want, mut got) = (want.clone(), got.clone());
    want.compact(0);
    got.compact(0);
    want.approx_equals(&got, EPSILON, compare_hint)
}

fn hpoints(samples: &[HistogramSample]) -> String {
    let p: Vec<String> = samples
        .iter()
        .map(|p| format!("{}@{}", p.h.test_expression(), secs(p.t)))
        .collect();
    p.join(" ")
}

fn points(samples: &[Sample]) -> String {
    let p: Vec<String> = samples
        .iter()
        .map(|p| format!("{}@{}", p.v, secs(p.t)))
        .collect();
    p.join(" ")
}

/// Upstream's `compareResult`. `range` is (start, end, step) of expected matrix points.
fn compare(ev: &Eval, value: &Value, range: Option<(i64, i64, i64)>) -> Result<(), String> {
    let find = |l: &Labels| ev.expected.iter().find(|e| &e.labels == l);
    match value {
        Value::Matrix(m) => {
            if ev.is_ordered() {
                return Err("expected ordered result, but query returned a matrix".into());
            }
            if ev.expect_scalar.is_some() {
                return Err(format!("expected scalar, got {}", describe(value)));
            }
            for s in m {
                let Some(exp) = find(&s.labels) else {
                    return Err(format!(
                        "unexpected series {} {}",
                        s.labels,
                        points(&s.samples)
                    ));
                };
                let mut want = Vec::new();
                let mut want_h = Vec::new();
                for (i, p) in exp.points.iter().enumerate() {
                    let Some((start, end, step)) = range else {
                        return Err(format!(
                            "expected {} points for {}, but an instant query cannot return them",
                            exp.points.len(),
                            exp.labels
                        ));
                    };
                    let t = start + step * i as i64;
                    if t > end {
                        return Err(format!(
                            "expected {} points for {}, but the time range cannot return this many",
                            exp.points.len(),
                            exp.labels
                        ));
                    }
                    match p {
                        Point::Float(v) => want.push(Sample::new(t, *v)),
                        Point::Histogram(h, hint) => want_h.push((t, h, *hint)),
                        Point::Omitted => {}
                    }
                }
                let ok = want.len() == s.samples.len()
                    && want
                        .iter()
                        .zip(&s.samples)
                        .all(|(w, g)| w.t == g.t && almost_equal(g.v, w.v, EPSILON));
                if !ok {
                    return Err(format!(
                        "expected {} {}, got {}",
                        s.labels,
                        points(&want),
                        points(&s.samples)
                    ));
                }
                let ok = want_h.len() == s.histograms.len()
                    && want_h
                        .iter()
                        .zip(&s.histograms)
                        .all(|((t, w, hint), g)| *t == g.t && histograms_match(w, &g.h, *hint));
                if !ok {
                    let want: Vec<String> = want_h
                        .iter()
                        .map(|(t, h, _)| format!("{}@{}", h.test_expression(), secs(*t)))
                        .collect();
                    return Err(format!(
                        "expected {} histograms {}, got {}",
                        s.labels,
                        want.join(" "),
                        hpoints(&s.histograms)
                    ));
                }
            }
            if let Some(e) = ev
                .expected
                .iter()
                .find(|e| !m.iter().any(|s| s.labels == e.labels))
            {
                return Err(format!(
                    "expected series {} not found, got {}",
                    e.labels,
                    describe(value)
                ));
            }
        }
        Value::Vector(v) => {
            if ev.expect_scalar.is_some() {
                return Err(format!("expected scalar, got {}", describe(value)));
            }
            for (pos, s) in v.iter().enumerate() {
                let Some(exp) = find(&s.labels) else {
                    return Err(format!("unexpected series {} {}", s.labels, s.v));
                };
                if ev.is_ordered() && exp.pos != pos + 1 {
                    return Err(format!(
                        "expected {} at position {}, got it at {}",
                        s.labels,
                        exp.pos,
                        pos + 1
                    ));
                }
                match (exp.points.first(), &s.h) {
                    (Some(Point::Histogram(want, hint)), Some(got)) => {
                        if !histograms_match(want, got, *hint) {
                            return Err(format!(
                                "expected {} {}, got {}",
                                s.labels,
                                want.test_expression(),
                                got.test_expression()
                            ));
                        }
                    }
                    (Some(Point::Histogram(want, _)), None) => {
                        return Err(format!(
                            "expected {} {}, got float {}",
                            s.labels,
                            want.test_expression(),
                            s.v
                        ));
                    }
                    (want, got) => {
                        let want = match want {
                            Some(Point::Float(f)) => *f,
                            _ => 0.0,
                        };
                        if let Some(h) = got {
                            return Err(format!(
                                "expected {} {want}, got histogram {}",
                                s.labels,
                                h.test_expression()
                            ));
                        }
                        if !almost_equal(want, s.v, EPSILON) {
                            return Err(format!("expected {} {want}, got {}", s.labels, s.v));
                        }
                    }
                }
            }
            if let Some(e) = ev
                .expected
                .iter()
                .find(|e| !v.iter().any(|s| s.labels == e.labels))
            {
                return Err(format!(
                    "expected series {} not found, got {}",
                    e.labels,
                    describe(value)
                ));
            }
        }
        Value::Scalar { v, .. } => match ev.expect_scalar {
            None => return Err(format!("expected vector or matrix, got scalar {v}")),
            Some(want) if !almost_equal(want, *v, EPSILON) => {
                return Err(format!("expected scalar {want}, got {v}"));
            }
            Some(_) => {}
        },
        Value::String { v, .. } => {
            let want = ev.expected_string.as_deref().unwrap_or("");
            if want != v {
                return Err(format!("expected string {want:?}, got {v:?}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_selectors_outside_subqueries() {
        let e =
            promql_parser::parser::parse("rate(a[5m]) + max_over_time(b[10m:1m]) + c @ 5").unwrap();
        let p = pin_at(&e, 60_000).unwrap();
        let mut ats = Vec::new();
        walk(&p, &mut |e| match e {
            Expr::VectorSelector(v) => ats.push(v.at.clone()),
            Expr::MatrixSelector(m) => ats.push(m.vs.at.clone()),
            Expr::Subquery(s) => ats.push(s.at.clone()),
            _ => {}
        });
        assert_eq!(
            ats,
            [
                Some(at_time(60_000)),
                Some(at_time(60_000)),
                None,
                Some(at_time(5_000))
            ]
        );
        assert!(pin_at(&promql_parser::parser::parse("time() + a").unwrap(), 0).is_none());
    }
}
