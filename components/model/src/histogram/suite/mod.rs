//! Tests of the histogram operations. The tables in `go_cases.rs` are Prometheus's own
//! cases from `model/histogram/float_histogram_test.go`; this file holds the harnesses
//! that run them the way the Go tests do, `ops.rs` hand-written cases and `text.rs` the
//! test-format literals.

mod go_cases;
mod ops;
mod text;

use std::sync::Arc;

use super::{CounterResetHint, FloatHistogram, Span};

/// A histogram written compactly as constant data.
#[derive(Debug, Clone, Copy)]
pub(super) struct H {
    pub(super) hint: CounterResetHint,
    pub(super) schema: i32,
    pub(super) zt: f64,
    pub(super) zc: f64,
    pub(super) count: f64,
    pub(super) sum: f64,
    pub(super) ps: &'static [(i32, u32)],
    pub(super) pb: &'static [f64],
    pub(super) ns: &'static [(i32, u32)],
    pub(super) nb: &'static [f64],
    pub(super) cv: Option<&'static [f64]>,
}

/// The empty histogram, base of every [`H`] literal.
pub(super) const Z: H = H {
    hint: CounterResetHint::Unknown,
    schema: 0,
    zt: 0.0,
    zc: 0.0,
    count: 0.0,
    sum: 0.0,
    ps: &[],
    pb: &[],
    ns: &[],
    nb: &[],
    cv: None,
};

impl H {
    pub(super) fn build(&self) -> FloatHistogram {
        let spans = |s: &[(i32, u32)]| {
            s.iter()
                .map(|&(offset, length)| Span { offset, length })
                .collect()
        };
        FloatHistogram {
            counter_reset_hint: self.hint,
            schema: self.schema,
            zero_threshold: self.zt,
            zero_count: self.zc,
            count: self.count,
            sum: self.sum,
            positive_spans: spans(self.ps),
            negative_spans: spans(self.ns),
            positive_buckets: self.pb.to_vec(),
            negative_buckets: self.nb.to_vec(),
            custom_values: self.cv.map(Arc::from),
        }
    }
}

fn build(h: &Option<H>) -> FloatHistogram {
    h.as_ref().expect("case has the histogram").build()
}

/// Asserts that two histograms are equal the way Go's `require.Equal` sees it: floats
/// compared with `==` (so `-0 == 0`), no distinction between a missing and an empty
/// custom bounds list.
#[track_caller]
pub(super) fn assert_same(got: &FloatHistogram, want: &FloatHistogram, case: &str) {
    let floats_eq =
        |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y);
    let ok = got.counter_reset_hint == want.counter_reset_hint
        && got.schema == want.schema
        && got.zero_threshold == want.zero_threshold
        && got.zero_count == want.zero_count
        && got.count == want.count
        && got.sum == want.sum
        && got.positive_spans == want.positive_spans
        && got.negative_spans == want.negative_spans
        && floats_eq(&got.positive_buckets, &want.positive_buckets)
        && floats_eq(&got.negative_buckets, &want.negative_buckets)
        && floats_eq(got.custom_bounds(), want.custom_bounds());
    assert!(ok, "{case}:\n got {got:?}\nwant {want:?}");
}

/// `Mul` and `Div` cases.
#[derive(Debug)]
pub(super) struct Scale {
    pub(super) name: &'static str,
    pub(super) input: Option<H>,
    pub(super) by: f64,
    pub(super) expected: Option<H>,
}

/// `DetectReset` cases.
#[derive(Debug)]
pub(super) struct Reset {
    pub(super) name: &'static str,
    pub(super) previous: Option<H>,
    pub(super) current: Option<H>,
    pub(super) reset: bool,
}

/// `Compact` cases.
#[derive(Debug)]
pub(super) struct Compact {
    pub(super) name: &'static str,
    pub(super) input: Option<H>,
    pub(super) max_empty: usize,
    pub(super) expected: Option<H>,
}

