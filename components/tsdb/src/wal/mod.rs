//! The write-ahead log: every series and sample a head acknowledges is here first.
//!
//! # Files
//!
//! A WAL is a directory of segment files named by their sequence number, zero-padded
//! to eight digits: `00000000`, `00000001`, … Records are appended to the newest
//! segment; before a record would push it past [`WalOptions::segment_size`], a new
//! segment is started (a single record larger than the limit gets a segment of its
//! own). Every open starts writing a fresh segment (or reuses the newest one if it is
//! empty), so a repaired segment is never appended to. Files whose names are not all
//! digits are ignored.
//!
//! # Framing
//!
//! A segment is a plain sequence of frames, with no file header:
//!
//! ```text
//! ┌──────────────┬──────────────┬───────────────────────────────┐
//! │ len: u32 LE  │ crc: u32 LE  │ payload: len bytes            │
//! └──────────────┴──────────────┴───────────────────────────────┘
//!   crc = CRC32-Castagnoli(len bytes ‖ payload), len in 1..=MAX_RECORD_LEN
//! ```
//!
//! The checksum covers the length too, so a damaged length is caught even when it
//! still points inside the file. Payloads start with a type byte:
//!
//! ```text
//! series  (1): count:uvarint { ref:uvarint  nlabels:uvarint
//!                              { name_len:uvarint name  value_len:uvarint value } }
//! samples (2): count:uvarint { Δref:varint  Δt:varint  v:u64 LE (f64 bits) }
//! histograms (3): count:uvarint { Δref:varint  hint:u8  len:uvarint  one-sample float histogram chunk }
//! ```
//!
//! `uvarint` is unsigned LEB128 and `varint` is zigzag-encoded LEB128. In a samples
//! record `Δref` and `Δt` are differences to the previous sample of the same record
//! (the first one to zero), so a batch of scrapes with close timestamps costs about
//! ten bytes a sample. Values are stored bit for bit, so NaN payloads and the
//! staleness marker survive.
//!
//! A payload of 128 bytes or more is written snappy-compressed (block format) when that
//! is smaller, as Prometheus does by default: the type byte then has its top bit set
//! (`0x81`, `0x82`) and the rest is the compressed body. Replay reads both forms, so a
//! WAL written before compression existed still replays.
//!
//! # Replay and repair
//!
//! [`Wal::open`] reads all segments in order and hands every record to a callback.
//! A frame that is cut short, has an impossible length, a checksum mismatch, or a
//! payload that does not decode ends the log at that offset: the segment is truncated
//! there, later segments are deleted, a `tracing` warning names the segment, offset
//! and reason, and writing continues in a fresh segment. For a torn write at the end
//! of the newest segment (a crash mid-`write`) that loses nothing that was
//! acknowledged; for damage in an older segment it keeps everything before the damage
//! and keeps the log consistent (no sample can refer to a series whose record was
//! dropped). A gap in segment numbers is handled the same way, at the gap.
//!
//! # Checkpoints
//!
//! Old segments are removed through [`checkpoint`] (see its module): the still-needed
//! series records and recent samples of every segment below a number are rewritten
//! into `checkpoint.<last covered segment>/`, and only then are those segments
//! deleted. [`Wal::open`] replays the newest checkpoint first, then the segments
//! after it; it deletes unfinished `checkpoint.*.tmp` directories, older checkpoints
//! and segments a checkpoint already covers, and never reuses a covered number.
//!
//! # Durability
//!
//! Records are written with a single `write` per [`Wal::log`] call (no user-space
//! buffering), so once `log` returns the data is in the kernel and survives the
//! process being killed. [`FsyncPolicy`] decides when it also reaches the disk.

mod checkpoint;
mod record;
#[cfg(test)]
mod tests;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::warn;

pub use checkpoint::{checkpoint, CheckpointStats};
pub use record::{RefHistogram, RefSample, RefSeries, WalRecord};

use crate::error::{io_err, Error, Result};

/// Largest payload a frame may carry (256 MiB); larger lengths are treated as damage.
pub const MAX_RECORD_LEN: usize = 256 << 20;

/// Default segment size limit: 128 MiB, like Prometheus.
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 << 20;

const FRAME_HEADER_LEN: usize = 8;

