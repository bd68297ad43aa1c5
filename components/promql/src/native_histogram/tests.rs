//! Cases worked out by hand and cases from Prometheus's `native_histograms.test` and
//! `histograms.test` (v3.14.0, `/work/shared/promql-testdata/upstream/`), the literals
//! translated by hand. The promqltest literal parser leaves `z_bucket_w` at 0 when it is
//! not given, and `buckets:[..] offset:o` is one span starting at index `o`.

use std::sync::Arc;

use cairn_model::histogram::{FloatHistogram, Span, CUSTOM_BUCKETS_SCHEMA};

use super::*;

/// A promqltest histogram literal `{{..}}`.
#[derive(Default)]
struct Lit {
    schema: i32,
    count: f64,
    sum: f64,
    z_bucket: f64,
    z_bucket_w: f64,
    offset: i32,
    buckets: Vec<f64>,
    n_offset: i32,
    n_buckets: Vec<f64>,
    custom_values: Vec<f64>,
}

impl Lit {
    fn build(self) -> FloatHistogram {
        let spans = |offset: i32, buckets: &[f64]| {
            if buckets.is_empty() {
                Vec::new()
            } else {
                vec![Span {
                    offset,
                    length: buckets.len() as u32,
                }]
            }
        };
        FloatHistogram {
            schema: self.schema,
            count: self.count,
            sum: self.sum,
            zero_count: self.z_bucket,
            zero_threshold: self.z_bucket_w,
            positive_spans: spans(self.offset, &self.buckets),
            negative_spans: spans(self.n_offset, &self.n_buckets),
            positive_buckets: self.buckets,
            negative_buckets: self.n_buckets,
            custom_values: (!self.custom_values.is_empty()).then(|| Arc::from(self.custom_values)),
            ..Default::default()
        }
    }
}

/// A histogram with custom bounds, as `load_with_nhcb` makes it from cumulative
/// classic buckets (`cumulative` ends with the +Inf bucket).
fn nhcb(bounds: &[f64], cumulative: &[f64], sum: f64) -> FloatHistogram {
    assert_eq!(bounds.len() + 1, cumulative.len());
    let mut prev = 0.0;
    let buckets = cumulative
        .iter()
        .map(|&c| {
            let b = c - prev;
            prev = c;
            b
        })
        .collect();
    Lit {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: *cumulative.last().unwrap(),
        sum,
        buckets,
        custom_values: bounds.to_vec(),
        ..Default::default()
    }
    .build()
}

#[track_caller]
fn assert_close_eps(got: f64, want: f64, eps: f64) {
    let ok = if want.is_nan() {
        got.is_nan()
    } else if want.is_infinite() || want == 0.0 {
        got == want
    } else {
        ((got - want) / want).abs() <= eps
    };
    assert!(ok, "got {got:?}, want {want:?}");
}

#[track_caller]
fn assert_close(got: f64, want: f64) {
    assert_close_eps(got, want, 1e-12);
}

#[track_caller]
fn quantile_is(q: f64, h: &FloatHistogram, want: f64) {
    let (got, note) = histogram_quantile(q, h);
    assert_eq!(note, None, "q={q}");
    assert_close(got, want);
}

#[track_caller]
fn fraction_is(lower: f64, upper: f64, h: &FloatHistogram, want: f64) {
    let (got, note) = histogram_fraction(lower, upper, h);
    assert_eq!(note, None, "({lower}, {upper})");
    assert_close(got, want);
}

const INF: f64 = f64::INFINITY;

// {{schema:0 sum:5 count:4 buckets:[1 2 1]}}: (0.5,1]:1 (1,2]:2 (2,4]:1
fn single_histogram() -> FloatHistogram {
    Lit {
        count: 4.0,
        sum: 5.0,
        buckets: vec![1.0, 2.0, 1.0],
        ..Default::default()
    }
    .build()
}

// {{schema:0 count:12 sum:100 z_bucket:2 z_bucket_w:0.001 buckets:[2 3 0 1 4]}}
fn positive_with_zero_bucket() -> FloatHistogram {
    Lit {
        count: 12.0,
        sum: 100.0,
        z_bucket: 2.0,
        z_bucket_w: 0.001,
        buckets: vec![2.0, 3.0, 0.0, 1.0, 4.0],
        ..Default::default()
    }
    .build()
}

