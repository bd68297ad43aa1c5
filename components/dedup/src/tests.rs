use cairn_model::STALE_NAN;

use super::*;

const S: i64 = 1000;
const INTERVAL: i64 = 15 * S;

fn grid(offset: i64, n: i64, f: impl Fn(i64) -> f64) -> Vec<Sample> {
    (0..n)
        .map(|k| {
            let t = offset + k * INTERVAL;
            Sample::new(t, f(t))
        })
        .collect()
}

fn without(samples: &[Sample], from: i64, to: i64) -> Vec<Sample> {
    samples
        .iter()
        .copied()
        .filter(|s| s.t < from || s.t > to)
        .collect()
}

/// PromQL's counter increase between the first and the last sample (no extrapolation):
/// a drop is a reset and counts the new value.
fn increase(samples: &[Sample]) -> f64 {
    let real: Vec<&Sample> = samples.iter().filter(|s| !s.v.is_nan()).collect();
    real.windows(2)
        .map(|w| {
            if w[1].v >= w[0].v {
                w[1].v - w[0].v
            } else {
                w[1].v
            }
        })
        .sum()
}

fn resets(samples: &[Sample]) -> usize {
    samples.windows(2).filter(|w| w[1].v < w[0].v).count()
}

fn max_delta(samples: &[Sample]) -> i64 {
    samples.windows(2).map(|w| w[1].t - w[0].t).max().unwrap()
}

#[test]
fn scrape_interval_is_the_median_delta_and_ignores_gaps() {
    let a = grid(0, 40, |_| 1.0);
    let gappy = without(&a, 100 * S, 300 * S);
    assert_eq!(scrape_interval(&[&gappy]), INTERVAL);
    let fast = grid(0, 10, |_| 1.0)
        .into_iter()
        .map(|s| Sample::new(s.t / 3, s.v))
        .collect::<Vec<_>>();
    assert_eq!(scrape_interval(&[&a, &fast]), 5 * S);
    assert_eq!(scrape_interval(&[&a[..1]]), DEFAULT_INTERVAL_MS);
}

#[test]
fn identical_replicas_give_one_copy() {
    let a = grid(0, 100, |t| (t / S) as f64);
    for kind in [SeriesKind::Gauge, SeriesKind::Counter] {
        assert_eq!(penalty_merge(&[&a, &a], kind), a);
        assert_eq!(penalty_merge(&[&a, &a, &a], kind), a);
    }
    assert_eq!(penalty_merge(&[&a, &[]], SeriesKind::Gauge), a);
    assert!(penalty_merge(&[&[], &[]], SeriesKind::Gauge).is_empty());
}

#[test]
fn jittered_replicas_follow_the_earliest_and_never_interleave() {
    let a = grid(0, 100, |_| 1.0);
    let late = grid(700, 100, |_| 2.0);
    let early = grid(-700, 100, |_| 3.0);
    assert_eq!(penalty_merge(&[&a, &late], SeriesKind::Gauge), a);
    assert_eq!(penalty_merge(&[&late, &a], SeriesKind::Gauge), a);
    assert_eq!(penalty_merge(&[&a, &early], SeriesKind::Gauge), early);
    // Three replicas within a second of each other (thanos#7623's timestamps).
    let third = grid(813, 100, |_| 4.0);
    assert_eq!(penalty_merge(&[&late, &third, &a], SeriesKind::Gauge), a);
}

#[test]
fn single_missed_scrapes_in_the_followed_replica_are_filled_from_the_other() {
    // thanos#7364: replica A misses every third scrape for a while; Thanos keeps it
    // (its penalty doubles with each gap). Every gap must be filled from B.
    let full = grid(0, 120, |t| (t / S) as f64);
    let a: Vec<Sample> = full
        .iter()
        .enumerate()
        .filter(|(k, _)| !(20..80).contains(k) || k % 3 != 0)
        .map(|(_, s)| *s)
        .collect();
    let b = grid(4 * S, 120, |t| (t / S) as f64);
    let d = penalty_merge(&[&a, &b], SeriesKind::Gauge);
    assert!(max_delta(&d) <= INTERVAL + INTERVAL / 2, "{d:?}");
    assert!(d.windows(2).all(|w| w[1].t - w[0].t >= INTERVAL / 2));
    assert!(d.len() >= 119, "{}", d.len());
    // Sticky: after the first switch B is followed until it has a gap itself.
    let first_b = d.iter().position(|s| s.t % INTERVAL != 0).unwrap();
    assert!(d[first_b..].iter().all(|s| s.t % INTERVAL == 4 * S));
}

