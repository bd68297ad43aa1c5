//! Comparing histograms: counter reset detection, exact and approximate equality, and
//! validation.

use super::custom::{custom_bucket_bounds_match, detect_reset_mismatched};
use super::error::{HistogramError, Side};
use super::layout::merged_counts;
use super::{
    is_custom_buckets_schema, is_exponential_schema, CounterResetHint, FloatHistogram, Span,
};
use crate::gofloat::almost_equal;

impl FloatHistogram {
    /// Whether a counter reset happened between `previous` and `self` (Prometheus's
    /// `DetectReset`).
    ///
    /// The hints [`CounterResetHint::CounterReset`] and
    /// [`CounterResetHint::NotCounterReset`] answer directly; otherwise (unknown, and
    /// gauges treated as counters) it is a reset when the count went down, the schema
    /// got finer, the zero threshold got smaller or now cuts through a populated bucket
    /// of `previous`, the zero count went down, or any bucket count went down or a
    /// populated bucket disappeared (after merging `previous` into `self`'s schema and
    /// zero bucket). A switch between custom and exponential buckets is a reset;
    /// custom buckets with different bounds are compared on their common bounds.
    pub fn detect_reset(&self, previous: &FloatHistogram) -> bool {
        match self.counter_reset_hint {
            CounterResetHint::CounterReset => return true,
            CounterResetHint::NotCounterReset => return false,
            CounterResetHint::Unknown | CounterResetHint::Gauge => {}
        }
        if self.count < previous.count {
            return true;
        }
        if self.uses_custom_buckets() {
            if !previous.uses_custom_buckets() {
                return true;
            }
            if !custom_bucket_bounds_match(self.custom_bounds(), previous.custom_bounds()) {
                return detect_reset_mismatched(self, previous);
            }
        }
        if self.schema > previous.schema || self.zero_threshold < previous.zero_threshold {
            return true;
        }
        let (previous_zero, threshold, _) =
            previous.zero_count_for_larger_threshold(self.zero_threshold, None);
        if threshold != self.zero_threshold || self.zero_count < previous_zero {
            return true;
        }
        [true, false].into_iter().any(|positive| {
            let (spans, buckets) = self.side(positive);
            let current = merged_counts(
                spans,
                buckets,
                self.schema,
                self.schema,
                self.zero_threshold,
            );
            let (spans, buckets) = previous.side(positive);
            let before = merged_counts(
                spans,
                buckets,
                previous.schema,
                self.schema,
                self.zero_threshold,
            );
            bucket_decreased(&current, &before)
        })
    }

    /// Exact equality of the data (Prometheus's `Equals`): same schema and zero
    /// threshold, bit-identical counts, sum and buckets (so NaNs are equal exactly when
    /// their bits are, e.g. two staleness markers), the same bucket layout (zero-length
    /// spans aside) and, for custom buckets, the same bounds. The counter reset hint is
    /// not compared.
    pub fn equals(&self, other: &FloatHistogram) -> bool {
        self.same_data(other, |a, b| a.to_bits() == b.to_bits())
    }

    /// Approximate equality as the PromQL test framework checks results
    /// (`compareNativeHistogram`), with `self` the expected histogram: same schema,
    /// exactly equal zero threshold and bucket layout (zero-length spans aside), custom
    /// bounds equal for custom buckets, and count, sum, zero count and every bucket
    /// equal within relative `epsilon` (two NaNs are equal, a staleness marker only to
    /// another). The counter reset hint must match only when `compare_hint` is set (the
    /// expected literal spelled it out).
    pub fn approx_equals(&self, other: &FloatHistogram, epsilon: f64, compare_hint: bool) -> bool {
        self.same_data(other, |a, b| almost_equal(a, b, epsilon))
            && (!compare_hint || self.counter_reset_hint == other.counter_reset_hint)
    }

    /// Same schema, zero threshold, layout and custom bounds, and counts, sum and
    /// buckets that `same` calls equal: what [`equals`](Self::equals) and
    /// [`approx_equals`](Self::approx_equals) share.
    fn same_data(&self, other: &FloatHistogram, same: impl Fn(f64, f64) -> bool) -> bool {
        let same_buckets =
            |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(*x, *y));
        self.schema == other.schema
            && same(self.count, other.count)
            && same(self.sum, other.sum)
            && (!self.uses_custom_buckets()
                || custom_bucket_bounds_match(self.custom_bounds(), other.custom_bounds()))
            && self.zero_threshold == other.zero_threshold
            && same(self.zero_count, other.zero_count)
            && spans_match(&self.negative_spans, &other.negative_spans)
            && same_buckets(&self.negative_buckets, &other.negative_buckets)
            && spans_match(&self.positive_spans, &other.positive_spans)
            && same_buckets(&self.positive_buckets, &other.positive_buckets)
    }

    /// Checks the histogram's consistency as Prometheus's `Validate` does: a valid
    /// schema; spans matching the bucket counts (no negative offsets after the first
    /// span, or at all for custom buckets); no negative bucket, zero bucket or total
    /// count; custom bounds strictly increasing, finite and numerous enough for the
    /// spans, with no zero bucket and no negative side; no custom bounds on an
    /// exponential histogram. (The count is not checked against the buckets' sum.)
    pub fn validate(&self) -> Result<(), HistogramError> {
        if is_custom_buckets_schema(self.schema) {
            check_custom_bounds(
                self.custom_bounds(),
                &self.positive_spans,
                self.positive_buckets.len(),
            )?;
            if self.zero_count != 0.0 {
                return Err(HistogramError::CustomBucketsZeroCount);
            }
            if self.zero_threshold != 0.0 {
                return Err(HistogramError::CustomBucketsZeroThreshold);
            }
            if !self.negative_spans.is_empty() {
                return Err(HistogramError::CustomBucketsNegativeSpans);
            }
            if !self.negative_buckets.is_empty() {
                return Err(HistogramError::CustomBucketsNegativeBuckets);
            }
        } else if is_exponential_schema(self.schema) {
            self.check_layout()?;
            check_counts(&self.negative_buckets, Side::Negative)?;
            if self.zero_count < 0.0 {
                return Err(HistogramError::NegativeZeroCount(self.zero_count));
            }
            if self.custom_values.is_some() {
                return Err(HistogramError::ExponentialWithCustomBounds);
            }
        } else {
            return Err(HistogramError::InvalidSchema(self.schema));
        }
        if self.count < 0.0 {
            return Err(HistogramError::NegativeCount(self.count));
        }
        check_counts(&self.positive_buckets, Side::Positive)
    }

    fn side(&self, positive: bool) -> (&[Span], &[f64]) {
        if positive {
            (&self.positive_spans, &self.positive_buckets)
        } else {
            (&self.negative_spans, &self.negative_buckets)
        }
    }
}

