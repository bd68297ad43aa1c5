use std::collections::BTreeMap;
use std::fmt::Write as _;

use cairn_model::validate::wire_labels;
use cairn_proto::prometheus::{Label, TimeSeries, WriteRequest};

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
pub(crate) fn describe(labels: &[Label]) -> String {
    let name = labels
        .iter()
        .find(|l| l.name == cairn_model::METRIC_NAME)
        .map_or("", |l| l.value.as_str());
    let rest: Vec<String> = labels
        .iter()
        .filter(|l| l.name != cairn_model::METRIC_NAME)
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

/// Sample-time bounds relative to the receiver's clock, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeBounds {
    pub(crate) min_t: i64,
    pub(crate) max_t: i64,
}

/// Drops every series and sample that can never be accepted, recording why, and returns
/// the rest ready to forward.
pub(crate) fn validate(
    req: WriteRequest,
    bounds: TimeBounds,
    rejections: &mut Rejections,
) -> Vec<TimeSeries> {
    let mut valid = Vec::with_capacity(req.timeseries.len());
    for mut ts in req.timeseries {
        let total = (ts.samples.len() + ts.histograms.len()) as u64;
        if let Err(e) = wire_labels(
            ts.labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str())),
        ) {
            rejections.add("invalid_labels", total.max(1), || {
                format!("series {}: {e}", describe(&ts.labels))
            });
            continue;
        }
        if !ts.histograms.is_empty() {
            rejections.add(
                "native_histograms_unsupported",
                ts.histograms.len() as u64,
                || {
                    format!(
                        "series {}: native histogram samples are not supported yet",
                        describe(&ts.labels)
                    )
                },
            );
            ts.histograms.clear();
        }
        // One pass: drop out-of-window samples, remembering how many and the first of each.
        let (mut too_old, mut too_new) = ((0u64, None), (0u64, None));
        ts.samples.retain(|s| {
            let side = if s.timestamp < bounds.min_t {
                &mut too_old
            } else if s.timestamp > bounds.max_t {
                &mut too_new
            } else {
                return true;
            };
            side.0 += 1;
            side.1.get_or_insert(s.timestamp);
            false
        });
        if let (n, Some(t)) = too_old {
            rejections.add("too_old", n, || {
                format!(
                    "series {}: sample timestamp {t} is older than the oldest accepted {}",
                    describe(&ts.labels),
                    bounds.min_t
                )
            });
        }
        if let (n, Some(t)) = too_new {
            rejections.add("too_far_in_future", n, || {
                format!(
                    "series {}: sample timestamp {t} is too far in the future (newest accepted {})",
                    describe(&ts.labels),
                    bounds.max_t
                )
            });
        }
        ts.exemplars.clear();
        if !ts.samples.is_empty() {
            valid.push(ts);
        }
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::prometheus::Sample;

    fn ts(labels: &[(&str, &str)], times: &[i64]) -> TimeSeries {
        TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| Label {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            samples: times
                .iter()
                .map(|&t| Sample {
                    value: 1.0,
                    timestamp: t,
                })
                .collect(),
            ..Default::default()
        }
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
        let mut rej = Rejections::default();
        let valid = validate(
            req,
            TimeBounds {
                min_t: 100,
                max_t: 200,
            },
            &mut rej,
        );
        assert_eq!(valid.len(), 1);
        let times: Vec<i64> = valid[0].samples.iter().map(|s| s.timestamp).collect();
        assert_eq!(times, [100, 200]);
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
}
