//! Hand-written tests of the arithmetic and comparisons, complementing the ported Go
//! tables: layouts of uncompacted sums, Kahan precision, equality, validation.

use super::{assert_same, H, Z};
use crate::histogram::{
    almost_equal, spans_match, CounterResetHint, FloatHistogram, HistogramError, Side, Span,
    CUSTOM_BUCKETS_SCHEMA,
};
use crate::STALE_NAN;

fn spans(s: &[(i32, u32)]) -> Vec<Span> {
    s.iter()
        .map(|&(offset, length)| Span { offset, length })
        .collect()
}

fn parse(s: &str) -> FloatHistogram {
    FloatHistogram::parse_test_expression(s).expect("valid literal")
}

#[test]
fn add_extends_neighbouring_spans_without_merging_them() {
    let a = H {
        ps: &[(0, 1), (2, 1)],
        pb: &[1.0, 1.0],
        ..Z
    };
    // Indexes 1 and 2 fill the gap: both extend the first span, which then touches the
    // second without being merged with it.
    let mut h = a.build();
    h.add(
        &H {
            ps: &[(1, 2)],
            pb: &[2.0, 3.0],
            ..Z
        }
        .build(),
    )
    .unwrap();
    assert_eq!(h.positive_spans, spans(&[(0, 3), (0, 1)]));
    assert_eq!(h.positive_buckets, vec![1.0, 2.0, 3.0, 1.0]);
    // Index 2 alone extends the second span downwards.
    let mut h = a.build();
    h.add(
        &H {
            ps: &[(2, 1)],
            pb: &[5.0],
            ..Z
        }
        .build(),
    )
    .unwrap();
    assert_eq!(h.positive_spans, spans(&[(0, 1), (1, 2)]));
    assert_eq!(h.positive_buckets, vec![1.0, 5.0, 1.0]);
    // Far away buckets get spans of their own, before and after.
    let mut h = a.build();
    h.add(
        &H {
            ps: &[(-5, 1), (10, 1)],
            pb: &[7.0, 8.0],
            ..Z
        }
        .build(),
    )
    .unwrap();
    assert_eq!(h.positive_spans, spans(&[(-5, 1), (4, 1), (2, 1), (2, 1)]));
    assert_eq!(h.positive_buckets, vec![7.0, 1.0, 1.0, 8.0]);
    // Subtracting to zero keeps the (now empty) buckets until compacted.
    let mut h = a.build();
    h.sub(&a.build()).unwrap();
    assert_eq!(h.positive_buckets, vec![0.0, 0.0]);
    h.compact(0);
    assert!(h.positive_spans.is_empty() && h.positive_buckets.is_empty());
}

#[test]
fn add_reduces_to_the_lower_schema() {
    // From Prometheus's parser test "series with increment - with different schemas".
    let mut h = parse("{{buckets:[5] schema:0}}");
    let inc = parse("{{buckets:[1 2] schema:1}}");
    h.add(&inc).unwrap();
    assert_eq!((h.schema, h.positive_buckets.clone()), (0, vec![6.0, 2.0]));
    h.add(&inc).unwrap();
    assert_eq!(h.positive_buckets, vec![7.0, 4.0]);
    assert_eq!(h.positive_spans, spans(&[(0, 2)]));
    // The other way round, the receiver's resolution drops.
    let mut fine = inc.clone();
    fine.add(&parse("{{buckets:[5] schema:0}}")).unwrap();
    assert_eq!((fine.schema, fine.positive_buckets), (0, vec![6.0, 2.0]));
}

#[test]
fn add_widens_the_zero_bucket() {
    // Schema 0: bucket 0 is (0.5, 1], bucket 1 is (1, 2].
    let mut h = parse("{{z_bucket:1 z_bucket_w:0.001 count:6 buckets:[2 3] n_buckets:[1]}}");
    let wide = parse("{{z_bucket:4 z_bucket_w:1 count:4}}");
    h.add(&wide).unwrap();
    assert_eq!(h.zero_threshold, 1.0);
    // Own zero count, the buckets (0.5, 1] and [-1, -0.5], and the other's zero count.
    assert_eq!(h.zero_count, 1.0 + 2.0 + 1.0 + 4.0);
    assert_eq!(h.positive_spans, spans(&[(1, 1)]));
    assert_eq!(h.positive_buckets, vec![3.0]);
    assert!(h.negative_buckets.is_empty());
    assert_eq!(h.count, 10.0);
    // A threshold inside a populated bucket is raised to that bucket's upper bound.
    let mut h = parse("{{z_bucket_w:0.001 buckets:[2 3]}}");
    h.add(&parse("{{z_bucket_w:1.5}}")).unwrap();
    assert_eq!((h.zero_threshold, h.zero_count), (2.0, 5.0));
    assert!(h.positive_buckets.is_empty());
}

