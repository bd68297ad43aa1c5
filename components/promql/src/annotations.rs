//! The texts of Prometheus's PromQL annotations about native histograms (upstream's
//! `util/annotations`), without the expression position its HTTP API appends.

/// `rate(x[5m])` over a window holding both floats and histograms.
pub(crate) fn mixed_floats_histograms(metric: &str) -> String {
    format!("PromQL warning: encountered a mix of histograms and floats for metric name {metric:?}")
}

/// An aggregation that met both floats and histograms in one group.
pub(crate) fn mixed_floats_histograms_aggregation() -> String {
    "PromQL warning: encountered a mix of histograms and floats for aggregation".to_string()
}

/// Exponential and custom-bucket histograms combined.
pub(crate) fn mixed_exponential_custom(metric: &str) -> String {
    format!(
        "PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name {metric:?}"
    )
}

/// `rate`/`increase`/`irate` of a gauge histogram.
pub(crate) fn not_counter(metric: &str) -> String {
    format!("PromQL warning: this native histogram metric is not a counter: {metric:?}")
}

/// `delta`/`idelta` of a counter histogram.
pub(crate) fn not_gauge(metric: &str) -> String {
    format!("PromQL warning: this native histogram metric is not a gauge: {metric:?}")
}

/// A float-only range function over a window that also held histograms.
pub(crate) fn histogram_ignored_in_mixed_range(metric: &str) -> String {
    format!(
        "PromQL info: ignored histograms in a range containing both floats and histograms for metric name {metric:?}"
    )
}

/// A float-only aggregation (`min`, `quantile`, ...) that met histograms.
pub(crate) fn histogram_ignored_in_aggregation(aggregation: &str) -> String {
    format!("PromQL info: ignored histogram in {aggregation} aggregation")
}

/// A binary operator between a float and a histogram that has no meaning.
pub(crate) fn incompatible_types_in_binop(op: &str, lhs: &str, rhs: &str) -> String {
    format!("PromQL info: incompatible sample types encountered for binary operator {op:?}: {lhs} {op} {rhs}")
}

/// Histograms whose bucket layouts cannot be combined by a binary operator.
pub(crate) fn incompatible_bucket_layout_in_binop(op: &str) -> String {
    format!("PromQL warning: incompatible bucket layout encountered for binary operator {op}")
}

/// Which histogram operation an annotation is about (upstream's `HistogramOperation`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum HistogramOp {
    Add,
    Sub,
    Agg,
}

impl HistogramOp {
    fn as_str(self) -> &'static str {
        match self {
            Self::Add => "addition",
            Self::Sub => "subtraction",
            Self::Agg => "aggregation",
        }
    }
}

/// Histograms with a counter reset and a not-counter-reset hint combined.
pub(crate) fn counter_reset_collision(op: HistogramOp) -> String {
    format!(
        "PromQL warning: conflicting counter resets during histogram {}",
        op.as_str()
    )
}

/// Custom-bucket histograms with different bounds combined on their common bounds.
pub(crate) fn mismatched_custom_buckets(op: HistogramOp) -> String {
    format!(
        "PromQL info: mismatched custom buckets were reconciled during {}",
        op.as_str()
    )
}
