//! Native histograms as PromQL sees them: Prometheus's `FloatHistogram` (absolute
//! float bucket counts, sparse buckets described by spans), the bucket layout of the
//! exponential schemas (-4..=8) and of custom buckets (schema -53), and the arithmetic
//! PromQL needs on them.
//!
//! ```text
//!  remote_write / promqltest literal ──▶ FloatHistogram { schema, spans, buckets, .. }
//!      │ buckets() / all_buckets(): Bucket { lower, upper, count, .. } in value order
//!      ▼
//!  PromQL: add / sub / kahan_add / mul / div, compact, reduce_resolution, detect_reset,
//!          equals (ops.rs, compare.rs; Prometheus's semantics, bucket layouts included),
//!          histogram_quantile / histogram_fraction / stddev (in cairn-promql)
//!  promqltest: parse_test_expression / test_expression / approx_equals (text.rs)
//! ```

use std::sync::Arc;

mod bounds;
mod compare;
mod custom;
mod error;
mod layout;
mod ops;
#[cfg(test)]
mod suite;
mod text;

pub use crate::gofloat::{almost_equal, go_float};
pub use compare::spans_match;
pub use custom::custom_bucket_bounds_match;
pub use error::{HistogramError, Side};
pub use ops::AddOutcome;

/// The schema of histograms with custom bucket bounds (NHCB).
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;
/// The smallest exponential schema.
pub const EXPONENTIAL_SCHEMA_MIN: i32 = -4;
/// The largest exponential schema.
pub const EXPONENTIAL_SCHEMA_MAX: i32 = 8;

/// Whether `schema` is the custom-buckets schema.
pub fn is_custom_buckets_schema(schema: i32) -> bool {
    schema == CUSTOM_BUCKETS_SCHEMA
}

/// Whether `schema` is one of the exponential schemas (-4..=8).
pub fn is_exponential_schema(schema: i32) -> bool {
    (EXPONENTIAL_SCHEMA_MIN..=EXPONENTIAL_SCHEMA_MAX).contains(&schema)
}

/// A run of consecutive buckets: `offset` empty bucket indexes to skip (relative to the
/// end of the previous span, or to index 0 for the first span), then `length` buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Gap to the previous span (may be negative only for the first span).
    pub offset: i32,
    /// Number of consecutive buckets.
    pub length: u32,
}

/// What the producer knows about counter resets (Prometheus's `CounterResetHint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterResetHint {
    /// Nothing is known; compare with the previous histogram to find out.
    #[default]
    Unknown,
    /// A counter reset happened right before this histogram.
    CounterReset,
    /// No counter reset happened since the previous histogram.
    NotCounterReset,
    /// A gauge histogram: counter resets don't apply.
    Gauge,
}

/// A native histogram with float counts (Prometheus's `FloatHistogram`).
///
/// Bucket counts are absolute. For exponential schemas bucket `i` of the positive side
/// covers `(base^(i-1), base^i]` with `base = 2^(2^-schema)`; the negative side mirrors
/// it; observations with `|v| <= zero_threshold` go to the zero bucket. With
/// [`CUSTOM_BUCKETS_SCHEMA`] bucket `i` covers `(custom_values[i-1], custom_values[i]]`
/// (the first from -Inf, the one past the last bound up to +Inf) and only the positive
/// side is used.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    /// Counter reset information.
    pub counter_reset_hint: CounterResetHint,
    /// -4..=8 for exponential buckets, or [`CUSTOM_BUCKETS_SCHEMA`].
    pub schema: i32,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// Total number of observations.
    pub count: f64,
    /// Sum of observations.
    pub sum: f64,
    /// Spans of the positive buckets.
    pub positive_spans: Vec<Span>,
    /// Spans of the negative buckets.
    pub negative_spans: Vec<Span>,
    /// Absolute counts of the positive buckets, in span order.
    pub positive_buckets: Vec<f64>,
    /// Absolute counts of the negative buckets, in span order.
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of the custom buckets (strictly increasing; shared, never mutated).
    pub custom_values: Option<Arc<[f64]>>,
}

