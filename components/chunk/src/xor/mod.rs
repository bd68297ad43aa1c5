//! The XOR chunk: Prometheus's `tsdb/chunkenc/xor.go` format.

use std::iter::FusedIterator;

use cairn_model::Sample;

use crate::bits::{BitReader, BitWriter, VarintError};
use crate::ChunkError;

#[cfg(test)]
mod tests;

/// The most samples one chunk can hold: the header is a `u16`.
pub const MAX_SAMPLES: usize = u16::MAX as usize;

const HEADER_LEN: usize = 2;
const HEADER_BITS: u64 = 16;
/// `leading` value meaning "no XOR window chosen yet" (Prometheus uses the same 0xff).
const NO_WINDOW: u8 = 0xff;

/// An XOR-encoded chunk that can be appended to: the chunk bytes exactly as Prometheus
/// writes them, plus the appender state needed to continue the bit stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorChunk {
    w: BitWriter,
    first_t: i64,
    /// Timestamp of the last sample.
    t: i64,
    /// Bits of the last value.
    v_bits: u64,
    /// Difference between the last two timestamps (wrapping, as Go's `uint64`).
    t_delta: u64,
    /// Current XOR window, or [`NO_WINDOW`].
    leading: u8,
    trailing: u8,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk: just the header, saying zero samples.
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(&[0, 0]);
        Self {
            w: BitWriter::from_parts(bytes, 0),
            first_t: 0,
            t: 0,
            v_bits: 0,
            t_delta: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Takes over chunk bytes (from disk or the wire), checking them by decoding every
    /// sample and restoring the appender state, so that [`append`](Self::append)
    /// continues exactly as if all samples had been appended to this value.
    ///
    /// Besides everything [`decode`] rejects, this rejects bytes after the last sample
    /// and non-zero padding bits, which no encoder writes and which would corrupt the
    /// stream once appended to. The single empty trailing byte that Prometheus before
    /// 3.0 left after byte-aligned writes is accepted and kept.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ChunkError> {
        let mut dec = Decoder::new(&bytes)?;
        let mut first_t = 0;
        while let Some(sample) = dec.next_sample()? {
            if dec.read == 1 {
                first_t = sample.t;
            }
        }
        let used_bits = HEADER_BITS + dec.r.pos();
        let used_bytes = used_bits.div_ceil(8) as usize;
        let free = match bytes.len() - used_bytes {
            0 => {
                let free = (used_bytes as u64 * 8 - used_bits) as u8;
                if free > 0 && bytes[used_bytes - 1] & ((1u8 << free) - 1) != 0 {
                    return Err(ChunkError::NonZeroPadding {
                        offset: used_bytes - 1,
                    });
                }
                free
            }
            1 if used_bits & 7 == 0 && bytes[used_bytes] == 0 => 8,
            extra => {
                return Err(ChunkError::TrailingBytes {
                    extra,
                    offset: used_bytes,
                })
            }
        };
        Ok(Self {
            first_t,
            t: dec.t,
            v_bits: dec.v_bits,
            t_delta: dec.t_delta,
            // A fresh appender keeps "no window" until it writes a '11' window; a
            // '10' read before any '11' (written by a Prometheus appender reopened on
            // a chunk without a window) means the (0, 0) window is in force.
            leading: if dec.window { dec.leading } else { NO_WINDOW },
            trailing: dec.trailing,
            w: BitWriter::from_parts(bytes, free),
        })
    }

    /// The chunk bytes: the big-endian sample count, then the bit stream, exactly as
    /// Prometheus's `XORChunk.Bytes()` (3.0 and later) would return them.
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// The chunk bytes, without copying.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// How many samples the chunk holds.
    pub fn num_samples(&self) -> usize {
        let b = self.w.bytes();
        usize::from(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Whether the chunk holds no samples.
    pub fn is_empty(&self) -> bool {
        self.num_samples() == 0
    }

    /// Whether the chunk holds [`MAX_SAMPLES`] and cannot take another.
    pub fn is_full(&self) -> bool {
        self.num_samples() >= MAX_SAMPLES
    }

    /// Timestamp of the first sample.
    pub fn first_time(&self) -> Option<i64> {
        (!self.is_empty()).then_some(self.first_t)
    }

    /// Timestamp of the last sample.
    pub fn last_time(&self) -> Option<i64> {
        (!self.is_empty()).then_some(self.t)
    }

    /// Appends a sample. The caller guarantees `t` is greater than the last timestamp;
    /// others are still encoded faithfully (Prometheus's wrapping arithmetic), but
    /// [`XorIter::seek`] and [`last_time`](Self::last_time) assume the order.
    ///
    /// # Panics
    ///
    /// If the chunk [is full](Self::is_full), like Prometheus ("chunk capacity
    /// exceeded"). Chunks are normally cut at 120 samples, far below the limit.
    pub fn append(&mut self, t: i64, v: f64) {
        let num = self.num_samples();
        assert!(
            num < MAX_SAMPLES,
            "xor chunk capacity exceeded: it already holds {num} samples"
        );
        let v_bits = v.to_bits();
        match num {
            0 => {
                self.w.write_varint(t);
                self.w.write_bits(v_bits, 64);
                self.first_t = t;
                self.t_delta = 0;
            }
            1 => {
                let t_delta = t.wrapping_sub(self.t) as u64;
                self.w.write_uvarint(t_delta);
                self.write_value(v_bits);
                self.t_delta = t_delta;
            }
            _ => {
                let t_delta = t.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                self.write_dod(dod);
                self.write_value(v_bits);
                self.t_delta = t_delta;
            }
        }
        self.t = t;
        self.v_bits = v_bits;
        // num < MAX_SAMPLES, so num + 1 fits in a u16.
        let count = (num + 1) as u16;
        self.w.bytes_mut()[..HEADER_LEN].copy_from_slice(&count.to_be_bytes());
    }

    /// The samples, in order.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::new(self.bytes())
    }

    /// Delta of delta with Prometheus's buckets: '0'; '10' + 14 bits; '110' + 17 bits;
    /// '1110' + 20 bits; '1111' + 64 bits, the values in two's complement.
    fn write_dod(&mut self, dod: i64) {
        let (prefix, prefix_bits, value_bits) = if dod == 0 {
            (0b0, 1, 0)
        } else if bit_range(dod, 14) {
            (0b10, 2, 14)
        } else if bit_range(dod, 17) {
            (0b110, 3, 17)
        } else if bit_range(dod, 20) {
            (0b1110, 4, 20)
        } else {
            (0b1111, 4, 64)
        };
        self.w.write_bits(prefix, prefix_bits);
        self.w.write_bits(dod as u64, value_bits);
    }

    /// Prometheus's `xorWrite`.
    fn write_value(&mut self, v_bits: u64) {
        let delta = v_bits ^ self.v_bits;
        if delta == 0 {
            self.w.write_bit(false);
            return;
        }
        self.w.write_bit(true);

        // Clamped to 31 because the count is written in 5 bits.
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;

        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            // '10': the value fits in the current window.
            self.w.write_bit(false);
            let significant = 64 - u32::from(self.leading) - u32::from(self.trailing);
            self.w.write_bits(delta >> self.trailing, significant);
            return;
        }

        // '11': a new window.
        self.leading = leading;
        self.trailing = trailing;
        self.w.write_bit(true);
        self.w.write_bits(u64::from(leading), 5);
        // 1..=64 significant bits; 64 does not fit in 6 bits and is written as 0 (0
        // significant bits never happens: that is the delta == 0 case).
        let significant = 64 - u32::from(leading) - u32::from(trailing);
        self.w.write_bits(u64::from(significant & 0x3f), 6);
        self.w.write_bits(delta >> trailing, significant);
    }
}

