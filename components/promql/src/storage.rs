//! The storage interface the engine reads from, and a simple in-memory implementation.

use async_trait::async_trait;
use cairn_model::{HistogramSample, Labels, Matcher, Sample};

use crate::error::StorageError;

/// Where the engine reads data. Implemented by the querier (StoreAPI fan-out) and by
/// [`InMemoryStorage`] for tests.
#[async_trait]
pub trait Storage: Send + Sync {
    /// Returns every series matching all of `req.matchers` with its samples in
    /// `[req.start, req.end]` (both inclusive; encoded chunks may extend past it, the
    /// engine cuts them). Series must be sorted by labels and samples by timestamp;
    /// series without samples in the range may be omitted.
    async fn select(&self, req: &SelectRequest) -> Result<SelectResult, StorageError>;
}

/// Optional information about how the selected data will be used (Prometheus's
/// `SelectHints`), for stores that can push work down. Ignoring it is always correct.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectHints {
    /// The function the selector is an argument of (`rate`, `sum_over_time`, ...), if any.
    pub func: Option<String>,
    /// The query step in milliseconds (0 for instant queries).
    pub step_ms: i64,
    /// The range of a range selector in milliseconds (0 for instant selectors).
    pub range_ms: i64,
    /// The grouping labels of the enclosing aggregation, if any.
    pub grouping: Vec<String>,
    /// Whether `grouping` is a `by` (true) or `without` (false) list.
    pub by: bool,
}

/// One `select` call: which series and which time range.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectRequest {
    /// All matchers must match.
    pub matchers: Vec<Matcher>,
    /// First timestamp needed, in milliseconds (inclusive).
    pub start: i64,
    /// Last timestamp needed, in milliseconds (inclusive).
    pub end: i64,
    /// Pushdown hints.
    pub hints: SelectHints,
}

/// One series as returned by a [`Storage`].
#[derive(Debug, Clone, PartialEq)]
pub struct StorageSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Its float samples, decoded or still encoded (may include staleness markers).
    pub data: SeriesData,
    /// Its native-histogram samples sorted by timestamp (a timestamp has a float or a
    /// histogram sample, not both).
    pub histograms: Vec<HistogramSample>,
}

/// A series' samples as a [`Storage`] hands them over. Stores that have encoded chunks
/// should pass them on as [`SeriesData::Xor`]: the engine decodes one series at a time
/// while evaluating, so a selector's data stays compact (about 1–2 bytes per sample
/// instead of 16) until the moment it is used.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesData {
    /// Samples sorted by timestamp.
    Samples(Vec<Sample>),
    /// Prometheus XOR chunks sorted by `min_time`. They may overlap (replicas): the
    /// first sample seen at a timestamp wins.
    Xor(Vec<EncodedChunk>),
}

/// One Prometheus XOR chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedChunk {
    /// First sample timestamp in the chunk.
    pub min_time: i64,
    /// Last sample timestamp in the chunk.
    pub max_time: i64,
    /// The chunk bytes (2-byte sample count, then the bit stream).
    pub data: Vec<u8>,
}

impl StorageSeries {
    /// A series with decoded samples.
    pub fn from_samples(labels: Labels, samples: Vec<Sample>) -> Self {
        Self {
            labels,
            data: SeriesData::Samples(samples),
            histograms: Vec::new(),
        }
    }

    /// A series with encoded chunks.
    pub fn from_chunks(labels: Labels, chunks: Vec<EncodedChunk>) -> Self {
        Self {
            labels,
            data: SeriesData::Xor(chunks),
            histograms: Vec::new(),
        }
    }

    /// The histogram samples in `[start, end]`.
    pub fn histograms_in(&self, start: i64, end: i64) -> &[HistogramSample] {
        let h = &self.histograms;
        let lo = h.partition_point(|x| x.t < start);
        let hi = h.partition_point(|x| x.t <= end);
        &h[lo..hi.max(lo)]
    }

