use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