/// `Add` and `Sub` cases.
#[derive(Debug)]
pub(super) struct Combine {
    pub(super) name: &'static str,
    pub(super) a: Option<H>,
    pub(super) b: Option<H>,
    pub(super) expected: Option<H>,
    pub(super) error: &'static str,
    pub(super) collision: bool,
    pub(super) reconciled: bool,
}

/// `KahanAdd` cases with a given compensation histogram.
#[derive(Debug)]
pub(super) struct KahanCase {
    pub(super) name: &'static str,
    pub(super) a: Option<H>,
    pub(super) comp: Option<H>,
    pub(super) b: Option<H>,
    pub(super) expected: Option<H>,
    pub(super) error: &'static str,
    pub(super) collision: bool,
    pub(super) reconciled: bool,
}

/// `CopyToSchema` cases.
#[derive(Debug)]
pub(super) struct Rescale {
    pub(super) name: &'static str,
    pub(super) target: i32,
    pub(super) input: Option<H>,
    pub(super) expected: Option<H>,
}

/// `ReduceResolution` cases.
#[derive(Debug)]
pub(super) struct Reduce {
    pub(super) name: &'static str,
    pub(super) input: Option<H>,
    pub(super) target: i32,
    pub(super) expected: Option<H>,
    pub(super) error: &'static str,
}

#[test]
fn go_mul() {
    for c in go_cases::MUL {
        let mut h = build(&c.input);
        h.mul(c.by);
        assert_same(&h, &build(&c.expected), c.name);
    }
}

#[test]
fn go_div() {
    for c in go_cases::DIV {
        let mut h = build(&c.input);
        h.div(c.by);
        assert_same(&h, &build(&c.expected), c.name);
    }
}

#[test]
fn go_detect_reset() {
    for c in go_cases::DETECT_RESET {
        let (previous, current) = (build(&c.previous), build(&c.current));
        assert_eq!(current.detect_reset(&previous), c.reset, "{}", c.name);
    }
}

#[test]
fn go_compact() {
    for c in go_cases::COMPACT {
        let mut h = build(&c.input);
        let was_valid = h.validate().is_ok();
        h.compact(c.max_empty);
        assert_same(&h, &build(&c.expected), c.name);
        if was_valid {
            assert_eq!(h.validate(), Ok(()), "{}: compact made it invalid", c.name);
        }
    }
}

/// Runs `a + b` (or `a - b`) plainly and as a Kahan sum, checking the error, the
/// outcome flags and (after compacting both) the result, as Go's
/// `testHistogramAdd`/`testHistogramKahanAdd`/`testFloatHistogramSub` do.
fn check_combine(
    c: &Combine,
    a: &FloatHistogram,
    b: &FloatHistogram,
    want: Option<&FloatHistogram>,
    subtract: bool,
) {
    let name = format!("{} ({})", c.name, if subtract { "sub" } else { "add" });
    assert_eq!(a.validate(), Ok(()), "{name}: a");
    assert_eq!(b.validate(), Ok(()), "{name}: b");
    let mut runs: Vec<(
        &str,
        FloatHistogram,
        Result<super::AddOutcome, super::HistogramError>,
    )> = Vec::new();
    let mut plain = a.clone();
    let outcome = if subtract { plain.sub(b) } else { plain.add(b) };
    runs.push(("plain", plain, outcome));
    if !subtract {
        let mut kahan = a.clone();
        let outcome = kahan.kahan_add(b, None).map(|(comp, outcome)| {
            assert_eq!(comp.schema, kahan.schema, "{name}: compensation schema");
            assert_eq!(
                comp.zero_threshold, kahan.zero_threshold,
                "{name}: compensation zero threshold"
            );
            assert_eq!(
                comp.positive_spans, kahan.positive_spans,
                "{name}: compensation spans"
            );
            assert_eq!(
                comp.negative_spans, kahan.negative_spans,
                "{name}: compensation spans"
            );
            assert_eq!(
                comp.positive_buckets.len(),
                kahan.positive_buckets.len(),
                "{name}"
            );
            assert_eq!(
                comp.negative_buckets.len(),
                kahan.negative_buckets.len(),
                "{name}"
            );
            kahan.kahan_finish(Some(&comp)).expect("compensation adds");
            outcome
        });
        runs.push(("kahan", kahan, outcome));
    }
    for (how, mut got, outcome) in runs {
        match outcome {
            Err(e) => {
                assert_eq!(e.to_string(), c.error, "{name} {how}");
                assert_same(&got, a, &format!("{name} {how}: unchanged after error"));
            }
            Ok(outcome) => {
                assert_eq!(c.error, "", "{name} {how}: expected an error");
                assert_eq!(
                    outcome.counter_reset_collision, c.collision,
                    "{name} {how}: collision"
                );
                assert_eq!(
                    outcome.nhcb_bounds_reconciled, c.reconciled,
                    "{name} {how}: reconciled"
                );
                if let Some(want) = want {
                    let mut want = want.clone();
                    want.compact(0);
                    got.compact(0);
                    assert_same(&got, &want, &format!("{name} {how}"));
                }
            }
        }
    }
}

