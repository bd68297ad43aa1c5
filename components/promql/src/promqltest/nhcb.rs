//! `load_with_nhcb`: classic histograms (`x_bucket{le=…}`, `x_count`, `x_sum`) loaded
//! by a script also become native histograms with custom buckets (`x`), one per
//! timestamp, as upstream's `convertnhcb` builds them.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_model::histogram::{FloatHistogram, Span, CUSTOM_BUCKETS_SCHEMA};
use cairn_model::{HistogramSample, Labels, Sample, METRIC_NAME};

/// One histogram being collected from its classic series at one timestamp.
#[derive(Debug, Default)]
struct Collected {
    /// `(le, cumulative count)` sorted by `le`.
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: f64,
    invalid: bool,
}

impl Collected {
    fn set_bucket(&mut self, le: f64, count: f64) {
        if count < 0.0 {
            self.invalid = true;
            return;
        }
        let i = self.buckets.partition_point(|b| b.0 < le);
        if self.buckets.get(i).is_some_and(|b| b.0 == le) {
            return;
        }
        let below = i.checked_sub(1).map(|j| self.buckets[j].1);
        let above = self.buckets.get(i).map(|b| b.1);
        if below.is_some_and(|b| count < b) || above.is_some_and(|a| count > a) {
            // Not cumulative.
            self.invalid = true;
            return;
        }
        self.buckets.insert(i, (le, count));
    }

    /// The native histogram, or None when the classic data does not make one.
    fn convert(mut self) -> Option<FloatHistogram> {
        if self.invalid || self.count.is_some_and(|c| c < 0.0) {
            return None;
        }
        let count = match self.count {
            Some(c) => c,
            None => self.buckets.last()?.1,
        };
        if self.buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
            self.buckets.push((f64::INFINITY, count));
        }
        if self.buckets.last().is_some_and(|b| b.1 != count) {
            return None;
        }
        let integral = self.buckets.iter().all(|b| b.1.fract() == 0.0) && count.fract() == 0.0;
        let mut prev = 0.0;
        let counts: Vec<f64> = self
            .buckets
            .iter()
            .map(|b| {
                let c = b.1 - prev;
                prev = b.1;
                c
            })
            .collect();
        let bounds: Vec<f64> = self.buckets[..self.buckets.len() - 1]
            .iter()
            .map(|b| b.0)
            .collect();
        let mut h = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count,
            sum: self.sum,
            positive_spans: vec![Span {
                offset: 0,
                length: counts.len() as u32,
            }],
            positive_buckets: counts,
            custom_values: Some(Arc::from(bounds)),
            ..Default::default()
        };
        // Upstream builds an integer histogram (compacted keeping runs of up to two
        // empty buckets) when every count is whole, a float one otherwise.
        h.compact(if integral { 2 } else { 0 });
        Some(h)
    }
}

/// The native histograms `load_with_nhcb` derives from the classic series of one load.
pub(super) fn convert(series: &[(Labels, Vec<Sample>)]) -> Vec<(Labels, Vec<HistogramSample>)> {
    let mut by_base: BTreeMap<Labels, BTreeMap<i64, Collected>> = BTreeMap::new();
    for (labels, samples) in series {
        let Some(name) = labels.get(METRIC_NAME) else {
            continue;
        };
        enum Part {
            Bucket(f64),
            Count,
            Sum,
        }
        let (part, base) = if let Some(base) = name.strip_suffix("_bucket") {
            match labels.get("le").and_then(|le| le.parse::<f64>().ok()) {
                Some(le) if !le.is_nan() => (Part::Bucket(le), base),
                _ => continue,
            }
        } else if let Some(base) = name.strip_suffix("_sum") {
            (Part::Sum, base)
        } else if let Some(base) = name.strip_suffix("_count") {
            (Part::Count, base)
        } else {
            continue;
        };
        let mut b = labels.to_builder();
        b.set(METRIC_NAME, base);
        b.del("le");
        let at = by_base.entry(b.build()).or_default();
        for s in samples {
            let c = at.entry(s.t).or_default();
            match part {
                Part::Bucket(le) => c.set_bucket(le, s.v),
                Part::Count => c.count = Some(s.v),
                Part::Sum => c.sum = s.v,
            }
        }
    }
    by_base
        .into_iter()
        .map(|(labels, at)| {
            let samples = at
                .into_iter()
                .filter_map(|(t, c)| c.convert().map(|h| HistogramSample::new(t, h)))
                .collect();
            (labels, samples)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_buckets_become_custom_bucket_histograms() {
        let s = |pairs: &[(&str, &str)], v: f64| {
            (
                Labels::from_pairs(pairs.iter().copied()),
                vec![Sample::new(0, v)],
            )
        };
        let series = vec![
            s(&[("__name__", "h_bucket"), ("le", "1"), ("a", "x")], 2.0),
            s(&[("__name__", "h_bucket"), ("le", "5"), ("a", "x")], 5.0),
            s(&[("__name__", "h_bucket"), ("le", "+Inf"), ("a", "x")], 6.0),
            s(&[("__name__", "h_count"), ("a", "x")], 6.0),
            s(&[("__name__", "h_sum"), ("a", "x")], 20.0),
        ];
        let out = convert(&series);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].0,
            Labels::from_pairs([("__name__", "h"), ("a", "x")])
        );
        let h = &out[0].1[0].h;
        assert_eq!(
            (h.count, h.sum, h.schema),
            (6.0, 20.0, CUSTOM_BUCKETS_SCHEMA)
        );
        assert_eq!(h.custom_bounds(), &[1.0, 5.0]);
        assert_eq!(h.positive_buckets, vec![2.0, 3.0, 1.0]);
    }
}