#[test]
fn a_long_gap_and_a_stale_marker_are_filled_and_the_end_of_a_replica_too() {
    let full = grid(0, 120, |_| 1.0);
    let mut a = without(&full, 300 * S, 900 * S);
    // Scrape failure: Prometheus writes a stale marker, then nothing.
    a.push(Sample::new(305 * S, STALE_NAN));
    a.sort_by_key(|s| s.t);
    let a: Vec<Sample> = a.into_iter().filter(|s| s.t < 1500 * S).collect();
    let b = grid(7 * S, 120, |_| 2.0);
    let d = penalty_merge(&[&a, &b], SeriesKind::Gauge);
    assert!(d.iter().all(|s| !is_stale_nan(s.v)), "{d:?}");
    assert!(max_delta(&d) <= INTERVAL + INTERVAL / 2);
    assert_eq!(d.last().unwrap().t, b.last().unwrap().t);
    // With no other replica, a stale marker is kept: the series really ended.
    let only_a = penalty_merge(&[&a, &b[..5]], SeriesKind::Gauge);
    assert!(only_a.iter().any(|s| is_stale_nan(s.v)));
}

/// A counter growing 1/s from 0 that resets to 0 at `reset_at`.
fn counter(reset_at: i64) -> impl Fn(i64) -> f64 {
    move |t: i64| {
        if t < reset_at {
            t as f64 / 1000.0
        } else {
            (t - reset_at) as f64 / 1000.0
        }
    }
}

#[test]
fn a_reset_seen_at_different_times_by_the_replicas_is_not_inflated() {
    // thanos#1326: B's scrapes read the target 35s late, so B reports the reset 35s
    // after A. A is followed, reports the reset, then has a gap: the output switches to
    // B, which is still before the reset. Subtracting the replicas' values counts the
    // pre-reset value again (Thanos only adjusts when the new value is lower).
    let reset_at = 607_500;
    let c = counter(reset_at);
    let full_a = grid(0, 60, &c);
    let a = without(&full_a, 616 * S, 900 * S);
    let b = grid(5 * S, 60, |t| c(t - 35 * S).max(0.0));
    let d = penalty_merge(&[&a, &b], SeriesKind::Counter);
    let truth = c(reset_at - 1) + c(d.last().unwrap().t);
    let got = increase(&d);
    // B's lag and the switch cost at most a few scrapes' worth, never a reset's worth.
    assert!(
        (got - truth).abs() <= 4.0 * 15.0,
        "increase {got}, truth {truth}"
    );
    assert_eq!(resets(&d), 1, "one reset, counted once");
    // The same data without counter handling inflates: the check above can fail.
    let naive = increase(&penalty_merge(&[&a, &b], SeriesKind::Gauge));
    assert!(naive > truth + 300.0, "naive {naive}");
}

#[test]
fn the_reset_table_of_thanos_1326_with_switches_stays_within_the_replicas_views() {
    let t = |s: i64| s * S;
    let a_all = [
        (818, 46906.0),
        (832, 42.0),
        (846, 66.0),
        (860, 66.0),
        (874, 66.0),
        (888, 66.0),
    ];
    let b_all = [
        (818, 47000.0),
        (832, 47000.0),
        (846, 47000.0),
        (860, 115.0),
        (874, 115.0),
        (888, 201.0),
    ];
    let mk = |v: &[(i64, f64)]| {
        v.iter()
            .map(|&(s, x)| Sample::new(t(s), x))
            .collect::<Vec<_>>()
    };
    let (a_full, b) = (mk(&a_all), mk(&b_all));
    // A is followed and misses the scrapes after its reset: the output switches to B,
    // which has not reset yet.
    let a = without(&a_full, t(840), t(880));
    let d = penalty_merge(&[&a, &b], SeriesKind::Counter);
    let got = increase(&d);
    let (ia, ib) = (increase(&a_full), increase(&b));
    assert!(got <= ia.max(ib) + 1e-9, "dedup {got}, A {ia}, B {ib}");
    assert!(got >= ia.min(ib) - 1e-9, "dedup {got}, A {ia}, B {ib}");
}

