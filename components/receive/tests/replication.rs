//! The distributor against in-process ingester gRPC servers: replicated placement,
//! write quorums and the answers a remote-write client gets when ingesters fail.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use cairn_ingest::{IngestConfig, IngestMetrics, IngestService, Ingester};
use cairn_model::{MatchOp, Matcher, TenantId};
use cairn_ops::tenancy::TenancyConfig;
use cairn_proto::cairn::ingest::v1::{ingester_server, PushRequest, PushResponse};
use cairn_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use cairn_receive::{router, Distributor, ReceiveConfig, Receiver};
use cairn_ring::{Member, MemberState, Ring, StaticRing};
use cairn_storeapi::{SeriesQuery, StoreClient, StoreService};
use http::{Request, StatusCode};
use prometheus_client::registry::Registry;
use prost::Message;
use tokio::net::TcpListener;
use tower::ServiceExt;

const TENANT: &str = "team-a";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn series(i: usize, samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: vec![
            Label {
                name: "__name__".into(),
                value: "replicated".into(),
            },
            Label {
                name: "id".into(),
                value: i.to_string(),
            },
        ],
        samples: samples
            .iter()
            .map(|&(timestamp, value)| Sample { value, timestamp })
            .collect(),
        ..Default::default()
    }
}

fn batch(n: usize, t: i64) -> Vec<TimeSeries> {
    (0..n).map(|i| series(i, &[(t, i as f64)])).collect()
}

async fn serve(router: tonic::service::Routes) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_routes(router)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    (addr, task)
}

/// A real ingester (head + WAL) with its Push and StoreAPI services.
struct RealIngester {
    addr: String,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl RealIngester {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ingester = Ingester::open(
            dir.path().to_path_buf(),
            IngestConfig::default(),
            IngestMetrics::new(&mut Registry::default()),
        )
        .await
        .unwrap();
        let store = StoreService::new(ingester.clone(), TenantId::new("anonymous").unwrap());
        let mut routes = tonic::service::Routes::default();
        routes = routes
            .add_service(IngestService::new(ingester).server())
            .add_service(store.store_server());
        let (addr, task) = serve(routes).await;
        Self {
            addr,
            _dir: dir,
            task,
        }
    }

    /// Stops serving: new connections are refused, like a killed process.
    fn stop(&self) {
        self.task.abort();
    }

    /// Series ids (`id` label) the ingester holds for the tenant, with sample counts.
    async fn held(&self) -> HashMap<String, usize> {
        let store = StoreClient::connect_lazy(&self.addr, Duration::from_secs(5)).unwrap();
        let query = SeriesQuery::new(
            vec![Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()],
            i64::MIN,
            i64::MAX,
        );
        let (series, _) = store
            .series(&TenantId::new(TENANT).unwrap(), &query)
            .await
            .unwrap();
        series
            .into_iter()
            .map(|s| {
                let n = s
                    .chunks
                    .iter()
                    .map(|c| cairn_chunk::decode(&c.data).unwrap().len())
                    .sum();
                (s.labels.get("id").unwrap_or_default().to_owned(), n)
            })
            .collect()
    }
}

/// How a fake ingester answers.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Store,
    Refuse,
    Fail,
}

/// An ingester double that records what it was sent and answers as told.
#[derive(Debug, Clone)]
struct Fake {
    mode: Arc<Mutex<Mode>>,
    got: Arc<Mutex<Vec<TimeSeries>>>,
}

#[tonic::async_trait]
impl ingester_server::Ingester for Fake {
    async fn push(
        &self,
        request: tonic::Request<PushRequest>,
    ) -> Result<tonic::Response<PushResponse>, tonic::Status> {
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Store => {
                let req = request.into_inner();
                let series: Vec<TimeSeries> = req
                    .timeseries
                    .iter()
                    .map(|b| TimeSeries::decode(b.clone()).expect("an encoded TimeSeries"))
                    .collect();
                let n = series.iter().map(|t| t.samples.len() as u64).sum();
                self.got.lock().unwrap().extend(series);
                Ok(tonic::Response::new(PushResponse {
                    samples_appended: n,
                    rejections: vec![],
                }))
            }
            Mode::Refuse => Err(tonic::Status::invalid_argument("series limit exceeded")),
            Mode::Fail => Err(tonic::Status::unavailable("disk full")),
        }
    }
}

impl Fake {
    async fn start(mode: Mode) -> (Self, String) {
        let fake = Self {
            mode: Arc::new(Mutex::new(mode)),
            got: Arc::default(),
        };
        let routes =
            tonic::service::Routes::new(ingester_server::IngesterServer::new(fake.clone()));
        let (addr, _task) = serve(routes).await;
        (fake, addr)
    }

    fn ids(&self) -> HashSet<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|t| t.labels[1].value.clone())
            .collect()
    }
}

