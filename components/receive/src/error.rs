use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use thiserror::Error;

/// Everything a write request can fail with, each mapped to the status the remote-write
/// spec asks for: 4xx when the data can never be accepted, 5xx when a retry can succeed.
#[derive(Debug, Error)]
pub enum ReceiveError {
    /// The compressed or decompressed body is over the configured limit.
    #[error("request body too large: {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size seen (or announced).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Not snappy, or a content type other than protobuf remote write 1.0.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is not a valid snappy block.
    #[error("invalid snappy block in request body: {0}")]
    Snappy(String),
    /// The decompressed body is not a WriteRequest.
    #[error("invalid protobuf WriteRequest in request body: {0}")]
    Protobuf(String),
    /// Reading the body from the connection failed.
    #[error("cannot read request body: {0}")]
    Body(String),
    /// No acceptable tenant.
    #[error("{0}")]
    Tenant(#[from] cairn_ops::tenancy::TenantError),
    /// Some series or samples can never be accepted; everything else was stored.
    #[error("{0}")]
    Rejected(String),
    /// An ingester could not be reached or failed; the client should retry.
    #[error("cannot store samples: {0}")]
    Unavailable(String),
}

impl ReceiveError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Snappy(_) | Self::Protobuf(_) | Self::Body(_) | Self::Rejected(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Tenant(e) => e.status(),
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for ReceiveError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "remote write failed");
        } else {
            tracing::debug!(error = %self, status = status.as_u16(), "remote write refused");
        }
        (status, format!("{self}\n")).into_response()
    }
}
