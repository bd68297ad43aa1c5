//! Tests of the test-format literals, many of them from Prometheus's
//! `promql/parser/parse_test.go` (`TestParseHistogramSeries`,
//! `TestHistogramTestExpression`).

use std::path::PathBuf;

use super::{assert_same, H, Z};
use crate::histogram::{go_float, CounterResetHint, FloatHistogram, CUSTOM_BUCKETS_SCHEMA};

fn parse(s: &str) -> FloatHistogram {
    FloatHistogram::parse_test_expression(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[track_caller]
fn parses_to(s: &str, want: H) {
    assert_same(&parse(s), &want.build(), s);
}

#[track_caller]
fn rejects(s: &str, reason: &str) {
    match FloatHistogram::parse_test_expression(s) {
        Ok(h) => panic!("{s} parsed as {h:?}"),
        Err(e) => assert!(e.contains(reason), "{s}: {e:?} does not mention {reason:?}"),
    }
}

#[test]
fn empty_literals_are_the_zero_histogram() {
    parses_to("{{}}", Z);
    parses_to("{{ }}", Z);
    parses_to("", Z);
}

#[test]
fn parses_every_field() {
    let want = H {
        schema: 1,
        sum: 0.3,
        count: 3.1,
        zc: 7.1,
        zt: 0.05,
        pb: &[5.1, 10.0, 7.0],
        ps: &[(3, 3)],
        nb: &[4.1, 5.0],
        ns: &[(5, 2)],
        hint: CounterResetHint::Gauge,
        ..Z
    };
    let text = "schema:1 sum:0.3 count:3.1 z_bucket:7.1 z_bucket_w:0.05 buckets:[5.1 10 7] offset:3 n_buckets:[4.1 5] n_offset:5 counter_reset_hint:gauge";
    parses_to(&format!("{{{{{text}}}}}"), want);
    // The braces are optional.
    parses_to(text, want);
    // Runs of whitespace between fields and bucket values, and before `}}` and `]`.
    parses_to(
        "{{schema:1  sum:0.3  count:3  z_bucket:7 z_bucket_w:5 buckets:[5 10  7  ] offset:-3  n_buckets:[4 5]  n_offset:5  counter_reset_hint:gauge  }}",
        H {
            count: 3.0,
            zc: 7.0,
            zt: 5.0,
            pb: &[5.0, 10.0, 7.0],
            ps: &[(-3, 3)],
            nb: &[4.0, 5.0],
            ..want
        },
    );
    parses_to(
        "{{schema:1 sum:-0.3 count:-3.1 z_bucket:-7.1 z_bucket_w:0.05 buckets:[-5.1 -10 -7] offset:-3 n_buckets:[-4.1 -5] n_offset:-5 counter_reset_hint:gauge}}",
        H {
            sum: -0.3,
            count: -3.1,
            zc: -7.1,
            pb: &[-5.1, -10.0, -7.0],
            ps: &[(-3, 3)],
            nb: &[-4.1, -5.0],
            ns: &[(-5, 2)],
            ..want
        },
    );
}

#[test]
fn parses_custom_buckets_and_hints() {
    parses_to(
        "{{schema:-53 sum:5 count:4 custom_values:[1 2.5 10] buckets:[1 0 2 1]}}",
        H {
            schema: CUSTOM_BUCKETS_SCHEMA,
            sum: 5.0,
            count: 4.0,
            cv: Some(&[1.0, 2.5, 10.0]),
            pb: &[1.0, 0.0, 2.0, 1.0],
            ps: &[(0, 4)],
            ..Z
        },
    );
    for (text, hint) in [
        ("unknown", CounterResetHint::Unknown),
        ("reset", CounterResetHint::CounterReset),
        ("not_reset", CounterResetHint::NotCounterReset),
        ("gauge", CounterResetHint::Gauge),
        ("GAUGE", CounterResetHint::Gauge),
    ] {
        parses_to(
            &format!("{{{{counter_reset_hint:{text}}}}}"),
            H { hint, ..Z },
        );
    }
    // Keys are case-insensitive too.
    parses_to(
        "{{SUM:2 Count:1}}",
        H {
            sum: 2.0,
            count: 1.0,
            ..Z
        },
    );
}

#[test]
fn one_span_per_bucket_list_even_across_empty_buckets() {
    let h = parse("{{buckets:[0 1 0 0 2] offset:-2 n_buckets:[3 0 4]}}");
    assert_eq!(h.positive_spans.len(), 1);
    assert_eq!(
        (h.positive_spans[0].offset, h.positive_spans[0].length),
        (-2, 5)
    );
    assert_eq!(h.negative_spans.len(), 1);
    assert_eq!(
        (h.negative_spans[0].offset, h.negative_spans[0].length),
        (0, 3)
    );
    // An offset without buckets makes no span.
    assert!(parse("{{offset:3}}").positive_spans.is_empty());
}

#[test]
fn reads_numbers_like_promql() {
    let sum = |s: &str| parse(&format!("{{{{sum:{s}}}}}")).sum;
    assert_eq!(sum("1e3"), 1000.0);
    assert_eq!(sum("1.78264E+50"), 1.78264e50);
    assert_eq!(sum("2.5e-3"), 0.0025);
    assert_eq!(sum("5."), 5.0);
    assert_eq!(sum("1_000"), 1000.0);
    assert_eq!(sum("1_000.5"), 1000.5);
    // Go's ParseInt(s, 0, 64) reads a leading zero as octal ...
    assert_eq!(sum("010"), 8.0);
    // ... unless the digits are not octal, when ParseFloat takes over.
    assert_eq!(sum("09"), 9.0);
    assert_eq!(sum("Inf"), f64::INFINITY);
    assert_eq!(sum("-inf"), f64::NEG_INFINITY);
    assert!(sum("NaN").is_nan());
    assert!(sum("nan").is_nan());
    assert_eq!(sum("1.7976931348623157e+308"), f64::MAX);
    let buckets = parse("{{buckets:[Inf NaN -.5 -0 1e-6]}}").positive_buckets;
    assert_eq!(buckets[0], f64::INFINITY);
    assert!(buckets[1].is_nan());
    assert_eq!(buckets[2], -0.5);
    assert!(buckets[3] == 0.0 && buckets[3].is_sign_negative());
    assert_eq!(buckets[4], 1e-6);
    assert_eq!(parse("{{schema:-53}}").schema, -53);
    assert_eq!(parse("{{schema:08}}").schema, 8);
}

#[test]
fn rejects_what_promql_rejects() {
    rejects("{{schema:1 schema:1}}", "duplicate key \"schema\"");
    rejects("{{foo:1}}", "bad histogram descriptor found: \"foo\"");
    rejects("{{schema :1}}", "missing `:`");
    rejects("{{schema: 1}}", "schema");
    rejects("{{buckets:[ 1]}}", "buckets");
    rejects("{{ schema:1}}", "expected a histogram field");
    rejects("{{counter_reset_hint:foo}}", "counter_reset_hint");
    rejects("{{schema:1", "does not end with");
    // Hexadecimal is ambiguous in series descriptions and not lexed as a number.
    rejects("{{sum:0x10}}", "sum");
    // No `+` sign, and no `-Inf` inside bucket lists (only outside).
    rejects("{{sum:+5}}", "sum");
    rejects("{{buckets:[-Inf]}}", "buckets");
    rejects("{{z_bucket_w:-1}}", "z_bucket_w");
    rejects("{{sum:.5}}", "sum");
    rejects("{{buckets:[]}}", "buckets");
    rejects("{{buckets:[1,2]}}", "buckets");
    rejects("{{sum:1e400}}", "out of range");
    rejects("{{sum:1__0}}", "bad number syntax");
    rejects("{{sum:1_}}", "bad number syntax");
    rejects("{{sum:1m}}", "space");
    rejects("{{schema:1.5}}", "integer");
    rejects("{{offset:1_0}}", "integer");
    rejects("{{schema:99999999999}}", "out of range");
    rejects("{{sum:1}}x2", "does not end with");
}

#[test]
fn writes_test_expressions_like_prometheus() {
    let mut h = H {
        schema: 1,
        sum: -0.3,
        count: 3.1,
        zc: 7.1,
        zt: 0.05,
        pb: &[5.1, 10.0, 7.0],
        ps: &[(-3, 3)],
        nb: &[4.1, 5.0],
        ns: &[(-5, 2)],
        ..Z
    };
    let expr = "{{schema:1 count:3.1 sum:-0.3 z_bucket:7.1 z_bucket_w:0.05 offset:-3 buckets:[5.1 10 7] n_offset:-5 n_buckets:[4.1 5]}}";
    assert_eq!(h.build().test_expression(), expr);
    // It reads back into the same histogram.
    assert_eq!(parse(expr).test_expression(), expr);
    h.hint = CounterResetHint::CounterReset;
    assert_eq!(
        h.build().test_expression(),
        "{{schema:1 count:3.1 sum:-0.3 z_bucket:7.1 z_bucket_w:0.05 counter_reset_hint:reset offset:-3 buckets:[5.1 10 7] n_offset:-5 n_buckets:[4.1 5]}}"
    );
    // Several spans are written as one, gaps as empty buckets.
    let multi = H {
        pb: &[5.1, 10.0, 7.0],
        ps: &[(-3, 1), (4, 2)],
        nb: &[4.1, 5.0, 7.0, 8.0, 9.0],
        ns: &[(-1, 2), (2, 3)],
        ..Z
    };
    assert_eq!(
        multi.build().test_expression(),
        "{{offset:-3 buckets:[5.1 0 0 0 0 10 7] n_offset:-1 n_buckets:[4.1 5 0 0 7 8 9]}}"
    );
    assert_eq!(Z.build().test_expression(), "{{}}");
    let custom = H {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: 3.0,
        sum: 1e6,
        cv: Some(&[0.5, 1.0]),
        pb: &[1.0, 0.0, 2.0],
        ps: &[(0, 3)],
        hint: CounterResetHint::Gauge,
        ..Z
    };
    assert_eq!(
        custom.build().test_expression(),
        "{{schema:-53 count:3 sum:1e+06 custom_values:[0.5 1] counter_reset_hint:gauge buckets:[1 0 2]}}"
    );
}

#[test]
fn formats_floats_like_go_percent_g() {
    for (v, want) in [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (-2.5, "-2.5"),
        (100000.0, "100000"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.5e-7, "1.5e-07"),
        (1e100, "1e+100"),
        (0.1 + 0.2, "0.30000000000000004"),
        (f64::MAX, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (f64::NAN, "NaN"),
    ] {
        assert_eq!(go_float(v), want, "{v:e}");
    }
}

/// Every `{{...}}` literal in Prometheus's own PromQL test scripts parses.
#[test]
fn parses_every_literal_of_the_upstream_test_scripts() {
    let dir = std::env::var_os("PROMQL_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/promql-testdata/upstream"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {} (set PROMQL_TESTDATA): {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let mut parsed = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable test script");
        for (n, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(start) = rest.find("{{") {
                let end = rest[start..].find("}}").unwrap_or_else(|| {
                    panic!("{}:{}: unterminated literal", file.display(), n + 1)
                });
                let literal = &rest[start..start + end + 2];
                let h = FloatHistogram::parse_test_expression(literal)
                    .unwrap_or_else(|e| panic!("{}:{}: {literal}: {e}", file.display(), n + 1));
                // What we parse, we can print and read back.
                let finite = [h.sum, h.count, h.zero_count, h.zero_threshold]
                    .iter()
                    .chain(&h.positive_buckets)
                    .chain(&h.negative_buckets)
                    .chain(h.custom_bounds())
                    .all(|v| !v.is_infinite());
                // Like Prometheus, we print `+Inf` and `custom_values:[]`, which do not
                // read back.
                let printable = !(h.uses_custom_buckets() && h.custom_bounds().is_empty());
                if finite && printable {
                    let again = FloatHistogram::parse_test_expression(&h.test_expression())
                        .unwrap_or_else(|e| {
                            panic!("{literal} printed as {}: {e}", h.test_expression())
                        });
                    let mut compact = h.clone();
                    compact.compact(usize::MAX);
                    assert!(again.equals(&compact), "{literal}");
                }
                parsed += 1;
                rest = &rest[start + end + 2..];
            }
        }
    }
    assert!(
        parsed > 700,
        "only {parsed} literals found in {}",
        dir.display()
    );
}
