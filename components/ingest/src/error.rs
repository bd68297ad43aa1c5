use thiserror::Error;

/// Ingester failures.
#[derive(Debug, Error)]
pub enum IngestError {
    /// The storage (WAL or head) failed.
    #[error("ingester storage: {0}")]
    Storage(#[from] cairn_tsdb::Error),
    /// A push named an invalid tenant.
    #[error("invalid tenant in push: {0}")]
    Tenant(#[from] cairn_model::ModelError),
    /// Cutting, writing, uploading or recording a block failed.
    #[error("block shipping for tenant {tenant}: {message}")]
    Ship {
        /// The tenant whose blocks were being handled.
        tenant: String,
        /// What failed, and where.
        message: String,
    },
    /// A push carried bytes that are not an encoded `prometheus.TimeSeries` or
    /// `prometheus.MetricMetadata`.
    #[error("invalid push: {0}")]
    InvalidPush(String),
    /// The ingester is leaving the ring and takes no more writes.
    #[error("ingester is leaving the ring and takes no new writes")]
    Leaving,
    /// A blocking task panicked or was cancelled.
    #[error("ingester task failed: {0}")]
    Task(String),
}

impl IngestError {
    /// The gRPC status for this error. Storage failures are `unavailable` so the
    /// receiver answers 5xx and the client retries.
    pub fn to_status(&self) -> tonic::Status {
        match self {
            Self::Tenant(_) | Self::InvalidPush(_) => {
                tonic::Status::invalid_argument(self.to_string())
            }
            Self::Storage(_) | Self::Ship { .. } | Self::Task(_) | Self::Leaving => {
                tonic::Status::unavailable(self.to_string())
            }
        }
    }
}