#[test]
fn custom_buckets_with_different_bounds_meet_on_common_bounds() {
    let mut a = parse("{{schema:-53 count:6 sum:10 custom_values:[1 2 4] buckets:[1 2 0 3]}}");
    let b = parse("{{schema:-53 count:10 sum:5 custom_values:[2 3 4 8] buckets:[1 2 3 0 4]}}");
    let outcome = a.add(&b).unwrap();
    assert!(outcome.nhcb_bounds_reconciled);
    assert!(!outcome.counter_reset_collision);
    assert_eq!(a.custom_bounds(), &[2.0, 4.0]);
    // (-Inf,2]: 1+2 + 1; (2,4]: 0 + 2+3; (4,+Inf]: 3 + 0+4.
    assert_eq!(a.positive_buckets, vec![4.0, 5.0, 7.0]);
    assert_eq!(a.positive_spans, spans(&[(0, 3)]));
    assert_eq!((a.count, a.sum), (16.0, 15.0));
    a.sub(&b).unwrap();
    // (2,4] cancels out and is dropped.
    assert_eq!(a.positive_buckets, vec![3.0, 3.0]);
    assert_eq!(a.positive_spans, spans(&[(0, 1), (1, 1)]));
    assert_eq!(a.validate(), Ok(()));
    // Exponential and custom buckets do not mix; nothing changes.
    let before = a.clone();
    assert_eq!(
        a.add(&parse("{{buckets:[1]}}")),
        Err(HistogramError::MixedExponentialCustom)
    );
    assert_same(&a, &before, "after error");
}

#[test]
fn counter_reset_hints_combine_like_prometheus() {
    use CounterResetHint::*;
    for (a, b, result, collision) in [
        (Unknown, Unknown, Unknown, false),
        (Gauge, CounterReset, Gauge, false),
        (NotCounterReset, Gauge, Gauge, false),
        (Unknown, NotCounterReset, Unknown, false),
        (CounterReset, Unknown, Unknown, false),
        (CounterReset, CounterReset, CounterReset, false),
        (CounterReset, NotCounterReset, Unknown, true),
        (NotCounterReset, CounterReset, Unknown, true),
    ] {
        let mut h = H { hint: a, ..Z }.build();
        let outcome = h.add(&H { hint: b, ..Z }.build()).unwrap();
        assert_eq!(
            (h.counter_reset_hint, outcome.counter_reset_collision),
            (result, collision),
            "{a:?} + {b:?}"
        );
    }
}

#[test]
fn kahan_add_keeps_what_plain_addition_loses() {
    let base = H {
        count: 1e16,
        sum: 1e16,
        ps: &[(0, 1)],
        pb: &[1e16],
        ..Z
    }
    .build();
    let one = H {
        count: 1.0,
        sum: 1.0,
        ps: &[(0, 2)],
        pb: &[1.0, 1.0],
        ..Z
    }
    .build();
    let mut plain = base.clone();
    let mut kahan = base.clone();
    let mut comp = None;
    for _ in 0..10 {
        plain.add(&one).unwrap();
        let (c, _) = kahan.kahan_add(&one, comp.take()).unwrap();
        comp = Some(c);
    }
    assert_eq!(plain.count, 1e16);
    assert_eq!(kahan.count, 1e16, "the compensation is still separate");
    kahan.kahan_finish(comp.as_ref()).unwrap();
    assert_eq!((kahan.count, kahan.sum), (1e16 + 10.0, 1e16 + 10.0));
    assert_eq!(kahan.positive_buckets, vec![1e16 + 10.0, 10.0]);
    // Finishing without a compensation changes nothing.
    let before = kahan.clone();
    kahan.kahan_finish(None).unwrap();
    assert_same(&kahan, &before, "no compensation");
}

#[test]
fn kahan_add_folds_a_foreign_compensation_in_first() {
    let mut h = parse("{{count:2 buckets:[1 1]}}");
    let stale = parse("{{count:0.5 buckets:[0.5]}}");
    let (comp, _) = h
        .kahan_add(&parse("{{count:1 buckets:[1]}}"), Some(stale))
        .unwrap();
    assert_eq!(comp.positive_buckets.len(), h.positive_buckets.len());
    h.kahan_finish(Some(&comp)).unwrap();
    assert_eq!(h.count, 3.5);
    assert_eq!(h.positive_buckets, vec![2.5, 1.0]);
}

