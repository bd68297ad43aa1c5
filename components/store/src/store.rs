use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use cairn_block::{
    fetch_meta, BlockCaches, BlockChunk, BlockError, BlockReader, BlockSeries, CacheSizes,
    ChunkData, META_FILE,
};
use cairn_chunk::Encoding;
use cairn_model::{Labels, TenantId};
use cairn_objstore::Bucket;
use cairn_storeapi::{
    merge_sorted, sorted_union, RawAggregates, RawChunk, RawSeries, SeriesQuery, StoreApiError,
    StoreBackend, StoreInfo,
};
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt, TryStreamExt};
use futures::FutureExt;
use parking_lot::RwLock;
use tokio::sync::{watch, Semaphore};
use ulid::Ulid;

use crate::blockset::BlockSet;
use crate::{StoreConfig, StoreError, StoreMetrics};

/// One tenant's blocks: every block found (so a sync never re-reads a known
/// `meta.json`) and the set queries read.
#[derive(Debug, Default)]
struct TenantBlocks {
    known: HashMap<Ulid, BlockReader>,
    visible: BlockSet,
}

/// What one sync found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Blocks served after the sync.
    pub blocks: usize,
    /// Blocks that appeared.
    pub added: usize,
    /// Blocks that disappeared from the bucket and were dropped.
    pub removed: usize,
}

/// The store gateway: every block of every tenant in a bucket, served as a
/// [`StoreBackend`]. Only each block's `meta.json` stays in memory; footers and pages
/// go through the shared, bounded [`BlockCaches`].
#[derive(Debug)]
pub struct BlockStore {
    bucket: Bucket,
    caches: BlockCaches,
    tenants: RwLock<HashMap<String, Arc<TenantBlocks>>>,
    reads: Arc<Semaphore>,
    max_concurrent_reads: usize,
    metrics: StoreMetrics,
    synced_tx: watch::Sender<bool>,
}

impl BlockStore {
    /// A store over `bucket` with caches sized by `config`. No block is known until the
    /// first [`sync`](Self::sync).
    pub fn new(
        bucket: Bucket,
        config: &StoreConfig,
        metrics_registry: Option<&mut prometheus_client::registry::Registry>,
    ) -> Self {
        let caches = BlockCaches::new(CacheSizes {
            metadata_bytes: config.metadata_cache_bytes,
            data_bytes: config.data_cache_bytes,
        });
        let metrics = match metrics_registry {
            Some(r) => StoreMetrics::new(r, &caches),
            None => StoreMetrics::default(),
        };
        Self {
            bucket,
            caches,
            tenants: RwLock::new(HashMap::new()),
            reads: Arc::new(Semaphore::new(config.max_concurrent_block_reads)),
            max_concurrent_reads: config.max_concurrent_block_reads,
            metrics,
            synced_tx: watch::channel(false).0,
        }
    }

    /// The caches shared by every block (for their sizes and counters).
    pub fn caches(&self) -> &BlockCaches {
        &self.caches
    }

    /// Whether a sync has completed; the role is ready from then on.
    pub fn synced(&self) -> watch::Receiver<bool> {
        self.synced_tx.subscribe()
    }

    /// Blocks currently served, over all tenants.
    pub fn num_blocks(&self) -> usize {
        self.tenants.read().values().map(|t| t.known.len()).sum()
    }

