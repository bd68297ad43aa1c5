//! Unit tests of the XOR chunk, including golden bytes: hand-derived from the format
//! (each derivation in a comment) and taken from Prometheus's own tests.

use cairn_model::{Sample, STALE_NAN, STALE_NAN_BITS};

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn chunk_of(samples: &[(i64, f64)]) -> XorChunk {
    let mut c = XorChunk::new();
    for &(t, v) in samples {
        c.append(t, v);
    }
    c
}

/// Decodes `bytes` through every path and checks they agree with `expected`, bit for
/// bit on the values, and that `from_bytes` restores the state of `chunk_of`.
fn assert_decodes_to(bytes: &[u8], expected: &[(i64, f64)]) {
    let got: Vec<(i64, u64)> = decode(bytes)
        .expect("decodes")
        .iter()
        .map(|s| (s.t, s.v.to_bits()))
        .collect();
    let want: Vec<(i64, u64)> = expected.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(got, want);
    let restored = XorChunk::from_bytes(bytes.to_vec()).expect("from_bytes");
    assert_eq!(restored, chunk_of(expected), "restored appender state");
    let mut it = restored.iter();
    assert_eq!(it.by_ref().count(), expected.len());
    assert_eq!(it.err(), None);
}

// ---------------------------------------------------------------- golden bytes

#[test]
fn golden_empty_chunk_is_a_zero_count_header() {
    // NewXORChunk: two header bytes, sample count 0, nothing else.
    let c = XorChunk::new();
    assert_eq!(c.bytes(), &[0x00, 0x00]);
    assert_eq!(c.num_samples(), 0);
    assert_eq!(decode(c.bytes()), Ok(vec![]));
}

#[test]
fn golden_one_sample_from_prometheus_remote_read_test() {
    // Prometheus storage/remote/read_handler_test.go (TestStreamReadEndpoint, after
    // prometheus#14854 removed the empty trailing byte): series `0+100x240` scraped
    // every 1m; the chunk holding only the sample at 7200000 ms (value 12000) and the
    // one holding only 14400000 ms (value 24000).
    let c = chunk_of(&[(7_200_000, 12_000.0)]);
    // 00 01                    count = 1
    // 80 F4 EE 06              varint(7200000): zigzag 14400000 = 0xDBBA00, in 7-bit
    //                          groups low first 0x00, 0x74, 0x6E, 0x06, high bit set on
    //                          all but the last
    // 40 C7 70 00 00 00 00 00  12000.0 = 1.46484375 * 2^13 -> 0x40C7700000000000
    assert_eq!(c.bytes(), hex("0001 80F4EE06 40C7700000000000"));
    let c = chunk_of(&[(14_400_000, 24_000.0)]);
    assert_eq!(c.bytes(), hex("0001 80E8DD0D 40D7700000000000"));
    assert_decodes_to(c.bytes(), &[(14_400_000, 24_000.0)]);
}

#[test]
fn golden_one_sample_hand_derived() {
    // 00 01 count; 02 = varint(1) (zigzag 1 -> 2); 3FF0000000000000 = bits of 1.0.
    // No padding byte: the stream ends on a byte boundary.
    assert_eq!(
        chunk_of(&[(1, 1.0)]).bytes(),
        hex("0001 02 3FF0000000000000")
    );
    // 01 = varint(-1) (zigzag -1 -> 1); 0.0 is 64 zero bits.
    assert_eq!(
        chunk_of(&[(-1, 0.0)]).bytes(),
        hex("0001 01 0000000000000000")
    );
    // zigzag(i64::MIN) = u64::MAX: nine 0xFF groups (63 bits) then 0x01 (bit 63);
    // the stale marker's bits 7FF0000000000002 follow verbatim.
    assert_eq!(
        chunk_of(&[(i64::MIN, STALE_NAN)]).bytes(),
        hex("0001 FFFFFFFFFFFFFFFFFF01 7FF0000000000002")
    );
}

