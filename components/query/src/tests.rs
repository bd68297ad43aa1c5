//! The querier over real StoreAPI servers (gRPC on loopback) holding fixed data: an
//! ingester-like store and a store-gateway-like one, overlapping, failing or
//! downsampled.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use cairn_chunk::XorChunk;
use cairn_model::{Labels, TenantId};
use cairn_ops::tenancy::TenancyConfig;
use cairn_storeapi::{
    RawChunk, RawSeries, SeriesQuery, StoreApiError, StoreBackend, StoreClient, StoreInfo,
    StoreService,
};
use http_body_util::BodyExt;
use prometheus_client::registry::Registry;
use serde_json::Value;
use tower::ServiceExt;

use crate::decode::tests::downsample;
use crate::{router, Querier, QueryConfig};

pub(crate) const MIN: i64 = 60_000;
pub(crate) const H: i64 = 3_600_000;
const FIVE_M: i64 = 300_000;

/// A StoreAPI backend over fixed series: raw ones, and downsampled ones served when the
/// request allows 5m resolution.
#[derive(Debug)]
pub(crate) struct Fixed {
    component_type: &'static str,
    raw: Vec<RawSeries>,
    downsampled: Vec<RawSeries>,
    fail: bool,
}

impl Fixed {
    pub(crate) fn new(component_type: &'static str, raw: Vec<RawSeries>) -> Self {
        Self {
            component_type,
            raw,
            downsampled: Vec::new(),
            fail: false,
        }
    }

    fn all(&self) -> impl Iterator<Item = &RawSeries> {
        self.raw.iter().chain(&self.downsampled)
    }
}

#[async_trait]
impl StoreBackend for Fixed {
    async fn series(
        &self,
        _tenant: &TenantId,
        q: &SeriesQuery,
    ) -> Result<Vec<RawSeries>, StoreApiError> {
        if self.fail {
            return Err(StoreApiError::Backend("disk on fire".into()));
        }
        let source = if q.max_resolution_ms >= FIVE_M && !self.downsampled.is_empty() {
            &self.downsampled
        } else {
            &self.raw
        };
        Ok(source
            .iter()
            .filter(|s| {
                q.matchers
                    .iter()
                    .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")))
            })
            .map(|s| RawSeries {
                labels: s.labels.clone(),
                chunks: s
                    .chunks
                    .iter()
                    .filter(|c| c.max_time >= q.min_time && c.min_time <= q.max_time)
                    .cloned()
                    .collect(),
            })
            .collect())
    }

