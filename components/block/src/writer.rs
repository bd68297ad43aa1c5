use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, Int64Builder, StringBuilder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use cairn_chunk::{encode_samples, ChunkSample};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use ulid::Ulid;

use crate::chunks::{encode_slice, BlockChunk, BlockSeries};
use crate::error::{BlockError, Result};
use crate::meta::{
    num_slices, BlockFile, BlockMeta, BlockStats, Compaction, BLOCK_FILE, FORMAT_VERSION, META_FILE,
};
use crate::schema::{data_column, label_column, HASH_COLUMN, MAX_TIME_COLUMN, MIN_TIME_COLUMN};

/// How blocks are laid out.
#[derive(Debug, Clone)]
pub struct BlockWriterOptions {
    /// Series per Parquet row group: smaller groups prune better, larger ones compress
    /// better.
    pub row_group_rows: usize,
    /// Series per data page, the unit the page index can skip. Small, because a
    /// reader decompresses whole pages: selecting one series out of a page of chunk
    /// data costs the whole page.
    pub page_rows: usize,
    /// Width of one chunk column in milliseconds (capped at the block's range).
    pub slice_ms: i64,
    /// zstd level.
    pub zstd_level: i32,
}

impl Default for BlockWriterOptions {
    fn default() -> Self {
        Self {
            row_group_rows: 8192,
            page_rows: 128,
            slice_ms: 8 * 3600 * 1000,
            zstd_level: 3,
        }
    }
}

/// What the caller knows about a block before writing it.
#[derive(Debug, Clone)]
pub struct NewBlock {
    /// Owner of every series.
    pub tenant: String,
    /// First millisecond covered (inclusive).
    pub min_time: i64,
    /// End of the range (exclusive).
    pub max_time: i64,
    /// Resolution in milliseconds (0 = raw).
    pub resolution: i64,
    /// Level, sources and parents; empty sources mean "this block itself".
    pub compaction: Compaction,
    /// External labels.
    pub external_labels: BTreeMap<String, String>,
    /// The writing component.
    pub source: String,
}

