//! Remote-write native histograms (`prometheus.Histogram`) to and from the model's
//! [`FloatHistogram`].
//!
//! ```text
//!  prometheus.Histogram { count_int | count_float, deltas | counts, spans, reset_hint }
//!      │ to_sample(): integer deltas summed into absolute counts, reset hint mapped
//!      ▼
//!  HistogramSample { t, FloatHistogram }  (not yet validated: see FloatHistogram::validate)
//!      │ from_sample(): float counts (what a float histogram sends)
//!      ▼
//!  prometheus.Histogram
//! ```

use std::sync::Arc;

use cairn_model::histogram::{CounterResetHint, FloatHistogram, Span};
use cairn_model::HistogramSample;

use crate::prometheus::histogram::{Count, ResetHint, ZeroCount};
use crate::prometheus::{BucketSpan, Histogram};

impl Histogram {
    /// Whether the histogram carries float counts (otherwise integer ones).
    pub fn is_float(&self) -> bool {
        matches!(self.count, Some(Count::CountFloat(_)))
    }

    /// The histogram as PromQL sees it: absolute float bucket counts. Integer
    /// histograms have their bucket deltas summed (wrapping, as Go's int64 does); the
    /// result is not validated.
    pub fn to_sample(&self) -> HistogramSample {
        let float = self.is_float();
        let buckets = |deltas: &[i64], counts: &[f64]| -> Vec<f64> {
            if float {
                return counts.to_vec();
            }
            let mut running = 0i64;
            deltas
                .iter()
                .map(|d| {
                    running = running.wrapping_add(*d);
                    running as f64
                })
                .collect()
        };
        let h = FloatHistogram {
            counter_reset_hint: match ResetHint::try_from(self.reset_hint) {
                Ok(ResetHint::Yes) => CounterResetHint::CounterReset,
                Ok(ResetHint::No) => CounterResetHint::NotCounterReset,
                Ok(ResetHint::Gauge) => CounterResetHint::Gauge,
                Ok(ResetHint::Unknown) | Err(_) => CounterResetHint::Unknown,
            },
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: match self.zero_count {
                Some(ZeroCount::ZeroCountInt(c)) => c as f64,
                Some(ZeroCount::ZeroCountFloat(c)) => c,
                None => 0.0,
            },
            count: match self.count {
                Some(Count::CountInt(c)) => c as f64,
                Some(Count::CountFloat(c)) => c,
                None => 0.0,
            },
            sum: self.sum,
            positive_spans: spans(&self.positive_spans),
            negative_spans: spans(&self.negative_spans),
            positive_buckets: buckets(&self.positive_deltas, &self.positive_counts),
            negative_buckets: buckets(&self.negative_deltas, &self.negative_counts),
            custom_values: (!self.custom_values.is_empty())
                .then(|| Arc::<[f64]>::from(self.custom_values.as_slice())),
        };
        HistogramSample::new(self.timestamp, h)
    }

    /// A float histogram message for `h` at `t` (for clients, tools and tests).
    pub fn from_sample(t: i64, h: &FloatHistogram) -> Self {
        let proto_spans = |spans: &[Span]| -> Vec<BucketSpan> {
            spans
                .iter()
                .map(|s| BucketSpan {
                    offset: s.offset,
                    length: s.length,
                })
                .collect()
        };
        Self {
            count: Some(Count::CountFloat(h.count)),
            sum: h.sum,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count: Some(ZeroCount::ZeroCountFloat(h.zero_count)),
            negative_spans: proto_spans(&h.negative_spans),
            negative_deltas: Vec::new(),
            negative_counts: h.negative_buckets.clone(),
            positive_spans: proto_spans(&h.positive_spans),
            positive_deltas: Vec::new(),
            positive_counts: h.positive_buckets.clone(),
            reset_hint: match h.counter_reset_hint {
                CounterResetHint::Unknown => ResetHint::Unknown,
                CounterResetHint::CounterReset => ResetHint::Yes,
                CounterResetHint::NotCounterReset => ResetHint::No,
                CounterResetHint::Gauge => ResetHint::Gauge,
            } as i32,
            timestamp: t,
            custom_values: h.custom_values.as_deref().unwrap_or_default().to_vec(),
        }
    }
}

fn spans(spans: &[BucketSpan]) -> Vec<Span> {
    spans
        .iter()
        .map(|s| Span {
            offset: s.offset,
            length: s.length,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_deltas_become_absolute_counts() {
        let proto = Histogram {
            count: Some(Count::CountInt(9)),
            sum: 18.5,
            schema: 1,
            zero_threshold: 0.001,
            zero_count: Some(ZeroCount::ZeroCountInt(2)),
            positive_spans: vec![BucketSpan {
                offset: 0,
                length: 3,
            }],
            positive_deltas: vec![1, 2, -2],
            negative_spans: vec![BucketSpan {
                offset: -1,
                length: 1,
            }],
            negative_deltas: vec![3],
            reset_hint: ResetHint::No as i32,
            timestamp: 1_000,
            ..Default::default()
        };
        assert!(!proto.is_float());
        let s = proto.to_sample();
        assert_eq!(s.t, 1_000);
        assert_eq!(s.h.positive_buckets, [1.0, 3.0, 1.0]);
        assert_eq!(s.h.negative_buckets, [3.0]);
        assert_eq!((s.h.count, s.h.zero_count, s.h.sum), (9.0, 2.0, 18.5));
        assert_eq!(s.h.counter_reset_hint, CounterResetHint::NotCounterReset);
        assert_eq!(
            s.h.negative_spans,
            [Span {
                offset: -1,
                length: 1
            }]
        );
        s.h.validate().expect("a consistent histogram");
    }

    #[test]
    fn float_histograms_round_trip_with_custom_bounds() {
        let h = FloatHistogram {
            counter_reset_hint: CounterResetHint::Gauge,
            schema: cairn_model::histogram::CUSTOM_BUCKETS_SCHEMA,
            count: 4.5,
            sum: 3.0,
            positive_spans: vec![Span {
                offset: 0,
                length: 2,
            }],
            positive_buckets: vec![1.5, 3.0],
            custom_values: Some(Arc::from(&[0.5, 1.0][..])),
            ..Default::default()
        };
        let proto = Histogram::from_sample(42, &h);
        assert!(proto.is_float());
        let back = proto.to_sample();
        assert_eq!(back.t, 42);
        assert_eq!(*back.h, h);
    }
}
