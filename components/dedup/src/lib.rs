//! Penalty-based deduplication of HA replicas of one series: the querier runs it on
//! series that differ only in replica labels, the compactor on replica blocks.
//!
//! ```text
//!  replica A: ●  ●  ●  ●        ●  ●        samples of each replica, sorted by time
//!  replica B:  ○  ○  ○  ○  ○  ○  ○  ○
//!             │ scrape_interval: smallest per-replica median delta (gaps don't move it)
//!             ▼
//!  select:    ●  ●  ●  ●  ○  ○  ○  ○        follow one replica; switch only when it
//!             │                              has no sample for 1.5 intervals (a gap) and
//!             │                              another one has a sample inside that gap
//!             ▼
//!  SeriesKind::Gauge    values as they are
//!  SeriesKind::Counter  each increment from ONE replica's own consecutive samples;
//!                       a switch never compares two replicas' values, so neither a
//!                       reset seen at different times (thanos#1326) nor a lower newer
//!                       value (thanos#7623) turns into a false reset
//! ```
//!
//! Why the interval and not Thanos's "twice the last delta" penalty: Thanos derives the
//! penalty from the distance between the last two samples it emitted, so once the
//! followed replica misses one scrape the penalty doubles and it keeps a flapping
//! replica with gaps while the other one has every sample (thanos#7364). Here the
//! threshold comes from the median scrape interval, which a few gaps do not change.

use std::sync::Arc;

use cairn_model::histogram::CounterResetHint;
use cairn_model::{is_stale_nan, HistogramSample, Sample};

/// Interval assumed when no replica has two samples (timestamps are milliseconds and
/// scrape intervals several seconds, the same guess as Thanos's initial penalty).
pub const DEFAULT_INTERVAL_MS: i64 = 5_000;

/// How values may be adjusted when the output switches replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    /// Values are taken as they are (gauges, and anything whose type is unknown).
    Gauge,
    /// Monotonic counters read by `rate`, `increase`, `irate` or `resets`: increments
    /// are taken per replica so switching never creates or hides a reset.
    Counter,
}

/// The scrape interval of a group of replicas: the smallest per-replica median of the
/// positive deltas between samples. A median ignores gaps (missed scrapes) unless more
/// than half the scrapes are missing.
pub fn scrape_interval(replicas: &[&[Sample]]) -> i64 {
    replicas
        .iter()
        .filter_map(|r| {
            let mut d: Vec<i64> = r
                .windows(2)
                .map(|w| w[1].t - w[0].t)
                .filter(|d| *d > 0)
                .collect();
            if d.is_empty() {
                return None;
            }
            let mid = d.len() / 2;
            Some(*d.select_nth_unstable(mid).1)
        })
        .min()
        .unwrap_or(DEFAULT_INTERVAL_MS)
}

/// Deduplicates time-sorted replicas of one series into one time-sorted series.
///
/// The output follows one replica (the one with the earliest sample) and switches only
/// where that replica has a gap — no sample for more than 1.5 scrape intervals, a stale
/// marker, or its end — and another replica has a sample inside the gap at least half
/// an interval after the last emitted one (so jittered replicas never interleave and
/// raise the sample rate). It then sticks to the new replica.
pub fn penalty_merge(replicas: &[&[Sample]], kind: SeriesKind) -> Vec<Sample> {
    let live: Vec<&[Sample]> = replicas.iter().copied().filter(|r| !r.is_empty()).collect();
    match live.len() {
        0 => return Vec::new(),
        1 => return live[0].to_vec(),
        _ => {}
    }
    let interval = scrape_interval(&live);
    let picks = select(&live, interval);
    match kind {
        SeriesKind::Gauge => picks.iter().map(|&(r, i)| live[r][i]).collect(),
        SeriesKind::Counter => counter_values(&live, &picks, interval),
    }
}