    /// Lists the bucket: opens blocks that appeared (reading only their `meta.json`),
    /// drops those that disappeared and evicts them from the caches. Blocks with a
    /// deletion mark are still served: the compactor deletes them only after a delay
    /// so that queries running now can finish. A tenant that cannot be listed keeps
    /// its previous blocks; the error is returned after the other tenants synced.
    pub async fn sync(&self) -> Result<SyncReport, StoreError> {
        self.metrics.syncs.inc();
        let result = self.sync_inner().await;
        match &result {
            Ok(r) => {
                self.metrics.last_sync_seconds.set(
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64()),
                );
                self.synced_tx.send_replace(true);
                tracing::debug!(
                    blocks = r.blocks,
                    added = r.added,
                    removed = r.removed,
                    "store sync done"
                );
            }
            Err(e) => {
                self.metrics.sync_failures.inc();
                tracing::warn!(error = %e, "store sync failed; serving the previous block set");
            }
        }
        result
    }

    async fn sync_inner(&self) -> Result<SyncReport, StoreError> {
        let names = self
            .bucket
            .list_dirs("")
            .await
            .map_err(|source| StoreError::List {
                what: "tenants".into(),
                source,
            })?;
        let mut report = SyncReport::default();
        let mut first_error = None;
        let mut next: HashMap<String, Arc<TenantBlocks>> = HashMap::new();
        for tenant in names {
            let previous = self.tenants.read().get(&tenant).cloned();
            match self
                .sync_tenant(&tenant, previous.as_deref(), &mut report)
                .await
            {
                Ok(Some(t)) => {
                    next.insert(tenant, Arc::new(t));
                }
                Ok(None) => {}
                Err(e) => {
                    if let Some(p) = previous {
                        next.insert(tenant, p);
                    }
                    first_error.get_or_insert(e);
                }
            }
        }
        // Tenants whose directory vanished entirely.
        for (tenant, old) in self.tenants.read().iter() {
            if !next.contains_key(tenant) {
                for ulid in old.known.keys() {
                    self.caches.evict_block(ulid);
                    report.removed += 1;
                }
            }
        }
        report.blocks = next.values().map(|t| t.known.len()).sum();
        self.metrics.blocks_loaded.set(report.blocks as i64);
        self.metrics.tenants.set(next.len() as i64);
        *self.tenants.write() = next;
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    async fn sync_tenant(
        &self,
        tenant: &str,
        previous: Option<&TenantBlocks>,
        report: &mut SyncReport,
    ) -> Result<Option<TenantBlocks>, StoreError> {
        let objects = self
            .bucket
            .list(tenant)
            .await
            .map_err(|source| StoreError::List {
                what: format!("blocks of tenant {tenant}"),
                source,
            })?;
        // A block exists once its meta.json does (it is uploaded last).
        let present: BTreeSet<Ulid> = objects
            .iter()
            .filter_map(|o| {
                let mut parts = o.path.rsplitn(3, '/');
                let (file, id) = (parts.next()?, parts.next()?);
                (file == META_FILE).then(|| id.parse().ok()).flatten()
            })
            .collect();
        let mut known = HashMap::with_capacity(present.len());
        for ulid in &present {
            if let Some(r) = previous.and_then(|p| p.known.get(ulid)) {
                known.insert(*ulid, r.clone());
                continue;
            }
            let block_err = |source| StoreError::Block {
                tenant: tenant.to_owned(),
                block: ulid.to_string(),
                source,
            };
            let reader = match fetch_meta(&self.bucket, tenant, ulid).await {
                Ok(meta) => BlockReader::open(self.bucket.clone(), meta, self.caches.clone())
                    .await
                    .map_err(block_err),
                Err(e) => Err(block_err(e)),
            };
            match reader {
                Ok(r) => {
                    tracing::info!(tenant, block = %ulid, min_time = r.meta().min_time, max_time = r.meta().max_time, resolution = r.meta().resolution, "store loaded block");
                    known.insert(*ulid, r);
                    report.added += 1;
                }
                // Deleted between list and read: the next sync will not see it.
                Err(StoreError::Block {
                    source: BlockError::ObjStore(e),
                    ..
                }) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(p) = previous {
            for ulid in p.known.keys().filter(|u| !present.contains(u)) {
                tracing::info!(tenant, block = %ulid, "store dropped deleted block");
                self.caches.evict_block(ulid);
                report.removed += 1;
            }
        }
        if known.is_empty() {
            return Ok(None);
        }
        let visible = BlockSet::new(known.values().cloned().collect());
        Ok(Some(TenantBlocks { known, visible }))
    }

    /// Syncs now and then every `interval` until `stop` turns true.
    pub async fn run_sync_loop(
        self: Arc<Self>,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stopped = async move {
            // The guard wait_for returns must not live across an await.
            let _ = stop.wait_for(|s| *s).await.map(|_| ());
        };
        tokio::pin!(stopped);
        loop {
            // A sync cancelled by shutdown leaves the block set as it was: the new
            // set replaces the old one only at its end.
            tokio::select! {
                _ = &mut stopped => return,
                _ = async {
                    tick.tick().await;
                    // Errors are logged and counted by sync().
                    let _ = self.sync().await;
                } => {}
            }
        }
    }

    fn tenant(&self, tenant: &TenantId) -> Option<Arc<TenantBlocks>> {
        self.tenants.read().get(tenant.as_str()).cloned()
    }

    /// Runs `read` on each block, at most `max_concurrent_block_reads` at a time across
    /// every request, and collects the results in block order.
    async fn read_blocks<T, F>(
        &self,
        tenant: &TenantId,
        blocks: Vec<(&BlockReader, i64, i64)>,
        read: F,
    ) -> Result<Vec<T>, StoreApiError>
    where
        T: Send + 'static,
        F: Fn(BlockReader, i64, i64) -> BoxFuture<'static, Result<T, BlockError>>,
    {
        let mut futures: Vec<BoxFuture<'_, Result<T, StoreApiError>>> = Vec::new();
        for (b, mint, maxt) in blocks {
            let (ulid, fut) = (b.meta().ulid, read(b.clone(), mint, maxt));
            let reads = self.reads.clone();
            let metrics = &self.metrics;
            futures.push(
                async move {
                    let _permit = reads.acquire_owned().await.map_err(|_| {
                        StoreApiError::Backend("store gateway is shutting down".into())
                    })?;
                    metrics.block_reads.inc();
                    fut.await.map_err(|source| {
                        metrics.block_read_failures.inc();
                        let e = StoreError::Block {
                            tenant: tenant.to_string(),
                            block: ulid.to_string(),
                            source,
                        };
                        tracing::warn!(error = %e, "store block read failed");
                        StoreApiError::Backend(e.to_string())
                    })
                }
                .boxed(),
            );
        }
        stream::iter(futures)
            .buffered(self.max_concurrent_reads)
            .try_collect()
            .await
    }
}

fn raw_series(s: BlockSeries) -> RawSeries {
    RawSeries {
        labels: s.labels,
        chunks: s.chunks.into_iter().map(raw_chunk).collect(),
    }
}

fn raw_chunk(c: BlockChunk) -> RawChunk {
    match c.data {
        ChunkData::Xor(data) => RawChunk::xor(c.min_time, c.max_time, data),
        ChunkData::FloatHistogram(data) => {
            RawChunk::raw(Encoding::FloatHistogram, c.min_time, c.max_time, data)
        }
        ChunkData::Aggr(a) => {
            RawChunk::downsampled(c.min_time, c.max_time, RawAggregates(a.chunks))
        }
    }
}

/// Every visible block overlapping the query, whatever its resolution: label lookups
/// do not depend on it.
fn overlapping<'a>(set: &'a BlockSet, q: &SeriesQuery) -> Vec<(&'a BlockReader, i64, i64)> {
    set.all()
        .filter(|b| b.meta().overlaps(q.min_time, q.max_time))
        .map(|b| (b, q.min_time, q.max_time))
        .collect()
}

#[async_trait]
impl StoreBackend for BlockStore {
    async fn series(
        &self,
        tenant: &TenantId,
        query: &SeriesQuery,
    ) -> Result<Vec<RawSeries>, StoreApiError> {
        let Some(t) = self.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let blocks = t
            .visible
            .for_range(query.min_time, query.max_time, query.max_resolution_ms);
        let q = Arc::new(query.clone());
        let per_block = self
            .read_blocks(tenant, blocks, |b, mint, maxt| {
                let q = q.clone();
                async move {
                    let series = b.series(&q.matchers, mint, maxt, q.skip_chunks).await?;
                    Ok(series.into_iter().map(raw_series).collect::<Vec<_>>())
                }
                .boxed()
            })
            .await?;
        let merged = merge_sorted(per_block);
        self.metrics.series_returned.inc_by(merged.len() as u64);
        self.metrics
            .chunks_returned
            .inc_by(merged.iter().map(|s| s.chunks.len() as u64).sum());
        Ok(merged)
    }

    async fn label_names(
        &self,
        tenant: &TenantId,
        query: &SeriesQuery,
    ) -> Result<Vec<String>, StoreApiError> {
        let Some(t) = self.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let blocks = overlapping(&t.visible, query);
        let matchers = Arc::new(query.matchers.clone());
        let lists = self
            .read_blocks(tenant, blocks, |b, _, _| {
                let m = matchers.clone();
                async move { b.label_names(&m).await }.boxed()
            })
            .await?;
        Ok(sorted_union(lists))
    }

    async fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        query: &SeriesQuery,
    ) -> Result<Vec<String>, StoreApiError> {
        let Some(t) = self.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let blocks = overlapping(&t.visible, query);
        let matchers = Arc::new(query.matchers.clone());
        let name = Arc::new(name.to_owned());
        let lists = self
            .read_blocks(tenant, blocks, |b, _, _| {
                let (m, name) = (matchers.clone(), name.clone());
                async move { b.label_values(&name, &m).await }.boxed()
            })
            .await?;
        Ok(sorted_union(lists))
    }

    fn info(&self) -> StoreInfo {
        let (mut min_time, mut max_time) = (i64::MAX, i64::MIN);
        let mut label_sets: BTreeSet<Labels> = BTreeSet::new();
        for t in self.tenants.read().values() {
            for b in t.known.values() {
                let m = b.meta();
                min_time = min_time.min(m.min_time);
                // Block max_time is exclusive; Info's is the last millisecond held.
                max_time = max_time.max(m.max_time - 1);
                if !m.external_labels.is_empty() {
                    label_sets.insert(Labels::from_pairs(
                        m.external_labels
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone())),
                    ));
                }
            }
        }
        StoreInfo {
            component_type: "store",
            min_time,
            max_time,
            label_sets: label_sets.into_iter().collect(),
        }
    }
}
