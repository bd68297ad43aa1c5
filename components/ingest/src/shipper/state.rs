//! What a tenant's shipper knows on disk: `shipped.json` and the local blocks.
//!
//! ```text
//!  <data_dir>/ingester/<tenant>/
//!    wal/                   the head's WAL (cairn-tsdb)
//!    blocks/<ulid>/         blocks cut from the head: pending until shipped, then kept
//!                           for `keep_shipped_blocks`
//!    blocks/<ulid>.tmp/     a write that did not finish (deleted on open)
//!    shipped.json           {"version":1,"shipped_until":…,"blocks":[…]}
//! ```
//!
//! `shipped_until` is the end of the newest shipped block; blocks are shipped oldest
//! first, so everything before it is in the bucket. `blocks` lists the shipped blocks
//! whose local copies may still exist, so they are never uploaded again.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use cairn_block::{BlockMeta, META_FILE};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// Name of the per-tenant record of shipped blocks.
pub(crate) const SHIPPED_FILE: &str = "shipped.json";
/// Name of the per-tenant directory of local blocks.
pub(crate) const BLOCKS_DIR: &str = "blocks";
const STATE_VERSION: u32 = 1;

/// `shipped.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShippedState {
    pub(crate) version: u32,
    /// End (exclusive) of the newest shipped block.
    pub(crate) shipped_until: Option<i64>,
    /// Shipped blocks that may still have a local copy.
    pub(crate) blocks: Vec<ShippedBlock>,
}

impl Default for ShippedState {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            shipped_until: None,
            blocks: Vec::new(),
        }
    }
}

/// One shipped block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShippedBlock {
    pub(crate) ulid: Ulid,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
}

/// A tenant's directory, read at startup.
#[derive(Debug)]
pub(crate) struct LocalState {
    pub(crate) state: ShippedState,
    /// Local blocks not yet shipped, oldest range first.
    pub(crate) pending: Vec<BlockMeta>,
}

pub(crate) fn blocks_dir(tenant_dir: &Path) -> PathBuf {
    tenant_dir.join(BLOCKS_DIR)
}

/// Reads `shipped.json` and the local blocks of one tenant, deleting unfinished block
/// writes. A damaged `shipped.json` is an error: guessing could upload blocks twice or
/// drop data that was never shipped.
pub(crate) fn load(tenant_dir: &Path) -> Result<LocalState, String> {
    let path = tenant_dir.join(SHIPPED_FILE);
    let state = match fs::read(&path) {
        Ok(data) => {
            let state: ShippedState = serde_json::from_slice(&data)
                .map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
            if state.version != STATE_VERSION {
                return Err(format!(
                    "{}: unsupported version {}",
                    path.display(),
                    state.version
                ));
            }
            state
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ShippedState::default(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let dir = blocks_dir(tenant_dir);
    let mut pending = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LocalState { state, pending });
        }
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            tracing::warn!(path = %p.display(), "deleting unfinished local block");
            fs::remove_dir_all(&p).map_err(|e| format!("cannot delete {}: {e}", p.display()))?;
            continue;
        }
        let Ok(ulid) = name.parse::<Ulid>() else {
            continue;
        };
        if state.blocks.iter().any(|b| b.ulid == ulid) {
            continue;
        }
        let meta_path = p.join(META_FILE);
        let data = fs::read(&meta_path)
            .map_err(|e| format!("cannot read {}: {e}", meta_path.display()))?;
        let meta = BlockMeta::from_json(&meta_path.display().to_string(), &data)
            .map_err(|e| e.to_string())?;
        pending.push(meta);
    }
    pending.sort_by_key(|m| (m.min_time, m.ulid));
    Ok(LocalState { state, pending })
}

/// Replaces `shipped.json` atomically (temporary file, fsync, rename, fsync dir).
pub(crate) fn save(tenant_dir: &Path, state: &ShippedState) -> Result<(), String> {
    let path = tenant_dir.join(SHIPPED_FILE);
    let tmp = tenant_dir.join(format!("{SHIPPED_FILE}.tmp"));
    let data = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
    let write = || -> std::io::Result<()> {
        fs::create_dir_all(tenant_dir)?;
        let mut f = File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        File::open(tenant_dir)?.sync_all()
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))
}
