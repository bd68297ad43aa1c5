//! Range-vector and instant-vector functions.

use super::operators::agg_storage;
use super::*;
use crate::{QueryError, QueryOptions};

#[tokio::test]
async fn rate_extrapolates_to_window_edges() {
    // 0,10,20,30,40 at 0..60s every 15s.
    let st = storage(15 * S, &[("c_total", "0+10x4")]);
    // Window (0, 60s]: 10..40 at 15..60s, result 30 over 45s; the 15s to the start is
    // below 1.1 × 15s so it extrapolates fully to 60s: 30 × 60/45 = 40.
    assert_one(&vector(&st, "increase(c_total[1m])", 60 * S).await, 40.0);
    assert_one(&vector(&st, "rate(c_total[1m])", 60 * S).await, 40.0 / 60.0);
    assert_vec(
        &vector(&st, "rate(c_total[1m])", 60 * S).await,
        &[("{}", 40.0 / 60.0)],
    );
}

#[tokio::test]
async fn rate_handles_counter_resets() {
    let st = storage(15 * S, &[("c_total", "0 10 20 5 15")]);
    // Window (0,60s]: 10 20 5 15 → 5 + 20 (reset) = 25; zero point at 45·10/25 = 18s
    // (> 15s) so no clamp: 25 × 60/45.
    assert_one(
        &vector(&st, "increase(c_total[1m])", 60 * S).await,
        25.0 * 60.0 / 45.0,
    );
    assert_one(&vector(&st, "resets(c_total[1m])", 60 * S).await, 1.0);
    assert_one(&vector(&st, "changes(c_total[1m])", 60 * S).await, 3.0);
    // irate after the reset uses the new value: 5/15s ... at 45s the last two are 20, 5.
    assert_one(&vector(&st, "irate(c_total[1m])", 45 * S).await, 5.0 / 15.0);
    assert_one(
        &vector(&st, "irate(c_total[1m])", 60 * S).await,
        10.0 / 15.0,
    );
    assert_one(&vector(&st, "idelta(c_total[1m])", 45 * S).await, -15.0);
}

#[tokio::test]
async fn rate_does_not_extrapolate_across_gaps() {
    let st = storage(15 * S, &[("c_total", "100 110 120 130 140")]);
    // [5m] at 60s: all samples, 240s gap to the window start → only half an interval
    // (7.5s) is added at the start: 40 × 67.5/60 = 45.
    assert_one(&vector(&st, "increase(c_total[5m])", 60 * S).await, 45.0);
    assert_one(
        &vector(&st, "rate(c_total[5m])", 60 * S).await,
        45.0 / 300.0,
    );
    // Starting at zero, the zero point is the sample itself: no extra start time.
    let st = storage(15 * S, &[("c_total", "0+10x4")]);
    assert_one(&vector(&st, "increase(c_total[5m])", 60 * S).await, 40.0);
    // Counter starting at 5 with slope 10/15s: zero point 7.5s before the first sample,
    // limited to the 7.5s half-interval; at the end the window edge is 15s after the
    // last sample (< 16.5s) so it extrapolates fully: 40 × (60 + 7.5 + 15)/60.
    let st = storage(15 * S, &[("c_total", "5+10x4")]);
    assert_one(
        &vector(&st, "increase(c_total[5m])", 75 * S).await,
        40.0 * 82.5 / 60.0,
    );
}

#[tokio::test]
async fn counter_zero_clamp_limits_start_extrapolation() {
    // 2, 12, 22 at 0,15,30s; window (−30s, 30s]: 30s to the start (> 16.5s) → 7.5s;
    // zero point 30 × 2/20 = 3s < 7.5s → 3s. increase = 20 × (30 + 3 + 0)/30.
    let st = storage(15 * S, &[("c_total", "2 12 22")]);
    assert_one(
        &vector(&st, "increase(c_total[1m])", 30 * S).await,
        20.0 * 33.0 / 30.0,
    );
}

#[tokio::test]
async fn delta_is_not_clamped() {
    let st = storage(15 * S, &[("g", "10 5 0 -5")]);
    // Window (−15s, 45s]: −15 over 45s, 15s to the start (< 16.5s): −15 × 60/45 = −20.
    assert_vec(&vector(&st, "delta(g[1m])", 45 * S).await, &[("{}", -20.0)]);
    assert_one(&vector(&st, "deriv(g[1m])", 45 * S).await, -1.0 / 3.0);
    // predict_linear: intercept at 45s is −5, slope −1/3 per second → −5 − 10.
    assert_one(
        &vector(&st, "predict_linear(g[1m], 30)", 45 * S).await,
        -15.0,
    );
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
    assert_vec(
        &vector(&st, "timestamp(m)", 20 * S).await,
        &[(r#"{a="b"}"#, 15.0)],
    );
    assert_vec(
        &vector(&st, "timestamp(abs(m))", 20 * S).await,
        &[(r#"{a="b"}"#, 20.0)],
    );
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
