//! Replicated writes across real processes: three ingesters, a receiver with RF=3 and a
//! querier over all three. One ingester is killed with SIGKILL under remote-write load;
//! writes keep succeeding and every acknowledged sample is still answered, exactly once.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

const SERIES: usize = 40;
const ROUNDS: usize = 60;
const KILL_AFTER: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_one_of_three_ingesters_under_load_loses_no_acknowledged_sample() {
    let dir = tempfile::tempdir().unwrap();
    let mut ings: Vec<Cairn> = (0..3)
        .map(|i| start_role("ingest", dir.path(), &dir.path().join(format!("i{i}")), &[]))
        .collect();
    let (members, stores) = static_ring_flags(&ings);
    let recv = start_role(
        "receive",
        dir.path(),
        &dir.path().join("r"),
        &[
            "--receive.ingesters",
            &members,
            "--receive.replication-factor",
            "3",
        ],
    );
    let query = start_role(
        "query",
        dir.path(),
        &dir.path().join("q"),
        &["--query.stores", &stores],
    );

    // Round k writes value k at base + k seconds for every series.
    let base = now_ms() - 120_000;
    let url = recv.url("/api/v1/write");
    let progress = Arc::new(AtomicUsize::new(0));
    let writer = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut answers = Vec::with_capacity(ROUNDS);
            for k in 0..ROUNDS {
                let t = base + k as i64 * 1_000;
                let body = write_body(
                    (0..SERIES)
                        .map(|i| {
                            series(
                                &[("__name__", "load"), ("id", &i.to_string())],
                                &[(t, k as f64)],
                            )
                        })
                        .collect(),
                );
                answers.push(remote_write(&url, body, None).await);
                progress.store(k + 1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            answers
        })
    };
    while progress.load(Ordering::SeqCst) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ings[2].proc.kill9();
    let answers = writer.await.unwrap();
    for (k, (status, text)) in answers.iter().enumerate() {
        assert_eq!(*status, 204, "round {k} not acknowledged: {text}");
    }

    // The survivors each hold every series: RF=3 put a copy on all three.
    for ing in &ings[..2] {
        let text = http()
            .get(ing.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("cairn_ingest_samples_appended_total"))
            .unwrap_or_else(|| panic!("no appended counter in:\n{text}"));
        let n: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(n, (SERIES * ROUNDS) as f64, "{line}");
    }

    // Every acknowledged sample comes back, once: the querier merges the RF copies of a
    // series sample by sample (three copies before the kill, two after).
    let at = format!(
        "{:.3}",
        (base + (ROUNDS as i64 - 1) * 1_000) as f64 / 1000.0
    );
    let window = format!("[{}s]", ROUNDS + 30);
    let instant = |q: String| [("query", q), ("time", at.clone())];
    let (status, body) = get_json(
        &query.url("/api/v1/query"),
        &instant(format!("count_over_time(load{window})")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let result = body["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), SERIES, "{body}");
    for r in result {
        assert_eq!(r["value"][1], ROUNDS.to_string(), "{r}");
    }
    let (_, body) = get_json(
        &query.url("/api/v1/query"),
        &instant(format!("sum(sum_over_time(load{window}))")),
        None,
    )
    .await;
    let want = SERIES * (ROUNDS * (ROUNDS - 1) / 2);
    assert_eq!(
        body["data"]["result"][0]["value"][1],
        want.to_string(),
        "{body}"
    );
    // Range query: each step sees the sample written at it, not a replica's duplicate.
    let (status, body) = get_json(
        &query.url("/api/v1/query_range"),
        &[
            ("query", "sum(load)".to_string()),
            ("start", format!("{:.3}", base as f64 / 1000.0)),
            ("end", at.clone()),
            ("step", "1s".to_string()),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let values = body["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), ROUNDS, "{body}");
    for (k, v) in values.iter().enumerate() {
        assert_eq!(v[1], (SERIES * k).to_string(), "step {k}");
    }
    drop(ings);
}
