//! Bit-level writing and reading in the layout of Prometheus's `bstream`: bits are
//! packed most significant first, and the unused low bits of the last byte are zero.
//!
//! Since Prometheus 3.0 (`bstream.writeByte` fix, prometheus#14854) the writer never
//! leaves an empty byte at the end of the stream, so a stream of `n` bits is exactly
//! `ceil(n / 8)` bytes. Older Prometheus versions left one empty trailing byte after
//! byte-aligned writes; [`BitWriter::from_parts`] accepts that state (`free == 8`) so
//! such chunks can be appended to as well.
//!
//! Varints use Go's `encoding/binary` format (LEB128, signed values zigzag-encoded),
//! because that is what Prometheus writes for the first timestamp and first delta.

/// Append-only bit buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// How many low bits of the last byte are still free, 0..=8. Only a stream
    /// restored from a pre-3.0 Prometheus chunk can have 8 (an empty trailing byte).
    free: u8,
}

impl BitWriter {
    /// A writer continuing after `bytes`, whose last byte has `free` unused low bits
    /// (which must be zero).
    pub(crate) fn from_parts(bytes: Vec<u8>, free: u8) -> Self {
        debug_assert!(free <= 8 && (free == 0 || !bytes.is_empty()));
        Self { bytes, free }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub(crate) fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        self.free -= 1;
        if bit {
            if let Some(last) = self.bytes.last_mut() {
                *last |= 1 << self.free;
            }
        }
    }

    /// Writes the `nbits` (0..=64) low bits of `value`, most significant first. Higher
    /// bits of `value` are ignored, as in Go's `bstream.writeBits`.
    pub(crate) fn write_bits(&mut self, value: u64, nbits: u32) {
        debug_assert!(nbits <= 64);
        let mut left = nbits.min(64);
        if left == 0 {
            return;
        }
        // Top up the partially filled last byte first.
        if self.free > 0 {
            let take = left.min(u32::from(self.free));
            let chunk = ((value >> (left - take)) & ((1u64 << take) - 1)) as u8;
            self.free -= take as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= chunk << self.free;
            }
            left -= take;
        }
        // Whole bytes.
        while left >= 8 {
            left -= 8;
            self.bytes.push((value >> left) as u8);
        }
        // The rest starts a new, partially filled byte.
        if left > 0 {
            self.bytes.push(((value << (8 - left)) & 0xff) as u8);
            self.free = (8 - left) as u8;
        }
    }

    pub(crate) fn write_byte(&mut self, byte: u8) {
        self.write_bits(u64::from(byte), 8);
    }

    /// Go's `binary.PutUvarint`: 7 bits a byte, least significant group first, high
    /// bit set on every byte but the last.
    pub(crate) fn write_uvarint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.write_byte((value as u8) | 0x80);
            value >>= 7;
        }
        self.write_byte(value as u8);
    }

    /// Go's `binary.PutVarint`: zigzag (0, -1, 1, -2, ... → 0, 1, 2, 3, ...) then uvarint.
    pub(crate) fn write_varint(&mut self, value: i64) {
        self.write_uvarint(zigzag(value));
    }
}

pub(crate) fn zigzag(value: i64) -> u64 {
    ((value as u64) << 1) ^ ((value >> 63) as u64)
}

pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The stream ended before the last byte of the varint.
    End,
    /// More than 64 bits (Go's `binary.ReadUvarint` "overflows a 64-bit integer").
    Overflow,
}