#[test]
fn golden_two_samples_hand_derived() {
    let samples = [(1000, 1.0), (2000, 1.0)];
    let c = chunk_of(&samples);
    // 00 02        count = 2
    // D0 0F        varint(1000): zigzag 2000 = 0b1111_1010000 -> 0x50|0x80, 0x0F
    // 3FF0...00    1.0, 64 raw bits
    // E8 07        uvarint(2000 - 1000): 1000 = 0b111_1101000 -> 0x68|0x80, 0x07
    // 00           value unchanged: a single '0' bit, then 7 zero padding bits
    assert_eq!(c.bytes(), hex("0002 D00F 3FF0000000000000 E807 00"));
    assert_decodes_to(c.bytes(), &samples);
}

/// Timestamps hitting every delta-of-delta bucket and its edges; the value is always
/// 0.0, so every value after the first is a single '0' bit.
const DOD_SAMPLES: [(i64, f64); 12] = [
    (0, 0.0),         // varint 0
    (10, 0.0),        // delta 10 (uvarint)
    (20, 0.0),        // dod 0
    (35, 0.0),        // dod 5          -> 14-bit bucket
    (10_050, 0.0),    // dod 10000      -> 17-bit bucket
    (120_065, 0.0),   // dod 100000     -> 20-bit bucket
    (1_230_080, 0.0), // dod 1000000    -> 64-bit bucket
    (2_331_904, 0.0), // dod -8191      -> 14-bit bucket, lowest value
    (3_441_920, 0.0), // dod 8192       -> 14-bit bucket, highest value
    (4_543_744, 0.0), // dod -8192      -> 17-bit bucket (-2^13 is not in the 14-bit one)
    (6_169_856, 0.0), // dod 524288     -> 20-bit bucket, highest value
    (7_271_680, 0.0), // dod -524288    -> 64-bit bucket
];