impl<'a> IntoIterator for &'a XorChunk {
    type Item = Sample;
    type IntoIter = XorIter<'a>;

    fn into_iter(self) -> XorIter<'a> {
        self.iter()
    }
}

/// Prometheus's `bitRange`: whether `x` fits the `nbits` bucket. The range is
/// asymmetric, `-(2^(n-1) - 1) ..= 2^(n-1)`, because the reader maps only values
/// above `2^(n-1)` to negatives.
fn bit_range(x: i64, nbits: u32) -> bool {
    let half = 1i64 << (nbits - 1);
    -(half - 1) <= x && x <= half
}

/// Decodes every sample of a chunk received from elsewhere. Never panics: garbage
/// gives an error. Like Prometheus's iterator, it ignores anything after the samples
/// the header announces.
pub fn decode(bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let mut it = XorIter::new(bytes);
    // Every sample takes at least two bits, so a lying header cannot make us
    // allocate much more than the input.
    let bound = bytes.len().saturating_mul(4).saturating_add(1);
    let mut samples = Vec::with_capacity(it.remaining().min(bound));
    samples.extend(&mut it);
    match it.err {
        Some(err) => Err(err),
        None => Ok(samples),
    }
}

/// The samples of a chunk, in order. Stops at the first corruption; [`err`](Self::err)
/// tells whether it did.
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    dec: Decoder<'a>,
    peeked: Option<Sample>,
    err: Option<ChunkError>,
}

