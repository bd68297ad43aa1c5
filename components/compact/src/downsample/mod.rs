//! Downsampling with Thanos's aggregates: per window of the target resolution the count,
//! sum, min and max of the samples, and a counter with resets removed.
//!
//! Counter chunks follow Thanos's layout so that `rate`/`increase` stay exact across
//! chunk boundaries: the first sample is the first raw value at its own timestamp, then
//! one value per window (the running counter since the chunk start with resets added
//! back), and a last sample repeating the last window's timestamp with the last raw
//! value. A reader that applies counter resets across chunks (Thanos's
//! `ApplyCounterResetsSeriesIterator`) treats a repeated timestamp as "the true last
//! value", used only to detect a reset at the next chunk.
//!
//! Windows end at `t - t % res + res - 1` (inclusive); a window's point carries that
//! timestamp, clamped to the batch's last sample so no chunk reaches past its data (and
//! therefore past its slice of the block).

use cairn_block::{AggrChunk, AggrType, BlockChunk, ChunkData};
use cairn_chunk::XorChunk;
use cairn_model::histogram::CounterResetHint;
use cairn_model::{HistogramSample, Sample};

/// Most output points per aggregate chunk.
const POINTS_PER_CHUNK: i64 = 120;

/// The end (inclusive) of the window of `r` that `t` falls into.
pub fn window_end(t: i64, r: i64) -> i64 {
    t - t.rem_euclid(r) + r - 1
}

/// Running aggregates; count/sum/min/max restart per window, the counter does not.
#[derive(Debug, Default)]
struct Aggregator {
    total: usize,
    count: usize,
    sum: f64,
    min: f64,
    max: f64,
    counter: f64,
    last: f64,
}

impl Aggregator {
    fn reset(&mut self) {
        self.count = 0;
        self.sum = 0.0;
        self.min = f64::MAX;
        self.max = -f64::MAX;
    }

    fn add(&mut self, v: f64) {
        if self.total > 0 {
            if v < self.last {
                self.counter += v;
            } else {
                self.counter += v - self.last;
            }
        } else {
            self.counter = v;
        }
        self.last = v;
        self.sum += v;
        self.count += 1;
        self.total += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }
}

/// Calls `emit(window_timestamp, aggregator)` at the end of every window of `res` over
/// time-sorted `data`; returns the last window timestamp.
fn windows(data: &[Sample], res: i64, mut emit: impl FnMut(i64, &Aggregator)) -> Option<i64> {
    let last_t = data.last()?.t;
    let mut a = Aggregator::default();
    a.reset();
    let mut next: Option<i64> = None;
    for s in data {
        if next.is_none_or(|n| s.t > n) {
            if let Some(n) = next {
                emit(n, &a);
            }
            a.reset();
            next = Some(window_end(s.t, res).min(last_t));
        }
        a.add(s.v);
    }
    if a.count > 0 {
        emit(next?, &a);
    }
    next
}

/// Splits time-sorted samples into batches of whole windows with at most
/// [`POINTS_PER_CHUNK`] windows each, never across a change of `slice_of(t)`.
fn batches<T>(
    items: &[T],
    time: impl Fn(&T) -> i64,
    res: i64,
    slice_of: impl Fn(i64) -> i64,
) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < items.len() {
        let first = time(&items[start]);
        let slice = slice_of(first);
        let limit = window_end(first, res) + (POINTS_PER_CHUNK - 1) * res;
        let mut end = start + 1;
        while end < items.len() {
            let t = time(&items[end]);
            if t > limit || slice_of(t) != slice {
                break;
            }
            end += 1;
        }
        out.push(&items[start..end]);
        start = end;
    }
    out
}

fn encode(points: &[(i64, f64)]) -> Option<Vec<u8>> {
    if points.is_empty() {
        return None;
    }
    let mut c = XorChunk::new();
    for &(t, v) in points {
        c.append(t, v);
    }
    Some(c.into_bytes())
}

/// Downsamples one raw series (time-sorted samples) to resolution `res`; chunks stay
/// within their slice `slice_of(t)`. NaNs (incl. staleness markers) are dropped, like
/// Thanos does.
pub fn downsample_raw(
    samples: &[Sample],
    res: i64,
    slice_of: impl Fn(i64) -> i64,
) -> Vec<BlockChunk> {
    let data: Vec<Sample> = samples.iter().copied().filter(|s| !s.v.is_nan()).collect();
    let mut out = Vec::new();
    for batch in batches(&data, |s| s.t, res, slice_of) {
        let mut cols: [Vec<(i64, f64)>; 5] = Default::default();
        let first = batch[0];
        cols[AggrType::Counter as usize].push((first.t, first.v));
        let last_t = windows(batch, res, |t, a| {
            cols[AggrType::Count as usize].push((t, a.count as f64));
            cols[AggrType::Sum as usize].push((t, a.sum));
            cols[AggrType::Min as usize].push((t, a.min));
            cols[AggrType::Max as usize].push((t, a.max));
            cols[AggrType::Counter as usize].push((t, a.counter));
        });
        let Some(last_t) = last_t else { continue };
        let last_v = batch[batch.len() - 1].v;
        cols[AggrType::Counter as usize].push((last_t, last_v));
        out.push(aggr_chunk(first.t, last_t, &cols));
    }
    out
}