// The same with n_buckets instead of buckets.
fn negative_with_zero_bucket() -> FloatHistogram {
    Lit {
        count: 12.0,
        sum: 100.0,
        z_bucket: 2.0,
        z_bucket_w: 0.001,
        n_buckets: vec![2.0, 3.0, 0.0, 1.0, 4.0],
        ..Default::default()
    }
    .build()
}

// {{schema:0 count:24 sum:100 z_bucket:4 z_bucket_w:0.001 buckets:[2 3 0 1 4]
//   n_buckets:[2 3 0 1 4]}}
fn both_sides_with_zero_bucket() -> FloatHistogram {
    Lit {
        count: 24.0,
        sum: 100.0,
        z_bucket: 4.0,
        z_bucket_w: 0.001,
        buckets: vec![2.0, 3.0, 0.0, 1.0, 4.0],
        n_buckets: vec![2.0, 3.0, 0.0, 1.0, 4.0],
        ..Default::default()
    }
    .build()
}

// ---- histogram_quantile ----

#[test]
fn quantile_special_arguments() {
    let h = single_histogram();
    assert_eq!(histogram_quantile(-0.1, &h), (f64::NEG_INFINITY, None));
    assert_eq!(histogram_quantile(1.01, &h), (INF, None));
    assert!(histogram_quantile(f64::NAN, &h).0.is_nan());
    let empty = FloatHistogram::default();
    assert!(histogram_quantile(0.5, &empty).0.is_nan());
    // The range checks come before the empty check.
    assert_eq!(histogram_quantile(-1.0, &empty).0, f64::NEG_INFINITY);
    assert_eq!(histogram_quantile(2.0, &empty).0, INF);
}

#[test]
fn quantile_interpolates_exponentially() {
    let h = single_histogram();
    // Half-way through (1,2] in rank is 2^0.5 on the log scale.
    quantile_is(0.5, &h, std::f64::consts::SQRT_2);
    // 0.125 → rank 0.5 in (0.5,1]: 2^(-1 + 0.5).
    quantile_is(0.125, &h, std::f64::consts::FRAC_1_SQRT_2);
    quantile_is(0.0, &h, 0.5);
    quantile_is(1.0, &h, 4.0);
}

#[test]
fn quantile_schemas_from_upstream() {
    // var_res_histogram: buckets:[0 5] and [0 0 5] for schemas -1, 0, 1.
    let cases = [
        (-1, 1, 2.0),
        (0, 1, std::f64::consts::SQRT_2),
        (1, 1, 1.189207),
        (-1, 2, 8.0),
        (0, 2, 2.82842712474619),
        (1, 2, 1.6817928305074292),
    ];
    for (schema, zeros, want) in cases {
        let mut buckets = vec![0.0; zeros];
        buckets.push(5.0);
        let positive = Lit {
            schema,
            count: 5.0,
            sum: 4.0,
            buckets: buckets.clone(),
            ..Default::default()
        }
        .build();
        assert_close_eps(histogram_quantile(0.5, &positive).0, want, 1e-6);
        let negative = Lit {
            schema,
            count: 5.0,
            sum: 4.0,
            n_buckets: buckets,
            ..Default::default()
        }
        .build();
        assert_close_eps(histogram_quantile(0.5, &negative).0, -want, 1e-6);
    }
}

#[test]
fn quantile_positive_buckets_and_zero_bucket_from_upstream() {
    let h = positive_with_zero_bucket();
    quantile_is(1.0, &h, 16.0);
    quantile_is(0.99, &h, 15.67072476139083);
    quantile_is(0.9, &h, 12.99603834169977);
    quantile_is(0.6, &h, 4.594793419988138);
    quantile_is(0.5, &h, 1.5874010519681994);
    // Linear in the zero bucket, taken as [0, 0.001] with only positive buckets.
    quantile_is(0.1, &h, 0.0006);
    quantile_is(0.0, &h, 0.0);
    quantile_is(0.08333333333333333, &h, 0.0005);
    quantile_is(0.6320802083934297, &h, 6.0);
}