/// Writes a block into `<out_dir>/<ulid>/` (`block.parquet`, then `meta.json`) and
/// returns its meta. `label_names` must hold every label name of the series; series
/// must come sorted by labels, each label set once, chunks inside the block's range.
/// The directory appears under its final name only when complete.
pub fn write_block(
    out_dir: &Path,
    block: NewBlock,
    label_names: &BTreeSet<String>,
    series: impl IntoIterator<Item = Result<BlockSeries>>,
    opts: &BlockWriterOptions,
) -> Result<BlockMeta> {
    if block.min_time >= block.max_time {
        return Err(BlockError::InvalidInput(format!(
            "empty block range [{}, {})",
            block.min_time, block.max_time
        )));
    }
    let ulid = Ulid::new();
    let slice_ms = opts.slice_ms.clamp(1, block.max_time - block.min_time);
    let slices = num_slices(block.min_time, block.max_time, slice_ms);
    let tmp_dir = out_dir.join(format!("{ulid}.tmp"));
    std::fs::create_dir_all(&tmp_dir).map_err(|e| BlockError::io(&tmp_dir, e))?;

    let names: Vec<&String> = label_names.iter().collect();
    let mut fields: Vec<Field> = names
        .iter()
        .map(|n| Field::new(label_column(n), DataType::Utf8, true))
        .collect();
    fields.push(Field::new(HASH_COLUMN, DataType::UInt64, false));
    fields.push(Field::new(MIN_TIME_COLUMN, DataType::Int64, false));
    fields.push(Field::new(MAX_TIME_COLUMN, DataType::Int64, false));
    fields.extend((0..slices).map(|i| Field::new(data_column(i), DataType::Binary, true)));
    let schema = Arc::new(Schema::new(fields));

    let zstd = Compression::ZSTD(
        ZstdLevel::try_new(opts.zstd_level).map_err(|e| BlockError::parquet(ulid, e))?,
    );
    // Only chunk columns are zstd-compressed. Label columns are dictionary-encoded and
    // small already, and every compressed column a query touches costs a decompression
    // context (hundreds of KB allocated and zeroed per column chunk read), which
    // dominated queries that select few series from many blocks.
    let mut props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_max_row_group_row_count(Some(opts.row_group_rows.max(1)))
        .set_data_page_row_count_limit(opts.page_rows.max(1))
        // The row limit is only checked between write batches.
        .set_write_batch_size(opts.page_rows.max(1))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(true);
    for n in &names {
        let col = ColumnPath::from(label_column(n));
        props = props
            .set_column_bloom_filter_enabled(col.clone(), true)
            .set_column_bloom_filter_max_ndv(col.clone(), opts.row_group_rows as u64)
            .set_column_bloom_filter_fpp(col, 0.01);
    }
    for i in 0..slices {
        // Chunk bytes are already compact and unique: dictionaries and statistics would
        // only cost space.
        let col = ColumnPath::from(data_column(i));
        props = props
            .set_column_compression(col.clone(), zstd)
            .set_column_dictionary_enabled(col.clone(), false)
            .set_column_statistics_enabled(col, EnabledStatistics::None);
    }
    let file_path = tmp_dir.join(BLOCK_FILE);
    let file = File::create(&file_path).map_err(|e| BlockError::io(&file_path, e))?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props.build()))
        .map_err(|e| BlockError::parquet(ulid, e))?;

    let mut stats = BlockStats::default();
    let mut batch = Batch::new(names.len(), slices);
    let mut prev: Option<cairn_model::Labels> = None;
    let batch_rows = opts.page_rows.max(1);
    for s in series {
        let s = s?;
        if let Some(p) = &prev {
            if *p >= s.labels {
                return Err(BlockError::InvalidInput(format!(
                    "series not sorted or repeated: {} after {p}",
                    s.labels
                )));
            }
        }
        let chunks = split_at_slices(s.chunks, block.min_time, slice_ms)?;
        if chunks.is_empty() {
            prev = Some(s.labels);
            continue;
        }
        for c in &chunks {
            if c.min_time < block.min_time
                || c.max_time >= block.max_time
                || c.min_time > c.max_time
            {
                return Err(BlockError::InvalidInput(format!(
                    "chunk [{}, {}] of {} outside block range [{}, {})",
                    c.min_time, c.max_time, s.labels, block.min_time, block.max_time
                )));
            }
            stats.num_chunks += 1;
            stats.num_samples += c.data.num_samples() as u64;
        }
        stats.num_series += 1;
        batch.push(&names, &s.labels, &chunks, block.min_time, slice_ms);
        prev = Some(s.labels);
        if batch.rows == batch_rows {
            writer
                .write(&batch.finish(&schema, ulid)?)
                .map_err(|e| BlockError::parquet(ulid, e))?;
        }
    }
    if batch.rows > 0 {
        writer
            .write(&batch.finish(&schema, ulid)?)
            .map_err(|e| BlockError::parquet(ulid, e))?;
    }
    let file = writer
        .into_inner()
        .map_err(|e| BlockError::parquet(ulid, e))?;
    file.sync_all().map_err(|e| BlockError::io(&file_path, e))?;
    let size = file
        .metadata()
        .map_err(|e| BlockError::io(&file_path, e))?
        .len();

    let mut compaction = block.compaction;
    if compaction.sources.is_empty() {
        compaction.sources.push(ulid);
    }
    let meta = BlockMeta {
        ulid,
        version: FORMAT_VERSION,
        tenant: block.tenant,
        min_time: block.min_time,
        max_time: block.max_time,
        stats,
        compaction,
        resolution: block.resolution,
        external_labels: block.external_labels,
        source: block.source,
        slice_ms,
        files: vec![BlockFile {
            name: BLOCK_FILE.into(),
            size,
        }],
    };
    write_file_synced(&tmp_dir.join(META_FILE), &meta.to_json())?;
    let final_dir = out_dir.join(ulid.to_string());
    std::fs::rename(&tmp_dir, &final_dir).map_err(|e| BlockError::io(&final_dir, e))?;
    sync_dir(out_dir)?;
    Ok(meta)
}

/// The local directory of a written block.
pub fn local_block_dir(out_dir: &Path, ulid: &Ulid) -> PathBuf {
    out_dir.join(ulid.to_string())
}

fn write_file_synced(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = File::create(path).map_err(|e| BlockError::io(path, e))?;
    f.write_all(data).map_err(|e| BlockError::io(path, e))?;
    f.sync_all().map_err(|e| BlockError::io(path, e))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BlockError::io(dir, e))
}

