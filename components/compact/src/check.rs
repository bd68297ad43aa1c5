//! Reading a whole block and checking it against its meta: the compactor does this to
//! every input before merging it, and `cairn tools bucket verify` to every block.

use cairn_block::{
    BlockCaches, BlockError, BlockMeta, BlockReader, BlockSeries, CacheSizes, ChunkData,
};
use cairn_objstore::Bucket;

/// A block's series and everything wrong with them.
#[derive(Debug)]
pub struct CheckedBlock {
    /// Every series with its chunks, sorted by labels.
    pub series: Vec<BlockSeries>,
    /// Problems found; empty when the block is sound.
    pub problems: Vec<String>,
}

/// Caches sized for one pass over a block: the footer only, chunk bytes are read once.
pub(crate) fn scan_caches() -> BlockCaches {
    BlockCaches::new(CacheSizes {
        metadata_bytes: 16 << 20,
        data_bytes: 0,
    })
}

/// Reads every series of the block and checks: counts match `meta.stats`, series sorted
/// and unique, label names sorted and unique with non-empty values, chunks sorted,
/// non-overlapping, inside the block's range, decodable, and holding samples only
/// inside their own `[min_time, max_time]` in increasing time order. An `Err` means the
/// block could not be read at all (missing, unreadable Parquet, bad chunk column).
pub async fn read_and_check(bucket: &Bucket, meta: &BlockMeta) -> Result<CheckedBlock, BlockError> {
    let reader = BlockReader::open(bucket.clone(), meta.clone(), scan_caches()).await?;
    let series = reader.series(&[], i64::MIN, i64::MAX, false).await?;
    let problems = check_series(meta, &series);
    Ok(CheckedBlock { series, problems })
}

/// The checks of [`read_and_check`] on already-read series.
pub fn check_series(meta: &BlockMeta, series: &[BlockSeries]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut report = |p: String| {
        if problems.len() < 20 {
            problems.push(p);
        }
    };
    let (mut chunks, mut samples) = (0u64, 0u64);
    for (i, s) in series.iter().enumerate() {
        if i > 0 && series[i - 1].labels >= s.labels {
            report(format!(
                "series not sorted or repeated: {} after {}",
                s.labels,
                series[i - 1].labels
            ));
        }
        let ls = s.labels.as_slice();
        if ls.is_empty() {
            report("series without labels".into());
        }
        if ls.windows(2).any(|w| w[0].name >= w[1].name) || ls.iter().any(|l| l.value.is_empty()) {
            report(format!(
                "labels of {} not sorted, unique and non-empty",
                s.labels
            ));
        }
        let mut prev_max = i64::MIN;
        for c in &s.chunks {
            chunks += 1;
            samples += c.data.num_samples() as u64;
            if c.min_time > c.max_time || c.min_time < meta.min_time || c.max_time >= meta.max_time
            {
                report(format!(
                    "{}: chunk [{}, {}] outside block range [{}, {})",
                    s.labels, c.min_time, c.max_time, meta.min_time, meta.max_time
                ));
            }
            if c.min_time <= prev_max && prev_max != i64::MIN {
                report(format!(
                    "{}: chunk [{}, {}] overlaps the previous one ending at {prev_max}",
                    s.labels, c.min_time, c.max_time
                ));
            }
            prev_max = c.max_time;
            if let Err(e) = check_chunk(meta, &c.data, c.min_time, c.max_time) {
                report(format!(
                    "{}: chunk [{}, {}]: {e}",
                    s.labels, c.min_time, c.max_time
                ));
            }
        }
    }
    let st = &meta.stats;
    if (series.len() as u64, chunks, samples) != (st.num_series, st.num_chunks, st.num_samples) {
        report(format!(
            "counts differ from meta.json: {} series, {chunks} chunks, {samples} samples read; \
             meta says {} series, {} chunks, {} samples",
            series.len(),
            st.num_series,
            st.num_chunks,
            st.num_samples
        ));
    }
    problems
}

fn check_chunk(meta: &BlockMeta, data: &ChunkData, mint: i64, maxt: i64) -> Result<(), String> {
    let check_xor = |b: &[u8], strict: bool| -> Result<(), String> {
        let samples = cairn_chunk::decode(b).map_err(|e| e.to_string())?;
        if samples.is_empty() {
            return Err("empty chunk".into());
        }
        let mut prev = i64::MIN;
        for s in &samples {
            if s.t < mint || s.t > maxt {
                return Err(format!("sample at {} outside the chunk's range", s.t));
            }
            // Counter aggregates repeat the last timestamp on purpose.
            if (strict && s.t <= prev) || s.t < prev {
                return Err(format!("sample at {} not after {prev}", s.t));
            }
            prev = s.t;
        }
        Ok(())
    };
    match data {
        ChunkData::Xor(b) => {
            if meta.resolution != cairn_block::RESOLUTION_RAW {
                return Err("raw chunk in a downsampled block".into());
            }
            check_xor(b, true)
        }
        ChunkData::FloatHistogram(b) => {
            let samples = cairn_chunk::decode_float_histograms(b).map_err(|e| e.to_string())?;
            if samples.is_empty() {
                return Err("empty chunk".into());
            }
            let mut prev = i64::MIN;
            for (t, _) in &samples {
                if *t < mint || *t > maxt {
                    return Err(format!("histogram at {t} outside the chunk's range"));
                }
                if *t <= prev {
                    return Err(format!("histogram at {t} not after {prev}"));
                }
                prev = *t;
            }
            Ok(())
        }
        ChunkData::Aggr(a) => {
            if meta.resolution == cairn_block::RESOLUTION_RAW {
                return Err("aggregate chunk in a raw block".into());
            }
            for t in cairn_block::AggrType::ALL {
                if let Some(b) = a.get(t) {
                    check_xor(b, t != cairn_block::AggrType::Counter)
                        .map_err(|e| format!("{t:?} aggregate: {e}"))?;
                }
            }
            Ok(())
        }
    }
}
