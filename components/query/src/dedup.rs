//! Replica deduplication in the querier: series that differ only in replica labels
//! (an HA pair of Prometheus servers, `replica="A"` / `replica="B"`) become one series
//! without those labels.
//!
//! ```text
//!  merged RawSeries (sorted by full labels, replicas still apart)
//!     │ group by labels without replica labels
//!     ├─ one member: replica labels dropped, chunks passed on still encoded
//!     └─ several: each replica decoded (decode_series) ──▶ cairn_dedup::penalty_merge
//!                 (SeriesKind::Counter when the selector feeds rate/increase/irate/
//!                 resets, else Gauge) ──▶ SeriesData::Samples
//! ```
//!
//! Replica labels are not pushed down (`without_replica_labels`): a store that strips
//! them would hand back the replicas' chunks as one series, and merging those by
//! timestamp interleaves two replicas' counters — the lower-newer-sample spikes of
//! thanos#7623. Keeping replicas apart until here is what makes the merge correct.

use std::collections::BTreeMap;

use cairn_dedup::{penalty_merge, penalty_merge_histograms, SeriesKind};
use cairn_model::{HistogramSample, Labels, Sample};
use cairn_promql::{SeriesData, StorageError, StorageSeries};
use cairn_storeapi::RawSeries;

use crate::decode::{decode_series, ReadMode};

/// Which labels identify replicas for one request; none means no deduplication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaLabels(Vec<String>);

impl ReplicaLabels {
    /// Deduplicate by `names` (empty names are ignored).
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        let mut v: Vec<String> = names.into_iter().filter(|n| !n.is_empty()).collect();
        v.sort_unstable();
        v.dedup();
        Self(v)
    }

    /// No deduplication (`dedup=false`).
    pub fn off() -> Self {
        Self(Vec::new())
    }

    /// Whether series are deduplicated.
    pub fn enabled(&self) -> bool {
        !self.0.is_empty()
    }

    /// Whether `name` is a replica label.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }

    /// `labels` without the replica labels.
    pub fn strip(&self, labels: &Labels) -> Labels {
        if !self.enabled() || !labels.iter().any(|l| self.contains(&l.name)) {
            return labels.clone();
        }
        let names: Vec<&str> = self.0.iter().map(String::as_str).collect();
        labels.without(&names)
    }

    /// Groups merged series into replica sets keyed by their labels without replica
    /// labels, in label order.
    pub(crate) fn group(&self, series: Vec<RawSeries>) -> Vec<(Labels, Vec<RawSeries>)> {
        let mut groups: BTreeMap<Labels, Vec<RawSeries>> = BTreeMap::new();
        for s in series {
            groups.entry(self.strip(&s.labels)).or_default().push(s);
        }
        groups.into_iter().collect()
    }
}

/// One series from the replicas of one group, decoded in `[start, end]` and merged by
/// the penalty algorithm; counters are adjusted at replica switches when `mode` is the
/// one of `rate`, `increase`, `irate` and `resets`.
pub(crate) fn dedup_group(
    labels: Labels,
    replicas: Vec<RawSeries>,
    start: i64,
    end: i64,
    mode: ReadMode,
) -> Result<StorageSeries, StorageError> {
    let mut decoded: Vec<Vec<Sample>> = Vec::with_capacity(replicas.len());
    let mut histograms: Vec<Vec<HistogramSample>> = Vec::with_capacity(replicas.len());
    for r in replicas {
        let s = decode_series(r, start, end, mode)?;
        histograms.push(s.histograms);
        if let SeriesData::Samples(v) = s.data {
            decoded.push(v);
        }
    }
    let slices: Vec<&[Sample]> = decoded.iter().map(Vec::as_slice).collect();
    let kind = if mode == ReadMode::Counter {
        SeriesKind::Counter
    } else {
        SeriesKind::Gauge
    };
    let mut out = StorageSeries::from_samples(labels, penalty_merge(&slices, kind));
    let histograms: Vec<&[HistogramSample]> = histograms.iter().map(Vec::as_slice).collect();
    out.histograms = penalty_merge_histograms(&histograms);
    Ok(out)
}

#[cfg(test)]
mod tests;
