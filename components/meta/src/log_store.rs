//! The Raft log, vote and commit index on disk.
//!
//! ```text
//!  <dir>/vote.json        current vote        (written atomically: tmp + fsync + rename)
//!  <dir>/committed.json   last committed id   (same)
//!  <dir>/purged.json      last purged id      (same)
//!  <dir>/log/<index>.json one entry per file  (same; the directory is fsynced before
//!                                              an append is reported durable)
//! ```
//!
//! The ring changes a few times a second at most (heartbeats dominate), and snapshots
//! purge old entries, so one small file per entry is simple and cheap. Every file is
//! written whole or not at all; on open, the log is read as the longest run of
//! consecutive indexes after the purge point, and anything beyond a gap (left by a crash
//! between unsynced renames, never acknowledged) is deleted.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, StorageError, StorageIOError, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::types::{NodeId, TypeConfig};
use crate::MetaError;

type StorageResult<T> = Result<T, StorageError<NodeId>>;

/// Writes `value` as JSON to `path` atomically and durably.
pub(crate) fn write_json_atomic(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, MetaError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| MetaError::storage(path.display(), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MetaError::storage(path.display(), e)),
    }
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    last_purged: Option<LogId<NodeId>>,
    /// Entries kept in memory too: the log after the last purge is small.
    log: BTreeMap<u64, Entry<TypeConfig>>,
}

/// The file-backed Raft log. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub(crate) struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn entry_path(dir: &Path, index: u64) -> PathBuf {
    dir.join("log").join(format!("{index:020}.json"))
}

fn io_err(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::write_logs(&std::io::Error::other(e.to_string())).into()
}

impl LogStore {
    /// Opens (or creates) the log in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Self, MetaError> {
        let log_dir = dir.join("log");
        std::fs::create_dir_all(&log_dir).map_err(|e| MetaError::storage(log_dir.display(), e))?;
        let vote = read_json(&dir.join("vote.json"))?;
        let committed = read_json(&dir.join("committed.json"))?;
        let last_purged: Option<LogId<NodeId>> = read_json(&dir.join("purged.json"))?;
        let mut indexes = Vec::new();
        for f in
            std::fs::read_dir(&log_dir).map_err(|e| MetaError::storage(log_dir.display(), e))?
        {
            let path = f
                .map_err(|e| MetaError::storage(log_dir.display(), e))?
                .path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            match name
                .strip_suffix(".json")
                .and_then(|i| i.parse::<u64>().ok())
            {
                Some(i) => indexes.push(i),
                // Leftover of an interrupted write.
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        indexes.sort_unstable();
        let first = last_purged.map_or(0, |p| p.index + 1);
        let mut log = BTreeMap::new();
        let mut expect = None;
        for i in indexes {
            let path = entry_path(dir, i);
            let keep = i >= first && expect.is_none_or(|e| e == i);
            if !keep {
                if i >= first {
                    tracing::warn!(index = i, "raft log has a gap; dropping entries after it");
                }
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let entry: Entry<TypeConfig> = read_json(&path)?.ok_or_else(|| {
                MetaError::storage(path.display(), "entry vanished while opening")
            })?;
            log.insert(i, entry);
            expect = Some(i + 1);
        }
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                vote,
                committed,
                last_purged,
                log,
            })),
        })
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let inner = self.inner.lock().await;
        Ok(inner.log.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let inner = self.inner.lock().await;
        let last = inner
            .log
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(inner.last_purged);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        let mut inner = self.inner.lock().await;
        write_json_atomic(&inner.dir.join("vote.json"), vote)
            .map_err(|e| StorageError::from(StorageIOError::write_vote(&e)))?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        Ok(self.inner.lock().await.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StorageResult<()> {
        let mut inner = self.inner.lock().await;
        write_json_atomic(&inner.dir.join("committed.json"), &committed).map_err(io_err)?;
        inner.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeId>>> {
        Ok(self.inner.lock().await.committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.inner.lock().await;
        let dir = inner.dir.clone();
        let mut result = Ok(());
        for entry in entries {
            let path = entry_path(&dir, entry.log_id.index);
            let tmp = path.with_extension("json.tmp");
            let written = serde_json::to_vec(&entry)
                .map_err(std::io::Error::other)
                .and_then(|bytes| {
                    use std::io::Write;
                    let mut f = std::fs::File::create(&tmp)?;
                    f.write_all(&bytes)?;
                    f.sync_all()?;
                    std::fs::rename(&tmp, &path)
                });
            if let Err(e) = written {
                result = Err(e);
                break;
            }
            inner.log.insert(entry.log_id.index, entry);
        }
        if result.is_ok() {
            result = sync_dir(&dir.join("log"));
        }
        let failed = result.as_ref().err().map(|e| e.to_string());
        callback.log_io_completed(result);
        match failed {
            Some(e) => Err(io_err(e)),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let mut inner = self.inner.lock().await;
        let doomed: Vec<u64> = inner.log.range(log_id.index..).map(|(i, _)| *i).collect();
        // Newest first, so a crash halfway leaves a prefix, never a gap.
        for i in doomed.into_iter().rev() {
            match std::fs::remove_file(entry_path(&inner.dir, i)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(e)),
            }
            inner.log.remove(&i);
        }
        sync_dir(&inner.dir.join("log")).map_err(io_err)?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let mut inner = self.inner.lock().await;
        // Record the purge point first: entries at or below it are ignored on open even
        // if deleting them is interrupted.
        write_json_atomic(&inner.dir.join("purged.json"), &log_id).map_err(io_err)?;
        inner.last_purged = Some(log_id);
        let doomed: Vec<u64> = inner.log.range(..=log_id.index).map(|(i, _)| *i).collect();
        for i in doomed {
            let _ = std::fs::remove_file(entry_path(&inner.dir, i));
            inner.log.remove(&i);
        }
        Ok(())
    }
}
