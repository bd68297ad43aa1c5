//! Operational plumbing shared by every Cairn role.
//!
//! ```text
//!  role constructors ──register──▶ prometheus_client::Registry ──▶ GET /metrics
//!  role start-up     ──mark ready─▶ Readiness ───────────────────▶ GET /-/ready (200 / 503)
//!  process           ─────────────────────────────────────────────▶ GET /-/healthy (200)
//!  HTTP handlers     ──HttpMetrics layer──▶ requests total, durations by handler/code
//!  SIGTERM / Ctrl-C  ──shutdown_signal()──▶ roles flush and close
//! ```

mod http_metrics;
mod readiness;
mod shutdown;
mod telemetry;
pub mod tenancy;

pub use http_metrics::HttpMetrics;
pub use readiness::Readiness;
pub use shutdown::shutdown_signal;
pub use telemetry::{init_logging, LogFormat};

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;

/// `/-/healthy`, `/-/ready` and `/metrics` for one process.
pub fn ops_router(registry: Arc<Registry>, readiness: Readiness) -> Router {
    Router::new()
        .route("/-/healthy", get(|| async { "Cairn is Healthy.\n" }))
        .route(
            "/-/ready",
            get(move || {
                let readiness = readiness.clone();
                async move { readiness.response() }
            }),
        )
        .route("/metrics", get(metrics).with_state(registry))
}

async fn metrics(State(registry): State<Arc<Registry>>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics failed: {e}\n"),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http::Request;
    use tower::ServiceExt;

    async fn get_status(router: Router, path: &str) -> StatusCode {
        let req = Request::get(path).body(Body::empty()).unwrap();
        router.oneshot(req).await.unwrap().status()
    }

    #[tokio::test]
    async fn ready_only_after_every_component_is_ready() {
        let readiness = Readiness::default();
        let wal = readiness.component("ingester wal replay");
        let router = ops_router(Arc::new(Registry::default()), readiness);
        assert_eq!(
            get_status(router.clone(), "/-/healthy").await,
            StatusCode::OK
        );
        assert_eq!(
            get_status(router.clone(), "/-/ready").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        wal.set_ready();
        assert_eq!(get_status(router.clone(), "/-/ready").await, StatusCode::OK);
        assert_eq!(get_status(router, "/metrics").await, StatusCode::OK);
    }
}
