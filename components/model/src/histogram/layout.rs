//! Algorithms on one side's sparse bucket layout (spans plus bucket counts, optionally
//! with a parallel vector of Kahan compensation terms): adding layouts, lowering their
//! resolution and compacting them.
//!
//! Every function here reproduces the span layout Prometheus's `model/histogram`
//! produces for the same input (not only the same bucket values), because results are
//! compared span by span in tests and by `Equals`.

use super::error::{HistogramError, Side};
use super::{bucket_bound, is_exponential_schema, Span};
use crate::gofloat::kahan_inc;

/// The absolute bucket index of every bucket slot the spans describe, in order.
pub(super) fn span_indexes(spans: &[Span]) -> impl Iterator<Item = i64> + '_ {
    let mut next = 0i64;
    spans.iter().flat_map(move |s| {
        next += i64::from(s.offset);
        let first = next;
        next += i64::from(s.length);
        first..next
    })
}

/// `(index, count)` of every bucket of one side, in storage order.
pub(super) fn indexed<'a>(
    spans: &'a [Span],
    buckets: &'a [f64],
) -> impl Iterator<Item = (i64, f64)> + 'a {
    span_indexes(spans).zip(buckets.iter().copied())
}

/// The index in `target` schema of the bucket that contains bucket `index` of `origin`
/// schema (`origin >= target`).
pub(super) fn target_index(index: i64, origin: i32, target: i32) -> i64 {
    ((index - 1) >> (origin - target)) + 1
}

/// Checks that spans and buckets agree (every span after the first has a non-negative
/// offset, the spans' lengths add up to the number of buckets).
pub(super) fn check_spans(
    spans: &[Span],
    buckets: usize,
    side: Side,
) -> Result<(), HistogramError> {
    for (n, span) in spans.iter().enumerate().skip(1) {
        if span.offset < 0 {
            return Err(HistogramError::NegativeSpanOffset {
                side,
                span: n + 1,
                offset: span.offset,
            });
        }
    }
    check_lengths(spans, buckets, side)
}

/// Checks that the spans' lengths add up to the number of buckets.
pub(super) fn check_lengths(
    spans: &[Span],
    buckets: usize,
    side: Side,
) -> Result<(), HistogramError> {
    let need: usize = spans.iter().map(|s| s.length as usize).sum();
    if need != buckets {
        return Err(HistogramError::SpansBucketsMismatch {
            side,
            spans_need: need,
            have: buckets,
        });
    }
    Ok(())
}

/// A mutable view of one side: spans, counts and (for Kahan sums) compensation terms
/// aligned with the counts.
#[derive(Debug)]
pub(super) struct LayoutMut<'a> {
    pub(super) spans: &'a mut Vec<Span>,
    pub(super) buckets: &'a mut Vec<f64>,
    pub(super) comp: Option<&'a mut Vec<f64>>,
}

/// One side as owned vectors, optionally with compensation terms.
#[derive(Debug, Default)]
pub(super) struct OwnedLayout {
    pub(super) spans: Vec<Span>,
    pub(super) buckets: Vec<f64>,
    pub(super) comp: Option<Vec<f64>>,
}

/// A read-only view of one side, optionally with compensation terms.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout<'a> {
    pub(super) spans: &'a [Span],
    pub(super) buckets: &'a [f64],
    pub(super) comp: Option<&'a [f64]>,
}

