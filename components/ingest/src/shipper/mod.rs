//! The block shipper: cuts each tenant's head into blocks, uploads them, then
//! truncates the head and WAL.
//!
//! ```text
//!  every ship_interval, per tenant:
//!   1. cut     head max ≥ end of [k·range, (k+1)·range) + grace
//!              ─▶ Head::cut_block (range closed to appends)
//!              ─▶ cairn_block::write_block ─▶ blocks/<ulid>/   (pending)
//!   2. upload  oldest pending first: upload_block (block.parquet, meta.json last)
//!              ok ─▶ shipped.json {shipped_until, blocks} ─▶ next
//!              err ─▶ retry after backoff (doubling up to the max); ingestion goes on
//!   3. truncate Head::truncate(shipped_until) (head + WAL checkpoint)
//!   4. clean   delete local copies of shipped blocks older than keep_shipped_blocks
//!
//!  open: delete blocks/*.tmp; blocks not in shipped.json are pending (uploaded, never
//!        re-cut); heads refuse samples before the newest cut; heads still holding
//!        shipped data are truncated before the ingester serves.
//! ```
//!
//! Until a block is shipped its data stays in the head, so queries keep seeing it and
//! a lost local block can be re-cut from the WAL only by an operator (it never is
//! automatically: the range is closed once cut).

mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_block::{
    local_block_dir, upload_block, write_block, BlockChunk, BlockMeta, BlockSeries,
    BlockWriterOptions, Compaction, NewBlock, RESOLUTION_RAW,
};
use cairn_model::TenantId;
use cairn_objstore::Bucket;
use cairn_tsdb::Head;
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use crate::metrics::ResultLabel;
use crate::{IngestError, Ingester};
use state::{blocks_dir, ShippedBlock, ShippedState};

/// What the shipper knows about one tenant.
#[derive(Debug)]
struct TenantShip {
    dir: PathBuf,
    state: ShippedState,
    /// Cut, not yet shipped, oldest first.
    pending: Vec<BlockMeta>,
    /// End of the newest cut range (`i64::MIN` before the first).
    cut_until: i64,
    /// No upload before this instant (after a failure).
    retry_at: Option<Instant>,
    /// The wait after the next failure.
    backoff: Duration,
    /// Ends of recently shipped blocks and when they were shipped; the head drops
    /// their data only once `head_retention_after_ship` has passed.
    recent: VecDeque<(i64, Instant)>,
    /// The head may be truncated up to here.
    truncatable_until: Option<i64>,
}

impl TenantShip {
    fn new(dir: PathBuf, state: ShippedState, pending: Vec<BlockMeta>, initial: Duration) -> Self {
        let cut_until = pending
            .iter()
            .map(|m| m.max_time)
            .chain(state.shipped_until)
            .max()
            .unwrap_or(i64::MIN);
        Self {
            dir,
            pending,
            cut_until,
            retry_at: None,
            backoff: initial,
            recent: VecDeque::new(),
            // Shipped before a restart: the store gateways had the time it took to
            // restart to see the blocks.
            truncatable_until: state.shipped_until,
            state,
        }
    }
}

/// What one [`Shipper::ship_once`] pass did, summed over tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipReport {
    /// Blocks cut and written locally.
    pub cut: usize,
    /// Blocks uploaded.
    pub uploaded: usize,
    /// Upload attempts that failed.
    pub failed: usize,
    /// Blocks still waiting for upload.
    pub pending: usize,
    /// Heads truncated.
    pub truncated: usize,
}

/// Which steps a pass runs; tests stop between them to play a crash.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    pub(crate) cut: bool,
    pub(crate) upload: bool,
    pub(crate) truncate: bool,
}

impl Steps {
    const ALL: Self = Self {
        cut: true,
        upload: true,
        truncate: true,
    };
}

/// Ships an [`Ingester`]'s heads to a bucket. One per ingester.
#[derive(Debug)]
pub struct Shipper {
    ingester: Arc<Ingester>,
    bucket: Bucket,
    writer: BlockWriterOptions,
    tenants: Mutex<BTreeMap<TenantId, TenantShip>>,
}

