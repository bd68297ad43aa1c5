use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    handler: String,
    code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HandlerLabels {
    handler: String,
}

/// Counts HTTP requests and their durations per route pattern and status code.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<HandlerLabels, Histogram>,
}

impl HttpMetrics {
    /// Creates the metrics and registers them as `cairn_http_requests_total` and
    /// `cairn_http_request_duration_seconds`.
    pub fn new(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<HandlerLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 4.0, 9))) as fn() -> Histogram,
        );
        registry.register(
            "cairn_http_requests",
            "HTTP requests by route and status code",
            requests.clone(),
        );
        registry.register(
            "cairn_http_request_duration_seconds",
            "HTTP request latency by route",
            duration.clone(),
        );
        Self { requests, duration }
    }

    /// Wraps every route of `router` so its requests are counted.
    pub fn layer(self, router: axum::Router) -> axum::Router {
        router.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let metrics = self.clone();
                async move { metrics.observe(req, next).await }
            },
        ))
    }

    async fn observe(&self, req: Request, next: Next) -> Response {
        let handler = req
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
        let start = Instant::now();
        let response = next.run(req).await;
        self.duration
            .get_or_create(&HandlerLabels {
                handler: handler.clone(),
            })
            .observe(start.elapsed().as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                handler,
                code: response.status().as_u16().to_string(),
            })
            .inc();
        response
    }
}
