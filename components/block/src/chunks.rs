//! Chunks as stored in a block's `s_data_<i>` columns, and their encoding.
//!
//! One column value holds every chunk of one series that starts in the slice:
//!
//! ```text
//!  repeated { mint - slice_start: varint | maxt - mint: uvarint | kind: u8 | body }
//!  kind 1 (XOR):       body = len-prefixed Prometheus XOR chunk
//!  kind 2 (aggregate): body = 5 × len-prefixed XOR chunk (count, sum, min, max, counter),
//!                      length 0 when that aggregate is absent
//!  kind 3 (native histograms): body = len-prefixed Prometheus float histogram chunk
//! ```

use cairn_chunk::varint::{
    put_bytes, put_uvarint, put_varint, read_bytes, read_uvarint, read_varint,
};
use cairn_model::Labels;

const KIND_XOR: u8 = 1;
const KIND_AGGR: u8 = 2;
const KIND_FLOAT_HISTOGRAM: u8 = 3;

/// The aggregates a downsampled chunk carries, in storage order (Thanos's `AggrType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggrType {
    /// Number of raw samples in each downsampling window.
    Count,
    /// Sum of the raw samples.
    Sum,
    /// Smallest raw sample.
    Min,
    /// Largest raw sample.
    Max,
    /// Counter value with resets removed, so `rate` stays correct.
    Counter,
}

impl AggrType {
    /// All aggregates in storage order.
    pub const ALL: [AggrType; 5] = [Self::Count, Self::Sum, Self::Min, Self::Max, Self::Counter];
}

/// The five aggregate XOR chunks of one downsampled chunk; `None` when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AggrChunk {
    /// Per aggregate (indexed like [`AggrType::ALL`]), the XOR chunk bytes.
    pub chunks: [Option<Vec<u8>>; 5],
}

impl AggrChunk {
    /// The chunk of one aggregate.
    pub fn get(&self, t: AggrType) -> Option<&[u8]> {
        self.chunks[t as usize].as_deref()
    }

    /// Sets the chunk of one aggregate.
    pub fn set(&mut self, t: AggrType, data: Vec<u8>) {
        self.chunks[t as usize] = Some(data);
    }
}

/// What a chunk holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkData {
    /// Raw samples, Prometheus XOR encoding.
    Xor(Vec<u8>),
    /// Downsampled aggregates.
    Aggr(AggrChunk),
    /// Native histograms, Prometheus float histogram encoding (in raw blocks all of
    /// them; in downsampled blocks the last one of each window).
    FloatHistogram(Vec<u8>),
}

impl ChunkData {
    /// Number of points: raw samples, or aggregated windows (from the count chunk).
    pub fn num_samples(&self) -> usize {
        // Every Prometheus chunk encoding starts with the big-endian sample count.
        let xor = match self {
            Self::Xor(b) | Self::FloatHistogram(b) => Some(b.as_slice()),
            Self::Aggr(a) => a.get(AggrType::Count).or_else(|| a.get(AggrType::Sum)),
        };
        xor.filter(|b| b.len() >= 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .unwrap_or(0)
    }

    /// The encoding and bytes of a chunk of samples (`None` for aggregates).
    pub fn encoded(&self) -> Option<(cairn_chunk::Encoding, &[u8])> {
        match self {
            Self::Xor(b) => Some((cairn_chunk::Encoding::Xor, b)),
            Self::FloatHistogram(b) => Some((cairn_chunk::Encoding::FloatHistogram, b)),
            Self::Aggr(_) => None,
        }
    }
}

/// One chunk of a series in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockChunk {
    /// First sample timestamp.
    pub min_time: i64,
    /// Last sample timestamp.
    pub max_time: i64,
    /// The encoded samples.
    pub data: ChunkData,
}

impl BlockChunk {
    /// An encoded chunk of raw samples, XOR or float histogram (`None` for integer
    /// histogram chunks, which blocks do not hold: re-encode their samples).
    pub fn from_encoded(e: cairn_chunk::EncodedChunk) -> Option<Self> {
        let data = match e.encoding {
            cairn_chunk::Encoding::Xor => ChunkData::Xor(e.bytes),
            cairn_chunk::Encoding::FloatHistogram => ChunkData::FloatHistogram(e.bytes),
            cairn_chunk::Encoding::Histogram => return None,
        };
        Some(Self {
            min_time: e.min_t,
            max_time: e.max_t,
            data,
        })
    }
}

/// A series with its chunks, sorted by `min_time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSeries {
    /// The series labels.
    pub labels: Labels,
    /// Chunks sorted by time, not overlapping.
    pub chunks: Vec<BlockChunk>,
}

pub(crate) fn encode_slice(chunks: &[BlockChunk], slice_start: i64, out: &mut Vec<u8>) {
    for c in chunks {
        put_varint(out, c.min_time - slice_start);
        put_uvarint(out, (c.max_time - c.min_time) as u64);
        match &c.data {
            ChunkData::Xor(b) => {
                out.push(KIND_XOR);
                put_bytes(out, b);
            }
            ChunkData::FloatHistogram(b) => {
                out.push(KIND_FLOAT_HISTOGRAM);
                put_bytes(out, b);
            }
            ChunkData::Aggr(a) => {
                out.push(KIND_AGGR);
                for c in &a.chunks {
                    put_bytes(out, c.as_deref().unwrap_or(&[]));
                }
            }
        }
    }
}

pub(crate) fn decode_slice(
    mut buf: &[u8],
    slice_start: i64,
    out: &mut Vec<BlockChunk>,
) -> Result<(), &'static str> {
    while !buf.is_empty() {
        let min_time = slice_start + read_varint(&mut buf)?;
        let max_time =
            min_time + i64::try_from(read_uvarint(&mut buf)?).map_err(|_| "bad range")?;
        let (&kind, rest) = buf.split_first().ok_or("truncated chunk header")?;
        buf = rest;
        let data = match kind {
            KIND_XOR => ChunkData::Xor(read_bytes(&mut buf)?.to_vec()),
            KIND_FLOAT_HISTOGRAM => ChunkData::FloatHistogram(read_bytes(&mut buf)?.to_vec()),
            KIND_AGGR => {
                let mut a = AggrChunk::default();
                for slot in &mut a.chunks {
                    let b = read_bytes(&mut buf)?;
                    *slot = (!b.is_empty()).then(|| b.to_vec());
                }
                ChunkData::Aggr(a)
            }
            _ => return Err("unknown chunk kind"),
        };
        out.push(BlockChunk {
            min_time,
            max_time,
            data,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_round_trip() {
        let mut aggr = AggrChunk::default();
        aggr.set(AggrType::Count, vec![0, 1, 2]);
        aggr.set(AggrType::Counter, vec![0, 1, 9, 9]);
        let chunks = vec![
            BlockChunk {
                min_time: 1000,
                max_time: 2000,
                data: ChunkData::Xor(vec![0, 2, 1, 2, 3]),
            },
            BlockChunk {
                min_time: 2500,
                max_time: 2500,
                data: ChunkData::Aggr(aggr),
            },
        ];
        let mut buf = Vec::new();
        encode_slice(&chunks, 900, &mut buf);
        let mut back = Vec::new();
        decode_slice(&buf, 900, &mut back).unwrap();
        assert_eq!(back, chunks);
        assert!(decode_slice(&buf[..buf.len() - 1], 900, &mut Vec::new()).is_err());
        assert!(decode_slice(&[0, 0, 7], 0, &mut Vec::new()).is_err());
    }
}
