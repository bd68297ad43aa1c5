use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::Bytes;
use cairn_model::validate::wire_labels;
use cairn_model::{HistogramSample, Sample};
use cairn_proto::wire::{encode_series, WireBatch};

/// How many distinct reasons an error message lists.
const MAX_REASONS_IN_MESSAGE: usize = 5;
/// How many example series an error message gives per reason.
const MAX_EXAMPLES_PER_REASON: usize = 3;

/// Refused samples grouped by reason, each with a count and the first few examples, so
/// the client's 400 message names concrete series and causes.
#[derive(Debug, Default)]
pub(crate) struct Rejections {
    by_reason: BTreeMap<String, (u64, Vec<String>)>,
}

impl Rejections {
    pub(crate) fn add(&mut self, reason: &str, samples: u64, example: impl FnOnce() -> String) {
        if samples == 0 {
            return;
        }
        let (n, examples) = self.by_reason.entry(reason.to_owned()).or_default();
        *n += samples;
        if examples.len() < MAX_EXAMPLES_PER_REASON {
            // Replicas report the same refusal; name it once.
            let example = example();
            if !examples.contains(&example) {
                examples.push(example);
            }
        }
    }

    /// The same rejections with every count mapped through `f` (replica de-duplication).
    pub(crate) fn scaled(self, f: impl Fn(u64) -> u64) -> Rejections {
        Rejections {
            by_reason: self
                .by_reason
                .into_iter()
                .map(|(reason, (n, examples))| (reason, (f(n), examples)))
                .collect(),
        }
    }

