//! Go-compatible varints (`encoding/binary` `PutUvarint`/`PutVarint`), shared by the WAL
//! records and the block format.

/// Appends `x` as an unsigned LEB128 varint.
pub fn put_uvarint(buf: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        buf.push((x as u8) | 0x80);
        x >>= 7;
    }
    buf.push(x as u8);
}

/// Appends `x` zigzag-encoded.
pub fn put_varint(buf: &mut Vec<u8>, x: i64) {
    put_uvarint(buf, ((x << 1) ^ (x >> 63)) as u64);
}

/// Appends `b` prefixed with its length.
pub fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// Reads an unsigned varint from the front of `buf`, advancing it.
pub fn read_uvarint(buf: &mut &[u8]) -> Result<u64, &'static str> {
    let mut x = 0u64;
    for (i, &b) in buf.iter().enumerate().take(10) {
        if i == 9 && b > 1 {
            return Err("varint overflows 64 bits");
        }
        x |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *buf = &buf[i + 1..];
            return Ok(x);
        }
    }
    Err("truncated varint")
}

/// Reads a zigzag varint from the front of `buf`, advancing it.
pub fn read_varint(buf: &mut &[u8]) -> Result<i64, &'static str> {
    let u = read_uvarint(buf)?;
    Ok((u >> 1) as i64 ^ -((u & 1) as i64))
}

/// Reads a length-prefixed byte string from the front of `buf`, advancing it.
pub fn read_bytes<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], &'static str> {
    let n = read_uvarint(buf)?;
    let n = usize::try_from(n).map_err(|_| "length overflows")?;
    if n > buf.len() {
        return Err("length past the end");
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edge_values() {
        let mut buf = Vec::new();
        for x in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            put_varint(&mut buf, x);
        }
        put_uvarint(&mut buf, u64::MAX);
        put_bytes(&mut buf, b"abc");
        let mut r = buf.as_slice();
        for x in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(read_varint(&mut r), Ok(x));
        }
        assert_eq!(read_uvarint(&mut r), Ok(u64::MAX));
        assert_eq!(read_bytes(&mut r), Ok(&b"abc"[..]));
        assert!(r.is_empty());
        assert!(read_uvarint(&mut r).is_err());
        assert!(read_bytes(&mut &[5u8, 1][..]).is_err());
        assert!(read_uvarint(&mut &[0xff; 10][..]).is_err());
    }
}
