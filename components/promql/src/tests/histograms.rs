//! Functions over classic (`le`-labelled) histograms.

use super::*;
use crate::QueryOptions;

fn buckets(name: &str, counts: [&str; 4]) -> Vec<(String, String)> {
    ["1", "2", "4", "+Inf"]
        .iter()
        .zip(counts)
        .map(|(le, c)| (format!(r#"{name}{{job="a", le="{le}"}}"#), c.to_string()))
        .collect()
}

fn st(series: &[(String, String)]) -> InMemoryStorage {
    let pairs: Vec<(&str, &str)> = series
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    storage(M, &pairs)
}

#[tokio::test]
async fn histogram_fraction_interpolates_within_buckets() {
    // Buckets (0,1]: 2, (1,2]: 2, (2,4]: 4, (4,+Inf]: 2; 10 in all.
    let st = st(&buckets("h_bucket", ["2", "4", "8", "10"]));
    // Half of (0,1] + all of (1,2] + half of (2,4] = 1 + 2 + 2 = 5.
    assert_vec(
        &vector(&st, "histogram_fraction(0.5, 3, h_bucket)", 0).await,
        &[(r#"{job="a"}"#, 0.5)],
    );
    // Nothing is interpolated inside the +Inf bucket.
    assert_vec(
        &vector(&st, "histogram_fraction(4, 100, h_bucket)", 0).await,
        &[(r#"{job="a"}"#, 0.0)],
    );
    assert_vec(
        &vector(&st, "histogram_fraction(-Inf, +Inf, h_bucket)", 0).await,
        &[(r#"{job="a"}"#, 1.0)],
    );
    assert_vec(
        &vector(&st, "histogram_fraction(3, 2, h_bucket)", 0).await,
        &[(r#"{job="a"}"#, 0.0)],
    );
}

#[tokio::test]
async fn histogram_quantiles_labels_each_quantile() {
    let st = st(&buckets("h_bucket", ["2", "4", "8", "10"]));
    assert_vec(
        &vector(&st, r#"histogram_quantiles(h_bucket, "q", 0, 0.5, 1)"#, 0).await,
        &[
            (r#"{job="a", q="0.0"}"#, 0.0),
            // Rank 5 in (2,4] holding 4 of the 10, 1 into it: 2 + 2 × 1/4.
            (r#"{job="a", q="0.5"}"#, 2.5),
            (r#"{job="a", q="1.0"}"#, 4.0),
        ],
    );
    // Overwriting the label that tells two histograms apart makes them collide.
    let mut series = buckets("h_bucket", ["2", "4", "8", "10"]);
    series.extend(
        buckets("h_bucket", ["1", "1", "1", "1"])
            .into_iter()
            .map(|(l, v)| (l.replace(r#"job="a""#, r#"job="b""#), v)),
    );
    let st = self::st(&series);
    assert_eq!(
        exec_err(&st, r#"histogram_quantiles(h_bucket, "job", 0.1, 0.2)"#, 0).await,
        QueryError::Execution("vector cannot contain metrics with the same labelset".into())
    );
}

#[tokio::test]
async fn histograms_differing_only_in_name_collide() {
    let mut series = buckets("a_bucket", ["2", "4", "8", "10"]);
    series.extend(buckets("b_bucket", ["1", "1", "1", "1"]));
    let st = st(&series);
    assert_eq!(
        exec_err(
            &st,
            r#"histogram_quantile(0.5, {__name__=~".*_bucket"})"#,
            0
        )
        .await,
        QueryError::Execution("vector cannot contain metrics with the same labelset".into())
    );
}

#[tokio::test]
async fn non_monotonic_buckets_give_an_info_annotation() {
    // le="2" has fewer than le="1": forced up to 4, a difference of 1.
    let st = st(&buckets("h_bucket", ["4", "3", "8", "10"]));
    let r = engine()
        .instant_query(
            &st,
            "histogram_quantile(0.5, h_bucket)",
            0,
            &QueryOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.infos,
        vec![
            "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"h_bucket\"".to_string()
        ]
    );
    let Value::Vector(v) = r.value else { panic!() };
    // Rank 5 falls in (2,4] holding 8 - 4 = 4: 2 + 2 × 1/4.
    assert!(close(v[0].v, 2.5), "{v:?}");
    let r = engine()
        .instant_query(
            &st,
            "histogram_fraction(0, 1, h_bucket)",
            0,
            &QueryOptions::default(),
        )
        .await
        .unwrap();
    assert!(r.infos.is_empty(), "{:?}", r.infos);
}
