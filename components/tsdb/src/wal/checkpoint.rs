//! Checkpoints: the still-needed part of old segments, rewritten so they can go.
//!
//! Like Prometheus's `wal.Checkpoint`. [`checkpoint`] reads the previous checkpoint and
//! every segment below a given number, keeps the series records the caller still
//! needs and the samples at or after a time, and writes them as
//! `checkpoint.<last segment>/00000000` (same framing as a segment). Only then are the
//! covered segments and older checkpoints deleted. Replay is the newest checkpoint
//! first, then the segments numbered after it.
//!
//! Every step leaves a replayable directory if the process dies there:
//!
//! ```text
//!  write checkpoint.N.tmp/00000000, fsync file + dir   crash: .tmp deleted on open,
//!                                                      old checkpoint + segments replay
//!  rename to checkpoint.N, fsync wal dir                crash: checkpoint.N replays, then
//!                                                      segments > N; segments ≤ N deleted
//!  delete segments ≤ N and checkpoints < N, fsync dir   (same)
//! ```

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use cairn_model::Labels;
use tracing::warn;

use super::{
    list_segments, push_frame, replay_segment, segment_path, sync_dir, WalCorruption, WalRecord,
    WalReplayStats,
};
use crate::error::{io_err, Error, Result};

const PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";

/// What one [`checkpoint`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// The newest segment the checkpoint covers (its name's number).
    pub last_segment: u64,
    /// Series definitions kept.
    pub series_kept: usize,
    /// Series definitions dropped (the caller no longer has the series).
    pub series_dropped: usize,
    /// Samples kept (at or after the truncation time).
    pub samples_kept: usize,
    /// Samples dropped (older than the truncation time).
    pub samples_dropped: usize,
    /// Segments deleted after the checkpoint was in place.
    pub segments_deleted: usize,
    /// Size of the checkpoint file.
    pub bytes: u64,
}

/// The name of the checkpoint covering segments up to `n`.
fn checkpoint_name(n: u64) -> String {
    format!("{PREFIX}{n:08}")
}

