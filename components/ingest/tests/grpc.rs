//! The ingester through its real gRPC interfaces: Push in, StoreAPI and Info out.

use std::time::Duration;

use cairn_ingest::{IngestConfig, IngestMetrics, IngestService, Ingester, MetadataService};
use cairn_model::{Labels, MatchOp, Matcher, TenantId};
use cairn_proto::cairn::ingest::v1::{ingester_client::IngesterClient, PushRequest};
use cairn_proto::prometheus::TimeSeries;
use cairn_storeapi::{SeriesQuery, StoreClient, StoreService};
use prometheus_client::registry::Registry;
use prost::Message;
use tokio::net::TcpListener;

/// One encoded `TimeSeries`, as receivers send them.
fn ts(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> bytes::Bytes {
    TimeSeries::with_samples(labels, samples)
        .encode_to_vec()
        .into()
}

/// Starts an ingester on an ephemeral port; returns its address.
async fn start(dir: &std::path::Path) -> String {
    let mut registry = Registry::default();
    let ingester = Ingester::open(
        dir.to_path_buf(),
        IngestConfig::default(),
        IngestMetrics::new(&mut registry),
    )
    .await
    .unwrap();
    let store = StoreService::new(ingester.clone(), TenantId::new("anonymous").unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tonic::transport::Server::builder()
        .add_service(IngestService::new(ingester.clone()).server())
        .add_service(MetadataService::new(ingester, TenantId::new("anonymous").unwrap()).server())
        .add_service(store.store_server())
        .add_service(store.info_server())
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);
    addr
}

fn all_series() -> SeriesQuery {
    SeriesQuery::new(
        vec![Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()],
        i64::MIN,
        i64::MAX,
    )
}

#[tokio::test]
async fn pushed_samples_come_back_over_the_storeapi_sorted_and_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(dir.path()).await;
    let mut push = IngesterClient::connect(format!("http://{addr}"))
        .await
        .unwrap();

    let points: Vec<(i64, f64)> = (0..300)
        .map(|i| (1_000 + i * 15_000, i as f64 * 1.5))
        .collect();
    let resp = push
        .push(PushRequest {
            tenant: "team-a".into(),
            timeseries: vec![
                ts(&[("__name__", "b_metric"), ("job", "x")], &points),
                ts(
                    &[("__name__", "a_metric"), ("job", "y"), ("replica", "1")],
                    &points[..10],
                ),
                ts(
                    &[("__name__", "a_metric"), ("job", "y"), ("replica", "2")],
                    &points[..10],
                ),
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.samples_appended, 320);
    assert!(resp.rejections.is_empty());

    // Out-of-order and duplicate samples are reported, not stored, and don't fail the RPC.
    let resp = push
        .push(PushRequest {
            tenant: "team-a".into(),
            timeseries: vec![ts(
                &[("__name__", "b_metric"), ("job", "x")],
                &[(0, 1.0), (points[299].0, -1.0)],
            )],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let reasons: Vec<&str> = resp.rejections.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons, ["out_of_order", "duplicate_timestamp"]);
    assert!(
        resp.rejections[0].example.contains(r#"b_metric{job="x"}"#),
        "{:?}",
        resp.rejections
    );

    let store = StoreClient::connect_lazy(&addr, Duration::from_secs(10)).unwrap();
    let team_a = TenantId::new("team-a").unwrap();
    let (series, warnings) = store.series(&team_a, &all_series()).await.unwrap();
    assert!(warnings.is_empty());
    let names: Vec<String> = series.iter().map(|s| s.labels.to_string()).collect();
    assert_eq!(
        names,
        [
            r#"a_metric{job="y", replica="1"}"#,
            r#"a_metric{job="y", replica="2"}"#,
            r#"b_metric{job="x"}"#
        ]
    );
    let decoded: Vec<(i64, f64)> = series[2]
        .chunks
        .iter()
        .flat_map(|c| cairn_chunk::decode(&c.data).unwrap())
        .map(|s| (s.t, s.v))
        .collect();
    assert_eq!(
        decoded, points,
        "300 samples over 3 chunks of <=120 decode back exactly"
    );
    assert_eq!(series[2].chunks.len(), 3);

    // Another tenant sees nothing; label APIs answer per tenant.
    let other = TenantId::new("team-b").unwrap();
    assert!(store
        .series(&other, &all_series())
        .await
        .unwrap()
        .0
        .is_empty());
    let (names, _) = store.label_names(&team_a, &all_series()).await.unwrap();
    assert_eq!(names, ["__name__", "job", "replica"]);
    let (values, _) = store
        .label_values(&team_a, "job", &all_series())
        .await
        .unwrap();
    assert_eq!(values, ["x", "y"]);

    let info = store.info().await.unwrap();
    assert_eq!(
        (info.component_type, info.min_time, info.max_time),
        ("receive", 1_000, points[299].0)
    );

    // Matchers and time ranges narrow the selection.
    let query = SeriesQuery {
        skip_chunks: true,
        ..SeriesQuery::new(
            vec![
                Matcher::equal("__name__", "a_metric"),
                Matcher::new(MatchOp::NotEqual, "replica", "1").unwrap(),
            ],
            0,
            10_000,
        )
    };
    let (series, _) = store.series(&team_a, &query).await.unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(
        series[0].labels,
        Labels::from_pairs([("__name__", "a_metric"), ("job", "y"), ("replica", "2")])
    );
    assert!(series[0].chunks.is_empty(), "skip_chunks");
}

#[tokio::test]
async fn a_push_with_an_invalid_tenant_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(dir.path()).await;
    let mut push = IngesterClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let err = push
        .push(PushRequest {
            tenant: "../etc".into(),
            timeseries: vec![],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn a_push_with_bytes_that_are_no_series_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(dir.path()).await;
    let mut push = IngesterClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let good = ts(&[("__name__", "m")], &[(1_000, 1.0)]);
    let err = push
        .push(PushRequest {
            tenant: "t".into(),
            timeseries: vec![good.clone(), bytes::Bytes::from_static(&[0x0a, 0x05, 0x0a])],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("series 1"), "{}", err.message());
    // Nothing of it was appended: the same sample is accepted as new afterwards.
    let resp = push
        .push(PushRequest {
            tenant: "t".into(),
            timeseries: vec![good, ts(&[("__name__", "m")], &[(500, 1.0)])],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.samples_appended, 1);
    let reasons: Vec<&str> = resp.rejections.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons, ["out_of_order"]);
}

#[tokio::test]
async fn pushed_metadata_is_served_per_tenant_over_the_thanos_metadata_api() {
    let dir = tempfile::tempdir().unwrap();
    let addr = start(dir.path()).await;
    let mut push = IngesterClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let meta = |kind: i32, family: &str, help: &str| -> bytes::Bytes {
        cairn_proto::prometheus::MetricMetadata {
            r#type: kind,
            metric_family_name: family.into(),
            help: help.into(),
            unit: String::new(),
        }
        .encode_to_vec()
        .into()
    };
    push.push(PushRequest {
        tenant: "team-a".into(),
        metadata: vec![
            meta(1, "http_requests_total", "Requests served."),
            meta(2, "temperature_celsius", "Room temperature."),
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    // Bytes that are no MetricMetadata refuse the push.
    let err = push
        .push(PushRequest {
            tenant: "team-a".into(),
            metadata: vec![bytes::Bytes::from_static(&[0x12, 0x05])],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    // Nor is the metadata of a push whose series do not read kept.
    let err = push
        .push(PushRequest {
            tenant: "team-a".into(),
            timeseries: vec![bytes::Bytes::from_static(&[0x0a, 0x05])],
            metadata: vec![meta(6, "refused_info", "Never kept.")],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    let client = StoreClient::connect_lazy(&addr, Duration::from_secs(5)).unwrap();
    let (all, warnings) = client
        .metric_metadata(&TenantId::new("team-a").unwrap(), "", 0)
        .await
        .unwrap();
    assert!(warnings.is_empty());
    assert_eq!(
        all.keys().collect::<Vec<_>>(),
        ["http_requests_total", "temperature_celsius"]
    );
    let want: std::collections::BTreeSet<(String, String, String)> =
        [("counter".into(), "Requests served.".into(), String::new())].into();
    assert_eq!(all["http_requests_total"], want);
    let (one, _) = client
        .metric_metadata(&TenantId::new("team-a").unwrap(), "temperature_celsius", 0)
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one["temperature_celsius"].iter().next().unwrap().0, "gauge");
    let (other, _) = client
        .metric_metadata(&TenantId::new("team-b").unwrap(), "", 0)
        .await
        .unwrap();
    assert!(other.is_empty(), "{other:?}");
}