#[test]
fn quantile_negative_buckets_and_zero_bucket_from_upstream() {
    let h = negative_with_zero_bucket();
    quantile_is(1.0, &h, 0.0);
    quantile_is(0.99, &h, -0.00006);
    quantile_is(0.9, &h, -0.0006);
    quantile_is(0.5, &h, -1.5874010519681996);
    quantile_is(0.1, &h, -12.996038341699768);
    quantile_is(0.0, &h, -16.0);
    quantile_is(0.9166666666666666, &h, -0.0005);
    quantile_is(0.36791979160657035, &h, -6.0);
}

#[test]
fn quantile_both_sides_from_upstream() {
    let h = both_sides_with_zero_bucket();
    quantile_is(1.0, &h, 16.0);
    quantile_is(0.99, &h, 15.34822590920423);
    quantile_is(0.9, &h, 10.556063286183155);
    quantile_is(0.7, &h, 1.2030250360821164);
    // The zero bucket is the full [-0.001, 0.001] here.
    quantile_is(0.55, &h, 0.0006);
    quantile_is(0.5, &h, 0.0);
    quantile_is(0.45, &h, -0.0006);
    quantile_is(0.3, &h, -1.2030250360821169);
    quantile_is(0.1, &h, -10.556063286183155);
    quantile_is(0.01, &h, -15.34822590920423);
    quantile_is(0.0, &h, -16.0);
    quantile_is(0.5416666666666666, &h, 0.0005);
    quantile_is(0.4583333333333333, &h, -0.0005);
}

#[test]
fn quantile_in_empty_buckets_takes_the_next_populated_bound() {
    // balanced_histogram: buckets:[1 2 1] n_buckets:[1 2 1], no zero bucket. The
    // median is between -0.5 and 0.5; counted from the top it is the lower bound of
    // (0.5, 1].
    let h = Lit {
        count: 8.0,
        sum: 0.0,
        buckets: vec![1.0, 2.0, 1.0],
        n_buckets: vec![1.0, 2.0, 1.0],
        ..Default::default()
    }
    .build();
    quantile_is(0.5, &h, 0.5);
    // {{schema:0 count:10 sum:50 buckets:[1 2 3 4]}}
    let h = Lit {
        count: 10.0,
        sum: 50.0,
        buckets: vec![1.0, 2.0, 3.0, 4.0],
        ..Default::default()
    }
    .build();
    quantile_is(0.5, &h, 3.1748021039363987);
}

#[test]
fn quantile_single_zero_bucket() {
    // {{schema:0 z_bucket:1 z_bucket_w:0.5 sum:0.25 count:1}}: no other buckets, so the
    // zero bucket stays [-0.5, 0.5].
    let h = Lit {
        count: 1.0,
        sum: 0.25,
        z_bucket: 1.0,
        z_bucket_w: 0.5,
        ..Default::default()
    }
    .build();
    quantile_is(0.5, &h, 0.0);
    quantile_is(0.25, &h, -0.25);
    quantile_is(1.0, &h, 0.5);
}

#[test]
fn quantile_clips_buckets_at_the_zero_threshold() {
    // Bucket (0.5, 1] overlaps the zero bucket [-0.75, 0.75] and becomes (0.75, 1].
    let h = Lit {
        count: 3.0,
        sum: 2.0,
        z_bucket: 1.0,
        z_bucket_w: 0.75,
        buckets: vec![2.0],
        ..Default::default()
    }
    .build();
    // Rank 2 of 3, counted from the top: 1 observation into (0.75, 1] out of 2.
    quantile_is(2.0 / 3.0, &h, (0.75f64.log2() * 0.5).exp2());
    quantile_is(0.0, &h, 0.0);
}

#[test]
fn quantile_when_count_exceeds_the_buckets() {
    // count:10 but the buckets hold only 4 (no NaN sum, so no annotation).
    let h = Lit {
        count: 10.0,
        sum: 5.0,
        buckets: vec![1.0, 2.0, 1.0],
        ..Default::default()
    }
    .build();
    // From the bottom, rank 4.5 is beyond all buckets: the highest bound reached.
    quantile_is(0.45, &h, 4.0);
    // Rank 3 is the top of (1, 2].
    quantile_is(0.3, &h, 2.0);
    // From the top, rank 1 is the bottom of (2, 4].
    quantile_is(0.9, &h, 2.0);
}