    pub(crate) fn merge(&mut self, other: Rejections) {
        for (reason, (n, examples)) in other.by_reason {
            let (total, mine) = self.by_reason.entry(reason).or_default();
            *total += n;
            for e in examples {
                if mine.len() < MAX_EXAMPLES_PER_REASON && !mine.contains(&e) {
                    mine.push(e);
                }
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_reason.is_empty()
    }

    pub(crate) fn counts(&self) -> impl Iterator<Item = (&str, u64)> {
        self.by_reason.iter().map(|(r, (n, _))| (r.as_str(), *n))
    }

    pub(crate) fn total(&self) -> u64 {
        self.by_reason.values().map(|(n, _)| n).sum()
    }

    /// One line for the client: totals and an example per reason.
    pub(crate) fn message(&self) -> String {
        let mut msg = format!("{} samples rejected", self.total());
        for (reason, (n, examples)) in self.by_reason.iter().take(MAX_REASONS_IN_MESSAGE) {
            let _ = write!(msg, "; {reason} ({n}): {}", examples.join("; "));
        }
        msg
    }
}

/// Prometheus-style text for labels that may be invalid (so no `Labels` can be built).
pub(crate) fn describe(labels: &[(&str, &str)]) -> String {
    let name = labels
        .iter()
        .find(|(n, _)| *n == cairn_model::METRIC_NAME)
        .map_or("", |(_, v)| *v);
    let rest: Vec<String> = labels
        .iter()
        .filter(|(n, _)| *n != cairn_model::METRIC_NAME)
        .map(|(n, v)| format!("{n}={v:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

/// Sample-time bounds relative to the receiver's clock, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeBounds {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
}

impl TimeBounds {
    fn contains(&self, t: i64) -> bool {
        (self.min_t..=self.max_t).contains(&t)
    }
}

/// A valid series ready to forward to its ingesters.
#[derive(Debug, Clone)]
pub(crate) struct Forward<'b, 'a> {
    /// Its labels, for placement and for messages.
    pub(crate) labels: &'b [(&'a str, &'a str)],
    /// Samples it carries.
    pub(crate) samples: u64,
    /// Its encoded `prometheus.TimeSeries`: the bytes received when the whole series is
    /// valid (no copy), else re-encoded without what was dropped.
    pub(crate) body: Bytes,
}

/// Metric metadata to forward: its family name (for placement) and its encoded
/// `prometheus.MetricMetadata`, a view of the request buffer.
#[derive(Debug, Clone)]
pub(crate) struct ForwardMetadata<'a> {
    pub(crate) family: &'a str,
    pub(crate) body: Bytes,
}

/// The metadata of `batch` (parsed from `raw`) worth keeping: entries with a family name.
pub(crate) fn forward_metadata<'a>(batch: &WireBatch<'a>, raw: &Bytes) -> Vec<ForwardMetadata<'a>> {
    batch
        .metadata()
        .iter()
        .filter(|m| !m.family.is_empty())
        .map(|m| ForwardMetadata {
            family: m.family,
            body: raw.slice_ref(m.raw),
        })
        .collect()
}

/// Drops every series and sample of `batch` (parsed from `raw`) that can never be
/// accepted, recording why, and returns the rest ready to forward.
pub(crate) fn validate<'b, 'a>(
    batch: &'b WireBatch<'a>,
    raw: &Bytes,
    bounds: TimeBounds,
    rejections: &mut Rejections,
) -> Vec<Forward<'b, 'a>> {
    let mut valid = Vec::with_capacity(batch.len());
    for ts in batch.iter() {
        let total = (ts.samples.len() + ts.histograms.len()) as u64;
        if let Err(e) = wire_labels(ts.labels.iter().copied()) {
            rejections.add("invalid_labels", total.max(1), || {
                format!("series {}: {e}", describe(ts.labels))
            });
            continue;
        }
        // One pass: count out-of-window samples, remembering the first of each side.
        let (mut too_old, mut too_new) = ((0u64, None), (0u64, None));
        let times = ts.samples.iter().map(|s| s.t);
        for t in times.chain(ts.histograms.iter().map(|h| h.t)) {
            if bounds.contains(t) {
                continue;
            }
            let side = if t < bounds.min_t {
                &mut too_old
            } else {
                &mut too_new
            };
            side.0 += 1;
            side.1.get_or_insert(t);
        }
        if let (n, Some(t)) = too_old {
            rejections.add("too_old", n, || {
                format!(
                    "series {}: sample timestamp {t} is older than the oldest accepted {}",
                    describe(ts.labels),
                    bounds.min_t
                )
            });
        }
        if let (n, Some(t)) = too_new {
            rejections.add("too_far_in_future", n, || {
                format!(
                    "series {}: sample timestamp {t} is too far in the future (newest accepted {})",
                    describe(ts.labels),
                    bounds.max_t
                )
            });
        }
        let histograms: Vec<&HistogramSample> = ts
            .histograms
            .iter()
            .filter(|h| bounds.contains(h.t))
            .filter(|h| match h.h.validate() {
                Ok(()) => true,
                Err(e) => {
                    rejections.add("invalid_histogram", 1, || {
                        format!(
                            "series {}: native histogram at {}: {e}",
                            describe(ts.labels),
                            h.t
                        )
                    });
                    false
                }
            })
            .collect();
        let in_window = |s: &&Sample| bounds.contains(s.t);
        let kept_floats = ts.samples.iter().filter(in_window).count();
        let kept = (kept_floats + histograms.len()) as u64;
        if kept == 0 {
            continue;
        }
        // The usual case forwards the received bytes; exemplars in them are skipped
        // by the ingester.
        let body = if kept == total {
            raw.slice_ref(ts.raw)
        } else {
            let samples: Vec<Sample> = ts.samples.iter().filter(in_window).copied().collect();
            let histograms: Vec<HistogramSample> = histograms.into_iter().cloned().collect();
            Bytes::from(encode_series(ts.labels, &samples, &histograms))
        };
        valid.push(Forward {
            labels: ts.labels,
            samples: kept,
            body,
        });
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::prometheus::{TimeSeries, WriteRequest};
    use prost::Message;

    fn ts(labels: &[(&str, &str)], times: &[i64]) -> TimeSeries {
        let samples: Vec<(i64, f64)> = times.iter().map(|&t| (t, 1.0)).collect();
        TimeSeries::with_samples(labels, &samples)
    }

    #[test]
    fn drops_bad_series_and_out_of_window_samples_and_names_them() {
        let req = WriteRequest {
            timeseries: vec![
                ts(&[("__name__", "up"), ("job", "a")], &[50, 100, 200, 300]),
                ts(&[("job", "a"), ("__name__", "up")], &[100]),
                ts(&[("__name__", "bad-name")], &[100]),
                ts(&[], &[100]),
            ],
            ..Default::default()
        };
        let raw = Bytes::from(req.encode_to_vec());
        let batch = WireBatch::parse_write_request(&raw).unwrap();
        let mut rej = Rejections::default();
        let valid = validate(
            &batch,
            &raw,
            TimeBounds {
                min_t: 100,
                max_t: 200,
            },
            &mut rej,
        );
        assert_eq!(valid.len(), 1);
        assert_eq!(valid[0].samples, 2);
        // The trimmed series is re-encoded with what is left.
        let sent = TimeSeries::decode(valid[0].body.clone()).unwrap();
        let times: Vec<i64> = sent.samples.iter().map(|s| s.timestamp).collect();
        assert_eq!(times, [100, 200]);
        assert_eq!(sent.labels, req.timeseries[0].labels);
        let counts: Vec<(&str, u64)> = rej.counts().collect();
        assert_eq!(
            counts,
            [
                ("invalid_labels", 3),
                ("too_far_in_future", 1),
                ("too_old", 1)
            ]
        );
        let msg = rej.message();
        assert!(msg.starts_with("5 samples rejected"), "{msg}");
        assert!(
            msg.contains(r#"up{job="a"}: sample timestamp 50 is older"#),
            "{msg}"
        );
        assert!(msg.contains("not sorted"), "{msg}");
    }

    #[test]
    fn valid_series_are_forwarded_as_the_bytes_received() {
        let hist = |t: i64, bucket: f64| {
            let h = cairn_model::FloatHistogram {
                count: bucket.max(0.0),
                positive_spans: vec![cairn_model::histogram::Span {
                    offset: 0,
                    length: 1,
                }],
                positive_buckets: vec![bucket],
                ..Default::default()
            };
            cairn_proto::prometheus::Histogram::from_sample(t, &h)
        };
        let mut histograms = ts(&[("__name__", "h")], &[150]);
        histograms.histograms.push(hist(160, 2.0));
        let mut mixed = ts(&[("__name__", "m")], &[150]);
        mixed.histograms = vec![hist(160, 1.0), hist(170, -1.0), hist(2000, 1.0)];
        let req = WriteRequest {
            timeseries: vec![ts(&[("__name__", "up")], &[100, 150]), histograms, mixed],
            ..Default::default()
        };
        let raw = Bytes::from(req.encode_to_vec());
        let batch = WireBatch::parse_write_request(&raw).unwrap();
        let mut rej = Rejections::default();
        let bounds = TimeBounds {
            min_t: 0,
            max_t: 1000,
        };
        let valid = validate(&batch, &raw, bounds, &mut rej);
        assert_eq!(valid.len(), 3);
        for (v, ts) in valid.iter().zip(&req.timeseries).take(2) {
            assert_eq!(v.body, ts.encode_to_vec());
            assert!(
                raw.as_ptr_range().contains(&v.body.as_ptr()),
                "a view of the request, not a copy"
            );
        }
        assert_eq!(valid[1].samples, 2);
        // The histogram with a negative bucket and the one from the future are left
        // out of what is forwarded; the rest of the series goes on.
        let sent = TimeSeries::decode(valid[2].body.clone()).unwrap();
        assert_eq!(sent.samples.len(), 1);
        assert_eq!(sent.histograms, [hist(160, 1.0)]);
        assert_eq!(valid[2].samples, 2);
        assert_eq!(
            rej.counts().collect::<Vec<_>>(),
            [("invalid_histogram", 1), ("too_far_in_future", 1)]
        );
        assert!(rej.message().contains("negative"), "{}", rej.message());
    }
}
