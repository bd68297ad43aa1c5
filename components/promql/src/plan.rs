//! Planning: find every selector in the AST and the time range it needs, so all data can
//! be fetched from [`Storage`](crate::Storage) before the synchronous evaluation starts.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use cairn_model::{MatchOp, Matcher, METRIC_NAME};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};

use crate::error::{QueryError, Result};
use crate::storage::{SelectHints, SelectRequest};

/// Identifies a selector node of the (boxed, never moved) AST by its address.
pub(crate) fn selector_key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

/// Milliseconds of a duration, saturating.
pub(crate) fn duration_ms(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The signed offset in milliseconds (`offset -5m` is negative).
pub(crate) fn offset_ms(o: Option<&Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
    }
}

/// Milliseconds since the epoch (negative before it).
pub(crate) fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => duration_ms(&d),
        Err(e) => -duration_ms(&e.duration()),
    }
}

/// The absolute time an `@` modifier pins evaluation to.
pub(crate) fn at_ms(at: Option<&AtModifier>, query_start: i64, query_end: i64) -> Option<i64> {
    at.map(|a| match a {
        AtModifier::Start => query_start,
        AtModifier::End => query_end,
        AtModifier::At(t) => system_time_ms(t),
    })
}

/// Converts a selector's matchers (plus its metric name) into model matchers.
pub fn selector_matchers(vs: &VectorSelector) -> Result<Vec<Matcher>> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(QueryError::Parse(
            "'or' in label matchers is not supported".into(),
        ));
    }
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(Matcher::equal(METRIC_NAME, name.clone()));
    }
    for m in &vs.matchers.matchers {
        let op = match m.op {
            PMatchOp::Equal => MatchOp::Equal,
            PMatchOp::NotEqual => MatchOp::NotEqual,
            PMatchOp::Re(_) => MatchOp::Regex,
            PMatchOp::NotRe(_) => MatchOp::NotRegex,
        };
        out.push(
            Matcher::new(op, m.name.clone(), m.value.clone())
                .map_err(|e| QueryError::Parse(e.to_string()))?,
        );
    }
    Ok(out)
}

/// Where a subquery evaluates when its enclosing expression covers `[start, end]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubqueryWindow {
    /// First own step (aligned to `step`).
    pub(crate) start: i64,
    /// Last own step.
    pub(crate) end: i64,
    /// Own resolution (the default subquery step when not written).
    pub(crate) step: i64,
    /// The `[range]`.
    pub(crate) range: i64,
    /// The `offset`.
    pub(crate) offset: i64,
    /// The `@` time, if any.
    pub(crate) at: Option<i64>,
}

/// The steps of subquery `sq` inside outer steps `[start, end]`: planning and evaluation
/// must agree on them exactly, or the evaluator would read outside the fetched data.
pub(crate) fn subquery_window(
    sq: &SubqueryExpr,
    start: i64,
    end: i64,
    tp: &TimeParams,
) -> SubqueryWindow {
    let offset = offset_ms(sq.offset.as_ref());
    let range = duration_ms(&sq.range);
    let step = sq
        .step
        .as_ref()
        .map(duration_ms)
        .filter(|s| *s > 0)
        .unwrap_or(tp.subquery_step);
    let at = at_ms(sq.at.as_ref(), tp.query_start, tp.query_end);
    let (s, e) = at.map_or((start, end), |at| (at, at));
    SubqueryWindow {
        start: subquery_start(s.saturating_sub(offset).saturating_sub(range), step),
        end: e.saturating_sub(offset),
        step,
        range,
        offset,
        at,
    }
}

/// The first step of a subquery: the first multiple of `step` after `from` (exclusive),
/// with Go's truncating division as in Prometheus.
fn subquery_start(from: i64, step: i64) -> i64 {
    let mut start = step.saturating_mul(from / step);
    if start <= from {
        start = start.saturating_add(step);
    }
    start
}

/// Time parameters that planning and evaluation share.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeParams {
    pub(crate) query_start: i64,
    pub(crate) query_end: i64,
    pub(crate) step: i64,
    pub(crate) lookback: i64,
    pub(crate) subquery_step: i64,
}

/// Collects one [`SelectRequest`] per selector node.
#[derive(Debug, Default)]
pub(crate) struct Planner {
    pub(crate) requests: HashMap<usize, SelectRequest>,
}

impl Planner {
    /// Walks `expr`, evaluated at steps within `[start, end]`.
    pub(crate) fn walk(
        &mut self,
        expr: &Expr,
        start: i64,
        end: i64,
        tp: &TimeParams,
        hints: &SelectHints,
    ) -> Result<()> {
        match expr {
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
            Expr::Paren(p) => self.walk(&p.expr, start, end, tp, hints),
            Expr::Unary(u) => self.walk(&u.expr, start, end, tp, hints),
            Expr::Binary(b) => {
                self.walk(&b.lhs, start, end, tp, hints)?;
                self.walk(&b.rhs, start, end, tp, hints)
            }
            Expr::Aggregate(a) => {
                let mut h = hints.clone();
                h.func = Some(a.op.to_string());
                if let Some(m) = &a.modifier {
                    h.grouping = m.labels().labels.clone();
                    h.by = m.is_include();
                }
                if let Some(p) = &a.param {
                    self.walk(p, start, end, tp, hints)?;
                }
                self.walk(&a.expr, start, end, tp, &h)
            }
            Expr::Call(c) => {
                let h = SelectHints {
                    func: Some(c.func.name.to_string()),
                    ..hints.clone()
                };
                for a in &c.args.args {
                    self.walk(a, start, end, tp, &h)?;
                }
                Ok(())
            }
            Expr::VectorSelector(vs) => self.add(vs, start, end, tp.lookback, 0, tp, hints),
            Expr::MatrixSelector(ms) => {
                let range = duration_ms(&ms.range);
                self.add(&ms.vs, start, end, range, range, tp, hints)
            }
            Expr::Subquery(sq) => {
                let w = subquery_window(sq, start, end, tp);
                let h = SelectHints {
                    step_ms: w.step,
                    ..hints.clone()
                };
                self.walk(&sq.expr, w.start, w.end, tp, &h)
            }
            Expr::Extension(_) => Err(QueryError::exec("extension expressions are not supported")),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        vs: &VectorSelector,
        start: i64,
        end: i64,
        window: i64,
        range: i64,
        tp: &TimeParams,
        hints: &SelectHints,
    ) -> Result<()> {
        let off = offset_ms(vs.offset.as_ref());
        let (s, e) = match at_ms(vs.at.as_ref(), tp.query_start, tp.query_end) {
            Some(at) => (at, at),
            None => (start, end),
        };
        // Windows are left-open: (ref - window, ref].
        let (lo, hi) = (
            s.saturating_sub(off)
                .saturating_sub(window)
                .saturating_add(1),
            e.saturating_sub(off),
        );
        let key = selector_key(vs);
        if let Some(req) = self.requests.get_mut(&key) {
            req.start = req.start.min(lo);
            req.end = req.end.max(hi);
            return Ok(());
        }
        let h = SelectHints {
            range_ms: range,
            step_ms: if hints.step_ms != 0 {
                hints.step_ms
            } else {
                tp.step
            },
            ..hints.clone()
        };
        self.requests.insert(
            key,
            SelectRequest {
                matchers: selector_matchers(vs)?,
                start: lo,
                end: hi,
                hints: h,
            },
        );
        Ok(())
    }
}
