use async_trait::async_trait;
use cairn_model::TenantId;
use cairn_promql::{
    EncodedChunk, SelectRequest, SelectResult, SeriesData, Storage, StorageError, StorageSeries,
};
use cairn_storeapi::{
    merge_sorted, sorted_union, MetricMetadataMap, RawChunk, RawSeries, SeriesQuery, StoreApiError,
    StoreClient,
};
use futures::future::join_all;

use crate::decode::{decode_histograms, decode_series, ReadMode};
use crate::dedup::{dedup_group, ReplicaLabels};
use crate::StoreSet;

/// Reads one tenant's data from every store: the querier's [`Storage`] for PromQL and
/// the source for the series and label endpoints.
#[derive(Debug, Clone)]
pub struct FanoutStorage {
    stores: StoreSet,
    partial_response: bool,
    tenant: TenantId,
    max_resolution_ms: i64,
    replica_labels: ReplicaLabels,
}

/// Results from every store that answered, plus one warning per store that did not.
struct Gathered<T> {
    results: Vec<T>,
    warnings: Vec<String>,
}

impl FanoutStorage {
    /// A view of `stores` for `tenant`. With `partial_response`, a failing store turns
    /// into a warning; without it, into an error.
    pub fn new(stores: StoreSet, partial_response: bool, tenant: TenantId) -> Self {
        Self {
            stores,
            partial_response,
            tenant,
            max_resolution_ms: 0,
            replica_labels: ReplicaLabels::off(),
        }
    }

    /// Deduplicates series that differ only in `labels` (replicas of an HA pair) into
    /// one series without them; [`ReplicaLabels::off`] keeps every replica.
    pub fn with_replica_labels(mut self, labels: ReplicaLabels) -> Self {
        self.replica_labels = labels;
        self
    }

    /// The replica labels this view deduplicates by.
    pub fn replica_labels(&self) -> &ReplicaLabels {
        &self.replica_labels
    }

    /// Lets PromQL read downsampled data up to `ms` of resolution (0: raw only).
    pub fn with_max_resolution(mut self, ms: i64) -> Self {
        self.max_resolution_ms = ms.max(0);
        self
    }