impl<'a> XorIter<'a> {
    /// Iterates over the samples of chunk bytes from anywhere (header included).
    pub fn new(bytes: &'a [u8]) -> Self {
        match Decoder::new(bytes) {
            Ok(dec) => Self {
                dec,
                peeked: None,
                err: None,
            },
            Err(err) => Self {
                dec: Decoder::empty(),
                peeked: None,
                err: Some(err),
            },
        }
    }

    /// Why iteration stopped early, if the chunk is corrupt. `None` while iterating
    /// and after a clean end.
    pub fn err(&self) -> Option<&ChunkError> {
        self.err.as_ref()
    }

    /// Skips every sample with a timestamp below `t` and returns the first one at or
    /// after `t`, without consuming it: the next [`next`](Iterator::next) returns it
    /// again. `None` if there is none (or the chunk is corrupt, see [`err`](Self::err)).
    /// Like Prometheus's `Seek`, it only moves forward.
    pub fn seek(&mut self, t: i64) -> Option<Sample> {
        loop {
            let sample = self.next()?;
            if sample.t >= t {
                self.peeked = Some(sample);
                return Some(sample);
            }
        }
    }

    /// Samples the header says are left (corruption may cut them short).
    fn remaining(&self) -> usize {
        usize::from(self.dec.total - self.dec.read) + usize::from(self.peeked.is_some())
    }
}

impl Iterator for XorIter<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if let Some(sample) = self.peeked.take() {
            return Some(sample);
        }
        if self.err.is_some() {
            return None;
        }
        match self.dec.next_sample() {
            Ok(sample) => sample,
            Err(err) => {
                self.err = Some(err);
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.err.is_some() {
            return (0, Some(0));
        }
        (usize::from(self.peeked.is_some()), Some(self.remaining()))
    }
}

impl FusedIterator for XorIter<'_> {}

