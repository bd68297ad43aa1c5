//! One run: workers, pacing, churn, progress, and the end of the run.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::args::{Kind, WriteArgs};
use crate::client::{Outcome, Sender};
use crate::encode::Compressor;
use crate::pace::{now_ms, process_cpu_seconds, sleep_until_or_stop, stop_signal, RateLimiter};
use crate::series::{Catalog, ChurnPlan, Clock, Plan, Shard, FLOOD_START_BEHIND_MS};
use crate::stats::{ErrorClass, Settings, Stats, Summary};
use crate::Error;

/// Pause after a transport error or a 5xx, so a dead or overloaded server is not hit
/// in a tight loop.
const ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// What every worker shares.
#[derive(Debug)]
struct Ctx {
    sender: Sender,
    stats: Arc<Stats>,
    limiter: Option<RateLimiter>,
    plan: ChurnPlan,
    churn_epoch: Arc<AtomicU64>,
    interval: Option<Duration>,
    rounds: u64,
    start: Instant,
}

/// Sends until `--duration` is over (or Ctrl-C), then returns the summary. Progress
/// lines go to stderr.
pub async fn run(args: WriteArgs) -> Result<Summary, Error> {
    args.validate()?;
    let flood = args.interval.is_zero();
    let clock = if flood {
        Clock::flood(args.flood_step.as_millis() as i64)
    } else {
        Clock::RealTime
    };
    let catalog = Arc::new(Catalog::new(&args.shape));
    let plan = Plan::new(&catalog, args.concurrency, args.batch_size);
    let sender = Sender::new(
        &args.url,
        args.auth.tenant.as_deref(),
        args.auth.auth()?,
        args.timeout,
        plan.shards.len(),
    )?;
    let stats = Arc::new(Stats::default());
    stats.set_active_series(catalog.active_series() as u64);
    let churn_epoch = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let ctx = Arc::new(Ctx {
        sender,
        stats: stats.clone(),
        limiter: (args.max_rate > 0).then(|| RateLimiter::new(args.max_rate as f64)),
        plan: ChurnPlan::new(catalog.ids(), args.churn_fraction),
        churn_epoch: churn_epoch.clone(),
        interval: (!flood).then_some(args.interval),
        rounds: args.rounds,
        start,
    });
    let concurrency = plan.shards.len();

    let (stopper, stop_rx) = stop_signal(args.duration);
    let mut background = vec![stopper];
    if !args.churn_every.is_zero() {
        let every = args.churn_every;
        background.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at((start + every).into(), every);
            loop {
                tick.tick().await;
                churn_epoch.fetch_add(1, Relaxed);
            }
        }));
    }
    if !args.progress_every.is_zero() {
        let every = args.progress_every;
        let stats = stats.clone();
        background.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at((start + every).into(), every);
            let (mut prev_samples, mut prev_at) = (0, start);
            loop {
                tick.tick().await;
                let now = Instant::now();
                eprintln!(
                    "{}",
                    stats.progress_line(now - start, prev_samples, now - prev_at)
                );
                prev_samples = stats.samples_ok();
                prev_at = now;
            }
        }));
    }

    let start_ms = now_ms() - FLOOD_START_BEHIND_MS;
    let workers: Vec<_> = plan
        .shards
        .into_iter()
        .map(|sp| {
            let shard = Shard::new(catalog.clone(), sp, clock, start_ms, args.seed);
            tokio::spawn(worker(shard, ctx.clone(), stop_rx.clone()))
        })
        .collect();
    for r in futures::future::join_all(workers).await {
        if let Err(e) = r {
            eprintln!("cairn-loadgen: worker failed: {e}");
        }
    }
    let elapsed = start.elapsed();
    for task in background {
        task.abort();
    }

    let shape = &args.shape;
    let settings = Settings {
        url: args.url.clone(),
        mode: if flood { "flood" } else { "interval" },
        series: shape.series,
        series_ids: catalog.ids(),
        labels: shape.labels,
        label_values: (0..shape.labels)
            .map(|j| shape.label_values.0.get(j).copied().unwrap_or(1))
            .collect(),
        metrics: shape.metrics,
        kind: match shape.kind {
            Kind::Counter => "counter".into(),
            Kind::Gauge => "gauge".into(),
            Kind::Histogram => "histogram".into(),
            Kind::Mixed => format!(
                "mixed {}",
                shape
                    .mix
                    .0
                    .iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        },
        histogram_buckets: shape.histogram_buckets,
        interval_seconds: args.interval.as_secs_f64(),
        flood_step_seconds: args.flood_step.as_secs_f64(),
        rounds_limit: args.rounds,
        concurrency,
        batch_size: plan.batch_size,
        max_rate: args.max_rate,
        churn_every_seconds: args.churn_every.as_secs_f64(),
        churn_fraction: args.churn_fraction,
    };
    Ok(stats.summary(settings, elapsed, process_cpu_seconds()))
}

