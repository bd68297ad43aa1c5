//! Prometheus's JSON shapes for query results.

use cairn_model::{Labels, Sample};
use cairn_promql::{QueryResult, Value};
use serde_json::{json, Map, Number, Value as Json};

/// Sample values are strings, formatted like Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub(crate) fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        // Rust's shortest round-trip Display has no exponent, like Go's 'f' with -1.
        format!("{v}")
    }
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
    fn floats_print_like_go() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(1e-7), "0.0000001");
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