/// Adds (or, with `negate`, subtracts) the buckets of `b` to those of `a`, both in
/// `schema`, inserting the buckets `a` lacks.
///
/// Leading buckets of `b` whose upper bound is at most `threshold` are skipped (their
/// counts are in the zero bucket already). A new bucket extends the span just before
/// it, else the span just after it, else becomes a span of its own; spans are never
/// merged, so the result may have adjacent spans. With compensation terms in `a` the
/// counts are Kahan-summed, and `b`'s compensation (if any) is added too.
pub(super) fn add_buckets(
    schema: i32,
    threshold: f64,
    negate: bool,
    a: LayoutMut<'_>,
    b: Layout<'_>,
) {
    let LayoutMut {
        spans,
        buckets,
        mut comp,
    } = a;
    let sign = if negate { -1.0 } else { 1.0 };
    let b_comp = b.comp.unwrap_or(&[]);

    // Cursor into `a`: span `cur` starts at absolute index `cur_start` and at position
    // `cur_pos` of the counts; `prev_end` is one past the last index of span `cur - 1`.
    let mut cur = 0usize;
    let mut cur_start = spans.first().map_or(0, |s| i64::from(s.offset));
    let mut cur_pos = 0usize;
    let mut prev_end: Option<i64> = None;
    let mut below_threshold = true;

    for (n, (idx, value)) in indexed(b.spans, b.buckets).enumerate() {
        if below_threshold
            && is_exponential_schema(schema)
            && bucket_bound(idx as i32, schema, &[]) <= threshold
        {
            continue;
        }
        below_threshold = false;
        let value = value * sign;
        let cvalue = b_comp.get(n).copied().unwrap_or(0.0) * sign;

        while cur < spans.len() && idx >= cur_start + i64::from(spans[cur].length) {
            let end = cur_start + i64::from(spans[cur].length);
            prev_end = Some(end);
            cur_pos += spans[cur].length as usize;
            cur += 1;
            if let Some(next) = spans.get(cur) {
                cur_start = end + i64::from(next.offset);
            }
        }

        let pos = if cur < spans.len() && idx >= cur_start {
            // An existing bucket.
            let pos = cur_pos + (idx - cur_start) as usize;
            match comp.as_deref_mut() {
                Some(c) => {
                    let (mut s, mut k) = kahan_inc(value, buckets[pos], c[pos]);
                    if cvalue != 0.0 {
                        (s, k) = kahan_inc(cvalue, s, k);
                    }
                    buckets[pos] = s;
                    c[pos] = k;
                }
                None => buckets[pos] += value,
            }
            continue;
        } else if prev_end == Some(idx) {
            // Right after the previous span: extend it.
            spans[cur - 1].length += 1;
            if let Some(next) = spans.get_mut(cur) {
                next.offset -= 1;
            }
            prev_end = Some(idx + 1);
            cur_pos += 1;
            cur_pos - 1
        } else if cur < spans.len() && idx + 1 == cur_start {
            // Right before the current span: extend it downwards.
            spans[cur].offset -= 1;
            spans[cur].length += 1;
            cur_start = idx;
            cur_pos
        } else {
            // In a gap (or beyond the last span): a new span of one bucket.
            let offset = idx - prev_end.unwrap_or(0);
            if let Some(next) = spans.get_mut(cur) {
                next.offset = (cur_start - idx - 1) as i32;
            }
            spans.insert(
                cur,
                Span {
                    offset: offset as i32,
                    length: 1,
                },
            );
            cur_start = idx;
            cur_pos
        };
        buckets.insert(pos, value);
        if let Some(c) = comp.as_deref_mut() {
            c.insert(pos, cvalue);
        }
    }
}

/// Merges the buckets of `origin` schema into the wider buckets of `target` schema
/// (`target < origin`). Compensation terms, if present, are merged alongside with Kahan
/// summation. Fails on spans that do not match the buckets.
pub(super) fn reduce_resolution(
    side: Side,
    layout: Layout<'_>,
    origin: i32,
    target: i32,
) -> Result<OwnedLayout, HistogramError> {
    check_spans(layout.spans, layout.buckets.len(), side)?;
    let mut spans: Vec<Span> = Vec::new();
    let mut buckets: Vec<f64> = Vec::with_capacity(layout.buckets.len());
    let mut comp: Option<Vec<f64>> = layout
        .comp
        .map(|_| Vec::with_capacity(layout.buckets.len()));
    let mut last = 0i64;
    for (n, (idx, value)) in indexed(layout.spans, layout.buckets).enumerate() {
        let cvalue = layout.comp.and_then(|c| c.get(n).copied()).unwrap_or(0.0);
        let t = target_index(idx, origin, target);
        if !spans.is_empty() && t == last {
            let i = buckets.len() - 1;
            match comp.as_mut() {
                Some(c) => {
                    let (s, k) = kahan_inc(value, buckets[i], c[i]);
                    (buckets[i], c[i]) = kahan_inc(cvalue, s, k);
                }
                None => buckets[i] += value,
            }
            continue;
        }
        if spans.is_empty() {
            spans.push(Span {
                offset: t as i32,
                length: 1,
            });
        } else if t == last + 1 {
            if let Some(s) = spans.last_mut() {
                s.length += 1;
            }
        } else if t > last + 1 {
            spans.push(Span {
                offset: (t - last - 1) as i32,
                length: 1,
            });
        } else {
            // Only possible with a negative offset in the first span's successors,
            // which check_spans rejects.
            continue;
        }
        last = t;
        buckets.push(value);
        if let Some(c) = comp.as_mut() {
            c.push(cvalue);
        }
    }
    Ok(OwnedLayout {
        spans,
        buckets,
        comp,
    })
}