#[test]
fn division_by_zero_drops_the_buckets() {
    let mut h = parse("{{count:4 sum:-2 z_bucket:0 buckets:[1 3] counter_reset_hint:not_reset}}");
    h.div(0.0);
    assert_eq!((h.count, h.sum), (f64::INFINITY, f64::NEG_INFINITY));
    assert!(h.zero_count.is_nan(), "0/0");
    assert!(h.positive_spans.is_empty() && h.positive_buckets.is_empty());
    assert_eq!(h.counter_reset_hint, CounterResetHint::NotCounterReset);
    let mut h = parse("{{count:4 buckets:[2]}}");
    h.div(-2.0);
    assert_eq!((h.count, h.positive_buckets[0]), (-2.0, -1.0));
    assert_eq!(h.counter_reset_hint, CounterResetHint::Gauge);
}

#[test]
fn resolution_changes_refuse_what_they_cannot_do() {
    let mut custom = parse("{{schema:-53 custom_values:[1] buckets:[1]}}");
    assert_eq!(
        custom.reduce_resolution(-1),
        Err(HistogramError::CustomBucketsResolution)
    );
    let mut h = parse("{{schema:1 buckets:[1 2 3 4] counter_reset_hint:gauge}}");
    assert_eq!(
        h.reduce_resolution(CUSTOM_BUCKETS_SCHEMA),
        Err(HistogramError::CustomBucketsResolution)
    );
    assert_eq!(
        h.reduce_resolution(2),
        Err(HistogramError::ResolutionNotReduced { from: 1, to: 2 })
    );
    // copy_to_schema forgets the hint when it merges buckets, keeps it otherwise.
    let copy = h.copy_to_schema(0);
    assert_eq!(
        (copy.schema, copy.counter_reset_hint),
        (0, CounterResetHint::Unknown)
    );
    assert_eq!(copy.positive_buckets, vec![1.0, 5.0, 4.0]);
    assert_eq!(copy.positive_spans, spans(&[(0, 3)]));
    assert_same(&h.copy_to_schema(1), &h, "same schema");
    assert_same(&h.copy_to_schema(3), &h, "higher schema");
    h.reduce_resolution(-1).unwrap();
    assert_eq!((h.schema, h.positive_buckets.clone()), (-1, vec![1.0, 9.0]));
}

#[test]
fn detect_reset_follows_hints_then_counts() {
    let prev = parse("{{count:10 buckets:[5 5]}}");
    let mut cur = parse("{{count:12 buckets:[6 6]}}");
    assert!(!cur.detect_reset(&prev));
    cur.counter_reset_hint = CounterResetHint::CounterReset;
    assert!(cur.detect_reset(&prev));
    let mut lower = parse("{{count:2 buckets:[1 1]}}");
    assert!(lower.detect_reset(&prev));
    lower.counter_reset_hint = CounterResetHint::NotCounterReset;
    assert!(!lower.detect_reset(&prev));
    // Gauges are treated as counters.
    lower.counter_reset_hint = CounterResetHint::Gauge;
    assert!(lower.detect_reset(&prev));
    // Finer schema or a smaller zero bucket can only come with a reset.
    assert!(parse("{{schema:1 count:20}}").detect_reset(&prev));
    assert!(parse("{{count:20}}").detect_reset(&parse("{{z_bucket_w:1 count:1}}")));
    // A coarser schema merges the previous buckets first: 5+5 <= 10.
    assert!(!parse("{{schema:-1 count:10 buckets:[10] offset:1}}")
        .detect_reset(&parse("{{count:10 buckets:[5 5] offset:1}}")));
    assert!(parse("{{schema:-1 count:10 buckets:[9] offset:1}}")
        .detect_reset(&parse("{{count:10 buckets:[5 5] offset:1}}")));
    // Switching between exponential and custom buckets is a reset.
    assert!(parse("{{schema:-53 count:20 custom_values:[1] buckets:[20]}}").detect_reset(&prev));
}