    /// The samples in `[start, end]` in order, decoded while they are read, so a
    /// forward scan (an instant selector stepping through time) holds none of them.
    /// Call [`SampleIter::finish`] at the end to learn whether a chunk was corrupt.
    pub fn samples(&self, start: i64, end: i64) -> SampleIter<'_> {
        let state = match &self.data {
            SeriesData::Samples(s) => {
                let lo = s.partition_point(|x| x.t < start);
                let hi = s.partition_point(|x| x.t <= end);
                IterState::Slice(s[lo..hi.max(lo)].iter())
            }
            // Overlapping chunks (the same series from several stores) need sorting.
            SeriesData::Xor(chunks)
                if chunks.windows(2).any(|w| w[1].min_time <= w[0].max_time) =>
            {
                let mut buf = Vec::new();
                match self.decode_into(start, end, &mut buf) {
                    Ok(()) => IterState::Owned(buf.into_iter()),
                    Err(e) => IterState::Failed(Some(e)),
                }
            }
            SeriesData::Xor(chunks) => IterState::Chunks {
                chunks,
                current: None,
                start,
                end,
            },
        };
        SampleIter {
            labels: &self.labels,
            state,
        }
    }

    /// Replaces `out` with the samples in `[start, end]`, sorted and without duplicate
    /// timestamps.
    pub fn decode_into(
        &self,
        start: i64,
        end: i64,
        out: &mut Vec<Sample>,
    ) -> Result<(), StorageError> {
        out.clear();
        match &self.data {
            SeriesData::Samples(s) => {
                let lo = s.partition_point(|x| x.t < start);
                let hi = s.partition_point(|x| x.t <= end);
                out.extend_from_slice(&s[lo..hi.max(lo)]);
            }
            SeriesData::Xor(chunks) => {
                let mut sorted = true;
                for c in chunks {
                    if c.max_time < start || c.min_time > end {
                        continue;
                    }
                    let mut it = cairn_chunk::XorIter::new(&c.data);
                    for s in it.by_ref() {
                        if s.t < start {
                            continue;
                        }
                        if s.t > end {
                            break;
                        }
                        if out.last().is_some_and(|last| last.t >= s.t) {
                            sorted = false;
                        }
                        out.push(s);
                    }
                    if let Some(e) = it.err() {
                        return Err(StorageError::permanent(format!(
                            "series {}: corrupt chunk: {e}",
                            self.labels
                        )));
                    }
                }
                if !sorted {
                    // Stable, so the first chunk's sample wins a duplicate timestamp.
                    out.sort_by_key(|s| s.t);
                    out.dedup_by_key(|s| s.t);
                }
            }
        }
        Ok(())
    }
}

/// See [`StorageSeries::samples`].
#[derive(Debug)]
pub struct SampleIter<'a> {
    labels: &'a Labels,
    state: IterState<'a>,
}

#[derive(Debug)]
enum IterState<'a> {
    Slice(std::slice::Iter<'a, Sample>),
    Owned(std::vec::IntoIter<Sample>),
    Chunks {
        chunks: &'a [EncodedChunk],
        current: Option<cairn_chunk::XorIter<'a>>,
        start: i64,
        end: i64,
    },
    Failed(Option<StorageError>),
}

