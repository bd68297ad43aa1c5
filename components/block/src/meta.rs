use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::error::{BlockError, Result};

/// The version of the block format this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Name of the Parquet file inside a block directory.
pub const BLOCK_FILE: &str = "block.parquet";
/// Name of the metadata file; written last, so a block exists once it is there.
pub const META_FILE: &str = "meta.json";
/// Name of the marker that schedules a block for deletion.
pub const DELETION_MARK_FILE: &str = "deletion-mark.json";
/// Name of the marker that keeps the compactor away from a block.
pub const NO_COMPACT_MARK_FILE: &str = "no-compact-mark.json";

/// Raw (not downsampled) data.
pub const RESOLUTION_RAW: i64 = 0;
/// 5-minute downsampled data.
pub const RESOLUTION_5M: i64 = 5 * 60 * 1000;
/// 1-hour downsampled data.
pub const RESOLUTION_1H: i64 = 60 * 60 * 1000;

/// `meta.json`: what a block holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockMeta {
    /// Block id; sorts by creation time.
    pub ulid: Ulid,
    /// Block format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// The tenant every series of the block belongs to.
    pub tenant: String,
    /// First millisecond covered (inclusive).
    pub min_time: i64,
    /// End of the covered range (exclusive), like Prometheus's block meta.
    pub max_time: i64,
    /// Counts of what is inside.
    pub stats: BlockStats,
    /// How the block came to be.
    pub compaction: Compaction,
    /// Sample resolution in milliseconds: 0 (raw), 300000 (5m) or 3600000 (1h).
    pub resolution: i64,
    /// Labels identifying where the data came from (e.g. `replica`), not stored per series.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Which component wrote the block: `ingester`, `compactor`.
    pub source: String,
    /// Width of one chunk column (`s_data_<i>`) in milliseconds.
    pub slice_ms: i64,
    /// The block's files with their sizes.
    pub files: Vec<BlockFile>,
}

/// Counts of a block's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockStats {
    /// Series (rows).
    pub num_series: u64,
    /// Samples in all chunks (for downsampled blocks: aggregated points).
    pub num_samples: u64,
    /// Chunks.
    pub num_chunks: u64,
}

/// Compaction lineage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compaction {
    /// 1 for blocks cut from a head; one more than the highest input when compacted.
    pub level: u32,
    /// The level-1 blocks whose data this block holds (itself for a level-1 block).
    pub sources: Vec<Ulid>,
    /// The blocks this one was compacted from (empty for level 1).
    #[serde(default)]
    pub parents: Vec<Ulid>,
}

/// A file of a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockFile {
    /// File name inside the block directory.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

impl BlockMeta {
    /// Parses and checks `meta.json` bytes.
    pub fn from_json(block: &str, data: &[u8]) -> Result<Self> {
        let meta: Self = serde_json::from_slice(data).map_err(|e| BlockError::Meta {
            block: block.into(),
            reason: e.to_string(),
        })?;
        meta.check().map_err(|reason| BlockError::Meta {
            block: block.into(),
            reason,
        })?;
        Ok(meta)
    }

    /// Serialized, pretty-printed.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("block meta serializes")
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.version != FORMAT_VERSION {
            return Err(format!("unsupported format version {}", self.version));
        }
        if self.min_time >= self.max_time {
            return Err(format!(
                "min_time {} is not before max_time {}",
                self.min_time, self.max_time
            ));
        }
        if self.slice_ms <= 0 {
            return Err(format!("slice_ms {} must be positive", self.slice_ms));
        }
        if ![RESOLUTION_RAW, RESOLUTION_5M, RESOLUTION_1H].contains(&self.resolution) {
            return Err(format!("unknown resolution {}", self.resolution));
        }
        Ok(())
    }

    /// Number of chunk columns.
    pub fn num_slices(&self) -> usize {
        num_slices(self.min_time, self.max_time, self.slice_ms)
    }

    /// The bucket path of this block's directory: `<tenant>/<ulid>`.
    pub fn dir(&self) -> String {
        block_dir(&self.tenant, &self.ulid)
    }

    /// The bucket path of one of this block's files.
    pub fn path(&self, file: &str) -> String {
        format!("{}/{file}", self.dir())
    }

    /// Size of the Parquet file, when recorded.
    pub fn block_file_size(&self) -> Option<u64> {
        self.files
            .iter()
            .find(|f| f.name == BLOCK_FILE)
            .map(|f| f.size)
    }

    /// Whether the block holds data in `[mint, maxt]` (inclusive).
    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.min_time <= maxt && mint < self.max_time
    }
}

pub(crate) fn num_slices(min_time: i64, max_time: i64, slice_ms: i64) -> usize {
    usize::try_from((max_time - min_time + slice_ms - 1) / slice_ms)
        .unwrap_or(1)
        .max(1)
}

/// The bucket path of a block directory.
pub fn block_dir(tenant: &str, ulid: &Ulid) -> String {
    format!("{tenant}/{ulid}")
}

/// A deletion or no-compact marker (`deletion-mark.json`, `no-compact-mark.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockMark {
    /// The marked block.
    pub ulid: Ulid,
    /// When the mark was written, unix seconds.
    pub marked_at: i64,
    /// Why.
    pub reason: String,
}