/// A run of buckets at consecutive indexes, starting at `start`.
#[derive(Debug)]
struct Run {
    start: i64,
    buckets: Vec<f64>,
    comp: Vec<f64>,
}

impl Run {
    fn end(&self) -> i64 {
        self.start + self.buckets.len() as i64
    }
}

/// Removes empty buckets (count and compensation both zero) at the ends of spans,
/// keeps runs of at most `max_empty` empty buckets inside a span and cuts out longer
/// ones, then merges spans separated by at most `max_empty` missing buckets (filling
/// the gap with empty buckets). Zero-length spans disappear and directly adjacent
/// spans merge. `max_empty == 0` leaves only populated buckets.
pub(super) fn compact(
    spans: &mut Vec<Span>,
    buckets: &mut Vec<f64>,
    mut comp: Option<&mut Vec<f64>>,
    max_empty: usize,
) {
    let max_empty = i64::try_from(max_empty).unwrap_or(i64::MAX);
    let comp_at = |c: &Option<&mut Vec<f64>>, i: usize| {
        c.as_ref().and_then(|c| c.get(i).copied()).unwrap_or(0.0)
    };

    // Maximal runs of adjacent buckets, whatever spans they came in.
    let mut runs: Vec<Run> = Vec::new();
    for (i, (idx, value)) in indexed(spans, buckets).enumerate() {
        let cvalue = comp_at(&comp, i);
        match runs.last_mut() {
            Some(run) if run.end() == idx => {
                run.buckets.push(value);
                run.comp.push(cvalue);
            }
            _ => runs.push(Run {
                start: idx,
                buckets: vec![value],
                comp: vec![cvalue],
            }),
        }
    }

    // Cut every run into segments without empty ends and without inner stretches of
    // more than `max_empty` empty buckets.
    let mut segments: Vec<Run> = Vec::new();
    for run in runs {
        let filled: Vec<usize> = (0..run.buckets.len())
            .filter(|&i| run.buckets[i] != 0.0 || run.comp[i] != 0.0)
            .collect();
        let mut from = None::<usize>;
        for (k, &i) in filled.iter().enumerate() {
            let first = *from.get_or_insert(i);
            let next = filled.get(k + 1).copied();
            if next.is_none_or(|j| (j - i - 1) as i64 > max_empty) {
                segments.push(Run {
                    start: run.start + first as i64,
                    buckets: run.buckets[first..=i].to_vec(),
                    comp: run.comp[first..=i].to_vec(),
                });
                from = None;
            }
        }
    }

    // Merge segments separated by small gaps.
    let mut merged: Vec<Run> = Vec::new();
    for seg in segments {
        match merged.last_mut() {
            Some(prev) if max_empty > 0 && (0..=max_empty).contains(&(seg.start - prev.end())) => {
                let gap = (seg.start - prev.end()) as usize;
                prev.buckets.extend(std::iter::repeat_n(0.0, gap));
                prev.comp.extend(std::iter::repeat_n(0.0, gap));
                prev.buckets.extend(seg.buckets);
                prev.comp.extend(seg.comp);
            }
            _ => merged.push(seg),
        }
    }

    spans.clear();
    buckets.clear();
    if let Some(c) = comp.as_deref_mut() {
        c.clear();
    }
    let mut prev_end = 0i64;
    for seg in merged {
        spans.push(Span {
            offset: (seg.start - prev_end) as i32,
            length: seg.buckets.len() as u32,
        });
        prev_end = seg.end();
        buckets.extend(seg.buckets);
        if let Some(c) = comp.as_deref_mut() {
            c.extend(seg.comp);
        }
    }
}

/// `(index, count)` of one side's buckets after merging them into `target` schema
/// (`target <= origin`); for an exponential target, leading buckets whose upper bound is
/// at most `start_above` are skipped.
pub(super) fn merged_counts(
    spans: &[Span],
    buckets: &[f64],
    origin: i32,
    target: i32,
    start_above: f64,
) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    for (idx, count) in indexed(spans, buckets) {
        let t = if origin == target {
            idx
        } else {
            target_index(idx, origin, target)
        };
        match out.last_mut() {
            Some((last, sum)) if *last == t && origin != target => *sum += count,
            _ => out.push((t, count)),
        }
    }
    if start_above != 0.0 && is_exponential_schema(target) {
        let skip = out
            .iter()
            .take_while(|(idx, _)| bucket_bound(*idx as i32, target, &[]) <= start_above)
            .count();
        out.drain(..skip);
    }
    out
}
