use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use cairn_model::validate::wire_labels;
use cairn_model::{HistogramSample, Labels, Sample, TenantId};
use cairn_proto::wire::{WireBatch, WireMetadata};
use cairn_storeapi::{RawChunk, RawSeries, SeriesQuery, StoreApiError, StoreBackend, StoreInfo};
use cairn_tsdb::{AppendReport, Tsdb};
use tokio::task::JoinHandle;

use crate::metadata::{MetadataStore, MetricMeta};
use crate::metrics::{IngestMetrics, ReasonLabel};
use crate::{IngestConfig, IngestError};

/// What [`Ingester::push_encoded`] did.
#[derive(Debug, Default)]
pub struct EncodedPushReport {
    /// The head's report on the series with valid labels.
    pub append: AppendReport,
    /// Samples refused before the head saw them: reason (`invalid_labels`,
    /// `invalid_histogram`), how many, and an example.
    pub invalid: Vec<(&'static str, u64, String)>,
}

/// How often gauges (head series, WAL bytes) are refreshed.
const STATS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// The ingester role: every tenant's head and WAL under one directory.
#[derive(Debug)]
pub struct Ingester {
    tsdb: Arc<Tsdb>,
    config: IngestConfig,
    metrics: IngestMetrics,
    /// `true` while pushes are taken. Pushes hold the read side while they append, so
    /// [`refuse_writes`](Self::refuse_writes) returns only after the last acknowledged
    /// push is in the head.
    accepting: tokio::sync::RwLock<bool>,
    /// Metric metadata clients sent, in memory only.
    metadata: MetadataStore,
}

impl Ingester {
    /// Opens `dir`, replaying every tenant's WAL (on a blocking thread; this can take a
    /// while for large WALs, and the role is not ready until it returns).
    pub async fn open(
        dir: PathBuf,
        config: IngestConfig,
        metrics: IngestMetrics,
    ) -> Result<Arc<Self>, IngestError> {
        let start = Instant::now();
        let options = config.tsdb_options();
        let tsdb = tokio::task::spawn_blocking(move || Tsdb::open(dir, options))
            .await
            .map_err(|e| IngestError::Task(e.to_string()))??;
        let metadata = MetadataStore::new(
            config.metadata_retain_period,
            config.max_metadata_per_tenant,
        );
        let ingester = Arc::new(Self {
            tsdb: Arc::new(tsdb),
            metadata,
            config,
            metrics,
            accepting: tokio::sync::RwLock::new(true),
        });
        let mut replayed = (0usize, 0u64);
        for tenant in ingester.tsdb.tenants() {
            if let Some(head) = ingester.tsdb.head(&tenant) {
                let stats = head.replay_stats();
                replayed.0 += stats.series;
                replayed.1 += stats.samples;
                if let Some(c) = &stats.wal.corruption {
                    ingester.metrics.wal_corruptions.inc();
                    tracing::warn!(
                        tenant = %tenant,
                        segment = c.segment,
                        offset = c.offset,
                        reason = %c.reason,
                        "wal was damaged; truncated at the damage, everything before it was replayed"
                    );
                }
            }
        }
        let elapsed = start.elapsed();
        ingester
            .metrics
            .wal_replay_seconds
            .set(elapsed.as_secs_f64());
        ingester.refresh_stats();
        tracing::info!(
            tenants = ingester.tsdb.tenants().len(),
            series = replayed.0,
            samples = replayed.1,
            elapsed_ms = elapsed.as_millis() as u64,
            "wal replay finished"
        );
        Ok(ingester)
    }

    /// Appends series to `tenant`'s head. Returns after every accepted sample is in the
    /// WAL.
    pub async fn push(
        self: &Arc<Self>,
        tenant: TenantId,
        batch: Vec<(Labels, Vec<Sample>)>,
    ) -> Result<AppendReport, IngestError> {
        self.append_with(move |tsdb| Ok((tsdb.append(&tenant, &batch)?, ())))
            .await
            .map(|(report, ())| report)
    }