/// Deduplicates time-sorted replicas of one native-histogram series: the output
/// follows the replica [`penalty_merge`] would follow for the histograms' counts (stale
/// markers kept), with the same gap rules. Histogram values are never adjusted; where
/// the output switches replicas a "no counter reset" hint (which spoke of the other
/// replica's previous sample) becomes unknown, so PromQL checks for a reset itself.
pub fn penalty_merge_histograms(replicas: &[&[HistogramSample]]) -> Vec<HistogramSample> {
    let live: Vec<&[HistogramSample]> =
        replicas.iter().copied().filter(|r| !r.is_empty()).collect();
    if live.len() <= 1 {
        return live.first().map(|r| r.to_vec()).unwrap_or_default();
    }
    let projected: Vec<Vec<Sample>> = live
        .iter()
        .map(|r| {
            r.iter()
                .map(|h| {
                    let v = if is_stale_nan(h.h.sum) {
                        h.h.sum
                    } else {
                        h.h.count
                    };
                    Sample::new(h.t, v)
                })
                .collect()
        })
        .collect();
    let slices: Vec<&[Sample]> = projected.iter().map(Vec::as_slice).collect();
    let mut prev_replica = None;
    select(&slices, scrape_interval(&slices))
        .into_iter()
        .map(|(r, i)| {
            let mut h = live[r][i].clone();
            let switched = prev_replica.is_some_and(|p| p != r);
            prev_replica = Some(r);
            if switched && h.h.counter_reset_hint == CounterResetHint::NotCounterReset {
                Arc::make_mut(&mut h.h).counter_reset_hint = CounterResetHint::Unknown;
            }
            h
        })
        .collect()
}

/// Which sample of which replica each output sample is: `(replica, index)` pairs.
fn select(replicas: &[&[Sample]], interval: i64) -> Vec<(usize, usize)> {
    let interval = interval.max(1);
    let gap = interval + interval / 2;
    let min_spacing = interval / 2;
    let first_t = |r: usize| replicas[r][0].t;
    let Some(mut cur) = (0..replicas.len()).min_by_key(|&r| (first_t(r), r)) else {
        return Vec::new();
    };
    let mut pos = vec![0usize; replicas.len()];
    let mut out = Vec::with_capacity(replicas.iter().map(|r| r.len()).max().unwrap_or(0));
    let mut lt: Option<i64> = None;
    let next_real = |s: &[Sample], from: usize| {
        s[from.min(s.len())..]
            .iter()
            .find(|x| !is_stale_nan(x.v))
            .map(|x| x.t)
    };
    loop {
        let Some(last) = lt else {
            out.push((cur, 0));
            lt = Some(replicas[cur][0].t);
            pos[cur] = 1;
            continue;
        };
        let rc = replicas[cur];
        while pos[cur] < rc.len() && rc[pos[cur]].t <= last {
            pos[cur] += 1;
        }
        let next = rc.get(pos[cur]);
        let healthy = next.is_some_and(|s| !is_stale_nan(s.v) && s.t - last <= gap);
        let mut pick = None;
        if !healthy {
            // Where the followed replica has data again (never, if it ended).
            let resume = next_real(rc, pos[cur]);
            let mut best: Option<(i64, usize, usize)> = None;
            for (r, s) in replicas.iter().enumerate() {
                if r == cur {
                    continue;
                }
                // Positions only move forward: the last emitted time only grows.
                while pos[r] < s.len() && s[pos[r]].t <= last + min_spacing {
                    pos[r] += 1;
                }
                let Some(i) = (pos[r]..s.len()).find(|&i| !is_stale_nan(s[i].v)) else {
                    continue;
                };
                let t = s[i].t;
                if resume.is_none_or(|rt| t < rt) && best.is_none_or(|(bt, _, _)| t < bt) {
                    best = Some((t, r, i));
                }
            }
            pick = best.map(|(_, r, i)| (r, i));
        }
        let (r, i) = match (pick, next) {
            (Some(p), _) => p,
            (None, Some(_)) => (cur, pos[cur]),
            (None, None) => break,
        };
        out.push((r, i));
        lt = Some(replicas[r][i].t);
        cur = r;
        pos[r] = i + 1;
    }
    out
}