#[test]
fn quantile_when_buckets_exceed_count() {
    // count:2 with 3 observations in (0.5, 1]: the running count is capped at `count`
    // before the rank inside the bucket is taken, from either end. From the top, rank
    // 0.5 leaves 2 - 0.5 = 1.5 of 3 below it; from the bottom, rank 0.5 becomes
    // 0.5 - (2 - 3) = 1.5 of 3 as well: half-way in on the log scale either way.
    let h = Lit {
        count: 2.0,
        sum: 2.0,
        buckets: vec![3.0],
        ..Default::default()
    }
    .build();
    quantile_is(0.75, &h, std::f64::consts::FRAC_1_SQRT_2);
    quantile_is(0.25, &h, std::f64::consts::FRAC_1_SQRT_2);
}

#[test]
fn quantile_without_buckets_but_with_count() {
    // No bucket to interpolate in: beyond everything gives the empty bucket's bound 0,
    // rank 0 gives 0/0.
    let h = Lit {
        count: 3.0,
        sum: 1.0,
        ..Default::default()
    }
    .build();
    quantile_is(0.5, &h, 0.0);
    assert!(histogram_quantile(1.0, &h).0.is_nan());
}

#[test]
fn quantile_with_nan_observations_from_upstream() {
    // {{schema:0 count:3 sum:NaN}}
    let all_nan = Lit {
        count: 3.0,
        sum: f64::NAN,
        ..Default::default()
    }
    .build();
    // {{schema:0 count:15 sum:NaN buckets:[12]}}
    let some_nan = Lit {
        count: 15.0,
        sum: f64::NAN,
        buckets: vec![12.0],
        ..Default::default()
    }
    .build();
    for q in [1.0, 0.81, 0.8, 0.4] {
        let (v, note) = histogram_quantile(q, &all_nan);
        assert!(v.is_nan());
        assert_eq!(note, Some(NativeHistogramNote::QuantileNaNResult));
    }
    for q in [1.0, 0.81] {
        let (v, note) = histogram_quantile(q, &some_nan);
        assert!(v.is_nan());
        assert_eq!(note, Some(NativeHistogramNote::QuantileNaNResult));
    }
    let skewed = Some(NativeHistogramNote::QuantileNaNSkew);
    let (v, note) = histogram_quantile(0.8, &some_nan);
    assert_close(v, 1.0);
    assert_eq!(note, skewed);
    let (v, note) = histogram_quantile(0.4, &some_nan);
    assert_close(v, 0.7071067811865475);
    assert_eq!(note, skewed);
}

#[test]
fn quantile_with_nans_interpolates_in_the_last_bucket_like_prometheus() {
    // {{schema:0 count:15 sum:NaN buckets:[6 6]}}, q=0.4: rank 6 is the top of
    // (0.5, 1], but Prometheus interpolates the in-bucket rank 6 of 6 in the last
    // bucket (1, 2] it looked at while totalling the buckets, giving 2.
    let h = Lit {
        count: 15.0,
        sum: f64::NAN,
        buckets: vec![6.0, 6.0],
        ..Default::default()
    }
    .build();
    let (v, note) = histogram_quantile(0.4, &h);
    assert_close(v, 2.0);
    assert_eq!(note, Some(NativeHistogramNote::QuantileNaNSkew));
    // A NaN sum without extra count (both infinities observed) raises nothing, but
    // still interpolates in the last bucket: rank 3 of 6, found in (0.5, 1], is placed
    // half-way into (1, 2].
    let h = Lit {
        count: 12.0,
        sum: f64::NAN,
        buckets: vec![6.0, 6.0],
        ..Default::default()
    }
    .build();
    let (v, note) = histogram_quantile(0.25, &h);
    assert_close(v, std::f64::consts::SQRT_2);
    assert_eq!(note, None);
}

