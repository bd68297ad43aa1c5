//! Encoding of WAL record payloads (the bytes inside a frame). See the module doc of
//! [`crate::wal`] for the layout.

use std::sync::Arc;

use cairn_chunk::varint::{put_bytes, put_uvarint, put_varint, read_uvarint, read_varint};
use cairn_chunk::FloatHistogramChunk;
use cairn_model::histogram::CounterResetHint;
use cairn_model::{FloatHistogram, Label, Labels};

/// Payload type byte of a series record.
const TYPE_SERIES: u8 = 1;
/// Payload type byte of a samples record.
const TYPE_SAMPLES: u8 = 2;
/// Payload type byte of a native histograms record.
const TYPE_HISTOGRAMS: u8 = 3;
/// Set in the type byte when the rest of the payload is snappy-compressed (block format).
const COMPRESSED: u8 = 0x80;
/// Payloads shorter than this are written as they are: snappy cannot win much there.
const MIN_COMPRESS_LEN: usize = 128;

/// One series definition: the head-local reference and the labels it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefSeries {
    /// Head-local series reference, unique for the life of the WAL.
    pub series_ref: u64,
    /// The series' labels.
    pub labels: Labels,
}

/// One sample of the series with reference `series_ref`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    /// The series reference from an earlier [`RefSeries`].
    pub series_ref: u64,
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value (any bit pattern, including NaNs and the staleness marker).
    pub v: f64,
}

/// One native histogram sample of the series with reference `series_ref`.
#[derive(Debug, Clone, PartialEq)]
pub struct RefHistogram {
    /// The series reference from an earlier [`RefSeries`].
    pub series_ref: u64,
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The histogram, counter-reset hint included.
    pub h: Arc<FloatHistogram>,
}

/// A decoded WAL record.
#[derive(Debug, Clone, PartialEq)]
pub enum WalRecord {
    /// New series and their references.
    Series(Vec<RefSeries>),
    /// A batch of samples for series defined earlier in the log.
    Samples(Vec<RefSample>),
    /// A batch of native histogram samples for series defined earlier in the log.
    Histograms(Vec<RefHistogram>),
}