    /// Appends series sent as encoded `prometheus.TimeSeries` (the write path's wire
    /// form), reading them without copying their labels (see [`cairn_proto::wire`]),
    /// and keeps the encoded `prometheus.MetricMetadata` in `metadata`. Series with
    /// invalid labels are refused and reported; bytes that are not a `TimeSeries` or
    /// `MetricMetadata` fail the whole push before anything is kept.
    pub async fn push_encoded(
        self: &Arc<Self>,
        tenant: TenantId,
        series: Vec<Bytes>,
        metadata: Vec<Bytes>,
    ) -> Result<EncodedPushReport, IngestError> {
        let this = self.clone();
        let (append, invalid) = self
            .append_with(move |tsdb| {
                let mut batch = WireBatch::default();
                for (i, buf) in series.iter().enumerate() {
                    batch
                        .push_series(buf)
                        .map_err(|e| IngestError::InvalidPush(format!("series {i}: {e}")))?;
                }
                let metadata = metadata
                    .iter()
                    .enumerate()
                    .map(|(i, buf)| {
                        WireMetadata::parse(buf)
                            .map_err(|e| IngestError::InvalidPush(format!("metadata {i}: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                // Kept only once the whole push has read cleanly.
                let dropped = this.metadata.add(&tenant, &metadata);
                this.metrics.metadata_dropped.inc_by(dropped as u64);
                let mut invalid = Vec::new();
                // Receivers validate already; re-checking keeps a misbehaving client
                // from storing series that can never be queried correctly.
                let mut valid_series = Vec::with_capacity(batch.len());
                // Histograms of series that sent some invalid ones: the valid rest.
                let mut kept_histograms: HashMap<usize, Vec<HistogramSample>> = HashMap::new();
                for (i, s) in batch.iter().enumerate() {
                    if let Err(e) = wire_labels(s.labels.iter().copied()) {
                        let n = s.samples.len() + s.histograms.len();
                        invalid.push(("invalid_labels", n as u64, e.to_string()));
                        continue;
                    }
                    valid_series.push(i);
                    if let Some(e) = s.histograms.iter().find_map(|h| h.h.validate().err()) {
                        let good: Vec<HistogramSample> = s
                            .histograms
                            .iter()
                            .filter(|h| h.h.validate().is_ok())
                            .cloned()
                            .collect();
                        let n = s.histograms.len() - good.len();
                        invalid.push(("invalid_histogram", n as u64, e.to_string()));
                        kept_histograms.insert(i, good);
                    }
                }
                let valid: Vec<_> = valid_series
                    .into_iter()
                    .map(|i| {
                        let s = batch.series(i);
                        let histograms =
                            kept_histograms.get(&i).map_or(s.histograms, Vec::as_slice);
                        (s.labels, s.samples, histograms)
                    })
                    .collect();
                Ok((tsdb.append(&tenant, &valid)?, invalid))
            })
            .await?;
        Ok(EncodedPushReport { append, invalid })
    }

    /// Runs `append` on a blocking thread while writes are taken, and counts what the
    /// head appended and rejected.
    async fn append_with<T: Send + 'static>(
        self: &Arc<Self>,
        append: impl FnOnce(&Tsdb) -> Result<(AppendReport, T), IngestError> + Send + 'static,
    ) -> Result<(AppendReport, T), IngestError> {
        let accepting = self.accepting.read().await;
        if !*accepting {
            return Err(IngestError::Leaving);
        }
        let tsdb = self.tsdb.clone();
        let (report, extra) = tokio::task::spawn_blocking(move || append(&tsdb))
            .await
            .map_err(|e| IngestError::Task(e.to_string()))??;
        drop(accepting);
        self.metrics.samples_appended.inc_by(report.appended as u64);
        for r in &report.rejected {
            self.metrics
                .samples_rejected
                .get_or_create(&ReasonLabel {
                    reason: reject_reason_name(r.reason).to_owned(),
                })
                .inc_by(r.count as u64);
        }
        Ok((report, extra))
    }

    /// `tenant`'s metric metadata for `metric` (all if `None`), at most `limit`
    /// families (0 = all).
    pub fn metric_metadata(
        &self,
        tenant: &TenantId,
        metric: Option<&str>,
        limit: usize,
    ) -> std::collections::BTreeMap<String, Vec<MetricMeta>> {
        self.metadata.get(tenant, metric, limit)
    }

    /// Stops taking pushes (they fail as unavailable, so receivers write elsewhere) and
    /// waits for the pushes in flight to finish. Used before a graceful leave's flush,
    /// so no sample is acknowledged after the head was cut for the last time.
    pub async fn refuse_writes(&self) {
        *self.accepting.write().await = false;
        tracing::info!("ingester refuses new writes");
    }

    /// Starts the periodic WAL fsync (for `wal_fsync: interval`) and stats refresh.
    pub fn spawn_background(self: &Arc<Self>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut fsync = tokio::time::interval(this.config.wal_fsync_interval);
            let mut stats = tokio::time::interval(STATS_INTERVAL);
            loop {
                tokio::select! {
                    _ = fsync.tick() => {
                        let tsdb = this.tsdb.clone();
                        let result = tokio::task::spawn_blocking(move || tsdb.sync()).await;
                        if let Ok(Err(e)) = result {
                            tracing::error!(error = %e, "wal fsync failed");
                        }
                    }
                    _ = stats.tick() => this.refresh_stats(),
                }
            }
        })
    }

    fn refresh_stats(&self) {
        let tenants = self.tsdb.tenants();
        let (mut series, mut samples) = (0i64, 0i64);
        for tenant in &tenants {
            if let Some(head) = self.tsdb.head(tenant) {
                let s = head.stats();
                series += s.num_series as i64;
                samples += s.num_samples as i64;
            }
        }
        self.metrics.tenants.set(tenants.len() as i64);
        self.metrics.head_series.set(series);
        self.metrics.head_samples.set(samples);
        self.metrics.wal_bytes.set(dir_size(self.tsdb.dir()) as i64);
    }

    pub(crate) fn tsdb(&self) -> &Arc<Tsdb> {
        &self.tsdb
    }

    pub(crate) fn config(&self) -> &IngestConfig {
        &self.config
    }

    pub(crate) fn metrics(&self) -> &IngestMetrics {
        &self.metrics
    }

    /// Fsyncs and closes every WAL; later pushes fail, queries keep working.
    pub async fn close(&self) -> Result<(), IngestError> {
        let tsdb = self.tsdb.clone();
        tokio::task::spawn_blocking(move || tsdb.close())
            .await
            .map_err(|e| IngestError::Task(e.to_string()))??;
        tracing::info!("ingester closed its wal");
        Ok(())
    }
}

/// Stable names for reasons, used in metrics and Push responses.
pub(crate) fn reject_reason_name(reason: cairn_tsdb::RejectReason) -> &'static str {
    match reason {
        cairn_tsdb::RejectReason::OutOfOrder => "out_of_order",
        cairn_tsdb::RejectReason::DuplicateTimestamp => "duplicate_timestamp",
        cairn_tsdb::RejectReason::EmptyLabels => "empty_labels",
        cairn_tsdb::RejectReason::OutOfBounds => "out_of_bounds",
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

#[async_trait]
impl StoreBackend for Ingester {
    async fn series(
        &self,
        tenant: &TenantId,
        query: &SeriesQuery,
    ) -> Result<Vec<RawSeries>, StoreApiError> {
        let Some(head) = self.tsdb.head(tenant) else {
            return Ok(Vec::new());
        };
        let series = head.select(&query.matchers, query.min_time, query.max_time);
        Ok(series
            .into_iter()
            .map(|s| RawSeries {
                labels: s.labels,
                chunks: if query.skip_chunks {
                    Vec::new()
                } else {
                    s.chunks
                        .into_iter()
                        .map(|c| RawChunk::raw(c.encoding, c.min_t, c.max_t, c.bytes))
                        .collect()
                },
            })
            .collect())
    }

    async fn label_names(
        &self,
        tenant: &TenantId,
        query: &SeriesQuery,
    ) -> Result<Vec<String>, StoreApiError> {
        Ok(self
            .tsdb
            .head(tenant)
            .map(|h| h.label_names(&query.matchers, query.min_time, query.max_time))
            .unwrap_or_default())
    }

    async fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        query: &SeriesQuery,
    ) -> Result<Vec<String>, StoreApiError> {
        Ok(self
            .tsdb
            .head(tenant)
            .map(|h| h.label_values(name, &query.matchers, query.min_time, query.max_time))
            .unwrap_or_default())
    }

    fn info(&self) -> StoreInfo {
        let (mut min_time, mut max_time) = (i64::MAX, i64::MIN);
        for tenant in self.tsdb.tenants() {
            if let Some(head) = self.tsdb.head(&tenant) {
                let s = head.stats();
                min_time = min_time.min(s.min_time.unwrap_or(i64::MAX));
                max_time = max_time.max(s.max_time.unwrap_or(i64::MIN));
            }
        }
        StoreInfo {
            component_type: "receive",
            min_time,
            max_time,
            label_sets: Vec::new(),
        }
    }
}
