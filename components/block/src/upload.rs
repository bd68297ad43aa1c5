use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use cairn_objstore::Bucket;
use ulid::Ulid;

use crate::error::{BlockError, Result};
use crate::meta::{
    block_dir, BlockMark, BlockMeta, BLOCK_FILE, DELETION_MARK_FILE, META_FILE,
    NO_COMPACT_MARK_FILE,
};

/// Uploads the block in local directory `dir`: data first, `meta.json` last, so readers
/// never see a block whose files are incomplete. Safe to repeat after a failure.
pub async fn upload_block(bucket: &Bucket, dir: &Path, meta: &BlockMeta) -> Result<()> {
    bucket
        .upload_file(&dir.join(BLOCK_FILE), &meta.path(BLOCK_FILE))
        .await?;
    bucket
        .put(&meta.path(META_FILE), Bytes::from(meta.to_json()))
        .await?;
    Ok(())
}

/// Reads and checks one block's `meta.json`.
pub async fn fetch_meta(bucket: &Bucket, tenant: &str, ulid: &Ulid) -> Result<BlockMeta> {
    let path = format!("{}/{META_FILE}", block_dir(tenant, ulid));
    let data = bucket.get(&path).await?;
    let meta = BlockMeta::from_json(&path, &data)?;
    if meta.ulid != *ulid || meta.tenant != tenant {
        return Err(BlockError::Meta {
            block: path,
            reason: format!("meta names block {}/{}", meta.tenant, meta.ulid),
        });
    }
    Ok(meta)
}

/// Tenants that have a directory in the bucket.
pub async fn list_tenants(bucket: &Bucket) -> Result<Vec<String>> {
    Ok(bucket.list_dirs("").await?)
}

/// A block found in the bucket with its markers.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockEntry {
    /// The block's meta.
    pub meta: BlockMeta,
    /// Set when the block is scheduled for deletion.
    pub deletion_mark: Option<BlockMark>,
    /// Set when the compactor must leave the block alone.
    pub no_compact_mark: Option<BlockMark>,
}

/// Every complete block of `tenant` (those with a `meta.json`), sorted by ulid, and the
/// ids of directories without one (uploads in progress or abandoned).
pub async fn list_blocks(bucket: &Bucket, tenant: &str) -> Result<(Vec<BlockEntry>, Vec<Ulid>)> {
    #[derive(Default)]
    struct Files {
        meta: bool,
        deletion: bool,
        no_compact: bool,
    }
    let mut dirs: BTreeMap<Ulid, Files> = BTreeMap::new();
    for o in bucket.list(tenant).await? {
        let mut parts = o.path.rsplitn(3, '/');
        let (Some(file), Some(id)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(id) = id.parse::<Ulid>() else {
            continue;
        };
        let f = dirs.entry(id).or_default();
        match file {
            META_FILE => f.meta = true,
            DELETION_MARK_FILE => f.deletion = true,
            NO_COMPACT_MARK_FILE => f.no_compact = true,
            _ => {}
        }
    }
    let mut blocks = Vec::new();
    let mut partial = Vec::new();
    for (id, f) in dirs {
        if !f.meta {
            partial.push(id);
            continue;
        }
        let meta = fetch_meta(bucket, tenant, &id).await?;
        let deletion_mark = if f.deletion {
            read_mark(bucket, tenant, &id, DELETION_MARK_FILE).await?
        } else {
            None
        };
        let no_compact_mark = if f.no_compact {
            read_mark(bucket, tenant, &id, NO_COMPACT_MARK_FILE).await?
        } else {
            None
        };
        blocks.push(BlockEntry {
            meta,
            deletion_mark,
            no_compact_mark,
        });
    }
    Ok((blocks, partial))
}

/// Writes a marker file (`deletion-mark.json` or `no-compact-mark.json`) for a block.
pub async fn write_mark(bucket: &Bucket, tenant: &str, mark: &BlockMark, file: &str) -> Result<()> {
    let path = format!("{}/{file}", block_dir(tenant, &mark.ulid));
    let data = serde_json::to_vec_pretty(mark).expect("mark serializes");
    Ok(bucket.put(&path, Bytes::from(data)).await?)
}

/// Reads a marker file; `None` when absent.
pub async fn read_mark(
    bucket: &Bucket,
    tenant: &str,
    ulid: &Ulid,
    file: &str,
) -> Result<Option<BlockMark>> {
    let path = format!("{}/{file}", block_dir(tenant, ulid));
    match bucket.get(&path).await {
        Ok(data) => serde_json::from_slice(&data)
            .map(Some)
            .map_err(|e| BlockError::Meta {
                block: path,
                reason: e.to_string(),
            }),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}
