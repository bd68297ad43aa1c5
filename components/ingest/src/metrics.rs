use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ReasonLabel {
    pub(crate) reason: String,
}

/// The ingester's own metrics.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    pub(crate) samples_appended: Counter,
    pub(crate) samples_rejected: Family<ReasonLabel, Counter>,
    pub(crate) head_series: Gauge,
    pub(crate) head_samples: Gauge,
    pub(crate) tenants: Gauge,
    pub(crate) wal_bytes: Gauge,
    pub(crate) wal_corruptions: Counter,
    pub(crate) wal_replay_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl IngestMetrics {
    /// Creates the metrics and registers them under `cairn_ingest_*`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self {
            samples_appended: Counter::default(),
            samples_rejected: Family::default(),
            head_series: Gauge::default(),
            head_samples: Gauge::default(),
            tenants: Gauge::default(),
            wal_bytes: Gauge::default(),
            wal_corruptions: Counter::default(),
            wal_replay_seconds: Gauge::default(),
        };
        registry.register(
            "cairn_ingest_samples_appended",
            "Samples appended to heads",
            m.samples_appended.clone(),
        );
        registry.register(
            "cairn_ingest_samples_rejected",
            "Samples refused by heads, by reason",
            m.samples_rejected.clone(),
        );
        registry.register(
            "cairn_ingest_head_series",
            "Series in all heads",
            m.head_series.clone(),
        );
        registry.register(
            "cairn_ingest_head_samples",
            "Samples appended to heads since they were opened (incl. replay)",
            m.head_samples.clone(),
        );
        registry.register(
            "cairn_ingest_tenants",
            "Tenants with a head",
            m.tenants.clone(),
        );
        registry.register(
            "cairn_ingest_wal_bytes",
            "Bytes of WAL segments on disk",
            m.wal_bytes.clone(),
        );
        registry.register(
            "cairn_ingest_wal_corruptions",
            "WAL replays that found and truncated a damaged tail",
            m.wal_corruptions.clone(),
        );
        registry.register(
            "cairn_ingest_wal_replay_seconds",
            "How long the last WAL replay took",
            m.wal_replay_seconds.clone(),
        );
        m
    }
}
