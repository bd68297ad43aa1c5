use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use cairn_model::TenantId;
use cairn_proto::channel::MAX_MESSAGE_BYTES;
use cairn_proto::thanos;
use cairn_proto::thanos::info as infopb;
use futures::Stream;
use tonic::{Request, Response, Status};

use crate::convert::{aggregates_from_proto, chunk_to_proto, labels_to_proto, matchers_from_proto};
use crate::{merge_sorted, RawSeries, SeriesQuery, StoreApiError, StoreInfo};

/// The gRPC metadata entry that carries the tenant, as in Thanos.
pub const TENANT_METADATA_KEY: &str = "thanos-tenant";

/// A source of series that can be served over the StoreAPI.
#[async_trait]
pub trait StoreBackend: Send + Sync + 'static {
    /// Series of `tenant` matching the query, sorted by labels, one entry per series.
    async fn series(
        &self,
        tenant: &TenantId,
        query: &SeriesQuery,
    ) -> Result<Vec<RawSeries>, StoreApiError>;

    /// Sorted, unique label names of matching series (all series without matchers).
    async fn label_names(
        &self,
        tenant: &TenantId,
        query: &SeriesQuery,
    ) -> Result<Vec<String>, StoreApiError>;

    /// Sorted, unique values of label `name` across matching series.
    async fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        query: &SeriesQuery,
    ) -> Result<Vec<String>, StoreApiError>;

    /// Time range and identity for the Info API.
    fn info(&self) -> StoreInfo;
}

/// Serves a [`StoreBackend`] as `thanos.Store` and `thanos.info.Info`.
#[derive(Debug)]
pub struct StoreService<B> {
    backend: Arc<B>,
    default_tenant: TenantId,
}

impl<B> Clone for StoreService<B> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            default_tenant: self.default_tenant.clone(),
        }
    }
}

impl<B: StoreBackend> StoreService<B> {
    /// Requests without `thanos-tenant` metadata read `default_tenant`.
    pub fn new(backend: Arc<B>, default_tenant: TenantId) -> Self {
        Self {
            backend,
            default_tenant,
        }
    }