/// A receiver over a static ring of `specs`, with its metrics registry.
fn receiver_with(ring: StaticRing, rf: usize) -> (axum::Router, Arc<Mutex<Registry>>) {
    let mut registry = Registry::default();
    let config = ReceiveConfig {
        replication_factor: rf,
        max_sample_age: Duration::ZERO,
        push_timeout: Duration::from_secs(5),
        ..ReceiveConfig::default()
    };
    let distributor = Distributor::new(
        Arc::new(ring),
        rf,
        config.heartbeat_timeout,
        config.push_timeout,
        &mut registry,
    )
    .unwrap();
    let receiver = Receiver::new(config, TenancyConfig::default(), distributor, &mut registry);
    (router(Arc::new(receiver)), Arc::new(Mutex::new(registry)))
}

fn receiver(specs: &[String], rf: usize) -> (axum::Router, Arc<Mutex<Registry>>) {
    receiver_with(StaticRing::from_specs(specs, 128).unwrap(), rf)
}

async fn write(app: &axum::Router, timeseries: Vec<TimeSeries>) -> (StatusCode, String) {
    let raw = WriteRequest {
        timeseries,
        ..Default::default()
    }
    .encode_to_vec();
    let body = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let req = Request::post("/api/v1/write")
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Scope-OrgID", TENANT)
        .body(Body::from(body))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn metrics_text(registry: &Mutex<Registry>) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry.lock().unwrap()).unwrap();
    out
}

async fn real(n: usize) -> (Vec<RealIngester>, Vec<String>) {
    let mut ings = Vec::new();
    for _ in 0..n {
        ings.push(RealIngester::start().await);
    }
    let specs = ings
        .iter()
        .enumerate()
        .map(|(i, g)| format!("ing-{i}={}", g.addr))
        .collect();
    (ings, specs)
}

