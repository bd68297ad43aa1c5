use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ReasonLabel {
    pub(crate) reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ResultLabel {
    pub(crate) result: &'static str,
}

impl ResultLabel {
    pub(crate) const OK: Self = Self { result: "ok" };
    pub(crate) const FAILED: Self = Self { result: "failed" };
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
    pub(crate) blocks_cut: Counter,
    pub(crate) block_uploads: Family<ResultLabel, Counter>,
    pub(crate) blocks_pending: Gauge,
    pub(crate) block_upload_bytes: Counter,
    pub(crate) last_upload_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub(crate) head_truncations: Family<ResultLabel, Counter>,
    pub(crate) metadata_dropped: Counter,
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
            blocks_cut: Counter::default(),
            block_uploads: Family::default(),
            blocks_pending: Gauge::default(),
            block_upload_bytes: Counter::default(),
            last_upload_seconds: Gauge::default(),
            head_truncations: Family::default(),
            metadata_dropped: Counter::default(),
        };
        registry.register(
            "cairn_ingest_metadata_dropped",
            "Metric metadata entries dropped because the tenant has ingest.max_metadata_per_tenant families",
            m.metadata_dropped.clone(),
        );
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
        registry.register(
            "cairn_ingest_blocks_cut",
            "Blocks cut from heads and written to the local blocks directory",
            m.blocks_cut.clone(),
        );
        registry.register(
            "cairn_ingest_block_uploads",
            "Block upload attempts to the bucket, by result",
            m.block_uploads.clone(),
        );
        registry.register(
            "cairn_ingest_blocks_pending_upload",
            "Blocks cut but not yet shipped (the head keeps their data until they are)",
            m.blocks_pending.clone(),
        );
        registry.register(
            "cairn_ingest_block_upload_bytes",
            "Bytes of blocks uploaded to the bucket",
            m.block_upload_bytes.clone(),
        );
        registry.register(
            "cairn_ingest_last_block_upload_timestamp_seconds",
            "Unix time of the last successful block upload",
            m.last_upload_seconds.clone(),
        );
        registry.register(
            "cairn_ingest_head_truncations",
            "Head and WAL truncations after shipping, by result",
            m.head_truncations.clone(),
        );
        m
    }
}
