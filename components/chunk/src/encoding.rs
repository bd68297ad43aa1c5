//! Which encoding a chunk's bytes are in, and decoding any of them.

use cairn_model::{HistogramSample, Sample};

use crate::{ChunkError, FloatHistogramChunk, XorChunk};

/// A chunk encoding, as Prometheus and Thanos know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Float samples ([`XorChunk`](crate::XorChunk)).
    Xor,
    /// Native histograms with integer counts (Prometheus's `HistogramChunk`; read only).
    Histogram,
    /// Native histograms with float counts ([`FloatHistogramChunk`](crate::FloatHistogramChunk)).
    FloatHistogram,
}

impl Encoding {
    /// The number of this encoding in Thanos StoreAPI's `Chunk.Encoding`.
    pub fn storeapi_number(self) -> i32 {
        match self {
            Self::Xor => 0,
            Self::Histogram => 1,
            Self::FloatHistogram => 2,
        }
    }

    /// The encoding a StoreAPI `Chunk.Encoding` number stands for.
    pub fn from_storeapi_number(n: i32) -> Option<Self> {
        match n {
            0 => Some(Self::Xor),
            1 => Some(Self::Histogram),
            2 => Some(Self::FloatHistogram),
            _ => None,
        }
    }

    /// Whether chunks in this encoding hold histograms.
    pub fn is_histogram(self) -> bool {
        !matches!(self, Self::Xor)
    }
}

/// The samples of one chunk.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodedChunk {
    /// From an XOR chunk.
    Floats(Vec<Sample>),
    /// From either histogram chunk encoding, as float histograms.
    Histograms(Vec<HistogramSample>),
}

impl DecodedChunk {
    /// The samples one by one, for re-encoding.
    pub fn into_samples(self) -> Vec<ChunkSample> {
        match self {
            Self::Floats(f) => f.into_iter().map(ChunkSample::Float).collect(),
            Self::Histograms(h) => h.into_iter().map(ChunkSample::Histogram).collect(),
        }
    }
}

/// One sample of either kind: a series may hold floats and native histograms, one
/// value per timestamp.
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkSample {
    /// A float sample.
    Float(Sample),
    /// A native histogram sample.
    Histogram(HistogramSample),
}

impl ChunkSample {
    /// The sample's timestamp.
    pub fn t(&self) -> i64 {
        match self {
            Self::Float(s) => s.t,
            Self::Histogram(h) => h.t,
        }
    }
}

/// A chunk being written, in the encoding of the samples it takes: XOR for floats,
/// float histogram for native histograms.
#[derive(Debug, Clone)]
pub enum ChunkWriter {
    /// Float samples.
    Xor(XorChunk),
    /// Native histogram samples.
    FloatHistogram(FloatHistogramChunk),
}

impl ChunkWriter {
    /// A chunk holding just `s`.
    pub fn with_sample(s: &ChunkSample) -> Self {
        let mut chunk = match s {
            ChunkSample::Float(_) => Self::Xor(XorChunk::new()),
            ChunkSample::Histogram(_) => Self::FloatHistogram(FloatHistogramChunk::new()),
        };
        let next = chunk.append(s);
        debug_assert!(
            next.is_none(),
            "an empty chunk of the sample's kind takes it"
        );
        chunk
    }

    /// The encoding of the bytes.
    pub fn encoding(&self) -> Encoding {
        match self {
            Self::Xor(_) => Encoding::Xor,
            Self::FloatHistogram(_) => Encoding::FloatHistogram,
        }
    }

    /// The encoded chunk so far.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::Xor(c) => c.bytes(),
            Self::FloatHistogram(c) => c.bytes(),
        }
    }

    /// The encoded chunk.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Self::Xor(c) => c.into_bytes(),
            Self::FloatHistogram(c) => c.into_bytes(),
        }
    }

    /// Number of samples.
    pub fn num_samples(&self) -> usize {
        match self {
            Self::Xor(c) => c.num_samples(),
            Self::FloatHistogram(c) => c.num_samples(),
        }
    }

    /// Appends `s` (newer than every sample in the chunk). When it cannot go into
    /// this chunk — the other kind, or a histogram whose bucket layout or counter-reset
    /// state needs a new chunk — the chunk is left alone and a new one holding `s` is
    /// returned: the caller closes this one and continues with that.
    pub fn append(&mut self, s: &ChunkSample) -> Option<ChunkWriter> {
        match (self, s) {
            (Self::Xor(c), ChunkSample::Float(f)) => {
                c.append(f.t, f.v);
                None
            }
            (Self::FloatHistogram(c), ChunkSample::Histogram(h)) => {
                c.append_or_cut(h.t, &h.h).map(Self::FloatHistogram)
            }
            _ => Some(Self::with_sample(s)),
        }
    }
}

/// A finished chunk with its time range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedChunk {
    /// The encoding of `bytes`.
    pub encoding: Encoding,
    /// Timestamp of the first sample.
    pub min_t: i64,
    /// Timestamp of the last sample.
    pub max_t: i64,
    /// The chunk.
    pub bytes: Vec<u8>,
}

/// Encodes `samples` (strictly increasing timestamps) into chunks of at most
/// `max_samples` each, starting a new one wherever the kind changes or a histogram
/// needs one.
pub fn encode_samples(
    samples: impl IntoIterator<Item = ChunkSample>,
    max_samples: usize,
) -> Vec<EncodedChunk> {
    let mut done: Vec<EncodedChunk> = Vec::new();
    let mut open: Option<(i64, i64, ChunkWriter)> = None;
    let mut close = |(min_t, max_t, c): (i64, i64, ChunkWriter)| {
        done.push(EncodedChunk {
            encoding: c.encoding(),
            min_t,
            max_t,
            bytes: c.into_bytes(),
        });
    };
    for s in samples {
        let t = s.t();
        let next = match &mut open {
            Some((_, _, c)) if c.num_samples() >= max_samples.max(1) => {
                Some(ChunkWriter::with_sample(&s))
            }
            Some((_, max_t, c)) => {
                let next = c.append(&s);
                if next.is_none() {
                    *max_t = t;
                }
                next
            }
            None => Some(ChunkWriter::with_sample(&s)),
        };
        if let Some(c) = next {
            if let Some(full) = open.replace((t, t, c)) {
                close(full);
            }
        }
    }
    if let Some(last) = open {
        close(last);
    }
    done
}

/// Decodes chunk `bytes` written in `encoding`.
pub fn decode_chunk(encoding: Encoding, bytes: &[u8]) -> Result<DecodedChunk, ChunkError> {
    let histograms = |decoded: Vec<(i64, cairn_model::FloatHistogram)>| {
        DecodedChunk::Histograms(
            decoded
                .into_iter()
                .map(|(t, h)| HistogramSample::new(t, h))
                .collect(),
        )
    };
    Ok(match encoding {
        Encoding::Xor => DecodedChunk::Floats(crate::decode(bytes)?),
        Encoding::Histogram => histograms(crate::decode_histograms(bytes)?),
        Encoding::FloatHistogram => histograms(crate::decode_float_histograms(bytes)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storeapi_numbers_round_trip() {
        for e in [Encoding::Xor, Encoding::Histogram, Encoding::FloatHistogram] {
            assert_eq!(Encoding::from_storeapi_number(e.storeapi_number()), Some(e));
        }
        assert_eq!(Encoding::from_storeapi_number(3), None);
    }
}
