//! Cairn's block format: immutable, self-describing Parquet files in object storage.
//!
//! A block is a directory `<tenant>/<ulid>/` holding `block.parquet` and `meta.json`
//! (written last; a block exists once its meta does). The Parquet file has one row per
//! series, modeled on prometheus-community/parquet-common:
//!
//! ```text
//!  l_<label>…   utf8, one column per label name, null when the series lacks it;
//!               dictionary-encoded, page statistics, bloom filters
//!  s_hash       u64  stable hash of the label set
//!  s_min_time   i64  first sample of the series in the block
//!  s_max_time   i64  last sample
//!  s_data_<i>…  binary, one column per time slice of `slice_ms`: the series' chunks
//!               starting in that slice (raw XOR, or 5 aggregates when downsampled)
//!  rows sorted by labels (so __name__ first), zstd on chunk columns, row groups of
//!  `row_group_rows`, data pages of `page_rows` series
//! ```
//!
//! ```text
//!  write:  sorted BlockSeries ─▶ write_block ─▶ <dir>/<ulid>.tmp/{block.parquet, meta.json}
//!                                            ─▶ rename to <dir>/<ulid> ─▶ upload_block
//!                                               (block.parquet first, meta.json last)
//!  read:   BlockReader::series(matchers, mint, maxt)
//!            footer + page index (cached)
//!            ─▶ prune row groups: s_min/max_time stats, `=` matchers vs min/max and bloom
//!            ─▶ pass 1: filter label columns of surviving groups ─▶ row selection
//!            ─▶ pass 2: all label columns + only the slices overlapping the range,
//!               selected rows only (page index skips the rest) ─▶ BlockSeries
//!  every read is a byte range through BlockCaches (bounded LRU by bytes)
//! ```

mod cache;
mod chunks;
mod error;
mod meta;
mod reader;
pub mod schema;
mod upload;
mod writer;

pub use cache::{BlockCaches, CacheSizes, CacheStats};
pub use chunks::{AggrChunk, AggrType, BlockChunk, BlockSeries, ChunkData};
pub use error::BlockError;
pub use meta::{
    block_dir, BlockFile, BlockMark, BlockMeta, BlockStats, Compaction, BLOCK_FILE,
    DELETION_MARK_FILE, FORMAT_VERSION, META_FILE, NO_COMPACT_MARK_FILE, RESOLUTION_1H,
    RESOLUTION_5M, RESOLUTION_RAW,
};
pub use reader::BlockReader;
pub use upload::{
    fetch_meta, list_blocks, list_tenants, read_mark, upload_block, write_mark, BlockEntry,
};
pub use writer::{encode_in_slices, local_block_dir, write_block, BlockWriterOptions, NewBlock};

#[cfg(test)]
mod tests;
