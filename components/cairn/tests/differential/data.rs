//! The generated data set: a few hundred counters, gauges and classic histograms across
//! a few jobs and instances, with jittered timestamps, from a fixed seed.

/// SplitMix64: tiny, deterministic, good enough for test data.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi] (inclusive).
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
}

/// Nominal scrape interval and the per-sample jitter around it.
pub(crate) const INTERVAL_MS: i64 = 15_000;
pub(crate) const JITTER_MS: i64 = 300;
/// Every sample timestamp is ≡ SAMPLE_RESIDUE (mod 10) ms, every evaluation time
/// ≡ EVAL_RESIDUE, and every range, offset and step is a whole number of seconds: so no
/// window boundary (t - range - offset, subquery steps aligned to multiples of their
/// step) can fall on a sample. That keeps clear of 2.42's closed `[t-r, t]` vs 3.x's
/// left-open `(t-r, t]` range windows (and the same for the lookback window).
pub(crate) const SAMPLE_RESIDUE: i64 = 3;
pub(crate) const EVAL_RESIDUE: i64 = 7;

/// Histogram bucket upper bounds (`+Inf` is added last).
pub(crate) const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Prometheus's staleness marker (a NaN with this exact bit pattern).
pub(crate) const STALE_NAN: f64 = f64::from_bits(0x7ff0_0000_0000_0002);

pub(crate) fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN.to_bits()
}

/// `path` label values of `odd_labels`.
pub(crate) const ODD_PATHS: [&str; 7] = [
    "/api/v1/query",
    "/a b/\"quoted\"",
    "back\\slash",
    "ünïcödé/日本語",
    "new\nline",
    "١٢٣",
    "x_1",
];

#[derive(Debug)]
pub(crate) struct Series {
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) samples: Vec<(i64, f64)>,
}

fn snap(t: i64) -> i64 {
    t - t.rem_euclid(10) + SAMPLE_RESIDUE
}

/// Jittered scrape times in [start, end]: a random phase, then `interval ± jitter`.
fn timestamps(rng: &mut Rng, start: i64, end: i64, interval: i64, jitter: i64) -> Vec<i64> {
    let mut t = start + rng.range(0, interval - 1);
    let mut out = Vec::new();
    while snap(t) <= end {
        out.push(snap(t));
        t += interval + rng.range(-jitter, jitter);
    }
    out
}