impl Shipper {
    /// Recovers every tenant's shipping state from `<ingester dir>/<tenant>/`: blocks
    /// left pending by a previous run will be uploaded (not cut again), heads refuse
    /// samples for ranges already cut, and heads still holding shipped data are
    /// truncated. Call before the ingester accepts pushes.
    pub async fn open(ingester: Arc<Ingester>, bucket: Bucket) -> Result<Arc<Self>, IngestError> {
        let root = ingester.tsdb().dir().to_path_buf();
        let initial = ingester.config().upload_backoff_initial;
        let scan_root = root.clone();
        let found = tokio::task::spawn_blocking(move || scan(&scan_root))
            .await
            .map_err(|e| IngestError::Task(e.to_string()))??;
        let mut tenants = BTreeMap::new();
        for (tenant, local) in found {
            let ts = TenantShip::new(
                root.join(tenant.as_str()),
                local.state,
                local.pending,
                initial,
            );
            if let Some(head) = ingester.tsdb().head(&tenant) {
                head.set_min_valid_time(ts.cut_until);
            }
            if !ts.pending.is_empty() {
                tracing::info!(
                    tenant = %tenant,
                    blocks = ts.pending.len(),
                    "found blocks cut but not shipped before the restart; they will be uploaded"
                );
            }
            tenants.insert(tenant, ts);
        }
        let shipper = Arc::new(Self {
            ingester,
            bucket,
            writer: BlockWriterOptions::default(),
            tenants: Mutex::new(tenants),
        });
        {
            let mut tenants = shipper.tenants.lock().await;
            for (tenant, ts) in tenants.iter_mut() {
                shipper.truncate(tenant, ts).await;
            }
            shipper.update_pending_gauge(&tenants);
        }
        Ok(shipper)
    }

    /// The bucket blocks go to.
    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// One pass over every tenant: cut ready ranges, upload pending blocks (unless
    /// backing off), truncate heads, delete expired local copies. Failures are logged
    /// and counted, and retried on later passes.
    pub async fn ship_once(&self) -> ShipReport {
        self.run(Steps::ALL).await
    }

