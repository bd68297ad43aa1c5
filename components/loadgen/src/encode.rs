//! The wire format: protobuf `WriteRequest` bytes written field by field, and the snappy
//! block framing around them.
//!
//! Series labels are mostly constant, so the generator keeps their encoded bytes and
//! splices them into each request instead of building `prost` structs (which would
//! allocate a `String` per label per sample on a machine whose cores the server under
//! test needs). The bytes are exactly what `prost` produces for the same message, which
//! the tests check against `WriteRequest::encode_to_vec`; [`decode`] is the reverse path
//! through `prost`.

use cairn_proto::prometheus::WriteRequest;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use prost::Message;

use crate::Error;

/// Tag of `WriteRequest.timeseries` and of `TimeSeries.labels`.
pub(crate) const TAG_1: u32 = 1;
/// Tag of `TimeSeries.samples`.
pub(crate) const TAG_SAMPLES: u32 = 2;

/// Appends a length-delimited field (`tag`, `data`).
pub(crate) fn put_bytes(tag: u32, data: &[u8], buf: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(data.len() as u64, buf);
    buf.extend_from_slice(data);
}

fn bytes_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// Appends one `TimeSeries.labels` entry: a `Label { name, value }` message field.
/// Empty strings are omitted like `prost` does (proto3 defaults).
pub(crate) fn put_label(name: &str, value: &str, buf: &mut Vec<u8>) {
    let str_len = |tag, s: &str| {
        if s.is_empty() {
            0
        } else {
            bytes_len(tag, s.len())
        }
    };
    let inner = str_len(1, name) + str_len(2, value);
    encode_key(TAG_1, WireType::LengthDelimited, buf);
    encode_varint(inner as u64, buf);
    if !name.is_empty() {
        put_bytes(1, name.as_bytes(), buf);
    }
    if !value.is_empty() {
        put_bytes(2, value.as_bytes(), buf);
    }
}

/// Appends one `TimeSeries.samples` entry: `Sample { value, timestamp }`, omitting
/// proto3 defaults (`0.0`, `0`) like `prost` does.
pub(crate) fn put_sample(value: f64, timestamp: i64, buf: &mut Vec<u8>) {
    let has_value = value != 0.0;
    let has_ts = timestamp != 0;
    let inner = if has_value { key_len(1) + 8 } else { 0 }
        + if has_ts {
            key_len(2) + encoded_len_varint(timestamp as u64)
        } else {
            0
        };
    encode_key(TAG_SAMPLES, WireType::LengthDelimited, buf);
    encode_varint(inner as u64, buf);
    if has_value {
        encode_key(1, WireType::SixtyFourBit, buf);
        buf.extend_from_slice(&value.to_le_bytes());
    }
    if has_ts {
        encode_key(2, WireType::Varint, buf);
        // int64 is encoded as the two's-complement u64 varint.
        encode_varint(timestamp as u64, buf);
    }
}

/// Snappy block compression (not the framed stream format), as remote write requires.
pub struct Compressor {
    inner: snap::raw::Encoder,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor").finish_non_exhaustive()
    }
}

impl Default for Compressor {
    fn default() -> Self {
        Self::new()
    }
}

impl Compressor {
    /// A compressor; keep one per worker to reuse its hash table.
    pub fn new() -> Self {
        Self {
            inner: snap::raw::Encoder::new(),
        }
    }

    /// Compresses serialized `WriteRequest` bytes into a request body.
    pub fn compress(&mut self, raw: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(self.inner.compress_vec(raw)?)
    }
}

/// Decodes a request body (snappy block + protobuf), as a receiver would.
pub fn decode(body: &[u8]) -> Result<WriteRequest, Error> {
    let raw = snap::raw::Decoder::new().decompress_vec(body)?;
    Ok(WriteRequest::decode(raw.as_slice())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::prometheus::{Label, Sample, TimeSeries};

    #[test]
    fn hand_encoding_matches_prost_byte_for_byte() {
        let cases: [(f64, i64); 5] = [
            (1.5, 1_700_000_000_123),
            (0.0, 5),
            (-2.0, 0),
            (f64::NAN, -1),
            (1e300, i64::MAX),
        ];
        for (value, timestamp) in cases {
            let labels = [("__name__", "up"), ("a", ""), ("job", "x")];
            let mut body = Vec::new();
            for (n, v) in labels {
                put_label(n, v, &mut body);
            }
            put_sample(value, timestamp, &mut body);
            let mut raw = Vec::new();
            put_bytes(TAG_1, &body, &mut raw);

            let expected = WriteRequest {
                timeseries: vec![TimeSeries {
                    labels: labels
                        .iter()
                        .map(|(n, v)| Label {
                            name: (*n).into(),
                            value: (*v).into(),
                        })
                        .collect(),
                    samples: vec![Sample { value, timestamp }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            assert_eq!(
                raw,
                expected.encode_to_vec(),
                "value={value} ts={timestamp}"
            );
        }
    }

    #[test]
    fn snappy_round_trip() {
        let mut body = Vec::new();
        put_label("__name__", "up", &mut body);
        put_sample(1.0, 42, &mut body);
        let mut raw = Vec::new();
        put_bytes(TAG_1, &body, &mut raw);
        let compressed = Compressor::new().compress(&raw).unwrap();
        let req = decode(&compressed).unwrap();
        assert_eq!(req.timeseries.len(), 1);
        assert_eq!(
            req.timeseries[0].samples,
            vec![Sample {
                value: 1.0,
                timestamp: 42
            }]
        );
        assert!(decode(b"definitely not snappy").is_err());
    }
}
