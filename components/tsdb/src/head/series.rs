//! One in-memory series: its identity and its chunks.

use std::fmt;

use cairn_chunk::{encode_samples, ChunkSample, ChunkWriter, Encoding};
use cairn_model::Labels;
use parking_lot::Mutex;

use super::packed::PackedLabels;
use super::ChunkData;

/// How a sample relates to the series' newest one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// Newer than everything: store it.
    Append,
    /// Same timestamp and identical value bits: accepted, nothing to store.
    Same,
    /// Older than the newest sample.
    OutOfOrder,
    /// Same timestamp, different value.
    Duplicate,
}

/// The same value: identical float bits, or histograms equal bit for bit.
fn same_value(a: &ChunkSample, b: &ChunkSample) -> bool {
    match (a, b) {
        (ChunkSample::Float(a), ChunkSample::Float(b)) => a.v.to_bits() == b.v.to_bits(),
        (ChunkSample::Histogram(a), ChunkSample::Histogram(b)) => a.h.equals(&b.h),
        _ => false,
    }
}

/// Classifies `s` against the series' newest sample `last`.
pub(super) fn check(last: Option<&ChunkSample>, s: &ChunkSample) -> Check {
    match last {
        None => Check::Append,
        Some(l) if s.t() > l.t() => Check::Append,
        Some(l) if s.t() < l.t() => Check::OutOfOrder,
        Some(l) if same_value(s, l) => Check::Same,
        Some(_) => Check::Duplicate,
    }
}

/// A histogram chunk is cut once it holds this many bytes (and at least
/// [`MIN_HISTOGRAM_CHUNK_SAMPLES`]), like Prometheus's 1 KiB target: a histogram sample
/// takes far more room than a float one.
const HISTOGRAM_CHUNK_BYTES: usize = 1024;
const MIN_HISTOGRAM_CHUNK_SAMPLES: usize = 10;

/// When to cut a new chunk.
#[derive(Debug, Clone, Copy)]
pub(super) struct ChunkPolicy {
    /// Chunk range in milliseconds; chunks never cross a multiple of it.
    pub(super) range: i64,
    /// Samples after which a chunk is closed.
    pub(super) max_samples: usize,
}

/// What one [`MemSeries::append`] call did.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Appended {
    pub(super) stored: u64,
    pub(super) same: u64,
    pub(super) out_of_order: u64,
    pub(super) duplicate: u64,
    pub(super) min_t: Option<i64>,
    pub(super) max_t: Option<i64>,
}

/// A series in the head.
pub(super) struct MemSeries {
    pub(super) series_ref: u64,
    pub(super) labels: PackedLabels,
    data: Mutex<SeriesData>,
}

#[derive(Default)]
struct SeriesData {
    /// Oldest first; all but the last are closed, the last one is open.
    chunks: Vec<HeadChunk>,
    last: Option<ChunkSample>,
}

struct HeadChunk {
    min_t: i64,
    max_t: i64,
    /// The first timestamp the chunk may not hold (the end of its aligned range).
    end: i64,
    chunk: ChunkBody,
}

/// A head chunk's data. Only the last chunk of a series is appended to; the others
/// keep just their bytes, trimmed to size: the writer's spare capacity and its encoder
/// state (for a histogram chunk an XOR window per bucket and the previous histogram)
/// would otherwise stay allocated for as long as the chunk is in memory.
enum ChunkBody {
    Open(ChunkWriter),
    Sealed(Encoding, Box<[u8]>),
}

impl ChunkBody {
    fn encoding(&self) -> Encoding {
        match self {
            Self::Open(w) => w.encoding(),
            Self::Sealed(e, _) => *e,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Open(w) => w.bytes(),
            Self::Sealed(_, b) => b,
        }
    }

    fn seal(&mut self) {
        if let Self::Open(w) = self {
            *self = Self::Sealed(w.encoding(), w.bytes().into());
        }
    }
}

/// Whether `s` must go into a new chunk for the chunk policy (a chunk of the other
/// kind is replaced by [`ChunkWriter::append`] itself).
fn needs_cut(c: &ChunkWriter, policy: ChunkPolicy) -> bool {
    let n = c.num_samples();
    match c {
        ChunkWriter::Xor(_) => n >= policy.max_samples,
        ChunkWriter::FloatHistogram(c) => {
            n >= policy.max_samples
                || (n >= MIN_HISTOGRAM_CHUNK_SAMPLES && c.bytes().len() >= HISTOGRAM_CHUNK_BYTES)
        }
    }
}

fn chunk_data(c: &ChunkBody, min_t: i64, max_t: i64) -> ChunkData {
    ChunkData {
        min_t,
        max_t,
        encoding: c.encoding(),
        bytes: c.bytes().to_vec(),
    }
}

impl HeadChunk {
    fn new(s: &ChunkSample, range: i64, chunk: ChunkWriter) -> Self {
        Self {
            min_t: s.t(),
            max_t: s.t(),
            end: range_end(s.t(), range),
            chunk: ChunkBody::Open(chunk),
        }
    }
}

impl MemSeries {
    pub(super) fn new(series_ref: u64, labels: &Labels) -> Self {
        Self {
            series_ref,
            labels: PackedLabels::new(labels),
            data: Mutex::new(SeriesData::default()),
        }
    }

    /// The newest sample.
    pub(super) fn last_sample(&self) -> Option<ChunkSample> {
        self.data.lock().last.clone()
    }