/// Complete checkpoints and leftover temporary ones in `dir`, each sorted ascending.
fn list_checkpoints(dir: &Path) -> Result<(Vec<u64>, Vec<PathBuf>)> {
    let (mut done, mut tmp) = (Vec::new(), Vec::new());
    for entry in fs::read_dir(dir).map_err(io_err("list wal directory", dir))? {
        let entry = entry.map_err(io_err("list wal directory", dir))?;
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let (digits, is_tmp) = match rest.strip_suffix(TMP_SUFFIX) {
            Some(d) => (d, true),
            None => (rest, false),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(n) = digits.parse::<u64>() else {
            continue;
        };
        if !entry.path().is_dir() {
            continue;
        }
        if is_tmp {
            tmp.push(entry.path());
        } else {
            done.push(n);
        }
    }
    done.sort_unstable();
    tmp.sort();
    Ok((done, tmp))
}

/// Deletes leftover temporary checkpoints and all but the newest complete one, then
/// replays that one into `on_record`. Returns the newest segment it covers.
pub(super) fn replay_latest(
    dir: &Path,
    stats: &mut WalReplayStats,
    on_record: &mut impl FnMut(WalRecord),
) -> Result<Option<u64>> {
    let (done, tmp) = list_checkpoints(dir)?;
    for path in tmp {
        warn!(path = %path.display(), "deleting unfinished wal checkpoint");
        fs::remove_dir_all(&path).map_err(io_err("delete unfinished wal checkpoint", &path))?;
    }
    let Some(&latest) = done.last() else {
        return Ok(None);
    };
    for &n in &done[..done.len() - 1] {
        let path = dir.join(checkpoint_name(n));
        fs::remove_dir_all(&path).map_err(io_err("delete old wal checkpoint", &path))?;
    }
    let cp_dir = dir.join(checkpoint_name(latest));
    for seg in list_segments(&cp_dir)? {
        let path = segment_path(&cp_dir, seg);
        if let Some(bad) = replay_segment(&path, stats, on_record)? {
            // A checkpoint is fsynced before it gets its name, so this is disk damage;
            // keep what was read and go on with the segments.
            warn!(
                path = %path.display(),
                offset = bad.offset,
                reason = bad.reason,
                "corrupt wal checkpoint; records after this offset are lost"
            );
            stats.corruption = Some(WalCorruption {
                segment: latest,
                offset: bad.offset,
                reason: format!("checkpoint: {}", bad.reason),
            });
            break;
        }
    }
    stats.checkpoint = Some(latest);
    Ok(Some(latest))
}

/// Rewrites the previous checkpoint and every segment numbered below `before` into a
/// new checkpoint holding the series records for which `keep` is true and the samples
/// with `t >= mint`, then deletes what it replaces. `None` when there was no segment
/// to fold in. Safe to run while the WAL appends to segment `before` or later (see
/// [`super::Wal::cut_segment`]); the caller must not run two at once on one directory.
pub fn checkpoint(
    dir: &Path,
    before: u64,
    mint: i64,
    mut keep: impl FnMut(&Labels) -> bool,
) -> Result<Option<CheckpointStats>> {
    let (done, _) = list_checkpoints(dir)?;
    let prev = done.last().copied();
    let old: Vec<u64> = list_segments(dir)?
        .into_iter()
        .filter(|&s| s < before)
        .collect();
    let fresh: Vec<u64> = old
        .iter()
        .copied()
        .filter(|&s| prev.is_none_or(|p| s > p))
        .collect();
    let Some(&last) = fresh.last() else {
        delete_covered(dir, &old, &done, prev)?;
        return Ok(None);
    };

    let tmp = dir.join(format!("{}{TMP_SUFFIX}", checkpoint_name(last)));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io_err("delete unfinished wal checkpoint", &tmp))?;
    }
    fs::create_dir(&tmp).map_err(io_err("create wal checkpoint", &tmp))?;
    let out_path = segment_path(&tmp, 0);
    let file = File::create(&out_path).map_err(io_err("create wal checkpoint", &out_path))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);

    let mut sources: Vec<PathBuf> = Vec::new();
    if let Some(p) = prev {
        let cp_dir = dir.join(checkpoint_name(p));
        sources.extend(
            list_segments(&cp_dir)?
                .into_iter()
                .map(|s| segment_path(&cp_dir, s)),
        );
    }
    sources.extend(fresh.iter().map(|&s| segment_path(dir, s)));

    let mut stats = CheckpointStats {
        last_segment: last,
        ..CheckpointStats::default()
    };
    let mut frame = Vec::new();
    let mut write_err: Option<std::io::Error> = None;
    for src in &sources {
        let mut replay_stats = WalReplayStats::default();
        let bad = replay_segment(src, &mut replay_stats, &mut |rec| {
            let rec = match rec {
                WalRecord::Series(mut series) => {
                    let before = series.len();
                    series.retain(|s| keep(&s.labels));
                    stats.series_kept += series.len();
                    stats.series_dropped += before - series.len();
                    WalRecord::Series(series)
                }
                WalRecord::Samples(mut samples) => {
                    let before = samples.len();
                    samples.retain(|s| s.t >= mint);
                    stats.samples_kept += samples.len();
                    stats.samples_dropped += before - samples.len();
                    WalRecord::Samples(samples)
                }
                WalRecord::Histograms(mut histograms) => {
                    let before = histograms.len();
                    histograms.retain(|h| h.t >= mint);
                    stats.samples_kept += histograms.len();
                    stats.samples_dropped += before - histograms.len();
                    WalRecord::Histograms(histograms)
                }
            };
            let empty = match &rec {
                WalRecord::Series(s) => s.is_empty(),
                WalRecord::Samples(s) => s.is_empty(),
                WalRecord::Histograms(h) => h.is_empty(),
            };
            if empty || write_err.is_some() {
                return;
            }
            frame.clear();
            // A filtered record is never larger than the one it came from.
            if push_frame(&mut frame, &rec).is_ok() {
                if let Err(e) = out.write_all(&frame) {
                    write_err = Some(e);
                }
            }
        })?;
        if let Some(e) = write_err.take() {
            return Err(io_err("write wal checkpoint", &out_path)(e));
        }
        if let Some(bad) = bad {
            // Segments below the one being written were intact at open and are never
            // written again; refusing keeps them (and the data) in place.
            return Err(Error::Checkpoint {
                path: src.clone(),
                reason: format!("{} at offset {}", bad.reason, bad.offset),
            });
        }
    }
    let file = out
        .into_inner()
        .map_err(|e| io_err("write wal checkpoint", &out_path)(e.into_error()))?;
    file.sync_all()
        .map_err(io_err("fsync wal checkpoint", &out_path))?;
    stats.bytes = file
        .metadata()
        .map_err(io_err("stat wal checkpoint", &out_path))?
        .len();
    drop(file);
    sync_dir(&tmp)?;
    let final_dir = dir.join(checkpoint_name(last));
    fs::rename(&tmp, &final_dir).map_err(io_err("rename wal checkpoint", &final_dir))?;
    sync_dir(dir)?;

    let (done, _) = list_checkpoints(dir)?;
    stats.segments_deleted = delete_covered(dir, &old, &done, Some(last))?;
    Ok(Some(stats))
}

/// Deletes the segments in `segments` and the checkpoints in `checkpoints` older than
/// checkpoint `upto` (both covered by it). Returns how many segments went.
fn delete_covered(
    dir: &Path,
    segments: &[u64],
    checkpoints: &[u64],
    upto: Option<u64>,
) -> Result<usize> {
    let Some(upto) = upto else {
        return Ok(0);
    };
    let mut deleted = 0;
    for &s in segments.iter().filter(|&&s| s <= upto) {
        let path = segment_path(dir, s);
        fs::remove_file(&path).map_err(io_err("delete wal segment", &path))?;
        deleted += 1;
    }
    for &c in checkpoints.iter().filter(|&&c| c < upto) {
        let path = dir.join(checkpoint_name(c));
        fs::remove_dir_all(&path).map_err(io_err("delete old wal checkpoint", &path))?;
    }
    sync_dir(dir)?;
    Ok(deleted)
}
