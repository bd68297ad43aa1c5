//! One XOR-encoded float field of a histogram chunk (count, zero count, sum, a
//! bucket): Prometheus's `xorWrite`/`xorRead`, each field with its own window.
//!
//! ```text
//!  x = bits(v) ^ bits(previous v)
//!  x == 0                     '0'
//!  x fits the field's window  '10' + the window's bits of x
//!  otherwise                  '11' + leading zeros (5 bits, at most 31)
//!                                  + significant bits (6 bits, 64 written as 0) + those bits
//! ```

use crate::bits::{BitReader, BitWriter};

/// `leading` of a writer that has not chosen a window yet (Prometheus's 0xff).
const NO_WINDOW: u8 = 0xff;

/// Why a field could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum XorError {
    /// The data ends inside the field.
    End,
    /// A new window with more than 64 bits: (leading, significant).
    Window(u8, u8),
}

/// A field's last value and its XOR window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct XorValue {
    pub(super) bits: u64,
    leading: u8,
    trailing: u8,
}

impl XorValue {
    /// A writer's field after its first (raw) value: no window yet.
    pub(super) fn writer(v: f64) -> Self {
        Self {
            bits: v.to_bits(),
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// A reader's field after its first (raw) value. Readers start from the (0, 0)
    /// window, as Prometheus's iterator does: an appender Prometheus reopened on a
    /// chunk may reuse that window without ever writing it.
    pub(super) fn reader(bits: u64) -> Self {
        Self {
            bits,
            leading: 0,
            trailing: 0,
        }
    }

    pub(super) fn value(self) -> f64 {
        f64::from_bits(self.bits)
    }

    pub(super) fn write(&mut self, w: &mut BitWriter, v: f64) {
        let delta = v.to_bits() ^ self.bits;
        self.bits = v.to_bits();
        if delta == 0 {
            w.write_bit(false);
            return;
        }
        w.write_bit(true);
        // Clamped: the count has 5 bits.
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != NO_WINDOW && leading >= self.leading && trailing >= self.trailing {
            w.write_bit(false);
            let significant = 64 - u32::from(self.leading) - u32::from(self.trailing);
            w.write_bits(delta >> self.trailing, significant);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        w.write_bit(true);
        w.write_bits(u64::from(leading), 5);
        // 1..=64 significant bits (0 is the delta == 0 case); 64 is written as 0.
        let significant = 64 - u32::from(leading) - u32::from(trailing);
        w.write_bits(u64::from(significant), 6);
        w.write_bits(delta >> trailing, significant);
    }

    pub(super) fn read(&mut self, r: &mut BitReader<'_>) -> Result<(), XorError> {
        if !r.read_bit().ok_or(XorError::End)? {
            return Ok(());
        }
        if r.read_bit().ok_or(XorError::End)? {
            let leading = r.read_bits(5).ok_or(XorError::End)? as u8;
            let significant = match r.read_bits(6).ok_or(XorError::End)? as u8 {
                0 => 64,
                n => n,
            };
            if leading + significant > 64 {
                return Err(XorError::Window(leading, significant));
            }
            self.leading = leading;
            self.trailing = 64 - leading - significant;
        }
        let significant = 64 - u32::from(self.leading) - u32::from(self.trailing);
        let x = r.read_bits(significant).ok_or(XorError::End)?;
        self.bits ^= x << self.trailing;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_chosen_and_reused_like_prometheus() {
        let mut w = BitWriter::from_parts(Vec::new(), 0);
        let mut field = XorValue::writer(6.0);
        // 6.0 -> 7.0: x = 0x0004_0000_0000_0000, 13 leading, 50 trailing zeros: a new
        // window '11' 01101 000001 1.
        field.write(&mut w, 7.0);
        // 7.0 -> 7.0: '0'.
        field.write(&mut w, 7.0);
        // 7.0 -> 6.0: the same x fits the window: '10' 1.
        field.write(&mut w, 6.0);
        let got: String = w.bytes().iter().map(|b| format!("{b:08b}")).collect();
        assert_eq!(got, "11_01101_000001_1_0_10_1_000000".replace('_', ""));

        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        let mut field = XorValue::reader(6.0f64.to_bits());
        for want in [7.0, 7.0, 6.0] {
            field.read(&mut r).unwrap();
            assert_eq!(field.value(), want);
        }
    }

    #[test]
    fn sixty_four_significant_bits_are_written_as_zero() {
        let mut w = BitWriter::from_parts(Vec::new(), 0);
        let mut field = XorValue::writer(f64::from_bits(0));
        field.write(&mut w, f64::from_bits(0x8000_0000_0000_0001));
        let bytes = w.into_bytes();
        // '11', leading 00000, significant 000000, then the 64 bits.
        assert_eq!(bytes[..2], [0b1100_0000, 0b0000_0100]);
        let mut field = XorValue::reader(0);
        field.read(&mut BitReader::new(&bytes)).unwrap();
        assert_eq!(field.bits, 0x8000_0000_0000_0001);
    }

    #[test]
    fn reader_reuses_the_initial_zero_window_and_rejects_oversized_windows() {
        // '10' before any '11': the (0, 0) window, 64 bits follow.
        let mut bytes = vec![0b1000_0000];
        bytes.extend_from_slice(&[0; 8]);
        let mut field = XorValue::reader(1);
        field.read(&mut BitReader::new(&bytes)).unwrap();
        assert_eq!(field.bits, 1);
        // '11' leading 31, significant 63: 94 bits.
        let bytes = [0b1111_1111, 0b1111_1000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut field = XorValue::reader(0);
        assert_eq!(
            field.read(&mut BitReader::new(&bytes)),
            Err(XorError::Window(31, 63))
        );
        assert_eq!(
            XorValue::reader(0).read(&mut BitReader::new(&[0b1100_0000])),
            Err(XorError::End)
        );
    }
}
