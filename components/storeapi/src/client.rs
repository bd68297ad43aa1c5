use std::time::Duration;

use cairn_model::TenantId;
use cairn_proto::channel::{lazy_channel, MAX_MESSAGE_BYTES};
use cairn_proto::thanos;
use cairn_proto::thanos::info as infopb;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

use crate::convert::{aggregates_to_proto, chunk_from_proto, labels_from_proto, matchers_to_proto};
use crate::{RawSeries, SeriesQuery, StoreApiError, StoreInfo, TENANT_METADATA_KEY};

/// A StoreAPI endpoint the querier reads from. Cheap to clone; connects lazily.
#[derive(Debug, Clone)]
pub struct StoreClient {
    addr: String,
    store: thanos::store_client::StoreClient<Channel>,
    info: infopb::info_client::InfoClient<Channel>,
    metadata: thanos::metadata_client::MetadataClient<Channel>,
}

/// Metric metadata by family name: each distinct `(type, help, unit)`.
pub type MetricMetadataMap =
    std::collections::BTreeMap<String, std::collections::BTreeSet<(String, String, String)>>;

impl StoreClient {
    /// A client for `addr` (`host:port` or a full `http://` URI). No connection is made
    /// until the first call, so a store that starts later is picked up.
    pub fn connect_lazy(addr: &str, timeout: Duration) -> Result<Self, StoreApiError> {
        let channel = lazy_channel(addr, timeout).map_err(|reason| StoreApiError::Connect {
            addr: addr.to_owned(),
            reason,
        })?;
        Ok(Self {
            addr: addr.to_owned(),
            store: thanos::store_client::StoreClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            info: infopb::info_client::InfoClient::new(channel.clone()),
            metadata: thanos::metadata_client::MetadataClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        })
    }

