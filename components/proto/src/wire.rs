//! A zero-copy reader of remote-write `prometheus.TimeSeries` for the write path.
//!
//! prost decodes a `WriteRequest` into owned `String`s — two allocations per label, one
//! vector per series — which the write path then only hashes, validates and compares
//! with the head's series before dropping them again. This reader leaves the strings in
//! the request buffer and collects every series of a request into three shared vectors,
//! so a request costs a handful of allocations however many series it holds:
//!
//! ```text
//!  WriteRequest bytes ──parse_write_request──▶ WireBatch ─┬─ series(i).labels  → &str pairs into the buffer
//!  (or one TimeSeries ──parse_series────────▶ per push)   ├─ series(i).samples → model Samples
//!                                                          └─ series(i).raw     → the TimeSeries' own bytes,
//!                                                                                  forwarded to ingesters as is
//! ```
//!
//! It reads exactly the protobuf wire format prost writes and accepts what prost accepts
//! for these messages (fields in any order, unknown fields skipped, repeated scalars of
//! a message last-wins); strings must be UTF-8, as prost requires. Native histograms are
//! rare next to float samples and are decoded with prost into model
//! [`HistogramSample`]s; exemplars are counted, not decoded: the write path drops them.
//! Metric metadata is read the same way ([`WireMetadata`]).
//! [`encode_series`] (from [`put_label`] and [`put_sample`], which the load generator
//! uses too) writes the other direction, byte for byte as prost does.

use std::ops::Range;

use cairn_model::{HistogramSample, Sample};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};

/// Why bytes are not a valid remote-write message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {offset}")]
pub struct WireError {
    what: &'static str,
    offset: usize,
}

/// Protobuf wire types this reader meets, as the key's low three bits.
const VARINT: u8 = WireType::Varint as u8;
const FIXED64: u8 = WireType::SixtyFourBit as u8;
const LEN: u8 = WireType::LengthDelimited as u8;
const FIXED32: u8 = WireType::ThirtyTwoBit as u8;

/// A cursor over one message's bytes, with offsets relative to the whole buffer so
/// errors point at the byte where decoding failed.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], range: Range<usize>) -> Self {
        Self {
            buf,
            pos: range.start,
            end: range.end,
        }
    }

    fn fail<T>(&self, what: &'static str) -> Result<T, WireError> {
        Err(WireError {
            what,
            offset: self.pos,
        })
    }

    fn done(&self) -> bool {
        self.pos >= self.end
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf[..self.end].get(self.pos) else {
                return self.fail("truncated varint");
            };
            self.pos += 1;
            // The tenth byte may only carry the top bit of a 64-bit value.
            if i == 9 && b > 1 {
                return self.fail("varint overflows 64 bits");
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        self.fail("varint overflows 64 bits")
    }

    /// The next field's number and wire type.
    fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return self.fail("invalid field number");
        }
        Ok((field as u32, (key & 7) as u8))
    }

    fn fixed64(&mut self) -> Result<u64, WireError> {
        let Some(bytes) = self.buf[..self.end].get(self.pos..self.pos + 8) else {
            return self.fail("truncated fixed64");
        };
        self.pos += 8;
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(b))
    }

    /// A length-delimited field's byte range.
    fn len_delimited(&mut self) -> Result<Range<usize>, WireError> {
        let len = self.varint()?;
        let start = self.pos;
        match usize::try_from(len).ok().and_then(|l| start.checked_add(l)) {
            Some(end) if end <= self.end => {
                self.pos = end;
                Ok(start..end)
            }
            _ => self.fail("length-delimited field runs past its message"),
        }
    }

    fn string(&mut self) -> Result<&'a str, WireError> {
        let range = self.len_delimited()?;
        let offset = range.start;
        std::str::from_utf8(&self.buf[range]).map_err(|_| WireError {
            what: "string is not valid UTF-8",
            offset,
        })
    }

    /// Skips a field of a type this reader does not decode.
    fn skip(&mut self, wire_type: u8) -> Result<(), WireError> {
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.fixed64().map(drop),
            LEN => self.len_delimited().map(drop),
            FIXED32 => {
                if self.end - self.pos < 4 {
                    return self.fail("truncated fixed32");
                }
                self.pos += 4;
                Ok(())
            }
            _ => self.fail("unsupported wire type"),
        }
    }

    /// Reads `expected`'s field body, or fails when the wire type does not match.
    fn expect(&mut self, wire_type: u8, expected: u8) -> Result<(), WireError> {
        if wire_type == expected {
            Ok(())
        } else {
            self.fail("field has the wrong wire type")
        }
    }
}

