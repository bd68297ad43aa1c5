//! One run: workers, pacing, churn, progress, and the end of the run.

use std::future::pending;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::args::Args;
use crate::client::{Outcome, Sender};
use crate::encode::Compressor;
use crate::series::{split, Catalog, ChurnPlan, Clock, Shard, FLOOD_START_BEHIND_MS};
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
    batch_size: usize,
    concurrency: usize,
    start: Instant,
}

/// Sends until `--duration` is over (or Ctrl-C), then returns the summary. Progress
/// lines go to stderr.
pub async fn run(args: Args) -> Result<Summary, Error> {
    args.validate()?;
    let flood = args.interval.is_zero();
    let clock = if flood {
        Clock::flood()
    } else {
        Clock::RealTime
    };
    let catalog = Arc::new(Catalog::new(
        args.series,
        args.labels,
        args.metrics,
        args.kind,
    ));
    let (batch_size, ranges) = split(args.series, args.concurrency, args.batch_size);
    let sender = Sender::new(
        &args.url,
        args.tenant.as_deref(),
        args.basic_auth.clone(),
        args.timeout,
        ranges.len(),
    )?;
    let stats = Arc::new(Stats::default());
    let churn_epoch = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let start = Instant::now();
    let ctx = Arc::new(Ctx {
        sender,
        stats: stats.clone(),
        limiter: (args.max_rate > 0).then(|| RateLimiter::new(args.max_rate)),
        plan: ChurnPlan::new(args.series, args.churn_fraction),
        churn_epoch: churn_epoch.clone(),
        interval: (!flood).then_some(args.interval),
        batch_size,
        concurrency: ranges.len(),
        start,
    });

    let mut background = Vec::new();
    let duration = args.duration;
    background.push(tokio::spawn(async move {
        let deadline = async {
            if duration.is_zero() {
                pending::<()>().await;
            }
            tokio::time::sleep(duration).await;
        };
        let interrupted = async {
            if tokio::signal::ctrl_c().await.is_err() {
                pending::<()>().await;
            }
        };
        tokio::select! {
            () = deadline => {}
            () = interrupted => eprintln!("cairn-loadgen: interrupted, finishing in-flight requests"),
        }
        let _ = stop_tx.send(true);
        // Keep the sender alive so receivers see `true`, not a closed channel.
        pending::<()>().await;
    }));
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
    let workers: Vec<_> = ranges
        .into_iter()
        .map(|range| {
            let shard = Shard::new(catalog.clone(), range, clock, start_ms, args.seed);
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

    let settings = Settings {
        url: args.url.clone(),
        mode: if flood { "flood" } else { "interval" },
        series: args.series,
        labels: args.labels,
        metrics: args.metrics,
        interval_seconds: args.interval.as_secs_f64(),
        concurrency: ctx.concurrency,
        batch_size,
        max_rate: args.max_rate,
        churn_every_seconds: args.churn_every.as_secs_f64(),
        churn_fraction: args.churn_fraction,
    };
    Ok(stats.summary(settings, elapsed, process_cpu_seconds()))
}

/// One shard's sender: rounds over its batches until told to stop, one request in
/// flight at a time.
async fn worker(mut shard: Shard, ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let batches = shard.batches(ctx.batch_size);
    let mut raw = Vec::new();
    let mut compressor = Compressor::new();
    let mut round: u32 = 0;
    'rounds: loop {
        if *stop.borrow() {
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
        for ids in &batches {
            if *stop.borrow() {
                break 'rounds;
            }
            if let Some(limiter) = &ctx.limiter {
                if sleep_until_or_stop(limiter.reserve(ids.len()), &mut stop).await {
                    break 'rounds;
                }
            }
            let samples = loop {
                match shard.encode_batch(ids.clone(), now_ms(), &mut raw) {
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
                Outcome::Failed { class, detail } => {
                    ctx.stats.failed(samples, class, detail);
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

/// Sleeps until `t`; returns `true` (at once, if need be) when the run is stopping.
async fn sleep_until_or_stop(t: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep_until(t.into()) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// A shared pacing schedule for `--max-rate`: each batch reserves `n / rate` seconds
/// after the previous reservation (or after now, if idle), so unused capacity does not
/// accumulate into bursts.
#[derive(Debug)]
struct RateLimiter {
    per_sample: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    fn new(samples_per_second: u64) -> Self {
        Self {
            per_sample: Duration::from_secs_f64(1.0 / samples_per_second as f64),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Reserves `n` samples; returns when they may be sent.
    fn reserve(&self, n: usize) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let at = (*next).max(Instant::now());
        *next = at + self.per_sample.mul_f64(n as f64);
        at
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// User + system CPU time of this process from `/proc/self/stat` (Linux), assuming the
/// kernel's fixed `USER_HZ` of 100 ticks per second.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the `(comm)` one start at field 3; utime and stime are fields 14, 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    /// What the fake receiver saw.
    #[derive(Debug, Default)]
    struct Seen {
        requests: u64,
        samples: u64,
        /// (series_id label, timestamp) of every sample, in arrival order.
        samples_by_series: std::collections::HashMap<String, Vec<i64>>,
        headers_ok: bool,
    }

    /// A minimal HTTP/1.1 server that decodes remote-write bodies and answers `status`.
    async fn fake_receiver(status: &'static str) -> (String, Arc<Mutex<Seen>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Seen {
            headers_ok: true,
            ..Default::default()
        }));
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let (conn, _) = listener.accept().await.unwrap();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let mut conn = BufReader::new(conn);
                    loop {
                        let mut headers = Vec::new();
                        loop {
                            let mut line = String::new();
                            if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            headers.push(line.trim_end().to_ascii_lowercase());
                        }
                        let len: usize = headers
                            .iter()
                            .find_map(|h| h.strip_prefix("content-length: "))
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        let mut body = vec![0; len];
                        conn.read_exact(&mut body).await.unwrap();
                        let want = [
                            "post /api/v1/write http/1.1",
                            "content-encoding: snappy",
                            "content-type: application/x-protobuf",
                            "x-prometheus-remote-write-version: 0.1.0",
                            "x-scope-orgid: team-a",
                        ];
                        let req = crate::encode::decode(&body).unwrap();
                        {
                            let mut s = seen.lock().unwrap();
                            s.headers_ok &= want.iter().all(|w| headers.iter().any(|h| h == w));
                            s.requests += 1;
                            for ts in &req.timeseries {
                                let id = ts.labels.iter().find(|l| l.name == "series_id").unwrap();
                                let cycle =
                                    ts.labels.iter().find(|l| l.name == "cycle_id").unwrap();
                                let key = format!("{}/{}", id.value, cycle.value);
                                s.samples += ts.samples.len() as u64;
                                let v = s.samples_by_series.entry(key).or_default();
                                v.extend(ts.samples.iter().map(|x| x.timestamp));
                            }
                        }
                        let reply =
                            format!("HTTP/1.1 {status}\r\ncontent-length: 11\r\n\r\nfake answer");
                        if conn.get_mut().write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, seen)
    }

    fn args(url: &str, extra: &[&str]) -> Args {
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
            "--batch-size",
            "7",
            "--concurrency",
            "3",
            "--tenant",
            "team-a",
            "--progress-every",
            "0",
        ];
        v.extend_from_slice(extra);
        Args::try_parse_from(v).unwrap()
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
        // About 5 rounds of 50 series; churn replaced 25 ids at 200 ms (and at 400 ms).
        assert!(
            (3 * 50..=6 * 50).contains(&seen.samples),
            "{}",
            seen.samples
        );
        assert!(summary.series_churned >= 25, "{summary:?}");
        assert!(seen.samples_by_series.len() >= 75);
        let now = now_ms();
        for times in seen.samples_by_series.values() {
            assert!(times.windows(2).all(|w| w[1] > w[0]));
            assert!(times.iter().all(|&t| (now - 5_000..=now).contains(&t)));
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

    #[test]
    fn rate_limiter_spaces_reservations() {
        let l = RateLimiter::new(1000);
        let a = l.reserve(100);
        let b = l.reserve(100);
        let c = l.reserve(1);
        assert!(b - a >= Duration::from_millis(99));
        assert!(c - b >= Duration::from_millis(99));
    }

    #[test]
    fn own_cpu_time_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(process_cpu_seconds().is_some());
        }
    }
}
