//! Engine benchmarks on 10,000 series × 1 h of 15 s samples held in memory: the same
//! shape as `scripts/bench-query.sh`'s data set (200 scrape targets in 10 jobs, each
//! with `up`, 20 request counters, 5 memory gauges and 2 × 12 classic histogram
//! buckets), so the engine's share of the HTTP latencies there can be read off here.
//!
//! `cargo bench -p cairn-promql --bench engine` (about two minutes on 2 cores).

use std::hint::black_box;
use std::time::Duration;

use cairn_model::{Labels, Sample};
use cairn_promql::{Engine, EngineOptions, InMemoryStorage, QueryOptions};
use criterion::{criterion_group, criterion_main, Criterion};

const STEP: i64 = 15_000;
const SAMPLES: i64 = 241; // one hour at 15s, both ends included
const INSTANCES: usize = 200;
const BUCKETS: [&str; 12] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
];

fn storage() -> InMemoryStorage {
    let mut st = InMemoryStorage::new();
    let mut rnd = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rnd ^= rnd << 13;
        rnd ^= rnd >> 7;
        rnd ^= rnd << 17;
        (rnd >> 11) as f64 / (1u64 << 53) as f64
    };
    for i in 0..INSTANCES {
        let job = format!("job{}", i % 10);
        let instance = format!("10.0.0.{i}:9100");
        // Each target scrapes at its own phase within the interval.
        let phase = (i as i64 * 7_919) % STEP;
        let times = move || (0..SAMPLES).map(move |s| s * STEP + phase);
        let target = |name: &str, extra: &[(&str, &str)]| {
            let mut pairs = vec![
                ("__name__", name.to_string()),
                ("job", job.clone()),
                ("instance", instance.clone()),
            ];
            pairs.extend(extra.iter().map(|(k, v)| (*k, (*v).to_string())));
            Labels::from_pairs(pairs)
        };
        st.add(target("up", &[]), times().map(|t| Sample::new(t, 1.0)));
        for method in ["GET", "POST", "PUT", "DELETE"] {
            for code in ["200", "201", "400", "404", "500"] {
                let mut v = 0.0;
                let samples: Vec<Sample> = times()
                    .map(|t| {
                        v += (next() * 10.0).floor();
                        Sample::new(t, v)
                    })
                    .collect();
                st.add(
                    target(
                        "bench_http_requests_total",
                        &[("method", method), ("code", code)],
                    ),
                    samples,
                );
            }
        }
        for area in ["heap", "stack", "mmap", "cache", "other"] {
            let mut v: f64 = 1e8;
            let samples: Vec<Sample> = times()
                .map(|t| {
                    v = (v + (next() - 0.5) * 1e6).round();
                    Sample::new(t, v)
                })
                .collect();
            st.add(target("bench_memory_bytes", &[("area", area)]), samples);
        }
        for handler in ["/api/v1/query", "/api/v1/write"] {
            let mut cum = [0.0; BUCKETS.len()];
            let mut per_bucket: Vec<Vec<Sample>> = vec![Vec::new(); BUCKETS.len()];
            for t in times() {
                let mut acc = 0.0;
                for (b, c) in cum.iter_mut().enumerate() {
                    acc += (next() * 3.0).floor();
                    *c += acc;
                    per_bucket[b].push(Sample::new(t, *c));
                }
            }
            for (le, samples) in BUCKETS.iter().zip(per_bucket) {
                st.add(
                    target(
                        "bench_request_duration_seconds_bucket",
                        &[("handler", handler), ("le", le)],
                    ),
                    samples,
                );
            }
        }
    }
    st
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let st = storage();
    let engine = Engine::new(EngineOptions::default());
    let opts = QueryOptions::default();
    let end = (SAMPLES - 1) * STEP;
    let queries = [
        ("selector", "bench_memory_bytes"),
        ("rate", "rate(bench_http_requests_total[5m])"),
        (
            "sum_by_rate",
            "sum by (job) (rate(bench_http_requests_total[5m]))",
        ),
        (
            "histogram_quantile",
            "histogram_quantile(0.99, sum by (job, le) (rate(bench_request_duration_seconds_bucket[5m])))",
        ),
        (
            "join",
            "rate(bench_http_requests_total[5m]) * on(instance) group_left up",
        ),
    ];
    let mut g = c.benchmark_group("engine");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, q) in queries {
        g.bench_function(format!("instant/{name}"), |b| {
            b.iter(|| {
                rt.block_on(engine.instant_query(&st, black_box(q), end, &opts))
                    .expect("query")
            })
        });
        g.bench_function(format!("range_1h_1m/{name}"), |b| {
            b.iter(|| {
                rt.block_on(engine.range_query(
                    &st,
                    black_box(q),
                    end - 60 * 60_000,
                    end,
                    60_000,
                    &opts,
                ))
                .expect("query")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
