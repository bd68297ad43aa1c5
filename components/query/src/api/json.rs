//! Prometheus's JSON shapes for query results.

use cairn_model::{Labels, Sample};
use cairn_promql::{QueryResult, Value};
use serde_json::{json, Map, Number, Value as Json};

/// Sample values are strings spelled exactly like Prometheus's API: Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)`, switching to `'e'` below 1e-6 and from 1e21
/// (`marshalFloat` in Prometheus's JSON codec).
pub(crate) fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let (digits, exp) = shortest_digits(v.abs());
    let sign = if v < 0.0 { "-" } else { "" };
    let abs = v.abs();
    if !(1e-6..1e21).contains(&abs) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!(
            "{sign}{first}{dot}{rest}e{exp_sign}{:02}",
            exp.unsigned_abs()
        );
    }
    let n = digits.len() as i32;
    if exp < 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
    } else if exp + 1 >= n {
        format!("{sign}{digits}{}", "0".repeat((exp + 1 - n) as usize))
    } else {
        let (int, frac) = digits.split_at((exp + 1) as usize);
        format!("{sign}{int}.{frac}")
    }
}

/// The shortest decimal digits that round-trip to `v` (> 0) and the decimal exponent of
/// the first digit. Like Go, an exact tie between two shortest candidates goes to the
/// even last digit (Rust's formatter rounds such ties up).
fn shortest_digits(v: f64) -> (String, i32) {
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let last = digits.as_bytes()[digits.len() - 1];
    if digits.len() >= 16 && (last - b'0') % 2 == 1 {
        let mut lower = digits.clone().into_bytes();
        let i = lower.len() - 1;
        lower[i] -= 1;
        let lower = String::from_utf8(lower).unwrap_or_default();
        // The exact binary value written out in full: a tie means it is precisely the
        // midpoint `lower` followed by a 5.
        let exact = format!("{v:.800e}");
        let exact_digits: String = exact
            .split_once('e')
            .map_or("", |(m, _)| m)
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let midpoint = format!("{lower}5");
        let is_tie = exact_digits.starts_with(&midpoint)
            && exact_digits[midpoint.len()..].bytes().all(|b| b == b'0');
        let lower_value = format!("{}.{}e{exp}", &lower[..1], &lower[1..]).parse::<f64>();
        if is_tie && lower_value == Ok(v) {
            digits = lower;
        }
    }
    (digits, exp)
}

/// Timestamps are unix seconds as a JSON number, with millisecond precision.
pub(crate) fn format_time(t_ms: i64) -> Json {
    if t_ms % 1000 == 0 {
        Json::Number(Number::from(t_ms / 1000))
    } else {
        Number::from_f64(t_ms as f64 / 1000.0).map_or(Json::Null, Json::Number)
    }
}

pub(crate) fn labels_object(labels: &Labels) -> Json {
    let mut map = Map::with_capacity(labels.len());
    for l in labels {
        map.insert(l.name.clone(), Json::String(l.value.clone()));
    }
    Json::Object(map)
}

fn point(s: &Sample) -> Json {
    json!([format_time(s.t), format_value(s.v)])
}

/// `{"resultType": …, "result": …}` for a query result.
pub(crate) fn result_data(value: &Value) -> Json {
    let result = match value {
        Value::Scalar { t, v } => json!([format_time(*t), format_value(*v)]),
        Value::String { t, v } => json!([format_time(*t), v]),
        Value::Vector(samples) => Json::Array(
            samples
                .iter()
                .map(|s| json!({"metric": labels_object(&s.labels), "value": [format_time(s.t), format_value(s.v)]}))
                .collect(),
        ),
        Value::Matrix(series) => Json::Array(
            series
                .iter()
                .map(|s| {
                    json!({
                        "metric": labels_object(&s.labels),
                        "values": s.samples.iter().map(point).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        ),
    };
    json!({"resultType": value.type_name(), "result": result})
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

pub(crate) fn query_success(result: &QueryResult) -> Json {
    success(result_data(&result.value), &result.warnings, &result.infos)
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
    }

    #[test]
    fn times_are_seconds_with_millisecond_fraction() {
        assert_eq!(format_time(1_435_781_451_781).to_string(), "1435781451.781");
        assert_eq!(format_time(1_435_781_451_000).to_string(), "1435781451");
    }
}
