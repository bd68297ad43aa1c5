use std::sync::Arc;

use cairn_model::TenantId;
use cairn_proto::cairn::ingest::v1::{ingester_server, PushRequest, PushResponse, Rejection};
use cairn_proto::channel::MAX_MESSAGE_BYTES;
use cairn_proto::thanos::{
    metadata_server, metric_metadata_response, Meta, MetricMetadata, MetricMetadataEntry,
    MetricMetadataRequest, MetricMetadataResponse,
};
use cairn_storeapi::TENANT_METADATA_KEY;
use tonic::{Request, Response, Status};

use crate::ingester::reject_reason_name;
use crate::Ingester;

/// The `cairn.ingest.v1.Ingester` gRPC service over an [`Ingester`].
#[derive(Debug, Clone)]
pub struct IngestService {
    ingester: Arc<Ingester>,
}

impl IngestService {
    /// Wraps an ingester.
    pub fn new(ingester: Arc<Ingester>) -> Self {
        Self { ingester }
    }

    /// The tonic server for this service.
    pub fn server(self) -> ingester_server::IngesterServer<Self> {
        ingester_server::IngesterServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

#[tonic::async_trait]
impl ingester_server::Ingester for IngestService {
    async fn push(&self, request: Request<PushRequest>) -> Result<Response<PushResponse>, Status> {
        let req = request.into_inner();
        let tenant = TenantId::new(&req.tenant)
            .map_err(|e| Status::invalid_argument(format!("invalid tenant in push: {e}")))?;
        let report = self
            .ingester
            .push_encoded(tenant, req.timeseries, req.metadata)
            .await
            .map_err(|e| e.to_status())?;
        let invalid = report
            .invalid
            .into_iter()
            .map(|(reason, samples, example)| Rejection {
                reason: reason.to_owned(),
                samples,
                example,
            });
        let rejected = report.append.rejected.iter().map(|r| Rejection {
            reason: reject_reason_name(r.reason).to_owned(),
            samples: r.count as u64,
            example: r.to_string(),
        });
        Ok(Response::new(PushResponse {
            samples_appended: report.append.appended as u64,
            rejections: invalid.chain(rejected).collect(),
        }))
    }
}

/// The Thanos `Metadata` gRPC service over an [`Ingester`]'s metric metadata.
#[derive(Debug, Clone)]
pub struct MetadataService {
    ingester: Arc<Ingester>,
    default_tenant: TenantId,
}

impl MetadataService {
    /// Serves `ingester`'s metadata; requests without `thanos-tenant` read
    /// `default_tenant`.
    pub fn new(ingester: Arc<Ingester>, default_tenant: TenantId) -> Self {
        Self {
            ingester,
            default_tenant,
        }
    }

    /// The tonic server for this service.
    pub fn server(self) -> metadata_server::MetadataServer<Self> {
        metadata_server::MetadataServer::new(self).max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

type MetadataStream = std::pin::Pin<
    Box<dyn futures::Stream<Item = Result<MetricMetadataResponse, Status>> + Send + 'static>,
>;

#[tonic::async_trait]
impl metadata_server::Metadata for MetadataService {
    type MetricMetadataStream = MetadataStream;

    async fn metric_metadata(
        &self,
        request: Request<MetricMetadataRequest>,
    ) -> Result<Response<Self::MetricMetadataStream>, Status> {
        let tenant = match request.metadata().get(TENANT_METADATA_KEY) {
            None => self.default_tenant.clone(),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|t| TenantId::new(t).ok())
                .ok_or_else(|| Status::invalid_argument("invalid thanos-tenant metadata"))?,
        };
        let req = request.into_inner();
        let metric = (!req.metric.is_empty()).then_some(req.metric.as_str());
        let limit = usize::try_from(req.limit).unwrap_or(0);
        let found = self.ingester.metric_metadata(&tenant, metric, limit);
        let metadata = found
            .into_iter()
            .map(|(family, metas)| {
                let metas = metas
                    .into_iter()
                    .map(|m| Meta {
                        r#type: m.kind.to_owned(),
                        help: m.help,
                        unit: m.unit,
                    })
                    .collect();
                (family, MetricMetadataEntry { metas })
            })
            .collect();
        let response = MetricMetadataResponse {
            result: Some(metric_metadata_response::Result::Metadata(MetricMetadata {
                metadata,
            })),
        };
        Ok(Response::new(Box::pin(futures::stream::once(async move {
            Ok(response)
        }))))
    }
}
