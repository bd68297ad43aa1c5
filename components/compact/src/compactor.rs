//! The executor: runs the planner's steps against the bucket, tenant by tenant.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use cairn_block::{
    list_blocks, list_tenants, upload_block, write_block, write_mark, BlockChunk, BlockEntry,
    BlockError, BlockMark, BlockMeta, BlockSeries, BlockWriterOptions, ChunkData, Compaction,
    NewBlock, DELETION_MARK_FILE, META_FILE, RESOLUTION_RAW,
};
use cairn_model::{HistogramSample, Labels};
use cairn_objstore::Bucket;
use futures::StreamExt;
use tokio::sync::watch;
use ulid::Ulid;

use crate::check::read_and_check;
use crate::config::CompactConfig;
use crate::downsample::{downsample_aggr, downsample_raw, last_per_window};
use crate::error::{CompactError, Result};
use crate::merge::{decode_raw, encode_raw, union, RawSamples};
use crate::metrics::{HaltLabels, ReasonLabel, ResolutionLabel};
use crate::plan::{describe, plan, CompactionJob, DownsampleJob, COMPACTOR_SOURCE};
use crate::CompactMetrics;

/// Upper bound on plan/execute rounds for one tenant in one run, against a planner bug
/// that would loop forever.
const MAX_ROUNDS: usize = 10_000;

/// Milliseconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Compacts, downsamples, applies retention and deletes blocks in one bucket.
#[derive(Clone)]
pub struct Compactor {
    bucket: Bucket,
    cfg: CompactConfig,
    scratch: PathBuf,
    metrics: CompactMetrics,
    writer: BlockWriterOptions,
    clock: Clock,
}

impl std::fmt::Debug for Compactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compactor")
            .field("bucket", &self.bucket)
            .field("scratch", &self.scratch)
            .finish_non_exhaustive()
    }
}

/// What one run over every tenant did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Tenants processed without error.
    pub ok: Vec<String>,
    /// Tenants that failed or halted, with the reason.
    pub failed: Vec<(String, String)>,
}

fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Compactor {
    /// A compactor over `bucket` that builds blocks in `scratch` (emptied now: whatever a
    /// killed run left there is garbage).
    pub fn new(
        bucket: Bucket,
        cfg: CompactConfig,
        scratch: &Path,
        metrics: CompactMetrics,
    ) -> Result<Self> {
        let io = |e: std::io::Error| CompactError::Io {
            path: scratch.display().to_string(),
            source: e,
        };
        if scratch.exists() {
            std::fs::remove_dir_all(scratch).map_err(io)?;
        }
        std::fs::create_dir_all(scratch).map_err(io)?;
        Ok(Self {
            bucket,
            cfg,
            scratch: scratch.to_path_buf(),
            metrics,
            writer: BlockWriterOptions::default(),
            clock: Arc::new(system_now_ms),
        })
    }

    /// Replaces the clock (tests: retention and deletion delays without waiting).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the block layout options (tests: small row groups and slices).
    pub fn with_writer_options(mut self, opts: BlockWriterOptions) -> Self {
        self.writer = opts;
        self
    }

    fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    /// Runs every `interval` until `stop` turns true.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        loop {
            let report = self.run_once().await;
            if !report.failed.is_empty() {
                tracing::warn!(failed = ?report.failed, "compaction run finished with failures");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One pass over every tenant.
    pub async fn run_once(&self) -> RunReport {
        let started = Instant::now();
        self.metrics.runs.inc();
        let mut report = RunReport::default();
        let tenants = match list_tenants(&self.bucket).await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot list tenants in the bucket");
                self.metrics.run_failures.inc();
                report.failed.push((String::new(), e.to_string()));
                return report;
            }
        };
        let results: Vec<(String, Result<()>)> = futures::stream::iter(tenants)
            .map(|t| async move {
                let r = self.run_tenant(&t).await;
                (t, r)
            })
            .buffer_unordered(self.cfg.concurrency.max(1))
            .collect()
            .await;
        for (tenant, r) in results {
            match r {
                Ok(()) => report.ok.push(tenant),
                Err(e) => {
                    self.metrics.run_failures.inc();
                    if let CompactError::Halt { reason, detail, .. } = &e {
                        tracing::error!(%tenant, reason, detail, "compaction halted for tenant; nothing of it is deleted until this is resolved");
                        self.metrics.halts.inc();
                        self.metrics
                            .halted
                            .get_or_create(&HaltLabels {
                                tenant: tenant.clone(),
                                reason: (*reason).into(),
                            })
                            .set(1);
                    } else {
                        tracing::error!(%tenant, error = %e, "compaction failed for tenant; retrying next run");
                    }
                    report.failed.push((tenant, e.to_string()));
                }
            }
        }
        report.ok.sort();
        report.failed.sort();
        self.metrics
            .run_seconds
            .set(started.elapsed().as_secs_f64());
        if report.failed.is_empty() {
            self.metrics.last_success.set(self.now_ms() as f64 / 1000.0);
        }
        report
    }

    /// Plans and executes until the tenant's blocks need nothing more, then removes
    /// abandoned uploads and blocks whose deletion delay passed.
    pub async fn run_tenant(&self, tenant: &str) -> Result<()> {
        let mut rounds = 0;
        let (blocks, partial) = loop {
            rounds += 1;
            if rounds > MAX_ROUNDS {
                return Err(CompactError::Task(format!(
                    "tenant {tenant}: still planning after {MAX_ROUNDS} rounds"
                )));
            }
            let (blocks, partial) = self.list(tenant).await?;
            let p = plan(&self.cfg, &blocks, self.now_ms()).map_err(|h| CompactError::Halt {
                tenant: tenant.into(),
                reason: h.reason,
                detail: h.detail,
            })?;
            if !p.covered.is_empty() {
                let by: BTreeSet<Ulid> = p.covered.iter().map(|c| c.by).collect();
                for id in by {
                    let meta = meta_of(&blocks, id);
                    self.check(tenant, &meta).await?;
                }
                for c in &p.covered {
                    tracing::info!(%tenant, block = %c.block, by = %c.by, "block's data is held by a newer block; marking it for deletion");
                    self.mark_deleted(tenant, c.block, &format!("covered by {}", c.by), "covered")
                        .await?;
                }
            } else if !p.compactions.is_empty() {
                for job in &p.compactions {
                    self.compact(tenant, job).await?;
                }
            } else if !p.downsamples.is_empty() {
                for job in &p.downsamples {
                    self.downsample(tenant, job).await?;
                }
            } else if !p.expired.is_empty() {
                for id in &p.expired {
                    tracing::info!(%tenant, block = %id, "block is past retention; marking it for deletion");
                    self.mark_deleted(tenant, *id, "retention", "retention")
                        .await?;
                }
            } else {
                break (blocks, partial);
            }
        };
        self.clean_partial(tenant, &partial).await?;
        self.delete_marked(tenant, &blocks).await?;
        for reason in ["overlap", "corrupt"] {
            if let Some(g) = self.metrics.halted.get(&HaltLabels {
                tenant: tenant.into(),
                reason: reason.into(),
            }) {
                g.set(0);
            }
        }
        Ok(())
    }

    async fn list(&self, tenant: &str) -> Result<(Vec<BlockEntry>, Vec<Ulid>)> {
        list_blocks(&self.bucket, tenant)
            .await
            .map_err(|e| match e {
                BlockError::ObjStore(e) => e.into(),
                other => CompactError::Halt {
                    tenant: tenant.into(),
                    reason: "corrupt",
                    detail: other.to_string(),
                },
            })
    }

    /// Reads a block whole and halts on anything wrong with it.
    async fn check(&self, tenant: &str, meta: &BlockMeta) -> Result<Vec<BlockSeries>> {
        let checked = read_and_check(&self.bucket, meta)
            .await
            .map_err(|e| CompactError::reading(tenant, meta.ulid, e))?;
        if !checked.problems.is_empty() {
            return Err(CompactError::corrupt(
                tenant,
                meta.ulid,
                format!(
                    "[{}, {}): {}",
                    meta.min_time,
                    meta.max_time,
                    checked.problems.join("; ")
                ),
            ));
        }
        Ok(checked.series)
    }

    async fn compact(&self, tenant: &str, job: &CompactionJob) -> Result<()> {
        let started = Instant::now();
        let refs: Vec<&BlockMeta> = job.inputs.iter().collect();
        tracing::info!(%tenant, group = %job.group, vertical = job.vertical, blocks = %describe(&refs), "compacting");
        let mut inputs = Vec::with_capacity(job.inputs.len());
        for m in &job.inputs {
            inputs.push((replica_key(&self.cfg, m), self.check(tenant, m).await?));
        }
        let min_time = job.inputs.iter().map(|m| m.min_time).min().unwrap_or(0);
        let max_time = job.inputs.iter().map(|m| m.max_time).max().unwrap_or(0);
        let sources: BTreeSet<Ulid> = job
            .inputs
            .iter()
            .flat_map(|m| m.compaction.sources.iter().copied())
            .collect();
        let new = NewBlock {
            tenant: tenant.into(),
            min_time,
            max_time,
            resolution: job.group.resolution,
            compaction: Compaction {
                level: job
                    .inputs
                    .iter()
                    .map(|m| m.compaction.level)
                    .max()
                    .unwrap_or(1)
                    + 1,
                sources: sources.into_iter().collect(),
                parents: job.inputs.iter().map(|m| m.ulid).collect(),
            },
            external_labels: job.group.labels.clone(),
            source: COMPACTOR_SOURCE.into(),
        };
        let mut opts = self.writer.clone();
        let slice_ms = opts.slice_ms.clamp(1, max_time - min_time);
        let raw = job.group.resolution == RESOLUTION_RAW;
        let merged =
            tokio::task::spawn_blocking(move || merge_series(inputs, raw, min_time, slice_ms))
                .await
                .map_err(|e| CompactError::Task(e.to_string()))?;
        if !raw && crosses_slices(&merged, min_time, slice_ms) {
            // Aggregate chunks cannot be split; one slice holds them whatever their
            // alignment.
            opts.slice_ms = max_time - min_time;
        }
        let meta = self.write_and_upload(new, merged, opts).await?;
        for m in &job.inputs {
            self.mark_deleted(
                tenant,
                m.ulid,
                &format!("compacted into {}", meta.ulid),
                "compacted",
            )
            .await?;
        }
        self.metrics.compactions.inc();
        if job.vertical {
            self.metrics.vertical_compactions.inc();
        }
        tracing::info!(%tenant, block = %meta.ulid, level = meta.compaction.level, series = meta.stats.num_series, samples = meta.stats.num_samples, secs = started.elapsed().as_secs_f64(), "compacted");
        Ok(())
    }

    async fn downsample(&self, tenant: &str, job: &DownsampleJob) -> Result<()> {
        let src = &job.block;
        tracing::info!(%tenant, block = %src.ulid, from = src.resolution, to = job.resolution, "downsampling");
        let series = self.check(tenant, src).await?;
        let (res, block_min, slice_ms, from_raw) = (
            job.resolution,
            src.min_time,
            src.slice_ms,
            src.resolution == RESOLUTION_RAW,
        );
        let tenant_owned = tenant.to_string();
        let ulid = src.ulid;
        let out = tokio::task::spawn_blocking(move || -> Result<Vec<BlockSeries>> {
            let slice_of = |t: i64| (t - block_min).div_euclid(slice_ms);
            let mut out = Vec::with_capacity(series.len());
            for s in series {
                // Native histograms are thinned to the last one per window, in
                // their own chunks beside the float aggregates.
                let (float_chunks, histogram_chunks): (Vec<_>, Vec<_>) = s
                    .chunks
                    .into_iter()
                    .partition(|c| !matches!(c.data, ChunkData::FloatHistogram(_)));
                let histograms = decode_raw(&histogram_chunks)
                    .map_err(|e| CompactError::corrupt(&tenant_owned, ulid, e))?
                    .histograms;
                let mut chunks = if from_raw {
                    let samples = decode_raw(&float_chunks)
                        .map_err(|e| CompactError::corrupt(&tenant_owned, ulid, e))?;
                    downsample_raw(&samples.floats, res, slice_of)
                } else {
                    downsample_aggr(&float_chunks, res, slice_of)
                        .map_err(|e| CompactError::corrupt(&tenant_owned, ulid, e))?
                };
                let thinned = last_per_window(&histograms, res);
                chunks.extend(encode_raw(&[], &thinned, block_min, slice_ms));
                chunks.sort_by_key(|c| c.min_time);
                if !chunks.is_empty() {
                    out.push(BlockSeries {
                        labels: s.labels,
                        chunks,
                    });
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| CompactError::Task(e.to_string()))??;
        let new = NewBlock {
            tenant: tenant.into(),
            min_time: src.min_time,
            max_time: src.max_time,
            resolution: res,
            compaction: Compaction {
                level: src.compaction.level,
                sources: src.compaction.sources.clone(),
                parents: vec![src.ulid],
            },
            external_labels: src.external_labels.clone(),
            source: COMPACTOR_SOURCE.into(),
        };
        let opts = BlockWriterOptions {
            slice_ms: src.slice_ms,
            ..self.writer.clone()
        };
        let meta = self.write_and_upload(new, out, opts).await?;
        self.metrics
            .downsamplings
            .get_or_create(&ResolutionLabel {
                resolution: resolution_name(res).into(),
            })
            .inc();
        tracing::info!(%tenant, block = %meta.ulid, source = %src.ulid, resolution = res, "downsampled");
        Ok(())
    }

    /// Writes the block locally, uploads it (meta.json last) and removes the local copy.
    async fn write_and_upload(
        &self,
        new: NewBlock,
        series: Vec<BlockSeries>,
        opts: BlockWriterOptions,
    ) -> Result<BlockMeta> {
        let tenant = new.tenant.clone();
        let scratch = self.scratch.clone();
        let names: BTreeSet<String> = series
            .iter()
            .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
            .collect();
        let meta = tokio::task::spawn_blocking(move || {
            write_block(&scratch, new, &names, series.into_iter().map(Ok), &opts)
        })
        .await
        .map_err(|e| CompactError::Task(e.to_string()))?
        .map_err(|source| CompactError::Write {
            tenant: tenant.clone(),
            source: Box::new(source),
        })?;
        let dir = cairn_block::local_block_dir(&self.scratch, &meta.ulid);
        let uploaded = upload_block(&self.bucket, &dir, &meta).await;
        let _ = std::fs::remove_dir_all(&dir);
        uploaded?;
        self.metrics
            .bytes_written
            .inc_by(meta.block_file_size().unwrap_or(0));
        Ok(meta)
    }

    async fn mark_deleted(&self, tenant: &str, id: Ulid, reason: &str, kind: &str) -> Result<()> {
        let mark = BlockMark {
            ulid: id,
            marked_at: self.now_ms().div_euclid(1000),
            reason: reason.into(),
        };
        write_mark(&self.bucket, tenant, &mark, DELETION_MARK_FILE).await?;
        self.metrics
            .blocks_marked
            .get_or_create(&ReasonLabel {
                reason: kind.into(),
            })
            .inc();
        Ok(())
    }

    /// Removes block directories without `meta.json`: at once when they carry a
    /// deletion mark (a deletion that died half-way), otherwise once their newest file is
    /// older than `partial_upload_delay` (an upload that died).
    async fn clean_partial(&self, tenant: &str, partial: &[Ulid]) -> Result<()> {
        let delay = self.cfg.partial_upload_delay.as_millis() as i64;
        for id in partial {
            let dir = cairn_block::block_dir(tenant, id);
            let files = self.list_with_age(&dir).await?;
            let marked = files.iter().any(|(p, _)| p.ends_with(DELETION_MARK_FILE));
            let newest = files.iter().map(|(_, t)| *t).max().unwrap_or(i64::MIN);
            let newest = newest.max(id.timestamp_ms() as i64);
            if !marked && newest > self.now_ms() - delay {
                continue;
            }
            tracing::info!(%tenant, block = %id, marked, "removing block directory without meta.json");
            self.delete_files(files.into_iter().map(|(p, _)| p).collect())
                .await?;
            self.metrics.partial_uploads_deleted.inc();
        }
        Ok(())
    }

    /// Deletes blocks whose deletion mark is older than `delete_delay`: meta.json first
    /// (readers stop discovering the block), then its data, the mark last (so a deletion
    /// that dies half-way is finished by [`clean_partial`](Self::clean_partial)).
    async fn delete_marked(&self, tenant: &str, blocks: &[BlockEntry]) -> Result<()> {
        let cutoff = (self.now_ms() - self.cfg.delete_delay.as_millis() as i64).div_euclid(1000);
        for b in blocks {
            let Some(mark) = &b.deletion_mark else {
                continue;
            };
            if mark.marked_at > cutoff {
                continue;
            }
            tracing::info!(%tenant, block = %b.meta.ulid, reason = %mark.reason, "deleting block");
            self.bucket.delete(&b.meta.path(META_FILE)).await?;
            let files = self.list_with_age(&b.meta.dir()).await?;
            self.delete_files(files.into_iter().map(|(p, _)| p).collect())
                .await?;
            self.metrics.blocks_deleted.inc();
        }
        Ok(())
    }

    /// Deletes files, a deletion mark last.
    async fn delete_files(&self, mut paths: Vec<String>) -> Result<()> {
        paths.sort_by_key(|p| p.ends_with(DELETION_MARK_FILE));
        for p in paths {
            self.bucket.delete(&p).await?;
        }
        Ok(())
    }

    /// Files under `dir` with their modification time (ms).
    async fn list_with_age(&self, dir: &str) -> Result<Vec<(String, i64)>> {
        use futures::TryStreamExt;
        let prefix = cairn_objstore::ObjectPath::from(dir);
        let metas: Vec<object_store::ObjectMeta> = self
            .bucket
            .store()
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| {
                CompactError::from(cairn_objstore::ObjStoreError::Store {
                    op: "list",
                    path: dir.into(),
                    source: e,
                })
            })?;
        Ok(metas
            .into_iter()
            .map(|m| (m.location.to_string(), m.last_modified.timestamp_millis()))
            .collect())
    }
}

fn meta_of(blocks: &[BlockEntry], id: Ulid) -> BlockMeta {
    blocks
        .iter()
        .find(|b| b.meta.ulid == id)
        .map(|b| b.meta.clone())
        .expect("planner names listed blocks")
}

/// The values of the replica labels of a block: blocks with equal keys come from the
/// same replica and are merged by union, different keys by penalty deduplication.
fn replica_key(cfg: &CompactConfig, m: &BlockMeta) -> Vec<(String, String)> {
    m.external_labels
        .iter()
        .filter(|(k, _)| cfg.replica_labels.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Merges the series of the inputs by labels. Raw samples: per replica the union of
/// its blocks, across replicas penalty deduplication, re-encoded into chunks of at most
/// 120 samples that do not cross slices. Downsampled chunks (never overlapping, the
/// planner halts otherwise) are concatenated.
/// The replica labels of a block and its series.
type ReplicaSeries = (Vec<(String, String)>, Vec<BlockSeries>);

fn merge_series(
    inputs: Vec<ReplicaSeries>,
    raw: bool,
    block_min: i64,
    slice_ms: i64,
) -> Vec<BlockSeries> {
    let mut by_labels: BTreeMap<Labels, Vec<(usize, Vec<BlockChunk>)>> = BTreeMap::new();
    let mut replicas: Vec<Vec<(String, String)>> = Vec::new();
    for (key, series) in inputs {
        let r = match replicas.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                replicas.push(key);
                replicas.len() - 1
            }
        };
        for s in series {
            by_labels.entry(s.labels).or_default().push((r, s.chunks));
        }
    }
    let mut out = Vec::with_capacity(by_labels.len());
    for (labels, parts) in by_labels {
        let chunks = if raw {
            let mut per_replica: BTreeMap<usize, Vec<RawSamples>> = BTreeMap::new();
            for (r, chunks) in parts {
                // Inputs were decoded once by the checks; they cannot fail here.
                let samples = decode_raw(&chunks).unwrap_or_default();
                per_replica.entry(r).or_default().push(samples);
            }
            let (floats, histograms): (Vec<_>, Vec<_>) = per_replica
                .into_values()
                .map(|streams| {
                    let (f, h): (Vec<_>, Vec<_>) = streams
                        .into_iter()
                        .map(|s| (s.floats, s.histograms))
                        .unzip();
                    (union(f, |s| s.t), union(h, |h| h.t))
                })
                .unzip();
            let slices: Vec<&[cairn_model::Sample]> = floats.iter().map(Vec::as_slice).collect();
            // Offline the metric type is unknown: values are never adjusted.
            let merged = cairn_dedup::penalty_merge(&slices, cairn_dedup::SeriesKind::Gauge);
            let slices: Vec<&[HistogramSample]> = histograms.iter().map(Vec::as_slice).collect();
            let merged_histograms = cairn_dedup::penalty_merge_histograms(&slices);
            encode_raw(&merged, &merged_histograms, block_min, slice_ms)
        } else {
            let mut all: Vec<BlockChunk> = parts.into_iter().flat_map(|(_, c)| c).collect();
            all.sort_by_key(|c| c.min_time);
            all
        };
        if !chunks.is_empty() {
            out.push(BlockSeries { labels, chunks });
        }
    }
    out
}

fn crosses_slices(series: &[BlockSeries], block_min: i64, slice_ms: i64) -> bool {
    let slice_of = |t: i64| (t - block_min).div_euclid(slice_ms);
    series
        .iter()
        .flat_map(|s| &s.chunks)
        .any(|c| slice_of(c.min_time) != slice_of(c.max_time))
}

fn resolution_name(res: i64) -> &'static str {
    match res {
        cairn_block::RESOLUTION_5M => "5m",
        cairn_block::RESOLUTION_1H => "1h",
        _ => "raw",
    }
}