impl WalRecord {
    /// Appends the payload (type byte and body) to `buf`.
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        match self {
            Self::Series(series) => {
                buf.push(TYPE_SERIES);
                put_uvarint(buf, series.len() as u64);
                for s in series {
                    put_uvarint(buf, s.series_ref);
                    put_uvarint(buf, s.labels.len() as u64);
                    for l in &s.labels {
                        put_bytes(buf, l.name.as_bytes());
                        put_bytes(buf, l.value.as_bytes());
                    }
                }
            }
            Self::Samples(samples) => {
                buf.push(TYPE_SAMPLES);
                put_uvarint(buf, samples.len() as u64);
                let (mut prev_ref, mut prev_t) = (0u64, 0i64);
                for s in samples {
                    put_varint(buf, s.series_ref.wrapping_sub(prev_ref) as i64);
                    put_varint(buf, s.t.wrapping_sub(prev_t));
                    buf.extend_from_slice(&s.v.to_bits().to_le_bytes());
                    (prev_ref, prev_t) = (s.series_ref, s.t);
                }
            }
            Self::Histograms(histograms) => {
                buf.push(TYPE_HISTOGRAMS);
                put_uvarint(buf, histograms.len() as u64);
                let mut prev_ref = 0u64;
                for h in histograms {
                    put_varint(buf, h.series_ref.wrapping_sub(prev_ref) as i64);
                    // The hint byte, then a one-sample float histogram chunk with the
                    // timestamp and the histogram (decoding a chunk's first sample
                    // gives an unknown hint, so the hint is kept apart).
                    buf.push(hint_byte(h.h.counter_reset_hint));
                    let mut chunk = FloatHistogramChunk::new();
                    let appended = chunk.append(h.t, &h.h);
                    debug_assert!(appended, "an empty chunk takes any histogram");
                    put_bytes(buf, chunk.bytes());
                    prev_ref = h.series_ref;
                }
            }
        }
    }

    /// Like [`encode`](Self::encode), then snappy-compresses the body when that makes
    /// the payload smaller (type byte | `COMPRESSED`). Values and timestamps of
    /// neighbouring samples repeat bytes a lot, so samples records shrink to about half.
    pub(crate) fn encode_compressed(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        self.encode(buf);
        let body = &buf[start + 1..];
        if body.len() < MIN_COMPRESS_LEN {
            return;
        }
        let Ok(compressed) = snap::raw::Encoder::new().compress_vec(body) else {
            return;
        };
        if compressed.len() < body.len() {
            buf[start] |= COMPRESSED;
            buf.truncate(start + 1);
            buf.extend_from_slice(&compressed);
        }
    }

    /// Decodes a payload produced by [`WalRecord::encode`] or
    /// [`encode_compressed`](Self::encode_compressed); the error says what is wrong.
    pub(crate) fn decode(payload: &[u8]) -> Result<Self, &'static str> {
        let (&ty, body) = payload.split_first().ok_or("empty payload")?;
        if ty & COMPRESSED == 0 {
            return Self::decode_plain(ty, body);
        }
        let len = snap::raw::decompress_len(body).map_err(|_| "invalid snappy header")?;
        if len > super::MAX_RECORD_LEN {
            return Err("compressed record too large");
        }
        let plain = snap::raw::Decoder::new()
            .decompress_vec(body)
            .map_err(|_| "invalid snappy data")?;
        Self::decode_plain(ty & !COMPRESSED, &plain)
    }

    fn decode_plain(ty: u8, body: &[u8]) -> Result<Self, &'static str> {
        let mut d = Decoder(body);
        let rec = match ty {
            TYPE_SERIES => {
                let n = d.len_hint(2)?;
                let mut series = Vec::with_capacity(n);
                for _ in 0..n {
                    let series_ref = d.uvarint()?;
                    let nl = d.len_hint(2)?;
                    let mut labels = Vec::with_capacity(nl);
                    for _ in 0..nl {
                        let name = d.string()?;
                        let value = d.string()?;
                        labels.push(Label { name, value });
                    }
                    if !labels.windows(2).all(|w| w[0].name < w[1].name) {
                        return Err("series labels are not sorted and unique");
                    }
                    series.push(RefSeries {
                        series_ref,
                        labels: Labels::from_sorted(labels),
                    });
                }
                Self::Series(series)
            }
            TYPE_SAMPLES => {
                let n = d.len_hint(10)?;
                let mut samples = Vec::with_capacity(n);
                let (mut prev_ref, mut prev_t) = (0u64, 0i64);
                for _ in 0..n {
                    let series_ref = prev_ref.wrapping_add(d.varint()? as u64);
                    let t = prev_t.wrapping_add(d.varint()?);
                    let v = f64::from_bits(d.u64_le()?);
                    samples.push(RefSample { series_ref, t, v });
                    (prev_ref, prev_t) = (series_ref, t);
                }
                Self::Samples(samples)
            }
            TYPE_HISTOGRAMS => {
                let n = d.len_hint(4)?;
                let mut histograms = Vec::with_capacity(n);
                let mut prev_ref = 0u64;
                for _ in 0..n {
                    let series_ref = prev_ref.wrapping_add(d.varint()? as u64);
                    let hint = hint_from_byte(d.u8()?)?;
                    let bytes = d.bytes()?;
                    let mut decoded = cairn_chunk::decode_float_histograms(bytes)
                        .map_err(|_| "invalid native histogram")?;
                    if decoded.len() != 1 {
                        return Err("native histogram entry holds other than one sample");
                    }
                    let (t, mut h) = decoded.remove(0);
                    h.counter_reset_hint = hint;
                    histograms.push(RefHistogram {
                        series_ref,
                        t,
                        h: Arc::new(h),
                    });
                    prev_ref = series_ref;
                }
                Self::Histograms(histograms)
            }
            _ => return Err("unknown record type"),
        };
        if !d.0.is_empty() {
            return Err("trailing bytes after record");
        }
        Ok(rec)
    }
}