/// One bucket with its bounds and absolute count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Whether `lower` belongs to the bucket.
    pub lower_inclusive: bool,
    /// Whether `upper` belongs to the bucket.
    pub upper_inclusive: bool,
    /// Observations in the bucket.
    pub count: f64,
    /// The bucket's index within its schema and side (irrelevant for the zero bucket).
    pub index: i32,
}

impl FloatHistogram {
    /// Whether this histogram uses custom bucket bounds.
    pub fn uses_custom_buckets(&self) -> bool {
        is_custom_buckets_schema(self.schema)
    }

    /// The custom bounds (empty for exponential schemas).
    pub fn custom_bounds(&self) -> &[f64] {
        self.custom_values.as_deref().unwrap_or(&[])
    }

    /// The zero bucket `[-zero_threshold, zero_threshold]` with its count.
    pub fn zero_bucket(&self) -> Bucket {
        Bucket {
            lower: -self.zero_threshold,
            upper: self.zero_threshold,
            lower_inclusive: true,
            upper_inclusive: true,
            count: self.zero_count,
            index: 0,
        }
    }

    /// The buckets of one side in ascending index order (for the negative side that is
    /// descending value order), empty buckets included.
    pub fn buckets(&self, positive: bool) -> BucketIter<'_> {
        let (spans, counts) = if positive {
            (&self.positive_spans[..], &self.positive_buckets[..])
        } else {
            (&self.negative_spans[..], &self.negative_buckets[..])
        };
        BucketIter {
            schema: self.schema,
            custom: self.custom_bounds(),
            positive,
            spans,
            counts,
            span: 0,
            in_span: 0,
            next_count: 0,
            index: 0,
        }
    }

    /// Every bucket in ascending value order: negative buckets, the zero bucket (when it
    /// holds observations), positive buckets. Bounds inside the zero bucket are clipped
    /// to its threshold, as Prometheus does.
    pub fn all_buckets(&self) -> Vec<Bucket> {
        let zt = self.zero_threshold;
        let clip = |mut b: Bucket| {
            if b.upper < 0.0 && b.upper > -zt {
                b.upper = -zt;
            } else if b.lower > 0.0 && b.lower < zt {
                b.lower = zt;
            }
            b
        };
        let mut negative: Vec<Bucket> = self.buckets(false).map(clip).collect();
        negative.reverse();
        let mut out = negative;
        if self.zero_count > 0.0 {
            out.push(self.zero_bucket());
        }
        out.extend(self.buckets(true).map(clip));
        out
    }
}

/// Iterator over one side's buckets (see [`FloatHistogram::buckets`]).
#[derive(Debug, Clone)]
pub struct BucketIter<'a> {
    schema: i32,
    custom: &'a [f64],
    positive: bool,
    spans: &'a [Span],
    counts: &'a [f64],
    span: usize,
    in_span: u32,
    next_count: usize,
    index: i32,
}

impl Iterator for BucketIter<'_> {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        loop {
            let span = self.spans.get(self.span)?;
            if self.in_span == 0 {
                // The first bucket of a span: jump over the gap (from index 0 for the
                // first span, from one past the previous span's last bucket otherwise).
                self.index += span.offset;
            }
            if self.in_span < span.length {
                break;
            }
            self.span += 1;
            self.in_span = 0;
        }
        let count = *self.counts.get(self.next_count)?;
        let index = self.index;
        self.next_count += 1;
        self.in_span += 1;
        self.index += 1;
        Some(bucket_at(
            self.schema,
            self.custom,
            self.positive,
            index,
            count,
        ))
    }
}

/// The bucket with `index` on one side of a histogram with `schema`.
pub fn bucket_at(schema: i32, custom: &[f64], positive: bool, index: i32, count: f64) -> Bucket {
    let (upper, lower) = (
        bucket_bound(index, schema, custom),
        bucket_bound(index - 1, schema, custom),
    );
    let (lower, upper) = if positive {
        (lower, upper)
    } else {
        (-upper, -lower)
    };
    let (lower_inclusive, upper_inclusive) = if is_custom_buckets_schema(schema) {
        (index == 0, true)
    } else {
        (lower < 0.0, upper > 0.0)
    };
    Bucket {
        lower,
        upper,
        lower_inclusive,
        upper_inclusive,
        count,
        index,
    }
}

