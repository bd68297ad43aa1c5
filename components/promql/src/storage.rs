//! The storage interface the engine reads from, and a simple in-memory implementation.

use async_trait::async_trait;
use cairn_model::{Labels, Matcher, Sample};

use crate::error::StorageError;

/// Where the engine reads data. Implemented by the querier (StoreAPI fan-out) and by
/// [`InMemoryStorage`] for tests.
#[async_trait]
pub trait Storage: Send + Sync {
    /// Returns every series matching all of `req.matchers` with its samples in
    /// `[req.start, req.end]` (both inclusive). Series must be sorted by labels and
    /// samples by timestamp; series without samples in the range may be omitted.
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
    /// Samples sorted by timestamp (may include staleness markers).
    pub samples: Vec<Sample>,
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
    series: Vec<StorageSeries>,
}

impl InMemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds samples to the series with `labels` (creating it), keeping samples sorted by
    /// timestamp; a sample at an existing timestamp replaces the old one.
    pub fn add(&mut self, labels: Labels, samples: impl IntoIterator<Item = Sample>) {
        let idx = match self.series.binary_search_by(|s| s.labels.cmp(&labels)) {
            Ok(i) => i,
            Err(i) => {
                self.series.insert(
                    i,
                    StorageSeries {
                        labels,
                        samples: Vec::new(),
                    },
                );
                i
            }
        };
        let s = &mut self.series[idx].samples;
        for sample in samples {
            match s.binary_search_by_key(&sample.t, |x| x.t) {
                Ok(i) => s[i] = sample,
                Err(i) => s.insert(i, sample),
            }
        }
    }

    /// Removes every series.
    pub fn clear(&mut self) {
        self.series.clear();
    }

    /// All series, sorted by labels.
    pub fn series(&self) -> &[StorageSeries] {
        &self.series
    }
}

#[async_trait]
impl Storage for InMemoryStorage {
    async fn select(&self, req: &SelectRequest) -> Result<SelectResult, StorageError> {
        let series = self
            .series
            .iter()
            .filter(|s| {
                req.matchers
                    .iter()
                    .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
            })
            .filter_map(|s| {
                let lo = s.samples.partition_point(|x| x.t < req.start);
                let hi = s.samples.partition_point(|x| x.t <= req.end);
                (lo < hi).then(|| StorageSeries {
                    labels: s.labels.clone(),
                    samples: s.samples[lo..hi].to_vec(),
                })
            })
            .collect();
        Ok(SelectResult {
            series,
            warnings: Vec::new(),
        })
    }
}
