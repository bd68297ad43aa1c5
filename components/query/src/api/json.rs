//! Prometheus's JSON shapes for query results.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use cairn_model::{FloatHistogram, Labels};
use cairn_promql::{QueryResult, Value};
use serde_json::{json, Map, Value as Json};

/// Sample values are strings spelled exactly like Prometheus's API: Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)`, switching to `'e'` below 1e-6 and from 1e21
/// (`marshalFloat` in Prometheus's JSON codec).
#[cfg(test)]
pub(crate) fn format_value(v: f64) -> String {
    let mut out = Vec::with_capacity(24);
    write_value(&mut out, v);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends [`format_value`]'s spelling of `v` to `out` without allocating. Large range
/// query results have millions of values, so this is on the hot path of the API.
pub(crate) fn write_value(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        return out.extend_from_slice(b"NaN");
    }
    if v.is_infinite() {
        return out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    }
    if v == 0.0 {
        return out.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
    }
    if v < 0.0 {
        out.push(b'-');
    }
    let abs = v.abs();
    // Counters, gauges of bytes and the like are mostly whole numbers; below 2^53 they
    // are exact integers whose shortest spelling is just their digits.
    if abs < 9_007_199_254_740_992.0 && abs.fract() == 0.0 {
        return push_u64(out, abs as u64);
    }
    let mut buf = ryu::Buffer::new();
    let (digits, n, exp) = shortest_digits(buf.format_finite(abs));
    let digits = &digits[..n];
    if !(1e-6..1e21).contains(&abs) {
        out.push(digits[0]);
        if n > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        push_u64(out, u64::from(e));
        return;
    }
    let n = n as i32;
    if exp < 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
        out.extend_from_slice(digits);
    } else if exp + 1 >= n {
        out.extend_from_slice(digits);
        out.extend(std::iter::repeat_n(b'0', (exp + 1 - n) as usize));
    } else {
        let (int, frac) = digits.split_at((exp + 1) as usize);
        out.extend_from_slice(int);
        out.push(b'.');
        out.extend_from_slice(frac);
    }
}