#[test]
fn quantile_custom_buckets_from_upstream() {
    // {{schema:-53 sum:5 count:4 custom_values:[5 10] buckets:[1 2 1]}}
    let h = Lit {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: 4.0,
        sum: 5.0,
        buckets: vec![1.0, 2.0, 1.0],
        custom_values: vec![5.0, 10.0],
        ..Default::default()
    }
    .build();
    quantile_is(0.5, &h, 7.5);
    // The +Inf bucket gives the highest finite bound.
    quantile_is(0.9, &h, 10.0);
    // The first bucket counts as (0, 5].
    quantile_is(0.125, &h, 2.5);

    // testhistogram at 50m (load_with_nhcb).
    let positive = nhcb(&[0.1, 0.2, 1.0], &[50.0, 70.0, 110.0, 120.0], 0.0);
    let negative = nhcb(&[-0.2, -0.1, 0.3], &[10.0, 20.0, 20.0, 30.0], 0.0);
    for (q, want_positive, want_negative) in [
        (0.0, 0.0, -0.2),
        (1.0, 1.0, 0.3),
        (0.2, 0.048, -0.2),
        (0.5, 0.15, -0.15),
        (0.8, 0.72, 0.3),
    ] {
        quantile_is(q, &positive, want_positive);
        quantile_is(q, &negative, want_negative);
    }

    // testhistogram3 at 50m.
    let positive = nhcb(
        &[0.0, 0.1, 0.2, 1.0],
        &[0.0, 50.0, 70.0, 110.0, 110.0],
        330.0,
    );
    let negative = nhcb(
        &[-0.25, -0.2, -0.1, 0.3],
        &[0.0, 10.0, 20.0, 20.0, 20.0],
        80.0,
    );
    for (q, want_positive, want_negative) in [
        (0.0, 0.0, -0.25),
        (0.25, 0.055, -0.225),
        (0.5, 0.125, -0.2),
        (0.75, 0.45, -0.15),
        (1.0, 1.0, -0.1),
    ] {
        quantile_is(q, &positive, want_positive);
        quantile_is(q, &negative, want_negative);
    }
}

// ---- histogram_fraction ----

#[test]
fn fraction_special_arguments() {
    let h = single_histogram();
    assert!(histogram_fraction(f64::NAN, 1.0, &h).0.is_nan());
    assert!(histogram_fraction(0.0, f64::NAN, &h).0.is_nan());
    assert_eq!(histogram_fraction(42.0, 3.0, &h), (0.0, None));
    assert_eq!(histogram_fraction(2.0, 2.0, &h), (0.0, None));
    let empty = FloatHistogram::default();
    assert!(histogram_fraction(f64::NEG_INFINITY, INF, &empty)
        .0
        .is_nan());
    let empty_custom = Lit {
        schema: CUSTOM_BUCKETS_SCHEMA,
        custom_values: vec![-2.0, 3.0],
        ..Default::default()
    }
    .build();
    assert!(histogram_fraction(0.0, 8.0, &empty_custom).0.is_nan());
}

#[test]
fn fraction_exponential_buckets() {
    let h = single_histogram();
    fraction_is(1.0, 2.0, &h, 0.5);
    fraction_is(0.0, 8.0, &h, 1.0);
    // The inverse of the quantile: up to sqrt(2) is half of (1,2] on the log scale.
    fraction_is(f64::NEG_INFINITY, std::f64::consts::SQRT_2, &h, 0.5);
    // {{schema:-1 sum:4 count:5 offset:1 buckets:[5]}}
    let low_res = Lit {
        schema: -1,
        count: 5.0,
        sum: 8.0,
        offset: 1,
        buckets: vec![5.0],
        ..Default::default()
    }
    .build();
    fraction_is(1.0, 4.0, &low_res, 1.0);
    fraction_is(2.0, 4.0, &low_res, 0.5);
}

#[test]
fn fraction_positive_buckets_and_zero_bucket_from_upstream() {
    let h = positive_with_zero_bucket();
    for (lower, upper, want) in [
        (0.0, INF, 1.0),
        (f64::NEG_INFINITY, 0.0, 0.0),
        (-0.001, 0.0, 0.0),
        (0.0, 0.001, 0.16666666666666666),
        (0.001, INF, 0.8333333333333334),
        (0.0, 0.0005, 0.08333333333333333),
        (f64::NEG_INFINITY, -0.001, 0.0),
        (1.0, 2.0, 0.25),
        (0.0, 1.5, 0.4795739585136224),
        (1.5, 2.0, 0.10375937481971091),
        (1.0, 8.0, 0.3333333333333333),
        (0.0, 6.0, 0.6320802083934297),
        (1.0, 6.0, 0.29874687506009634),
        (1.5, 6.0, 0.15250624987980724),
        (-6.0, -1.5, 0.0),
        (f64::NEG_INFINITY, INF, 1.0),
    ] {
        fraction_is(lower, upper, &h, want);
    }
}

