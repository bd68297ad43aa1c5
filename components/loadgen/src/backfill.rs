//! Backfill mode (`cairn-loadgen-backfill`): writes one fixed, realistic historical data
//! set through remote write, for query benchmarks that need the same data in Cairn and
//! in Prometheus.
//!
//! The data set is `instances` scrape targets spread over `jobs` jobs, each exposing the
//! same 50 series (so 200 instances give exactly 10,000 series):
//!
//! ```text
//! up{job,instance}                                        1 gauge      = 1
//! bench_http_requests_total{job,instance,method,code}     4 × 5 counters
//! bench_memory_bytes{job,instance,area}                   5 gauges
//! bench_request_duration_seconds_bucket{job,instance,handler,le}
//!                                                         2 × 12 classic buckets
//! ```
//!
//! Samples are every `interval` from `start` to `end`, each target with its own phase
//! (like real scrapes), values from a fixed seed. Requests go out in time order: every
//! series' samples of one window (`window` samples per series) are sent before any of the
//! next window, because Prometheus 2.42's head refuses samples older than its newest
//! sample minus one hour and a series' samples must arrive in order.

use std::time::{Duration, Instant};

use cairn_proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use futures::stream::{self, StreamExt, TryStreamExt};
use prost::Message;

use crate::args::Auth;
use crate::client::{Outcome, Sender};
use crate::encode::Compressor;
use crate::Error;

/// Bucket upper bounds of the histogram (`+Inf` is added last).
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
const CODES: [&str; 5] = ["200", "201", "400", "404", "500"];
const AREAS: [&str; 5] = ["heap", "stack", "mmap", "cache", "other"];
const HANDLERS: [&str; 2] = ["/api/v1/query", "/api/v1/write"];

/// Series per scrape target.
pub const SERIES_PER_TARGET: usize =
    1 + METHODS.len() * CODES.len() + AREAS.len() + HANDLERS.len() * (BUCKETS.len() + 1);

