use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ReasonLabel {
    pub(crate) reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct HaltLabels {
    pub(crate) tenant: String,
    pub(crate) reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct ResolutionLabel {
    pub(crate) resolution: String,
}

/// The compactor's metrics, `cairn_compactor_*`.
#[derive(Debug, Clone)]
pub struct CompactMetrics {
    pub(crate) runs: Counter,
    pub(crate) run_failures: Counter,
    pub(crate) run_seconds: Gauge<f64, AtomicU64>,
    pub(crate) last_success: Gauge<f64, AtomicU64>,
    pub(crate) compactions: Counter,
    pub(crate) vertical_compactions: Counter,
    pub(crate) downsamplings: Family<ResolutionLabel, Counter>,
    pub(crate) blocks_marked: Family<ReasonLabel, Counter>,
    pub(crate) blocks_deleted: Counter,
    pub(crate) partial_uploads_deleted: Counter,
    pub(crate) bytes_written: Counter,
    pub(crate) halted: Family<HaltLabels, Gauge>,
    pub(crate) halts: Counter,
}

impl CompactMetrics {
    /// Creates the metrics and registers them.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self {
            runs: Counter::default(),
            run_failures: Counter::default(),
            run_seconds: Gauge::default(),
            last_success: Gauge::default(),
            compactions: Counter::default(),
            vertical_compactions: Counter::default(),
            downsamplings: Family::default(),
            blocks_marked: Family::default(),
            blocks_deleted: Counter::default(),
            partial_uploads_deleted: Counter::default(),
            bytes_written: Counter::default(),
            halted: Family::default(),
            halts: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("cairn_compactor");
        r.register("runs", "Compaction runs over all tenants", m.runs.clone());
        r.register(
            "run_failures",
            "Tenant runs that failed (store errors, halts)",
            m.run_failures.clone(),
        );
        r.register(
            "run_duration_seconds",
            "How long the last run over all tenants took",
            m.run_seconds.clone(),
        );
        r.register(
            "last_successful_run_timestamp_seconds",
            "When a run last finished without failures",
            m.last_success.clone(),
        );
        r.register(
            "compactions",
            "Blocks written by compaction",
            m.compactions.clone(),
        );
        r.register(
            "vertical_compactions",
            "Compactions that merged overlapping blocks",
            m.vertical_compactions.clone(),
        );
        r.register(
            "downsamplings",
            "Downsampled blocks written, by resolution",
            m.downsamplings.clone(),
        );
        r.register(
            "blocks_marked_for_deletion",
            "Deletion marks written, by reason (compacted, retention)",
            m.blocks_marked.clone(),
        );
        r.register(
            "blocks_deleted",
            "Blocks deleted after their deletion delay",
            m.blocks_deleted.clone(),
        );
        r.register(
            "partial_uploads_deleted",
            "Block directories without meta.json removed",
            m.partial_uploads_deleted.clone(),
        );
        r.register(
            "written_bytes",
            "Bytes of block files uploaded",
            m.bytes_written.clone(),
        );
        r.register(
            "halted",
            "1 while a tenant's compaction is halted, by tenant and reason",
            m.halted.clone(),
        );
        r.register(
            "halts",
            "Tenant runs halted by overlapping or corrupt blocks",
            m.halts.clone(),
        );
        m
    }

    /// Metrics registered nowhere (tests, tools).
    pub fn unregistered() -> Self {
        Self::new(&mut Registry::default())
    }
}
