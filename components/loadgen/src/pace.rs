//! Time helpers shared by both modes: the end of a run, pacing, clocks, CPU time.

use std::future::pending;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A task that flips the returned flag to `true` after `duration` (never, for zero) or
/// at Ctrl-C, whichever comes first. Abort the task when the run is over.
pub(crate) fn stop_signal(duration: Duration) -> (JoinHandle<()>, watch::Receiver<bool>) {
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(async move {
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
        let _ = tx.send(true);
        // Keep the sender alive so receivers see `true`, not a closed channel.
        pending::<()>().await;
    });
    (task, rx)
}

/// Sleeps until `t`; returns `true` (at once, if need be) when the run is stopping.
pub(crate) async fn sleep_until_or_stop(t: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep_until(t.into()) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// A shared pacing schedule for `--max-rate` and `--qps`: each reservation of `n`
/// units starts `n / rate` seconds after the previous one (or now, if idle), so unused
/// capacity does not accumulate into bursts.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_unit: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// `per_second` units per second (> 0).
    pub(crate) fn new(per_second: f64) -> Self {
        Self {
            per_unit: Duration::from_secs_f64(1.0 / per_second),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Reserves `n` units; returns when they may be used.
    pub(crate) fn reserve(&self, n: usize) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let at = (*next).max(Instant::now());
        *next = at + self.per_unit.mul_f64(n as f64);
        at
    }
}

/// Wall-clock time in unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// User + system CPU time of this process from `/proc/self/stat` (Linux), assuming the
/// kernel's fixed `USER_HZ` of 100 ticks per second.
pub(crate) fn process_cpu_seconds() -> Option<f64> {
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

    #[test]
    fn rate_limiter_spaces_reservations() {
        let l = RateLimiter::new(1000.0);
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
