use std::sync::Arc;

use async_trait::async_trait;
use cairn_model::TenantId;
use cairn_promql::{
    EncodedChunk, SelectRequest, SelectResult, SeriesData, Storage, StorageError, StorageSeries,
};
use cairn_storeapi::{merge_sorted, RawSeries, SeriesQuery, StoreApiError, StoreClient};
use futures::future::join_all;

/// Reads one tenant's data from every store: the querier's [`Storage`] for PromQL and
/// the source for the series and label endpoints.
#[derive(Debug, Clone)]
pub struct FanoutStorage {
    stores: Arc<Vec<StoreClient>>,
    partial_response: bool,
    tenant: TenantId,
}

/// Results from every store that answered, plus one warning per store that did not.
struct Gathered<T> {
    results: Vec<T>,
    warnings: Vec<String>,
}

impl FanoutStorage {
    /// A view of `stores` for `tenant`. With `partial_response`, a failing store turns
    /// into a warning; without it, into an error.
    pub fn new(stores: Arc<Vec<StoreClient>>, partial_response: bool, tenant: TenantId) -> Self {
        Self {
            stores,
            partial_response,
            tenant,
        }
    }

    async fn gather<'a, T, F, Fut>(&'a self, call: F) -> Result<Gathered<T>, StorageError>
    where
        F: Fn(&'a StoreClient) -> Fut,
        Fut: std::future::Future<Output = Result<(T, Vec<String>), StoreApiError>>,
    {
        let answers = join_all(self.stores.iter().map(call)).await;
        let mut gathered = Gathered {
            results: Vec::with_capacity(answers.len()),
            warnings: Vec::new(),
        };
        for answer in answers {
            match answer {
                Ok((result, warnings)) => {
                    gathered.results.push(result);
                    gathered.warnings.extend(warnings);
                }
                Err(e) if self.partial_response => gathered.warnings.push(e.to_string()),
                Err(e) => return Err(StorageError::retryable(e.to_string())),
            }
        }
        if gathered.results.is_empty() && !self.stores.is_empty() {
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
        let g = self.gather(|s| s.series(&self.tenant, query)).await?;
        Ok((merge_sorted(g.results), g.warnings))
    }

    /// Sorted union of label names from every store.
    pub async fn label_names(
        &self,
        query: &SeriesQuery,
    ) -> Result<(Vec<String>, Vec<String>), StorageError> {
        let g = self.gather(|s| s.label_names(&self.tenant, query)).await?;
        Ok((sorted_union(g.results), g.warnings))
    }

    /// Sorted union of one label's values from every store.
    pub async fn label_values(
        &self,
        name: &str,
        query: &SeriesQuery,
    ) -> Result<(Vec<String>, Vec<String>), StorageError> {
        let g = self
            .gather(|s| s.label_values(&self.tenant, name, query))
            .await?;
        Ok((sorted_union(g.results), g.warnings))
    }
}

fn sorted_union(lists: Vec<Vec<String>>) -> Vec<String> {
    let mut all: Vec<String> = lists.into_iter().flatten().collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// A merged series with its chunks that overlap `[start, end]`, still encoded: the
/// engine decodes one series at a time while it evaluates (and resolves samples that
/// several stores' chunks share).
fn chunked_series(series: RawSeries, start: i64, end: i64) -> StorageSeries {
    let chunks = series
        .chunks
        .into_iter()
        .filter(|c| c.max_time >= start && c.min_time <= end)
        .map(|c| EncodedChunk {
            min_time: c.min_time,
            max_time: c.max_time,
            data: c.data,
        })
        .collect();
    StorageSeries::from_chunks(series.labels, chunks)
}

#[async_trait]
impl Storage for FanoutStorage {
    async fn select(&self, req: &SelectRequest) -> Result<SelectResult, StorageError> {
        let query = SeriesQuery {
            matchers: req.matchers.clone(),
            min_time: req.start,
            max_time: req.end,
            skip_chunks: false,
        };
        let (raw, warnings) = self.raw_series(&query).await?;
        let series = raw
            .into_iter()
            .map(|s| chunked_series(s, req.start, req.end))
            .filter(|s| matches!(&s.data, SeriesData::Xor(c) if !c.is_empty()))
            .collect();
        Ok(SelectResult { series, warnings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_chunk::XorChunk;
    use cairn_model::Labels;
    use cairn_storeapi::RawChunk;

    fn chunk(points: &[(i64, f64)]) -> RawChunk {
        let mut c = XorChunk::new();
        for &(t, v) in points {
            c.append(t, v);
        }
        RawChunk {
            min_time: points[0].0,
            max_time: points[points.len() - 1].0,
            data: c.bytes().to_vec(),
        }
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
            .decode_into(15, 40, &mut decoded)
            .unwrap();
        let times: Vec<i64> = decoded.iter().map(|s| s.t).collect();
        assert_eq!(times, [20, 30, 40]);
    }

    #[test]
    fn a_corrupt_chunk_is_an_error_not_a_panic() {
        let series = RawSeries {
            labels: Labels::from_pairs([("__name__", "up")]),
            chunks: vec![RawChunk {
                min_time: 0,
                max_time: 10,
                data: vec![0, 5, 1],
            }],
        };
        assert!(chunked_series(series, 0, 10)
            .decode_into(0, 10, &mut Vec::new())
            .is_err());
    }
}
