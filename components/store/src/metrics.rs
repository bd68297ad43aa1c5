use cairn_block::BlockCaches;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering;

/// The store gateway's own metrics.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoreMetrics {
    pub(crate) blocks_loaded: Gauge,
    pub(crate) tenants: Gauge,
    pub(crate) syncs: Counter,
    pub(crate) sync_failures: Counter,
    pub(crate) last_sync_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub(crate) series_returned: Counter,
    pub(crate) chunks_returned: Counter,
    pub(crate) block_reads: Counter,
    pub(crate) block_read_failures: Counter,
}

impl StoreMetrics {
    /// Creates the metrics and registers them (and the cache counters of `caches`)
    /// under `cairn_store_*`.
    pub(crate) fn new(registry: &mut Registry, caches: &BlockCaches) -> Self {
        let m = Self::default();
        registry.register(
            "cairn_store_blocks_loaded",
            "Blocks the store gateway serves",
            m.blocks_loaded.clone(),
        );
        registry.register(
            "cairn_store_tenants",
            "Tenants with at least one block",
            m.tenants.clone(),
        );
        registry.register(
            "cairn_store_syncs",
            "Bucket syncs attempted",
            m.syncs.clone(),
        );
        registry.register(
            "cairn_store_sync_failures",
            "Bucket syncs that failed (the previous block set stays in use)",
            m.sync_failures.clone(),
        );
        registry.register(
            "cairn_store_last_successful_sync_timestamp_seconds",
            "Unix time of the last sync that listed every tenant",
            m.last_sync_seconds.clone(),
        );
        registry.register(
            "cairn_store_series_returned",
            "Series returned by Series calls",
            m.series_returned.clone(),
        );
        registry.register(
            "cairn_store_chunks_returned",
            "Chunks returned by Series calls",
            m.chunks_returned.clone(),
        );
        registry.register(
            "cairn_store_block_reads",
            "Queries run against single blocks",
            m.block_reads.clone(),
        );
        registry.register(
            "cairn_store_block_read_failures",
            "Queries against single blocks that failed",
            m.block_read_failures.clone(),
        );
        registry.register_collector(Box::new(CacheCollector(caches.clone())));
        m
    }
}

/// Reads the shared block caches' counters at scrape time.
#[derive(Debug)]
struct CacheCollector(BlockCaches);

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = self.0.stats();
        let usage = self.0.usage();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let counters = [
            (
                "cairn_store_cache_hits",
                "Cache lookups served from memory, by cache",
                [load(&s.metadata_hits), load(&s.data_hits)],
            ),
            (
                "cairn_store_cache_misses",
                "Cache lookups that went to the bucket, by cache",
                [load(&s.metadata_misses), load(&s.data_misses)],
            ),
        ];
        for (name, help, values) in counters {
            let mut e = encoder.encode_descriptor(
                name,
                help,
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            for (cache, v) in ["metadata", "data"].into_iter().zip(values) {
                ConstCounter::new(v).encode(e.encode_family(&[("cache", cache)])?)?;
            }
        }
        let fetched = ConstCounter::new(load(&s.bytes_fetched));
        fetched.encode(encoder.encode_descriptor(
            "cairn_store_bucket_fetched_bytes",
            "Bytes of block data read from the bucket",
            None,
            fetched.metric_type(),
        )?)?;
        let mut e = encoder.encode_descriptor(
            "cairn_store_cache_bytes",
            "Bytes held by each cache",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for (cache, bytes) in [
            ("metadata", usage.metadata_bytes),
            ("data", usage.data_bytes),
        ] {
            ConstGauge::new(bytes as i64).encode(e.encode_family(&[("cache", cache)])?)?;
        }
        Ok(())
    }
}
