//! The ring state machine: applies committed commands, publishes every new ring to
//! watchers, and keeps its latest snapshot on disk.
//!
//! The state lives in memory and in `<dir>/snapshot.json`; after a restart it is the
//! snapshot plus the committed log entries openraft re-applies.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Mutex};

use crate::log_store::{read_json, write_json_atomic};
use crate::types::{CommandResponse, NodeId, RingData, TypeConfig};
use crate::MetaError;

type StorageResult<T> = Result<T, StorageError<NodeId>>;

/// A ring as published to watchers: the data and the log index it reflects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RingSnapshot {
    /// Members by id.
    pub data: RingData,
    /// Index of the last applied log entry (0 before any).
    pub version: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Applied {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    data: RingData,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

#[derive(Debug)]
struct Inner {
    applied: Applied,
    snapshot: Option<StoredSnapshot>,
}

/// Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub(crate) struct StateMachine {
    path: PathBuf,
    inner: Arc<Mutex<Inner>>,
    tx: Arc<watch::Sender<Arc<RingSnapshot>>>,
}

fn read_err(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::read_state_machine(&std::io::Error::other(e.to_string())).into()
}

impl StateMachine {
    /// Opens the state machine from `<dir>/snapshot.json` (empty when absent).
    pub(crate) fn open(dir: &Path) -> Result<Self, MetaError> {
        let path = dir.join("snapshot.json");
        let snapshot: Option<StoredSnapshot> = read_json(&path)?;
        let applied = match &snapshot {
            Some(s) => Applied {
                last_applied: s.meta.last_log_id,
                membership: s.meta.last_membership.clone(),
                data: serde_json::from_slice(&s.data)
                    .map_err(|e| MetaError::storage(path.display(), e))?,
            },
            None => Applied::default(),
        };
        let published = RingSnapshot {
            data: applied.data.clone(),
            version: applied.last_applied.map_or(0, |l| l.index),
        };
        Ok(Self {
            path,
            inner: Arc::new(Mutex::new(Inner { applied, snapshot })),
            tx: Arc::new(watch::Sender::new(Arc::new(published))),
        })
    }

    /// Every ring this node applies, starting with the current one.
    pub(crate) fn watch(&self) -> watch::Receiver<Arc<RingSnapshot>> {
        self.tx.subscribe()
    }

    /// The ring this node has applied so far.
    pub(crate) fn current(&self) -> Arc<RingSnapshot> {
        self.tx.borrow().clone()
    }

    fn publish(&self, applied: &Applied) {
        let version = applied.last_applied.map_or(0, |l| l.index);
        self.tx.send_if_modified(|cur| {
            if cur.data == applied.data && cur.version == version {
                return false;
            }
            *cur = Arc::new(RingSnapshot {
                data: applied.data.clone(),
                version,
            });
            true
        });
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let mut inner = self.inner.lock().await;
        let data = serde_json::to_vec(&inner.applied.data).map_err(read_err)?;
        let last = inner.applied.last_applied;
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: inner.applied.membership.clone(),
            snapshot_id: last.map_or_else(
                || "0-0".to_owned(),
                |l| format!("{}-{}", l.leader_id, l.index),
            ),
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        write_json_atomic(&self.path, &stored).map_err(|e| {
            StorageError::from(StorageIOError::write_snapshot(Some(meta.signature()), &e))
        })?;
        inner.snapshot = Some(stored);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let inner = self.inner.lock().await;
        Ok((inner.applied.last_applied, inner.applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<CommandResponse>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.inner.lock().await;
        let mut out = Vec::new();
        for entry in entries {
            inner.applied.last_applied = Some(entry.log_id);
            out.push(match entry.payload {
                EntryPayload::Blank => CommandResponse::Done,
                EntryPayload::Normal(cmd) => inner.applied.data.apply(&cmd),
                EntryPayload::Membership(m) => {
                    inner.applied.membership = StoredMembership::new(Some(entry.log_id), m);
                    CommandResponse::Done
                }
            });
        }
        self.publish(&inner.applied);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let bytes = snapshot.into_inner();
        let data: RingData = serde_json::from_slice(&bytes).map_err(|e| {
            StorageError::from(StorageIOError::read_snapshot(Some(meta.signature()), &e))
        })?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: bytes,
        };
        write_json_atomic(&self.path, &stored).map_err(|e| {
            StorageError::from(StorageIOError::write_snapshot(Some(meta.signature()), &e))
        })?;
        let mut inner = self.inner.lock().await;
        inner.applied = Applied {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            data,
        };
        inner.snapshot = Some(stored);
        self.publish(&inner.applied);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let inner = self.inner.lock().await;
        Ok(inner.snapshot.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(s.data.clone())),
        }))
    }
}
