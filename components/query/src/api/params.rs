//! Query-parameter parsing with Prometheus's rules and error messages.

use std::collections::HashMap;
use std::time::Duration;

use cairn_model::Matcher;

use crate::QueryApiError;

/// Request parameters from the query string and a form body; repeated keys (`match[]`)
/// keep every value.
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, Vec<String>>);

impl Params {
    pub(crate) fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            map.entry(k).or_default().push(v);
        }
        Self(map)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    pub(crate) fn all(&self, key: &str) -> &[String] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }

    /// A timestamp parameter in milliseconds, or `default` when absent.
    pub(crate) fn time_or(&self, key: &str, default: i64) -> Result<i64, QueryApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(s) => parse_time(s)
                .map_err(|e| QueryApiError::BadData(format!("invalid parameter \"{key}\": {e}"))),
        }
    }

    /// A duration parameter, or None when absent.
    pub(crate) fn duration(&self, key: &str) -> Result<Option<Duration>, QueryApiError> {
        self.get(key)
            .map(|s| {
                parse_duration(s).map_err(|e| {
                    QueryApiError::BadData(format!("invalid parameter \"{key}\": {e}"))
                })
            })
            .transpose()
    }

    /// A boolean parameter (`true`/`false`/`1`/`0`), or None when absent.
    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, QueryApiError> {
        self.get(key)
            .map(|s| match s {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(QueryApiError::BadData(format!(
                    "invalid parameter \"{key}\": cannot parse {s:?} to a boolean"
                ))),
            })
            .transpose()
    }

    /// `max_source_resolution` in milliseconds, like Thanos: a duration (`0s`, `5m`,
    /// `1h`), or `auto` for a fifth of the step so that each step still spans several
    /// downsampled points. Absent means raw data only.
    pub(crate) fn max_source_resolution(&self, step_ms: i64) -> Result<i64, QueryApiError> {
        match self.get("max_source_resolution") {
            None => Ok(0),
            Some("auto") => Ok(step_ms / 5),
            Some(_) => Ok(self
                .duration("max_source_resolution")?
                .map_or(0, |d| d.as_millis() as i64)),
        }
    }

    /// Every `match[]` selector parsed into matcher lists.
    pub(crate) fn match_sets(&self) -> Result<Vec<Vec<Matcher>>, QueryApiError> {
        self.all("match[]")
            .iter()
            .map(|s| parse_selector(s))
            .collect()
    }
}

/// Oldest and newest timestamps the API accepts (Prometheus's `minTime`/`maxTime`).
pub(crate) const MIN_TIME_MS: i64 = -9_223_372_036_854_775 / 1000 * 1000;
pub(crate) const MAX_TIME_MS: i64 = 9_223_372_036_854_775 / 1000 * 1000;

/// Unix seconds (with fraction) or RFC 3339, like Prometheus's `parseTime`.
pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() {
            return Err(format!("cannot parse {s:?} to a valid timestamp"));
        }
        let ms = (secs * 1000.0).round();
        return Ok(ms.clamp(MIN_TIME_MS as f64, MAX_TIME_MS as f64) as i64);
    }
    // Prometheus's own spellings of the extremes, used by clients for "all time".
    match s {
        "-292273086-05-16T16:47:06Z" => return Ok(MIN_TIME_MS),
        "292277025-08-18T07:12:54.999999999Z" => return Ok(MAX_TIME_MS),
        _ => {}
    }
    parse_rfc3339(s).ok_or_else(|| format!("cannot parse {s:?} to a valid timestamp"))
}

/// Float seconds or a Prometheus duration string, like Prometheus's `parseDuration`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 || secs * 1000.0 > i64::MAX as f64 {
            return Err(format!("cannot parse {s:?} to a valid duration"));
        }
        return Ok(Duration::from_millis((secs * 1000.0).round() as u64));
    }
    cairn_model::duration::parse(s).map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

/// Parses `name{matchers}` with the PromQL parser into matchers.
pub(crate) fn parse_selector(s: &str) -> Result<Vec<Matcher>, QueryApiError> {
    let bad = |e: String| QueryApiError::BadData(format!("invalid parameter \"match[]\": {e}"));
    let expr = cairn_promql::parse_query(s).map_err(bad)?;
    let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
        return Err(bad(format!("{s:?} is not a series selector")));
    };
    cairn_promql::selector_matchers(&vs).map_err(|e| bad(e.to_string()))
}

/// RFC 3339 (`2024-01-02T03:04:05.123Z`, `…+02:00`) to milliseconds.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: i64 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = frac[..digits].parse::<i64>().ok()? * 10i64.pow(9 - digits as u32);
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (oh, om): (i64, i64) = (rest[1..3].parse().ok()?, rest[4..6].parse().ok()?);
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    Some(secs * 1000 + nanos / 1_000_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_unix_seconds_and_rfc3339() {
        assert_eq!(parse_time("1435781451.781"), Ok(1_435_781_451_781));
        assert_eq!(parse_time("0"), Ok(0));
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51.781+02:00"),
            Ok(1_435_781_451_781)
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("NaN").is_err());
        assert_eq!(parse_time("-292273086-05-16T16:47:06Z"), Ok(MIN_TIME_MS));
    }

    #[test]
    fn durations_in_seconds_or_prometheus_syntax() {
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("abc").is_err());
    }

    #[test]
    fn partial_response_and_max_source_resolution_params() {
        let p = |pairs: &[(&str, &str)]| {
            Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        };
        assert_eq!(p(&[]).bool("partial_response").unwrap(), None);
        assert_eq!(
            p(&[("partial_response", "false")])
                .bool("partial_response")
                .unwrap(),
            Some(false)
        );
        assert!(p(&[("partial_response", "maybe")])
            .bool("partial_response")
            .is_err());
        assert_eq!(p(&[]).max_source_resolution(60_000).unwrap(), 0);
        let auto = p(&[("max_source_resolution", "auto")]);
        assert_eq!(auto.max_source_resolution(3_600_000).unwrap(), 720_000);
        assert_eq!(auto.max_source_resolution(0).unwrap(), 0);
        let fixed = p(&[("max_source_resolution", "5m")]);
        assert_eq!(fixed.max_source_resolution(15_000).unwrap(), 300_000);
        assert!(p(&[("max_source_resolution", "soon")])
            .max_source_resolution(0)
            .is_err());
    }

    #[test]
    fn match_selectors_parse_into_matchers() {
        let ms = parse_selector(r#"up{job=~"a.*", instance!="x"}"#).unwrap();
        assert_eq!(ms.len(), 3);
        assert!(parse_selector("rate(up[5m])").is_err());
        assert!(parse_selector("up{").is_err());
    }
}