fn hint_byte(hint: CounterResetHint) -> u8 {
    match hint {
        CounterResetHint::Unknown => 0,
        CounterResetHint::CounterReset => 1,
        CounterResetHint::NotCounterReset => 2,
        CounterResetHint::Gauge => 3,
    }
}

fn hint_from_byte(b: u8) -> Result<CounterResetHint, &'static str> {
    Ok(match b {
        0 => CounterResetHint::Unknown,
        1 => CounterResetHint::CounterReset,
        2 => CounterResetHint::NotCounterReset,
        3 => CounterResetHint::Gauge,
        _ => return Err("unknown counter reset hint"),
    })
}

/// A cursor over a payload body; every read checks bounds.
struct Decoder<'a>(&'a [u8]);

impl Decoder<'_> {
    fn uvarint(&mut self) -> Result<u64, &'static str> {
        read_uvarint(&mut self.0)
    }

    fn varint(&mut self) -> Result<i64, &'static str> {
        read_varint(&mut self.0)
    }

    /// A count of items each at least `min_item_len` bytes long, checked against the
    /// remaining bytes so a corrupt count cannot trigger a huge allocation.
    fn len_hint(&mut self, min_item_len: usize) -> Result<usize, &'static str> {
        let n = self.uvarint()?;
        if n > (self.0.len() / min_item_len) as u64 {
            return Err("item count exceeds record size");
        }
        Ok(n as usize)
    }

    fn u64_le(&mut self) -> Result<u64, &'static str> {
        let (head, rest) = self
            .0
            .split_first_chunk::<8>()
            .ok_or("truncated sample value")?;
        self.0 = rest;
        Ok(u64::from_le_bytes(*head))
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        let (&b, rest) = self.0.split_first().ok_or("truncated record")?;
        self.0 = rest;
        Ok(b)
    }

    fn bytes(&mut self) -> Result<&[u8], &'static str> {
        let n = self.uvarint()?;
        if n > self.0.len() as u64 {
            return Err("length extends past end of record");
        }
        let (s, rest) = self.0.split_at(n as usize);
        self.0 = rest;
        Ok(s)
    }

    fn string(&mut self) -> Result<String, &'static str> {
        let s = self.bytes()?;
        String::from_utf8(s.to_vec()).map_err(|_| "label is not valid utf-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_the_edges() {
        for x in [0, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 1_700_000_000_000] {
            let mut buf = Vec::new();
            put_varint(&mut buf, x);
            let mut d = Decoder(&buf);
            assert_eq!(d.varint(), Ok(x));
            assert!(d.0.is_empty());
        }
        let mut buf = Vec::new();
        put_uvarint(&mut buf, u64::MAX);
        assert_eq!(buf.len(), 10);
        assert_eq!(Decoder(&buf).uvarint(), Ok(u64::MAX));
        assert!(Decoder(&[0xff; 10]).uvarint().is_err());
        assert!(Decoder(&[0x80]).uvarint().is_err());
    }

    #[test]
    fn records_round_trip() {
        let recs = [
            WalRecord::Series(vec![
                RefSeries {
                    series_ref: 1,
                    labels: Labels::from_pairs([("__name__", "up"), ("job", "a")]),
                },
                RefSeries {
                    series_ref: u64::MAX,
                    labels: Labels::empty(),
                },
            ]),
            WalRecord::Samples(vec![
                RefSample {
                    series_ref: 7,
                    t: 1000,
                    v: 1.5,
                },
                RefSample {
                    series_ref: 2,
                    t: -5,
                    v: f64::NAN,
                },
                RefSample {
                    series_ref: u64::MAX,
                    t: i64::MAX,
                    v: cairn_model::STALE_NAN,
                },
                RefSample {
                    series_ref: 0,
                    t: i64::MIN,
                    v: -0.0,
                },
            ]),
            WalRecord::Samples(vec![]),
        ];
        for rec in recs {
            let mut buf = Vec::new();
            rec.encode(&mut buf);
            let back = WalRecord::decode(&buf).unwrap();
            // Compare via re-encoding so NaN payloads are compared bit for bit.
            let mut again = Vec::new();
            back.encode(&mut again);
            assert_eq!(buf, again);
        }
    }

    #[test]
    fn malformed_payloads_are_rejected_not_panicking() {
        let mut buf = Vec::new();
        WalRecord::Samples(vec![RefSample {
            series_ref: 1,
            t: 2,
            v: 3.0,
        }])
        .encode(&mut buf);
        for cut in 0..buf.len() {
            assert!(WalRecord::decode(&buf[..cut]).is_err(), "cut at {cut}");
        }
        assert!(WalRecord::decode(&[9]).is_err());
        assert!(WalRecord::decode(&[TYPE_SERIES, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }

    #[test]
    fn large_records_are_compressed_and_both_forms_decode() {
        let samples: Vec<RefSample> = (0..500u64)
            .map(|i| RefSample {
                series_ref: i % 50,
                t: 1_700_000_000_000 + (i as i64 / 50) * 15_000,
                v: (i % 7) as f64,
            })
            .collect();
        let series: Vec<RefSeries> = (0..20u64)
            .map(|i| RefSeries {
                series_ref: i,
                labels: Labels::from_pairs([
                    ("__name__", "http_requests_total".to_owned()),
                    ("instance", format!("host-{i}:9100")),
                    ("job", "node".to_owned()),
                ]),
            })
            .collect();
        for rec in [WalRecord::Samples(samples), WalRecord::Series(series)] {
            let (mut plain, mut compressed) = (Vec::new(), Vec::new());
            rec.encode(&mut plain);
            rec.encode_compressed(&mut compressed);
            assert_eq!(compressed[0], plain[0] | COMPRESSED);
            assert!(
                compressed.len() * 2 < plain.len(),
                "{} → {} bytes",
                plain.len(),
                compressed.len()
            );
            assert_eq!(WalRecord::decode(&plain).unwrap(), rec);
            assert_eq!(WalRecord::decode(&compressed).unwrap(), rec);
            // Damage inside the compressed body is an error, never a wrong record.
            let mut bad = compressed.clone();
            let mid = bad.len() / 2;
            bad.truncate(mid);
            assert!(WalRecord::decode(&bad).is_err());
        }
        // A small record stays as it is.
        let small = WalRecord::Samples(vec![RefSample {
            series_ref: 1,
            t: 5,
            v: 1.0,
        }]);
        let mut buf = Vec::new();
        small.encode_compressed(&mut buf);
        assert_eq!(buf[0], TYPE_SAMPLES);
        assert_eq!(WalRecord::decode(&buf).unwrap(), small);
    }

    #[test]
    fn histogram_records_keep_histograms_and_hints() {
        use cairn_model::histogram::Span;
        let h = |hint, n: f64| {
            Arc::new(FloatHistogram {
                counter_reset_hint: hint,
                schema: 3,
                count: 2.0 * n,
                sum: -n,
                positive_spans: vec![Span {
                    offset: -3,
                    length: 2,
                }],
                positive_buckets: vec![n, n],
                ..FloatHistogram::default()
            })
        };
        let rec = WalRecord::Histograms(
            [
                CounterResetHint::Unknown,
                CounterResetHint::CounterReset,
                CounterResetHint::NotCounterReset,
                CounterResetHint::Gauge,
            ]
            .into_iter()
            .enumerate()
            .map(|(i, hint)| RefHistogram {
                series_ref: 7 - i as u64,
                t: 1_000 * i as i64 - 500,
                h: h(hint, i as f64),
            })
            .collect(),
        );
        for compressed in [false, true] {
            let mut buf = Vec::new();
            if compressed {
                rec.encode_compressed(&mut buf);
            } else {
                rec.encode(&mut buf);
            }
            assert_eq!(WalRecord::decode(&buf).unwrap(), rec);
            for cut in 1..buf.len() {
                assert!(WalRecord::decode(&buf[..cut]).is_err(), "cut at {cut}");
            }
        }
    }
}