impl SampleIter<'_> {
    /// Whether reading went well; an error if a chunk turned out corrupt.
    pub fn finish(self) -> Result<(), StorageError> {
        match self.state {
            IterState::Failed(Some(e)) => Err(e),
            IterState::Chunks {
                current: Some(it), ..
            } => match it.err() {
                Some(e) => Err(StorageError::permanent(format!(
                    "series {}: corrupt chunk: {e}",
                    self.labels
                ))),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

impl Iterator for SampleIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        match &mut self.state {
            IterState::Slice(it) => it.next().copied(),
            IterState::Owned(it) => it.next(),
            IterState::Failed(_) => None,
            IterState::Chunks {
                chunks,
                current,
                start,
                end,
            } => loop {
                if let Some(it) = current {
                    for s in it.by_ref() {
                        if s.t < *start {
                            continue;
                        }
                        if s.t > *end {
                            break;
                        }
                        return Some(s);
                    }
                    if let Some(e) = it.err() {
                        let e = StorageError::permanent(format!(
                            "series {}: corrupt chunk: {e}",
                            self.labels
                        ));
                        self.state = IterState::Failed(Some(e));
                        return None;
                    }
                }
                let (first, rest) = chunks.split_first()?;
                *chunks = rest;
                if first.max_time < *start || first.min_time > *end {
                    *current = None;
                    continue;
                }
                *current = Some(cairn_chunk::XorIter::new(&first.data));
            },
        }
    }
}

/// Puts `sample` into `into` (sorted by timestamp), replacing one at the same timestamp,
/// and removes the sample of the other kind at that timestamp from `other`: a series has
/// a float or a histogram at a time, never both.
fn put_replacing<T, U>(
    into: &mut Vec<T>,
    other: &mut Vec<U>,
    sample: T,
    t: impl Fn(&T) -> i64,
    other_t: impl Fn(&U) -> i64,
) {
    let ts = t(&sample);
    if let Ok(i) = other.binary_search_by_key(&ts, other_t) {
        other.remove(i);
    }
    match into.binary_search_by_key(&ts, t) {
        Ok(i) => into[i] = sample,
        Err(i) => into.insert(i, sample),
    }
}

/// The answer to a [`SelectRequest`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelectResult {
    /// Matching series sorted by labels.
    pub series: Vec<StorageSeries>,
    /// Non-fatal problems (e.g. a partial response), passed on to the query result.
    pub warnings: Vec<String>,
}

/// A [`Storage`] over series held in memory; used by tests and the promqltest runner.
#[derive(Debug, Clone, Default)]
pub struct InMemoryStorage {
    series: Vec<(Labels, Vec<Sample>, Vec<HistogramSample>)>,
}

impl InMemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples to the series with `labels` (creating it), keeping samples sorted by
    /// timestamp; a sample at an existing timestamp replaces the old one.
    pub fn add(&mut self, labels: Labels, samples: impl IntoIterator<Item = Sample>) {
        let idx = self.series_index(labels);
        let (_, floats, hists) = &mut self.series[idx];
        for sample in samples {
            put_replacing(floats, hists, sample, |s| s.t, |h| h.t);
        }
    }

    /// Adds native-histogram samples like [`InMemoryStorage::add`] adds floats; a
    /// histogram replaces a float at the same timestamp and the other way round.
    pub fn add_histograms(
        &mut self,
        labels: Labels,
        samples: impl IntoIterator<Item = HistogramSample>,
    ) {
        let idx = self.series_index(labels);
        let (_, floats, hists) = &mut self.series[idx];
        for sample in samples {
            put_replacing(hists, floats, sample, |h| h.t, |s| s.t);
        }
    }

    fn series_index(&mut self, labels: Labels) -> usize {
        match self.series.binary_search_by(|s| s.0.cmp(&labels)) {
            Ok(i) => i,
            Err(i) => {
                self.series.insert(i, (labels, Vec::new(), Vec::new()));
                i
            }
        }
    }

    /// Removes every series.
    pub fn clear(&mut self) {
        self.series.clear();
    }

    /// All series with their float and histogram samples, sorted by labels.
    pub fn series(&self) -> &[(Labels, Vec<Sample>, Vec<HistogramSample>)] {
        &self.series
    }
}

#[async_trait]
impl Storage for InMemoryStorage {
    async fn select(&self, req: &SelectRequest) -> Result<SelectResult, StorageError> {
        let series = self
            .series
            .iter()
            .filter(|(labels, _, _)| {
                req.matchers
                    .iter()
                    .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
            })
            .filter_map(|(labels, samples, hists)| {
                let lo = samples.partition_point(|x| x.t < req.start);
                let hi = samples.partition_point(|x| x.t <= req.end);
                let mut s =
                    StorageSeries::from_samples(labels.clone(), samples[lo..hi.max(lo)].to_vec());
                let lo = hists.partition_point(|x| x.t < req.start);
                let hi = hists.partition_point(|x| x.t <= req.end);
                s.histograms = hists[lo..hi.max(lo)].to_vec();
                let has_floats = !matches!(&s.data, SeriesData::Samples(v) if v.is_empty());
                (has_floats || !s.histograms.is_empty()).then_some(s)
            })
            .collect();
        Ok(SelectResult {
            series,
            warnings: Vec::new(),
        })
    }
}
