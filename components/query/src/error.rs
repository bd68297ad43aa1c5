use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cairn_promql::QueryError;
use serde_json::json;
use thiserror::Error;

/// Every failure of the query API, rendered as Prometheus's error JSON
/// (`{"status":"error","errorType":…,"error":…}`) with Prometheus's status codes.
#[derive(Debug, Error)]
pub enum QueryApiError {
    /// A parameter is missing or malformed (400, `bad_data`).
    #[error("{0}")]
    BadData(String),
    /// The engine failed the query.
    #[error("{0}")]
    Query(#[from] QueryError),
    /// A store failed and partial responses are off (503, `unavailable`).
    #[error("{0}")]
    Unavailable(String),
    /// The request's tenant is missing, invalid or unknown.
    #[error("{0}")]
    Tenant(#[from] cairn_ops::tenancy::TenantError),
    /// No such endpoint (404).
    #[error("{0}")]
    NotFound(String),
}

impl QueryApiError {
    fn status_and_type(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadData(_) => (StatusCode::BAD_REQUEST, "bad_data"),
            Self::Query(e) => (
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                e.error_type(),
            ),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Tenant(e) => (e.status(), "bad_data"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        }
    }
}

impl IntoResponse for QueryApiError {
    fn into_response(self) -> Response {
        let (status, error_type) = self.status_and_type();
        if status.is_server_error() {
            tracing::warn!(error = %self, error_type, "query failed");
        }
        (
            status,
            Json(json!({"status": "error", "errorType": error_type, "error": self.to_string()})),
        )
            .into_response()
    }
}