/// What to write and where.
#[derive(Debug, Clone)]
pub struct BackfillArgs {
    /// Remote-write URL.
    pub url: String,
    /// Scrape targets (each has [`SERIES_PER_TARGET`] series).
    pub instances: usize,
    /// Jobs the targets are spread over (target i is in job i mod jobs).
    pub jobs: usize,
    /// First sample time, ms.
    pub start_ms: i64,
    /// Last sample time (inclusive), ms.
    pub end_ms: i64,
    /// Sample interval, ms.
    pub interval_ms: i64,
    /// Samples per series per request.
    pub window: usize,
    /// Targets per request.
    pub targets_per_request: usize,
    /// Parallel requests within one time window.
    pub concurrency: usize,
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackfillSummary {
    /// Number of series.
    pub series: usize,
    /// Number of samples acknowledged.
    pub samples: u64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// SplitMix64: deterministic and cheap.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One target's series and their running values.
struct Target {
    phase_ms: i64,
    series: Vec<Vec<Label>>,
    values: Vec<f64>,
    rng: Rng,
}

fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    let mut v: Vec<Label> = pairs
        .iter()
        .map(|(n, v)| Label {
            name: (*n).to_owned(),
            value: (*v).to_owned(),
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

impl Target {
    fn new(i: usize, jobs: usize, interval_ms: i64) -> Self {
        let job = format!("job{}", i % jobs.max(1));
        let instance = format!("10.0.{}.{}:9100", i / 250, i % 250);
        let base = [("job", job.as_str()), ("instance", instance.as_str())];
        let with = |name: &str, extra: &[(&str, &str)]| {
            let mut p: Vec<(&str, &str)> = vec![("__name__", name)];
            p.extend_from_slice(&base);
            p.extend_from_slice(extra);
            labels(&p)
        };
        let mut series = vec![with("up", &[])];
        for m in METHODS {
            for c in CODES {
                series.push(with(
                    "bench_http_requests_total",
                    &[("method", m), ("code", c)],
                ));
            }
        }
        for a in AREAS {
            series.push(with("bench_memory_bytes", &[("area", a)]));
        }
        let les: Vec<String> = BUCKETS
            .iter()
            .map(|b| b.to_string())
            .chain(["+Inf".to_owned()])
            .collect();
        for h in HANDLERS {
            for le in &les {
                series.push(with(
                    "bench_request_duration_seconds_bucket",
                    &[("handler", h), ("le", le)],
                ));
            }
        }
        let n = series.len();
        Self {
            phase_ms: (i as i64 * 7_919) % interval_ms.max(1),
            series,
            values: vec![0.0; n],
            rng: Rng(i as u64 + 1),
        }
    }

    /// Advances every value by one scrape and returns them.
    fn scrape(&mut self) -> &[f64] {
        let mut k = 0;
        self.values[k] = 1.0;
        k += 1;
        for _ in 0..METHODS.len() * CODES.len() {
            self.values[k] += (self.rng.next_f64() * 10.0).floor();
            k += 1;
        }
        for _ in AREAS {
            let v = &mut self.values[k];
            if *v == 0.0 {
                *v = 1e8 * (1.0 + self.rng.next_f64());
            }
            *v = (*v + (self.rng.next_f64() - 0.5) * 1e6).max(0.0).round();
            k += 1;
        }
        for _ in HANDLERS {
            // Observations this scrape; each lands in the first bucket at or above a
            // log-uniform latency, so the cumulative buckets stay monotonic.
            let n = (self.rng.next_f64() * 20.0) as usize;
            let mut counts = [0.0; BUCKETS.len() + 1];
            for _ in 0..n {
                let lat = 10f64.powf(self.rng.next_f64() * 3.5 - 2.5);
                let b = BUCKETS
                    .iter()
                    .position(|b| lat <= *b)
                    .unwrap_or(BUCKETS.len());
                counts[b] += 1.0;
            }
            let mut cum = 0.0;
            for c in counts {
                cum += c;
                self.values[k] += cum;
                k += 1;
            }
        }
        &self.values
    }
}

/// Writes the data set; fails on the first request that is not acknowledged.
pub async fn backfill(args: &BackfillArgs) -> Result<BackfillSummary, Error> {
    if args.interval_ms <= 0 || args.end_ms < args.start_ms || args.instances == 0 {
        return Err(Error::InvalidArgs(
            "need interval > 0, end >= start and at least one instance".into(),
        ));
    }
    let began = Instant::now();
    let sender = Sender::new(
        &args.url,
        None,
        Auth::None,
        Duration::from_secs(60),
        args.concurrency,
    )?;
    let mut targets: Vec<Target> = (0..args.instances)
        .map(|i| Target::new(i, args.jobs, args.interval_ms))
        .collect();
    let steps = ((args.end_ms - args.start_ms) / args.interval_ms) as usize + 1;
    let window = args.window.max(1);
    let mut samples = 0u64;
    let mut step = 0;
    while step < steps {
        let upto = (step + window).min(steps);
        let mut bodies = Vec::new();
        let mut compressor = Compressor::new();
        for group in targets.chunks_mut(args.targets_per_request.max(1)) {
            let mut req = WriteRequest::default();
            let mut series: Vec<TimeSeries> = Vec::new();
            for t in group.iter_mut() {
                let first = series.len();
                for l in &t.series {
                    series.push(TimeSeries {
                        labels: l.clone(),
                        ..Default::default()
                    });
                }
                for s in step..upto {
                    // The last sample may move back by the phase so none passes `end`.
                    let ts = (args.start_ms + s as i64 * args.interval_ms + t.phase_ms)
                        .min(args.end_ms.max(args.start_ms));
                    let values = t.scrape().to_vec();
                    for (j, v) in values.into_iter().enumerate() {
                        series[first + j].samples.push(Sample {
                            value: v,
                            timestamp: ts,
                        });
                    }
                }
            }
            samples += series.iter().map(|s| s.samples.len() as u64).sum::<u64>();
            req.timeseries = series;
            bodies.push(compressor.compress(&req.encode_to_vec())?);
        }
        stream::iter(bodies)
            .map(|b| {
                let sender = sender.clone();
                async move {
                    match sender.send(b).await {
                        Outcome::Ok => Ok(()),
                        Outcome::Failed { detail, .. } => Err(Error::Write(detail)),
                    }
                }
            })
            .buffer_unordered(args.concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        step = upto;
    }
    Ok(BackfillSummary {
        series: args.instances * SERIES_PER_TARGET,
        samples,
        seconds: began.elapsed().as_secs_f64(),
    })
}