/// Native histograms at resolution `res`: the last one of each window. A reset hint
/// spoke of the dropped sample before it, so counter histograms get an unknown hint
/// and PromQL compares neighbours itself; gauge histograms stay gauges.
pub fn last_per_window(histograms: &[HistogramSample], res: i64) -> Vec<HistogramSample> {
    let mut out: Vec<HistogramSample> = Vec::new();
    for (i, h) in histograms.iter().enumerate() {
        let last_in_window = histograms
            .get(i + 1)
            .is_none_or(|next| window_end(next.t, res) != window_end(h.t, res));
        if !last_in_window {
            continue;
        }
        let mut h = h.clone();
        if h.h.counter_reset_hint != CounterResetHint::Gauge {
            std::sync::Arc::make_mut(&mut h.h).counter_reset_hint = CounterResetHint::Unknown;
        }
        out.push(h);
    }
    out
}

fn aggr_chunk(min_time: i64, max_time: i64, cols: &[Vec<(i64, f64)>; 5]) -> BlockChunk {
    let mut a = AggrChunk::default();
    for t in AggrType::ALL {
        if let Some(b) = encode(&cols[t as usize]) {
            a.set(t, b);
        }
    }
    BlockChunk {
        min_time,
        max_time,
        data: ChunkData::Aggr(a),
    }
}

/// Decoded aggregates of one input chunk.
#[derive(Debug, Default)]
struct Decoded {
    min_time: i64,
    max_time: i64,
    aggr: [Vec<Sample>; 5],
}

fn decode_aggr(c: &BlockChunk) -> Result<Decoded, String> {
    let ChunkData::Aggr(a) = &c.data else {
        return Err(format!(
            "raw chunk [{}, {}] in a downsampled block",
            c.min_time, c.max_time
        ));
    };
    let mut d = Decoded {
        min_time: c.min_time,
        max_time: c.max_time,
        ..Decoded::default()
    };
    for t in AggrType::ALL {
        if let Some(b) = a.get(t) {
            d.aggr[t as usize] = cairn_chunk::decode(b)
                .map_err(|e| format!("{t:?} chunk [{}, {}]: {e}", c.min_time, c.max_time))?;
        }
    }
    Ok(d)
}

/// Thanos's `ApplyCounterResetsSeriesIterator` over counter chunks: a monotonic series
/// (resets added back), and the true last raw value.
fn apply_counter_resets(chunks: &[Vec<Sample>]) -> (Vec<Sample>, f64) {
    let mut out: Vec<Sample> = Vec::new();
    let (mut last_t, mut last_v, mut total) = (i64::MIN, 0.0, 0.0);
    for c in chunks {
        for s in c {
            if s.v.is_nan() {
                continue;
            }
            if out.is_empty() {
                (last_t, last_v, total) = (s.t, s.v, s.v);
                out.push(Sample::new(s.t, total));
            } else if s.t > last_t {
                total += if s.v >= last_v { s.v - last_v } else { s.v };
                (last_t, last_v) = (s.t, s.v);
                out.push(Sample::new(s.t, total));
            } else if s.t == last_t {
                last_v = s.v;
            }
        }
    }
    (out, last_v)
}

/// Downsamples one already-downsampled series (its aggregate chunks, sorted) to the
/// coarser resolution `res`. Input chunks are batched whole, never across a slice, so
/// each chunk's first and last counter values (the true raw values) survive.
pub fn downsample_aggr(
    chunks: &[BlockChunk],
    res: i64,
    slice_of: impl Fn(i64) -> i64,
) -> Result<Vec<BlockChunk>, String> {
    let decoded = chunks
        .iter()
        .map(decode_aggr)
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for batch in batches(&decoded, |d| d.min_time, res, slice_of) {
        let mut cols: [Vec<(i64, f64)>; 5] = Default::default();
        let (mut mint, mut maxt) = (i64::MAX, i64::MIN);
        for (t, pick) in [
            (
                AggrType::Count,
                (|a: &Aggregator| a.sum) as fn(&Aggregator) -> f64,
            ),
            (AggrType::Sum, |a| a.sum),
            (AggrType::Min, |a| a.min),
            (AggrType::Max, |a| a.max),
        ] {
            let data: Vec<Sample> = batch
                .iter()
                .flat_map(|d| d.aggr[t as usize].iter().copied())
                .collect();
            windows(&data, res, |wt, a| {
                cols[t as usize].push((wt, pick(a)));
                mint = mint.min(wt);
                maxt = maxt.max(wt);
            });
        }
        let counters: Vec<Vec<Sample>> = batch
            .iter()
            .map(|d| d.aggr[AggrType::Counter as usize].clone())
            .collect();
        let (mono, last_raw) = apply_counter_resets(&counters);
        if let Some(first) = mono.first() {
            let col = &mut cols[AggrType::Counter as usize];
            col.push((first.t, first.v));
            mint = mint.min(first.t);
            let last_t = windows(&mono, res, |wt, a| col.push((wt, a.counter)));
            if let Some(lt) = last_t {
                col.push((lt, last_raw));
                maxt = maxt.max(lt);
            }
        }
        if mint > maxt {
            continue;
        }
        let lo = batch.iter().map(|d| d.min_time).min().unwrap_or(mint);
        let hi = batch.iter().map(|d| d.max_time).max().unwrap_or(maxt);
        out.push(aggr_chunk(mint.max(lo), maxt.min(hi), &cols));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