#[test]
fn fraction_negative_buckets_and_zero_bucket_from_upstream() {
    let h = negative_with_zero_bucket();
    for (lower, upper, want) in [
        (0.0, INF, 0.0),
        (f64::NEG_INFINITY, 0.0, 1.0),
        (-0.001, 0.0, 0.16666666666666666),
        (0.0, 0.001, 0.0),
        (-0.0005, 0.0, 0.08333333333333333),
        (f64::NEG_INFINITY, -0.0005, 0.9166666666666666),
        (f64::NEG_INFINITY, -0.001, 0.8333333333333334),
        (1.0, 2.0, 0.0),
        (-2.0, -1.0, 0.25),
        (-2.0, -1.5, 0.10375937481971091),
        (-8.0, -1.0, 0.3333333333333333),
        (f64::NEG_INFINITY, -6.0, 0.36791979160657035),
        (-6.0, -1.0, 0.29874687506009634),
        (-6.0, -1.5, 0.15250624987980724),
        (f64::NEG_INFINITY, INF, 1.0),
    ] {
        fraction_is(lower, upper, &h, want);
    }
}

#[test]
fn fraction_both_sides_from_upstream() {
    let h = both_sides_with_zero_bucket();
    for (lower, upper, want) in [
        (0.0, INF, 0.5),
        (f64::NEG_INFINITY, 0.0, 0.5),
        (-0.001, 0.0, 0.08333333333333333),
        (0.0, 0.001, 0.08333333333333333),
        (-0.0005, 0.0005, 0.08333333333333333),
        (f64::NEG_INFINITY, 0.0005, 0.5416666666666666),
        (f64::NEG_INFINITY, -0.0005, 0.4583333333333333),
        (0.001, INF, 0.4166666666666667),
        (1.5, 2.0, 0.051879687409855414),
        (1.0, 6.0, 0.14937343753004825),
        (-2.0, -1.5, 0.051879687409855456),
        (-6.0, -1.0, 0.14937343753004817),
        (-6.0, -1.5, 0.07625312493990362),
        (f64::NEG_INFINITY, INF, 1.0),
    ] {
        fraction_is(lower, upper, &h, want);
    }
}

#[test]
fn fraction_custom_buckets_from_upstream() {
    let h = Lit {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: 4.0,
        sum: 5.0,
        buckets: vec![1.0, 2.0, 1.0],
        custom_values: vec![5.0, 10.0],
        ..Default::default()
    }
    .build();
    fraction_is(5.0, 10.0, &h, 0.5);

    let cumulative = [1.0, 3.0, 6.0, 100.0];
    let positive = nhcb(&[1.0, 2.0, 3.0], &cumulative, 0.0);
    // The first bucket (-Inf, 1] counts as [0, 1].
    fraction_is(0.0, 1.5, &positive, 0.02);
    fraction_is(0.5, 2.0, &positive, 0.025);
    fraction_is(2.0, 5.0, &positive, 0.03);
    fraction_is(4.0, 5.0, &positive, 0.0);
    fraction_is(400.0, INF, &positive, 0.94);
    fraction_is(1.0, 3.0, &positive, 0.05);
    fraction_is(f64::NEG_INFINITY, INF, &positive, 1.0);
    fraction_is(-10.0, -5.0, &positive, 0.0);

    let negative = nhcb(&[-3.0, -2.0, -1.0], &[10.0, 12.0, 15.0, 100.0], 0.0);
    // Nothing of (-Inf, -3] is taken in.
    fraction_is(-4.0, -2.0, &negative, 0.02);
    fraction_is(f64::NEG_INFINITY, -1.5, &negative, 0.135);
    fraction_is(0.0, 1.0, &negative, 0.0);

    let crossing = nhcb(
        &[-2.0, -1.0, 0.0, 1.0],
        &[5.0, 10.0, 15.0, 20.0, 100.0],
        0.0,
    );
    fraction_is(-1.0, 1.0, &crossing, 0.1);

    let fractional = nhcb(&[0.5, 1.0], &[2.5, 7.5, 100.0], 0.0);
    fraction_is(0.1, 0.75, &fractional, 0.045);

    let single = nhcb(&[], &[100.0], 0.0);
    fraction_is(0.0, 1.0, &single, 0.0);

    // testhistogram2 and testhistogram3 at 50m.
    let h2 = nhcb(&[0.0, 2.0, 4.0, 6.0], &[0.0, 10.0, 20.0, 30.0, 30.0], 0.0);
    fraction_is(0.0, 4.0, &h2, 0.6666666666666666);
    fraction_is(0.0, 6.0, &h2, 1.0);
    fraction_is(0.0, 3.5, &h2, 0.5833333333333334);
    let h3 = nhcb(
        &[0.0, 0.1, 0.2, 1.0],
        &[0.0, 50.0, 70.0, 110.0, 110.0],
        330.0,
    );
    fraction_is(0.0, 0.2, &h3, 0.6363636363636364);
    let h3n = nhcb(
        &[-0.25, -0.2, -0.1, 0.3],
        &[0.0, 10.0, 20.0, 20.0, 20.0],
        80.0,
    );
    fraction_is(0.0, 0.2, &h3n, 0.0);
}