    /// The `thanos.Store` gRPC service.
    pub fn store_server(&self) -> thanos::store_server::StoreServer<Self> {
        thanos::store_server::StoreServer::new(self.clone())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    /// The `thanos.info.Info` gRPC service.
    pub fn info_server(&self) -> infopb::info_server::InfoServer<Self> {
        infopb::info_server::InfoServer::new(self.clone())
    }

    fn tenant<T>(&self, req: &Request<T>) -> Result<TenantId, Status> {
        match req.metadata().get(TENANT_METADATA_KEY) {
            None => Ok(self.default_tenant.clone()),
            Some(v) => {
                let s = v.to_str().map_err(|_| {
                    StoreApiError::InvalidTenant("tenant metadata is not ascii".into()).to_status()
                })?;
                TenantId::new(s)
                    .map_err(|e| StoreApiError::InvalidTenant(e.to_string()).to_status())
            }
        }
    }
}

/// `start == end == 0` means "no time restriction", as older Thanos clients send.
fn time_range(start: i64, end: i64) -> (i64, i64) {
    if start == 0 && end == 0 {
        (i64::MIN, i64::MAX)
    } else {
        (start, end)
    }
}

/// Drops replica labels and restores sort order, combining series that became equal.
fn without_labels(series: Vec<RawSeries>, names: &[String]) -> Vec<RawSeries> {
    if names.is_empty() {
        return series;
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut stripped: Vec<RawSeries> = series
        .into_iter()
        .map(|s| RawSeries {
            labels: s.labels.without(&names),
            chunks: s.chunks,
        })
        .collect();
    stripped.sort_by(|a, b| a.labels.cmp(&b.labels));
    merge_sorted(vec![stripped])
}

type SeriesStream = Pin<Box<dyn Stream<Item = Result<thanos::SeriesResponse, Status>> + Send>>;

#[async_trait]
impl<B: StoreBackend> thanos::store_server::Store for StoreService<B> {
    type SeriesStream = SeriesStream;

    async fn series(
        &self,
        request: Request<thanos::SeriesRequest>,
    ) -> Result<Response<Self::SeriesStream>, Status> {
        let tenant = self.tenant(&request)?;
        let req = request.into_inner();
        let query = SeriesQuery {
            matchers: matchers_from_proto(&req.matchers).map_err(|e| e.to_status())?,
            min_time: req.min_time,
            max_time: req.max_time,
            skip_chunks: req.skip_chunks,
            max_resolution_ms: req.max_resolution_window.max(0),
            aggregates: aggregates_from_proto(&req.aggregates),
        };
        let series = self
            .backend
            .series(&tenant, &query)
            .await
            .map_err(|e| e.to_status())?;
        let series = without_labels(series, &req.without_replica_labels);
        let limit = usize::try_from(req.limit).ok().filter(|l| *l > 0);
        let skip_chunks = req.skip_chunks;
        let aggregates = query.aggregates;
        let responses = series
            .into_iter()
            .take(limit.unwrap_or(usize::MAX))
            .map(move |s| Ok(series_response(s, skip_chunks, &aggregates)));
        Ok(Response::new(Box::pin(futures::stream::iter(responses))))
    }

    async fn label_names(
        &self,
        request: Request<thanos::LabelNamesRequest>,
    ) -> Result<Response<thanos::LabelNamesResponse>, Status> {
        let tenant = self.tenant(&request)?;
        let req = request.into_inner();
        let (min_time, max_time) = time_range(req.start, req.end);
        let query = SeriesQuery {
            matchers: matchers_from_proto(&req.matchers).map_err(|e| e.to_status())?,
            skip_chunks: true,
            ..SeriesQuery::new(Vec::new(), min_time, max_time)
        };
        let mut names = self
            .backend
            .label_names(&tenant, &query)
            .await
            .map_err(|e| e.to_status())?;
        names.retain(|n| !req.without_replica_labels.contains(n));
        truncate_to_limit(&mut names, req.limit);
        Ok(Response::new(thanos::LabelNamesResponse {
            names,
            warnings: vec![],
            hints: None,
        }))
    }

    async fn label_values(
        &self,
        request: Request<thanos::LabelValuesRequest>,
    ) -> Result<Response<thanos::LabelValuesResponse>, Status> {
        let tenant = self.tenant(&request)?;
        let req = request.into_inner();
        if req.label.is_empty() {
            return Err(StoreApiError::InvalidRequest("label name is empty".into()).to_status());
        }
        let (min_time, max_time) = time_range(req.start, req.end);
        let query = SeriesQuery {
            matchers: matchers_from_proto(&req.matchers).map_err(|e| e.to_status())?,
            skip_chunks: true,
            ..SeriesQuery::new(Vec::new(), min_time, max_time)
        };
        let mut values = if req.without_replica_labels.contains(&req.label) {
            vec![]
        } else {
            self.backend
                .label_values(&tenant, &req.label, &query)
                .await
                .map_err(|e| e.to_status())?
        };
        truncate_to_limit(&mut values, req.limit);
        Ok(Response::new(thanos::LabelValuesResponse {
            values,
            warnings: vec![],
            hints: None,
        }))
    }
}

fn truncate_to_limit(v: &mut Vec<String>, limit: i64) {
    if let Ok(limit) = usize::try_from(limit) {
        if limit > 0 {
            v.truncate(limit);
        }
    }
}

/// Downsampled chunks carry only the `aggregates` asked for (all when none were).
fn series_response(
    s: RawSeries,
    skip_chunks: bool,
    aggregates: &[crate::Aggregate],
) -> thanos::SeriesResponse {
    let chunks = if skip_chunks {
        vec![]
    } else {
        s.chunks
            .into_iter()
            .map(|mut c| {
                if let Some(a) = &mut c.aggregates {
                    a.retain(aggregates);
                }
                chunk_to_proto(c)
            })
            .collect()
    };
    thanos::SeriesResponse {
        result: Some(thanos::series_response::Result::Series(thanos::Series {
            labels: labels_to_proto(&s.labels),
            chunks,
        })),
    }
}

#[async_trait]
impl<B: StoreBackend> infopb::info_server::Info for StoreService<B> {
    async fn info(
        &self,
        _request: Request<infopb::InfoRequest>,
    ) -> Result<Response<infopb::InfoResponse>, Status> {
        let info = self.backend.info();
        let label_sets: Vec<thanos::ZLabelSet> = info
            .label_sets
            .iter()
            .map(|l| thanos::ZLabelSet {
                labels: labels_to_proto(l),
            })
            .collect();
        Ok(Response::new(infopb::InfoResponse {
            label_sets,
            component_type: info.component_type.to_owned(),
            store: Some(infopb::StoreInfo {
                min_time: info.min_time,
                max_time: info.max_time,
                supports_sharding: false,
                supports_without_replica_labels: true,
                tsdb_infos: vec![],
            }),
            ..Default::default()
        }))
    }
}