    /// Asks every store that may hold data in `[mint, maxt]`, in parallel.
    async fn gather<'a, T, F, Fut>(
        &'a self,
        mint: i64,
        maxt: i64,
        call: F,
    ) -> Result<Gathered<T>, StorageError>
    where
        F: Fn(&'a StoreClient) -> Fut,
        Fut: std::future::Future<Output = Result<(T, Vec<String>), StoreApiError>>,
    {
        let call = &call;
        let answers = join_all((0..self.stores.len()).map(|i| async move {
            if !self.stores.may_hold(i, mint, maxt).await {
                return None;
            }
            Some((i, call(self.stores.client(i)).await))
        }))
        .await;
        let mut gathered = Gathered {
            results: Vec::with_capacity(answers.len()),
            warnings: Vec::new(),
        };
        let mut failures = Vec::new();
        for (i, answer) in answers.into_iter().flatten() {
            match answer {
                Ok((result, warnings)) => {
                    gathered.results.push(result);
                    gathered.warnings.extend(warnings);
                }
                Err(e) => failures.push((i, e)),
            }
        }
        // Replication covers for a few failed ingesters: their data is complete on the
        // others, so the answer needs no warning (and is no partial response).
        let failed_ingesters = failures
            .iter()
            .filter(|(i, _)| self.stores.is_ingester(*i))
            .count();
        if failed_ingesters > 0 && failed_ingesters <= self.stores.tolerated_ingester_failures() {
            failures.retain(|(i, e)| {
                let covered = self.stores.is_ingester(*i);
                if covered {
                    tracing::debug!(
                        store = self.stores.client(*i).addr(),
                        error = %e,
                        "ingester failed; replication covers its data"
                    );
                }
                !covered
            });
        }
        let failed = failures.len();
        for (_, e) in failures {
            if !self.partial_response {
                return Err(StorageError::retryable(format!(
                    "{e} (partial responses are disabled; enable them with \
                     partial_response=true or query.partial_response to get the \
                     other stores' data with a warning)"
                )));
            }
            gathered.warnings.push(e.to_string());
        }
        if gathered.results.is_empty() && failed > 0 {
            return Err(StorageError::retryable(format!(
                "no store answered: {}",
                gathered.warnings.join("; ")
            )));
        }
        Ok(gathered)
    }

    /// Merged series (labels only when `skip_chunks`) from every store.
    pub async fn raw_series(
        &self,
        query: &SeriesQuery,
    ) -> Result<(Vec<RawSeries>, Vec<String>), StorageError> {
        let g = self
            .gather(query.min_time, query.max_time, |s| {
                s.series(&self.tenant, query)
            })
            .await?;
        Ok((merge_sorted(g.results), g.warnings))
    }

    /// Sorted union of label names from every store.
    pub async fn label_names(
        &self,
        query: &SeriesQuery,
    ) -> Result<(Vec<String>, Vec<String>), StorageError> {
        let g = self
            .gather(query.min_time, query.max_time, |s| {
                s.label_names(&self.tenant, query)
            })
            .await?;
        let mut names = sorted_union(g.results);
        names.retain(|n| !self.replica_labels.contains(n));
        Ok((names, g.warnings))
    }

    /// Metric metadata from every store that serves it, merged by family.
    pub async fn metric_metadata(
        &self,
        metric: &str,
        limit: i32,
    ) -> Result<(MetricMetadataMap, Vec<String>), StorageError> {
        let g = self
            .gather(i64::MIN, i64::MAX, |s| {
                s.metric_metadata(&self.tenant, metric, limit)
            })
            .await?;
        let mut merged = MetricMetadataMap::new();
        for found in g.results {
            for (family, metas) in found {
                merged.entry(family).or_default().extend(metas);
            }
        }
        Ok((merged, g.warnings))
    }

    /// Sorted union of one label's values from every store.
    pub async fn label_values(
        &self,
        name: &str,
        query: &SeriesQuery,
    ) -> Result<(Vec<String>, Vec<String>), StorageError> {
        if self.replica_labels.contains(name) {
            // Deduplicated series have no replica labels, so no values either.
            return Ok((Vec::new(), Vec::new()));
        }
        let g = self
            .gather(query.min_time, query.max_time, |s| {
                s.label_values(&self.tenant, name, query)
            })
            .await?;
        Ok((sorted_union(g.results), g.warnings))
    }
}

/// A merged series with its chunks that overlap `[start, end]`, still encoded: the
/// engine decodes one series at a time while it evaluates (and resolves samples that
/// several stores' chunks share).
fn chunked_series(series: RawSeries, start: i64, end: i64) -> Result<StorageSeries, StorageError> {
    let histograms = decode_histograms(&series, start, end)?;
    let chunks = series
        .chunks
        .into_iter()
        .filter(|c| c.max_time >= start && c.min_time <= end && !c.encoding.is_histogram())
        .map(|c| EncodedChunk {
            min_time: c.min_time,
            max_time: c.max_time,
            data: c.data,
        })
        .collect();
    let mut out = StorageSeries::from_chunks(series.labels, chunks);
    out.histograms = histograms;
    Ok(out)
}

impl FanoutStorage {
    /// One series as the engine reads it: downsampled aggregates decoded into samples as
    /// `mode` says, raw chunks passed on still encoded.
    fn one_series(
        &self,
        s: RawSeries,
        req: &SelectRequest,
        mode: ReadMode,
    ) -> Result<StorageSeries, StorageError> {
        let in_range = |c: &&RawChunk| c.max_time >= req.start && c.min_time <= req.end;
        if s.chunks.iter().filter(in_range).any(|c| c.is_downsampled()) {
            decode_series(s, req.start, req.end, mode)
        } else {
            chunked_series(s, req.start, req.end)
        }
    }
}