/// One shard's sender: rounds over its batches until told to stop, one request in
/// flight at a time.
async fn worker(mut shard: Shard, ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let mut raw = Vec::new();
    let mut compressor = Compressor::new();
    let mut round: u32 = 0;
    'rounds: loop {
        if *stop.borrow() || (ctx.rounds > 0 && u64::from(round) >= ctx.rounds) {
            break;
        }
        let replaced = shard.apply_churn(&ctx.plan, ctx.churn_epoch.load(Relaxed));
        if replaced > 0 {
            ctx.stats.churned(replaced);
        }
        let mut late = false;
        if let Some(interval) = ctx.interval {
            let due = interval
                .checked_mul(round)
                .map_or(ctx.start, |d| ctx.start + d);
            let now = Instant::now();
            if now < due {
                if sleep_until_or_stop(due, &mut stop).await {
                    break;
                }
            } else {
                late = now - due > Duration::from_millis(5);
            }
        }
        for b in 0..shard.batches().len() {
            if *stop.borrow() {
                break 'rounds;
            }
            if let Some(limiter) = &ctx.limiter {
                let n = shard.batches()[b].samples;
                if sleep_until_or_stop(limiter.reserve(n), &mut stop).await {
                    break 'rounds;
                }
            }
            let samples = loop {
                match shard.encode_batch(b, now_ms(), &mut raw) {
                    Ok(n) => break n as u64,
                    Err(wait_ms) => {
                        ctx.stats.clock_wait();
                        let until = Instant::now() + Duration::from_millis(wait_ms);
                        if sleep_until_or_stop(until, &mut stop).await {
                            break 'rounds;
                        }
                    }
                }
            };
            let body = match compressor.compress(&raw) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("cairn-loadgen: cannot compress a request: {e}");
                    break 'rounds;
                }
            };
            let sent = Instant::now();
            let outcome = ctx.sender.send(body).await;
            ctx.stats
                .latency(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            match outcome {
                Outcome::Ok => ctx.stats.ok(samples),
                Outcome::Failed {
                    class,
                    status,
                    detail,
                } => {
                    ctx.stats.failed(samples, class, status, detail);
                    if matches!(class, ErrorClass::Transport | ErrorClass::Http5xx)
                        && sleep_until_or_stop(Instant::now() + ERROR_BACKOFF, &mut stop).await
                    {
                        break 'rounds;
                    }
                }
            }
        }
        ctx.stats.round(late);
        round = round.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;
    use std::sync::Mutex;

    /// What the fake receiver saw.
    #[derive(Debug, Default)]
    struct Seen {
        requests: u64,
        samples: u64,
        /// Timestamps of every sample by label set, in arrival order.
        samples_by_series: std::collections::HashMap<String, Vec<i64>>,
        headers_ok: bool,
    }

    /// A minimal HTTP/1.1 server that decodes remote-write bodies and answers `status`.
    async fn fake_receiver(status: &'static str) -> (String, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen {
            headers_ok: true,
            ..Default::default()
        }));
        let seen2 = seen.clone();
        let addr = crate::test_http::serve(move |headers, body| {
            let want = [
                "post /api/v1/write http/1.1",
                "content-encoding: snappy",
                "content-type: application/x-protobuf",
                "x-prometheus-remote-write-version: 0.1.0",
                "x-scope-orgid: team-a",
                "authorization: bearer tok3n",
            ];
            let req = crate::encode::decode(&body).unwrap();
            let mut s = seen2.lock().unwrap();
            s.headers_ok &= want.iter().all(|w| headers.iter().any(|h| h == w));
            s.requests += 1;
            for ts in &req.timeseries {
                let key: Vec<String> = ts
                    .labels
                    .iter()
                    .map(|l| format!("{}={}", l.name, l.value))
                    .collect();
                let key = key.join(",");
                s.samples += ts.samples.len() as u64;
                let v = s.samples_by_series.entry(key).or_default();
                v.extend(ts.samples.iter().map(|x| x.timestamp));
            }
            (status, "fake answer".to_owned())
        })
        .await;
        (format!("http://{addr}/api/v1/write"), seen)
    }

    fn args(url: &str, extra: &[&str]) -> WriteArgs {
        let mut v = vec![
            "cairn-loadgen",
            "--url",
            url,
            "--series",
            "50",
            "--labels",
            "3",
            "--metrics",
            "5",
            "--histogram-buckets",
            "3",
            "--batch-size",
            "7",
            "--concurrency",
            "3",
            "--tenant",
            "team-a",
            "--bearer-token",
            "tok3n",
            "--progress-every",
            "0",
        ];
        v.extend_from_slice(extra);
        match Cli::try_parse_from(v).unwrap().into_command() {
            Command::Write(w) => w,
            Command::Query(_) => unreachable!("no subcommand given"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flood_run_against_a_fake_receiver() {
        let (url, seen) = fake_receiver("204 No Content").await;
        let summary = run(args(
            &url,
            &[
                "--interval",
                "0",
                "--duration",
                "300ms",
                "--max-rate",
                "20000",
            ],
        ))
        .await
        .unwrap();
        let seen = seen.lock().unwrap();
        assert!(seen.headers_ok);
        assert!(summary.samples > 50, "{summary:?}");
        assert_eq!(summary.samples, seen.samples);
        assert_eq!(summary.requests, seen.requests);
        assert_eq!(summary.errors.total(), 0);
        // Capped at 20k/s for 0.3 s: allow the first reservations' slack.
        assert!(
            summary.samples <= 20_000 * 3 / 10 + 200,
            "{}",
            summary.samples
        );
        // 20 counters and gauges, 5 histograms of 6 series: 50 series.
        assert_eq!(summary.active_series, 50);
        assert_eq!(seen.samples_by_series.len(), 50);
        let now = now_ms();
        for times in seen.samples_by_series.values() {
            assert!(times.windows(2).all(|w| w[1] > w[0]), "{times:?}");
            assert!(
                times[0] >= now - FLOOD_START_BEHIND_MS - 60_000
                    && times[0] < now - FLOOD_START_BEHIND_MS + 60_000
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn interval_run_with_churn_and_errors() {
        let (url, seen) = fake_receiver("400 Bad Request").await;
        let summary = run(args(
            &url,
            &[
                "--interval",
                "100ms",
                "--duration",
                "450ms",
                "--churn-every",
                "200ms",
                "--churn-fraction",
                "0.5",
            ],
        ))
        .await
        .unwrap();
        let seen = seen.lock().unwrap();
        assert!(summary.samples == 0 && summary.samples_failed == seen.samples);
        assert_eq!(summary.errors.http_4xx, summary.requests);
        assert_eq!(
            summary.first_errors["http_4xx"],
            "400 Bad Request: fake answer"
        );
        assert_eq!(
            summary.errors_by_status,
            std::collections::BTreeMap::from([("400".to_owned(), summary.requests)])
        );
        // About 5 rounds of 50 series; churn replaced 13 of the 25 ids at 200 ms (and
        // the next 13 at 400 ms): ids 0..13 are 11 single series and 2 histograms of 6.
        assert!(
            (3 * 50..=6 * 50).contains(&seen.samples),
            "{}",
            seen.samples
        );
        assert!(summary.series_churned >= 23, "{summary:?}");
        assert!(seen.samples_by_series.len() >= 50 + 23);
        let now = now_ms();
        for times in seen.samples_by_series.values() {
            assert!(times.windows(2).all(|w| w[1] > w[0]));
            assert!(times.iter().all(|&t| (now - 5_000..=now).contains(&t)));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rounds_limit_sends_exactly_that_much_on_the_flood_step() {
        let (url, seen) = fake_receiver("200 OK").await;
        let summary = run(args(
            &url,
            &[
                "--interval",
                "0",
                "--duration",
                "0",
                "--rounds",
                "4",
                "--flood-step",
                "15s",
            ],
        ))
        .await
        .unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(summary.samples, 4 * 50);
        assert_eq!(seen.samples, 4 * 50);
        assert_eq!(summary.rounds, 4 * summary.settings.concurrency as u64);
        for times in seen.samples_by_series.values() {
            assert_eq!(times.len(), 4);
            assert!(times.windows(2).all(|w| w[1] - w[0] == 15_000), "{times:?}");
        }
    }

    #[tokio::test]
    async fn unreachable_target_counts_transport_errors() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
        drop(listener);
        let summary = run(args(&url, &["--interval", "0", "--duration", "250ms"]))
            .await
            .unwrap();
        assert!(summary.errors.transport > 0);
        assert_eq!(summary.samples, 0);
        // Backoff keeps it from spinning: 3 workers, 100 ms pauses, 250 ms.
        assert!(summary.errors.transport <= 12, "{summary:?}");
    }
}