fn labels(name: &str, target: &[(&str, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut l = vec![("__name__".to_string(), name.to_string())];
    l.extend(target.iter().map(|(k, v)| ((*k).to_string(), v.clone())));
    l.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
    );
    l.sort();
    l
}

/// Round to 3 decimals (keeps values readable in failure messages).
fn r3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Every series, with samples in `[start, end]`.
pub(crate) fn generate(seed: u64, start: i64, end: i64) -> Vec<Series> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let jobs = [("api", 4), ("db", 3), ("worker", 3)];
    for (j, (job, instances)) in jobs.iter().enumerate() {
        for i in 0..*instances {
            let target = [
                ("job", (*job).to_string()),
                ("instance", format!("10.0.{j}.{}:9100", i + 1)),
            ];
            // Counters with occasional resets (~1 per series-hour).
            for method in ["GET", "POST"] {
                for code in ["200", "404", "500"] {
                    let max_inc = match code {
                        "200" => rng.range(5, 40),
                        "404" => rng.range(1, 6),
                        _ => 2,
                    };
                    let mut v = rng.range(0, 5000) as f64;
                    let ts = timestamps(&mut rng, start, end, INTERVAL_MS, JITTER_MS);
                    let samples = ts
                        .into_iter()
                        .map(|t| {
                            if rng.chance(0.004) {
                                v = 0.0;
                            }
                            v += rng.range(0, max_inc) as f64;
                            (t, v)
                        })
                        .collect();
                    out.push(Series {
                        labels: labels(
                            "http_requests_total",
                            &target,
                            &[("method", method), ("code", code)],
                        ),
                        samples,
                    });
                }
            }
            for mode in ["user", "system", "idle"] {
                let util = rng.f64();
                let mut v = r3(rng.f64() * 1e5);
                let ts = timestamps(&mut rng, start, end, INTERVAL_MS, JITTER_MS);
                let samples = ts
                    .into_iter()
                    .map(|t| {
                        if rng.chance(0.004) {
                            v = 0.0;
                        }
                        v = r3(v + util * 15.0 * rng.f64());
                        (t, v)
                    })
                    .collect();
                out.push(Series {
                    labels: labels("cpu_seconds_total", &target, &[("mode", mode)]),
                    samples,
                });
            }
            // Gauges.
            let mut mem = rng.range(100_000_000, 900_000_000) as f64;
            let samples = timestamps(&mut rng, start, end, INTERVAL_MS, JITTER_MS)
                .into_iter()
                .map(|t| {
                    mem = (mem + rng.range(-5_000_000, 5_200_000) as f64).max(1e6);
                    (t, mem)
                })
                .collect();
            out.push(Series {
                labels: labels("memory_bytes", &target, &[]),
                samples,
            });
            for sensor in ["a", "b"] {
                let base = rng.f64() * 40.0 - 15.0;
                let amp = rng.f64() * 15.0;
                let period = rng.range(600, 3600) as f64;
                let samples = timestamps(&mut rng, start, end, INTERVAL_MS, JITTER_MS)
                    .into_iter()
                    .map(|t| {
                        let phase = ((t - start) as f64 / 1000.0) / period * std::f64::consts::TAU;
                        (t, r3(base + amp * phase.sin() + rng.f64() * 2.0 - 1.0))
                    })
                    .collect();
                out.push(Series {
                    labels: labels("temperature_celsius", &target, &[("sensor", sensor)]),
                    samples,
                });
            }
            let mut depth = rng.range(0, 5);
            let samples = timestamps(&mut rng, start, end, INTERVAL_MS, JITTER_MS)
                .into_iter()
                .map(|t| {
                    if rng.chance(0.3) {
                        depth = (depth + rng.range(-2, 2)).clamp(0, 6);
                    }
                    (t, depth as f64)
                })
                .collect();
            out.push(Series {
                labels: labels("queue_depth", &target, &[]),
                samples,
            });
            let mut up = 1.0;
            let samples = timestamps(&mut rng, start, end, INTERVAL_MS, JITTER_MS)
                .into_iter()
                .map(|t| {
                    if rng.chance(if up == 1.0 { 0.02 } else { 0.3 }) {
                        up = 1.0 - up;
                    }
                    (t, up)
                })
                .collect();
            out.push(Series {
                labels: labels("up", &target, &[]),
                samples,
            });
            // A sparse gauge (every 4–7 minutes): instant selectors sometimes find
            // nothing within the 5m lookback.
            let samples = timestamps(&mut rng, start, end, 330_000, 90_000)
                .into_iter()
                .map(|t| (t, ((t - rng.range(1_000, 60_000)) / 1000) as f64))
                .collect();
            out.push(Series {
                labels: labels("last_run_timestamp_seconds", &target, &[]),
                samples,
            });
            if *job == "worker" {
                // A gauge that comes and goes, ended by staleness markers like the ones
                // Prometheus writes when a series disappears from a scrape.
                let mut on = true;
                let mut left = rng.range(8, 32);
                let mut samples = Vec::new();
                for t in timestamps(&mut rng, start, end, INTERVAL_MS, JITTER_MS) {
                    if left == 0 {
                        if on {
                            samples.push((t, STALE_NAN));
                        }
                        on = !on;
                        left = if on {
                            rng.range(8, 32)
                        } else {
                            rng.range(4, 40)
                        };
                        continue;
                    }
                    left -= 1;
                    if on {
                        samples.push((t, r3(rng.f64() * 10.0)));
                    }
                }
                out.push(Series {
                    labels: labels("batch_in_progress", &target, &[]),
                    samples,
                });
            }
            if *job == "db" {
                // A gauge with NaN and infinite values now and then.
                let samples = timestamps(&mut rng, start, end, INTERVAL_MS, JITTER_MS)
                    .into_iter()
                    .map(|t| {
                        let x = rng.f64();
                        let v = if x < 0.05 {
                            f64::NAN
                        } else if x < 0.07 {
                            f64::INFINITY
                        } else if x < 0.08 {
                            f64::NEG_INFINITY
                        } else {
                            r3(rng.f64())
                        };
                        (t, v)
                    })
                    .collect();
                out.push(Series {
                    labels: labels("ratio", &target, &[]),
                    samples,
                });
            }
            if j == 0 && i == 0 {
                // Catastrophic cancellation: 1e17 + 1.5 - 1e17 is 0 summed naively, 1.5
                // with Kahan summation.
                for (part, cycle) in [
                    ("a", [1e17; 3]),
                    ("b", [1.5; 3]),
                    ("c", [-1e17; 3]),
                    ("mixed", [1e17, 1.5, -1e17]),
                ] {
                    let samples = timestamps(&mut rng, start, end, INTERVAL_MS, JITTER_MS)
                        .into_iter()
                        .enumerate()
                        .map(|(k, t)| (t, cycle[k % 3]))
                        .collect();
                    out.push(Series {
                        labels: labels("cancellation", &target, &[("part", part)]),
                        samples,
                    });
                }
                // Label values that need escaping in JSON and in PromQL strings.
                for path in ODD_PATHS {
                    let level = rng.f64() * 100.0;
                    let samples = timestamps(&mut rng, start, end, INTERVAL_MS, JITTER_MS)
                        .into_iter()
                        .map(|t| (t, r3(level + rng.f64())))
                        .collect();
                    out.push(Series {
                        labels: labels("odd_labels", &target, &[("path", path)]),
                        samples,
                    });
                }
            }
            // A classic histogram: one scrape time for all its series.
            let ts = timestamps(&mut rng, start, end, INTERVAL_MS, JITTER_MS);
            let scale = rng.f64() * 2.0 - 1.0;
            let max_obs = rng.range(0, 30);
            let mut counts = [0.0f64; BUCKETS.len() + 1];
            let mut sum = 0.0f64;
            let mut hist: Vec<Vec<(i64, f64)>> = vec![Vec::new(); BUCKETS.len() + 3];
            for t in ts {
                if rng.chance(0.004) {
                    counts = [0.0; BUCKETS.len() + 1];
                    sum = 0.0;
                }
                for _ in 0..rng.range(0, max_obs) {
                    // Log-uniform over 10^(scale-3) .. 10^(scale+1).
                    let x = 10f64.powf(scale - 3.0 + 4.0 * rng.f64());
                    sum += x;
                    for (b, le) in BUCKETS.iter().enumerate() {
                        if x <= *le {
                            counts[b] += 1.0;
                        }
                    }
                    counts[BUCKETS.len()] += 1.0;
                }
                for (b, c) in counts.iter().enumerate() {
                    hist[b].push((t, *c));
                }
                hist[BUCKETS.len() + 1].push((t, r3(sum)));
                hist[BUCKETS.len() + 2].push((t, counts[BUCKETS.len()]));
            }
            let mut hist = hist.into_iter();
            // The worker job spells bounds like some clients do ("1.0", not "1"):
            // `sum by (le)` then keeps both spellings apart, and histogram_quantile
            // must merge buckets with equal bounds.
            for le in BUCKETS
                .iter()
                .map(|b| {
                    if *job == "worker" {
                        format!("{b:?}")
                    } else {
                        format!("{b}")
                    }
                })
                .chain(["+Inf".to_string()])
            {
                out.push(Series {
                    labels: labels("request_duration_seconds_bucket", &target, &[("le", &le)]),
                    samples: hist.next().unwrap(),
                });
            }
            for name in [
                "request_duration_seconds_sum",
                "request_duration_seconds_count",
            ] {
                out.push(Series {
                    labels: labels(name, &target, &[]),
                    samples: hist.next().unwrap(),
                });
            }
        }
    }
    out
}