    /// The address this client talks to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn request<T>(&self, tenant: &TenantId, msg: T) -> Result<tonic::Request<T>, StoreApiError> {
        let mut req = tonic::Request::new(msg);
        let value = MetadataValue::try_from(tenant.as_str())
            .map_err(|e| StoreApiError::InvalidTenant(e.to_string()))?;
        req.metadata_mut().insert(TENANT_METADATA_KEY, value);
        Ok(req)
    }

    fn rpc_error(&self, status: tonic::Status) -> StoreApiError {
        StoreApiError::Rpc {
            addr: self.addr.clone(),
            status: Box::new(status),
        }
    }

    /// The Thanos Metadata API: metric metadata for `metric` (all if empty), at most
    /// `limit` families (≤ 0: all), plus warnings. A store without the API (store
    /// gateways, which hold no metadata) answers with nothing.
    pub async fn metric_metadata(
        &self,
        tenant: &TenantId,
        metric: &str,
        limit: i32,
    ) -> Result<(MetricMetadataMap, Vec<String>), StoreApiError> {
        let req = self.request(
            tenant,
            thanos::MetricMetadataRequest {
                metric: metric.to_owned(),
                limit,
                partial_response_strategy: thanos::PartialResponseStrategy::Abort as i32,
            },
        )?;
        let mut stream = match self.metadata.clone().metric_metadata(req).await {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == tonic::Code::Unimplemented => {
                return Ok((MetricMetadataMap::new(), Vec::new()))
            }
            Err(s) => return Err(self.rpc_error(s)),
        };
        let (mut found, mut warnings) = (MetricMetadataMap::new(), Vec::new());
        while let Some(msg) = stream.message().await.map_err(|s| self.rpc_error(s))? {
            match msg.result {
                Some(thanos::metric_metadata_response::Result::Metadata(m)) => {
                    for (family, entry) in m.metadata {
                        found
                            .entry(family)
                            .or_default()
                            .extend(entry.metas.into_iter().map(|m| (m.r#type, m.help, m.unit)));
                    }
                }
                Some(thanos::metric_metadata_response::Result::Warning(w)) => warnings.push(w),
                None => {}
            }
        }
        Ok((found, warnings))
    }

    /// Streams `Series` and collects it: series sorted by labels plus store warnings.
    pub async fn series(
        &self,
        tenant: &TenantId,
        query: &SeriesQuery,
    ) -> Result<(Vec<RawSeries>, Vec<String>), StoreApiError> {
        let req = self.request(
            tenant,
            thanos::SeriesRequest {
                min_time: query.min_time,
                max_time: query.max_time,
                matchers: matchers_to_proto(&query.matchers),
                skip_chunks: query.skip_chunks,
                max_resolution_window: query.max_resolution_ms,
                aggregates: aggregates_to_proto(&query.aggregates),
                partial_response_strategy: thanos::PartialResponseStrategy::Abort as i32,
                ..Default::default()
            },
        )?;
        let mut stream = self
            .store
            .clone()
            .series(req)
            .await
            .map_err(|s| self.rpc_error(s))?
            .into_inner();
        let (mut series, mut warnings) = (Vec::new(), Vec::new());
        while let Some(msg) = stream.message().await.map_err(|s| self.rpc_error(s))? {
            match msg.result {
                Some(thanos::series_response::Result::Series(s)) => {
                    series.push(series_from_proto(s));
                }
                Some(thanos::series_response::Result::Warning(w)) => warnings.push(w),
                Some(thanos::series_response::Result::Hints(_)) | None => {}
            }
        }
        Ok((series, warnings))
    }

    /// Label names of matching series, plus store warnings.
    pub async fn label_names(
        &self,
        tenant: &TenantId,
        query: &SeriesQuery,
    ) -> Result<(Vec<String>, Vec<String>), StoreApiError> {
        let req = self.request(
            tenant,
            thanos::LabelNamesRequest {
                start: query.min_time,
                end: query.max_time,
                matchers: matchers_to_proto(&query.matchers),
                partial_response_strategy: thanos::PartialResponseStrategy::Abort as i32,
                ..Default::default()
            },
        )?;
        let resp = self
            .store
            .clone()
            .label_names(req)
            .await
            .map_err(|s| self.rpc_error(s))?
            .into_inner();
        Ok((resp.names, resp.warnings))
    }

    /// Values of label `name` across matching series, plus store warnings.
    pub async fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        query: &SeriesQuery,
    ) -> Result<(Vec<String>, Vec<String>), StoreApiError> {
        let req = self.request(
            tenant,
            thanos::LabelValuesRequest {
                label: name.to_owned(),
                start: query.min_time,
                end: query.max_time,
                matchers: matchers_to_proto(&query.matchers),
                partial_response_strategy: thanos::PartialResponseStrategy::Abort as i32,
                ..Default::default()
            },
        )?;
        let resp = self
            .store
            .clone()
            .label_values(req)
            .await
            .map_err(|s| self.rpc_error(s))?
            .into_inner();
        Ok((resp.values, resp.warnings))
    }

    /// The store's Info API answer.
    pub async fn info(&self) -> Result<StoreInfo, StoreApiError> {
        let resp = self
            .info
            .clone()
            .info(infopb::InfoRequest {})
            .await
            .map_err(|s| self.rpc_error(s))?
            .into_inner();
        let store = resp.store.unwrap_or_default();
        Ok(StoreInfo {
            component_type: component_type(&resp.component_type),
            min_time: store.min_time,
            max_time: store.max_time,
            label_sets: resp
                .label_sets
                .into_iter()
                .map(|s| labels_from_proto(s.labels))
                .collect(),
        })
    }
}

fn component_type(s: &str) -> &'static str {
    match s {
        "query" => "query",
        "rule" => "rule",
        "sidecar" => "sidecar",
        "store" => "store",
        "receive" => "receive",
        _ => "unknown",
    }
}

fn series_from_proto(s: thanos::Series) -> RawSeries {
    RawSeries {
        labels: labels_from_proto(s.labels),
        chunks: s.chunks.into_iter().filter_map(chunk_from_proto).collect(),
    }
}