#[test]
fn equals_compares_bits() {
    let h1 = H {
        schema: 3,
        count: 2.2,
        sum: 9.7,
        zt: 0.1,
        zc: 1.1,
        ps: &[(0, 1)],
        pb: &[3.0],
        ns: &[(0, 1)],
        nb: &[4.0],
        ..Z
    }
    .build();
    assert!(h1.equals(&h1.clone()));
    let mut nan_count = h1.clone();
    nan_count.count = f64::NAN;
    assert!(!h1.equals(&nan_count) && !nan_count.equals(&h1));
    assert!(nan_count.equals(&nan_count.clone()));
    let mut stale = h1.clone();
    stale.sum = STALE_NAN;
    assert!(stale.equals(&stale.clone()));
    let mut nan_sum = h1.clone();
    nan_sum.sum = f64::NAN;
    assert!(!stale.equals(&nan_sum), "a staleness marker is not any NaN");
    let mut bucket_nan = h1.clone();
    bucket_nan.negative_buckets[0] = f64::NAN;
    assert!(!h1.equals(&bucket_nan) && bucket_nan.equals(&bucket_nan.clone()));
    // Custom bounds on an exponential histogram are ignored, the hint too.
    let mut ignored = h1.clone();
    ignored.custom_values = Some(vec![1.0, 2.0].into());
    ignored.counter_reset_hint = CounterResetHint::Gauge;
    assert!(h1.equals(&ignored));
    // Zero-length spans do not matter, the layout does.
    let mut zero_length = h1.clone();
    zero_length.positive_spans = spans(&[(0, 0), (0, 1), (3, 0)]);
    assert!(h1.equals(&zero_length));
    let mut moved = h1.clone();
    moved.positive_spans = spans(&[(1, 1)]);
    assert!(!h1.equals(&moved));

    let cb = parse("{{schema:-53 count:2.2 sum:9.7 custom_values:[1 2 3] buckets:[3]}}");
    assert!(cb.equals(&cb.clone()));
    let mut other_bounds = cb.clone();
    other_bounds.custom_values = Some(vec![1.0, 2.0, 3.0, 4.0].into());
    assert!(!cb.equals(&other_bounds));
    let mut with_zero = cb.clone();
    with_zero.zero_threshold = 0.1;
    with_zero.zero_count = 10.0;
    assert!(!cb.equals(&with_zero));
}

#[test]
fn approx_equals_is_the_promqltest_comparison() {
    let want = parse("{{schema:1 count:10 sum:NaN z_bucket:1 z_bucket_w:0.01 buckets:[1 2 3] counter_reset_hint:gauge}}");
    let mut got = want.clone();
    got.count = 10.000_001;
    got.positive_buckets[2] = 3.000_000_1;
    got.counter_reset_hint = CounterResetHint::Unknown;
    assert!(want.approx_equals(&got, 1e-6, false));
    assert!(
        !want.approx_equals(&got, 1e-6, true),
        "hint compared when asked"
    );
    got.count = 10.1;
    assert!(!want.approx_equals(&got, 1e-6, false));
    got.count = 10.0;
    got.zero_threshold = 0.010_000_000_1;
    assert!(
        !want.approx_equals(&got, 1e-6, false),
        "zero threshold is exact"
    );
    got.zero_threshold = 0.01;
    got.sum = STALE_NAN;
    assert!(
        !want.approx_equals(&got, 1e-6, false),
        "NaN is not a staleness marker"
    );
    got.sum = f64::NAN;
    got.positive_spans = spans(&[(0, 1), (0, 2)]);
    assert!(
        !want.approx_equals(&got, 1e-6, false),
        "spans are not merged"
    );
    got.positive_spans = spans(&[(0, 3), (7, 0)]);
    assert!(want.approx_equals(&got, 1e-6, false));
}

#[test]
fn span_matching_and_float_closeness() {
    assert!(spans_match(&[], &[]));
    assert!(spans_match(&spans(&[(1, 0), (2, 3)]), &spans(&[(3, 3)])));
    assert!(spans_match(&spans(&[(0, 2), (5, 0)]), &spans(&[(0, 2)])));
    assert!(!spans_match(&spans(&[(0, 2)]), &spans(&[(0, 1), (0, 1)])));
    assert!(!spans_match(&spans(&[(0, 2)]), &spans(&[(0, 2), (1, 1)])));
    assert!(almost_equal(1.0, 1.000_000_1, 1e-6));
    assert!(!almost_equal(1.0, 1.000_01, 1e-6));
    assert!(almost_equal(f64::NAN, -f64::NAN, 1e-6));
    assert!(almost_equal(STALE_NAN, STALE_NAN, 1e-6));
    assert!(!almost_equal(STALE_NAN, f64::NAN, 1e-6));
    assert!(almost_equal(0.0, 1e-320, 1e-6));
    assert!(!almost_equal(0.0, 1e-300, 1e-6));
    assert!(almost_equal(f64::INFINITY, f64::INFINITY, 1e-6));
}

