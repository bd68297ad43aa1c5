//! Prometheus's variable-bit-width integers (`varbit.go`): a prefix of up to eight
//! `1` bits, ended by a `0` unless it is eight long, picks how many value bits follow.
//!
//! ```text
//!  prefix      value bits   varbit_int range (two's complement)   varbit_uint range
//!  0           0            0                                      0
//!  10          3            -3 ..= 4                               ..= 7
//!  110         6            -31 ..= 32                             ..= 63
//!  1110        9            -255 ..= 256                           ..= 511
//!  11110       12           -2047 ..= 2048                         ..= 4095
//!  111110      18           -131071 ..= 131072                     ..= 262143
//!  1111110     25           -16777215 ..= 16777216                 ..= 33554431
//!  11111110    56           -(2^55 - 1) ..= 2^55                   ..= 2^56 - 1
//!  11111111    64           everything else                        everything else
//! ```
//!
//! The signed ranges are lopsided like the XOR chunk's delta-of-delta buckets: the
//! reader takes a raw value above `2^(n-1)` as negative.

use crate::bits::{BitReader, BitWriter};

/// Value widths after a prefix of 1..=7 ones and a zero.
const WIDTHS: [u32; 7] = [3, 6, 9, 12, 18, 25, 56];

/// `ones` one bits followed by a zero bit, as the low `ones + 1` bits.
fn prefix(ones: u32) -> u64 {
    ((1u64 << ones) - 1) << 1
}

/// Whether `v` is in the signed range of an `n`-bit field: `-(2^(n-1) - 1) ..= 2^(n-1)`.
fn fits_signed(v: i64, n: u32) -> bool {
    let half = 1i64 << (n - 1);
    -(half - 1) <= v && v <= half
}

impl BitWriter {
    /// Prometheus's `putVarbitInt`.
    pub(crate) fn write_varbit_int(&mut self, v: i64) {
        if v == 0 {
            self.write_bit(false);
            return;
        }
        for (ones, width) in (1u32..).zip(WIDTHS) {
            if fits_signed(v, width) {
                self.write_bits(prefix(ones), ones + 1);
                self.write_bits(v as u64, width);
                return;
            }
        }
        self.write_bits(0xff, 8);
        self.write_bits(v as u64, 64);
    }

    /// Prometheus's `putVarbitUint`.
    pub(crate) fn write_varbit_uint(&mut self, v: u64) {
        if v == 0 {
            self.write_bit(false);
            return;
        }
        for (ones, width) in (1u32..).zip(WIDTHS) {
            if v >> width == 0 {
                self.write_bits(prefix(ones), ones + 1);
                self.write_bits(v, width);
                return;
            }
        }
        self.write_bits(0xff, 8);
        self.write_bits(v, 64);
    }
}

impl BitReader<'_> {
    /// The number of value bits announced by a prefix (0 for the lone `0`).
    fn read_varbit_width(&mut self) -> Option<u32> {
        let mut ones = 0;
        while ones < 8 && self.read_bit()? {
            ones += 1;
        }
        Some(match ones {
            0 => 0,
            8 => 64,
            n => WIDTHS[n - 1],
        })
    }

    /// Prometheus's `readVarbitInt`; `None` when the data ends first.
    pub(crate) fn read_varbit_int(&mut self) -> Option<i64> {
        let width = self.read_varbit_width()?;
        let raw = self.read_bits(width)?;
        if width == 0 || width == 64 || raw <= 1 << (width - 1) {
            return Some(raw as i64);
        }
        Some(raw as i64 - (1i64 << width))
    }

    /// Prometheus's `readVarbitUint`; `None` when the data ends first.
    pub(crate) fn read_varbit_uint(&mut self) -> Option<u64> {
        let width = self.read_varbit_width()?;
        self.read_bits(width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks the bits `write` produces against `want` (`_` separates fields).
    fn assert_bits(write: impl FnOnce(&mut BitWriter), want: &str) {
        let mut w = BitWriter::from_parts(Vec::new(), 0);
        write(&mut w);
        let got: String = w.bytes().iter().map(|b| format!("{b:08b}")).collect();
        assert_eq!(got, want.replace('_', ""));
    }

    #[test]
    fn encodings_match_the_prefix_table() {
        // Hand-derived: prefix, the value bits in two's complement, zero padding.
        assert_bits(|w| w.write_varbit_int(0), "0_0000000");
        assert_bits(|w| w.write_varbit_int(4), "10_100_000");
        assert_bits(|w| w.write_varbit_int(-3), "10_101_000");
        // -4 is not in the 3-bit range (its raw 100 would read back as +4).
        assert_bits(|w| w.write_varbit_int(-4), "110_111100_0000000");
        assert_bits(|w| w.write_varbit_int(5), "110_000101_0000000");
        assert_bits(|w| w.write_varbit_int(1000), "11110_001111101000_0000000");
        assert_bits(|w| w.write_varbit_uint(7), "10_111_000");
        assert_bits(|w| w.write_varbit_uint(8), "110_001000_0000000");
        assert_bits(|w| w.write_varbit_uint(u64::MAX), &"1".repeat(72));
        assert_bits(|w| w.write_varbit_int(-1), "10_111_000");
    }

    #[test]
    fn boundary_values_round_trip() {
        // The boundaries Prometheus's varbit_test.go checks.
        let ints = [
            i64::MIN,
            -36028797018963968,
            -36028797018963967,
            -16777216,
            -16777215,
            -131072,
            -131071,
            -2048,
            -2047,
            -256,
            -255,
            -32,
            -31,
            -4,
            -3,
            -1,
            0,
            1,
            4,
            5,
            32,
            33,
            256,
            257,
            2048,
            2049,
            131072,
            131073,
            16777216,
            16777217,
            36028797018963968,
            36028797018963969,
            i64::MAX,
        ];
        let uints = [
            0u64,
            1,
            7,
            8,
            63,
            64,
            511,
            512,
            4095,
            4096,
            262143,
            262144,
            33554431,
            33554432,
            72057594037927935,
            72057594037927936,
            u64::MAX,
        ];
        let mut w = BitWriter::from_parts(Vec::new(), 0);
        for v in ints {
            w.write_varbit_int(v);
        }
        for v in uints {
            w.write_varbit_uint(v);
        }
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        for v in ints {
            assert_eq!(r.read_varbit_int(), Some(v));
        }
        for v in uints {
            assert_eq!(r.read_varbit_uint(), Some(v));
        }
        assert!(r.remaining() < 8);
    }

    #[test]
    fn reading_past_the_end_fails() {
        assert_eq!(BitReader::new(&[]).read_varbit_int(), None);
        // Prefix 110 promises 6 bits, only 5 follow.
        assert_eq!(BitReader::new(&[0b1100_0000]).read_varbit_int(), None);
        assert_eq!(BitReader::new(&[0xff]).read_varbit_uint(), None);
    }
}
