//! The wire format: protobuf `WriteRequest` bytes written field by field, and the snappy
//! block framing around them.
//!
//! Series labels are mostly constant, so the generator keeps their encoded bytes and
//! splices them into each request instead of building `prost` structs (which would
//! allocate a `String` per label per sample on a machine whose cores the server under
//! test needs). The field writers are `cairn_proto::wire`'s, whose tests check them
//! against prost byte for byte; [`decode`] is the reverse path through `prost`.

use cairn_proto::prometheus::WriteRequest;
use prost::Message;

use crate::Error;

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
    use cairn_proto::prometheus::Sample;
    use cairn_proto::wire::{put_bytes, put_label, put_sample, TAG_TIMESERIES};

    #[test]
    fn snappy_round_trip() {
        let mut body = Vec::new();
        put_label("__name__", "up", &mut body);
        put_sample(1.0, 42, &mut body);
        let mut raw = Vec::new();
        put_bytes(TAG_TIMESERIES, &body, &mut raw);
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