#[async_trait]
impl Storage for FanoutStorage {
    async fn select(&self, req: &SelectRequest) -> Result<SelectResult, StorageError> {
        // Downsampled chunks carry aggregates instead of samples; which one stands in
        // for the samples depends on the function reading them.
        let mode = ReadMode::for_function(req.hints.func.as_deref());
        let query = SeriesQuery {
            max_resolution_ms: self.max_resolution_ms,
            aggregates: if self.max_resolution_ms > 0 {
                mode.aggregates()
            } else {
                Vec::new()
            },
            ..SeriesQuery::new(req.matchers.clone(), req.start, req.end)
        };
        let (raw, warnings) = self.raw_series(&query).await?;
        let mut series = Vec::with_capacity(raw.len());
        let keep = |s: StorageSeries, out: &mut Vec<StorageSeries>| {
            let empty = s.histograms.is_empty()
                && match &s.data {
                    SeriesData::Samples(v) => v.is_empty(),
                    SeriesData::Xor(c) => c.is_empty(),
                };
            if !empty {
                out.push(s);
            }
        };
        if !self.replica_labels.enabled() {
            for s in raw {
                keep(self.one_series(s, req, mode)?, &mut series);
            }
        } else {
            for (labels, replicas) in self.replica_labels.group(raw) {
                let s = match <[RawSeries; 1]>::try_from(replicas) {
                    // Not replicated: only the replica labels go, chunks stay encoded.
                    Ok([mut only]) => {
                        only.labels = labels;
                        self.one_series(only, req, mode)?
                    }
                    Err(replicas) => dedup_group(labels, replicas, req.start, req.end, mode)?,
                };
                keep(s, &mut series);
            }
        }
        Ok(SelectResult { series, warnings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_chunk::XorChunk;
    use cairn_model::Labels;

    fn chunk(points: &[(i64, f64)]) -> RawChunk {
        let mut c = XorChunk::new();
        for &(t, v) in points {
            c.append(t, v);
        }
        RawChunk::xor(points[0].0, points[points.len() - 1].0, c.bytes().to_vec())
    }

    #[test]
    fn overlapping_chunks_of_one_series_are_merged_without_double_counting() {
        let series = RawSeries {
            labels: Labels::from_pairs([("__name__", "up")]),
            chunks: vec![
                chunk(&[(10, 1.0), (20, 2.0), (30, 3.0)]),
                chunk(&[(20, 2.0), (30, 3.0), (40, 4.0)]),
            ],
        };
        let mut decoded = Vec::new();
        chunked_series(series, 15, 40)
            .unwrap()
            .decode_into(15, 40, &mut decoded)
            .unwrap();
        let times: Vec<i64> = decoded.iter().map(|s| s.t).collect();
        assert_eq!(times, [20, 30, 40]);
    }

    #[test]
    fn a_corrupt_chunk_is_an_error_not_a_panic() {
        let series = RawSeries {
            labels: Labels::from_pairs([("__name__", "up")]),
            chunks: vec![RawChunk::xor(0, 10, vec![0, 5, 1])],
        };
        assert!(chunked_series(series, 0, 10)
            .unwrap()
            .decode_into(0, 10, &mut Vec::new())
            .is_err());
        // A histogram chunk is decoded right away: its corruption is found there.
        let series = RawSeries {
            labels: Labels::from_pairs([("__name__", "h")]),
            chunks: vec![RawChunk::raw(
                cairn_chunk::Encoding::FloatHistogram,
                0,
                10,
                vec![0, 5, 0],
            )],
        };
        let err = chunked_series(series, 0, 10).unwrap_err();
        assert!(err.to_string().contains("corrupt chunk"), "{err}");
    }

    #[test]
    fn histogram_chunks_become_histograms_once_per_timestamp() {
        use cairn_model::{FloatHistogram, HistogramSample};
        let hist_chunk = |ts: &[i64]| {
            let samples = ts.iter().map(|&t| {
                let h = FloatHistogram {
                    count: t as f64,
                    sum: 1.0,
                    ..Default::default()
                };
                cairn_chunk::ChunkSample::Histogram(HistogramSample::new(t, h))
            });
            let e = cairn_chunk::encode_samples(samples, 120).remove(0);
            RawChunk::raw(e.encoding, e.min_t, e.max_t, e.bytes)
        };
        let series = RawSeries {
            labels: Labels::from_pairs([("__name__", "h")]),
            chunks: vec![
                hist_chunk(&[10, 20, 30]),
                hist_chunk(&[20, 30, 40]),
                chunk(&[(50, 1.0)]),
            ],
        };
        let s = chunked_series(series, 15, 60).unwrap();
        let times: Vec<i64> = s.histograms.iter().map(|h| h.t).collect();
        assert_eq!(times, [20, 30, 40]);
        let mut floats = Vec::new();
        s.decode_into(15, 60, &mut floats).unwrap();
        assert_eq!(floats.len(), 1, "the float chunk stays a float chunk");
    }
}
