//! The query engine: limits, planning, fetching and conversion of results.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use promql_parser::parser::Expr;
use tokio::sync::Semaphore;

use crate::error::{QueryError, Result};
use crate::eval::{Annotations, Evaluator, Limits, SelectorData, Val};
use crate::plan::{duration_ms, Planner, TimeParams};
use crate::storage::{SelectHints, Storage};
use crate::value::{QueryResult, RangeSeries, Value, VectorSample};

/// Most points a range query may return per series (Prometheus's API limit).
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (default 5m).
    pub lookback_delta: Duration,
    /// Most samples a query may hold in memory at once (default 50,000,000).
    pub max_samples: usize,
    /// Longest a query may take, including time waiting for a slot (default 2m).
    pub timeout: Duration,
    /// Most queries evaluated at once; more wait in a queue (default 20).
    pub max_concurrent: usize,
    /// Step of subqueries written without one, like `x[5m:]` (default 1m, Prometheus's
    /// default global evaluation interval).
    pub no_step_subquery_interval: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_delta: Duration::from_secs(5 * 60),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(2 * 60),
            max_concurrent: 20,
            no_step_subquery_interval: Duration::from_secs(60),
        }
    }
}

/// Per-query settings.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// Overrides [`EngineOptions::lookback_delta`] when set.
    pub lookback_delta: Option<Duration>,
}

/// Evaluates PromQL queries against a [`Storage`].
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) opts: EngineOptions,
    pub(crate) slots: Arc<Semaphore>,
}

/// Sets the cancel flag when the query future is dropped, so evaluation running on a
/// blocking thread stops early.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Engine {
    /// An engine with the given options.
    pub fn new(opts: EngineOptions) -> Self {
        let slots = Arc::new(Semaphore::new(opts.max_concurrent.max(1)));
        Self { opts, slots }
    }

    /// The engine's options.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `query` at `time_ms`.
    pub async fn instant_query(
        &self,
        storage: &dyn Storage,
        query: &str,
        time_ms: i64,
        opts: &QueryOptions,
    ) -> Result<QueryResult> {
        self.exec(storage, query, time_ms, time_ms, 0, opts).await
    }

    /// Evaluates `query` at every `step_ms` from `start_ms` to `end_ms` (inclusive).
    pub async fn range_query(
        &self,
        storage: &dyn Storage,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: &QueryOptions,
    ) -> Result<QueryResult> {
        check_range(start_ms, end_ms, step_ms)?;
        self.exec(storage, query, start_ms, end_ms, step_ms, opts)
            .await
    }

    async fn exec(
        &self,
        storage: &dyn Storage,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        opts: &QueryOptions,
    ) -> Result<QueryResult> {
        let (deadline, slot) = self.acquire_slot().await?;
        let expr = crate::parse_query(query).map_err(QueryError::Parse)?;
        self.exec_expr(storage, query, expr, start, end, step, opts, deadline, slot)
            .await
    }

    /// Evaluates an already parsed expression over `[start, end]` (`step == 0` for an
    /// instant query). The promqltest runner uses this to re-run queries with `@`
    /// modifiers added to the AST.
    pub(crate) async fn query_expr(
        &self,
        storage: &dyn Storage,
        expr: Expr,
        start: i64,
        end: i64,
        step: i64,
        opts: &QueryOptions,
    ) -> Result<QueryResult> {
        if step != 0 {
            check_range(start, end, step)?;
        }
        let (deadline, slot) = self.acquire_slot().await?;
        self.exec_expr(storage, "", expr, start, end, step, opts, deadline, slot)
            .await
    }

    /// Waits for a query slot; returns the query's deadline (queueing counts) and the slot.
    async fn acquire_slot(&self) -> Result<(Instant, tokio::sync::OwnedSemaphorePermit)> {
        let deadline = Instant::now() + self.opts.timeout;
        let slot = tokio::time::timeout_at(
            tokio::time::Instant::from_std(deadline),
            self.slots.clone().acquire_owned(),
        )
        .await
        .map_err(|_| QueryError::Timeout("query queue"))?
        .map_err(|_| QueryError::Canceled("query queue"))?;
        Ok((deadline, slot))
    }

    #[allow(clippy::too_many_arguments)]
    async fn exec_expr(
        &self,
        storage: &dyn Storage,
        query: &str,
        expr: Expr,
        start: i64,
        end: i64,
        step: i64,
        opts: &QueryOptions,
        deadline: Instant,
        _slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<QueryResult> {
        let tokio_deadline = tokio::time::Instant::from_std(deadline);
        let expr = Box::new(expr);
        let instant = step == 0;
        if !instant {
            match expr.value_type() {
                promql_parser::parser::value::ValueType::Scalar
                | promql_parser::parser::value::ValueType::Vector => {}
                other => {
                    return Err(QueryError::Parse(format!(
                        "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                        match other {
                            promql_parser::parser::value::ValueType::Matrix => "range vector",
                            _ => "string",
                        }
                    )))
                }
            }
        }
        let lookback = opts.lookback_delta.unwrap_or(self.opts.lookback_delta);
        let tp = TimeParams {
            query_start: start,
            query_end: end,
            step,
            lookback: duration_ms(&lookback).max(1),
            subquery_step: duration_ms(&self.opts.no_step_subquery_interval).max(1),
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(cancel.clone());
        let max_samples = self.opts.max_samples;
        let work = async move {
            let mut planner = Planner::default();
            planner.walk(&expr, start, end, &tp, &SelectHints::default())?;
            let keys: Vec<usize> = planner.requests.keys().copied().collect();
            let fetched = futures::future::try_join_all(
                keys.iter().map(|k| storage.select(&planner.requests[k])),
            )
            .await?;
            let mut warnings = Vec::new();
            let mut data: HashMap<usize, SelectorData> = HashMap::new();
            for (k, res) in keys.into_iter().zip(fetched) {
                let req = &planner.requests[&k];
                for w in res.warnings {
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                }
                data.insert(
                    k,
                    SelectorData {
                        start: req.start,
                        end: req.end,
                        series: res.series,
                    },
                );
            }
            tracing::debug!(query, selectors = data.len(), "fetched selector data");
            let handle = tokio::task::spawn_blocking(move || {
                evaluate(
                    &expr,
                    &data,
                    start,
                    end,
                    step,
                    tp,
                    max_samples,
                    deadline,
                    cancel,
                )
            });
            let (value, mut annotations) = handle
                .await
                .map_err(|e| QueryError::exec(format!("evaluation failed: {e}")))??;
            warnings.append(&mut annotations.warnings);
            Ok::<_, QueryError>(QueryResult {
                value,
                warnings,
                infos: annotations.infos,
            })
        };
        tokio::time::timeout_at(tokio_deadline, work)
            .await
            .map_err(|_| QueryError::Timeout("expression evaluation"))?
    }
}

