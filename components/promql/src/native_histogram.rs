//! `histogram_quantile`, `histogram_fraction`, `histogram_stddev` and `histogram_stdvar`
//! on one native histogram, with the results of Prometheus 3 (`promql/quantile.go` and
//! `histogramVariance` in `promql/functions.go`), down to its floating-point quirks.
//!
//! How a value inside a bucket is estimated:
//!
//! ```text
//!  exponential bucket (a, b], a > 0   log-linear: log2 v moves linearly with the rank,
//!                                     i.e. observations are spread as if they filled a
//!                                     finer exponential histogram evenly
//!  negative exponential bucket        the same, mirrored at zero
//!  zero bucket [-zt, zt]              linear; [0, zt] if there are only positive
//!                                     buckets, [-zt, 0] if only negative ones
//!  custom bucket (a, b]               linear (as for classic histograms); the
//!                                     (-Inf, b] bucket counts as (0, b] when b > 0,
//!                                     and histogram_fraction starts any bucket
//!                                     straddling zero at 0 (it treats it as the zero
//!                                     bucket of a histogram without negative buckets)
//! ```
//!
//! The functions only compute; the evaluator owns labels, positions and the
//! quantile-out-of-range warning, and turns a returned [`NativeHistogramNote`] into an
//! annotation.

use cairn_model::histogram::{Bucket, FloatHistogram};

use crate::mathx::kahan_sum_inc;

/// An annotation raised while computing on a native histogram. All of them are
/// info-level in Prometheus: the result is still returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NativeHistogramNote {
    /// `histogram_quantile`: the rank lies above every bucket because the histogram
    /// observed NaNs (its sum is NaN), so the result is NaN.
    QuantileNaNResult,
    /// `histogram_quantile`: the histogram observed NaNs (its count exceeds the sum of
    /// its buckets); they rank above everything and pull the result upwards.
    QuantileNaNSkew,
    /// `histogram_fraction`: the histogram observed NaNs, which lie in no bucket, so
    /// even `histogram_fraction(-Inf, +Inf, ..)` is below 1.
    FractionNaNs,
}

impl NativeHistogramNote {
    /// Prometheus's text of the annotation for a histogram of `metric_name` (empty when
    /// the name is unknown or was dropped), without the position its API appends.
    pub(crate) fn message(self, metric_name: &str) -> String {
        let base = match self {
            Self::QuantileNaNResult => {
                "PromQL info: input to histogram_quantile has NaN observations, result is NaN"
            }
            Self::QuantileNaNSkew => {
                "PromQL info: input to histogram_quantile has NaN observations, result is skewed higher"
            }
            Self::FractionNaNs => {
                "PromQL info: input to histogram_fraction has NaN observations, which are excluded from all fractions"
            }
        };
        if metric_name.is_empty() {
            base.to_string()
        } else {
            format!("{base} for metric name {metric_name:?}")
        }
    }
}

/// What Go's bucket iterator leaves behind when it yields nothing: an empty bucket at
/// zero. Prometheus goes on computing with it, so the edge cases depend on it.
const NO_BUCKET: Bucket = Bucket {
    lower: 0.0,
    upper: 0.0,
    lower_inclusive: false,
    upper_inclusive: false,
    count: 0.0,
    index: 0,
};

/// Which side(s) of the zero bucket hold buckets decides where the zero bucket is
/// assumed to end: with only positive buckets nothing can be below zero, with only
/// negative buckets nothing above it. Prometheus looks at whether the bucket lists are
/// empty, not at their counts.
fn clip_zero_bucket(h: &FloatHistogram, b: &mut Bucket) {
    let (has_negative, has_positive) = (
        !h.negative_buckets.is_empty(),
        !h.positive_buckets.is_empty(),
    );
    if !has_negative && has_positive {
        b.lower = 0.0;
    } else if !has_positive && has_negative {
        b.upper = 0.0;
    }
}

/// The share of `b`'s width at or below `v`, for `b.lower < v < b.upper` with finite
/// bounds (Go's `Bucket.FractionBelow`). Exponential buckets have equal widths on a
/// log2 scale, so there the share is taken on that scale (mirrored for negative
/// buckets).
fn fraction_below(b: &Bucket, v: f64, linear: bool) -> f64 {
    if linear {
        return (v - b.lower) / (b.upper - b.lower);
    }
    let log_lower = b.lower.abs().log2();
    let log_upper = b.upper.abs().log2();
    let log_v = v.abs().log2();
    if v > 0.0 {
        (log_v - log_lower) / (log_upper - log_lower)
    } else {
        1.0 - (log_v - log_upper) / (log_lower - log_upper)
    }
}

