//! Literals, parsing, selectors, subqueries and range queries.

use std::time::Duration;

use cairn_model::Labels;

use super::*;
use crate::{InMemoryStorage, QueryError, QueryOptions, Value};

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
    // `info()` (experimental upstream) is not implemented.
    let e = exec_err(&st, "info(x)", 30 * S).await;
    assert_eq!(
        e,
        QueryError::Execution("function info is not supported yet".into())
    );
    assert_eq!(e.error_type(), "execution");
    assert_eq!(e.http_status(), 422);
}

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
    assert_vec(
        &vector(&st, r#"m{job="api"}"#, 0).await,
        &[(r#"m{job="api"}"#, 1.0)],
    );
    assert_eq!(vector(&st, r#"m{job!="api"}"#, 0).await.len(), 2);
    assert_eq!(vector(&st, r#"m{job=~"a.*|w.*"}"#, 0).await.len(), 2);
    // Regexes are anchored.
    assert!(vector(&st, r#"m{job=~"p"}"#, 0).await.is_empty());
    assert_vec(
        &vector(&st, r#"m{job!~"a.*|w.*"}"#, 0).await,
        &[(r#"m{job="db"}"#, 3.0)],
    );
    assert_eq!(
        vector(&st, r#"{__name__=~"m|other",job="api"}"#, 0)
            .await
            .len(),
        2
    );
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
        .range_query(
            &st,
            "m @ start()",
            2 * M,
            4 * M,
            M,
            &QueryOptions::default(),
        )
        .await
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m.len(), 1);
    let vals: Vec<f64> = m[0].samples.iter().map(|s| s.v).collect();
    assert_eq!(vals, vec![2.0, 2.0, 2.0]);
    // Range selectors honour offset too: (3m, 5m] offset 1m → samples at 4m, 5m.
    assert_one(
        &vector(&st, "sum_over_time(m[2m] offset 1m)", 6 * M).await,
        9.0,
    );
}

#[tokio::test]
async fn range_selector_window_is_left_open() {
    let st = storage(15 * S, &[("m", "1 2 3 4 5")]); // 0..60s
    let v = instant(&st, "m[1m]", 60 * S).await.unwrap();
    let Value::Matrix(m) = v else { panic!("{v:?}") };
    // (0, 60s]: the sample at 0 is excluded.
    let ts: Vec<i64> = m[0].samples.iter().map(|s| s.t).collect();
    assert_eq!(ts, vec![15 * S, 30 * S, 45 * S, 60 * S]);
    assert_eq!(m[0].labels.to_string(), "m{}");
}

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
    assert_one(
        &vector(&st, "max_over_time(rate(c_total[1m])[2m:30s])", 4 * M).await,
        1.0,
    );
    // Offset and @ on subqueries.
    assert_one(
        &vector(&st, "last_over_time(c_total[1m:15s] offset 1m)", 4 * M).await,
        180.0,
    );
    assert_one(
        &vector(&st, "last_over_time(c_total[1m:15s] @ 60)", 4 * M).await,
        60.0,
    );
}

#[tokio::test]
async fn range_query_returns_matrix_points_where_present() {
    let st = storage(
        M,
        &[("m", "1 2 _ _ _ _ _ _ 9"), (r#"c_total{x="y"}"#, "0+60x8")],
    );
    let r = engine()
        .range_query(&st, "m", 0, 10 * M, 2 * M, &QueryOptions::default())
        .await
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    let pts: Vec<(i64, f64)> = m[0].samples.iter().map(|s| (s.t / M, s.v)).collect();
    // Lookback 5m: the value 2 (at 1m) is visible until 6m exclusive; 9 at 8m.
    assert_eq!(pts, vec![(0, 1.0), (2, 2.0), (4, 2.0), (8, 9.0), (10, 9.0)]);
    let r = engine()
        .range_query(
            &st,
            "rate(c_total[2m])",
            2 * M,
            6 * M,
            2 * M,
            &QueryOptions::default(),
        )
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
    assert_eq!(
        m[0].samples.iter().map(|s| s.v).collect::<Vec<_>>(),
        vec![0.0, 60.0, 120.0]
    );
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

#[tokio::test]
async fn or_merges_series_with_identical_labels_over_time() {
    // m exists at 0..2m only; "m or m offset 5m" fills later steps from the offset copy.
    let st = storage(M, &[("m", "1 2 3")]);
    let o = QueryOptions {
        lookback_delta: Some(Duration::from_secs(30)),
    };
    let r = engine()
        .range_query(&st, "m or m offset 5m", 0, 7 * M, M, &o)
        .await
        .unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert_eq!(m.len(), 1);
    let pts: Vec<(i64, f64)> = m[0].samples.iter().map(|s| (s.t / M, s.v)).collect();
    assert_eq!(
        pts,
        vec![(0, 1.0), (1, 2.0), (2, 3.0), (5, 1.0), (6, 2.0), (7, 3.0)]
    );
}
