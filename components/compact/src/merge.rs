//! Merging one series' samples from several blocks and re-encoding samples into
//! chunks (replica deduplication itself is `cairn_dedup`, shared with the querier).

use cairn_block::{BlockChunk, ChunkData};
use cairn_chunk::XorChunk;
use cairn_model::Sample;

/// Samples per XOR chunk, like Prometheus.
pub const SAMPLES_PER_CHUNK: usize = 120;

/// Decodes raw chunks into samples sorted by time.
pub(crate) fn decode_raw(chunks: &[BlockChunk]) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    for c in chunks {
        let ChunkData::Xor(b) = &c.data else {
            return Err(format!(
                "aggregate chunk [{}, {}] in a raw block",
                c.min_time, c.max_time
            ));
        };
        out.extend(
            cairn_chunk::decode(b)
                .map_err(|e| format!("chunk [{}, {}]: {e}", c.min_time, c.max_time))?,
        );
    }
    Ok(out)
}

/// Merges time-sorted sample streams of the same replica into one; when several streams
/// hold a sample at the same timestamp the first stream's is kept.
pub fn union(mut streams: Vec<Vec<Sample>>) -> Vec<Sample> {
    if streams.len() == 1 {
        return streams.pop().unwrap_or_default();
    }
    let mut all: Vec<(i64, usize, f64)> = streams
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.iter().map(move |x| (x.t, i, x.v)))
        .collect();
    all.sort_by_key(|(t, i, _)| (*t, *i));
    all.dedup_by_key(|(t, _, _)| *t);
    all.into_iter().map(|(t, _, v)| Sample::new(t, v)).collect()
}

/// Encodes time-sorted samples as XOR chunks of at most [`SAMPLES_PER_CHUNK`] samples,
/// never crossing a slice boundary (`block_min + k * slice_ms`).
pub fn encode_raw(samples: &[Sample], block_min: i64, slice_ms: i64) -> Vec<BlockChunk> {
    let slice_of = |t: i64| (t - block_min).div_euclid(slice_ms);
    let mut out = Vec::with_capacity(samples.len() / SAMPLES_PER_CHUNK + 1);
    let mut cur: Option<(i64, XorChunk)> = None;
    for s in samples {
        let slice = slice_of(s.t);
        let cut = cur
            .as_ref()
            .is_some_and(|(sl, c)| *sl != slice || c.num_samples() >= SAMPLES_PER_CHUNK);
        if cut {
            out.extend(cur.take().and_then(|(_, c)| xor_chunk(c)));
        }
        cur.get_or_insert_with(|| (slice, XorChunk::new()))
            .1
            .append(s.t, s.v);
    }
    out.extend(cur.and_then(|(_, c)| xor_chunk(c)));
    out
}

fn xor_chunk(c: XorChunk) -> Option<BlockChunk> {
    Some(BlockChunk {
        min_time: c.first_time()?,
        max_time: c.last_time()?,
        data: ChunkData::Xor(c.into_bytes()),
    })
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
        let u = union(vec![
            s(&[(1, 1.0), (3, 3.0), (5, 5.0)]),
            s(&[(2, 20.0), (3, 30.0), (6, 60.0)]),
        ]);
        assert_eq!(u, s(&[(1, 1.0), (2, 20.0), (3, 3.0), (5, 5.0), (6, 60.0)]));
    }

    #[test]
    fn chunks_hold_at_most_120_samples_and_stay_in_their_slice() {
        let samples = grid(0, 10_000, 1000, 1.0);
        let chunks = encode_raw(&samples, 0, 3_600_000);
        let slice = |t: i64| t / 3_600_000;
        let mut n = 0;
        for c in &chunks {
            let got = decode_raw(std::slice::from_ref(c)).unwrap();
            assert!(got.len() <= SAMPLES_PER_CHUNK);
            assert_eq!(slice(c.min_time), slice(c.max_time));
            n += got.len();
        }
        assert_eq!(n, 1000);
        assert_eq!(decode_raw(&chunks).unwrap(), samples);
    }
}