/// A native-histogram series: labels and its integer histograms as remote write sends
/// them.
#[derive(Debug)]
pub(crate) struct NativeSeries {
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) histograms: Vec<cairn_proto::prometheus::Histogram>,
}

/// Native (exponential, schema 1) counter histograms of request latencies: a few
/// instances of job `native`, observations log-uniform over 1ms..100s plus some exact
/// zeros, occasional counter resets, jittered scrapes like the float data.
pub(crate) fn generate_native(seed: u64, start: i64, end: i64) -> Vec<NativeSeries> {
    use cairn_proto::prometheus::histogram::{Count, ZeroCount};
    use cairn_proto::prometheus::{BucketSpan, Histogram};
    use std::collections::BTreeMap;

    const SCHEMA: i32 = 1;
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for i in 0..4 {
        let target = [
            ("job", "native".to_string()),
            ("instance", format!("10.0.9.{}:9100", i + 1)),
        ];
        let max_obs = rng.range(1, 25);
        let mut buckets: BTreeMap<i32, u64> = BTreeMap::new();
        let (mut zero, mut count, mut sum) = (0u64, 0u64, 0.0f64);
        let mut histograms = Vec::new();
        for t in timestamps(&mut rng, start, end, INTERVAL_MS, JITTER_MS) {
            if rng.chance(0.004) {
                buckets.clear();
                (zero, count, sum) = (0, 0, 0.0);
            }
            for _ in 0..rng.range(0, max_obs) {
                count += 1;
                if rng.chance(0.05) {
                    zero += 1;
                    continue;
                }
                let x = 10f64.powf(-3.0 + 5.0 * rng.f64());
                sum += x;
                // Bucket i of schema s covers (2^((i-1)/2^s), 2^(i/2^s)].
                let index = (x.log2() * f64::from(1 << SCHEMA)).ceil() as i32;
                *buckets.entry(index).or_default() += 1;
            }
            let mut spans: Vec<BucketSpan> = Vec::new();
            let mut deltas = Vec::new();
            let (mut prev_index, mut prev_count) = (None::<i32>, 0i64);
            for (&index, &n) in &buckets {
                match prev_index {
                    Some(p) if index == p + 1 => spans.last_mut().unwrap().length += 1,
                    Some(p) => spans.push(BucketSpan {
                        offset: index - p - 1,
                        length: 1,
                    }),
                    None => spans.push(BucketSpan {
                        offset: index,
                        length: 1,
                    }),
                }
                deltas.push(n as i64 - prev_count);
                (prev_index, prev_count) = (Some(index), n as i64);
            }
            histograms.push(Histogram {
                count: Some(Count::CountInt(count)),
                sum: r3(sum),
                schema: SCHEMA,
                zero_threshold: 1e-4,
                zero_count: Some(ZeroCount::ZeroCountInt(zero)),
                positive_spans: spans,
                positive_deltas: deltas,
                timestamp: t,
                ..Default::default()
            });
        }
        out.push(NativeSeries {
            labels: labels("native_latency_seconds", &target, &[]),
            histograms,
        });
    }
    out
}