/// `histogram_quantile(q, h)` for a native histogram.
///
/// The rank is counted from the nearer end (from the top for `q >= 0.5`), so that high
/// quantiles stay stable when `count` and the bucket total disagree slightly — except
/// when the sum is NaN: NaN observations count in `count` but sit in no bucket, so only
/// counting from the bottom puts them above everything. A rank beyond all buckets gives
/// NaN with [`NativeHistogramNote::QuantileNaNResult`] if NaNs were observed, otherwise
/// the upper bound of the last bucket looked at. For custom buckets the open-ended
/// buckets cannot be interpolated: the +Inf bucket yields its lower bound (the highest
/// finite bound) and the -Inf bucket its upper bound, or (0, upper] when that is
/// positive.
pub(crate) fn histogram_quantile(q: f64, h: &FloatHistogram) -> (f64, Option<NativeHistogramNote>) {
    if q < 0.0 {
        return (f64::NEG_INFINITY, None);
    }
    if q > 1.0 {
        return (f64::INFINITY, None);
    }
    if h.count == 0.0 || q.is_nan() {
        return (f64::NAN, None);
    }

    let has_nans = h.sum.is_nan();
    let from_bottom = has_nans || q < 0.5;
    let mut buckets = h.all_buckets();
    if !from_bottom {
        buckets.reverse();
    }
    let mut rest = buckets.into_iter();

    let mut rank = if from_bottom {
        q * h.count
    } else {
        (1.0 - q) * h.count
    };
    let mut count = 0.0;
    // The last bucket looked at (possibly an empty one if the rank is never reached).
    let mut bucket = NO_BUCKET;
    for b in rest.by_ref() {
        bucket = b;
        if b.count == 0.0 {
            continue;
        }
        count += b.count;
        if count >= rank {
            break;
        }
    }

    let custom = h.uses_custom_buckets();
    if custom {
        if bucket.lower == f64::NEG_INFINITY {
            if bucket.upper <= 0.0 {
                return (bucket.upper, None);
            }
            bucket.lower = 0.0;
        } else if bucket.upper == f64::INFINITY {
            return (bucket.lower, None);
        }
    } else if bucket.lower < 0.0 && bucket.upper > 0.0 {
        clip_zero_bucket(h, &mut bucket);
    }

    // Rounding can make the buckets add up to more than `count`.
    if count > h.count {
        count = h.count;
    }
    if count < rank {
        if has_nans {
            return (f64::NAN, Some(NativeHistogramNote::QuantileNaNResult));
        }
        // Buckets that add up to less than `count` without NaNs: a broken or imprecise
        // histogram. Prometheus falls back to the highest bound it reached.
        return (bucket.upper, None);
    }

    // From here on `rank` is the position inside `bucket`, counted from its lower end.
    if from_bottom {
        rank -= count - bucket.count;
    } else {
        rank = count - rank;
    }

    let mut note = None;
    if has_nans {
        // A NaN sum can also come from observing both -Inf and +Inf; only a count above
        // the bucket total proves NaN observations.
        //
        // Prometheus (up to at least v3.14) reuses its `bucket` variable in this loop,
        // so the interpolation below then happens in the last bucket of the histogram
        // rather than in the one holding the rank. Reproduced to give its results.
        for b in rest {
            bucket = b;
            count += b.count;
        }
        if count < h.count {
            note = Some(NativeHistogramNote::QuantileNaNSkew);
        }
    }

    let fraction = rank / bucket.count;
    let value = if custom || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
        bucket.lower + (bucket.upper - bucket.lower) * fraction
    } else {
        let log_lower = bucket.lower.abs().log2();
        let log_upper = bucket.upper.abs().log2();
        if bucket.lower > 0.0 {
            (log_lower + (log_upper - log_lower) * fraction).exp2()
        } else {
            -(log_upper + (log_lower - log_upper) * (1.0 - fraction)).exp2()
        }
    };
    (value, note)
}