/// Splits raw chunks that cross a slice boundary so every chunk lives in one column.
fn split_at_slices(
    chunks: Vec<BlockChunk>,
    block_min: i64,
    slice_ms: i64,
) -> Result<Vec<BlockChunk>> {
    let slice_of = |t: i64| (t - block_min).div_euclid(slice_ms);
    let mut out = Vec::with_capacity(chunks.len());
    for c in chunks {
        if slice_of(c.min_time) == slice_of(c.max_time) {
            out.push(c);
            continue;
        }
        let Some((encoding, bytes)) = c.data.encoded() else {
            return Err(BlockError::InvalidInput(format!(
                "downsampled chunk [{}, {}] crosses a {slice_ms}ms slice boundary",
                c.min_time, c.max_time
            )));
        };
        let samples = cairn_chunk::decode_chunk(encoding, bytes)
            .map_err(|e| BlockError::InvalidInput(format!("undecodable chunk: {e}")))?
            .into_samples();
        out.extend(encode_in_slices(
            &samples,
            block_min,
            slice_ms,
            cairn_chunk::MAX_SAMPLES,
        ));
    }
    Ok(out)
}

/// Encodes one series' time-sorted samples as chunks of at most `max_samples` each
/// (XOR for floats, float histogram chunks for histograms), none crossing a slice
/// boundary (`block_min + k * slice_ms`).
pub fn encode_in_slices(
    samples: &[ChunkSample],
    block_min: i64,
    slice_ms: i64,
    max_samples: usize,
) -> Vec<BlockChunk> {
    let slice_of = |t: i64| (t - block_min).div_euclid(slice_ms.max(1));
    let mut out = Vec::new();
    let mut rest = samples;
    while let Some(first) = rest.first() {
        let slice = slice_of(first.t());
        let n = rest.iter().take_while(|s| slice_of(s.t()) == slice).count();
        let (part, tail) = rest.split_at(n);
        rest = tail;
        out.extend(
            encode_samples(part.iter().cloned(), max_samples)
                .into_iter()
                .map(|e| {
                    BlockChunk::from_encoded(e)
                        .expect("encode_samples writes xor or float histogram chunks")
                }),
        );
    }
    out
}

/// Column builders for one record batch.
struct Batch {
    labels: Vec<StringBuilder>,
    hash: UInt64Builder,
    min_time: Int64Builder,
    max_time: Int64Builder,
    data: Vec<BinaryBuilder>,
    rows: usize,
    scratch: Vec<u8>,
}

impl Batch {
    fn new(label_columns: usize, slices: usize) -> Self {
        Self {
            labels: (0..label_columns).map(|_| StringBuilder::new()).collect(),
            hash: UInt64Builder::new(),
            min_time: Int64Builder::new(),
            max_time: Int64Builder::new(),
            data: (0..slices).map(|_| BinaryBuilder::new()).collect(),
            rows: 0,
            scratch: Vec::new(),
        }
    }

    fn push(
        &mut self,
        names: &[&String],
        labels: &cairn_model::Labels,
        chunks: &[BlockChunk],
        block_min: i64,
        slice_ms: i64,
    ) {
        // Both lists are sorted by name, so one merge pass fills every column.
        let mut it = labels.iter().peekable();
        for (i, n) in names.iter().enumerate() {
            match it.peek() {
                Some(l) if l.name == **n => {
                    self.labels[i].append_value(&l.value);
                    it.next();
                }
                _ => self.labels[i].append_null(),
            }
        }
        self.hash.append_value(labels.stable_hash());
        self.min_time
            .append_value(chunks.first().map_or(0, |c| c.min_time));
        self.max_time
            .append_value(chunks.iter().map(|c| c.max_time).max().unwrap_or(0));
        let mut start = 0;
        for (i, col) in self.data.iter_mut().enumerate() {
            let slice_start = block_min + slice_ms * i as i64;
            let slice_end = slice_start + slice_ms;
            let end = start + chunks[start..].partition_point(|c| c.min_time < slice_end);
            if start == end {
                col.append_null();
            } else {
                self.scratch.clear();
                encode_slice(&chunks[start..end], slice_start, &mut self.scratch);
                col.append_value(&self.scratch);
            }
            start = end;
        }
        self.rows += 1;
    }

    fn finish(&mut self, schema: &Arc<Schema>, ulid: Ulid) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = self
            .labels
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        cols.push(Arc::new(self.hash.finish()));
        cols.push(Arc::new(self.min_time.finish()));
        cols.push(Arc::new(self.max_time.finish()));
        cols.extend(
            self.data
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        self.rows = 0;
        RecordBatch::try_new(schema.clone(), cols)
            .map_err(|e| BlockError::corrupt(ulid, format!("building record batch: {e}")))
    }
}
