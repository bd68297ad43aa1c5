use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct TenantLabel {
    pub(crate) tenant: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ReasonLabel {
    pub(crate) reason: String,
}

/// The receiver's own metrics.
#[derive(Debug, Clone)]
pub(crate) struct ReceiveMetrics {
    pub(crate) samples_received: Family<TenantLabel, Counter>,
    pub(crate) samples_rejected: Family<ReasonLabel, Counter>,
    pub(crate) requests_failed: Family<ReasonLabel, Counter>,
}

impl ReceiveMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let m = Self {
            samples_received: Family::default(),
            samples_rejected: Family::default(),
            requests_failed: Family::default(),
        };
        registry.register(
            "cairn_receive_samples_received",
            "Samples received and stored, by tenant",
            m.samples_received.clone(),
        );
        registry.register(
            "cairn_receive_samples_rejected",
            "Samples refused, by reason",
            m.samples_rejected.clone(),
        );
        registry.register(
            "cairn_receive_requests_failed",
            "Write requests that failed as a whole, by reason",
            m.requests_failed.clone(),
        );
        m
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct IngesterLabel {
    pub(crate) ingester: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct IngesterErrorLabels {
    pub(crate) ingester: String,
    /// `refused` (bad data, never retried) or `failed` (down, timeout, 5xx).
    pub(crate) kind: String,
}

/// The distributor's metrics: per-ingester pushes and quorum failures.
#[derive(Debug, Clone)]
pub(crate) struct DistributorMetrics {
    pub(crate) push_duration: Family<IngesterLabel, Histogram>,
    pub(crate) push_errors: Family<IngesterErrorLabels, Counter>,
    pub(crate) quorum_failures: Family<ReasonLabel, Counter>,
}

impl DistributorMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let m = Self {
            // 1ms .. ~33s.
            push_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 16))
            }),
            push_errors: Family::default(),
            quorum_failures: Family::default(),
        };
        registry.register(
            "cairn_receive_ingester_push_duration_seconds",
            "Latency of one push to one ingester, by ingester id",
            m.push_duration.clone(),
        );
        registry.register(
            "cairn_receive_ingester_push_errors",
            "Pushes to an ingester that failed, by ingester id and kind (refused: bad data; failed: retryable)",
            m.push_errors.clone(),
        );
        registry.register(
            "cairn_receive_quorum_failures",
            "Series that could not reach a write quorum, by reason (ring: too few healthy ingesters; ingesters: too few acknowledged; no_ingesters)",
            m.quorum_failures.clone(),
        );
        m
    }
}