/// When appended records are fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Fsync before [`Wal::log`] returns: an acknowledged write survives power loss.
    Always,
    /// Write to the OS before [`Wal::log`] returns (survives the process being killed)
    /// and fsync when [`Wal::sync`] is called, or at the next `log` once the interval
    /// has passed since the last fsync.
    Interval(Duration),
    /// Never fsync explicitly (except on [`Wal::sync`]); the OS writes back when it likes.
    Never,
}

/// How a [`Wal`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// Start a new segment before one would grow past this many bytes.
    pub segment_size: u64,
    /// When to fsync.
    pub fsync: FsyncPolicy,
}

impl Default for WalOptions {
    /// 128 MiB segments, fsync every second.
    fn default() -> Self {
        Self {
            segment_size: DEFAULT_SEGMENT_SIZE,
            fsync: FsyncPolicy::Interval(Duration::from_secs(1)),
        }
    }
}

/// Where replay found the log damaged and cut it off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalCorruption {
    /// The damaged segment's number.
    pub segment: u64,
    /// Byte offset in that segment where the first bad frame starts (the new length).
    pub offset: u64,
    /// What was wrong with the frame.
    pub reason: String,
}

/// What [`Wal::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalReplayStats {
    /// Segments read (including a damaged one).
    pub segments: usize,
    /// Records handed to the callback.
    pub records: usize,
    /// Bytes of intact frames read.
    pub bytes: u64,
    /// Where the log was cut off, if it was damaged.
    pub corruption: Option<WalCorruption>,
    /// Segments deleted because they followed damage or a gap.
    pub segments_deleted: usize,
    /// The checkpoint replayed first (the newest segment it covers), if any.
    pub checkpoint: Option<u64>,
}

