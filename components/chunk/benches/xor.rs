//! Encode and decode of one 120-sample chunk of realistic scrape data: a 15 s interval
//! with a few milliseconds of jitter and a counter that mostly grows by small integers.

use std::hint::black_box;
use std::time::Duration;

use cairn_chunk::{decode, XorChunk};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SAMPLES: usize = 120;

/// Deterministic scrape-like samples (a tiny LCG, so no `rand` dependency).
fn scrape_samples() -> Vec<(i64, f64)> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut t = 1_700_000_000_000i64;
    let mut v = 1_234_567.0f64;
    (0..SAMPLES)
        .map(|_| {
            t += 15_000 + (next() % 11) as i64 - 5;
            // Mostly whole increments, sometimes unchanged, sometimes fractional.
            v += match next() % 10 {
                0 => 0.0,
                1 => 0.25,
                r => r as f64 * 3.0,
            };
            (t, v)
        })
        .collect()
}

fn bench_xor(c: &mut Criterion) {
    let samples = scrape_samples();
    let mut chunk = XorChunk::new();
    for &(t, v) in &samples {
        chunk.append(t, v);
    }
    let bytes = chunk.bytes().to_vec();

    let mut group = c.benchmark_group("xor_120_samples");
    group.throughput(Throughput::Elements(SAMPLES as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            let mut chunk = XorChunk::new();
            for &(t, v) in black_box(&samples) {
                chunk.append(t, v);
            }
            chunk
        })
    });
    group.bench_function("decode_vec", |b| b.iter(|| decode(black_box(&bytes))));
    group.bench_function("iterate", |b| {
        b.iter(|| chunk.iter().fold(0.0, |acc, s| acc + s.v))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench_xor
}
criterion_main!(benches);