fn push_u64(out: &mut Vec<u8>, mut x: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// The significant digits of ryu's shortest round-trip spelling of a positive finite
/// value (`"0.00123"`, `"123.0"`, `"1.5e-7"`, `"1e21"`) and the decimal exponent of the
/// first digit. Ryu, like Go's `FormatFloat`, breaks an exact tie between two shortest
/// candidates towards the even digit (Rust's own formatter rounds it up).
fn shortest_digits(s: &str) -> ([u8; 24], usize, i32) {
    let (mantissa, exp) = match s.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let mut digits = [0u8; 24];
    let mut n = 0;
    // Position of the first significant digit relative to the decimal point.
    let mut point = None;
    let mut first = None;
    for (i, b) in mantissa.bytes().enumerate() {
        if b == b'.' {
            point = Some(i);
            continue;
        }
        if first.is_none() {
            if b == b'0' {
                continue;
            }
            first = Some(i);
        }
        if n < digits.len() {
            digits[n] = b;
            n += 1;
        }
    }
    while n > 1 && digits[n - 1] == b'0' {
        n -= 1;
    }
    let point = point.unwrap_or(mantissa.len()) as i32;
    let first = first.unwrap_or(0) as i32;
    // Digits before the point count down to exponent 0; the first digit after it is -1.
    let e = if first < point {
        point - first - 1
    } else {
        point - first
    };
    (digits, n.max(1), e + exp)
}

pub(crate) fn labels_object(labels: &Labels) -> Json {
    let mut map = Map::with_capacity(labels.len());
    for l in labels {
        map.insert(l.name.clone(), Json::String(l.value.clone()));
    }
    Json::Object(map)
}

/// A response body that is already JSON.
#[derive(Debug)]
pub(crate) struct JsonBody(pub(crate) Vec<u8>);

impl IntoResponse for JsonBody {
    fn into_response(self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

/// Timestamps are unix seconds as a JSON number, with millisecond precision.
fn write_time(out: &mut Vec<u8>, t_ms: i64) {
    if t_ms % 1000 == 0 {
        if t_ms < 0 {
            out.push(b'-');
        }
        push_u64(out, (t_ms / 1000).unsigned_abs());
    } else {
        out.extend_from_slice(ryu::Buffer::new().format(t_ms as f64 / 1000.0).as_bytes());
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_labels(out: &mut Vec<u8>, labels: &Labels) {
    out.push(b'{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, &l.name);
        out.push(b':');
        write_str(out, &l.value);
    }
    out.push(b'}');
}

fn write_point(out: &mut Vec<u8>, t: i64, v: f64) {
    out.push(b'[');
    write_time(out, t);
    out.extend_from_slice(b",\"");
    write_value(out, v);
    out.extend_from_slice(b"\"]");
}

/// A native histogram as Prometheus writes it: count, sum and the non-empty buckets as
/// `[boundary rule, lower, upper, count]` (rule 0: upper bound inclusive, 1: lower, 2:
/// neither, 3: both).
fn write_histogram(out: &mut Vec<u8>, h: &FloatHistogram) {
    out.extend_from_slice(b"{\"count\":\"");
    write_value(out, h.count);
    out.extend_from_slice(b"\",\"sum\":\"");
    write_value(out, h.sum);
    out.push(b'"');
    let mut first = true;
    for b in h.all_buckets().iter().filter(|b| b.count != 0.0) {
        out.extend_from_slice(if first { b",\"buckets\":[" } else { b"," });
        first = false;
        let rule = match (b.lower_inclusive, b.upper_inclusive) {
            (true, true) => b'3',
            (true, false) => b'1',
            (false, true) => b'0',
            (false, false) => b'2',
        };
        out.extend_from_slice(&[b'[', rule, b',', b'"']);
        write_value(out, b.lower);
        out.extend_from_slice(b"\",\"");
        write_value(out, b.upper);
        out.extend_from_slice(b"\",\"");
        write_value(out, b.count);
        out.extend_from_slice(b"\"]");
    }
    if !first {
        out.push(b']');
    }
    out.push(b'}');
}

fn write_histogram_point(out: &mut Vec<u8>, t: i64, h: &FloatHistogram) {
    out.push(b'[');
    write_time(out, t);
    out.push(b',');
    write_histogram(out, h);
    out.push(b']');
}

fn write_strings(out: &mut Vec<u8>, key: &str, list: &[String]) {
    if list.is_empty() {
        return;
    }
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":[");
    for (i, w) in list.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, w);
    }
    out.push(b']');
}

/// The success envelope, with `warnings`/`infos` only when there are any.
pub(crate) fn success(data: Json, warnings: &[String], infos: &[String]) -> Json {
    let mut body = json!({"status": "success", "data": data});
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    if !infos.is_empty() {
        body["infos"] = json!(infos);
    }
    body
}

/// The whole success body of a query, written straight into bytes: building a
/// `serde_json::Value` tree first cost an allocation per point and dominated large
/// range queries.
pub(crate) fn query_success(result: &QueryResult) -> JsonBody {
    let value = &result.value;
    let points = match value {
        Value::Matrix(series) => series
            .iter()
            .map(|s| s.samples.len() + 8 * s.histograms.len() + 4)
            .sum(),
        Value::Vector(samples) => samples.len(),
        _ => 1,
    };
    let mut out = Vec::with_capacity(64 + points * 32);
    out.extend_from_slice(b"{\"status\":\"success\",\"data\":{\"resultType\":\"");
    out.extend_from_slice(value.type_name().as_bytes());
    out.extend_from_slice(b"\",\"result\":");
    match value {
        Value::Scalar { t, v } => write_point(&mut out, *t, *v),
        Value::String { t, v } => {
            out.push(b'[');
            write_time(&mut out, *t);
            out.push(b',');
            write_str(&mut out, v);
            out.push(b']');
        }
        Value::Vector(samples) => {
            out.push(b'[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"metric\":");
                write_labels(&mut out, &s.labels);
                match &s.h {
                    Some(h) => {
                        out.extend_from_slice(b",\"histogram\":");
                        write_histogram_point(&mut out, s.t, h);
                    }
                    None => {
                        out.extend_from_slice(b",\"value\":");
                        write_point(&mut out, s.t, s.v);
                    }
                }
                out.push(b'}');
            }
            out.push(b']');
        }
        Value::Matrix(series) => {
            out.push(b'[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"metric\":");
                write_labels(&mut out, &s.labels);
                // Like Prometheus: "values" and "histograms" each only when non-empty.
                if !s.samples.is_empty() || s.histograms.is_empty() {
                    out.extend_from_slice(b",\"values\":[");
                    for (j, p) in s.samples.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        write_point(&mut out, p.t, p.v);
                    }
                    out.push(b']');
                }
                if !s.histograms.is_empty() {
                    out.extend_from_slice(b",\"histograms\":[");
                    for (j, p) in s.histograms.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        write_histogram_point(&mut out, p.t, &p.h);
                    }
                    out.push(b']');
                }
                out.push(b'}');
            }
            out.push(b']');
        }
    }
    out.push(b'}');
    write_strings(&mut out, "warnings", &result.warnings);
    write_strings(&mut out, "infos", &result.infos);
    out.push(b'}');
    JsonBody(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // The literal is the exact binary value on purpose: it is a rounding tie.
    #[allow(clippy::excessive_precision)]
    fn floats_print_like_go() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1e+21");
        assert_eq!(format_value(9.5e20), "950000000000000000000");
        assert_eq!(format_value(1e-7), "1e-07");
        assert_eq!(format_value(-1.5e-7), "-1.5e-07");
        assert_eq!(format_value(1e-6), "0.000001");
        assert_eq!(format_value(1.2345e100), "1.2345e+100");
        assert_eq!(format_value(123456.789), "123456.789");
        assert_eq!(format_value(-0.0), "-0");
        // An exact tie between two 17-digit spellings goes to the even digit, like Go.
        assert_eq!(format_value(251.628814697265625), "251.62881469726562");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(-2.5), "-2.5");
        assert_eq!(format_value(100_234_000.0), "100234000");
        assert_eq!(format_value(-7.0), "-7");
        assert_eq!(format_value(9_007_199_254_740_992.0), "9007199254740992");
        assert_eq!(format_value(1e20), "100000000000000000000");
    }

    #[test]
    fn floats_round_trip_with_the_fewest_digits() {
        let mut x = 0x1234_5678_9abc_def0u64;
        for i in 0..200_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = match i % 3 {
                0 => f64::from_bits(x),
                1 => (x >> 11) as f64 / (1u64 << 40) as f64,
                _ => ((x >> 40) as f64) / 15.0,
            };
            if !v.is_finite() || v == 0.0 {
                continue;
            }
            let s = format_value(v);
            assert_eq!(s.parse::<f64>().unwrap(), v, "{s}");
            let digits = |t: &str| {
                let m = t.split(['e', 'E']).next().unwrap_or("");
                let d: Vec<u8> = m
                    .bytes()
                    .filter(u8::is_ascii_digit)
                    .skip_while(|b| *b == b'0')
                    .collect();
                d.len() - d.iter().rev().take_while(|b| **b == b'0').count()
            };
            let shortest = format!("{:e}", v.abs());
            assert!(digits(&s) <= digits(&shortest), "{s} vs {shortest}");
        }
    }

    #[test]
    fn query_bodies_are_valid_json_in_prometheus_shape() {
        use cairn_model::Sample;
        use cairn_promql::RangeSeries;
        let result = QueryResult {
            value: Value::Matrix(vec![RangeSeries {
                labels: Labels::from_pairs([("__name__", "up"), ("a", "x\"y\n")]),
                samples: vec![Sample::new(1_000, 1.5), Sample::new(2_500, f64::NAN)],
                histograms: Vec::new(),
            }]),
            warnings: vec!["w".into()],
            infos: vec![],
        };
        let body: Json = serde_json::from_slice(&query_success(&result).0).unwrap();
        assert_eq!(
            body,
            json!({"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"__name__": "up", "a": "x\"y\n"}, "values": [[1, "1.5"], [2.5, "NaN"]]}
            ]}, "warnings": ["w"]})
        );
    }

    #[test]
    fn native_histograms_are_written_with_their_non_empty_buckets() {
        use cairn_model::histogram::Span;
        use cairn_model::HistogramSample;
        use cairn_promql::{RangeSeries, VectorSample};
        let h = FloatHistogram {
            count: 5.0,
            sum: 7.5,
            zero_threshold: 0.001,
            zero_count: 1.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![2.0, 0.0, 2.0],
            ..Default::default()
        };
        let labels = Labels::from_pairs([("__name__", "h")]);
        let buckets = json!([
            [3, "-0.001", "0.001", "1"],
            [0, "0.5", "1", "2"],
            [0, "2", "4", "2"]
        ]);
        let vector = QueryResult {
            value: Value::Vector(vec![VectorSample {
                labels: labels.clone(),
                t: 1_000,
                v: 0.0,
                h: Some(std::sync::Arc::new(h.clone())),
            }]),
            warnings: vec![],
            infos: vec![],
        };
        let body: Json = serde_json::from_slice(&query_success(&vector).0).unwrap();
        assert_eq!(
            body["data"]["result"][0]["histogram"],
            json!([1, {"count": "5", "sum": "7.5", "buckets": buckets}])
        );
        let matrix = QueryResult {
            value: Value::Matrix(vec![RangeSeries {
                labels,
                samples: vec![],
                histograms: vec![HistogramSample::new(2_000, h)],
            }]),
            warnings: vec![],
            infos: vec![],
        };
        let body: Json = serde_json::from_slice(&query_success(&matrix).0).unwrap();
        let series = &body["data"]["result"][0];
        assert!(series.get("values").is_none(), "{series}");
        assert_eq!(
            series["histograms"],
            json!([[2, {"count": "5", "sum": "7.5", "buckets": buckets}]])
        );
    }

    #[test]
    fn times_are_seconds_with_millisecond_fraction() {
        let time = |t| {
            let mut out = Vec::new();
            write_time(&mut out, t);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(time(1_435_781_451_781), "1435781451.781");
        assert_eq!(time(1_435_781_451_000), "1435781451");
        assert_eq!(time(-1_500), "-1.5");
        assert_eq!(time(-2_000), "-2");
    }
}
