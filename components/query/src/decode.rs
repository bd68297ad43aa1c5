//! Turning the merged chunks of one series into the samples PromQL reads.
//!
//! ```text
//!  RawSeries (chunks from every store: head, raw blocks, downsampled blocks)
//!     │ raw chunks ──decode──▶ samples; equal timestamps kept once (head and its
//!     │                        just-uploaded block hold the same samples)
//!     │ downsampled chunks ──▶ the aggregate the function needs (ReadMode); dropped
//!     │                        inside the raw data's span, else replacing raw points
//!     │                        in their own range
//!     ▼
//!  merged by timestamp ──Counter──▶ counter resets applied across chunks
//!     ▼
//!  StorageSeries (sorted, unique timestamps, within [start, end])
//!
//!  raw native-histogram chunks ──decode_histograms──▶ StorageSeries.histograms
//!     (first copy of each timestamp kept; never downsampled)
//! ```

use cairn_chunk::DecodedChunk;
use cairn_model::{HistogramSample, Sample};
use cairn_promql::{StorageError, StorageSeries};
use cairn_storeapi::{Aggregate, RawChunk, RawSeries};

/// Which aggregate of a downsampled chunk stands in for raw samples, chosen by the
/// PromQL function that reads the selector (Thanos's `aggrsFromFunc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadMode {
    /// Per window: the sum of its raw samples.
    Sum,
    /// Per window: as many points as raw samples, so counting them counts samples.
    Count,
    /// Per window: the smallest raw sample.
    Min,
    /// Per window: the largest raw sample.
    Max,
    /// The counter with resets removed (`rate`, `increase`, `irate`, `resets`).
    Counter,
    /// Per window: sum / count, the window's average (plain selectors and the rest).
    Average,
}

impl ReadMode {
    /// The mode for the function a selector is an argument of.
    pub(crate) fn for_function(func: Option<&str>) -> Self {
        let f = func.unwrap_or("");
        match f {
            "min" | "min_over_time" => Self::Min,
            "max" | "max_over_time" => Self::Max,
            "count_over_time" => Self::Count,
            "sum_over_time" => Self::Sum,
            "rate" | "increase" | "irate" | "resets" => Self::Counter,
            _ => Self::Average,
        }
    }

    /// The aggregates to ask stores for.
    pub(crate) fn aggregates(self) -> Vec<Aggregate> {
        match self {
            Self::Sum => vec![Aggregate::Sum],
            Self::Count => vec![Aggregate::Count],
            Self::Min => vec![Aggregate::Min],
            Self::Max => vec![Aggregate::Max],
            Self::Counter => vec![Aggregate::Counter],
            Self::Average => vec![Aggregate::Count, Aggregate::Sum],
        }
    }
}

/// One decoded point; `marker` points only carry the true last raw value of a
/// downsampled counter chunk (Thanos appends it at the chunk's last timestamp).
#[derive(Debug, Clone, Copy)]
struct Point {
    t: i64,
    v: f64,
    raw: bool,
    marker: bool,
}

fn corrupt(series: &RawSeries, e: impl std::fmt::Display) -> StorageError {
    StorageError::permanent(format!("series {}: corrupt chunk: {e}", series.labels))
}

fn decode(series: &RawSeries, data: &[u8]) -> Result<Vec<Sample>, StorageError> {
    cairn_chunk::decode(data).map_err(|e| corrupt(series, e))
}

fn aggregate<'a>(
    series: &RawSeries,
    c: &'a RawChunk,
    a: Aggregate,
) -> Result<&'a [u8], StorageError> {
    c.aggregates
        .as_ref()
        .and_then(|x| x.get(a))
        .ok_or_else(|| corrupt(series, format!("downsampled chunk without {a:?} aggregate")))
}

/// Points of one downsampled chunk in `mode`.
fn downsampled_points(
    series: &RawSeries,
    c: &RawChunk,
    mode: ReadMode,
    out: &mut Vec<Point>,
) -> Result<(), StorageError> {
    let point = |t, v| Point {
        t,
        v,
        raw: false,
        marker: false,
    };
    match mode {
        ReadMode::Sum | ReadMode::Min | ReadMode::Max => {
            let a = match mode {
                ReadMode::Sum => Aggregate::Sum,
                ReadMode::Min => Aggregate::Min,
                _ => Aggregate::Max,
            };
            out.extend(
                decode(series, aggregate(series, c, a)?)?
                    .into_iter()
                    .map(|s| point(s.t, s.v)),
            );
        }
        ReadMode::Count => {
            // Spread each window's count over distinct milliseconds just before its
            // timestamp, so count_over_time (which counts points) counts raw samples.
            let mut prev = i64::MIN;
            for s in decode(series, aggregate(series, c, Aggregate::Count)?)? {
                let n = (s.v.max(0.0) as i64).min(s.t.saturating_sub(prev)).max(1);
                out.extend((0..n).rev().map(|i| point(s.t - i, 1.0)));
                prev = s.t;
            }
        }
        ReadMode::Average => {
            let counts = decode(series, aggregate(series, c, Aggregate::Count)?)?;
            let sums = decode(series, aggregate(series, c, Aggregate::Sum)?)?;
            if counts.len() != sums.len() {
                return Err(corrupt(series, "count and sum aggregates differ in length"));
            }
            out.extend(counts.iter().zip(&sums).map(|(n, s)| point(s.t, s.v / n.v)));
        }
        ReadMode::Counter => {
            let mut points = decode(series, aggregate(series, c, Aggregate::Counter)?)?;
            let marker = match points.as_slice() {
                [.., a, b] if a.t == b.t => points.pop(),
                _ => None,
            };
            out.extend(points.into_iter().map(|s| point(s.t, s.v)));
            out.extend(marker.map(|s| Point {
                marker: true,
                ..point(s.t, s.v)
            }));
        }
    }
    Ok(())
}