/// An open write-ahead log. Not internally synchronized: the owner serializes calls
/// (a [`crate::Head`] keeps it behind its append mutex).
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    file: File,
    segment: u64,
    /// Bytes in the current segment.
    size: u64,
    /// Written but not yet fsynced.
    dirty: bool,
    last_sync: Instant,
    /// Set when a write or fsync failed and the file state is unknown.
    poisoned: bool,
    buf: Vec<u8>,
}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir`, replays every intact record into
    /// `on_record` in log order, repairs damage as described in the module doc, and
    /// returns the log ready for appending.
    pub fn open(
        dir: impl AsRef<Path>,
        options: WalOptions,
        mut on_record: impl FnMut(WalRecord),
    ) -> Result<(Self, WalReplayStats)> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err("create wal directory", &dir))?;
        let mut stats = WalReplayStats::default();
        let covered = checkpoint::replay_latest(&dir, &mut stats, &mut on_record)?;
        let mut segments = list_segments(&dir)?;
        if let Some(cp) = covered {
            // Left behind by a crash between writing the checkpoint and deleting the
            // segments it replaces; their records are in the checkpoint already.
            let old: Vec<u64> = segments.iter().copied().filter(|&s| s <= cp).collect();
            for seg in &old {
                let path = segment_path(&dir, *seg);
                fs::remove_file(&path).map_err(io_err("delete wal segment", &path))?;
            }
            segments.retain(|&s| s > cp);
        }
        let mut kept: Option<u64> = None;
        let mut dropped: &[u64] = &[];
        for (i, &seg) in segments.iter().enumerate() {
            if let Some(prev) = kept.filter(|&p| p.checked_add(1) != Some(seg)) {
                warn!(
                    segment = seg,
                    previous = prev,
                    "wal segments are not sequential; dropping segments after the gap"
                );
                dropped = &segments[i..];
                break;
            }
            kept = Some(seg);
            stats.segments += 1;
            let path = segment_path(&dir, seg);
            if let Some(bad) = replay_segment(&path, &mut stats, &mut on_record)? {
                warn!(
                    segment = seg,
                    offset = bad.offset,
                    reason = %bad.reason,
                    path = %path.display(),
                    "corrupt wal record; truncating the log at this offset"
                );
                truncate_file(&path, bad.offset)?;
                stats.corruption = Some(WalCorruption {
                    segment: seg,
                    offset: bad.offset,
                    reason: bad.reason.to_owned(),
                });
                dropped = &segments[i + 1..];
                break;
            }
        }
        for &seg in dropped {
            let path = segment_path(&dir, seg);
            warn!(segment = seg, path = %path.display(), "deleting wal segment after damage");
            fs::remove_file(&path).map_err(io_err("delete wal segment", &path))?;
            stats.segments_deleted += 1;
        }
        // Continue in a fresh segment, reusing the newest one only if it is empty.
        let segment = match kept {
            // Never reuse numbers a checkpoint covers: the next open would skip them.
            None => covered.map_or(0, |cp| cp + 1),
            Some(last) => {
                let path = segment_path(&dir, last);
                let len = fs::metadata(&path)
                    .map_err(io_err("stat wal segment", &path))?
                    .len();
                if len == 0 {
                    last
                } else {
                    last + 1
                }
            }
        };
        let file = open_segment(&dir, segment)?;
        sync_dir(&dir)?;
        let wal = Self {
            dir,
            options,
            file,
            segment,
            size: 0,
            dirty: false,
            last_sync: Instant::now(),
            poisoned: false,
            buf: Vec::new(),
        };
        Ok((wal, stats))
    }

    /// Appends `records` in order. When this returns `Ok` they are in the kernel (and
    /// on disk under [`FsyncPolicy::Always`]). On error nothing of this call is
    /// acknowledged; if the file could not be restored to its previous length the WAL
    /// is poisoned and every later call fails with [`Error::WalPoisoned`].
    pub fn log(&mut self, records: &[WalRecord]) -> Result<()> {
        if self.poisoned {
            return Err(Error::WalPoisoned {
                dir: self.dir.clone(),
            });
        }
        let mut pending = std::mem::take(&mut self.buf);
        pending.clear();
        let result = self.log_into(records, &mut pending);
        self.buf = pending;
        result?;
        match self.options.fsync {
            FsyncPolicy::Always => self.sync(),
            FsyncPolicy::Interval(every) if self.last_sync.elapsed() >= every => self.sync(),
            FsyncPolicy::Interval(_) | FsyncPolicy::Never => Ok(()),
        }
    }

    fn log_into(&mut self, records: &[WalRecord], pending: &mut Vec<u8>) -> Result<()> {
        for rec in records {
            let start = pending.len();
            push_frame(pending, rec).map_err(|len| Error::RecordTooLarge {
                path: self.segment_path(),
                len,
                max: MAX_RECORD_LEN,
            })?;
            let before = self.size + start as u64;
            let frame_len = (pending.len() - start) as u64;
            if before > 0 && before + frame_len > self.options.segment_size {
                self.write_all(&pending[..start])?;
                pending.drain(..start);
                self.roll()?;
            }
        }
        self.write_all(pending)
    }

    /// Writes `data` at the end of the current segment, undoing a partial write.
    fn write_all(&mut self, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.file.write_all(data) {
            if self.file.set_len(self.size).is_err() {
                self.poisoned = true;
            }
            return Err(io_err("write wal segment", self.segment_path())(e));
        }
        self.size += data.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// Closes the current segment (fsynced unless the policy is `Never`) and starts
    /// the next one.
    fn roll(&mut self) -> Result<()> {
        if self.options.fsync != FsyncPolicy::Never {
            self.sync()?;
        }
        let next = self.segment + 1;
        let file = open_segment(&self.dir, next)?;
        if self.options.fsync != FsyncPolicy::Never {
            sync_dir(&self.dir)?;
        }
        self.file = file;
        self.segment = next;
        self.size = 0;
        Ok(())
    }

    /// Fsyncs everything written so far. A failed fsync poisons the WAL: after one,
    /// Linux may have dropped the dirty pages, so retrying would lie.
    pub fn sync(&mut self) -> Result<()> {
        if self.poisoned {
            return Err(Error::WalPoisoned {
                dir: self.dir.clone(),
            });
        }
        if self.dirty {
            if let Err(e) = self.file.sync_data() {
                self.poisoned = true;
                return Err(io_err("fsync wal segment", self.segment_path())(e));
            }
            self.dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Closes the current segment unless it is empty and returns the number of the
    /// segment now being written: every record logged so far is in lower-numbered
    /// segments, ready for [`checkpoint`].
    pub fn cut_segment(&mut self) -> Result<u64> {
        if self.size > 0 {
            self.roll()?;
        }
        Ok(self.segment)
    }

    /// Deletes every segment numbered below `segment` (never the one being written).
    /// Returns how many were deleted.
    pub fn truncate_before(&mut self, segment: u64) -> Result<usize> {
        let limit = segment.min(self.segment);
        let mut deleted = 0;
        for seg in list_segments(&self.dir)?.into_iter().filter(|&s| s < limit) {
            let path = segment_path(&self.dir, seg);
            fs::remove_file(&path).map_err(io_err("delete wal segment", &path))?;
            deleted += 1;
        }
        if deleted > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(deleted)
    }

    /// The number of the segment being written.
    pub fn current_segment(&self) -> u64 {
        self.segment
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn segment_path(&self) -> PathBuf {
        segment_path(&self.dir, self.segment)
    }
}

/// Appends one frame holding `rec` to `buf`; on error (the payload's length) `buf` is
/// unchanged.
fn push_frame(buf: &mut Vec<u8>, rec: &WalRecord) -> std::result::Result<(), usize> {
    let start = buf.len();
    buf.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    rec.encode_compressed(buf);
    let len = buf.len() - start - FRAME_HEADER_LEN;
    if len > MAX_RECORD_LEN {
        buf.truncate(start);
        return Err(len);
    }
    let len_bytes = (len as u32).to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len_bytes), &buf[start + FRAME_HEADER_LEN..]);
    buf[start..start + 4].copy_from_slice(&len_bytes);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The file name of segment `n`.
fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:08}"))
}

/// Segment numbers present in `dir`, ascending.
fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut segs = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list wal directory", dir))? {
        let entry = entry.map_err(io_err("list wal directory", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(n) = name.parse::<u64>() {
            segs.push(n);
        }
    }
    segs.sort_unstable();
    Ok(segs)
}

fn open_segment(dir: &Path, n: u64) -> Result<File> {
    let path = segment_path(dir, n);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err("open wal segment", &path))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync wal directory", dir))
}

fn truncate_file(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err("open wal segment for repair", path))?;
    f.set_len(len)
        .and_then(|()| f.sync_all())
        .map_err(io_err("truncate wal segment", path))
}

/// The first bad frame of a segment.
struct BadFrame {
    offset: u64,
    reason: &'static str,
}

/// Reads every frame of one segment into `on_record`; returns where it went bad, if
/// anywhere. I/O errors other than running out of bytes are real errors.
fn replay_segment(
    path: &Path,
    stats: &mut WalReplayStats,
    on_record: &mut impl FnMut(WalRecord),
) -> Result<Option<BadFrame>> {
    let file = File::open(path).map_err(io_err("open wal segment", path))?;
    let file_len = file
        .metadata()
        .map_err(io_err("stat wal segment", path))?
        .len();
    let mut r = io::BufReader::with_capacity(1 << 20, file);
    let mut offset = 0u64;
    let mut payload = Vec::new();
    let bad = |offset, reason| Ok(Some(BadFrame { offset, reason }));
    while offset < file_len {
        if file_len - offset < FRAME_HEADER_LEN as u64 {
            return bad(offset, "short frame header");
        }
        let mut header = [0u8; FRAME_HEADER_LEN];
        r.read_exact(&mut header)
            .map_err(io_err("read wal segment", path))?;
        let len_bytes = [header[0], header[1], header[2], header[3]];
        let len = u32::from_le_bytes(len_bytes) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len == 0 {
            return bad(offset, "zero-length record");
        }
        if len > MAX_RECORD_LEN {
            return bad(offset, "record length exceeds the limit");
        }
        if (len as u64) > file_len - offset - FRAME_HEADER_LEN as u64 {
            return bad(offset, "record extends past end of segment");
        }
        payload.resize(len, 0);
        r.read_exact(&mut payload)
            .map_err(io_err("read wal segment", path))?;
        if crc32c::crc32c_append(crc32c::crc32c(&len_bytes), &payload) != crc {
            return bad(offset, "checksum mismatch");
        }
        match WalRecord::decode(&payload) {
            Ok(rec) => on_record(rec),
            Err(reason) => return bad(offset, reason),
        }
        offset += (FRAME_HEADER_LEN + len) as u64;
        stats.records += 1;
        stats.bytes += (FRAME_HEADER_LEN + len) as u64;
    }
    Ok(None)
}