/// Whether two span lists describe the same bucket layout. Zero-length spans only
/// contribute their offset to the next span (and may trail), but adjacent spans are
/// not merged: `[{0,2}]` does not match `[{0,1},{0,1}]`.
pub fn spans_match(a: &[Span], b: &[Span]) -> bool {
    /// The span at `*i` (which must exist), absorbing a run of zero-length spans into
    /// the following span.
    fn take(spans: &[Span], i: &mut usize) -> Span {
        let mut span = spans[*i];
        *i += 1;
        if span.length == 0 {
            while let Some(s) = spans.get(*i).filter(|s| s.length == 0) {
                span.offset += s.offset;
                *i += 1;
            }
            if let Some(s) = spans.get(*i) {
                span.offset += s.offset;
                span.length = s.length;
                *i += 1;
            }
        }
        span
    }
    let all_empty = |s: &[Span]| s.iter().all(|s| s.length == 0);
    let (mut i, mut j) = (0, 0);
    loop {
        if i >= a.len() {
            return all_empty(&b[j..]);
        }
        if j >= b.len() {
            return all_empty(&a[i..]);
        }
        let (x, y) = (take(a, &mut i), take(b, &mut j));
        if x.length == 0 && y.length == 0 {
            return true;
        }
        if x != y {
            return false;
        }
    }
}

/// Whether any bucket of `before` is missing from `current` while populated, or has a
/// larger count there. Both are `(index, count)` in ascending index order.
fn bucket_decreased(current: &[(i64, f64)], before: &[(i64, f64)]) -> bool {
    let mut cur = current.iter().peekable();
    for (k, &(index, count)) in before.iter().enumerate() {
        while cur.next_if(|(i, _)| *i < index).is_some() {}
        match cur.peek() {
            None => return before[k..].iter().any(|(_, c)| *c != 0.0),
            Some(&&(i, c)) if i == index => {
                if c < count {
                    return true;
                }
            }
            Some(_) => {
                if count != 0.0 {
                    return true;
                }
            }
        }
    }
    false
}

/// Checks that no count is negative.
fn check_counts(buckets: &[f64], side: Side) -> Result<(), HistogramError> {
    match buckets.iter().position(|&c| c < 0.0) {
        Some(i) => Err(HistogramError::NegativeBucketCount {
            side,
            bucket: i + 1,
            count: buckets[i],
        }),
        None => Ok(()),
    }
}

/// Checks custom bounds against each other and the spans.
fn check_custom_bounds(
    bounds: &[f64],
    spans: &[Span],
    buckets: usize,
) -> Result<(), HistogramError> {
    let mut previous = f64::NEG_INFINITY;
    for (i, &bound) in bounds.iter().enumerate() {
        if bound.is_nan() {
            return Err(HistogramError::CustomBoundNaN);
        }
        if i > 0 && bound <= previous {
            return Err(HistogramError::CustomBoundsNotIncreasing {
                previous,
                current: bound,
            });
        }
        previous = bound;
    }
    if previous == f64::INFINITY {
        return Err(HistogramError::CustomBoundInfinite);
    }
    let mut need = 0usize;
    let mut span_length = 0i64;
    for (n, span) in spans.iter().enumerate() {
        if span.offset < 0 {
            return Err(HistogramError::NegativeSpanOffset {
                side: Side::Positive,
                span: n + 1,
                offset: span.offset,
            });
        }
        need += span.length as usize;
        span_length += i64::from(span.length) + i64::from(span.offset);
    }
    if need != buckets {
        return Err(HistogramError::SpansBucketsMismatch {
            side: Side::Positive,
            spans_need: need,
            have: buckets,
        });
    }
    if (bounds.len() as i64) + 1 < span_length {
        return Err(HistogramError::TooFewCustomBounds {
            bounds: bounds.len(),
            span_length: span_length as usize,
        });
    }
    Ok(())
}
