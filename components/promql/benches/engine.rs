//! Engine benchmarks on a few thousand synthetic series (kept short on purpose).

use std::hint::black_box;
use std::time::Duration;

use cairn_model::{Labels, Sample};
use cairn_promql::{Engine, EngineOptions, InMemoryStorage, QueryOptions};
use criterion::{criterion_group, criterion_main, Criterion};

const STEP: i64 = 15_000;
const SAMPLES: i64 = 240; // one hour at 15s

fn storage() -> InMemoryStorage {
    let mut st = InMemoryStorage::new();
    for i in 0..2_000 {
        let labels = Labels::from_pairs([
            ("__name__", "http_requests_total".to_string()),
            ("job", format!("job{}", i % 10)),
            ("instance", format!("i{i}")),
        ]);
        st.add(
            labels,
            (0..SAMPLES).map(|s| Sample::new(s * STEP, (s * (i % 7 + 1)) as f64)),
        );
    }
    for i in 0..200 {
        let labels = Labels::from_pairs([
            ("__name__", "up".to_string()),
            ("instance", format!("i{i}")),
        ]);
        st.add(labels, (0..SAMPLES).map(|s| Sample::new(s * STEP, 1.0)));
    }
    for j in 0..50 {
        for le in ["0.1", "0.5", "1", "5", "+Inf"] {
            let labels = Labels::from_pairs([
                ("__name__", "latency_bucket".to_string()),
                ("job", format!("job{j}")),
                ("le", le.to_string()),
            ]);
            let f: f64 = le.parse().unwrap_or(10.0);
            st.add(
                labels,
                (0..SAMPLES).map(|s| Sample::new(s * STEP, (s as f64) * f.min(6.0))),
            );
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
        ("selector", "http_requests_total"),
        ("rate", "rate(http_requests_total[5m])"),
        (
            "sum_by_rate",
            "sum by (job) (rate(http_requests_total[5m]))",
        ),
        (
            "join",
            "rate(http_requests_total[5m]) * on(instance) group_left up",
        ),
        (
            "histogram_quantile",
            "histogram_quantile(0.9, sum by (le, job) (rate(latency_bucket[5m])))",
        ),
    ];
    let mut g = c.benchmark_group("engine");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for (name, q) in queries {
        g.bench_function(format!("instant/{name}"), |b| {
            b.iter(|| {
                rt.block_on(engine.instant_query(&st, black_box(q), end, &opts))
                    .expect("query")
            })
        });
        g.bench_function(format!("range_30m_1m/{name}"), |b| {
            b.iter(|| {
                rt.block_on(engine.range_query(
                    &st,
                    black_box(q),
                    end - 30 * 60_000,
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
