//! Custom-bucket histograms (NHCB) whose bounds differ: the bounds two histograms have
//! in common, mapping buckets onto them, and counter reset detection across them.

use std::cmp::Ordering;

use super::layout::{indexed, Layout};
use super::{FloatHistogram, Span};
use crate::gofloat::kahan_inc;

/// Whether two sets of custom bounds are identical (NaN bounds never match).
pub fn custom_bucket_bounds_match(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The bounds present in both (sorted) bound lists.
pub(super) fn intersect_bounds(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(a[i]);
            i += 1;
            j += 1;
        } else if a[i] < b[j] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Adds (or subtracts, with `negate`) custom buckets `b` (with bounds `b_bounds`) to
/// `a` (with bounds `a_bounds`) on the common bounds `target`: every bucket goes to the
/// first common bound at or above its upper bound (the +Inf bucket otherwise), summed
/// with Kahan summation (including `a`'s compensation terms if given). Returns the
/// populated target buckets with their spans and compensation terms.
pub(super) fn add_custom_mismatched(
    negate: bool,
    a: Layout<'_>,
    a_bounds: &[f64],
    b: Layout<'_>,
    b_bounds: &[f64],
    target: &[f64],
) -> (Vec<Span>, Vec<f64>, Vec<f64>) {
    let mut sums = vec![0.0; target.len() + 1];
    let mut comps = vec![0.0; target.len() + 1];
    let mut map = |layout: Layout<'_>, bounds: &[f64], sign: f64| {
        let mut t = 0usize;
        for (n, (idx, value)) in indexed(layout.spans, layout.buckets).enumerate() {
            let slot = match usize::try_from(idx).ok().and_then(|i| bounds.get(i)) {
                Some(&upper) => {
                    // Not `<`: a NaN bound goes on to the +Inf bucket, as in Prometheus.
                    while t < target.len()
                        && !matches!(
                            target[t].partial_cmp(&upper),
                            Some(Ordering::Greater | Ordering::Equal)
                        )
                    {
                        t += 1;
                    }
                    t
                }
                None => target.len(),
            };
            (sums[slot], comps[slot]) = kahan_inc(sign * value, sums[slot], comps[slot]);
            if let Some(&c) = layout.comp.and_then(|c| c.get(n)) {
                (sums[slot], comps[slot]) = kahan_inc(c, sums[slot], comps[slot]);
            }
        }
    };
    map(a, a_bounds, 1.0);
    map(
        Layout { comp: None, ..b },
        b_bounds,
        if negate { -1.0 } else { 1.0 },
    );

    let mut spans: Vec<Span> = Vec::new();
    let mut buckets = Vec::new();
    let mut comp = Vec::new();
    let mut last: Option<usize> = None;
    for (i, (&s, &c)) in sums.iter().zip(&comps).enumerate() {
        if s == 0.0 && c == 0.0 {
            continue;
        }
        match (last, spans.last_mut()) {
            (Some(l), Some(span)) if l + 1 == i => span.length += 1,
            _ => spans.push(Span {
                offset: (i - last.map_or(0, |l| l + 1)) as i32,
                length: 1,
            }),
        }
        last = Some(i);
        buckets.push(s);
        comp.push(c);
    }
    (spans, buckets, comp)
}

/// Counter reset detection between custom-bucket histograms with different bounds: a
/// reset is a decrease of the summed count between two consecutive common bounds (the
/// implicit +Inf bound included).
pub(super) fn detect_reset_mismatched(current: &FloatHistogram, previous: &FloatHistogram) -> bool {
    let mut cur = Rollup::new(current);
    let mut prev = Rollup::new(previous);
    let common = intersect_bounds(current.custom_bounds(), previous.custom_bounds());
    common
        .iter()
        .copied()
        .chain(std::iter::once(f64::INFINITY))
        .any(|bound| cur.take_up_to(bound) < prev.take_up_to(bound))
}

/// Walks a custom-bucket histogram's buckets in order, summing those up to a bound.
#[derive(Debug)]
struct Rollup<'a> {
    h: &'a FloatHistogram,
    buckets: Vec<(i64, f64)>,
    next: usize,
}

impl<'a> Rollup<'a> {
    fn new(h: &'a FloatHistogram) -> Self {
        Rollup {
            h,
            buckets: indexed(&h.positive_spans, &h.positive_buckets).collect(),
            next: 0,
        }
    }

    /// The sum of the not yet taken buckets whose upper bound is at most `bound`.
    fn take_up_to(&mut self, bound: f64) -> f64 {
        let bounds = self.h.custom_bounds();
        let mut sum = 0.0;
        while let Some(&(idx, count)) = self.buckets.get(self.next) {
            let upper = usize::try_from(idx)
                .ok()
                .and_then(|i| bounds.get(i).copied())
                .unwrap_or(f64::INFINITY);
            if upper > bound {
                break;
            }
            sum += count;
            self.next += 1;
        }
        sum
    }
}