/// `histogram_fraction(lower, upper, h)`: the estimated share of observations in
/// `(lower, upper]`, the inverse of [`histogram_quantile`] (it interpolates the same
/// way, so `histogram_fraction(-Inf, histogram_quantile(q, h), h) == q`).
///
/// A bound inside a bucket with an infinite bound (the custom -Inf and +Inf buckets)
/// takes none of that bucket's observations, as nothing can be interpolated there. The
/// zero-bucket clipping applies to every bucket straddling zero, custom ones included.
/// NaN observations are in `count` but in no bucket, so with a NaN sum the fraction is
/// taken of `count` and can stay below 1 ([`NativeHistogramNote::FractionNaNs`]).
pub(crate) fn histogram_fraction(
    lower: f64,
    upper: f64,
    h: &FloatHistogram,
) -> (f64, Option<NativeHistogramNote>) {
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return (f64::NAN, None);
    }
    if lower >= upper {
        return (0.0, None);
    }

    let custom = h.uses_custom_buckets();
    let mut rest = h.all_buckets().into_iter();
    let mut count = 0.0;
    // Observations in all buckets before the current one.
    let mut rank = 0.0;
    let mut lower_rank: Option<f64> = None;
    let mut upper_rank: Option<f64> = None;

    for mut b in rest.by_ref() {
        count += b.count;
        let zero_bucket = b.lower <= 0.0 && b.upper >= 0.0;
        if zero_bucket {
            clip_zero_bucket(h, &mut b);
        }
        // The rank of `v`, which lies strictly inside `b`.
        let rank_of = |v: f64| {
            if custom || zero_bucket {
                if b.lower == f64::NEG_INFINITY {
                    // (v + Inf) / Inf would be NaN; count the whole bucket as below `v`
                    // (it is the first one), i.e. take none of it into the range.
                    b.count
                } else {
                    rank + b.count * fraction_below(&b, v, true)
                }
            } else {
                rank + b.count * fraction_below(&b, v, false)
            }
        };

        if lower_rank.is_none() && b.lower >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && b.lower >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        if lower_rank.is_none() && b.lower < lower && b.upper > lower {
            lower_rank = Some(rank_of(lower));
        }
        if upper_rank.is_none() && b.lower < upper && b.upper > upper {
            upper_rank = Some(rank_of(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank += b.count;
    }

    let mut note = None;
    let count = if h.sum.is_nan() {
        let total = rest.fold(count, |total, b| total + b.count);
        if total < h.count {
            note = Some(NativeHistogramNote::FractionNaNs);
        }
        total
    } else {
        h.count
    };
    // A bound above every bucket (or a rank beyond the total) ranks at the total. A NaN
    // rank is kept, as in Prometheus.
    let clamp = |r: Option<f64>| match r {
        Some(r) if r > count => count,
        Some(r) => r,
        None => count,
    };
    ((clamp(upper_rank) - clamp(lower_rank)) / h.count, note)
}

/// `histogram_stdvar(h)`: the variance of the observations around `sum / count`, each
/// bucket's observations taken to sit at one representative value: the geometric mean
/// of the bounds for exponential buckets (their midpoint on the log scale the buckets
/// are built on), 0 for the zero bucket, the arithmetic mean for custom buckets. That
/// makes a custom ±Inf bucket with observations give an infinite variance, as in
/// Prometheus. Kahan summation as in Prometheus.
pub(crate) fn histogram_stdvar(h: &FloatHistogram) -> f64 {
    let mean = h.sum / h.count;
    let custom = h.uses_custom_buckets();
    let (mut variance, mut compensation) = (0.0, 0.0);
    for b in h.all_buckets() {
        if b.count == 0.0 {
            continue;
        }
        let value = if custom {
            (b.upper + b.lower) / 2.0
        } else if b.lower <= 0.0 && b.upper >= 0.0 {
            0.0
        } else {
            let geometric = (b.upper * b.lower).sqrt();
            if b.upper < 0.0 {
                -geometric
            } else {
                geometric
            }
        };
        let delta = value - mean;
        (variance, compensation) = kahan_sum_inc(b.count * delta * delta, variance, compensation);
    }
    (variance + compensation) / h.count
}

/// `histogram_stddev(h)`: the square root of [`histogram_stdvar`].
pub(crate) fn histogram_stddev(h: &FloatHistogram) -> f64 {
    histogram_stdvar(h).sqrt()
}

#[cfg(test)]
mod tests;
