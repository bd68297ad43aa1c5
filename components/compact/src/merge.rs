//! Merging one series' samples from several blocks and re-encoding samples into
//! chunks (replica deduplication itself is `cairn_dedup`, shared with the querier).

use cairn_block::{encode_in_slices, BlockChunk};
use cairn_chunk::{ChunkSample, DecodedChunk};
use cairn_model::{HistogramSample, Sample};

/// Samples per XOR chunk, like Prometheus.
pub const SAMPLES_PER_CHUNK: usize = 120;

/// The samples of a series' raw chunks, by kind, each sorted by time.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct RawSamples {
    pub(crate) floats: Vec<Sample>,
    pub(crate) histograms: Vec<HistogramSample>,
}

/// Decodes raw chunks (XOR and float histogram) into samples sorted by time.
pub(crate) fn decode_raw(chunks: &[BlockChunk]) -> Result<RawSamples, String> {
    let mut out = RawSamples::default();
    for c in chunks {
        let Some((encoding, bytes)) = c.data.encoded() else {
            return Err(format!(
                "aggregate chunk [{}, {}] in a raw block",
                c.min_time, c.max_time
            ));
        };
        match cairn_chunk::decode_chunk(encoding, bytes)
            .map_err(|e| format!("chunk [{}, {}]: {e}", c.min_time, c.max_time))?
        {
            DecodedChunk::Floats(f) => out.floats.extend(f),
            DecodedChunk::Histograms(h) => out.histograms.extend(h),
        }
    }
    out.floats.sort_by_key(|s| s.t);
    out.histograms.sort_by_key(|h| h.t);
    Ok(out)
}

/// Merges time-sorted sample streams of the same replica into one; when several streams
/// hold a sample at the same timestamp the first stream's is kept.
pub fn union<T>(mut streams: Vec<Vec<T>>, time: impl Fn(&T) -> i64) -> Vec<T> {
    if streams.len() == 1 {
        return streams.pop().unwrap_or_default();
    }
    let mut all: Vec<(i64, usize, T)> = streams
        .into_iter()
        .enumerate()
        .flat_map(|(i, s)| s.into_iter().map(move |x| (i, x)))
        .map(|(i, x)| (time(&x), i, x))
        .collect();
    all.sort_by_key(|(t, i, _)| (*t, *i));
    all.dedup_by_key(|(t, _, _)| *t);
    all.into_iter().map(|(_, _, x)| x).collect()
}

/// Encodes time-sorted floats and histograms of one series as chunks of at most
/// [`SAMPLES_PER_CHUNK`] samples (XOR for floats, float histogram chunks for
/// histograms), never crossing a slice boundary (`block_min + k * slice_ms`). Where a
/// float and a histogram share a timestamp the float is kept.
pub fn encode_raw(
    floats: &[Sample],
    histograms: &[HistogramSample],
    block_min: i64,
    slice_ms: i64,
) -> Vec<BlockChunk> {
    let mut all: Vec<ChunkSample> = Vec::with_capacity(floats.len() + histograms.len());
    all.extend(floats.iter().copied().map(ChunkSample::Float));
    all.extend(histograms.iter().cloned().map(ChunkSample::Histogram));
    if !histograms.is_empty() {
        // Stable: floats stay ahead of histograms at equal timestamps.
        all.sort_by_key(ChunkSample::t);
        all.dedup_by_key(|s| s.t());
    }
    encode_in_slices(&all, block_min, slice_ms, SAMPLES_PER_CHUNK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(t, v)| Sample::new(t, v)).collect()
    }

    fn grid(start: i64, step: i64, n: i64, v: f64) -> Vec<Sample> {
        (0..n).map(|i| Sample::new(start + i * step, v)).collect()
    }

    #[test]
    fn union_keeps_one_sample_per_timestamp() {
        let u = union(
            vec![
                s(&[(1, 1.0), (3, 3.0), (5, 5.0)]),
                s(&[(2, 20.0), (3, 30.0), (6, 60.0)]),
            ],
            |s| s.t,
        );
        assert_eq!(u, s(&[(1, 1.0), (2, 20.0), (3, 3.0), (5, 5.0), (6, 60.0)]));
    }

    #[test]
    fn chunks_hold_at_most_120_samples_and_stay_in_their_slice() {
        let samples = grid(0, 10_000, 1000, 1.0);
        let chunks = encode_raw(&samples, &[], 0, 3_600_000);
        let slice = |t: i64| t / 3_600_000;
        let mut n = 0;
        for c in &chunks {
            let got = decode_raw(std::slice::from_ref(c)).unwrap().floats;
            assert!(got.len() <= SAMPLES_PER_CHUNK);
            assert_eq!(slice(c.min_time), slice(c.max_time));
            n += got.len();
        }
        assert_eq!(n, 1000);
        assert_eq!(decode_raw(&chunks).unwrap().floats, samples);
    }

    #[test]
    fn histograms_and_floats_share_a_series_and_keep_their_kinds() {
        use cairn_model::FloatHistogram;
        let h = |t: i64, n: f64| {
            HistogramSample::new(
                t,
                FloatHistogram {
                    count: n,
                    sum: n,
                    ..Default::default()
                },
            )
        };
        let floats = grid(0, 10_000, 30, 1.0);
        let mut histograms: Vec<HistogramSample> =
            (30..330).map(|i| h(i * 10_000, i as f64)).collect();
        histograms.insert(0, h(0, 9.0));
        let chunks = encode_raw(&floats, &histograms, 0, 3_600_000);
        let back = decode_raw(&chunks).unwrap();
        assert_eq!(back.floats, floats, "the float wins a shared timestamp");
        let times: Vec<i64> = back.histograms.iter().map(|h| h.t).collect();
        assert_eq!(times, (30..330).map(|i| i * 10_000).collect::<Vec<_>>());
        for c in &chunks {
            assert!(c.data.num_samples() <= SAMPLES_PER_CHUNK);
        }
        let merged = union(
            vec![back.histograms.clone(), vec![h(5, 1.0), h(300_000, 0.0)]],
            |h| h.t,
        );
        assert_eq!(merged.len(), 301);
        assert_eq!(merged[0].t, 5);
        assert_eq!(
            merged[1].h.count, 30.0,
            "the first stream wins a shared timestamp"
        );
    }
}
