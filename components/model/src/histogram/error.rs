//! What can go wrong in histogram arithmetic and validation.

use std::fmt;

use thiserror::Error;

/// One side of a histogram's buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The buckets of positive observations (and all custom buckets).
    Positive,
    /// The buckets of negative observations.
    Negative,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Positive => "positive",
            Side::Negative => "negative",
        })
    }
}

/// Why a histogram operation failed or a histogram is invalid.
///
/// The messages follow the wording of Prometheus's `model/histogram` errors.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum HistogramError {
    /// One operand uses exponential buckets, the other custom buckets.
    #[error(
        "cannot apply this operation on histograms with a mix of exponential and custom bucket schemas"
    )]
    MixedExponentialCustom,
    /// The schema is neither exponential (-4..=8) nor the custom-buckets schema.
    #[error(
        "histogram has an invalid schema, which must be between -4 and 8 for exponential buckets, or -53 for custom buckets, got schema {0}"
    )]
    InvalidSchema(i32),
    /// A span other than the first (any span, for custom buckets) has a negative offset.
    #[error(
        "{side} side: span number {span} with offset {offset}: histogram has a span whose offset is negative"
    )]
    NegativeSpanOffset {
        /// The side the span belongs to.
        side: Side,
        /// The span's position, counting from 1.
        span: usize,
        /// Its offset.
        offset: i32,
    },
    /// The spans describe a different number of buckets than there are.
    #[error(
        "{side} side: spans need {spans_need} buckets, have {have} buckets: histogram spans specify different number of buckets than provided"
    )]
    SpansBucketsMismatch {
        /// The side concerned.
        side: Side,
        /// The total length of the spans.
        spans_need: usize,
        /// The number of bucket counts.
        have: usize,
    },
    /// A bucket (or the zero bucket) has a negative count.
    #[error(
        "{side} side: bucket number {bucket} has observation count of {count}: histogram has a bucket whose observation count is negative"
    )]
    NegativeBucketCount {
        /// The side of the bucket.
        side: Side,
        /// The bucket's position among the side's counts, counting from 1.
        bucket: usize,
        /// Its count.
        count: f64,
    },
    /// The zero bucket has a negative count.
    #[error(
        "zero bucket has observation count of {0}: histogram has a bucket whose observation count is negative"
    )]
    NegativeZeroCount(f64),
    /// The total observation count is negative.
    #[error("observation count is {0}: histogram's observation count is negative")]
    NegativeCount(f64),
    /// A custom bucket bound is NaN.
    #[error("custom buckets: histogram custom bounds must not be NaN")]
    CustomBoundNaN,
    /// The custom bounds are not strictly increasing.
    #[error(
        "custom buckets: previous bound is {previous} and current is {current}: histogram custom bounds must be in strictly increasing order"
    )]
    CustomBoundsNotIncreasing {
        /// The earlier bound.
        previous: f64,
        /// The bound that is not larger than it.
        current: f64,
    },
    /// The last custom bound is +Inf (the +Inf bucket is implicit).
    #[error(
        "custom buckets: last +Inf bound must not be explicitly defined: histogram custom bounds must be finite"
    )]
    CustomBoundInfinite,
    /// The spans reach beyond the custom bounds (plus the implicit +Inf bucket).
    #[error(
        "custom buckets: only {bounds} custom bounds defined which is insufficient to cover total span length of {span_length}: histogram custom bounds are too few"
    )]
    TooFewCustomBounds {
        /// The number of custom bounds.
        bounds: usize,
        /// The total length of the spans including their offsets.
        span_length: usize,
    },
    /// A custom-buckets histogram has a zero count.
    #[error("custom buckets: must have zero count of 0")]
    CustomBucketsZeroCount,
    /// A custom-buckets histogram has a zero threshold.
    #[error("custom buckets: must have zero threshold of 0")]
    CustomBucketsZeroThreshold,
    /// A custom-buckets histogram has negative spans.
    #[error("custom buckets: must not have negative spans")]
    CustomBucketsNegativeSpans,
    /// A custom-buckets histogram has negative buckets.
    #[error("custom buckets: must not have negative buckets")]
    CustomBucketsNegativeBuckets,
    /// An exponential histogram carries custom bounds.
    #[error("histogram with exponential schema must not have custom bounds")]
    ExponentialWithCustomBounds,
    /// The resolution of a custom-buckets histogram cannot be changed, nor can an
    /// exponential histogram be converted to custom buckets.
    #[error("cannot reduce resolution to or from the custom buckets schema")]
    CustomBucketsResolution,
    /// The target schema is not lower than the current one.
    #[error("cannot reduce resolution from schema {from} to {to}")]
    ResolutionNotReduced {
        /// The histogram's schema.
        from: i32,
        /// The requested schema.
        to: i32,
    },
}
