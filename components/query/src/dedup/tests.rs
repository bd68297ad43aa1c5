//! Deduplication through the HTTP API over real StoreAPI servers: each replica of an
//! HA pair is served by its own store, like two Prometheus servers behind sidecars.

use axum::body::Body;
use cairn_model::Labels;
use cairn_storeapi::RawSeries;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::tests::{querier, query, scalar_value, secs, xor_chunks, Fixed, H, MIN};

fn replica(label: &str, value: &str, points: &[(i64, f64)]) -> RawSeries {
    RawSeries {
        labels: Labels::from_pairs([("__name__", "x"), ("job", "node"), (label, value)]),
        chunks: xor_chunks(points, 120),
    }
}

fn store(s: RawSeries) -> Fixed {
    Fixed::new("sidecar", vec![s])
}

async fn get(app: &axum::Router, path: &str, params: &[(&str, &str)]) -> Value {
    let qs = serde_urlencoded::to_string(params).unwrap();
    let req = http::Request::get(format!("{path}?{qs}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

fn result(v: &Value) -> &Vec<Value> {
    v["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
}

type Points = Vec<(i64, f64)>;

/// A counter growing 2/s that resets every 50m, at time `t` (ms).
fn value(t: i64) -> f64 {
    (t.rem_euclid(50 * MIN) / 500) as f64
}

/// The true series (every 15s from 4s on), replica A (the same with a 20m hole) and
/// replica B: complete, stamped 4s before A's scrapes but reading the target 25s
/// before its timestamp, so where the output switches from A to B the newer B sample
/// is lower (thanos#7623). A's samples come first in every window, so A is followed.
fn ha_pair() -> [Points; 3] {
    let full: Vec<(i64, f64)> = (0..3 * H)
        .step_by(15_000)
        .map(|t| (t + 4_000, value(t + 4_000)))
        .collect();
    let a = full
        .iter()
        .copied()
        .filter(|(t, _)| !(70 * MIN..90 * MIN).contains(t))
        .collect();
    let b = (0..3 * H)
        .step_by(15_000)
        .map(|t| (t, value(t - 25_000)))
        .collect();
    [full, a, b]
}

#[tokio::test]
async fn rate_over_two_replicas_equals_the_single_replica_answer() {
    let [full, a, b] = ha_pair();
    let pair = querier(vec![
        store(replica("replica", "A", &a)),
        store(replica("replica", "B", &b)),
    ])
    .await;
    let single = querier(vec![store(replica("replica", "A", &full))]).await;
    // Every minute for 3h: windows inside A's hole (filled from B), across the
    // switch to B (which is then followed), and across the resets at 50m, 100m, 150m.
    let params = |q: &'static str| {
        [
            ("query", q),
            ("start", "600"),
            ("end", "10740"),
            ("step", "60"),
        ]
    };
    let got = get(&pair, "/api/v1/query_range", &params("rate(x[5m])")).await;
    let want = get(&single, "/api/v1/query_range", &params("rate(x[5m])")).await;
    let (got, want) = (result(&got), result(&want));
    assert_eq!(got.len(), 1, "one deduplicated series: {got:?}");
    assert_eq!(got[0]["metric"], serde_json::json!({"job": "node"}));
    let values = |s: &Value| -> Vec<(f64, f64)> {
        s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_f64().unwrap(),
                    p[1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    };
    let (g, w) = (values(&got[0]), values(&want[0]));
    assert_eq!(g.len(), w.len());
    for ((t, gv), (_, wv)) in g.iter().zip(&w) {
        // The counter grows 2/s; B's lag costs a little where B is read, a switch
        // counted as a reset would be several times off (the drop to B's lower value).
        assert!(
            (gv - wv).abs() <= 0.1 * wv.abs().max(1.0),
            "at {t}: {gv} vs {wv}"
        );
    }
    // Without deduplication the hole is visible: A has no rate there.
    let raw = get(
        &pair,
        "/api/v1/query",
        &[
            ("query", "rate(x{replica=\"A\"}[5m])"),
            ("time", &secs(80 * MIN)),
            ("dedup", "false"),
        ],
    )
    .await;
    assert!(result(&raw).is_empty(), "{raw}");
    let (_, v) = query(
        &pair,
        &[("query", "rate(x[5m])"), ("time", &secs(80 * MIN))],
    )
    .await;
    assert!((scalar_value(&v) - 2.0).abs() < 0.05, "{v}");
    let (_, v) = query(
        &pair,
        &[("query", "increase(x[10m])"), ("time", &secs(85 * MIN))],
    )
    .await;
    assert!((scalar_value(&v) - 1200.0).abs() < 60.0, "{v}");
}

#[tokio::test]
async fn dedup_false_returns_every_replica_with_its_replica_label() {
    let [_, a, b] = ha_pair();
    let app = querier(vec![
        store(replica("replica", "A", &a)),
        store(replica("replica", "B", &b)),
    ])
    .await;
    let at = secs(2 * H);
    let on = get(&app, "/api/v1/query", &[("query", "x"), ("time", &at)]).await;
    assert_eq!(result(&on).len(), 1, "{on}");
    assert!(result(&on)[0]["metric"].get("replica").is_none());
    let off = get(
        &app,
        "/api/v1/query",
        &[("query", "x"), ("time", &at), ("dedup", "false")],
    )
    .await;
    let mut replicas: Vec<&str> = result(&off)
        .iter()
        .map(|s| s["metric"]["replica"].as_str().unwrap())
        .collect();
    replicas.sort_unstable();
    assert_eq!(replicas, ["A", "B"], "{off}");

    let series = |dedup: &'static str| {
        let app = app.clone();
        async move {
            get(
                &app,
                "/api/v1/series",
                &[("match[]", "x"), ("dedup", dedup)],
            )
            .await["data"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(series("true").await, 1);
    assert_eq!(series("false").await, 2);
    let names = |dedup: &'static str| {
        let app = app.clone();
        async move { get(&app, "/api/v1/labels", &[("dedup", dedup)]).await["data"].clone() }
    };
    assert_eq!(names("true").await, serde_json::json!(["__name__", "job"]));
    assert_eq!(
        names("false").await,
        serde_json::json!(["__name__", "job", "replica"])
    );
}

#[tokio::test]
async fn replica_labels_param_changes_which_label_is_the_replica() {
    let [_, a, b] = ha_pair();
    let app = querier(vec![
        store(replica("foo", "a", &a)),
        store(replica("foo", "b", &b)),
    ])
    .await;
    let at = secs(2 * H);
    // `foo` is not a replica label by default: two series.
    let v = get(&app, "/api/v1/query", &[("query", "x"), ("time", &at)]).await;
    assert_eq!(result(&v).len(), 2, "{v}");
    let v = get(
        &app,
        "/api/v1/query",
        &[("query", "x"), ("time", &at), ("replicaLabels[]", "foo")],
    )
    .await;
    assert_eq!(result(&v).len(), 1, "{v}");
    assert_eq!(
        result(&v)[0]["metric"],
        serde_json::json!({"__name__": "x", "job": "node"})
    );
    // Aggregations see the one deduplicated series too.
    let v = get(
        &app,
        "/api/v1/query",
        &[
            ("query", "count(x)"),
            ("time", &at),
            ("replicaLabels[]", "foo"),
        ],
    )
    .await;
    assert_eq!(scalar_value(&v), 1.0);
}
