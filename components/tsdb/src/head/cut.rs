//! Cutting a time range out of the head as a block, and truncating it afterwards.
//!
//! ```text
//!  cut_block(mint, maxt)   min valid time := maxt (under the append lock, so no append
//!                          can still add to the range) ─▶ series sorted by labels
//!                          with their chunks in [mint, maxt)
//!  … caller writes and ships the block …
//!  truncate(t)             1. persist `truncated_before` = t (replay skips older samples)
//!                          2. under the append lock: close the WAL segment; drop chunks
//!                             older than t; remove series left empty
//!                          3. outside it: checkpoint the closed segments (series still
//!                             in the head, samples ≥ t), then delete them
//! ```

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracing::{info, warn};

use super::series::MemSeries;
use super::{Head, SeriesChunks};
use crate::error::{io_err, Error, Result};
use crate::wal::{self, CheckpointStats};

/// File in the WAL directory holding the time of the last truncation.
const TRUNCATED_FILE: &str = "truncated_before";

/// What one [`Head::truncate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TruncateStats {
    /// Chunks dropped from memory.
    pub chunks_removed: usize,
    /// Series removed because no data was left.
    pub series_removed: usize,
    /// The WAL checkpoint written, if there were segments to fold in.
    pub checkpoint: Option<CheckpointStats>,
}

impl Head {
    /// The series with data in `[mint, maxt)`, sorted by labels, with their chunks in
    /// that range. From now on the head refuses samples older than `maxt`
    /// ([`super::RejectReason::OutOfBounds`]), so the range cannot change after the
    /// cut; the data stays in the head (and queryable) until [`Head::truncate`].
    /// With `mint` and `maxt` multiples of the chunk range, chunks are copied as they
    /// are.
    pub fn cut_block(&self, mint: i64, maxt: i64) -> Vec<SeriesChunks> {
        {
            // Appends read the bound under this lock: one in flight finishes first and
            // is part of the cut, later ones see the new bound.
            let _append = self.appender.lock();
            self.min_valid_time.fetch_max(maxt, Ordering::AcqRel);
        }
        if mint >= maxt {
            return Vec::new();
        }
        let mut series: Vec<Arc<MemSeries>> = self.index.read().series().cloned().collect();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        series
            .iter()
            .filter_map(|s| {
                let chunks = s.chunks_in_range(mint, maxt);
                (!chunks.is_empty()).then(|| SeriesChunks {
                    labels: s.labels.to_labels(),
                    chunks,
                })
            })
            .collect()
    }

    /// Samples older than this are refused by appends.
    pub fn min_valid_time(&self) -> i64 {
        self.min_valid_time.load(Ordering::Acquire)
    }

    /// Raises (never lowers) the time below which appends are refused, e.g. to the end
    /// of a block cut before a restart.
    pub fn set_min_valid_time(&self, t: i64) {
        let _append = self.appender.lock();
        self.min_valid_time.fetch_max(t, Ordering::AcqRel);
    }

    /// The time of the last truncation (persisted across restarts), if any.
    pub fn truncated_before(&self) -> Option<i64> {
        let t = self.truncated_before.load(Ordering::Acquire);
        (t != i64::MIN).then_some(t)
    }

    /// Drops everything older than `mint` from memory and the WAL: call it once the
    /// data before `mint` is safely in a block. Chunks whose newest sample is older
    /// than `mint` go, series left without data are removed from the index, and the
    /// WAL's closed segments are folded into a checkpoint keeping the remaining series
    /// and samples `>= mint`. Later replays skip older samples even if a crash stops
    /// this half-way. Appends continue meanwhile, except during the in-memory sweep.
    pub fn truncate(&self, mint: i64) -> Result<TruncateStats> {
        let _one_at_a_time = self.truncate_lock.lock();
        let mut stats = TruncateStats::default();
        if mint > self.truncated_before.load(Ordering::Acquire) {
            write_truncated_before(&self.dir, mint)?;
            self.truncated_before.store(mint, Ordering::Release);
        }
        let before_segment = {
            let mut app = self.appender.lock();
            let wal = app.wal.as_mut().ok_or_else(|| Error::Closed {
                dir: self.dir.clone(),
            })?;
            self.min_valid_time.fetch_max(mint, Ordering::AcqRel);
            let segment = wal.cut_segment()?;
            let mut index = self.index.write();
            let mut empty = Vec::new();
            let mut oldest = i64::MAX;
            for s in index.series() {
                let (dropped, first) = s.drop_before(mint);
                stats.chunks_removed += dropped;
                match first {
                    Some(t) => oldest = oldest.min(t),
                    None => empty.push(s.series_ref),
                }
            }
            stats.series_removed = empty.len();
            for r in empty {
                index.remove(r);
            }
            self.min_time.store(oldest, Ordering::Relaxed);
            segment
        };
        stats.checkpoint = wal::checkpoint(&self.dir, before_segment, mint, |labels| {
            self.index.read().by_labels(labels).is_some()
        })?;
        info!(
            dir = %self.dir.display(),
            mint,
            chunks_removed = stats.chunks_removed,
            series_removed = stats.series_removed,
            checkpoint_segment = stats.checkpoint.as_ref().map(|c| c.last_segment),
            segments_deleted = stats.checkpoint.as_ref().map_or(0, |c| c.segments_deleted),
            "truncated head"
        );
        Ok(stats)
    }
}

/// Reads the persisted truncation time; a damaged file is ignored with a warning
/// (replay then keeps older samples, which the next truncation drops again).
pub(super) fn read_truncated_before(dir: &Path) -> Result<Option<i64>> {
    let path = dir.join(TRUNCATED_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse::<i64>() {
            Ok(t) => Ok(Some(t)),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "ignoring unreadable truncation time");
                Ok(None)
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read truncation time", &path)(e)),
    }
}

/// Writes the truncation time atomically (temporary file, fsync, rename, fsync dir).
fn write_truncated_before(dir: &Path, t: i64) -> Result<()> {
    let path = dir.join(TRUNCATED_FILE);
    let tmp = dir.join(format!("{TRUNCATED_FILE}.tmp"));
    let mut f = File::create(&tmp).map_err(io_err("write truncation time", &tmp))?;
    f.write_all(format!("{t}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io_err("write truncation time", &tmp))?;
    fs::rename(&tmp, &path).map_err(io_err("rename truncation time", &path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync wal directory", dir))
}
