use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, BooleanArray, RecordBatch, StringArray};
use bytes::Bytes;
use cairn_model::{Label, Labels, MatchOp, Matcher};
use cairn_objstore::Bucket;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, RowSelection};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::statistics::Statistics;

use crate::cache::BlockCaches;
use crate::chunks::{decode_slice, BlockSeries};
use crate::error::{BlockError, Result};
use crate::meta::{BlockMeta, BLOCK_FILE};
use crate::schema::{DATA_PREFIX, LABEL_PREFIX, MAX_TIME_COLUMN, MIN_TIME_COLUMN};

/// Reads one block from the bucket with byte-range requests: the footer once (cached),
/// then per query only the row groups, columns and pages that can match.
#[derive(Debug, Clone)]
pub struct BlockReader {
    meta: Arc<BlockMeta>,
    bucket: Bucket,
    caches: BlockCaches,
    size: u64,
}

impl BlockReader {
    /// A reader for the block `meta` describes; nothing is read until the first query.
    pub async fn open(bucket: Bucket, meta: BlockMeta, caches: BlockCaches) -> Result<Self> {
        let size = match meta.block_file_size() {
            Some(s) => s,
            None => bucket.head(&meta.path(BLOCK_FILE)).await?.size,
        };
        Ok(Self {
            meta: Arc::new(meta),
            bucket,
            caches,
            size,
        })
    }

