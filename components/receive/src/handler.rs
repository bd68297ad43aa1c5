use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use cairn_ops::tenancy::TenancyConfig;
use cairn_proto::wire::WireBatch;
use prometheus_client::registry::Registry;

use crate::metrics::{ReasonLabel, ReceiveMetrics, TenantLabel};
use crate::validate::{forward_metadata, validate, Rejections, TimeBounds};
use crate::{Distributor, ReceiveConfig, ReceiveError};

/// Paths that accept remote write, for compatibility with Prometheus, Mimir/Cortex and
/// Thanos receive clients.
pub const WRITE_PATHS: [&str; 4] = [
    "/api/v1/write",
    "/api/v1/push",
    "/api/v1/receive",
    "/api/prom/push",
];

/// The receiver role: configuration, tenancy rules, the distributor and metrics.
#[derive(Debug)]
pub struct Receiver {
    config: ReceiveConfig,
    tenancy: TenancyConfig,
    distributor: Distributor,
    metrics: ReceiveMetrics,
}

impl Receiver {
    /// Builds the receiver and registers its metrics.
    pub fn new(
        config: ReceiveConfig,
        tenancy: TenancyConfig,
        distributor: Distributor,
        registry: &mut Registry,
    ) -> Self {
        Self {
            config,
            tenancy,
            distributor,
            metrics: ReceiveMetrics::new(registry),
        }
    }

    fn fail(&self, reason: &str, e: ReceiveError) -> ReceiveError {
        self.metrics
            .requests_failed
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
        e
    }

    /// Handles one remote-write request end to end.
    async fn write(&self, headers: &HeaderMap, body: Body) -> Result<StatusCode, ReceiveError> {
        check_media_type(headers).map_err(|e| self.fail("unsupported_media_type", e))?;
        let tenant = self
            .tenancy
            .resolve(headers)
            .map_err(|e| self.fail("tenant", e.into()))?;
        let limit = self.config.max_request_bytes;
        if let Some(len) = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
        {
            if len > limit {
                return Err(self.fail("too_large", ReceiveError::TooLarge { size: len, limit }));
            }
        }
        let compressed = axum::body::to_bytes(body, limit).await.map_err(|e| {
            // Reading stops exactly at the limit; any other failure is the connection's.
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                self.fail(
                    "too_large",
                    ReceiveError::TooLarge {
                        size: limit + 1,
                        limit,
                    },
                )
            } else {
                self.fail("body", ReceiveError::Body(e.to_string()))
            }
        })?;
        let raw_len = snap::raw::decompress_len(&compressed)
            .map_err(|e| self.fail("snappy", ReceiveError::Snappy(e.to_string())))?;
        if raw_len > self.config.max_decompressed_bytes {
            return Err(self.fail(
                "too_large",
                ReceiveError::TooLarge {
                    size: raw_len,
                    limit: self.config.max_decompressed_bytes,
                },
            ));
        }
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&compressed)
            .map_err(|e| self.fail("snappy", ReceiveError::Snappy(e.to_string())))?;
        let raw = Bytes::from(raw);
        let batch = WireBatch::parse_write_request(&raw)
            .map_err(|e| self.fail("protobuf", ReceiveError::Protobuf(e.to_string())))?;

        let now = now_ms();
        let bounds = TimeBounds {
            min_t: if self.config.max_sample_age.is_zero() {
                i64::MIN
            } else {
                now.saturating_sub(self.config.max_sample_age.as_millis() as i64)
            },
            max_t: now.saturating_add(self.config.max_future_skew.as_millis() as i64),
        };
        let mut rejections = Rejections::default();
        let valid = validate(&batch, &raw, bounds, &mut rejections);
        let metadata = forward_metadata(&batch, &raw);
        if !valid.is_empty() || !metadata.is_empty() {
            let outcome = self
                .distributor
                .push(&tenant, &valid, &metadata)
                .await
                .map_err(|e| self.fail("ingester_unavailable", e))?;
            self.metrics
                .samples_received
                .get_or_create(&TenantLabel {
                    tenant: tenant.to_string(),
                })
                .inc_by(outcome.appended);
            rejections.merge(outcome.rejections);
        }
        if rejections.is_empty() {
            return Ok(StatusCode::NO_CONTENT);
        }
        for (reason, n) in rejections.counts() {
            self.metrics
                .samples_rejected
                .get_or_create(&ReasonLabel {
                    reason: reason.to_owned(),
                })
                .inc_by(n);
        }
        Err(ReceiveError::Rejected(rejections.message()))
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Remote write 1.0 is snappy-compressed protobuf. A missing Content-Encoding is taken
/// as snappy (some senders omit it); anything else explicit is refused with 415.
fn check_media_type(headers: &HeaderMap) -> Result<(), ReceiveError> {
    if let Some(enc) = headers.get(header::CONTENT_ENCODING) {
        let enc = enc.to_str().unwrap_or("").trim();
        if !enc.eq_ignore_ascii_case("snappy") {
            return Err(ReceiveError::UnsupportedMediaType(format!(
                "unsupported Content-Encoding {enc:?}: remote write bodies must be snappy-compressed"
            )));
        }
    }
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let mut parts = ct.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        // Lowercased above, so this is `prometheus.WriteRequest`, the 1.0 message.
        let proto = parts
            .find_map(|p| p.strip_prefix("proto="))
            .unwrap_or("prometheus.writerequest");
        if media != "application/x-protobuf" || proto != "prometheus.writerequest" {
            return Err(ReceiveError::UnsupportedMediaType(format!(
                "unsupported Content-Type {ct:?}: expected application/x-protobuf (remote write 1.0)"
            )));
        }
    }
    Ok(())
}

/// The write endpoints, bound to a shared [`Receiver`].
pub fn router(receiver: Arc<Receiver>) -> Router {
    let mut router = Router::new();
    for path in WRITE_PATHS {
        router = router.route(
            path,
            post(
                |State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Body| async move {
                    r.write(&headers, body).await
                },
            ),
        );
    }
    router.with_state(receiver)
}