/// Decodes a merged series' chunks into one sample list in `[start, end]`.
///
/// Chunks of one series from several stores may overlap (replicas, an ingester head
/// and the block it just uploaded, a block and the one compacted from it): each
/// timestamp is kept once, so nothing is counted twice. Downsampled chunks are read
/// as `mode` says; where they overlap raw data, one of the two is used, never both.
pub(crate) fn decode_series(
    series: RawSeries,
    start: i64,
    end: i64,
    mode: ReadMode,
) -> Result<StorageSeries, StorageError> {
    let mut points: Vec<Point> = Vec::new();
    let mut raw_ranges: Vec<(i64, i64)> = Vec::new();
    let mut downsampled = false;
    let histograms = decode_histograms(&series, start, end)?;
    for c in &series.chunks {
        if c.max_time < start || c.min_time > end || c.encoding.is_histogram() {
            continue;
        }
        if c.is_downsampled() {
            downsampled = true;
            continue;
        }
        raw_ranges.push((c.min_time, c.max_time));
        points.extend(decode(&series, &c.data)?.into_iter().map(|s| Point {
            t: s.t,
            v: s.v,
            raw: true,
            marker: false,
        }));
    }
    if downsampled {
        // A downsampled chunk inside the span of the raw data is redundant; one
        // reaching past it replaces the raw points in its range, so that a counter
        // only switches between raw and downsampled data at chunk edges, where the
        // chunk's marker says the raw value.
        let raw_span = raw_ranges
            .iter()
            .fold(None, |acc: Option<(i64, i64)>, &(lo, hi)| {
                Some(acc.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))))
            });
        let mut replaced: Vec<(i64, i64)> = Vec::new();
        for c in series.chunks.iter().filter(|c| c.is_downsampled()) {
            if c.max_time < start || c.min_time > end {
                continue;
            }
            if raw_span.is_some_and(|(lo, hi)| lo <= c.min_time && c.max_time <= hi) {
                continue;
            }
            replaced.push((c.min_time, c.max_time));
            downsampled_points(&series, c, mode, &mut points)?;
        }
        points.retain(|p| !p.raw || !replaced.iter().any(|&(lo, hi)| lo <= p.t && p.t <= hi));
    }
    // Stable: for equal timestamps raw points come first (they were pushed first), and
    // a counter's marker after the window it closes.
    points.sort_by_key(|p| (p.t, p.marker, !p.raw));
    let mut samples: Vec<Sample> = Vec::with_capacity(points.len());
    if downsampled && mode == ReadMode::Counter {
        apply_counter_resets(&points, &mut samples);
    } else {
        let mut last = None;
        for p in points.iter().filter(|p| !p.marker) {
            if last != Some(p.t) {
                samples.push(Sample { t: p.t, v: p.v });
                last = Some(p.t);
            }
        }
    }
    samples.retain(|s| s.t >= start && s.t <= end);
    let mut out = StorageSeries::from_samples(series.labels, samples);
    out.histograms = histograms;
    Ok(out)
}

/// The native histograms of a series' raw histogram chunks in `[start, end]`, sorted
/// by timestamp, each timestamp once (the first chunk's copy).
pub(crate) fn decode_histograms(
    series: &RawSeries,
    start: i64,
    end: i64,
) -> Result<Vec<HistogramSample>, StorageError> {
    let mut out: Vec<HistogramSample> = Vec::new();
    for c in &series.chunks {
        if c.max_time < start || c.min_time > end || !c.encoding.is_histogram() {
            continue;
        }
        match cairn_chunk::decode_chunk(c.encoding, &c.data).map_err(|e| corrupt(series, e))? {
            DecodedChunk::Histograms(h) => {
                out.extend(h.into_iter().filter(|h| h.t >= start && h.t <= end));
            }
            DecodedChunk::Floats(_) => unreachable!("a histogram encoding decodes histograms"),
        }
    }
    // Stable, so the first copy of a timestamp stays first.
    out.sort_by_key(|h| h.t);
    out.dedup_by_key(|h| h.t);
    Ok(out)
}

/// Thanos's `ApplyCounterResetsSeriesIterator`: a downsampled counter chunk holds the
/// counter with resets already added up, starting at the first raw value and closed by
/// a marker with the last raw value. Across chunks the running total continues:
/// a value below the previous raw one is a reset. The output never decreases, so
/// `rate` and `increase` see no resets and compute the true increase.
fn apply_counter_resets(points: &[Point], out: &mut Vec<Sample>) {
    let mut last: Option<(i64, f64)> = None;
    let mut total = 0.0;
    for p in points {
        if p.v.is_nan() {
            continue;
        }
        match last {
            None if !p.marker => {
                total = p.v;
                last = Some((p.t, p.v));
                out.push(Sample { t: p.t, v: total });
            }
            None => {}
            Some((lt, _)) if p.marker || p.t <= lt => last = Some((lt, p.v)),
            Some((_, lv)) => {
                total += if p.v >= lv { p.v - lv } else { p.v };
                last = Some((p.t, p.v));
                out.push(Sample { t: p.t, v: total });
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