/// Prometheus's checks of a range query's start, end and step.
fn check_range(start_ms: i64, end_ms: i64, step_ms: i64) -> Result<()> {
    if step_ms <= 0 {
        return Err(QueryError::Parse(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
    }
    if end_ms < start_ms {
        return Err(QueryError::Parse(
            "end timestamp must not be before start time".into(),
        ));
    }
    if (end_ms - start_ms) / step_ms > MAX_POINTS_PER_SERIES {
        return Err(QueryError::Parse(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
    }
    Ok(())
}

/// Runs the synchronous evaluation and converts the result to a [`Value`].
#[allow(clippy::too_many_arguments)]
fn evaluate(
    expr: &Expr,
    data: &HashMap<usize, SelectorData>,
    start: i64,
    end: i64,
    step: i64,
    tp: TimeParams,
    max_samples: usize,
    deadline: Instant,
    cancel: Arc<AtomicBool>,
) -> Result<(Value, Annotations)> {
    let limits = Limits::new(max_samples, deadline, cancel);
    let annotations = RefCell::new(Annotations::default());
    let ev = Evaluator {
        start,
        end,
        interval: step.max(1),
        tp,
        data,
        limits: &limits,
        annotations: &annotations,
    };
    let val = match ev.eval(expr)? {
        Val::Vector(series) => Val::Vector(crate::eval::remove_pending_names(series)?),
        Val::Matrix(series) => Val::Matrix(crate::eval::remove_pending_names(series)?),
        other => other,
    };
    let value = if step == 0 {
        match val {
            Val::Scalar(v) => Value::Scalar { t: start, v: v[0] },
            Val::String(s) => Value::String { t: start, v: s },
            Val::Vector(series) => {
                let mut out: Vec<VectorSample> = series
                    .into_iter()
                    .filter_map(|s| match (s.points.first(), s.hpoints.first()) {
                        (Some(p), _) => Some(VectorSample {
                            labels: s.labels,
                            t: start,
                            v: p.v,
                            h: None,
                        }),
                        (None, Some(h)) => Some(VectorSample {
                            labels: s.labels,
                            t: start,
                            v: 0.0,
                            h: Some(h.h.clone()),
                        }),
                        (None, None) => None,
                    })
                    .collect();
                if !keeps_order(expr) {
                    out.sort_by(|a, b| a.labels.cmp(&b.labels));
                }
                Value::Vector(out)
            }
            Val::Matrix(series) => Value::Matrix(to_matrix(series)),
        }
    } else {
        match val {
            Val::Scalar(v) => Value::Matrix(vec![RangeSeries {
                labels: cairn_model::Labels::empty(),
                samples: v
                    .into_iter()
                    .enumerate()
                    .map(|(i, x)| cairn_model::Sample::new(ev.ts(i), x))
                    .collect(),
                histograms: Vec::new(),
            }]),
            Val::Vector(series) | Val::Matrix(series) => Value::Matrix(to_matrix(series)),
            Val::String(_) => {
                return Err(QueryError::Parse(
                    "invalid expression type \"string\" for range query, must be Scalar or instant Vector".into(),
                ))
            }
        }
    };
    Ok((value, annotations.into_inner()))
}

fn to_matrix(series: Vec<crate::eval::Series>) -> Vec<RangeSeries> {
    let mut out: Vec<RangeSeries> = series
        .into_iter()
        .filter(|s| s.len() > 0)
        .map(|s| RangeSeries {
            labels: s.labels,
            samples: s.points,
            histograms: s.hpoints,
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

/// Whether the result order is meaningful (sorting functions and topk/bottomk at the
/// top), so instant vectors must not be re-sorted by labels.
fn keeps_order(expr: &Expr) -> bool {
    use promql_parser::parser::token::{T_BOTTOMK, T_TOPK};
    match expr {
        Expr::Paren(p) => keeps_order(&p.expr),
        Expr::Call(c) => matches!(
            c.func.name,
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"
        ),
        Expr::Aggregate(a) => a.op.id() == T_TOPK || a.op.id() == T_BOTTOMK,
        _ => false,
    }
}