/// Reads bits from a byte slice, most significant first. Reading past the end fails;
/// it never panics.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Next bit to read, counted from the start of `data`.
    pos: u64,
    len_bits: u64,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            len_bits: (data.len() as u64) * 8,
        }
    }

    /// How many bits have been read.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// How many bits are left to read.
    pub(crate) fn remaining(&self) -> u64 {
        self.len_bits - self.pos
    }

    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        if self.pos >= self.len_bits {
            return None;
        }
        let byte = self.data[(self.pos / 8) as usize];
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(bit == 1)
    }

    /// Reads `nbits` (0..=64) bits into the low bits of the result.
    pub(crate) fn read_bits(&mut self, nbits: u32) -> Option<u64> {
        debug_assert!(nbits <= 64);
        if nbits == 0 {
            return Some(0);
        }
        let nbits = nbits.min(64);
        let end = self.pos + u64::from(nbits);
        if end > self.len_bits {
            return None;
        }
        // At most 7 bits of offset + 64 bits = 9 bytes are involved; load up to 16
        // into a u128 (zero-padded past the end of the data) and shift out the field.
        let start = (self.pos / 8) as usize;
        let offset = (self.pos % 8) as u32;
        let avail = &self.data[start..];
        let word = match avail.first_chunk::<16>() {
            Some(window) => u128::from_be_bytes(*window),
            None => {
                let mut window = [0u8; 16];
                window[..avail.len()].copy_from_slice(avail);
                u128::from_be_bytes(window)
            }
        };
        self.pos = end;
        Some(((word << offset) >> (128 - nbits)) as u64)
    }

    pub(crate) fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|b| b as u8)
    }

    /// Go's `binary.ReadUvarint`, including its leniency: non-minimal encodings
    /// (`0x80 0x00` for 0) are accepted; a tenth byte above 1 is an overflow.
    pub(crate) fn read_uvarint(&mut self) -> Result<u64, VarintError> {
        let mut value = 0u64;
        let mut shift = 0u32;
        for i in 0..10 {
            let byte = self.read_byte().ok_or(VarintError::End)?;
            if byte < 0x80 {
                if i == 9 && byte > 1 {
                    return Err(VarintError::Overflow);
                }
                return Ok(value | (u64::from(byte) << shift));
            }
            value |= u64::from(byte & 0x7f) << shift;
            shift += 7;
        }
        Err(VarintError::Overflow)
    }

    /// Go's `binary.ReadVarint`.
    pub(crate) fn read_varint(&mut self) -> Result<i64, VarintError> {
        self.read_uvarint().map(unzigzag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> BitWriter {
        BitWriter::from_parts(Vec::new(), 0)
    }

    #[test]
    fn bits_are_packed_msb_first_and_padded_with_zeros() {
        let mut w = empty();
        w.write_bit(true);
        w.write_bit(false);
        w.write_bits(0b101, 3);
        // 1 0 101 + 3 zero padding bits.
        assert_eq!(w.bytes(), &[0b1010_1000]);
        w.write_bits(0xABCD, 16);
        // 10101 + 0xABCD (1010101111001101) = 10101101 01011110 01101000
        assert_eq!(w.bytes(), &[0b1010_1101, 0b0101_1110, 0b0110_1000]);
    }

    #[test]
    fn aligned_byte_writes_leave_no_empty_trailing_byte() {
        // Prometheus >= 3.0: writeByte on an aligned stream appends exactly one byte.
        let mut w = empty();
        w.write_byte(0x12);
        w.write_bits(0x3456, 16);
        assert_eq!(w.bytes(), &[0x12, 0x34, 0x56]);
    }

    #[test]
    fn write_bits_ignores_bits_above_nbits() {
        let mut w = empty();
        w.write_bits(64, 6); // 0b1000000: the 6 low bits are 000000.
        w.write_bits(u64::MAX, 2);
        assert_eq!(w.bytes(), &[0b0000_0011]);
    }

    #[test]
    fn empty_trailing_byte_from_old_prometheus_is_filled_first() {
        let mut w = BitWriter::from_parts(vec![0xff, 0x00], 8);
        w.write_bits(0b1, 1);
        w.write_bits(0x7f, 7);
        assert_eq!(w.bytes(), &[0xff, 0xff]);
    }

    #[test]
    fn reader_round_trips_every_width_at_every_offset() {
        let mut w = empty();
        for lead in 0..8 {
            w.write_bits(0, lead);
            for n in 1..=64u32 {
                let v = 0xDEAD_BEEF_CAFE_F00Du64.rotate_left(n) & (u64::MAX >> (64 - n));
                w.write_bits(v, n);
            }
        }
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        for lead in 0..8 {
            assert_eq!(r.read_bits(lead), Some(0));
            for n in 1..=64u32 {
                let v = 0xDEAD_BEEF_CAFE_F00Du64.rotate_left(n) & (u64::MAX >> (64 - n));
                assert_eq!(r.read_bits(n), Some(v), "lead={lead} n={n}");
            }
        }
        assert!(r.remaining() < 8);
    }

    #[test]
    fn reader_stops_at_the_end_without_panicking() {
        let bytes = [0b1011_0000u8];
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.read_bits(9), None);
        assert_eq!(r.pos(), 0, "a failed read consumes nothing");
        assert_eq!(r.read_bits(4), Some(0b1011));
        assert_eq!(r.read_bits(4), Some(0));
        assert_eq!(r.read_bit(), None);
        assert_eq!(r.read_bits(64), None);
        assert_eq!(BitReader::new(&[]).read_bit(), None);
    }

    #[test]
    fn varints_match_go_encoding_binary() {
        // Values and encodings as produced by Go's binary.PutVarint / PutUvarint.
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (1000, &[0xd0, 0x0f]),
            (7_200_000, &[0x80, 0xf4, 0xee, 0x06]),
            (
                i64::MAX,
                &[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
            (
                i64::MIN,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for &(v, enc) in cases {
            let mut w = empty();
            w.write_varint(v);
            assert_eq!(w.bytes(), enc, "varint {v}");
            assert_eq!(BitReader::new(enc).read_varint(), Ok(v));
        }
        let mut w = empty();
        w.write_uvarint(u64::MAX);
        assert_eq!(
            w.bytes(),
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn varint_reader_is_as_lenient_and_as_strict_as_go() {
        // Non-minimal encodings are accepted.
        assert_eq!(BitReader::new(&[0x80, 0x00]).read_uvarint(), Ok(0));
        // A tenth byte above 1 overflows, as does an eleventh byte.
        let ten = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(
            BitReader::new(&ten).read_uvarint(),
            Err(VarintError::Overflow)
        );
        let eleven = [0x80; 11];
        assert_eq!(
            BitReader::new(&eleven).read_uvarint(),
            Err(VarintError::Overflow)
        );
        assert_eq!(
            BitReader::new(&[0x80]).read_uvarint(),
            Err(VarintError::End)
        );
        assert_eq!(BitReader::new(&[]).read_uvarint(), Err(VarintError::End));
    }
}
