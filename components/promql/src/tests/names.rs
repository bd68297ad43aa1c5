//! Prometheus 3's delayed `__name__` removal: operations that drop the metric name only
//! mark the series, and the name goes at the end of the evaluation.

use std::time::Duration;

use super::*;
use crate::QueryOptions;

fn two_counters() -> InMemoryStorage {
    // Both at 0.2/s over [10m] at 10m.
    storage(
        5 * M,
        &[
            (r#"metric_total{env="1"}"#, "0 60 120"),
            (r#"another_metric_total{env="1"}"#, "60 120 180"),
        ],
    )
}

#[tokio::test]
async fn label_functions_see_and_can_keep_a_name_marked_for_removal() {
    let st = two_counters();
    // Eager removal would make the two rates collide before label_replace runs.
    assert_vec(
        &vector(
            &st,
            r#"label_replace(rate({env="1"}[10m]), "my_name", "rate_$1", "__name__", "(.+)")"#,
            10 * M,
        )
        .await,
        &[
            (r#"{env="1", my_name="rate_another_metric_total"}"#, 0.2),
            (r#"{env="1", my_name="rate_metric_total"}"#, 0.2),
        ],
    );
    // Setting __name__ explicitly keeps it.
    assert_vec(
        &vector(
            &st,
            r#"label_join(rate({env="1"}[10m]), "__name__", "_", "__name__", "env")"#,
            10 * M,
        )
        .await,
        &[
            (r#"another_metric_total_1{env="1"}"#, 0.2),
            (r#"metric_total_1{env="1"}"#, 0.2),
        ],
    );
}

#[tokio::test]
async fn aggregation_groups_by_the_pending_name_and_propagates_the_mark() {
    let st = two_counters();
    // Grouped apart by the names, both lose them at the end: duplicate label sets.
    assert_eq!(
        exec_err(&st, r#"sum by (__name__) (rate({env="1"}[10m]))"#, 10 * M).await,
        QueryError::Execution("vector cannot contain metrics with the same labelset".into())
    );
    assert_vec(
        &vector(&st, r#"sum by (env) (rate({env="1"}[10m]))"#, 10 * M).await,
        &[(r#"{env="1"}"#, 0.4)],
    );
    // One marked input marks the group.
    let st2 = storage(
        M,
        &[
            (r#"metric_total{env="1"}"#, "0+1x10"),
            (r#"metric_total{env="2"}"#, "0+3x10"),
        ],
    );
    assert_vec(
        &vector(
            &st2,
            r#"sum by (__name__) (metric_total{env="1"} or rate(metric_total{env="2"}[5m]))"#,
            10 * M,
        )
        .await,
        &[("{}", 10.05)],
    );
    assert_vec(
        &vector(&st2, r#"sum by (__name__) (metric_total{env="1"})"#, 10 * M).await,
        &[("metric_total{}", 10.0)],
    );
    // topk keeps its inputs' marks.
    assert_vec(
        &vector(
            &st,
            r#"topk(1, sum by (__name__, env) (rate(metric_total[10m])))"#,
            10 * M,
        )
        .await,
        &[(r#"{env="1"}"#, 0.2)],
    );
}

#[tokio::test]
async fn subquery_keeps_the_mark_through_last_over_time() {
    let st = two_counters();
    assert_vec(
        &vector(&st, "last_over_time(metric_total[10m])", 10 * M).await,
        &[(r#"metric_total{env="1"}"#, 120.0)],
    );
    assert_vec(
        &vector(&st, "last_over_time(abs(metric_total)[10m:])", 10 * M).await,
        &[(r#"{env="1"}"#, 120.0)],
    );
}

#[tokio::test]
async fn comparisons_mark_only_with_bool_or_marked_input() {
    let st = two_counters();
    assert_vec(
        &vector(&st, "metric_total <= another_metric_total", 10 * M).await,
        &[(r#"metric_total{env="1"}"#, 120.0)],
    );
    assert_vec(
        &vector(&st, "metric_total <= bool another_metric_total", 10 * M).await,
        &[(r#"{env="1"}"#, 1.0)],
    );
    // A filter over name-dropping results has no name, as with eager removal.
    assert_vec(
        &vector(
            &st,
            "rate(metric_total[10m]) >= rate(another_metric_total[10m])",
            10 * M,
        )
        .await,
        &[(r#"{env="1"}"#, 0.2)],
    );
}

#[tokio::test]
async fn range_results_merge_series_that_meet_after_removal() {
    let st = storage(10 * M, &[("metric_a", "1 _"), ("metric_b", "3 4")]);
    let o = QueryOptions {
        lookback_delta: Some(Duration::from_secs(60)),
    };
    let r = engine()
        .range_query(&st, "-metric_a or -metric_b", 0, 20 * M, 10 * M, &o)
        .await
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("expected matrix, got {:?}", r.value)
    };
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0].labels.to_string(), "{}");
    let pts: Vec<(i64, f64)> = m[0].samples.iter().map(|s| (s.t / M, s.v)).collect();
    assert_eq!(pts, vec![(0, -1.0), (10, -4.0)]);
}

#[tokio::test]
async fn marked_and_unmarked_series_with_the_same_labels_stay_apart() {
    let st = storage(M, &[(r#"up{i="1"}"#, "0 1 0")]);
    let o = QueryOptions {
        lookback_delta: Some(Duration::from_secs(30)),
    };
    let r = engine()
        .range_query(&st, "up == 0 or up * 0 + 2", 0, 2 * M, M, &o)
        .await
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("expected matrix, got {:?}", r.value)
    };
    let got: Vec<(String, Vec<(i64, f64)>)> = m
        .iter()
        .map(|s| {
            (
                s.labels.to_string(),
                s.samples.iter().map(|p| (p.t / M, p.v)).collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (r#"up{i="1"}"#.to_string(), vec![(0, 0.0), (2, 0.0)]),
            (r#"{i="1"}"#.to_string(), vec![(1, 2.0)]),
        ]
    );
}
