use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct QueryTypeLabel {
    pub(crate) query_type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ErrorTypeLabel {
    pub(crate) error_type: &'static str,
}

/// The querier's own metrics.
#[derive(Debug, Clone)]
pub(crate) struct QueryMetrics {
    pub(crate) duration: Family<QueryTypeLabel, Histogram>,
    pub(crate) failures: Family<ErrorTypeLabel, Counter>,
}

impl QueryMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let m = Self {
            duration: Family::new_with_constructor(
                (|| Histogram::new(exponential_buckets(0.001, 4.0, 9))) as fn() -> Histogram,
            ),
            failures: Family::default(),
        };
        registry.register(
            "cairn_query_duration_seconds",
            "PromQL evaluation time by query type (instant, range)",
            m.duration.clone(),
        );
        registry.register(
            "cairn_query_failures",
            "Failed queries by Prometheus error type",
            m.failures.clone(),
        );
        m
    }
}