/// The upper bound of bucket `index` in `schema` (custom bounds for the custom schema).
pub fn bucket_bound(index: i32, schema: i32, custom: &[f64]) -> f64 {
    if is_custom_buckets_schema(schema) {
        let len = custom.len() as i32;
        return match index {
            i if i >= len => f64::INFINITY,
            i if i < 0 => f64::NEG_INFINITY,
            i => custom[i as usize],
        };
    }
    exponential_bound(index, schema)
}

/// The upper bound of bucket `index` in exponential `schema`: `2^(index * 2^-schema)`,
/// with the bucket below the ±Inf bucket ending at `f64::MAX` rather than +Inf.
fn exponential_bound(index: i32, schema: i32) -> f64 {
    if schema < 0 {
        let exp = i64::from(index) << -schema;
        if exp == 1024 {
            return f64::MAX;
        }
        return ldexp(1.0, exp);
    }
    let frac_index = index & ((1 << schema) - 1);
    let frac = match bounds::EXPONENTIAL_BOUNDS.get(schema as usize) {
        Some(table) => table[frac_index as usize],
        None => 0.5 * (f64::from(frac_index) / f64::from(1u32 << schema)).exp2(),
    };
    let exp = i64::from(index >> schema) + 1;
    if frac == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    ldexp(frac, exp)
}

/// `frac * 2^exp` without overflowing in the intermediate power.
fn ldexp(frac: f64, exp: i64) -> f64 {
    let exp = exp.clamp(-2200, 2200) as i32;
    if exp > 1000 {
        frac * 2f64.powi(1000) * 2f64.powi(exp - 1000)
    } else if exp < -1000 {
        frac * 2f64.powi(-1000) * 2f64.powi(exp + 1000)
    } else {
        frac * 2f64.powi(exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_bounds_follow_the_schema() {
        assert_eq!(bucket_bound(1, 0, &[]), 2.0);
        assert_eq!(bucket_bound(0, 0, &[]), 1.0);
        assert_eq!(bucket_bound(-1, 0, &[]), 0.5);
        assert!((bucket_bound(1, 1, &[]) - std::f64::consts::SQRT_2).abs() < 1e-15);
        assert_eq!(bucket_bound(1, -1, &[]), 4.0);
        assert_eq!(bucket_bound(1024, 0, &[]), f64::MAX);
        assert_eq!(bucket_bound(1025, 0, &[]), f64::INFINITY);
    }

    #[test]
    fn iterates_spans_in_value_order() {
        let h = FloatHistogram {
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 1.0,
            count: 6.0,
            positive_spans: vec![
                Span {
                    offset: 0,
                    length: 2,
                },
                Span {
                    offset: 1,
                    length: 1,
                },
            ],
            positive_buckets: vec![1.0, 2.0, 1.0],
            negative_spans: vec![Span {
                offset: 1,
                length: 1,
            }],
            negative_buckets: vec![1.0],
            ..Default::default()
        };
        let got: Vec<(f64, f64, f64)> = h
            .all_buckets()
            .iter()
            .map(|b| (b.lower, b.upper, b.count))
            .collect();
        assert_eq!(
            got,
            vec![
                (-2.0, -1.0, 1.0),
                (-0.001, 0.001, 1.0),
                (0.5, 1.0, 1.0),
                (1.0, 2.0, 2.0),
                (4.0, 8.0, 1.0),
            ]
        );
    }

    #[test]
    fn custom_buckets_run_from_minus_to_plus_infinity() {
        let h = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1.0, 2.0, 3.0],
            custom_values: Some(Arc::from(vec![1.0, 5.0])),
            ..Default::default()
        };
        let b: Vec<Bucket> = h.buckets(true).collect();
        assert_eq!(
            (b[0].lower, b[0].upper, b[0].lower_inclusive),
            (f64::NEG_INFINITY, 1.0, true)
        );
        assert_eq!((b[2].lower, b[2].upper), (5.0, f64::INFINITY));
    }
}
