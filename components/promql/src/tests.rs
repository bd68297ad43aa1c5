//! End-to-end tests of the engine on small hand-built data. Expected values are derived
//! by hand from Prometheus 3 semantics (see comments).

use std::time::Duration;

use async_trait::async_trait;
use cairn_model::{Labels, Sample, STALE_NAN};

use crate::{
    Engine, EngineOptions, InMemoryStorage, QueryError, QueryOptions, SelectRequest,
    SelectResult, Storage, StorageError, Value,
};

const S: i64 = 1000;
const M: i64 = 60 * S;

/// Parses `name{a="b"}` into labels.
fn labels(sel: &str) -> Labels {
    let expr = promql_parser::parser::parse(sel).expect("valid selector");
    let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
        panic!("not a selector: {sel}")
    };
    let mut pairs: Vec<(String, String)> = vs
        .matchers
        .matchers
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect();
    if let Some(n) = vs.name {
        pairs.push(("__name__".into(), n));
    }
    Labels::from_pairs(pairs)
}

/// Expands promqltest-style values (`1 _ stale 0+10x3 5-1x2`) into samples every
/// `interval_ms` starting at 0.
fn expand(values: &str, interval_ms: i64) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut t = 0;
    for tok in values.split_whitespace() {
        let mut push = |v: Option<f64>, t: &mut i64| {
            if let Some(v) = v {
                out.push(Sample::new(*t, v));
            }
            *t += interval_ms;
        };
        if let Some((base, rest)) = tok.split_once('x').filter(|_| !tok.starts_with("0x")) {
            let n: usize = rest.parse().expect("repeat count");
            if base == "_" {
                t += interval_ms * n as i64;
                continue;
            }
            let (start, step) = match base[1..].find(['+', '-']) {
                Some(i) => {
                    let (a, b) = base.split_at(i + 1);
                    (a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap())
                }
                None => (base.parse::<f64>().unwrap(), 0.0),
            };
            for i in 0..=n {
                push(Some(start + step * i as f64), &mut t);
            }
            continue;
        }
        let v = match tok {
            "_" => None,
            "stale" => Some(STALE_NAN),
            "NaN" => Some(f64::NAN),
            "Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            x => Some(x.parse().expect("number")),
        };
        push(v, &mut t);
    }
    out
}

fn storage(interval_ms: i64, series: &[(&str, &str)]) -> InMemoryStorage {
    let mut s = InMemoryStorage::new();
    for (sel, vals) in series {
        s.add(labels(sel), expand(vals, interval_ms));
    }
    s
}

fn engine() -> Engine {
    Engine::new(EngineOptions::default())
}

async fn instant(st: &dyn Storage, q: &str, t: i64) -> Result<Value, QueryError> {
    engine()
        .instant_query(st, q, t, &QueryOptions::default())
        .await
        .map(|r| r.value)
}

/// Instant query returning `(labels, value)` pairs in result order.
async fn vector(st: &dyn Storage, q: &str, t: i64) -> Vec<(String, f64)> {
    match instant(st, q, t).await {
        Ok(Value::Vector(v)) => v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
        other => panic!("{q}: expected vector, got {other:?}"),
    }
}

async fn scalar(st: &dyn Storage, q: &str, t: i64) -> f64 {
    match instant(st, q, t).await {
        Ok(Value::Scalar { v, .. }) => v,
        other => panic!("{q}: expected scalar, got {other:?}"),
    }
}