#[test]
fn validate_reports_what_is_wrong() {
    let err = |s: &str| parse(s).validate().unwrap_err();
    assert_eq!(
        parse("{{schema:1 count:3 buckets:[1 2]}}").validate(),
        Ok(())
    );
    assert_eq!(
        err("{{schema:-10}}").to_string(),
        "histogram has an invalid schema, which must be between -4 and 8 for exponential buckets, or -53 for custom buckets, got schema -10"
    );
    assert_eq!(
        err("{{buckets:[1 -2]}}"),
        HistogramError::NegativeBucketCount {
            side: Side::Positive,
            bucket: 2,
            count: -2.0
        }
    );
    assert_eq!(
        err("{{n_buckets:[-1]}}").to_string(),
        "negative side: bucket number 1 has observation count of -1: histogram has a bucket whose observation count is negative"
    );
    assert_eq!(err("{{count:-1}}"), HistogramError::NegativeCount(-1.0));
    assert_eq!(
        err("{{z_bucket:-1}}"),
        HistogramError::NegativeZeroCount(-1.0)
    );
    assert_eq!(
        err("{{custom_values:[1]}}"),
        HistogramError::ExponentialWithCustomBounds
    );
    assert_eq!(
        err("{{schema:-53 custom_values:[1] z_bucket:1}}"),
        HistogramError::CustomBucketsZeroCount
    );
    assert_eq!(
        err("{{schema:-53 z_bucket_w:1}}"),
        HistogramError::CustomBucketsZeroThreshold
    );
    assert_eq!(
        err("{{schema:-53 n_buckets:[1]}}"),
        HistogramError::CustomBucketsNegativeSpans
    );
    assert_eq!(
        err("{{schema:-53 custom_values:[2 1]}}"),
        HistogramError::CustomBoundsNotIncreasing {
            previous: 2.0,
            current: 1.0
        }
    );
    assert_eq!(
        err("{{schema:-53 custom_values:[1 Inf]}}"),
        HistogramError::CustomBoundInfinite
    );
    assert_eq!(
        err("{{schema:-53 custom_values:[NaN]}}"),
        HistogramError::CustomBoundNaN
    );
    assert_eq!(
        err("{{schema:-53 custom_values:[1] buckets:[1 1 1]}}"),
        HistogramError::TooFewCustomBounds {
            bounds: 1,
            span_length: 3
        }
    );
    assert_eq!(
        err("{{schema:-53 custom_values:[1 2] buckets:[1] offset:-1}}"),
        HistogramError::NegativeSpanOffset {
            side: Side::Positive,
            span: 1,
            offset: -1
        }
    );
    let mut h = parse("{{buckets:[1 2]}}");
    h.positive_spans.push(Span {
        offset: -1,
        length: 1,
    });
    h.positive_buckets.push(1.0);
    assert_eq!(
        h.validate().unwrap_err().to_string(),
        "positive side: span number 2 with offset -1: histogram has a span whose offset is negative"
    );
    h.positive_spans[1].offset = 1;
    h.positive_buckets.push(1.0);
    assert_eq!(
        h.validate(),
        Err(HistogramError::SpansBucketsMismatch {
            side: Side::Positive,
            spans_need: 3,
            have: 4
        })
    );
}

#[test]
fn bucket_bounds_are_bit_identical_to_prometheus() {
    use crate::histogram::bucket_bound;
    // Values of Go's getBoundExponential (table entry times a power of two).
    // One ulp below SQRT_2, as in Prometheus's table.
    assert_eq!(bucket_bound(1, 1, &[]), 2.0 * 0.7071067811865475);
    assert!(bucket_bound(1, 1, &[]) < std::f64::consts::SQRT_2);
    assert_eq!(bucket_bound(-1, 2, &[]), 0.8408964152537144);
    assert_eq!(bucket_bound(255, 8, &[]), 2.0 * 0.9972960560854698);
    assert_eq!(bucket_bound(242, 8, &[]), 2.0 * 0.9628029718180622);
    assert_eq!(bucket_bound(-253, 8, &[]), 0.5040779490592088);
    assert_eq!(bucket_bound(-509, 8, &[]), 0.5040779490592088 / 2.0);
    assert_eq!(bucket_bound(1024 << 3, 3, &[]), f64::MAX);
    assert_eq!(bucket_bound(256, -2, &[]), f64::MAX);
}

#[test]
fn nan_zero_thresholds_do_not_hang() {
    let mut h = parse("{{z_bucket_w:NaN z_bucket:1 buckets:[1]}}");
    h.add(&parse("{{z_bucket_w:0.5 z_bucket:2}}")).unwrap();
    assert!(h.zero_threshold.is_nan());
    assert_eq!(h.zero_count, 3.0);
    assert!(parse("{{z_bucket_w:NaN}}").detect_reset(&parse("{{z_bucket_w:1}}")));
}
