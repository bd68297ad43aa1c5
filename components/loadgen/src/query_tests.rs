use std::collections::HashMap;

use clap::Parser;

use super::*;
use crate::args::{Cli, Command};

fn query_args(extra: &[&str]) -> QueryArgs {
    let mut v = vec!["cairn-loadgen", "query", "--progress-every", "0"];
    v.extend_from_slice(extra);
    match Cli::try_parse_from(v).unwrap().into_command() {
        Command::Query(q) => q,
        Command::Write(_) => panic!("expected query"),
    }
}

#[test]
fn placeholders_urls_and_ranges() {
    let args = query_args(&["--series", "1000", "--metrics", "10"]);
    let names = Names::of(&Catalog::new(&args.shape));
    let mut rng = StdRng::seed_from_u64(3);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let q = names.fill(
            "sum(rate({{histogram}}_sum[5m])) / sum(rate({{histogram}}_count[5m])) + {{counter}}",
            &mut rng,
        );
        // One histogram per query, used for both halves.
        let h: Vec<&str> = q.matches("loadgen_metric_4_seconds").collect();
        let h9: Vec<&str> = q.matches("loadgen_metric_9_seconds").collect();
        assert!(h.len() == 2 || h9.len() == 2, "{q}");
        assert!(!q.contains("{{"), "{q}");
        seen.insert(q);
    }
    // Counters 0, 1, 5, 6 and histograms 4, 9: 8 combinations.
    assert_eq!(seen.len(), 8);

    assert_eq!(
        query_range_url("http://h:9090/"),
        "http://h:9090/api/v1/query_range"
    );
    assert_eq!(
        query_range_url("http://h/prometheus/api/v1/query_range"),
        "http://h/prometheus/api/v1/query_range"
    );
    assert_eq!(
        aligned_range(
            1_000_123_456,
            Duration::from_secs(3600),
            Duration::from_secs(15)
        ),
        (1_000_110_000 - 3_600_000, 1_000_110_000)
    );
}

#[test]
fn query_sets_from_the_builtin_list_and_from_files() {
    // Counters only: the gauge and histogram queries are left out.
    let args = query_args(&["--kind", "counter"]);
    let names = Names::of(&Catalog::new(&args.shape));
    let q = load_queries(&args, &names).unwrap();
    let got: Vec<&str> = q.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(got, vec!["rate_sum_by", "rate_total", "topk_rate"]);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.promql");
    std::fs::write(&file, "# comment\n\nup\n  sum(rate({{counter}}[5m]))  \n").unwrap();
    let mut args = query_args(&["--kind", "counter"]);
    args.queries = Some(file.clone());
    let q = load_queries(&args, &names).unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!((q[0].name.as_str(), q[0].text.as_str()), ("line 3", "up"));
    assert_eq!(q[1].text, "sum(rate({{counter}}[5m]))");

    std::fs::write(&file, "rate({{histogram}}_count[1m])\n").unwrap();
    let err = load_queries(&args, &names).unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
    std::fs::write(&file, "# nothing\n").unwrap();
    assert!(load_queries(&args, &names).is_err());
}

/// What the fake API saw: form fields of every request.
type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// A minimal HTTP/1.1 server standing in for a Prometheus query API: answers a
/// two-series matrix, 422 for queries containing `topk`, and an empty result for
/// `avg by`.
async fn fake_api() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let seen2 = seen.clone();
    let addr = crate::test_http::serve(move |headers, body| {
        let mut form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap();
        form.insert("request-line".into(), headers[0].clone());
        let auth = headers.iter().any(|h| h == "x-scope-orgid: t1")
            && headers.iter().any(|h| h == "authorization: bearer abc");
        form.insert("auth-ok".into(), auth.to_string());
        let query = form["query"].clone();
        seen2.lock().unwrap().push(form);
        let (status, json) = if query.contains("topk") {
            (
                "422 Unprocessable Entity",
                r#"{"status":"error","errorType":"execution","error":"too many samples"}"#,
            )
        } else if query.contains("avg by") {
            (
                "200 OK",
                r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
            )
        } else {
            (
                "200 OK",
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[[1,"1"]]},{"metric":{"a":"2"},"values":[[1,"2"]]}]}}"#,
            )
        };
        (status, json.to_owned())
    })
    .await;
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_run_against_a_fake_api_counts_latency_errors_and_series() {
    let (url, seen) = fake_api().await;
    let summary = run_queries(query_args(&[
        "--url",
        &url,
        "--series",
        "5000",
        "--requests",
        "45",
        "--duration",
        "0",
        "--concurrency",
        "3",
        "--tenant",
        "t1",
        "--bearer-token",
        "abc",
    ]))
    .await
    .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(summary.requests, 45);
    assert_eq!(seen.len(), 45);
    // 9 built-in queries round-robin: 5 each; topk fails with 422, avg by is empty.
    assert_eq!(summary.queries.len(), 9);
    assert!(summary.queries.iter().all(|q| q.requests == 5));
    assert_eq!(summary.errors, 5);
    assert_eq!(summary.requests_ok, 40);
    assert_eq!(
        summary.errors_by_status,
        BTreeMap::from([("422".to_owned(), 5)])
    );
    assert!(summary.first_errors["422"].contains("too many samples"));
    assert_eq!(summary.empty_results, 5);
    let topk = summary
        .queries
        .iter()
        .find(|q| q.name == "topk_rate")
        .unwrap();
    assert_eq!(topk.errors, 5);
    let p99 = summary
        .queries
        .iter()
        .find(|q| q.name == "histogram_p99")
        .unwrap();
    assert_eq!((p99.errors, p99.mean_series), (0, 2.0));
    assert!(summary.latency_ms.p50 > 0.0 && summary.latency_ms.max >= summary.latency_ms.p99);

    let now_s = now_ms() as f64 / 1000.0;
    for form in seen.iter() {
        assert_eq!(form["request-line"], "post /api/v1/query_range http/1.1");
        assert_eq!(form["auth-ok"], "true");
        assert!(!form["query"].contains("{{"), "{}", form["query"]);
        assert!(
            form["query"].contains("loadgen_metric_"),
            "{}",
            form["query"]
        );
        let step: f64 = form["step"].parse().unwrap();
        let (start, end): (f64, f64) =
            (form["start"].parse().unwrap(), form["end"].parse().unwrap());
        assert!([15.0, 30.0, 60.0].contains(&step), "{step}");
        assert_eq!(end - start, 3600.0);
        assert_eq!(end % step, 0.0, "end {end} not aligned to {step}");
        assert!(end <= now_s && end > now_s - 120.0);
    }
    let text = summary.to_text();
    assert!(text.contains("errors          5 422=5"), "{text}");
    assert!(text.contains("histogram_p99"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qps_cap_and_duration_bound_the_run() {
    let (url, _seen) = fake_api().await;
    let summary = run_queries(query_args(&[
        "--url",
        &url,
        "--qps",
        "20",
        "--duration",
        "500ms",
        "--concurrency",
        "4",
    ]))
    .await
    .unwrap();
    // 20/s for 0.5 s: about 10, never much more.
    assert!((5..=12).contains(&summary.requests), "{}", summary.requests);
    assert!(summary.duration_seconds < 2.0);
}