#[tokio::test]
async fn rf3_over_three_ingesters_stores_every_series_on_all_three() {
    let (ings, specs) = real(3).await;
    let (app, registry) = receiver(&specs, 3);
    let t = now_ms();
    let (status, text) = write(&app, batch(100, t)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    for ing in &ings {
        let held = ing.held().await;
        assert_eq!(held.len(), 100, "{}", ing.addr);
        assert!(held.values().all(|&n| n == 1));
    }
    // Samples are counted once, not once per replica.
    let m = metrics_text(&registry);
    assert!(
        m.contains(r#"cairn_receive_samples_received_total{tenant="team-a"} 100"#),
        "{m}"
    );
    for i in 0..3 {
        assert!(
            m.contains(&format!(
                r#"cairn_receive_ingester_push_duration_seconds_count{{ingester="ing-{i}"}} 1"#
            )),
            "{m}"
        );
    }
}

#[tokio::test]
async fn rf3_with_one_ingester_down_acknowledges_and_keeps_data_on_the_other_two() {
    let (ings, specs) = real(3).await;
    let (app, registry) = receiver(&specs, 3);
    ings[2].stop();
    let t = now_ms();
    for round in 0..3 {
        let (status, text) = write(&app, batch(50, t + round)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "round {round}: {text}");
    }
    for ing in &ings[..2] {
        let held = ing.held().await;
        assert_eq!(held.len(), 50);
        assert!(held.values().all(|&n| n == 3), "{held:?}");
    }
    let m = metrics_text(&registry);
    assert!(
        m.contains(r#"cairn_receive_ingester_push_errors_total{ingester="ing-2",kind="failed"} 3"#),
        "{m}"
    );
}

#[tokio::test]
async fn rf3_with_two_ingesters_down_answers_503_and_acknowledges_nothing() {
    let (ings, specs) = real(3).await;
    let (app, registry) = receiver(&specs, 3);
    ings[1].stop();
    ings[2].stop();
    let (status, text) = write(&app, batch(20, now_ms())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("did not reach a write quorum"), "{text}");
    let m = metrics_text(&registry);
    assert!(
        m.contains(r#"cairn_receive_quorum_failures_total{reason="ingesters"} 20"#),
        "{m}"
    );
    assert!(
        !m.contains("cairn_receive_samples_received_total{"),
        "nothing counted as received: {m}"
    );
}

#[tokio::test]
async fn rf3_over_five_ingesters_places_each_series_on_exactly_three() {
    let (ings, specs) = real(5).await;
    let (app, _) = receiver(&specs, 3);
    let (status, text) = write(&app, batch(500, now_ms())).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    let mut copies: HashMap<String, usize> = HashMap::new();
    let mut per_ingester = Vec::new();
    for ing in &ings {
        let held = ing.held().await;
        per_ingester.push(held.len());
        for id in held.into_keys() {
            *copies.entry(id).or_default() += 1;
        }
    }
    assert_eq!(copies.len(), 500);
    assert!(copies.values().all(|&n| n == 3), "{copies:?}");
    // 1500 copies over 5 ingesters: each holds a fair share.
    assert!(
        per_ingester.iter().all(|&n| (200..=400).contains(&n)),
        "{per_ingester:?}"
    );
}

#[tokio::test]
async fn zoned_ring_puts_replicas_in_distinct_zones_and_survives_a_zone_outage() {
    let mut fakes = Vec::new();
    let mut specs = Vec::new();
    for zone in ["za", "zb", "zc"] {
        for n in 0..2 {
            let (fake, addr) = Fake::start(Mode::Store).await;
            specs.push(format!("{zone}-{n}={addr}@{zone}"));
            fakes.push((zone, fake));
        }
    }
    let (app, _) = receiver(&specs, 3);
    let (status, text) = write(&app, batch(300, now_ms())).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    for i in 0..300 {
        let id = i.to_string();
        let zones: Vec<&str> = fakes
            .iter()
            .filter(|(_, f)| f.ids().contains(&id))
            .map(|(z, _)| *z)
            .collect();
        let distinct: HashSet<&str> = zones.iter().copied().collect();
        assert_eq!(
            (zones.len(), distinct.len()),
            (3, 3),
            "series {id}: {zones:?}"
        );
    }

    // Zone zc fails: writes still succeed on the quorum in za and zb.
    for (zone, fake) in &fakes {
        fake.got.lock().unwrap().clear();
        if *zone == "zc" {
            *fake.mode.lock().unwrap() = Mode::Fail;
        }
    }
    let (status, text) = write(&app, batch(300, now_ms())).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    for i in 0..300 {
        let id = i.to_string();
        let zones: HashSet<&str> = fakes
            .iter()
            .filter(|(_, f)| f.ids().contains(&id))
            .map(|(z, _)| *z)
            .collect();
        assert_eq!(zones, HashSet::from(["za", "zb"]), "series {id}");
    }
}

#[tokio::test]
async fn refusals_are_400_only_when_a_quorum_refuses() {
    let mut fakes = Vec::new();
    let mut specs = Vec::new();
    for n in 0..3 {
        let (fake, addr) = Fake::start(Store).await;
        specs.push(format!("f{n}={addr}"));
        fakes.push(fake);
    }
    let (app, _) = receiver(&specs, 3);
    let set = |modes: [Mode; 3]| {
        for (f, m) in fakes.iter().zip(modes) {
            *f.mode.lock().unwrap() = m;
        }
    };
    use Mode::*;
    let cases = [
        ([Store, Store, Refuse], StatusCode::NO_CONTENT),
        ([Refuse, Store, Refuse], StatusCode::BAD_REQUEST),
        ([Refuse, Refuse, Refuse], StatusCode::BAD_REQUEST),
        ([Refuse, Store, Fail], StatusCode::SERVICE_UNAVAILABLE),
        ([Store, Fail, Fail], StatusCode::SERVICE_UNAVAILABLE),
        ([Refuse, Fail, Fail], StatusCode::SERVICE_UNAVAILABLE),
    ];
    for (modes, want) in cases {
        set(modes);
        let (status, text) = write(&app, batch(10, now_ms())).await;
        assert_eq!(status, want, "{modes:?}: {text}");
        if want == StatusCode::BAD_REQUEST {
            assert!(
                text.contains("refused_by_ingesters") && text.contains("series limit exceeded"),
                "{text}"
            );
        }
    }
}

#[tokio::test]
async fn ingester_rejections_are_counted_once_not_once_per_replica() {
    let (_ings, specs) = real(3).await;
    let (app, _) = receiver(&specs, 3);
    let t = now_ms();
    let (status, text) = write(&app, batch(10, t)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    // Every series gets one out-of-order and one new sample.
    let mixed = (0..10)
        .map(|i| series(i, &[(t - 60_000, 1.0), (t + 1, 2.0)]))
        .collect();
    let (status, text) = write(&app, mixed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.starts_with("10 samples rejected"), "{text}");
    assert!(text.contains("out_of_order (10)"), "{text}");
}

#[tokio::test]
async fn stale_ingesters_take_no_writes_and_rf_is_clamped_to_the_ring() {
    let (ings, specs) = real(3).await;
    // Heartbeat-tracked ring: ing-0's heartbeat is an hour old.
    let base = StaticRing::from_specs(&specs, 128).unwrap();
    let members: Vec<Member> = cairn_ring::RingSource::current(&base)
        .members()
        .iter()
        .cloned()
        .map(|mut m| {
            m.last_heartbeat_ms = Some(if m.id == "ing-0" {
                now_ms() - 3_600_000
            } else {
                now_ms() + 3_600_000
            });
            assert_eq!(m.state, MemberState::Active);
            m
        })
        .collect();
    let (app, _) = receiver_with(StaticRing::new(Ring::new(members).unwrap()), 3);
    let (status, text) = write(&app, batch(30, now_ms())).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    assert!(ings[0].held().await.is_empty(), "stale ingester skipped");
    assert_eq!(ings[1].held().await.len(), 30);
    assert_eq!(ings[2].held().await.len(), 30);

    // One ingester and RF=3 (as in `cairn all`): RF becomes 1.
    let (app, _) = receiver(&specs[..1], 3);
    let (status, text) = write(&app, batch(5, now_ms() + 10)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
}