#[test]
fn fraction_with_nan_observations_from_upstream() {
    let note = Some(NativeHistogramNote::FractionNaNs);
    let all_nan = Lit {
        count: 3.0,
        sum: f64::NAN,
        ..Default::default()
    }
    .build();
    let some_nan = Lit {
        count: 15.0,
        sum: f64::NAN,
        buckets: vec![12.0],
        ..Default::default()
    }
    .build();
    let upper = 0.7071067811865475;
    assert_eq!(
        histogram_fraction(f64::NEG_INFINITY, upper, &all_nan),
        (0.0, note)
    );
    assert_eq!(
        histogram_fraction(f64::NEG_INFINITY, INF, &all_nan),
        (0.0, note)
    );
    let (v, n) = histogram_fraction(f64::NEG_INFINITY, upper, &some_nan);
    assert_close(v, 0.4);
    assert_eq!(n, note);
    let (v, n) = histogram_fraction(f64::NEG_INFINITY, INF, &some_nan);
    assert_close(v, 0.8);
    assert_eq!(n, note);
}

// ---- histogram_stddev / histogram_stdvar ----

#[track_caller]
fn spread_is(h: &FloatHistogram, stddev: f64, stdvar: f64) {
    assert_close_eps(histogram_stddev(h), stddev, 1e-11);
    assert_close_eps(histogram_stdvar(h), stdvar, 1e-11);
}

#[test]
fn stddev_by_hand() {
    // 2 observations in (1, 2] (at sqrt 2) and 2 in (4, 8] (at sqrt 32 = 4 sqrt 2),
    // mean 2.5 sqrt 2: deviations of 1.5 sqrt 2, variance 4.5.
    let h = Lit {
        count: 4.0,
        sum: 10.0 * std::f64::consts::SQRT_2,
        buckets: vec![2.0, 0.0, 2.0],
        offset: 1,
        ..Default::default()
    }
    .build();
    spread_is(&h, 4.5f64.sqrt(), 4.5);
    // Zero-bucket observations sit at 0, negative ones at minus the geometric mean:
    // values 0 and -sqrt 2 ((-2, -1]), mean -sqrt 2 / 2, variance 0.5.
    let h = Lit {
        count: 2.0,
        sum: -std::f64::consts::SQRT_2,
        z_bucket: 1.0,
        z_bucket_w: 0.001,
        n_offset: 1,
        n_buckets: vec![1.0],
        ..Default::default()
    }
    .build();
    spread_is(&h, 0.5f64.sqrt(), 0.5);
}

