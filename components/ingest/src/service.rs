use std::sync::Arc;

use cairn_model::TenantId;
use cairn_proto::cairn::ingest::v1::{ingester_server, PushRequest, PushResponse, Rejection};
use cairn_proto::channel::MAX_MESSAGE_BYTES;
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
            .push_encoded(tenant, req.timeseries)
            .await
            .map_err(|e| e.to_status())?;
        let invalid = report
            .invalid_labels
            .into_iter()
            .map(|(samples, example)| Rejection {
                reason: "invalid_labels".to_owned(),
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