/// Where one series lives in a [`WireBatch`].
#[derive(Debug, Clone)]
struct SeriesSpan<'a> {
    labels: Range<usize>,
    samples: Range<usize>,
    histograms: Range<usize>,
    exemplars: usize,
    raw: &'a [u8],
}

/// The series of one request, their strings borrowed from its buffer(s).
#[derive(Debug, Default)]
pub struct WireBatch<'a> {
    labels: Vec<(&'a str, &'a str)>,
    samples: Vec<Sample>,
    histograms: Vec<HistogramSample>,
    series: Vec<SeriesSpan<'a>>,
    metadata: Vec<WireMetadata<'a>>,
}

/// One `prometheus.MetricMetadata` of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireMetadata<'a> {
    /// The `MetricType` enum value (0 unknown, 1 counter, 2 gauge, 3 histogram,
    /// 4 gaugehistogram, 5 summary, 6 info, 7 stateset).
    pub kind: i32,
    /// The metric family name.
    pub family: &'a str,
    /// The help text.
    pub help: &'a str,
    /// The unit.
    pub unit: &'a str,
    /// The encoded message, without its tag and length.
    pub raw: &'a [u8],
}

impl<'a> WireMetadata<'a> {
    /// Reads one encoded `prometheus.MetricMetadata` (a message body).
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        Self::parse_in(buf, 0..buf.len())
    }

    fn parse_in(buf: &'a [u8], range: Range<usize>) -> Result<Self, WireError> {
        let mut m = WireMetadata {
            kind: 0,
            family: "",
            help: "",
            unit: "",
            raw: &buf[range.clone()],
        };
        let mut r = Reader::new(buf, range);
        while !r.done() {
            let (field, wire_type) = r.key()?;
            match field {
                1 => {
                    r.expect(wire_type, VARINT)?;
                    // An enum is an int32 on the wire, sign-extended to 64 bits.
                    m.kind = r.varint()? as i32;
                }
                2 | 4 | 5 => {
                    r.expect(wire_type, LEN)?;
                    let s = r.string()?;
                    match field {
                        2 => m.family = s,
                        4 => m.help = s,
                        _ => m.unit = s,
                    }
                }
                _ => r.skip(wire_type)?,
            }
        }
        Ok(m)
    }

    /// The type's name as Prometheus's HTTP API spells it.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            1 => "counter",
            2 => "gauge",
            3 => "histogram",
            4 => "gaugehistogram",
            5 => "summary",
            6 => "info",
            7 => "stateset",
            _ => "unknown",
        }
    }
}

/// One series of a [`WireBatch`].
#[derive(Debug, Clone, Copy)]
pub struct WireSeries<'b, 'a> {
    /// `(name, value)` pairs in the order sent (not yet validated).
    pub labels: &'b [(&'a str, &'a str)],
    /// Float samples in the order sent.
    pub samples: &'b [Sample],
    /// Native histogram samples in the order sent (not yet validated).
    pub histograms: &'b [HistogramSample],
    /// Exemplars sent with the series (skipped, not decoded).
    pub exemplars: usize,
    /// The series' encoded `TimeSeries` message, without its tag and length.
    pub raw: &'a [u8],
}

/// `WriteRequest` field numbers (remote write 1.0).
const WRITE_REQUEST_TIMESERIES: u32 = 1;
const WRITE_REQUEST_METADATA: u32 = 3;
/// `TimeSeries` field numbers.
const SERIES_LABELS: u32 = 1;
const SERIES_SAMPLES: u32 = 2;
const SERIES_EXEMPLARS: u32 = 3;
const SERIES_HISTOGRAMS: u32 = 4;