    /// The block's meta.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    fn file(&self) -> FileReader {
        FileReader {
            bucket: self.bucket.clone(),
            path: self.meta.path(BLOCK_FILE),
            size: self.size,
            block: self.meta.ulid,
            caches: self.caches.clone(),
        }
    }

    async fn metadata(&self) -> Result<ArrowReaderMetadata> {
        if let Some(m) = self.caches.metadata(&self.meta.ulid) {
            return Ok(m);
        }
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let m = ArrowReaderMetadata::load_async(&mut self.file(), options)
            .await
            .map_err(|e| self.err(e))?;
        self.caches.put_metadata(self.meta.ulid, m.clone());
        Ok(m)
    }

    fn err(&self, e: ParquetError) -> BlockError {
        BlockError::parquet(self.meta.ulid, e)
    }

    /// Every label name of the block (without matchers) or of the matching series.
    pub async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>> {
        let md = self.metadata().await?;
        if matchers.is_empty() {
            return Ok(label_columns(&md).into_iter().map(|(_, n)| n).collect());
        }
        let series = self.series(matchers, i64::MIN, i64::MAX, true).await?;
        let names: BTreeSet<String> = series
            .iter()
            .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
            .collect();
        Ok(names.into_iter().collect())
    }

    /// Sorted distinct values of label `name` over all (or the matching) series.
    pub async fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>> {
        if !matchers.is_empty() {
            let series = self.series(matchers, i64::MIN, i64::MAX, true).await?;
            let values: BTreeSet<&str> = series.iter().filter_map(|s| s.labels.get(name)).collect();
            return Ok(values.into_iter().map(str::to_string).collect());
        }
        let md = self.metadata().await?;
        let Some((col, _)) = label_columns(&md).into_iter().find(|(_, n)| n == name) else {
            return Ok(Vec::new());
        };
        let batches = self.read(&md, vec![col], None, None).await?;
        let mut values = BTreeSet::new();
        for b in &batches {
            let a = b.column(0).as_string::<i32>();
            values.extend(
                a.iter()
                    .flatten()
                    .filter(|v| !v.is_empty())
                    .map(str::to_string),
            );
        }
        Ok(values.into_iter().collect())
    }

    /// Series matching every matcher with chunks overlapping `[mint, maxt]`, sorted by
    /// labels. With `skip_chunks` only labels are read.
    pub async fn series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        skip_chunks: bool,
    ) -> Result<Vec<BlockSeries>> {
        if !self.meta.overlaps(mint, maxt) {
            return Ok(Vec::new());
        }
        let md = self.metadata().await?;
        let labels = label_columns(&md);
        let col_of = |name: &str| labels.iter().find(|(_, n)| n == name).map(|(i, _)| *i);
        // A matcher on a label the block lacks sees "" on every row.
        if matchers
            .iter()
            .any(|m| col_of(&m.name).is_none() && !m.matches(""))
        {
            return Ok(Vec::new());
        }
        let filters: Vec<(usize, &Matcher)> = matchers
            .iter()
            .filter_map(|m| Some((col_of(&m.name)?, m)))
            .collect();
        let schema = md.schema();
        let col = |name: &str| {
            schema
                .index_of(name)
                .map_err(|e| self.err(ParquetError::ArrowError(e.to_string())))
        };
        let min_col = col(MIN_TIME_COLUMN)?;
        let max_col = col(MAX_TIME_COLUMN)?;

        let mut out = Vec::new();
        for rg in 0..md.metadata().num_row_groups() {
            if !self
                .row_group_may_match(&md, rg, &filters, (min_col, max_col), mint, maxt)
                .await?
            {
                continue;
            }
            // Pass 1: the filter columns and time range of every row of the group.
            let mut proj: Vec<usize> = filters.iter().map(|(c, _)| *c).collect();
            proj.extend([min_col, max_col]);
            proj.sort_unstable();
            proj.dedup();
            let batches = self.read(&md, proj.clone(), Some(rg), None).await?;
            let mut keep = Vec::new();
            for b in &batches {
                keep.push(row_filter(
                    b,
                    &proj,
                    &filters,
                    (min_col, max_col),
                    mint,
                    maxt,
                ));
            }
            let keep: Vec<BooleanArray> = keep;
            if keep.iter().all(|k| k.true_count() == 0) {
                continue;
            }
            let selection = RowSelection::from_filters(&keep);
            // Pass 2: labels (and chunks) of the selected rows only.
            let mut proj: Vec<usize> = labels.iter().map(|(i, _)| *i).collect();
            let mut slices = Vec::new();
            if !skip_chunks {
                for (i, f) in schema.fields().iter().enumerate() {
                    if let Some(n) = f.name().strip_prefix(DATA_PREFIX) {
                        let s: usize = n.parse().map_err(|_| {
                            BlockError::corrupt(self.meta.ulid, format!("bad column {}", f.name()))
                        })?;
                        let start = self.meta.min_time + s as i64 * self.meta.slice_ms;
                        if start <= maxt && mint < start + self.meta.slice_ms {
                            proj.push(i);
                            slices.push((i, start));
                        }
                    }
                }
            }
            proj.sort_unstable();
            let batches = self
                .read(&md, proj.clone(), Some(rg), Some(selection))
                .await?;
            for b in &batches {
                self.collect_series(
                    b,
                    &proj,
                    &labels,
                    &slices,
                    mint,
                    maxt,
                    skip_chunks,
                    &mut out,
                )?;
            }
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn collect_series(
        &self,
        b: &RecordBatch,
        proj: &[usize],
        labels: &[(usize, String)],
        slices: &[(usize, i64)],
        mint: i64,
        maxt: i64,
        skip_chunks: bool,
        out: &mut Vec<BlockSeries>,
    ) -> Result<()> {
        let pos = |c: usize| proj.iter().position(|p| *p == c).expect("projected column");
        let label_cols: Vec<(&StringArray, &str)> = labels
            .iter()
            .map(|(c, n)| (b.column(pos(*c)).as_string::<i32>(), n.as_str()))
            .collect();
        let data_cols: Vec<_> = slices
            .iter()
            .map(|(c, start)| (b.column(pos(*c)).as_binary::<i32>(), *start))
            .collect();
        for row in 0..b.num_rows() {
            let mut ls = Vec::with_capacity(label_cols.len());
            for (a, n) in &label_cols {
                if a.is_valid(row) && !a.value(row).is_empty() {
                    ls.push(Label::new(*n, a.value(row)));
                }
            }
            let mut chunks = Vec::new();
            for (a, start) in &data_cols {
                if a.is_valid(row) {
                    decode_slice(a.value(row), *start, &mut chunks).map_err(|e| {
                        BlockError::corrupt(self.meta.ulid, format!("chunk column: {e}"))
                    })?;
                }
            }
            chunks.retain(|c| c.max_time >= mint && c.min_time <= maxt);
            if chunks.is_empty() && !skip_chunks {
                continue;
            }
            out.push(BlockSeries {
                labels: Labels::from_sorted(ls),
                chunks,
            });
        }
        Ok(())
    }

    /// Row-group pruning by statistics (time range, equality matchers) and bloom filters.
    async fn row_group_may_match(
        &self,
        md: &ArrowReaderMetadata,
        rg: usize,
        filters: &[(usize, &Matcher)],
        (min_col, max_col): (usize, usize),
        mint: i64,
        maxt: i64,
    ) -> Result<bool> {
        let g = md.metadata().row_group(rg);
        if let (Some(Statistics::Int64(lo)), Some(Statistics::Int64(hi))) = (
            g.column(min_col).statistics(),
            g.column(max_col).statistics(),
        ) {
            if lo.min_opt().is_some_and(|v| *v > maxt) || hi.max_opt().is_some_and(|v| *v < mint) {
                return Ok(false);
            }
        }
        let mut bloom_checks = Vec::new();
        for (c, m) in filters {
            if m.op != MatchOp::Equal || m.value.is_empty() {
                continue;
            }
            if let Some(Statistics::ByteArray(s)) = g.column(*c).statistics() {
                let v = m.value.as_bytes();
                if s.min_bytes_opt().is_some_and(|min| v < min)
                    || s.max_bytes_opt().is_some_and(|max| v > max)
                {
                    return Ok(false);
                }
                if s.null_count_opt() == Some(g.num_rows() as u64) {
                    return Ok(false);
                }
            }
            bloom_checks.push((*c, m.value.as_str()));
        }
        if bloom_checks.is_empty() {
            return Ok(true);
        }
        let mut builder =
            ParquetRecordBatchStreamBuilder::new_with_metadata(self.file(), md.clone());
        for (c, v) in bloom_checks {
            let bf = builder
                .get_row_group_column_bloom_filter(rg, c)
                .await
                .map_err(|e| self.err(e))?;
            if bf.is_some_and(|bf| !bf.check(v)) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn read(
        &self,
        md: &ArrowReaderMetadata,
        columns: Vec<usize>,
        row_group: Option<usize>,
        selection: Option<RowSelection>,
    ) -> Result<Vec<RecordBatch>> {
        let mask = ProjectionMask::roots(md.parquet_schema(), columns);
        let mut b = ParquetRecordBatchStreamBuilder::new_with_metadata(self.file(), md.clone())
            .with_projection(mask)
            .with_batch_size(8192);
        if let Some(rg) = row_group {
            b = b.with_row_groups(vec![rg]);
        }
        if let Some(s) = selection {
            b = b.with_row_selection(s);
        }
        let stream = b.build().map_err(|e| self.err(e))?;
        stream.try_collect().await.map_err(|e| self.err(e))
    }
}

/// The label columns of the file: (column index, label name), sorted by name.
fn label_columns(md: &ArrowReaderMetadata) -> Vec<(usize, String)> {
    md.schema()
        .fields()
        .iter()
        .enumerate()
        .filter_map(|(i, f)| Some((i, f.name().strip_prefix(LABEL_PREFIX)?.to_string())))
        .collect()
}

/// Which rows of a pass-1 batch match every matcher and overlap the time range.
fn row_filter(
    b: &RecordBatch,
    proj: &[usize],
    filters: &[(usize, &Matcher)],
    (min_col, max_col): (usize, usize),
    mint: i64,
    maxt: i64,
) -> BooleanArray {
    let pos = |c: usize| proj.iter().position(|p| *p == c).expect("projected column");
    let lo = b.column(pos(min_col)).as_primitive::<Int64Type>();
    let hi = b.column(pos(max_col)).as_primitive::<Int64Type>();
    let cols: Vec<(&StringArray, &Matcher)> = filters
        .iter()
        .map(|(c, m)| (b.column(pos(*c)).as_string::<i32>(), *m))
        .collect();
    (0..b.num_rows())
        .map(|row| {
            let in_time = lo.value(row) <= maxt && hi.value(row) >= mint;
            Some(
                in_time
                    && cols.iter().all(|(a, m)| {
                        let v = if a.is_valid(row) { a.value(row) } else { "" };
                        m.matches(v)
                    }),
            )
        })
        .collect()
}

/// Byte-range reads of one block file through the shared caches.
struct FileReader {
    bucket: Bucket,
    path: String,
    size: u64,
    block: ulid::Ulid,
    caches: BlockCaches,
}

impl AsyncFileReader for FileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            if let Some(b) = self.caches.data(self.block, range.start, range.end) {
                return Ok(b);
            }
            let b = self
                .bucket
                .get_range(&self.path, range.clone())
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))?;
            self.caches
                .put_data(self.block, range.start, range.end, b.clone());
            Ok(b)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let policy = options.map_or(PageIndexPolicy::Optional, |o| o.column_index_policy());
            let size = self.size;
            let m = ParquetMetaDataReader::new()
                .with_page_index_policy(policy)
                .with_prefetch_hint(Some(64 << 10))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(m))
        }
        .boxed()
    }
}