    async fn label_names(
        &self,
        _tenant: &TenantId,
        _q: &SeriesQuery,
    ) -> Result<Vec<String>, StoreApiError> {
        if self.fail {
            return Err(StoreApiError::Backend("disk on fire".into()));
        }
        let mut names: Vec<String> = self
            .raw
            .iter()
            .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
            .collect();
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    async fn label_values(
        &self,
        _tenant: &TenantId,
        _name: &str,
        _q: &SeriesQuery,
    ) -> Result<Vec<String>, StoreApiError> {
        Ok(vec![])
    }

    fn info(&self) -> StoreInfo {
        let times = self
            .all()
            .flat_map(|s| &s.chunks)
            .map(|c| (c.min_time, c.max_time));
        let (min_time, max_time) = times.fold((i64::MAX, i64::MIN), |(a, b), (lo, hi)| {
            (a.min(lo), b.max(hi))
        });
        StoreInfo {
            component_type: self.component_type,
            min_time,
            max_time,
            label_sets: vec![],
        }
    }
}

pub(crate) async fn serve(backend: Fixed) -> StoreClient {
    let service = StoreService::new(Arc::new(backend), TenantId::new("anonymous").unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service.store_server())
            .add_service(service.info_server())
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    StoreClient::connect_lazy(&addr, Duration::from_secs(10)).unwrap()
}

pub(crate) async fn querier(stores: Vec<Fixed>) -> axum::Router {
    let mut clients = Vec::new();
    for s in stores {
        clients.push(serve(s).await);
    }
    let q = Querier::new(
        QueryConfig::default(),
        TenancyConfig::default(),
        clients,
        &mut Registry::default(),
    );
    router(Arc::new(q))
}

/// GETs `/api/v1/query` with `params`; returns status and JSON.
pub(crate) async fn query(app: &axum::Router, params: &[(&str, &str)]) -> (u16, Value) {
    let qs = serde_urlencoded::to_string(params).unwrap();
    let req = http::Request::get(format!("/api/v1/query?{qs}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

/// The single value of an instant vector result.
pub(crate) fn scalar_value(v: &Value) -> f64 {
    let result = v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(result.len(), 1, "{v}");
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

pub(crate) fn xor_chunks(samples: &[(i64, f64)], per_chunk: usize) -> Vec<RawChunk> {
    samples
        .chunks(per_chunk)
        .map(|part| {
            let mut c = XorChunk::new();
            for &(t, v) in part {
                c.append(t, v);
            }
            RawChunk::xor(part[0].0, part[part.len() - 1].0, c.bytes().to_vec())
        })
        .collect()
}

fn series(chunks: Vec<RawChunk>) -> RawSeries {
    RawSeries {
        labels: Labels::from_pairs([("__name__", "x"), ("job", "node")]),
        chunks,
    }
}

/// A sample every 15s in `[from, to)`: a counter growing 2/s that resets every 50m.
pub(crate) fn samples(from: i64, to: i64) -> Vec<(i64, f64)> {
    (from..to)
        .step_by(15_000)
        .map(|t| (t, ((t % (50 * MIN)) / 500) as f64))
        .collect()
}

pub(crate) fn secs(ms: i64) -> String {
    (ms / 1000).to_string()
}

#[tokio::test]
async fn head_and_block_overlap_is_not_double_counted() {
    // The ingester still holds 0..3h in its head; the first two hours were uploaded as
    // a block with different chunk boundaries, which the store gateway serves.
    let head = Fixed::new("receive", vec![series(xor_chunks(&samples(0, 3 * H), 120))]);
    let block = Fixed::new("store", vec![series(xor_chunks(&samples(0, 2 * H), 77))]);
    let both = querier(vec![head, block]).await;
    let head_only = querier(vec![Fixed::new(
        "receive",
        vec![series(xor_chunks(&samples(0, 3 * H), 120))],
    )])
    .await;
    let at = secs(3 * H - 15_000);
    for q in [
        "count_over_time(x[3h])",
        "sum_over_time(x[3h])",
        "increase(x[3h])",
        "avg_over_time(x[1h])",
    ] {
        let (s1, both_v) = query(&both, &[("query", q), ("time", &at)]).await;
        let (s2, head_v) = query(&head_only, &[("query", q), ("time", &at)]).await;
        assert_eq!((s1, s2), (200, 200));
        assert_eq!(scalar_value(&both_v), scalar_value(&head_v), "{q}");
    }
    let (_, v) = query(&both, &[("query", "count_over_time(x[3h])"), ("time", &at)]).await;
    assert_eq!(scalar_value(&v), 720.0);
}

#[tokio::test]
async fn a_failing_store_is_a_warning_with_partial_responses_and_an_error_without() {
    let good = Fixed::new("receive", vec![series(xor_chunks(&samples(0, H), 120))]);
    let mut bad = Fixed::new("store", vec![series(xor_chunks(&samples(0, H), 120))]);
    bad.fail = true;
    let app = querier(vec![good, bad]).await;
    let at = secs(H - 15_000);

    let (status, v) = query(&app, &[("query", "count_over_time(x[1h])"), ("time", &at)]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(scalar_value(&v), 240.0);
    let warnings = v["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("disk on fire")),
        "{v}"
    );

    let (status, v) = query(
        &app,
        &[
            ("query", "count_over_time(x[1h])"),
            ("time", &at),
            ("partial_response", "false"),
        ],
    )
    .await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["errorType"], "unavailable");
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains("disk on fire") && msg.contains("partial responses are disabled"),
        "{msg}"
    );
}

#[tokio::test]
async fn stores_whose_time_range_cannot_overlap_are_not_asked() {
    // A broken store gateway holding only the first hour: a query about the third
    // hour must not ask it, so it cannot fail the query.
    let mut old = Fixed::new("store", vec![series(xor_chunks(&samples(0, H), 120))]);
    old.fail = true;
    let recent = Fixed::new(
        "receive",
        vec![series(xor_chunks(&samples(2 * H, 3 * H), 120))],
    );
    let app = querier(vec![old, recent]).await;
    let (status, v) = query(
        &app,
        &[
            ("query", "count_over_time(x[30m])"),
            ("time", &secs(3 * H - 15_000)),
            ("partial_response", "false"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(scalar_value(&v), 120.0);
    assert!(
        v.get("warnings")
            .is_none_or(|w| w.as_array().unwrap().is_empty()),
        "{v}"
    );
}

#[tokio::test]
async fn downsampled_data_answers_rate_and_over_time_functions_like_raw_data() {
    let raw = samples(0, 6 * H);
    // Two downsampled chunks, each covering 3h, as the compactor writes them.
    let (a, b) = raw.split_at(raw.len() / 2);
    let mut store = Fixed::new("store", vec![series(xor_chunks(&raw, 120))]);
    store.downsampled = vec![series(vec![downsample(a, FIVE_M), downsample(b, FIVE_M)])];
    let app = querier(vec![store]).await;
    // Window ends are aligned with the 5m windows' last samples.
    let at = secs(5 * H - 15_000);
    for (q, tolerance) in [
        ("rate(x[1h])", 0.02),
        ("increase(x[3h])", 0.02),
        ("sum_over_time(x[1h])", 1e-9),
        ("count_over_time(x[1h])", 1e-9),
        ("max_over_time(x[1h])", 1e-9),
        ("min_over_time(x[1h])", 1e-9),
        ("avg_over_time(x[1h])", 1e-9),
        ("x", 0.05),
    ] {
        let (s1, raw_v) = query(&app, &[("query", q), ("time", &at)]).await;
        let (s2, down_v) = query(
            &app,
            &[("query", q), ("time", &at), ("max_source_resolution", "5m")],
        )
        .await;
        assert_eq!((s1, s2), (200, 200), "{raw_v} {down_v}");
        let (r, d) = (scalar_value(&raw_v), scalar_value(&down_v));
        assert!(
            (r - d).abs() <= tolerance * r.abs().max(1.0),
            "{q}: raw {r}, downsampled {d}"
        );
    }
    // The downsampled data really was read: a plain selector returns the window's
    // average, which differs from the last raw sample.
    let (_, raw_v) = query(&app, &[("query", "x"), ("time", &at)]).await;
    let (_, down_v) = query(
        &app,
        &[
            ("query", "x"),
            ("time", &at),
            ("max_source_resolution", "auto"),
        ],
    )
    .await;
    // `auto` on an instant query has no step: raw data.
    assert_eq!(scalar_value(&raw_v), scalar_value(&down_v));
    let (_, down_v) = query(
        &app,
        &[
            ("query", "x"),
            ("time", &at),
            ("max_source_resolution", "5m"),
        ],
    )
    .await;
    assert_ne!(scalar_value(&raw_v), scalar_value(&down_v));
}

#[tokio::test]
async fn the_lookback_grows_to_the_resolution_so_sparse_downsampled_points_are_found() {
    let raw = samples(0, 6 * H);
    let mut store = Fixed::new("store", vec![series(xor_chunks(&raw, 120))]);
    // A 1h-resolution chunk: one point per hour.
    store.downsampled = vec![series(vec![downsample(&raw, H)])];
    let app = querier(vec![store]).await;
    // 40 minutes after the last window's point: beyond the default 5m lookback.
    let at = secs(5 * H - 15_000 + 40 * MIN);
    let (status, v) = query(
        &app,
        &[
            ("query", "x"),
            ("time", &at),
            ("max_source_resolution", "1h"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 1, "{v}");
}