#[test]
fn golden_every_dod_bucket() {
    let c = chunk_of(&DOD_SAMPLES);
    // Bit stream after the count (00 0C = 12), '|' separating samples:
    //  s0   00000000  + 64 zero bits                        (bytes 2..=10: 00 x 9)
    //  s1   00001010 (uvarint 10) 0                         (byte 11: 0A)
    //  s2   0 0
    //  s3   10 00000000000101 (5) 0
    //  s4   110 00010011100010000 (10000) 0
    //  s5   1110 00011000011010100000 (100000) 0
    //  s6   1111 + 64-bit 1000000 (0x00000000000F4240) 0
    //  s7   10 10000000000001 (-8191 = 2^14 - 8191 = 8193) 0
    //  s8   10 10000000000000 (8192, read back as positive: not > 2^13) 0
    //  s9   110 11110000000000000 (-8192 = 2^17 - 8192) 0
    //  s10  1110 10000000000000000000 (524288) 0
    //  s11  1111 + 64-bit -524288 (0xFFFFFFFFFFF80000) 0
    // Packed 8 bits at a time from byte 12 on, e.g.
    //  0|00|10 000 = 0x10 (s1 value, s2, s3 prefix, 3 bits of dod 5)
    //  00000000    = 0x00, 101|0|110|0 = 0xAC (rest of dod 5, its value, s4 ...)
    // and the last byte 0|0|000000 = 0x00: s11's final dod bit, its value bit, padding.
    let expected = hex("000C
         0000000000000000 00 0A
         1000AC27 1070C350 3C000000 00003D09 0140 02A0 006F 0003 A000 01FF FFFFFFFFFF 000000");
    assert_eq!(c.bytes(), expected);
    assert_decodes_to(&expected, &DOD_SAMPLES);
}

fn value_samples() -> [(i64, f64); 11] {
    [
        (0, 1.0),
        (1, 1.0),
        (2, 2.0),
        (3, 3.0),
        (4, 2.0),
        (5, 2.0),
        (6, f64::from_bits(0x4000_0000_0000_0001)),
        (7, f64::from_bits(0x4000_0000_0000_0003)),
        (8, f64::from_bits(0xC000_0000_0000_0002)),
        (9, STALE_NAN),
        (10, -0.0),
    ]
}

#[test]
fn golden_every_value_encoding() {
    let samples = value_samples();
    let c = chunk_of(&samples);
    // Timestamps step by 1, so from s2 on every dod is '0'. Values, as XOR with the
    // previous value's bits (lead/trail = leading/trailing zeros of the XOR):
    //  s0  3FF0000000000000 raw (1.0)
    //  s1  same                  -> 0
    //  s2  x=7FF0000000000000 lead 1 trail 52, no window yet
    //                            -> 11 00001 001011 (sig 11) 11111111111
    //  s3  x=0008000000000000 lead 12 trail 51 < 52, new window
    //                            -> 11 01100 000001 (sig 1) 1
    //  s4  x=0008000000000000 fits window (12, 51) -> 10 1
    //  s5  same                  -> 0
    //  s6  x=1 lead 63 clamped to 31, trail 0 < 51, new window
    //                            -> 11 11111 100001 (sig 33) 0x32 1
    //  s7  x=2 lead 62 (31) trail 1, fits window (31, 0) -> 10 + 33 bits: 0x31 10
    //  s8  x=8000000000000001 lead 0 trail 0, new window; sig 64 is written as 000000
    //                            -> 11 00000 000000 + 64 bits
    //  s9  stale marker 7FF0000000000002, x=BFF0000000000000 fits window (0, 0)
    //                            -> 10 + 64 bits
    //  s10 -0.0, x=FFF0000000000002 fits window (0, 0) -> 10 + 64 bits
    // Packed: byte 11 is 01 (uvarint 1); byte 12 = 0|0|11 0000 = 0x30 (s1 value, s2
    // dod, s2 control, 4 bits of lead 1); byte 13 = 1|001011|1 = 0x97; and so on to
    // the last byte 0000 1|000 = 0x08: s10's final '0010' then padding.
    let expected = hex("000B
         00 3FF0000000000000 01
         3097FFDB01A8FF08 0000000500000000 9800800000000000 0001 57FE00000000
         0000 0BFFC00000000000 08");
    assert_eq!(c.bytes(), expected);
    assert_decodes_to(&expected, &samples);
    let decoded = decode(&expected).unwrap();
    assert_eq!(decoded[9].v.to_bits(), STALE_NAN_BITS);
    assert!(decoded[10].v.is_sign_negative() && decoded[10].v == 0.0);
}

/// Prometheus storage/remote/read_handler_test.go, TestStreamReadEndpoint: the first
/// 120-sample chunk of `test_metric1 0+100x119` loaded at a 1m interval (t = i*60000,
/// v = i*100), as Prometheus's head appender cuts and encodes it.
const PROM_CHUNK_0: &str = "
    0078000000000000000000e0d403c27c059400c1ac7de97a32d04fedb46e5b07ce94a36d64f9d0fd1a506d
    0a539d0e51ad0650bda8bfca815a032833a05287da05280fa0d281da3d2813a032835a072877a032815a0f
    2813b597f4501b40a507f40a501b43a502741e502b40651ef40e506b406502743a503b41a501f40a53fb40
    a5067406502b43e502f406506b40e51e740a501b41a503f43a501b40a506740e5a4aff5c85cb88d7b80fe5
    2b465bc8e74529ed14a1f6e27d28768d284e8329d68728de832856da57f2827434a06d0528ff414a06d0d2
    8274fca0ad03286f41ca3ad032";

/// The same test's second chunk of `0+100x240`: t = 7200000 + i*60000, v = 12000 + i*100.
const PROM_CHUNK_1: &str = "
    007880f4ee0640c7700000000000e0d403e03e94edb0bfd280fa05283da052873a032815a0f2817a0328f5
    a072833a05280da1d281fa0d280da0529f3a072835a032817a1f2815a032833a0528fda05280fa0d281da1
    d2813a032835a072d667f4b98b9721ab711fca4ee0474a1b4529fd14a1b6f27d284e8f28568329de8728d6
    83284edc57d283b434a07d0528fb414a19d03282b4fca0bd03286b41ca39d05281b434a0fdb4bfd280da05
    2833a072875a032817a0f2815a0328f3a05283da05280fa1d281da0d2813a0329f5a072837a032815a1f28
    13a0d280da0528ffa05280da0d20";

#[test]
fn golden_120_sample_chunks_from_prometheus() {
    for (golden, t0, v0) in [(PROM_CHUNK_0, 0, 0.0), (PROM_CHUNK_1, 7_200_000, 12_000.0)] {
        let samples: Vec<(i64, f64)> = (0..120)
            .map(|i| (t0 + i * 60_000, v0 + i as f64 * 100.0))
            .collect();
        let expected = hex(golden);
        assert_eq!(chunk_of(&samples).bytes(), expected);
        assert_decodes_to(&expected, &samples);
    }
}

#[test]
fn chunk_from_prometheus_before_3_0_with_empty_trailing_byte() {
    // Before prometheus#14854, writeByte on an aligned stream appended an extra empty
    // byte: the same one-sample chunk as above, plus 00 (read_handler_test.go's old
    // expectation). It decodes the same, and from_bytes keeps it and appends into it.
    let old = hex("0001 80F4EE06 40C7700000000000 00");
    assert_eq!(decode(&old), Ok(vec![Sample::new(7_200_000, 12_000.0)]));
    let mut c = XorChunk::from_bytes(old.clone()).unwrap();
    assert_eq!(c.bytes(), old);
    c.append(7_260_000, 12_100.0);
    assert_eq!(c, chunk_of(&[(7_200_000, 12_000.0), (7_260_000, 12_100.0)]));
}

#[test]
fn chunk_from_reopened_prometheus_appender_reuses_the_zero_window() {
    // A Prometheus appender reopened on a chunk without an XOR window starts with the
    // window (0, 0) rather than "none", so it writes '10' + 64 bits where a fresh one
    // writes '11' + a new window. Hand-built: (0, 1.0), (1, bits 3FF0000000000001):
    //  00 | 3FF0000000000000 | 01 | 10 + 64-bit x=1 -> 80 00 00 00 00 00 00 00 40
    let quirk = hex("0002 00 3FF0000000000000 01 800000000000000040");
    let v1 = f64::from_bits(0x3FF0_0000_0000_0001);
    let got = decode(&quirk).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!((got[1].t, got[1].v.to_bits()), (1, v1.to_bits()));
    // Continuing it, we use the (0, 0) window like Prometheus would:
    // 0 (dod) 10 + 64-bit x=2, packed after the 2 bits already in the last byte.
    let mut c = XorChunk::from_bytes(quirk).unwrap();
    c.append(2, f64::from_bits(0x3FF0_0000_0000_0003));
    assert_eq!(
        c.bytes(),
        hex("0003 00 3FF0000000000000 01 80000000000000005000000000000000 10")
    );
    assert_eq!(
        decode(c.bytes()).unwrap()[2].v.to_bits(),
        0x3FF0_0000_0000_0003
    );
}

// ---------------------------------------------------------------- appender state

#[test]
fn counts_and_times_follow_appends() {
    let mut c = XorChunk::new();
    assert!(c.is_empty());
    assert_eq!((c.first_time(), c.last_time()), (None, None));
    c.append(-5, 1.0);
    assert_eq!(
        (c.first_time(), c.last_time(), c.num_samples()),
        (Some(-5), Some(-5), 1)
    );
    c.append(7, 2.0);
    c.append(9, 2.0);
    assert_eq!(
        (c.first_time(), c.last_time(), c.num_samples()),
        (Some(-5), Some(9), 3)
    );
    assert!(!c.is_empty() && !c.is_full());
    assert_eq!(&c.bytes()[..2], &[0, 3]);
    let restored = XorChunk::from_bytes(c.clone().into_bytes()).unwrap();
    assert_eq!(
        (restored.first_time(), restored.last_time()),
        (Some(-5), Some(9))
    );
}

#[test]
fn from_bytes_then_append_equals_appending_everything_at_once() {
    let series: Vec<Vec<(i64, f64)>> = vec![
        DOD_SAMPLES.to_vec(),
        value_samples().to_vec(),
        (0..130)
            .map(|i| (i * 15_000 + (i * 7919) % 13, (i * i) as f64 / 3.0))
            .collect(),
        vec![
            (i64::MIN, f64::NAN),
            (i64::MAX, f64::INFINITY),
            (i64::MAX - 1, STALE_NAN),
        ],
    ];
    for samples in series {
        let whole = chunk_of(&samples);
        for split in 0..=samples.len() {
            let mut c = XorChunk::from_bytes(chunk_of(&samples[..split]).into_bytes()).unwrap();
            for &(t, v) in &samples[split..] {
                c.append(t, v);
            }
            assert_eq!(c, whole, "split at {split}");
        }
    }
}

#[test]
fn full_chunk_reports_full_and_refuses_more() {
    let mut c = XorChunk::new();
    for t in 0..MAX_SAMPLES as i64 {
        c.append(t, 1.0);
    }
    assert!(c.is_full());
    assert_eq!(c.num_samples(), MAX_SAMPLES);
    assert_eq!(decode(c.bytes()).unwrap().len(), MAX_SAMPLES);
    let appended = std::panic::catch_unwind(move || c.append(MAX_SAMPLES as i64, 1.0));
    assert!(
        appended.is_err(),
        "append to a full chunk must panic like Prometheus"
    );
}

// ---------------------------------------------------------------- iteration

#[test]
fn seek_finds_the_first_sample_at_or_after_t_without_consuming_it() {
    let c = chunk_of(&[(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)]);
    let mut it = c.iter();
    assert_eq!(it.seek(15), Some(Sample::new(20, 2.0)));
    assert_eq!(
        it.seek(20),
        Some(Sample::new(20, 2.0)),
        "seeking again stays put"
    );
    assert_eq!(it.size_hint(), (1, Some(3)));
    assert_eq!(it.next(), Some(Sample::new(20, 2.0)));
    assert_eq!(
        it.seek(0),
        Some(Sample::new(30, 3.0)),
        "seek never goes back"
    );
    assert_eq!(it.seek(41), None);
    assert_eq!(it.next(), None);
    assert_eq!(it.err(), None);

    let mut it = c.iter();
    assert_eq!(it.seek(i64::MIN), Some(Sample::new(10, 1.0)));
    assert_eq!(it.collect::<Vec<_>>().len(), 4);
    assert_eq!(XorChunk::new().iter().seek(0), None);
}

#[test]
fn iterator_stops_on_corruption_and_says_why() {
    // A 1-sample chunk ends on a byte boundary, so a header promising 5 runs out of
    // data right after the first sample. (Zero padding bits would otherwise decode as
    // further '0' (same dod) '0' (same value) samples, as in Prometheus.)
    let mut bytes = chunk_of(&[(1, 1.0)]).into_bytes();
    bytes[1] = 5;
    let mut it = XorIter::new(&bytes);
    assert_eq!(it.by_ref().count(), 1);
    let err = it.err().cloned().expect("an error");
    assert_eq!(
        err,
        ChunkError::UnexpectedEnd {
            sample: 1,
            total: 5,
            bit: 16 + 8 + 64
        }
    );
    assert_eq!(it.next(), None, "fused");
    assert_eq!(it.size_hint(), (0, Some(0)));
    assert_eq!(decode(&bytes), Err(err));
}

// ---------------------------------------------------------------- errors

#[test]
fn decode_errors_say_what_and_where() {
    assert_eq!(decode(&[]), Err(ChunkError::MissingHeader { len: 0 }));
    assert_eq!(decode(&[0x00]), Err(ChunkError::MissingHeader { len: 1 }));
    assert_eq!(
        XorIter::new(&[7]).err(),
        Some(&ChunkError::MissingHeader { len: 1 }),
        "a headerless chunk is an error before the first next()"
    );

    // One sample's worth of data under a header promising two: sample 1 starts after
    // the header (16 bits), the 1-byte varint and the 64 value bits.
    let short = hex("0002 00 3FF0000000000000");
    let err = decode(&short).unwrap_err();
    assert_eq!(
        err,
        ChunkError::UnexpectedEnd {
            sample: 1,
            total: 2,
            bit: 88
        }
    );
    assert_eq!(
        err.to_string(),
        "chunk data ends inside sample 1 of 2, which starts at bit 88"
    );

    // Ten continuation bytes: Go's ReadVarint overflows.
    let overflow = hex("0001 FFFFFFFFFFFFFFFFFFFF 00");
    assert_eq!(
        decode(&overflow),
        Err(ChunkError::VarintOverflow { sample: 0, bit: 16 })
    );

    // '11' + lead 31 (11111) + sig 40 (101000): 71 bits, no encoder writes that.
    let window = hex("0002 00 0000000000000000 01 FF40");
    let err = decode(&window).unwrap_err();
    assert_eq!(
        err,
        ChunkError::InvalidXorWindow {
            sample: 1,
            bit: 88,
            leading: 31,
            significant: 40
        }
    );
    assert_eq!(
        err.to_string(),
        "value of sample 1 at bit 88 declares 31 leading zeros and 40 significant bits, more than 64"
    );
}

#[test]
fn decode_ignores_what_follows_the_samples_like_prometheus() {
    let mut bytes = chunk_of(&[(1, 1.0), (2, 1.0)]).into_bytes();
    let last = bytes.len() - 1;
    bytes[last] |= 0x7f; // Padding bits after the final '0' value bit.
    bytes.extend_from_slice(&[0xde, 0xad]);
    assert_eq!(decode(&bytes).unwrap().len(), 2);
}

#[test]
fn from_bytes_rejects_what_no_encoder_writes() {
    let good = chunk_of(&[(1, 1.0), (2, 1.0)]).into_bytes(); // Ends in a padded byte.
    let last = good.len() - 1;

    let mut padded = good.clone();
    padded[last] |= 0x01;
    assert_eq!(
        XorChunk::from_bytes(padded),
        Err(ChunkError::NonZeroPadding { offset: last })
    );

    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        XorChunk::from_bytes(trailing),
        Err(ChunkError::TrailingBytes {
            extra: 1,
            offset: good.len()
        }),
        "an empty trailing byte is only legitimate after a byte-aligned stream"
    );

    let mut aligned = chunk_of(&[(1, 1.0)]).into_bytes();
    let len = aligned.len();
    aligned.extend_from_slice(&[0, 0]);
    assert_eq!(
        XorChunk::from_bytes(aligned),
        Err(ChunkError::TrailingBytes {
            extra: 2,
            offset: len
        })
    );

    assert_eq!(
        XorChunk::from_bytes(vec![0]),
        Err(ChunkError::MissingHeader { len: 1 })
    );
    assert!(XorChunk::from_bytes(good[..last].to_vec()).is_err());
    assert_eq!(XorChunk::from_bytes(vec![0, 0]), Ok(XorChunk::new()));
}

#[test]
fn every_truncation_of_a_chunk_is_an_error() {
    let bytes = chunk_of(&DOD_SAMPLES).into_bytes();
    for len in 0..bytes.len() {
        assert!(decode(&bytes[..len]).is_err(), "truncated to {len} bytes");
        assert!(XorChunk::from_bytes(bytes[..len].to_vec()).is_err());
    }
}

#[test]
fn every_single_bit_flip_decodes_or_errors_without_panicking() {
    let bytes = chunk_of(&value_samples()).into_bytes();
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 0x80 >> (bit % 8);
        let _ = decode(&flipped);
        let _ = XorChunk::from_bytes(flipped.clone());
        let mut it = XorIter::new(&flipped);
        let _ = it.seek(5);
        let _ = it.count();
    }
}

#[test]
fn error_messages_are_lowercase() {
    let errors = [
        ChunkError::MissingHeader { len: 1 },
        ChunkError::UnexpectedEnd {
            sample: 1,
            total: 2,
            bit: 3,
        },
        ChunkError::VarintOverflow { sample: 0, bit: 16 },
        ChunkError::InvalidXorWindow {
            sample: 1,
            bit: 2,
            leading: 31,
            significant: 40,
        },
        ChunkError::TrailingBytes {
            extra: 1,
            offset: 4,
        },
        ChunkError::NonZeroPadding { offset: 4 },
    ];
    for err in errors {
        let msg = err.to_string();
        assert!(msg.starts_with(|c: char| c.is_ascii_lowercase()), "{msg}");
    }
}