#[test]
fn go_add() {
    for c in go_cases::ADD {
        let (a, b) = (build(&c.a), build(&c.b));
        let want = c.expected.as_ref().map(H::build);
        check_combine(c, &a, &b, want.as_ref(), false);
        check_combine(c, &b, &a, want.as_ref(), false);
    }
}

#[test]
fn go_sub() {
    for c in go_cases::SUB {
        let (a, b) = (build(&c.a), build(&c.b));
        let want = c.expected.as_ref().map(H::build);
        check_combine(c, &a, &b, want.as_ref(), true);
        let negated = want.map(|mut w| {
            let hint = w.counter_reset_hint;
            w.mul(-1.0);
            w.counter_reset_hint = hint;
            w
        });
        check_combine(c, &b, &a, negated.as_ref(), true);
    }
}

#[test]
fn go_kahan_add_with_compensation() {
    for c in go_cases::KAHAN_ADD {
        let (mut a, b) = (build(&c.a), build(&c.b));
        let comp = c.comp.as_ref().map(H::build);
        match a.kahan_add(&b, comp) {
            Err(e) => assert_eq!(e.to_string(), c.error, "{}", c.name),
            Ok((comp, outcome)) => {
                assert_eq!(c.error, "", "{}", c.name);
                assert_eq!(outcome.counter_reset_collision, c.collision, "{}", c.name);
                assert_eq!(outcome.nhcb_bounds_reconciled, c.reconciled, "{}", c.name);
                assert_eq!(comp.positive_spans, a.positive_spans, "{}", c.name);
                assert_eq!(comp.negative_spans, a.negative_spans, "{}", c.name);
                a.kahan_finish(Some(&comp)).expect("compensation adds");
                if let Some(want) = &c.expected {
                    let mut want = want.build();
                    want.compact(0);
                    a.compact(0);
                    assert_same(&a, &want, c.name);
                }
            }
        }
    }
}

#[test]
fn go_copy_to_schema() {
    for c in go_cases::COPY_TO_SCHEMA {
        let input = build(&c.input);
        let before = input.clone();
        assert_same(&input.copy_to_schema(c.target), &build(&c.expected), c.name);
        assert_same(&input, &before, c.name);
    }
}

#[test]
fn go_reduce_resolution() {
    for c in go_cases::REDUCE_RESOLUTION {
        let mut h = build(&c.input);
        let before = h.clone();
        match h.reduce_resolution(c.target) {
            Ok(()) => {
                assert_eq!(c.error, "", "{}", c.name);
                assert_same(&h, &build(&c.expected), c.name);
            }
            Err(e) => {
                // Go words the first part differently ("have 5 buckets but spans need
                // more"); the kind of error, after the last colon, is the same.
                let kind = c.error.rsplit(": ").next().unwrap_or_default();
                assert!(
                    !c.error.is_empty() && e.to_string().ends_with(kind),
                    "{}: {e}",
                    c.name
                );
                assert_same(&h, &before, c.name);
            }
        }
    }
}