impl<'a> WireBatch<'a> {
    /// The series and metric metadata of an encoded `prometheus.WriteRequest`.
    pub fn parse_write_request(buf: &'a [u8]) -> Result<Self, WireError> {
        let mut batch = Self::default();
        let mut r = Reader::new(buf, 0..buf.len());
        while !r.done() {
            let (field, wire_type) = r.key()?;
            match field {
                WRITE_REQUEST_TIMESERIES => {
                    r.expect(wire_type, LEN)?;
                    let range = r.len_delimited()?;
                    batch.parse_series(buf, range)?;
                }
                WRITE_REQUEST_METADATA => {
                    r.expect(wire_type, LEN)?;
                    let range = r.len_delimited()?;
                    batch.metadata.push(WireMetadata::parse_in(buf, range)?);
                }
                _ => r.skip(wire_type)?,
            }
        }
        Ok(batch)
    }

    /// The metric metadata of the request, in request order.
    pub fn metadata(&self) -> &[WireMetadata<'a>] {
        &self.metadata
    }

    /// Adds one encoded `prometheus.TimeSeries` (a message body, no tag or length).
    pub fn push_series(&mut self, buf: &'a [u8]) -> Result<(), WireError> {
        self.parse_series(buf, 0..buf.len())
    }

    fn parse_series(&mut self, buf: &'a [u8], range: Range<usize>) -> Result<(), WireError> {
        let (labels_from, samples_from) = (self.labels.len(), self.samples.len());
        let histograms_from = self.histograms.len();
        let mut exemplars = 0;
        let mut r = Reader::new(buf, range.clone());
        let result = (|| {
            while !r.done() {
                let (field, wire_type) = r.key()?;
                match field {
                    SERIES_LABELS => {
                        r.expect(wire_type, LEN)?;
                        let body = r.len_delimited()?;
                        self.labels.push(parse_label(buf, body)?);
                    }
                    SERIES_SAMPLES => {
                        r.expect(wire_type, LEN)?;
                        let body = r.len_delimited()?;
                        self.samples.push(parse_sample(buf, body)?);
                    }
                    SERIES_HISTOGRAMS => {
                        r.expect(wire_type, LEN)?;
                        let body = r.len_delimited()?;
                        let h = <crate::prometheus::Histogram as prost::Message>::decode(
                            &buf[body.clone()],
                        )
                        .or_else(|_| Reader::new(buf, body).fail("invalid native histogram"))?;
                        self.histograms.push(h.to_sample());
                    }
                    SERIES_EXEMPLARS => {
                        r.expect(wire_type, LEN)?;
                        r.len_delimited()?;
                        exemplars += 1;
                    }
                    _ => r.skip(wire_type)?,
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            // Leave the batch as it was: a caller may report the error and go on.
            self.labels.truncate(labels_from);
            self.samples.truncate(samples_from);
            self.histograms.truncate(histograms_from);
            return Err(e);
        }
        self.series.push(SeriesSpan {
            labels: labels_from..self.labels.len(),
            samples: samples_from..self.samples.len(),
            histograms: histograms_from..self.histograms.len(),
            exemplars,
            raw: &buf[range],
        });
        Ok(())
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether the batch has no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Series `i`, in request order.
    pub fn series(&self, i: usize) -> WireSeries<'_, 'a> {
        let span = &self.series[i];
        WireSeries {
            labels: &self.labels[span.labels.clone()],
            samples: &self.samples[span.samples.clone()],
            histograms: &self.histograms[span.histograms.clone()],
            exemplars: span.exemplars,
            raw: span.raw,
        }
    }

    /// Every series, in request order.
    pub fn iter(&self) -> impl Iterator<Item = WireSeries<'_, 'a>> + '_ {
        (0..self.len()).map(|i| self.series(i))
    }
}

fn parse_label(buf: &[u8], range: Range<usize>) -> Result<(&str, &str), WireError> {
    let (mut name, mut value) = ("", "");
    let mut r = Reader::new(buf, range);
    while !r.done() {
        let (field, wire_type) = r.key()?;
        match field {
            1 => {
                r.expect(wire_type, LEN)?;
                name = r.string()?;
            }
            2 => {
                r.expect(wire_type, LEN)?;
                value = r.string()?;
            }
            _ => r.skip(wire_type)?,
        }
    }
    Ok((name, value))
}

fn parse_sample(buf: &[u8], range: Range<usize>) -> Result<Sample, WireError> {
    let (mut v, mut t) = (0.0, 0i64);
    let mut r = Reader::new(buf, range);
    while !r.done() {
        let (field, wire_type) = r.key()?;
        match field {
            1 => {
                r.expect(wire_type, FIXED64)?;
                v = f64::from_bits(r.fixed64()?);
            }
            2 => {
                r.expect(wire_type, VARINT)?;
                // int64 on the wire: two's complement in a 64-bit varint.
                t = r.varint()? as i64;
            }
            _ => r.skip(wire_type)?,
        }
    }
    Ok(Sample::new(t, v))
}

/// Tag of `WriteRequest.timeseries` and of `TimeSeries.labels`, for writers that build
/// requests field by field.
pub const TAG_TIMESERIES: u32 = WRITE_REQUEST_TIMESERIES;

/// Appends a length-delimited field (`tag`, `data`).
pub fn put_bytes(tag: u32, data: &[u8], buf: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(data.len() as u64, buf);
    buf.extend_from_slice(data);
}

fn bytes_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// Appends one `TimeSeries.labels` entry, a `Label { name, value }` message field,
/// leaving out empty strings as prost does (proto3 defaults).
pub fn put_label(name: &str, value: &str, buf: &mut Vec<u8>) {
    let str_len = |tag, s: &str| {
        if s.is_empty() {
            0
        } else {
            bytes_len(tag, s.len())
        }
    };
    let inner = str_len(1, name) + str_len(2, value);
    encode_key(SERIES_LABELS, WireType::LengthDelimited, buf);
    encode_varint(inner as u64, buf);
    if !name.is_empty() {
        put_bytes(1, name.as_bytes(), buf);
    }
    if !value.is_empty() {
        put_bytes(2, value.as_bytes(), buf);
    }
}

/// Appends one `TimeSeries.samples` entry, `Sample { value, timestamp }`, leaving out
/// proto3 defaults (`0.0`, which includes `-0.0`, and `0`) as prost and Prometheus do.
pub fn put_sample(value: f64, timestamp: i64, buf: &mut Vec<u8>) {
    let has_value = value != 0.0;
    let has_ts = timestamp != 0;
    let inner = if has_value { key_len(1) + 8 } else { 0 }
        + if has_ts {
            key_len(2) + encoded_len_varint(timestamp as u64)
        } else {
            0
        };
    encode_key(SERIES_SAMPLES, WireType::LengthDelimited, buf);
    encode_varint(inner as u64, buf);
    if has_value {
        encode_key(1, WireType::SixtyFourBit, buf);
        buf.extend_from_slice(&value.to_le_bytes());
    }
    if has_ts {
        encode_key(2, WireType::Varint, buf);
        // int64 is the two's-complement u64 varint.
        encode_varint(timestamp as u64, buf);
    }
}

/// Encodes a `prometheus.TimeSeries` body (no tag or length) with these labels, float
/// samples and native histograms (as float histograms), byte for byte as prost would:
/// what the receiver forwards for a series it trimmed.
pub fn encode_series(
    labels: &[(&str, &str)],
    samples: &[Sample],
    histograms: &[HistogramSample],
) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in labels {
        put_label(name, value, &mut out);
    }
    for s in samples {
        put_sample(s.v, s.t, &mut out);
    }
    for h in histograms {
        let msg = crate::prometheus::Histogram::from_sample(h.t, &h.h);
        put_bytes(
            SERIES_HISTOGRAMS,
            &prost::Message::encode_to_vec(&msg),
            &mut out,
        );
    }
    out
}

#[cfg(test)]
mod tests;
