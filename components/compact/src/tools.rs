//! What `cairn tools bucket ls|inspect|verify` computes; the binary only prints it.

use std::collections::{BTreeMap, HashSet};

use cairn_block::{
    list_blocks, list_tenants, read_mark, BlockCaches, BlockEntry, BlockMark, BlockMeta,
    BlockReader, CacheSizes, BLOCK_FILE, DELETION_MARK_FILE, NO_COMPACT_MARK_FILE,
};
use cairn_objstore::Bucket;
use serde::Serialize;
use ulid::Ulid;

use crate::check::read_and_check;
use crate::config::CompactConfig;
use crate::error::Result;
use crate::plan::group_key;

/// One row of `bucket ls`.
#[derive(Debug, Clone, Serialize)]
pub struct BlockRow {
    /// Tenant.
    pub tenant: String,
    /// Block id.
    pub ulid: Ulid,
    /// First millisecond.
    pub min_time: i64,
    /// End (exclusive).
    pub max_time: i64,
    /// Resolution in ms.
    pub resolution: i64,
    /// Compaction level.
    pub level: u32,
    /// Series.
    pub series: u64,
    /// Samples (aggregated points for downsampled blocks).
    pub samples: u64,
    /// Size of block.parquet in bytes.
    pub bytes: u64,
    /// External labels.
    pub external_labels: BTreeMap<String, String>,
    /// Who wrote it.
    pub source: String,
    /// Deletion mark, when scheduled for deletion.
    pub deletion_mark: Option<BlockMark>,
    /// No-compact mark.
    pub no_compact_mark: Option<BlockMark>,
}

/// `bucket ls`: tenants and their blocks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Listing {
    /// Every complete block.
    pub blocks: Vec<BlockRow>,
    /// Directories without meta.json, as `tenant/ulid`.
    pub partial: Vec<String>,
}

impl From<&BlockEntry> for BlockRow {
    fn from(b: &BlockEntry) -> Self {
        let m = &b.meta;
        Self {
            tenant: m.tenant.clone(),
            ulid: m.ulid,
            min_time: m.min_time,
            max_time: m.max_time,
            resolution: m.resolution,
            level: m.compaction.level,
            series: m.stats.num_series,
            samples: m.stats.num_samples,
            bytes: m.block_file_size().unwrap_or(0),
            external_labels: m.external_labels.clone(),
            source: m.source.clone(),
            deletion_mark: b.deletion_mark.clone(),
            no_compact_mark: b.no_compact_mark.clone(),
        }
    }
}

/// Lists every tenant's blocks (or only `tenant`'s).
pub async fn list(bucket: &Bucket, tenant: Option<&str>) -> Result<Listing> {
    let tenants = match tenant {
        Some(t) => vec![t.to_string()],
        None => list_tenants(bucket).await?,
    };
    let mut out = Listing::default();
    for t in tenants {
        let (blocks, partial) = list_blocks(bucket, &t).await?;
        out.blocks.extend(blocks.iter().map(BlockRow::from));
        out.partial
            .extend(partial.iter().map(|id| format!("{t}/{id}")));
    }
    Ok(out)
}

/// One Parquet column chunk of a row group.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// Compressed bytes.
    pub compressed_bytes: i64,
    /// Uncompressed bytes.
    pub uncompressed_bytes: i64,
}

/// One Parquet row group.
#[derive(Debug, Clone, Serialize)]
pub struct RowGroupInfo {
    /// Rows (series).
    pub rows: i64,
    /// Compressed bytes.
    pub compressed_bytes: i64,
    /// Columns.
    pub columns: Vec<ColumnInfo>,
}

/// `bucket inspect`: a block's meta, marks, Parquet layout and label cardinalities.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// meta.json.
    pub meta: BlockMeta,
    /// Deletion mark.
    pub deletion_mark: Option<BlockMark>,
    /// No-compact mark.
    pub no_compact_mark: Option<BlockMark>,
    /// Row groups.
    pub row_groups: Vec<RowGroupInfo>,
    /// Distinct values per label name.
    pub label_cardinality: BTreeMap<String, usize>,
}

