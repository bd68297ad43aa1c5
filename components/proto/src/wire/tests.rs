use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::prometheus::{
    Exemplar, Histogram, Label, MetricMetadata, Sample as WireSample, TimeSeries, WriteRequest,
};

fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries::with_samples(labels, samples)
}

/// The parse of `ts` matches prost's decode of the same bytes, value bits included.
fn assert_same(parsed: WireSeries<'_, '_>, ts: &TimeSeries) {
    // What is on the wire: prost leaves out a -0.0 value, like any default.
    let ts = &TimeSeries::decode(ts.encode_to_vec().as_slice()).unwrap();
    let labels: Vec<(&str, &str)> = ts
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(parsed.labels, labels.as_slice());
    let want: Vec<(i64, u64)> = ts
        .samples
        .iter()
        .map(|s| (s.timestamp, s.value.to_bits()))
        .collect();
    let got: Vec<(i64, u64)> = parsed
        .samples
        .iter()
        .map(|s| (s.t, s.v.to_bits()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(parsed.exemplars, ts.exemplars.len());
    let want: Vec<_> = ts.histograms.iter().map(Histogram::to_sample).collect();
    assert_eq!(parsed.histograms, want.as_slice());
    // NaN is not equal to itself: compare what prost makes of both.
    assert_eq!(
        TimeSeries::decode(parsed.raw).unwrap().encode_to_vec(),
        ts.encode_to_vec()
    );
}

#[test]
fn reads_a_write_request_like_prost_with_its_metadata() {
    let mut with_extras = series(&[("__name__", "up"), ("job", "")], &[(-5, f64::NAN)]);
    with_extras.exemplars.push(Exemplar::default());
    with_extras.histograms.push(Histogram::default());
    with_extras.histograms.push(Histogram::default());
    let req = WriteRequest {
        timeseries: vec![
            series(
                &[("__name__", "up"), ("job", "ünïcode")],
                &[
                    (1, 1.0),
                    (2, 0.0),
                    (i64::MIN, -0.0),
                    (i64::MAX, f64::INFINITY),
                ],
            ),
            with_extras,
            series(&[], &[]),
        ],
        metadata: vec![MetricMetadata {
            r#type: 1,
            metric_family_name: "up".into(),
            help: "is it up".into(),
            ..Default::default()
        }],
    };
    let buf = req.encode_to_vec();
    let batch = WireBatch::parse_write_request(&buf).unwrap();
    assert_eq!(batch.len(), 3);
    for (parsed, ts) in batch.iter().zip(&req.timeseries) {
        assert_same(parsed, ts);
    }
    let meta = batch.metadata();
    assert_eq!(meta.len(), 1);
    assert_eq!(
        (
            meta[0].kind_name(),
            meta[0].family,
            meta[0].help,
            meta[0].unit
        ),
        ("counter", "up", "is it up", "")
    );
    assert_eq!(meta[0].raw, req.metadata[0].encode_to_vec().as_slice());
    assert!(WireBatch::parse_write_request(&[]).unwrap().is_empty());
}

#[test]
fn single_series_are_collected_into_one_batch() {
    let a = series(&[("__name__", "a")], &[(1, 1.0)]).encode_to_vec();
    let b = series(&[("__name__", "b")], &[(2, 2.0), (3, 3.0)]).encode_to_vec();
    let mut batch = WireBatch::default();
    batch.push_series(&a).unwrap();
    // A broken series leaves the batch as it was.
    assert!(batch.push_series(&b[..b.len() - 1]).is_err());
    batch.push_series(&b).unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch.series(0).labels, [("__name__", "a")]);
    assert_eq!(batch.series(1).labels, [("__name__", "b")]);
    assert_eq!(batch.series(1).samples.len(), 2);
    assert_eq!(batch.series(1).raw, b.as_slice());
}

#[test]
fn malformed_bytes_are_errors_with_an_offset() {
    let ts = series(&[("__name__", "up")], &[(1000, 1.0)]);
    let req = WriteRequest {
        timeseries: vec![ts],
        ..Default::default()
    }
    .encode_to_vec();
    // Every strict prefix cuts a field short somewhere.
    for cut in 1..req.len() {
        assert!(
            WireBatch::parse_write_request(&req[..cut]).is_err(),
            "prefix of {cut} bytes"
        );
    }
    // A label value that is not UTF-8.
    let mut bad = series(&[("__name__", "up")], &[]).encode_to_vec();
    let last = bad.len() - 1;
    bad[last] = 0xff;
    let err = WireBatch::default().push_series(&bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("string is not valid UTF-8 at byte {}", last - 1)
    );
    // A sample value sent as a varint.
    let err = WireBatch::default()
        .push_series(&[0x12, 0x02, 0x08, 0x01])
        .unwrap_err();
    assert_eq!(err.to_string(), "field has the wrong wire type at byte 3");
    // Eleven continuation bytes.
    assert!(WireBatch::parse_write_request(&[0xff; 11]).is_err());
    // A group (wire type 3) is not something remote write sends.
    assert!(WireBatch::parse_write_request(&[0x0b]).is_err());
}

#[test]
fn encoded_series_are_what_prost_writes_byte_for_byte() {
    let labels = [("__name__", "x"), ("empty", ""), ("z", "é")];
    let cases: [(i64, f64); 7] = [
        (1_700_000_000_123, 1.5),
        (5, 0.0),
        (-1, -0.0),
        (0, -2.0),
        (-1, f64::NAN),
        (i64::MAX, f64::NEG_INFINITY),
        (i64::MIN, 1e300),
    ];
    for (t, v) in cases {
        let buf = encode_series(&labels, &[Sample::new(t, v)], &[]);
        assert_eq!(
            buf,
            series(&labels, &[(t, v)]).encode_to_vec(),
            "t={t} v={v}"
        );
        let mut batch = WireBatch::default();
        batch.push_series(&buf).unwrap();
        assert_eq!(batch.series(0).labels, labels);
    }
    // Field by field into a WriteRequest, as the load generator writes them.
    let mut body = Vec::new();
    put_label("__name__", "up", &mut body);
    put_sample(1.0, 42, &mut body);
    let mut req = Vec::new();
    put_bytes(TAG_TIMESERIES, &body, &mut req);
    assert_eq!(
        req,
        WriteRequest {
            timeseries: vec![series(&[("__name__", "up")], &[(42, 1.0)])],
            ..Default::default()
        }
        .encode_to_vec()
    );
}

/// `WriteRequest` and `TimeSeries` with just the fields the reader decodes.
#[derive(Clone, PartialEq, prost::Message)]
struct SeriesOnly {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<LabelsAndSamples>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct LabelsAndSamples {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<WireSample>,
}

fn arb_series() -> impl Strategy<Value = TimeSeries> {
    (
        prop::collection::vec((".{0,6}", ".{0,6}"), 0..5),
        prop::collection::vec((any::<i64>(), any::<u64>()), 0..6),
        0..2usize,
        0..2usize,
    )
        .prop_map(|(labels, samples, exemplars, histograms)| TimeSeries {
            labels: labels
                .into_iter()
                .map(|(name, value)| Label { name, value })
                .collect(),
            samples: samples
                .into_iter()
                .map(|(timestamp, bits)| WireSample {
                    value: f64::from_bits(bits),
                    timestamp,
                })
                .collect(),
            exemplars: vec![Exemplar::default(); exemplars],
            histograms: vec![Histogram::default(); histograms],
        })
}

proptest! {
    #[test]
    fn any_write_request_reads_like_prost(tss in prop::collection::vec(arb_series(), 0..5)) {
        let req = WriteRequest { timeseries: tss, ..Default::default() };
        let buf = req.encode_to_vec();
        let batch = WireBatch::parse_write_request(&buf).unwrap();
        prop_assert_eq!(batch.len(), req.timeseries.len());
        for (parsed, ts) in batch.iter().zip(&req.timeseries) {
            assert_same(parsed, ts);
        }
    }

    /// Whatever the reader accepts, prost accepts and reads the same way (prost with
    /// only the fields the reader decodes: metadata, exemplars and histograms are skipped
    /// unread by both).
    #[test]
    fn damaged_bytes_are_never_read_differently(
        ts in arb_series(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut buf = WriteRequest { timeseries: vec![ts], ..Default::default() }.encode_to_vec();
        if buf.is_empty() {
            return Ok(());
        }
        for (at, byte) in flips {
            let i = at.index(buf.len());
            buf[i] = byte;
        }
        if let Ok(batch) = WireBatch::parse_write_request(&buf) {
            let req = SeriesOnly::decode(buf.as_slice()).expect("prost refuses what the reader read");
            prop_assert_eq!(batch.len(), req.timeseries.len());
            for (parsed, ts) in batch.iter().zip(&req.timeseries) {
                let labels: Vec<(&str, &str)> =
                    ts.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
                prop_assert_eq!(parsed.labels, labels.as_slice());
                let samples: Vec<(i64, u64)> =
                    ts.samples.iter().map(|s| (s.timestamp, s.value.to_bits())).collect();
                let got: Vec<(i64, u64)> =
                    parsed.samples.iter().map(|s| (s.t, s.v.to_bits())).collect();
                prop_assert_eq!(got, samples);
            }
        }
    }

    #[test]
    fn encoded_series_round_trip(
        labels in prop::collection::vec((".{0,6}", ".{0,6}"), 0..5),
        samples in prop::collection::vec((any::<i64>(), any::<u64>()), 0..6),
    ) {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let samples: Vec<Sample> = samples.iter().map(|&(t, b)| Sample::new(t, f64::from_bits(b))).collect();
        let buf = encode_series(&labels, &samples, &[]);
        let mut batch = WireBatch::default();
        batch.push_series(&buf).unwrap();
        prop_assert_eq!(batch.series(0).labels, labels.as_slice());
        // -0.0 is a proto3 default like 0.0, left out and read back as 0.0.
        let bits = |v: f64| if v == 0.0 { 0 } else { v.to_bits() };
        let got: Vec<(i64, u64)> = batch.series(0).samples.iter().map(|s| (s.t, s.v.to_bits())).collect();
        let want: Vec<(i64, u64)> = samples.iter().map(|s| (s.t, bits(s.v))).collect();
        prop_assert_eq!(got, want);
        let pairs: Vec<(i64, f64)> = samples.iter().map(|s| (s.t, s.v)).collect();
        prop_assert_eq!(buf, series(&labels, &pairs).encode_to_vec());
    }
}

#[test]
fn native_histograms_are_decoded_and_re_encoded() {
    let h = cairn_model::FloatHistogram {
        schema: 0,
        count: 3.0,
        sum: 4.5,
        zero_count: 1.0,
        positive_spans: vec![cairn_model::histogram::Span {
            offset: 1,
            length: 1,
        }],
        positive_buckets: vec![2.0],
        ..Default::default()
    };
    let sample = HistogramSample::new(7_000, h);
    let buf = encode_series(&[("__name__", "h")], &[], std::slice::from_ref(&sample));
    let mut batch = WireBatch::default();
    batch.push_series(&buf).unwrap();
    assert_eq!(batch.series(0).histograms, [sample]);
    assert!(batch.series(0).samples.is_empty());

    // A histogram that is not a valid message fails the series, naming the offset.
    let mut bad = Vec::new();
    put_label("__name__", "h", &mut bad);
    put_bytes(SERIES_HISTOGRAMS, &[0x0a, 0xff], &mut bad);
    let err = WireBatch::default().push_series(&bad).unwrap_err();
    assert!(
        err.to_string().contains("invalid native histogram"),
        "{err}"
    );
}