/// Prometheus's `xorIterator` state machine.
#[derive(Debug, Clone)]
struct Decoder<'a> {
    r: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    v_bits: u64,
    t_delta: u64,
    /// The XOR window; (0, 0) until the stream sets one, as in Prometheus.
    leading: u8,
    trailing: u8,
    /// Whether the stream has used a window ('10' or '11') yet.
    window: bool,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, ChunkError> {
        let (header, stream) = match bytes {
            [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
            _ => return Err(ChunkError::MissingHeader { len: bytes.len() }),
        };
        Ok(Self {
            total: header,
            r: BitReader::new(stream),
            ..Self::empty()
        })
    }

    fn empty() -> Self {
        Self {
            r: BitReader::new(&[]),
            total: 0,
            read: 0,
            t: 0,
            v_bits: 0,
            t_delta: 0,
            leading: 0,
            trailing: 0,
            window: false,
        }
    }

    fn next_sample(&mut self) -> Result<Option<Sample>, ChunkError> {
        if self.read >= self.total {
            return Ok(None);
        }
        let at = Where {
            sample: usize::from(self.read),
            total: usize::from(self.total),
            bit: HEADER_BITS + self.r.pos(),
        };
        match self.read {
            0 => {
                self.t = self.r.read_varint().map_err(|e| at.varint(e))?;
                self.v_bits = self.r.read_bits(64).ok_or_else(|| at.end())?;
            }
            1 => {
                self.t_delta = self.r.read_uvarint().map_err(|e| at.varint(e))?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value(&at)?;
            }
            _ => {
                let dod = self.read_dod(&at)?;
                self.t_delta = self.t_delta.wrapping_add(dod as u64);
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value(&at)?;
            }
        }
        self.read += 1;
        Ok(Some(Sample::new(self.t, f64::from_bits(self.v_bits))))
    }

    fn read_dod(&mut self, at: &Where) -> Result<i64, ChunkError> {
        // Up to four prefix bits: the number of ones before a zero picks the bucket.
        let mut ones = 0;
        while ones < 4 && self.bit(at)? {
            ones += 1;
        }
        let size = match ones {
            0 => return Ok(0),
            1 => 14,
            2 => 17,
            3 => 20,
            _ => return Ok(self.bits(64, at)? as i64),
        };
        let raw = self.bits(size, at)?;
        // Values above 2^(size-1) are negative (see `bit_range`).
        let dod = if raw > 1 << (size - 1) {
            raw as i64 - (1i64 << size)
        } else {
            raw as i64
        };
        Ok(dod)
    }

    /// Prometheus's `xorRead`.
    fn read_value(&mut self, at: &Where) -> Result<(), ChunkError> {
        if !self.bit(at)? {
            return Ok(());
        }
        if self.bit(at)? {
            let leading = self.bits(5, at)? as u8;
            let significant = match self.bits(6, at)? as u8 {
                0 => 64,
                n => n,
            };
            if leading + significant > 64 {
                return Err(at.window(leading, significant));
            }
            self.leading = leading;
            self.trailing = 64 - leading - significant;
        }
        self.window = true;
        let significant = 64 - u32::from(self.leading) - u32::from(self.trailing);
        let bits = self.bits(significant, at)?;
        self.v_bits ^= bits << self.trailing;
        Ok(())
    }

    fn bit(&mut self, at: &Where) -> Result<bool, ChunkError> {
        self.r.read_bit().ok_or_else(|| at.end())
    }

    fn bits(&mut self, n: u32, at: &Where) -> Result<u64, ChunkError> {
        self.r.read_bits(n).ok_or_else(|| at.end())
    }
}

/// Position of the sample being decoded, for error messages.
struct Where {
    sample: usize,
    total: usize,
    bit: u64,
}

impl Where {
    fn end(&self) -> ChunkError {
        ChunkError::UnexpectedEnd {
            sample: self.sample,
            total: self.total,
            bit: self.bit,
        }
    }

    fn varint(&self, err: VarintError) -> ChunkError {
        match err {
            VarintError::End => self.end(),
            VarintError::Overflow => ChunkError::VarintOverflow {
                sample: self.sample,
                bit: self.bit,
            },
        }
    }

    fn window(&self, leading: u8, significant: u8) -> ChunkError {
        ChunkError::InvalidXorWindow {
            sample: self.sample,
            bit: self.bit,
            leading,
            significant,
        }
    }
}