async fn exec_err(st: &dyn Storage, q: &str, t: i64) -> QueryError {
    match instant(st, q, t).await {
        Err(e) => e,
        Ok(v) => panic!("{q}: expected error, got {v:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

#[track_caller]
fn assert_vec(got: &[(String, f64)], want: &[(&str, f64)]) {
    assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
    for ((gl, gv), (wl, wv)) in got.iter().zip(want) {
        assert_eq!(gl, wl, "got {got:?}, want {want:?}");
        assert!(close(*gv, *wv), "{gl}: got {gv}, want {wv}");
    }
}

#[track_caller]
fn assert_one(got: &[(String, f64)], want: f64) {
    assert_eq!(got.len(), 1, "got {got:?}");
    assert!(close(got[0].1, want), "got {}, want {want}", got[0].1);
}

// ---------------------------------------------------------------- literals and parsing

#[tokio::test]
async fn literals_and_unary_minus() {
    let st = InMemoryStorage::new();
    assert_eq!(scalar(&st, "1 + 2 * 3", 0).await, 7.0);
    assert_eq!(scalar(&st, "-(3)", 0).await, -3.0);
    assert_eq!(scalar(&st, "2 ^ 3 ^ 2", 0).await, 512.0);
    assert_eq!(scalar(&st, "7 % 4", 0).await, 3.0);
    assert_eq!(scalar(&st, "1 == bool 1", 0).await, 1.0);
    assert_eq!(scalar(&st, "time()", 90 * S).await, 90.0);
    assert_eq!(
        instant(&st, "\"hello\"", 5).await.unwrap(),
        Value::String {
            t: 5,
            v: "hello".into()
        }
    );
}

#[tokio::test]
async fn parse_errors_are_bad_data() {
    let st = InMemoryStorage::new();
    for q in ["sum(", "foo{", "rate(foo)", "1 and 2", "{job=~\".*\"}"] {
        let e = exec_err(&st, q, 0).await;
        assert!(matches!(e, QueryError::Parse(_)), "{q}: {e:?}");
        assert_eq!(e.error_type(), "bad_data");
        assert_eq!(e.http_status(), 400);
    }
}

#[tokio::test]
async fn unsupported_functions_fail_clearly() {
    let st = storage(15 * S, &[("x", "1 2 3")]);
    let e = exec_err(&st, "double_exponential_smoothing(x[1m], 0.5, 0.5)", 30 * S).await;
    assert_eq!(
        e,
        QueryError::Execution("function double_exponential_smoothing is not supported yet".into())
    );
    assert_eq!(e.error_type(), "execution");
    assert_eq!(e.http_status(), 422);
}

// ---------------------------------------------------------------- selectors

#[tokio::test]
async fn lookback_window_is_left_open() {
    // Samples at 0 (1) and 60s (2).
    let st = storage(M, &[("m", "1 2")]);
    assert_one(&vector(&st, "m", 30 * S).await, 1.0);
    assert_one(&vector(&st, "m", 60 * S).await, 2.0);
    assert_one(&vector(&st, "m", 6 * M - 1).await, 2.0);
    // At 6m the window is (60s, 6m]: the 60s sample is out.
    assert!(vector(&st, "m", 6 * M).await.is_empty());
    assert!(vector(&st, "m", -1).await.is_empty());
    // Custom lookback.
    let r = engine()
        .instant_query(
            &st,
            "m",
            2 * M,
            &QueryOptions {
                lookback_delta: Some(Duration::from_secs(60)),
            },
        )
        .await
        .unwrap();
    assert_eq!(r.value, Value::Vector(vec![]));
}

#[tokio::test]
async fn stale_marker_ends_series() {
    let st = storage(M, &[("m", "1 stale _ 3")]);
    assert_one(&vector(&st, "m", 30 * S).await, 1.0);
    assert!(vector(&st, "m", 90 * S).await.is_empty());
    assert!(vector(&st, "m", 150 * S).await.is_empty());
    assert_one(&vector(&st, "m", 3 * M).await, 3.0);
    // Stale markers never show up inside range windows.
    assert_one(&vector(&st, "count_over_time(m[5m])", 3 * M).await, 2.0);
}

#[tokio::test]
async fn all_four_matchers() {
    let st = storage(
        M,
        &[
            (r#"m{job="api"}"#, "1"),
            (r#"m{job="web"}"#, "2"),
            (r#"m{job="db"}"#, "3"),
            (r#"other{job="api"}"#, "4"),
        ],
    );
    assert_vec(&vector(&st, r#"m{job="api"}"#, 0).await, &[(r#"m{job="api"}"#, 1.0)]);
    assert_eq!(vector(&st, r#"m{job!="api"}"#, 0).await.len(), 2);
    assert_eq!(vector(&st, r#"m{job=~"a.*|w.*"}"#, 0).await.len(), 2);
    // Regexes are anchored.
    assert!(vector(&st, r#"m{job=~"p"}"#, 0).await.is_empty());
    assert_vec(&vector(&st, r#"m{job!~"a.*|w.*"}"#, 0).await, &[(r#"m{job="db"}"#, 3.0)]);
    assert_eq!(vector(&st, r#"{__name__=~"m|other",job="api"}"#, 0).await.len(), 2);
}

#[tokio::test]
async fn offset_and_at_modifiers() {
    let st = storage(M, &[("m", "0+1x10")]); // m = minutes since 0, up to 10m
    assert_one(&vector(&st, "m offset 1m", 5 * M).await, 4.0);
    assert_one(&vector(&st, "m offset -2m", 5 * M).await, 7.0);
    assert_one(&vector(&st, "m @ 180", 9 * M).await, 3.0);
    assert_one(&vector(&st, "m @ 180 offset 1m", 9 * M).await, 2.0);
    assert_one(&vector(&st, "m @ end()", 4 * M).await, 4.0);
    // In a range query @ start()/end() pin every step.
    let r = engine()
        .range_query(&st, "m @ start()", 2 * M, 4 * M, M, &QueryOptions::default())
        .await
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m.len(), 1);
    let vals: Vec<f64> = m[0].samples.iter().map(|s| s.v).collect();
    assert_eq!(vals, vec![2.0, 2.0, 2.0]);
    // Range selectors honour offset too: (3m, 5m] offset 1m → samples at 4m, 5m.
    assert_one(&vector(&st, "sum_over_time(m[2m] offset 1m)", 6 * M).await, 9.0);
}

#[tokio::test]
async fn range_selector_window_is_left_open() {
    let st = storage(15 * S, &[("m", "1 2 3 4 5")]); // 0..60s
    let v = instant(&st, "m[1m]", 60 * S).await.unwrap();
    let Value::Matrix(m) = v else { panic!("{v:?}") };
    // (0, 60s]: the sample at 0 is excluded.
    let ts: Vec<i64> = m[0].samples.iter().map(|s| s.t).collect();
    assert_eq!(ts, vec![15 * S, 30 * S, 45 * S, 60 * S]);
    assert_eq!(m[0].labels.to_string(), "m");
}

// ---------------------------------------------------------------- rate family

#[tokio::test]
async fn rate_extrapolates_to_window_edges() {
    // 0,10,20,30,40 at 0..60s every 15s.
    let st = storage(15 * S, &[("c_total", "0+10x4")]);
    // Window (0, 60s]: 10..40 at 15..60s, result 30 over 45s; the 15s to the start is
    // below 1.1 × 15s so it extrapolates fully to 60s: 30 × 60/45 = 40.
    assert_one(&vector(&st, "increase(c_total[1m])", 60 * S).await, 40.0);
    assert_one(&vector(&st, "rate(c_total[1m])", 60 * S).await, 40.0 / 60.0);
    assert_vec(&vector(&st, "rate(c_total[1m])", 60 * S).await, &[("{}", 40.0 / 60.0)]);
}

#[tokio::test]
async fn rate_handles_counter_resets() {
    let st = storage(15 * S, &[("c_total", "0 10 20 5 15")]);
    // Window (0,60s]: 10 20 5 15 → 5 + 20 (reset) = 25; zero point at 45·10/25 = 18s
    // (> 15s) so no clamp: 25 × 60/45.
    assert_one(&vector(&st, "increase(c_total[1m])", 60 * S).await, 25.0 * 60.0 / 45.0);
    assert_one(&vector(&st, "resets(c_total[1m])", 60 * S).await, 1.0);
    assert_one(&vector(&st, "changes(c_total[1m])", 60 * S).await, 3.0);
    // irate after the reset uses the new value: 5/15s ... at 45s the last two are 20, 5.
    assert_one(&vector(&st, "irate(c_total[1m])", 45 * S).await, 5.0 / 15.0);
    assert_one(&vector(&st, "irate(c_total[1m])", 60 * S).await, 10.0 / 15.0);
    assert_one(&vector(&st, "idelta(c_total[1m])", 45 * S).await, -15.0);
}

#[tokio::test]
async fn rate_does_not_extrapolate_across_gaps() {
    let st = storage(15 * S, &[("c_total", "100 110 120 130 140")]);
    // [5m] at 60s: all samples, 240s gap to the window start → only half an interval
    // (7.5s) is added at the start: 40 × 67.5/60 = 45.
    assert_one(&vector(&st, "increase(c_total[5m])", 60 * S).await, 45.0);
    assert_one(&vector(&st, "rate(c_total[5m])", 60 * S).await, 45.0 / 300.0);
    // Starting at zero, the zero point is the sample itself: no extra start time.
    let st = storage(15 * S, &[("c_total", "0+10x4")]);
    assert_one(&vector(&st, "increase(c_total[5m])", 60 * S).await, 40.0);
    // Counter starting at 5 with slope 10/15s: zero point 7.5s before the first sample,
    // limited to the 7.5s half-interval; at the end the window edge is 15s after the
    // last sample (< 16.5s) so it extrapolates fully: 40 × (60 + 7.5 + 15)/60.
    let st = storage(15 * S, &[("c_total", "5+10x4")]);
    assert_one(&vector(&st, "increase(c_total[5m])", 75 * S).await, 40.0 * 82.5 / 60.0);
}

#[tokio::test]
async fn counter_zero_clamp_limits_start_extrapolation() {
    // 2, 12, 22 at 0,15,30s; window (−30s, 30s]: 30s to the start (> 16.5s) → 7.5s;
    // zero point 30 × 2/20 = 3s < 7.5s → 3s. increase = 20 × (30 + 3 + 0)/30.
    let st = storage(15 * S, &[("c_total", "2 12 22")]);
    assert_one(&vector(&st, "increase(c_total[1m])", 30 * S).await, 20.0 * 33.0 / 30.0);
}

#[tokio::test]
async fn delta_is_not_clamped() {
    let st = storage(15 * S, &[("g", "10 5 0 -5")]);
    // Window (−15s, 45s]: −15 over 45s, 15s to the start (< 16.5s): −15 × 60/45 = −20.
    assert_vec(&vector(&st, "delta(g[1m])", 45 * S).await, &[("{}", -20.0)]);
    assert_one(&vector(&st, "deriv(g[1m])", 45 * S).await, -1.0 / 3.0);
    // predict_linear: intercept at 45s is −5, slope −1/3 per second → −5 − 10.
    assert_one(&vector(&st, "predict_linear(g[1m], 30)", 45 * S).await, -15.0);
}

#[tokio::test]
async fn rate_needs_two_samples_and_drops_name_clashes() {
    let st = storage(
        15 * S,
        &[(r#"a_total{x="1"}"#, "1 2"), (r#"b_total{x="1"}"#, "1 2")],
    );
    assert!(vector(&st, "rate(a_total[10s])", 15 * S).await.is_empty());
    let e = exec_err(&st, r#"rate({__name__=~".*_total"}[1m])"#, 15 * S).await;
    assert_eq!(
        e,
        QueryError::Execution("vector cannot contain metrics with the same labelset".into())
    );
}

#[tokio::test]
async fn rate_of_non_counter_name_adds_info() {
    let st = storage(15 * S, &[("gauge", "1 2 3")]);
    let r = engine()
        .instant_query(&st, "rate(gauge[1m])", 30 * S, &QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(r.infos.len(), 1, "{:?}", r.infos);
}

// ---------------------------------------------------------------- over_time functions

#[tokio::test]
async fn over_time_functions() {
    let st = storage(15 * S, &[(r#"m{a="b"}"#, "1 4 2 8 5")]); // 0..60s
    let t = 60 * S; // window (0, 60s] → 4 2 8 5
    let cases = [
        ("avg_over_time", 19.0 / 4.0),
        ("sum_over_time", 19.0),
        ("count_over_time", 4.0),
        ("min_over_time", 2.0),
        ("max_over_time", 8.0),
        ("last_over_time", 5.0),
        ("present_over_time", 1.0),
        // mean 4.75; squared deviations 0.5625+7.5625+10.5625+0.0625 = 18.75; /4.
        ("stdvar_over_time", 18.75 / 4.0),
        ("stddev_over_time", (18.75f64 / 4.0).sqrt()),
    ];
    for (f, want) in cases {
        let got = vector(&st, &format!("{f}(m[1m])"), t).await;
        assert_one(&got, want);
        let name_kept = got[0].0.starts_with("m{");
        assert_eq!(name_kept, f == "last_over_time", "{f}: {}", got[0].0);
    }
    // Sorted 2 4 5 8: rank 0.5·3 = 1.5 → 4.5.
    assert_one(&vector(&st, "quantile_over_time(0.5, m[1m])", t).await, 4.5);
    assert!(vector(&st, "absent_over_time(m[1m])", t).await.is_empty());
    assert_vec(
        &vector(&st, r#"absent_over_time(nope{a="x"}[1m])"#, t).await,
        &[(r#"{a="x"}"#, 1.0)],
    );
}

// ---------------------------------------------------------------- aggregations

fn agg_storage() -> InMemoryStorage {
    storage(
        M,
        &[
            (r#"req{job="api",instance="0"}"#, "1"),
            (r#"req{job="api",instance="1"}"#, "2"),
            (r#"req{job="web",instance="0"}"#, "3"),
            (r#"req{job="web",instance="1"}"#, "6"),
            (r#"req{job="web",instance="2"}"#, "NaN"),
        ],
    )
}

#[tokio::test]
async fn basic_aggregations() {
    let st = agg_storage();
    let q = |s: &str| s.to_string();
    let cases: Vec<(String, Vec<(&str, f64)>)> = vec![
        (q("sum by (job) (req)"), vec![(r#"{job="api"}"#, 3.0), (r#"{job="web"}"#, f64::NAN)]),
        (q(r#"sum by (job) (req{instance!="2"})"#), vec![(r#"{job="api"}"#, 3.0), (r#"{job="web"}"#, 9.0)]),
        (q(r#"avg by (job) (req{instance!="2"})"#), vec![(r#"{job="api"}"#, 1.5), (r#"{job="web"}"#, 4.5)]),
        (q("count by (job) (req)"), vec![(r#"{job="api"}"#, 2.0), (r#"{job="web"}"#, 3.0)]),
        // NaN loses against numbers in min/max.
        (q("max by (job) (req)"), vec![(r#"{job="api"}"#, 2.0), (r#"{job="web"}"#, 6.0)]),
        (q("min by (job) (req)"), vec![(r#"{job="api"}"#, 1.0), (r#"{job="web"}"#, 3.0)]),
        (q("group by (job) (req)"), vec![(r#"{job="api"}"#, 1.0), (r#"{job="web"}"#, 1.0)]),
        (q(r#"stddev by (job) (req{instance!="2"})"#), vec![(r#"{job="api"}"#, 0.5), (r#"{job="web"}"#, 1.5)]),
        (q(r#"stdvar by (job) (req{instance!="2"})"#), vec![(r#"{job="api"}"#, 0.25), (r#"{job="web"}"#, 2.25)]),
        (q(r#"sum without (instance) (req{instance!="2"})"#), vec![(r#"{job="api"}"#, 3.0), (r#"{job="web"}"#, 9.0)]),
        (q(r#"sum(req{instance!="2"})"#), vec![("{}", 12.0)]),
        // 1 2 3 6 → rank 0.5·3 = 1.5 → 2.5.
        (q(r#"quantile(0.5, req{instance!="2"})"#), vec![("{}", 2.5)]),
        (q(r#"sum by (__name__) (req{instance!="2"})"#), vec![("req", 12.0)]),
    ];
    for (query, want) in cases {
        let got = vector(&st, &query, 0).await;
        assert_eq!(got.len(), want.len(), "{query}: {got:?}");
        for ((gl, gv), (wl, wv)) in got.iter().zip(&want) {
            assert_eq!(gl, wl, "{query}");
            assert!(close(*gv, *wv), "{query}: {gl} got {gv} want {wv}");
        }
    }
}

#[tokio::test]
async fn topk_bottomk_keep_labels_and_order() {
    let st = agg_storage();
    assert_vec(
        &vector(&st, "topk(2, req)", 0).await,
        &[
            (r#"req{instance="1", job="web"}"#, 6.0),
            (r#"req{instance="0", job="web"}"#, 3.0),
        ],
    );
    assert_vec(
        &vector(&st, "bottomk by (job) (1, req)", 0).await,
        &[
            (r#"req{instance="0", job="api"}"#, 1.0),
            (r#"req{instance="0", job="web"}"#, 3.0),
        ],
    );
    assert!(vector(&st, "topk(0, req)", 0).await.is_empty());
    let e = exec_err(&st, "topk(scalar(nope), req)", 0).await;
    assert!(e.to_string().contains("Parameter value is NaN"), "{e}");
}

#[tokio::test]
async fn count_values_groups_by_value() {
    let st = storage(
        M,
        &[
            (r#"v{job="a"}"#, "1"),
            (r#"v{job="b"}"#, "1"),
            (r#"v{job="c"}"#, "2.5"),
        ],
    );
    assert_vec(
        &vector(&st, r#"count_values("val", v)"#, 0).await,
        &[(r#"{val="1"}"#, 2.0), (r#"{val="2.5"}"#, 1.0)],
    );
    assert_vec(
        &vector(&st, r#"count_values by (job) ("val", v{job="a"})"#, 0).await,
        &[(r#"{job="a", val="1"}"#, 1.0)],
    );
}

// ---------------------------------------------------------------- binary operators

fn binop_storage() -> InMemoryStorage {
    storage(
        M,
        &[
            (r#"a{job="api",instance="0"}"#, "10"),
            (r#"a{job="api",instance="1"}"#, "20"),
            (r#"a{job="web",instance="0"}"#, "30"),
            (r#"b{job="api",instance="0"}"#, "2"),
            (r#"b{job="api",instance="1"}"#, "4"),
            (r#"b{job="db",instance="0"}"#, "5"),
            (r#"c{job="api"}"#, "100"),
            (r#"c{job="web"}"#, "200"),
        ],
    )
}

#[tokio::test]
async fn vector_scalar_arithmetic_and_comparison() {
    let st = binop_storage();
    assert_vec(
        &vector(&st, r#"a{job="api"} * 2"#, 0).await,
        &[(r#"{instance="0", job="api"}"#, 20.0), (r#"{instance="1", job="api"}"#, 40.0)],
    );
    assert_vec(
        &vector(&st, r#"100 - a{job="api"}"#, 0).await,
        &[(r#"{instance="0", job="api"}"#, 90.0), (r#"{instance="1", job="api"}"#, 80.0)],
    );
    // Filters keep the name and the vector's value, whichever side the scalar is on.
    assert_vec(&vector(&st, "a > 15", 0).await, &[
        (r#"a{instance="1", job="api"}"#, 20.0),
        (r#"a{instance="0", job="web"}"#, 30.0),
    ]);
    assert_vec(&vector(&st, "25 < a", 0).await, &[(r#"a{instance="0", job="web"}"#, 30.0)]);
    assert_vec(&vector(&st, r#"a{job="api"} >= bool 20"#, 0).await, &[
        (r#"{instance="0", job="api"}"#, 0.0),
        (r#"{instance="1", job="api"}"#, 1.0),
    ]);
    assert_vec(&vector(&st, r#"-a{job="web"}"#, 0).await, &[(r#"{instance="0", job="web"}"#, -30.0)]);
    assert_vec(&vector(&st, r#"a{job="web"} % 7"#, 0).await, &[(r#"{instance="0", job="web"}"#, 2.0)]);
    assert_vec(&vector(&st, r#"a{job="web"} ^ 2"#, 0).await, &[(r#"{instance="0", job="web"}"#, 900.0)]);
}

#[tokio::test]
async fn one_to_one_matching() {
    let st = binop_storage();
    assert_vec(
        &vector(&st, "a / b", 0).await,
        &[(r#"{instance="0", job="api"}"#, 5.0), (r#"{instance="1", job="api"}"#, 5.0)],
    );
    assert_vec(
        &vector(&st, "a / on(instance, job) b", 0).await,
        &[(r#"{instance="0", job="api"}"#, 5.0), (r#"{instance="1", job="api"}"#, 5.0)],
    );
    // ignoring(instance) on the api side gives two matches for one rhs... here b is
    // unique per (job) only for db, so restrict to instance 0.
    assert_vec(
        &vector(&st, r#"a{instance="0"} - ignoring(instance) b{instance="0"}"#, 0).await,
        &[(r#"{job="api"}"#, 8.0)],
    );
    // Comparisons keep the lhs labels (and name).
    assert_vec(&vector(&st, "a > b", 0).await, &[
        (r#"a{instance="0", job="api"}"#, 10.0),
        (r#"a{instance="1", job="api"}"#, 20.0),
    ]);
    assert_vec(&vector(&st, "b == bool a", 0).await, &[
        (r#"{instance="0", job="api"}"#, 0.0),
        (r#"{instance="1", job="api"}"#, 0.0),
    ]);
}

#[tokio::test]
async fn many_to_one_matching() {
    let st = binop_storage();
    assert_vec(
        &vector(&st, "a * on(job) group_left c", 0).await,
        &[
            (r#"{instance="0", job="api"}"#, 1000.0),
            (r#"{instance="1", job="api"}"#, 2000.0),
            (r#"{instance="0", job="web"}"#, 6000.0),
        ],
    );
    // group_right: labels from the rhs ("many") side, extra label copied from lhs.
    assert_vec(
        &vector(&st, r#"label_replace(c, "tier", "gold", "", "") * on(job) group_right(tier) a"#, 0).await,
        &[
            (r#"{instance="0", job="api", tier="gold"}"#, 1000.0),
            (r#"{instance="1", job="api", tier="gold"}"#, 2000.0),
            (r#"{instance="0", job="web", tier="gold"}"#, 6000.0),
        ],
    );
}

#[tokio::test]
async fn matching_errors_like_prometheus() {
    let st = binop_storage();
    let e = exec_err(&st, "c + on(job) a", 0).await;
    assert_eq!(
        e.to_string(),
        r#"found duplicate series for the match group {job="api"} on the right hand-side of the operation: [{__name__="a", instance="1", job="api"}, {__name__="a", instance="0", job="api"}];many-to-many matching not allowed: matching labels must be unique on one side"#
    );
    let e = exec_err(&st, "a + on(job) c", 0).await;
    assert_eq!(
        e.to_string(),
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    );
    let e = exec_err(&st, "a + on(job) group_left b", 0).await;
    assert!(e.to_string().contains("on the right hand-side"), "{e}");
    let e = exec_err(&st, "b + on(job) group_right a", 0).await;
    assert!(e.to_string().contains("on the left hand-side"), "{e}");
}

#[tokio::test]
async fn set_operators() {
    let st = binop_storage();
    assert_vec(&vector(&st, "a and b", 0).await, &[
        (r#"a{instance="0", job="api"}"#, 10.0),
        (r#"a{instance="1", job="api"}"#, 20.0),
    ]);
    assert_vec(&vector(&st, "a unless b", 0).await, &[(r#"a{instance="0", job="web"}"#, 30.0)]);
    assert_vec(&vector(&st, "a unless on(job) c", 0).await, &[]);
    assert_vec(&vector(&st, "b or a", 0).await, &[
        (r#"a{instance="0", job="web"}"#, 30.0),
        (r#"b{instance="0", job="api"}"#, 2.0),
        (r#"b{instance="1", job="api"}"#, 4.0),
        (r#"b{instance="0", job="db"}"#, 5.0),
    ]);
    assert_eq!(vector(&st, "a or on(job) c", 0).await.len(), 3);
}

// ---------------------------------------------------------------- other functions

#[tokio::test]
async fn math_and_label_functions() {
    let st = storage(M, &[(r#"m{a="x-1",b="y"}"#, "-2.5")]);
    let one = |v: &[(String, f64)]| v[0].1;
    assert_eq!(one(&vector(&st, "abs(m)", 0).await), 2.5);
    assert_eq!(one(&vector(&st, "ceil(m)", 0).await), -2.0);
    assert_eq!(one(&vector(&st, "floor(m)", 0).await), -3.0);
    assert_eq!(one(&vector(&st, "round(m)", 0).await), -2.0);
    assert_eq!(one(&vector(&st, "round(m, 5)", 0).await), -5.0 + 5.0);
    assert_eq!(one(&vector(&st, "clamp(m, -1, 1)", 0).await), -1.0);
    assert!(vector(&st, "clamp(m, 1, -1)", 0).await.is_empty());
    assert_eq!(one(&vector(&st, "clamp_min(m, 0)", 0).await), 0.0);
    assert_eq!(one(&vector(&st, "clamp_max(m, -3)", 0).await), -3.0);
    assert_eq!(one(&vector(&st, "sqrt(abs(m) * 10)", 0).await), 5.0);
    assert_eq!(one(&vector(&st, "exp(ln(abs(m)))", 0).await), 2.5);
    assert_eq!(one(&vector(&st, "log2(abs(m) * 0 + 8)", 0).await), 3.0);
    assert_eq!(one(&vector(&st, "log10(abs(m) * 40)", 0).await), 2.0);
    assert_eq!(vector(&st, "abs(m)", 0).await[0].0, r#"{a="x-1", b="y"}"#);
    assert_vec(
        &vector(&st, r#"label_replace(m, "c", "$1", "a", "x-(.*)")"#, 0).await,
        &[(r#"m{a="x-1", b="y", c="1"}"#, -2.5)],
    );
    // No match leaves the series untouched.
    assert_vec(
        &vector(&st, r#"label_replace(m, "c", "$1", "a", "nomatch")"#, 0).await,
        &[(r#"m{a="x-1", b="y"}"#, -2.5)],
    );
    assert_vec(
        &vector(&st, r#"label_join(m, "c", "/", "a", "b")"#, 0).await,
        &[(r#"m{a="x-1", b="y", c="x-1/y"}"#, -2.5)],
    );
    let e = exec_err(&st, r#"label_replace(m, "c", "", "a", "(")"#, 0).await;
    assert!(matches!(e, QueryError::Execution(_)), "{e:?}");
}

#[tokio::test]
async fn time_vector_scalar_timestamp_absent() {
    let st = storage(15 * S, &[(r#"m{a="b"}"#, "1 2"), (r#"n{a="c"}"#, "5")]);
    assert_vec(&vector(&st, "vector(3)", 0).await, &[("{}", 3.0)]);
    assert_eq!(scalar(&st, "scalar(m)", 20 * S).await, 2.0);
    assert!(scalar(&st, "scalar({a=~\".+\"})", 10 * S).await.is_nan());
    // timestamp() of a selector is the sample's own time.
    assert_vec(&vector(&st, "timestamp(m)", 20 * S).await, &[(r#"{a="b"}"#, 15.0)]);
    assert_vec(&vector(&st, "timestamp(abs(m))", 20 * S).await, &[(r#"{a="b"}"#, 20.0)]);
    assert!(vector(&st, "absent(m)", 20 * S).await.is_empty());
    assert_vec(
        &vector(&st, r#"absent(nope{job="x", env=~"p.*"})"#, 20 * S).await,
        &[(r#"{job="x"}"#, 1.0)],
    );
}

#[tokio::test]
async fn sort_functions_order_instant_results() {
    let st = agg_storage();
    let got = vector(&st, "sort(req)", 0).await;
    let vals: Vec<f64> = got.iter().map(|x| x.1).collect();
    assert_eq!(&vals[..4], &[1.0, 2.0, 3.0, 6.0]);
    assert!(vals[4].is_nan());
    let got = vector(&st, "sort_desc(req)", 0).await;
    let vals: Vec<f64> = got.iter().map(|x| x.1).collect();
    assert_eq!(&vals[..4], &[6.0, 3.0, 2.0, 1.0]);
    assert_eq!(got[0].0, r#"req{instance="1", job="web"}"#);
}

#[tokio::test]
async fn histogram_quantile_on_classic_buckets() {
    let st = storage(
        M,
        &[
            (r#"h_bucket{job="a",le="0.1"}"#, "10"),
            (r#"h_bucket{job="a",le="0.5"}"#, "20"),
            (r#"h_bucket{job="a",le="+Inf"}"#, "20"),
            (r#"h_bucket{job="b",le="1"}"#, "5"),
        ],
    );
    // job a: rank 15 lies halfway in (0.1, 0.5]; job b has no +Inf bucket → NaN.
    assert_vec(
        &vector(&st, "histogram_quantile(0.75, h_bucket)", 0).await,
        &[(r#"{job="a"}"#, 0.3), (r#"{job="b"}"#, f64::NAN)],
    );
}

// ---------------------------------------------------------------- subqueries

#[tokio::test]
async fn subqueries() {
    let st = storage(15 * S, &[("m", "1x20")]);
    // Inner steps aligned to 15s in (60s, 120s]: 75, 90, 105, 120.
    assert_one(&vector(&st, "sum_over_time(m[1m:15s])", 120 * S).await, 4.0);
    let v = instant(&st, "m[1m:15s]", 120 * S).await.unwrap();
    let Value::Matrix(m) = v else { panic!() };
    let ts: Vec<i64> = m[0].samples.iter().map(|s| s.t).collect();
    assert_eq!(ts, vec![75 * S, 90 * S, 105 * S, 120 * S]);
    // Default step is 1m: (0, 120s] → 60s, 120s.
    assert_one(&vector(&st, "count_over_time(m[2m:])", 120 * S).await, 2.0);
    let st = storage(15 * S, &[("c_total", "0+15x20")]); // rate 1/s
    assert_one(&vector(&st, "max_over_time(rate(c_total[1m])[2m:30s])", 4 * M).await, 1.0);
    // Offset and @ on subqueries.
    assert_one(&vector(&st, "last_over_time(c_total[1m:15s] offset 1m)", 4 * M).await, 180.0);
    assert_one(&vector(&st, "last_over_time(c_total[1m:15s] @ 60)", 4 * M).await, 60.0);
}

// ---------------------------------------------------------------- range queries

#[tokio::test]
async fn range_query_returns_matrix_points_where_present() {
    let st = storage(M, &[("m", "1 2 _ _ _ _ _ _ 9"), (r#"c_total{x="y"}"#, "0+60x8")]);
    let r = engine()
        .range_query(&st, "m", 0, 10 * M, 2 * M, &QueryOptions::default())
        .await
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    let pts: Vec<(i64, f64)> = m[0].samples.iter().map(|s| (s.t / M, s.v)).collect();
    // Lookback 5m: the value 2 (at 1m) is visible until 6m exclusive; 9 at 8m.
    assert_eq!(pts, vec![(0, 1.0), (2, 2.0), (4, 2.0), (8, 9.0), (10, 9.0)]);
    let r = engine()
        .range_query(&st, "rate(c_total[2m])", 2 * M, 6 * M, 2 * M, &QueryOptions::default())
        .await
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m[0].labels.to_string(), r#"{x="y"}"#);
    assert!(m[0].samples.iter().all(|s| close(s.v, 1.0)), "{m:?}");
    let r = engine()
        .range_query(&st, "time()", 0, 2 * M, M, &QueryOptions::default())
        .await
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m[0].labels, Labels::empty());
    assert_eq!(m[0].samples.iter().map(|s| s.v).collect::<Vec<_>>(), vec![0.0, 60.0, 120.0]);
    let e = engine()
        .range_query(&st, "m[5m]", 0, M, M, &QueryOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "bad_data");
    let e = engine()
        .range_query(&st, "m", 0, M, 0, &QueryOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "bad_data");
}

#[tokio::test]
async fn range_query_aggregation_and_join() {
    let st = storage(
        M,
        &[
            (r#"a{job="x",i="1"}"#, "1 2 3"),
            (r#"a{job="x",i="2"}"#, "10 _ 30"),
            (r#"b{job="x"}"#, "2 2 2"),
        ],
    );
    let o = QueryOptions {
        lookback_delta: Some(Duration::from_secs(30)),
    };
    let r = engine()
        .range_query(&st, "sum by (job) (a) / on(job) b", 0, 2 * M, M, &o)
        .await
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m.len(), 1);
    let vals: Vec<f64> = m[0].samples.iter().map(|s| s.v).collect();
    assert_eq!(vals, vec![5.5, 1.0, 16.5]);
}

// ---------------------------------------------------------------- limits

#[tokio::test]
async fn max_samples_limit() {
    let st = storage(15 * S, &[("m", "0+1x100")]);
    let eng = Engine::new(EngineOptions {
        max_samples: 10,
        ..EngineOptions::default()
    });
    let e = eng
        .instant_query(&st, "sum_over_time(m[10m])", 10 * M, &QueryOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e, QueryError::TooManySamples);
    assert_eq!(e.error_type(), "execution");
    assert_eq!(
        e.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    // Small queries still work.
    let r = eng
        .instant_query(&st, "m", 10 * M, &QueryOptions::default())
        .await
        .unwrap();
    assert!(matches!(r.value, Value::Vector(v) if v.len() == 1));
    let e = eng
        .range_query(&st, "m", 0, 20 * M, M, &QueryOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e, QueryError::TooManySamples);
}

#[derive(Debug)]
struct SlowStorage(Duration);

#[async_trait]
impl Storage for SlowStorage {
    async fn select(&self, _req: &SelectRequest) -> Result<SelectResult, StorageError> {
        tokio::time::sleep(self.0).await;
        Ok(SelectResult::default())
    }
}

#[derive(Debug)]
struct FailingStorage;

#[async_trait]
impl Storage for FailingStorage {
    async fn select(&self, _req: &SelectRequest) -> Result<SelectResult, StorageError> {
        Err(StorageError::retryable("store unreachable"))
    }
}

#[tokio::test]
async fn timeout_and_queueing() {
    let eng = Engine::new(EngineOptions {
        timeout: Duration::from_millis(100),
        max_concurrent: 1,
        ..EngineOptions::default()
    });
    let slow = SlowStorage(Duration::from_secs(5));
    let e = eng
        .instant_query(&slow, "m", 0, &QueryOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e, QueryError::Timeout("expression evaluation"));
    assert_eq!((e.error_type(), e.http_status()), ("timeout", 503));
    // With the only slot busy, the second query times out in the queue.
    let slow2 = SlowStorage(Duration::from_millis(300));
    let fast = InMemoryStorage::new();
    let qo = QueryOptions::default();
    let (a, b) = tokio::join!(eng.instant_query(&slow2, "m", 0, &qo), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        eng.instant_query(&fast, "m", 0, &qo).await
    });
    assert_eq!(a.unwrap_err(), QueryError::Timeout("expression evaluation"));
    assert_eq!(b.unwrap_err(), QueryError::Timeout("query queue"));
}

#[tokio::test]
async fn storage_errors_are_passed_on() {
    let e = instant(&FailingStorage, "m", 0).await.unwrap_err();
    assert_eq!(e.error_type(), "unavailable");
    assert_eq!(e.http_status(), 503);
    assert_eq!(e.to_string(), "store unreachable");
    // Literals need no storage.
    assert!(instant(&FailingStorage, "1", 0).await.is_ok());
}