#[test]
fn a_newer_but_lower_sample_at_the_switch_is_no_spike() {
    // thanos#7623: B's sample is newer than A's last one but its value is lower (B read
    // the target earlier than its timestamp says). Without adjustment that drop is a
    // reset and `rate` counts B's whole value: a spike of ~79000.
    let c = |t: i64| 78_000.0 + 0.3 * (t as f64 / 1000.0);
    let a = without(&grid(0, 40, c), 300 * S, 600 * S);
    let b = grid(2 * S, 40, |t| c(t - 20 * S));
    let d = penalty_merge(&[&a, &b], SeriesKind::Counter);
    let switch = d.iter().position(|s| s.t % INTERVAL != 0).unwrap();
    assert!(b[..].iter().any(|s| s.t == d[switch].t));
    let (before, at) = (a.iter().rfind(|s| s.t < d[switch].t).unwrap(), d[switch]);
    let raw_b = b.iter().find(|s| s.t == at.t).unwrap();
    assert!(
        raw_b.v < before.v,
        "the scenario has the lower newer sample"
    );
    let truth = c(d.last().unwrap().t) - c(0);
    let got = increase(&d);
    assert!(
        (got - truth).abs() <= 0.3 * 30.0,
        "increase {got}, truth {truth}"
    );
    assert_eq!(resets(&d), 0);
    let naive = increase(&penalty_merge(&[&a, &b], SeriesKind::Gauge));
    assert!(naive > 70_000.0, "naive {naive}");
}

#[test]
fn a_real_reset_on_both_replicas_is_counted_once_and_kept_for_resets() {
    let c = counter(300 * S + 500);
    let a = grid(0, 40, &c);
    let b = grid(3 * S, 40, &c);
    let d = penalty_merge(&[&a, &b], SeriesKind::Counter);
    assert_eq!(d, a, "no switch: raw values unchanged");
    // With a switch right after the reset, the reset is still counted once.
    let a_gap = without(&a, 310 * S, 400 * S);
    let d = penalty_merge(&[&a_gap, &b], SeriesKind::Counter);
    assert_eq!(resets(&d), 1);
    let truth = c(300 * S) + c(d.last().unwrap().t);
    assert!(
        (increase(&d) - truth).abs() <= 15.0,
        "{} vs {truth}",
        increase(&d)
    );
}

#[test]
fn gauges_are_switched_without_adjusting_values() {
    let a = without(&grid(0, 40, |_| 10.0), 200 * S, 400 * S);
    let b = grid(5 * S, 40, |_| 3.0);
    let d = penalty_merge(&[&a, &b], SeriesKind::Gauge);
    assert!(d.iter().all(|s| s.v == 10.0 || s.v == 3.0));
    assert!(d.iter().any(|s| s.v == 3.0));
}

#[test]
fn histogram_replicas_follow_one_replica_and_forget_hints_at_switches() {
    use cairn_model::histogram::CounterResetHint;
    use cairn_model::{FloatHistogram, HistogramSample};
    let h = |t: i64, count: f64| {
        HistogramSample::new(
            t,
            FloatHistogram {
                count,
                counter_reset_hint: CounterResetHint::NotCounterReset,
                ..Default::default()
            },
        )
    };
    // A scrapes every 15s until 60s; B is 5s late and goes on.
    let a: Vec<HistogramSample> = (0..=4).map(|i| h(i * 15_000, i as f64)).collect();
    let b: Vec<HistogramSample> = (0..=8).map(|i| h(i * 15_000 + 5_000, i as f64)).collect();
    let out = penalty_merge_histograms(&[&a, &b]);
    let times: Vec<i64> = out.iter().map(|s| s.t).collect();
    assert_eq!(
        times,
        [0, 15_000, 30_000, 45_000, 60_000, 80_000, 95_000, 110_000, 125_000]
    );
    let hints: Vec<CounterResetHint> = out.iter().map(|s| s.h.counter_reset_hint).collect();
    assert_eq!(hints[4], CounterResetHint::NotCounterReset);
    assert_eq!(
        hints[5],
        CounterResetHint::Unknown,
        "first sample after the switch"
    );
    assert_eq!(hints[6], CounterResetHint::NotCounterReset);
    assert_eq!(penalty_merge_histograms(&[&a, &[]]), a);
}
