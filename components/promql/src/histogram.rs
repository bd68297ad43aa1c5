//! `histogram_quantile` over classic (`le`-labelled) bucket series.

use std::collections::HashMap;

use cairn_model::{Labels, Sample, METRIC_NAME};
use promql_parser::parser::Call;

use crate::error::{QueryError, Result};
use crate::eval::{Evaluator, Series, StepCursor, Val};
use crate::mathx::almost_equal;

const BUCKET_LABEL: &str = "le";

#[derive(Debug, Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// Prometheus's `BucketQuantile` for classic buckets.
fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| {
        a.upper
            .partial_cmp(&b.upper)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    match buckets.last() {
        Some(b) if b.upper == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Coalesce buckets with the same upper bound.
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => merged.push(*b),
        }
    }
    *buckets = merged;
    // Ensure monotonicity and ignore tiny floating point deltas.
    let mut prev = buckets[0].count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) || curr < prev {
            b.count = prev;
            continue;
        }
        prev = curr;
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let n = buckets.len() - 1;
    let b = buckets[..n].partition_point(|b| b.count < rank);
    if b == n {
        return buckets[n - 1].upper;
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return buckets[0].upper;
    }
    let bucket_end = buckets[b].upper;
    let mut count = buckets[b].count;
    let mut bucket_start = 0.0;
    if b > 0 {
        bucket_start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Evaluates `histogram_quantile(q, buckets)`.
pub(crate) fn eval_histogram_quantile(ev: &Evaluator<'_>, call: &Call) -> Result<Val> {
    let (Some(qe), Some(ve)) = (call.args.args.first(), call.args.args.get(1)) else {
        return Err(QueryError::exec("histogram_quantile needs two arguments"));
    };
    let qs = ev.eval_scalar(qe)?;
    if let Some(q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        ev.warn(format!(
            "PromQL warning: quantile value should be between 0 and 1, got {q}"
        ));
    }
    let input = ev.eval_vector(ve)?;
    // Per input series: (group, upper bound), or None when `le` is missing or invalid.
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<Labels> = Vec::new();
    let mut of: Vec<Option<(usize, f64)>> = Vec::with_capacity(input.len());
    for s in &input {
        let upper = s.labels.get(BUCKET_LABEL).and_then(parse_go_float);
        let Some(upper) = upper else {
            ev.warn(format!(
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of {:?} for metric name {:?}",
                s.labels.get(BUCKET_LABEL).unwrap_or(""),
                s.labels.get(METRIC_NAME).unwrap_or("")
            ));
            of.push(None);
            continue;
        };
        // The name stays (delayed name removal): two histograms that differ only in
        // name are computed apart and collide at the end.
        let key = s.labels.without(&[BUCKET_LABEL]);
        let next = groups.len();
        let g = *index.entry(key.clone()).or_insert(next);
        if g == next {
            groups.push(key);
        }
        of.push(Some((g, upper)));
    }
    let mut out: Vec<Vec<Sample>> = vec![Vec::new(); groups.len()];
    let mut buckets: Vec<Vec<Bucket>> = vec![Vec::new(); groups.len()];
    let mut cur = StepCursor::new(&input);
    let mut at = Vec::new();
    for (step, q) in qs.iter().enumerate() {
        ev.limits.tick()?;
        let ts = ev.ts(step);
        cur.at(ts, &mut at);
        for &(i, v) in &at {
            if let Some((g, upper)) = of[i] {
                buckets[g].push(Bucket { upper, count: v });
            }
        }
        for (g, b) in buckets.iter_mut().enumerate() {
            if !b.is_empty() {
                out[g].push(Sample::new(ts, bucket_quantile(*q, b)));
                b.clear();
            }
        }
    }
    ev.limits
        .release(input.iter().map(|s| s.points.len()).sum());
    let mut result = Vec::new();
    for (labels, points) in groups.into_iter().zip(out) {
        if !points.is_empty() {
            ev.limits.add(points.len())?;
            result.push(Series {
                labels,
                points,
                drop_name: true,
            });
        }
    }
    Ok(Val::Vector(result))
}

/// Parses a float like Go's `strconv.ParseFloat` for the usual spellings (`+Inf`, `1e3`).
fn parse_go_float(s: &str) -> Option<f64> {
    s.trim_start_matches('+').parse::<f64>().ok().or_else(|| {
        match s.to_ascii_lowercase().as_str() {
            "+inf" | "inf" | "+infinity" | "infinity" => Some(f64::INFINITY),
            "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(pairs: &[(f64, f64)]) -> Vec<Bucket> {
        pairs
            .iter()
            .map(|&(upper, count)| Bucket { upper, count })
            .collect()
    }

    #[test]
    fn interpolates_within_bucket() {
        let mut bs = b(&[(0.1, 10.0), (0.5, 20.0), (f64::INFINITY, 20.0)]);
        // rank 10 → end of first bucket.
        assert_eq!(bucket_quantile(0.5, &mut bs), 0.1);
        let mut bs = b(&[(0.1, 10.0), (0.5, 20.0), (f64::INFINITY, 20.0)]);
        // rank 15 → halfway into (0.1, 0.5].
        assert!((bucket_quantile(0.75, &mut bs) - 0.3).abs() < 1e-12);
        // Highest bucket → upper bound of the second-highest.
        let mut bs = b(&[(0.1, 10.0), (0.5, 20.0), (f64::INFINITY, 30.0)]);
        assert_eq!(bucket_quantile(0.99, &mut bs), 0.5);
    }

    #[test]
    fn needs_inf_bucket() {
        let mut bs = b(&[(0.1, 10.0), (0.5, 20.0)]);
        assert!(bucket_quantile(0.5, &mut bs).is_nan());
    }

    #[test]
    fn parses_go_floats() {
        assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_go_float("0.5"), Some(0.5));
        assert_eq!(parse_go_float("1e3"), Some(1000.0));
        assert_eq!(parse_go_float("x"), None);
    }
}