    /// The shipping state of every tenant, with new tenants' heads added.
    async fn all_tenants(&self) -> tokio::sync::MutexGuard<'_, BTreeMap<TenantId, TenantShip>> {
        let mut tenants = self.tenants.lock().await;
        let root = self.ingester.tsdb().dir().to_path_buf();
        let initial = self.ingester.config().upload_backoff_initial;
        for tenant in self.ingester.tsdb().tenants() {
            tenants.entry(tenant.clone()).or_insert_with(|| {
                TenantShip::new(
                    root.join(tenant.as_str()),
                    ShippedState::default(),
                    Vec::new(),
                    initial,
                )
            });
        }
        tenants
    }

    pub(crate) async fn run(&self, steps: Steps) -> ShipReport {
        let mut report = ShipReport::default();
        let mut tenants = self.all_tenants().await;
        for (tenant, ts) in tenants.iter_mut() {
            if steps.cut {
                report.cut += self.cut(tenant, ts).await;
            }
            if steps.upload {
                let (ok, failed) = self.upload(tenant, ts).await;
                report.uploaded += ok;
                report.failed += failed;
            }
            if steps.truncate && self.truncate(tenant, ts).await {
                report.truncated += 1;
            }
            if steps.truncate {
                self.clean(tenant, ts);
            }
            report.pending += ts.pending.len();
        }
        self.update_pending_gauge(&tenants);
        report
    }

    fn update_pending_gauge(&self, tenants: &BTreeMap<TenantId, TenantShip>) {
        let pending: usize = tenants.values().map(|t| t.pending.len()).sum();
        self.ingester.metrics().blocks_pending.set(pending as i64);
    }

    /// Cuts every range of the head that is complete (newest sample past its end plus
    /// the grace). Returns how many blocks were written.
    async fn cut(&self, tenant: &TenantId, ts: &mut TenantShip) -> usize {
        let Some(head) = self.ingester.tsdb().head(tenant) else {
            return 0;
        };
        let cfg = self.ingester.config();
        let range = cfg.block_range.as_millis() as i64;
        let grace = cfg.block_cut_grace.as_millis() as i64;
        let mut cut = 0;
        loop {
            let stats = head.stats();
            let (Some(head_min), Some(head_max)) = (stats.min_time, stats.max_time) else {
                break;
            };
            let start = ts.cut_until.max(head_min.div_euclid(range) * range);
            let end = start.saturating_add(range);
            if head_max < end.saturating_add(grace) {
                break;
            }
            match self.write_range(tenant, &head, ts, start, end).await {
                Ok(Some(meta)) => {
                    tracing::info!(
                        tenant = %tenant,
                        block = %meta.ulid,
                        min_time = meta.min_time,
                        max_time = meta.max_time,
                        series = meta.stats.num_series,
                        samples = meta.stats.num_samples,
                        "cut block from head"
                    );
                    self.ingester.metrics().blocks_cut.inc();
                    ts.pending.push(meta);
                    ts.cut_until = end;
                    cut += 1;
                }
                Ok(None) => ts.cut_until = end,
                Err(e) => {
                    // The range stays in the head (closed to appends) and is cut again
                    // on the next pass.
                    tracing::error!(tenant = %tenant, min_time = start, max_time = end, error = %e, "cannot write block");
                    break;
                }
            }
        }
        cut
    }

    async fn write_range(
        &self,
        tenant: &TenantId,
        head: &Arc<Head>,
        ts: &TenantShip,
        start: i64,
        end: i64,
    ) -> Result<Option<BlockMeta>, IngestError> {
        let head = head.clone();
        let out_dir = blocks_dir(&ts.dir);
        let new_block = NewBlock {
            tenant: tenant.as_str().to_owned(),
            min_time: start,
            max_time: end,
            resolution: RESOLUTION_RAW,
            compaction: Compaction {
                level: 1,
                sources: Vec::new(),
                parents: Vec::new(),
            },
            external_labels: self.ingester.config().external_labels.clone(),
            source: "ingester".to_owned(),
        };
        let opts = self.writer.clone();
        let name = tenant.as_str().to_owned();
        tokio::task::spawn_blocking(move || {
            let series = head.cut_block(start, end);
            if series.is_empty() {
                return Ok(None);
            }
            let names: BTreeSet<String> = series
                .iter()
                .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
                .collect();
            std::fs::create_dir_all(&out_dir).map_err(|e| IngestError::Ship {
                tenant: name.clone(),
                message: format!("cannot create {}: {e}", out_dir.display()),
            })?;
            let rows = series.into_iter().map(|s| {
                Ok(BlockSeries {
                    labels: s.labels,
                    chunks: s
                        .chunks
                        .into_iter()
                        .map(|c| {
                            BlockChunk::from_encoded(c)
                                .expect("head chunks are xor or float histogram chunks")
                        })
                        .collect(),
                })
            });
            write_block(&out_dir, new_block, &names, rows, &opts)
                .map(Some)
                .map_err(|e| IngestError::Ship {
                    tenant: name,
                    message: format!("writing block into {}: {e}", out_dir.display()),
                })
        })
        .await
        .map_err(|e| IngestError::Task(e.to_string()))?
    }

    /// Uploads pending blocks oldest first until one fails. Returns (uploaded, failed).
    async fn upload(&self, tenant: &TenantId, ts: &mut TenantShip) -> (usize, usize) {
        if ts.retry_at.is_some_and(|at| Instant::now() < at) {
            return (0, 0);
        }
        let cfg = self.ingester.config();
        let metrics = self.ingester.metrics();
        let mut uploaded = 0;
        while let Some(meta) = ts.pending.first().cloned() {
            let dir = local_block_dir(&blocks_dir(&ts.dir), &meta.ulid);
            if let Err(e) = upload_block(&self.bucket, &dir, &meta).await {
                metrics
                    .block_uploads
                    .get_or_create(&ResultLabel::FAILED)
                    .inc();
                let wait = ts.backoff;
                ts.retry_at = Some(Instant::now() + wait);
                ts.backoff = (ts.backoff * 2).min(cfg.upload_backoff_max);
                tracing::warn!(
                    tenant = %tenant,
                    block = %meta.ulid,
                    bucket = self.bucket.description(),
                    retry_in_ms = wait.as_millis() as u64,
                    pending = ts.pending.len(),
                    error = %e,
                    "block upload failed; the head keeps the data and ingestion goes on"
                );
                return (uploaded, 1);
            }
            let mut next = ts.state.clone();
            next.shipped_until = Some(next.shipped_until.unwrap_or(i64::MIN).max(meta.max_time));
            next.blocks.push(ShippedBlock {
                ulid: meta.ulid,
                min_time: meta.min_time,
                max_time: meta.max_time,
            });
            if let Err(e) = state::save(&ts.dir, &next) {
                // Uploaded but not recorded: the next attempt uploads the same block
                // (same ulid, same files) again, which is harmless.
                tracing::error!(tenant = %tenant, block = %meta.ulid, error = %e, "cannot record shipped block");
                ts.retry_at = Some(Instant::now() + ts.backoff);
                return (uploaded, 0);
            }
            ts.state = next;
            ts.recent.push_back((meta.max_time, Instant::now()));
            ts.pending.remove(0);
            ts.retry_at = None;
            ts.backoff = cfg.upload_backoff_initial;
            uploaded += 1;
            let bytes: u64 =
                meta.files.iter().map(|f| f.size).sum::<u64>() + meta.to_json().len() as u64;
            metrics.block_uploads.get_or_create(&ResultLabel::OK).inc();
            metrics.block_upload_bytes.inc_by(bytes);
            metrics.last_upload_seconds.set(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64(),
            );
            tracing::info!(tenant = %tenant, block = %meta.ulid, bytes, "shipped block");
        }
        (uploaded, 0)
    }

    /// Truncates the head up to the end of the newest block shipped at least
    /// `head_retention_after_ship` ago, if not done yet.
    async fn truncate(&self, tenant: &TenantId, ts: &mut TenantShip) -> bool {
        let keep = self.ingester.config().head_retention_after_ship;
        while let Some(&(until, at)) = ts.recent.front() {
            if at.elapsed() < keep {
                break;
            }
            ts.truncatable_until = Some(ts.truncatable_until.unwrap_or(i64::MIN).max(until));
            ts.recent.pop_front();
        }
        let (Some(until), Some(head)) = (ts.truncatable_until, self.ingester.tsdb().head(tenant))
        else {
            return false;
        };
        if head.truncated_before().is_some_and(|t| t >= until) {
            return false;
        }
        let result = tokio::task::spawn_blocking(move || head.truncate(until)).await;
        let error = match result {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(format!("truncation task failed: {e}")),
        };
        let label = if error.is_none() {
            ResultLabel::OK
        } else {
            ResultLabel::FAILED
        };
        self.ingester
            .metrics()
            .head_truncations
            .get_or_create(&label)
            .inc();
        if let Some(e) = &error {
            tracing::error!(tenant = %tenant, until, error = %e, "cannot truncate head after shipping");
        }
        error.is_none()
    }

    /// Deletes local copies of shipped blocks older than `keep_shipped_blocks`.
    fn clean(&self, tenant: &TenantId, ts: &mut TenantShip) {
        if ts.state.blocks.is_empty() {
            return;
        }
        let keep = self.ingester.config().keep_shipped_blocks;
        let now = SystemTime::now();
        let dir = blocks_dir(&ts.dir);
        let mut next = ts.state.clone();
        next.blocks.retain(|b| {
            let expired = b.ulid.datetime() + keep <= now;
            if !expired {
                return true;
            }
            let path = local_block_dir(&dir, &b.ulid);
            match std::fs::remove_dir_all(&path) {
                Ok(()) => false,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => {
                    tracing::warn!(tenant = %tenant, path = %path.display(), error = %e, "cannot delete shipped local block");
                    true
                }
            }
        });
        if next.blocks.len() != ts.state.blocks.len() {
            match state::save(&ts.dir, &next) {
                Ok(()) => ts.state = next,
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "cannot record local block cleanup")
                }
            }
        }
    }

    /// Cuts everything the heads hold, the current incomplete range too, and uploads
    /// it, retrying failed uploads until `timeout` has passed. For a graceful leave:
    /// call after [`Ingester::refuse_writes`]; on `Ok` the bucket holds every sample
    /// this ingester acknowledged. Heads are not truncated (the process is about to
    /// leave; its WAL stays until the data directory is removed).
    pub async fn flush(&self, timeout: Duration) -> Result<ShipReport, IngestError> {
        let deadline = Instant::now() + timeout;
        let mut report = ShipReport::default();
        let mut tenants = self.all_tenants().await;
        let mut unshipped = None;
        'tenants: for (tenant, ts) in tenants.iter_mut() {
            report.cut += self.cut(tenant, ts).await;
            report.cut += self.cut_rest(tenant, ts).await?;
            loop {
                ts.retry_at = None;
                let (ok, failed) = self.upload(tenant, ts).await;
                report.uploaded += ok;
                report.failed += failed;
                if ts.pending.is_empty() {
                    break;
                }
                if Instant::now() + ts.backoff > deadline {
                    unshipped = Some(IngestError::Ship {
                        tenant: tenant.to_string(),
                        message: format!(
                            "{} blocks still not uploaded after {timeout:?}",
                            ts.pending.len()
                        ),
                    });
                    break 'tenants;
                }
                tokio::time::sleep(ts.backoff).await;
            }
        }
        self.update_pending_gauge(&tenants);
        if let Some(e) = unshipped {
            return Err(e);
        }
        tracing::info!(
            cut = report.cut,
            uploaded = report.uploaded,
            "head flushed to the bucket"
        );
        Ok(report)
    }

    /// Cuts all of the head's data that is not cut yet, grace or not, into
    /// range-aligned blocks; the last ends just after the newest sample.
    async fn cut_rest(&self, tenant: &TenantId, ts: &mut TenantShip) -> Result<usize, IngestError> {
        let Some(head) = self.ingester.tsdb().head(tenant) else {
            return Ok(0);
        };
        let range = self.ingester.config().block_range.as_millis() as i64;
        let stats = head.stats();
        let (Some(head_min), Some(head_max)) = (stats.min_time, stats.max_time) else {
            return Ok(0);
        };
        let mut cut = 0;
        let mut start = ts.cut_until.max(head_min.div_euclid(range) * range);
        while start <= head_max {
            let end = (start.div_euclid(range) * range)
                .saturating_add(range)
                .min(head_max.saturating_add(1));
            if let Some(meta) = self.write_range(tenant, &head, ts, start, end).await? {
                tracing::info!(tenant = %tenant, block = %meta.ulid, min_time = start, max_time = end, "cut block for a flush");
                self.ingester.metrics().blocks_cut.inc();
                ts.pending.push(meta);
                cut += 1;
            }
            ts.cut_until = end;
            start = end;
        }
        Ok(cut)
    }

    /// Runs [`Shipper::ship_once`] every `ship_interval` until `stop` turns true. A
    /// pass in progress when it does is finished (an upload is not cut off half way),
    /// then the task ends.
    pub fn spawn(self: &Arc<Self>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.ingester.config().ship_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        this.ship_once().await;
                    }
                    () = async { let _ = stop.wait_for(|s| *s).await; } => break,
                }
            }
            tracing::info!("block shipper stopped");
        })
    }
}

/// Every tenant directory under `root` with a WAL, local blocks or a shipped record.
fn scan(root: &Path) -> Result<Vec<(TenantId, state::LocalState)>, IngestError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => {
            return Err(IngestError::Ship {
                tenant: "*".into(),
                message: format!("cannot list {}: {e}", root.display()),
            })
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let Some(Ok(tenant)) = entry.file_name().to_str().map(TenantId::new) else {
            continue;
        };
        let local = state::load(&path).map_err(|message| IngestError::Ship {
            tenant: tenant.as_str().to_owned(),
            message,
        })?;
        out.push((tenant, local));
    }
    Ok(out)
}