#[test]
fn stddev_from_upstream() {
    // {{schema:2 count:4 sum:10 buckets:[1 0 0 0 1 0 0 1 1]}}
    let h = Lit {
        schema: 2,
        count: 4.0,
        sum: 10.0,
        buckets: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0],
        ..Default::default()
    }
    .build();
    spread_is(&h, 1.0787993180043811, 1.163807968526718);

    // {{schema:8 count:10 sum:10 buckets:[1 2 3 4]}}
    let h = Lit {
        schema: 8,
        count: 10.0,
        sum: 10.0,
        buckets: vec![1.0, 2.0, 3.0, 4.0],
        ..Default::default()
    }
    .build();
    spread_is(&h, 0.0048960313898237465, 2.3971123370139447e-05);

    // {-50, -8, 0, 3, 8, 9} in schema 3, with sum 62, NaN and Inf.
    let mut buckets = vec![0.0; 55];
    for i in [13, 24, 26, 54] {
        buckets[i] = 1.0;
    }
    let mut n_buckets = vec![0.0; 47];
    for i in [24, 46] {
        n_buckets[i] = 1.0;
    }
    let spread = |sum: f64| {
        Lit {
            schema: 3,
            count: 7.0,
            sum,
            z_bucket: 1.0,
            buckets: buckets.clone(),
            n_buckets: n_buckets.clone(),
            ..Default::default()
        }
        .build()
    };
    spread_is(&spread(62.0), 42.94723640026, 1844.4651144196398);
    assert!(histogram_stddev(&spread(f64::NAN)).is_nan());
    assert!(histogram_stdvar(&spread(f64::NAN)).is_nan());
    assert_eq!(histogram_stddev(&spread(INF)), INF);
    assert_eq!(histogram_stdvar(&spread(INF)), INF);

    // {{schema:0 count:10 sum:-112946 z_bucket:0
    //   n_buckets:[0 0 1 1 1 0 1 1 0 0 3 0 0 0 1 0 0 1]}}
    let h = Lit {
        count: 10.0,
        sum: -112946.0,
        n_buckets: vec![
            0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0,
            1.0,
        ],
        ..Default::default()
    }
    .build();
    spread_is(&h, 27556.344499842, 759352122.1939945);

    // {{schema:0 count:10 sum:-100 z_bucket:0 n_buckets:[0 0 0 0 10]}}
    let h = Lit {
        count: 10.0,
        sum: -100.0,
        n_buckets: vec![0.0, 0.0, 0.0, 0.0, 10.0],
        ..Default::default()
    }
    .build();
    spread_is(&h, 1.3137084989848, 1.725830020304794);

    // rate() of a constant histogram: no observations at all.
    let h = Lit::default().build();
    assert!(histogram_stddev(&h).is_nan());
    assert!(histogram_stdvar(&h).is_nan());
}

#[test]
fn stddev_custom_buckets_from_upstream() {
    // testhistogram3 at 50m: arithmetic midpoints.
    let positive = nhcb(
        &[0.0, 0.1, 0.2, 1.0],
        &[0.0, 50.0, 70.0, 110.0, 110.0],
        330.0,
    );
    spread_is(&positive, 2.7435461458749795, 7.527045454545455);
    let negative = nhcb(
        &[-0.25, -0.2, -0.1, 0.3],
        &[0.0, 10.0, 20.0, 20.0, 20.0],
        80.0,
    );
    spread_is(&negative, 4.187667907081458, 17.5365625);
    // Observations in the +Inf bucket put the midpoint at +Inf.
    let h = nhcb(&[1.0], &[1.0, 2.0], 10.0);
    assert_eq!(histogram_stdvar(&h), INF);
}

// ---- annotations ----

#[test]
fn note_messages_match_prometheus() {
    assert_eq!(
        NativeHistogramNote::QuantileNaNResult.message("histogram_nan"),
        "PromQL info: input to histogram_quantile has NaN observations, result is NaN for metric name \"histogram_nan\""
    );
    assert_eq!(
        NativeHistogramNote::QuantileNaNSkew.message("histogram_nan"),
        "PromQL info: input to histogram_quantile has NaN observations, result is skewed higher for metric name \"histogram_nan\""
    );
    assert_eq!(
        NativeHistogramNote::FractionNaNs.message("histogram_nan"),
        "PromQL info: input to histogram_fraction has NaN observations, which are excluded from all fractions for metric name \"histogram_nan\""
    );
    assert_eq!(
        NativeHistogramNote::FractionNaNs.message(""),
        "PromQL info: input to histogram_fraction has NaN observations, which are excluded from all fractions"
    );
}