/// Inspects one block.
pub async fn inspect(bucket: &Bucket, tenant: &str, ulid: &Ulid) -> Result<Inspection> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let meta = cairn_block::fetch_meta(bucket, tenant, ulid).await?;
    let data = bucket.get(&meta.path(BLOCK_FILE)).await?;
    let reader = SerializedFileReader::new(data).map_err(|e| cairn_block::BlockError::Parquet {
        block: ulid.to_string(),
        source: e,
    })?;
    let row_groups = reader
        .metadata()
        .row_groups()
        .iter()
        .map(|rg| RowGroupInfo {
            rows: rg.num_rows(),
            compressed_bytes: rg.compressed_size(),
            columns: rg
                .columns()
                .iter()
                .map(|c| ColumnInfo {
                    name: c.column_path().string(),
                    compressed_bytes: c.compressed_size(),
                    uncompressed_bytes: c.uncompressed_size(),
                })
                .collect(),
        })
        .collect();
    let caches = BlockCaches::new(CacheSizes {
        metadata_bytes: 16 << 20,
        data_bytes: 64 << 20,
    });
    let br = BlockReader::open(bucket.clone(), meta.clone(), caches).await?;
    let mut label_cardinality = BTreeMap::new();
    for name in br.label_names(&[]).await? {
        let n = br.label_values(&name, &[]).await?.len();
        label_cardinality.insert(name, n);
    }
    Ok(Inspection {
        deletion_mark: read_mark(bucket, tenant, ulid, DELETION_MARK_FILE).await?,
        no_compact_mark: read_mark(bucket, tenant, ulid, NO_COMPACT_MARK_FILE).await?,
        meta,
        row_groups,
        label_cardinality,
    })
}

/// One finding of `bucket verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Tenant.
    pub tenant: String,
    /// The block, when the finding is about one.
    pub block: Option<Ulid>,
    /// What is wrong.
    pub message: String,
}

/// `bucket verify`: problems (the bucket is inconsistent or damaged) and warnings
/// (states the compactor resolves on its next run: leftovers of interrupted uploads,
/// compactions or deletions).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    /// Blocks checked.
    pub blocks_checked: usize,
    /// Damage and overlaps.
    pub problems: Vec<Finding>,
    /// Transient states.
    pub warnings: Vec<Finding>,
}

/// Checks every live block of every tenant (or of `tenant`): meta parses, Parquet
/// readable, counts match, labels sorted and unique, chunks decode and lie in range;
/// reports overlapping blocks within a compaction group (grouped as `cfg` says).
pub async fn verify(
    bucket: &Bucket,
    cfg: &CompactConfig,
    tenant: Option<&str>,
) -> Result<Verification> {
    let tenants = match tenant {
        Some(t) => vec![t.to_string()],
        None => list_tenants(bucket).await?,
    };
    let mut out = Verification::default();
    for t in tenants {
        let finding = |block: Option<Ulid>, message: String| Finding {
            tenant: t.clone(),
            block,
            message,
        };
        let (blocks, partial) = match list_blocks(bucket, &t).await {
            Ok(x) => x,
            Err(e) => {
                out.problems
                    .push(finding(None, format!("cannot list blocks: {e}")));
                continue;
            }
        };
        for id in partial {
            out.warnings.push(finding(
                Some(id),
                "directory without meta.json (upload or deletion in progress or interrupted)"
                    .into(),
            ));
        }
        let live: Vec<&BlockEntry> = blocks
            .iter()
            .filter(|b| b.deletion_mark.is_none())
            .collect();
        for b in &live {
            out.blocks_checked += 1;
            match read_and_check(bucket, &b.meta).await {
                Ok(c) => out.problems.extend(
                    c.problems
                        .into_iter()
                        .map(|p| finding(Some(b.meta.ulid), p)),
                ),
                Err(e) => out.problems.push(finding(Some(b.meta.ulid), e.to_string())),
            }
        }
        let sources: Vec<HashSet<Ulid>> = live
            .iter()
            .map(|b| b.meta.compaction.sources.iter().copied().collect())
            .collect();
        for i in 0..live.len() {
            for j in i + 1..live.len() {
                let (a, b) = (&live[i].meta, &live[j].meta);
                if group_key(cfg, a) != group_key(cfg, b)
                    || a.min_time >= b.max_time
                    || b.min_time >= a.max_time
                {
                    continue;
                }
                let covered =
                    sources[i].is_subset(&sources[j]) || sources[j].is_subset(&sources[i]);
                let msg = format!(
                    "blocks {} [{}, {}) and {} [{}, {}) overlap",
                    a.ulid, a.min_time, a.max_time, b.ulid, b.min_time, b.max_time
                );
                if covered {
                    out.warnings.push(finding(
                        Some(a.ulid),
                        format!("{msg}; one holds the other's sources (an interrupted compaction; the compactor marks the older one)"),
                    ));
                } else if live[i].no_compact_mark.is_none() && live[j].no_compact_mark.is_none() {
                    let note =
                        if cfg.vertical_compaction && a.resolution == cairn_block::RESOLUTION_RAW {
                            "; the compactor merges them (vertical compaction)"
                        } else {
                            ""
                        };
                    let target = if note.is_empty() {
                        &mut out.problems
                    } else {
                        &mut out.warnings
                    };
                    target.push(finding(Some(a.ulid), format!("{msg}{note}")));
                }
            }
        }
    }
    Ok(out)
}