/// Counter values for the selected samples.
///
/// Every increment comes from one replica's own history: within a replica it is the
/// usual counter delta (the new value after a reset); on a switch to replica `r` it is
/// `r`'s own increase since its last sample at or before the last emitted one, scaled
/// to the part of that span after the last emitted sample. Two replicas' values are
/// never subtracted from each other when it could inflate (their scrapes read the
/// target at different moments, and may disagree on when it restarted), so a switch
/// produces neither a false reset nor a counted-twice one:
///
/// - `r` went through a reset the output has not counted: counted, as `r` saw it;
/// - `r` reports a reset the output counted shortly before (it lags): not again;
/// - the output counted a reset that `r` has not shown yet: `r` owes it, and when it
///   shows it its post-reset values continue from the output's post-reset value.
///
/// The output is the running total written so that PromQL's own reset handling yields
/// exactly these increments: samples are `raw + offset`, and a counted reset is a drop
/// to the increment itself, so `resets()` still sees it. Without switches the output is
/// the followed replica's raw values.
fn counter_values(replicas: &[&[Sample]], picks: &[(usize, usize)], interval: i64) -> Vec<Sample> {
    // Replicas see one reset at most this far apart (slow scrapes, clock skew).
    let window = 4 * interval.max(1);
    let mut out = Vec::with_capacity(picks.len());
    // The previous output sample: replica, raw value, output value, time.
    let mut prev: Option<(usize, f64, f64, i64)> = None;
    let mut offset = 0.0;
    let mut last_reset_t = i64::MIN;
    // A replica that has not yet shown a reset the output already counted: the raw value
    // (on the other replica's post-reset scale) that its own post-reset values continue.
    let mut owed: Vec<Option<f64>> = vec![None; replicas.len()];
    for &(r, i) in picks {
        let own = replicas[r];
        let s = own[i];
        if s.v.is_nan() {
            // Stale markers and NaN pass through and carry no counter state.
            out.push(s);
            continue;
        }
        let Some((pr, lraw, lout, lt)) = prev else {
            out.push(s);
            prev = Some((r, s.v, s.v, s.t));
            continue;
        };
        let (inc, reset) = if pr == r {
            let p = own[..i].iter().rev().find(|x| !x.v.is_nan());
            match p {
                Some(p) if s.v >= p.v => {
                    // The common case: keep `raw + offset` exact, no float drift.
                    let v = s.v + offset;
                    out.push(Sample::new(s.t, v));
                    prev = Some((r, s.v, v, s.t));
                    continue;
                }
                _ => match owed[r].take() {
                    Some(base) => ((s.v - base).max(0.0), false),
                    None => (s.v, true),
                },
            }
        } else {
            owed[r] = None;
            // r's own samples from its last one at or before `lt` up to `s`.
            let from = own[..i]
                .iter()
                .rposition(|x| x.t <= lt && !x.v.is_nan())
                .or_else(|| own[..i].iter().position(|x| !x.v.is_nan()));
            match from {
                None => ((s.v - lraw).max(0.0), false),
                Some(from) => {
                    let (own_inc, first_drop) = own_increase(&own[from..=i]);
                    let recent = |t: i64| last_reset_t != i64::MIN && last_reset_t >= t - window;
                    match first_drop {
                        Some(d) if recent(d) => ((s.v - lraw).max(0.0), false),
                        Some(_) => (own_inc, true),
                        None if recent(s.t) && !dropped_since(own, i, last_reset_t - window) => {
                            owed[r] = Some(lraw);
                            (0.0, false)
                        }
                        None => {
                            let p = own[from].t;
                            let covered = if p < lt {
                                (s.t - lt) as f64 / (s.t - p) as f64
                            } else {
                                1.0
                            };
                            (own_inc * covered, false)
                        }
                    }
                }
            }
        };
        let v = if reset && inc < lout { inc } else { lout + inc };
        if reset {
            last_reset_t = s.t;
        }
        offset = v - s.v;
        out.push(Sample::new(s.t, v));
        prev = Some((r, s.v, v, s.t));
    }
    out
}

/// The counter increase over consecutive samples of one replica, and the time of the
/// first sample that dropped (a reset), if any.
fn own_increase(samples: &[Sample]) -> (f64, Option<i64>) {
    let mut inc = 0.0;
    let mut drop = None;
    let mut last: Option<f64> = None;
    for s in samples.iter().filter(|s| !s.v.is_nan()) {
        if let Some(l) = last {
            if s.v >= l {
                inc += s.v - l;
            } else {
                inc += s.v;
                drop.get_or_insert(s.t);
            }
        }
        last = Some(s.v);
    }
    (inc, drop)
}

/// Whether replica samples up to index `i` drop anywhere after time `since`.
fn dropped_since(samples: &[Sample], i: usize, since: i64) -> bool {
    let start = samples[..i]
        .partition_point(|x| x.t < since)
        .saturating_sub(1);
    own_increase(&samples[start..=i])
        .1
        .is_some_and(|t| t >= since)
}

#[cfg(test)]
mod tests;