    /// Whether any sample lies in `[mint, maxt]`-overlapping chunks.
    pub(super) fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        let d = self.data.lock();
        match (d.chunks.first(), d.chunks.last()) {
            (Some(first), Some(last)) => first.min_t <= maxt && last.max_t >= mint,
            _ => false,
        }
    }

    /// Checks and stores `samples` in order; rejected ones are counted, not stored.
    pub(super) fn append(&self, samples: &[ChunkSample], policy: ChunkPolicy) -> Appended {
        let mut out = Appended::default();
        let mut d = self.data.lock();
        for s in samples {
            match check(d.last.as_ref(), s) {
                Check::Append => {}
                Check::Same => {
                    out.same += 1;
                    continue;
                }
                Check::OutOfOrder => {
                    out.out_of_order += 1;
                    continue;
                }
                Check::Duplicate => {
                    out.duplicate += 1;
                    continue;
                }
            }
            let t = s.t();
            let next = match d.chunks.last_mut() {
                Some(c) => match &mut c.chunk {
                    ChunkBody::Open(w) if !needs_cut(w, policy) && t < c.end => {
                        let next = w.append(s);
                        if next.is_none() {
                            c.max_t = t;
                        }
                        next
                    }
                    _ => Some(ChunkWriter::with_sample(s)),
                },
                None => Some(ChunkWriter::with_sample(s)),
            };
            if let Some(chunk) = next {
                if let Some(prev) = d.chunks.last_mut() {
                    prev.chunk.seal();
                }
                d.chunks.push(HeadChunk::new(s, policy.range, chunk));
            }
            d.last = Some(s.clone());
            out.stored += 1;
            out.min_t = Some(out.min_t.map_or(t, |m| m.min(t)));
            out.max_t = Some(t);
        }
        out
    }

    /// Copies of the chunks overlapping `[mint, maxt]`, oldest first.
    pub(super) fn chunks_overlapping(&self, mint: i64, maxt: i64) -> Vec<ChunkData> {
        let d = self.data.lock();
        d.chunks
            .iter()
            .filter(|c| c.min_t <= maxt && c.max_t >= mint)
            .map(|c| chunk_data(&c.chunk, c.min_t, c.max_t))
            .collect()
    }
}

impl MemSeries {
    /// Copies of the chunk data in `[mint, maxt)`, oldest first. Chunks entirely inside
    /// are copied as they are; one crossing a boundary (only when the range is not
    /// aligned to the chunk range) is re-encoded with just its samples inside.
    pub(super) fn chunks_in_range(&self, mint: i64, maxt: i64) -> Vec<ChunkData> {
        let d = self.data.lock();
        let mut out = Vec::new();
        for c in d
            .chunks
            .iter()
            .filter(|c| c.max_t >= mint && c.min_t < maxt)
        {
            if c.min_t >= mint && c.max_t < maxt {
                out.push(chunk_data(&c.chunk, c.min_t, c.max_t));
                continue;
            }
            // Head chunks are encoded by this process; a failure here is a bug, and
            // skipping the chunk would silently lose data.
            let samples = cairn_chunk::decode_chunk(c.chunk.encoding(), c.chunk.bytes())
                .expect("head chunk decodes")
                .into_samples()
                .into_iter()
                .filter(|s| s.t() >= mint && s.t() < maxt);
            out.extend(encode_samples(samples, usize::MAX));
        }
        out
    }

    /// Drops the chunks whose newest sample is older than `mint`. Returns how many went
    /// and the oldest timestamp left (`None` when nothing is).
    pub(super) fn drop_before(&self, mint: i64) -> (usize, Option<i64>) {
        let mut d = self.data.lock();
        let before = d.chunks.len();
        d.chunks.retain(|c| c.max_t >= mint);
        (before - d.chunks.len(), d.chunks.first().map(|c| c.min_t))
    }
}

impl fmt::Debug for MemSeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.data.lock();
        f.debug_struct("MemSeries")
            .field("series_ref", &self.series_ref)
            .field("labels", &self.labels)
            .field("chunks", &d.chunks.len())
            .field("last", &d.last)
            .finish()
    }
}

/// The end (exclusive) of the `range`-aligned window holding `t`.
fn range_end(t: i64, range: i64) -> i64 {
    let range = range.max(1);
    t.div_euclid(range)
        .saturating_mul(range)
        .saturating_add(range)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::Sample;

    #[test]
    fn sample_classification() {
        let check_float = |last: Option<Sample>, s: Sample| {
            check(
                last.map(ChunkSample::Float).as_ref(),
                &ChunkSample::Float(s),
            )
        };
        let last = Some(Sample::new(10, 1.0));
        assert_eq!(check_float(None, Sample::new(-5, 0.0)), Check::Append);
        assert_eq!(check_float(last, Sample::new(11, 0.0)), Check::Append);
        assert_eq!(check_float(last, Sample::new(9, 1.0)), Check::OutOfOrder);
        assert_eq!(check_float(last, Sample::new(10, 1.0)), Check::Same);
        assert_eq!(check_float(last, Sample::new(10, 2.0)), Check::Duplicate);
        let nan = Some(Sample::new(10, f64::NAN));
        assert_eq!(
            check_float(nan, Sample::new(10, f64::NAN)),
            Check::Same,
            "same bits"
        );
        let stale = Sample::new(10, cairn_model::STALE_NAN);
        assert_eq!(
            check_float(nan, stale),
            Check::Duplicate,
            "different NaN bits"
        );
        assert_eq!(
            check_float(Some(Sample::new(10, 0.0)), Sample::new(10, -0.0)),
            Check::Duplicate
        );
    }

    #[test]
    fn ranges_are_aligned_including_negative_times() {
        assert_eq!(range_end(0, 100), 100);
        assert_eq!(range_end(99, 100), 100);
        assert_eq!(range_end(100, 100), 200);
        assert_eq!(range_end(-1, 100), 0);
        assert_eq!(range_end(i64::MAX - 1, 100), i64::MAX);
    }
}
