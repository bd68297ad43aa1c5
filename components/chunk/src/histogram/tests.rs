//! Unit tests of the histogram chunks: golden bytes derived by hand from Prometheus's
//! format (each derivation in a comment), and the integer chunk decoder checked
//! against a test-only encoder written from `histogram.go`'s appender.

use std::sync::Arc;

use cairn_model::histogram::{CounterResetHint, Span};
use cairn_model::{FloatHistogram, STALE_NAN, STALE_NAN_BITS};
use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::ChunkError;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn span(offset: i32, length: u32) -> Span {
    Span { offset, length }
}

/// Everything of a histogram, floats as bits, for exact comparisons.
type Key = (
    CounterResetHint,
    i32,
    [u64; 4],
    Vec<Span>,
    Vec<Span>,
    Vec<u64>,
    Vec<u64>,
    Option<Vec<u64>>,
);

fn key(h: &FloatHistogram) -> Key {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
    (
        h.counter_reset_hint,
        h.schema,
        [
            h.zero_threshold.to_bits(),
            h.zero_count.to_bits(),
            h.count.to_bits(),
            h.sum.to_bits(),
        ],
        h.positive_spans.clone(),
        h.negative_spans.clone(),
        bits(&h.positive_buckets),
        bits(&h.negative_buckets),
        h.custom_values.as_deref().map(bits),
    )
}

fn keys(samples: &[(i64, FloatHistogram)]) -> Vec<(i64, Key)> {
    samples.iter().map(|(t, h)| (*t, key(h))).collect()
}

fn hinted(hint: CounterResetHint, h: FloatHistogram) -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: hint,
        ..h
    }
}

// ---------------------------------------------------------------- float chunk

/// Schema 3, default zero threshold, buckets at indexes 1 and 2.
fn golden_sample(count: f64, zero_count: f64, sum: f64, buckets: [f64; 2]) -> FloatHistogram {
    FloatHistogram {
        schema: 3,
        zero_threshold: 2f64.powi(-128),
        zero_count,
        count,
        sum,
        positive_spans: vec![span(1, 2)],
        positive_buckets: buckets.to_vec(),
        ..FloatHistogram::default()
    }
}

#[test]
fn golden_float_histogram_chunk_hand_derived() {
    let samples = [
        (1000, golden_sample(5.0, 1.0, 12.5, [1.0, 3.0])),
        (2000, golden_sample(6.0, 1.0, 15.0, [1.0, 4.0])),
        (3000, golden_sample(7.0, 1.0, 17.5, [1.0, 5.0])),
    ];
    let mut c = FloatHistogramChunk::new();
    for (t, h) in &samples {
        assert!(c.append(*t, h));
    }
    // 00 03 00   3 samples, header 00 (unknown: the samples' hint)
    // 74         zero threshold 2^-128 = 0.5 * 2^-127: -127 + 243 = 116
    // then bits, most significant first:
    //   10 011        schema 3 (varbit_int, 3-bit bucket)
    //   10 001        1 positive span (varbit_uint)
    //   10 010        its length 2, then 10 001 its offset 1
    //   0             0 negative spans
    // sample 0:
    //   11110 001111101000   t = 1000 (varbit_int, 12-bit bucket)
    //   64 bits each: count 5.0 = 4014000000000000, zero count 1.0 = 3FF0..., sum
    //   12.5 = 4029000000000000, buckets 1.0 = 3FF0... and 3.0 = 4008000000000000
    // sample 1:
    //   11110 001111101000   dod = (2000 - 1000) - 0 = 1000
    //   count 5 -> 6:  x = 000C000000000000, 12 leading and 50 trailing zeros,
    //                  new window: 11 01100 000010 11
    //   zero count unchanged: 0
    //   sum 12.5 -> 15 (402E...): x = 0007000000000000, 13/48: 11 01101 000011 111
    //   bucket 1 -> 1: 0
    //   bucket 3 -> 4 (4010...): x = 0018000000000000, 11/51: 11 01011 000010 11
    // sample 2:
    //   0             dod 0
    //   count 6 -> 7 (401C...): x = 0004000000000000, 13/50 fits the 12/50 window:
    //                  10 01 (the window's 2 bits)
    //   zero count: 0
    //   sum 15 -> 17.5 (4031800000000000): x = 001F800000000000, 11/47 does not
    //                  fit 13/48: 11 01011 000110 111111
    //   bucket 1 -> 1: 0
    //   bucket 4 -> 5 (4014...): x = 0004000000000000, 13/50 does not fit 11/51:
    //                  11 01101 000001 1
    // 463 bits after the zero threshold, padded with one zero bit to 58 bytes.
    let want = hex("000300 74 \
         9c65178fa10050000000000000ffc000 000000000100a4000000000000ffc000 \
         00000000010020000000000003c7d1b0 2db43ed61696b1bf6d06");
    assert_eq!(c.bytes(), want.as_slice());
    assert_eq!(c.num_samples(), 3);

    let got = decode_float_histograms(&want).unwrap();
    let expected: Vec<(i64, FloatHistogram)> = samples
        .iter()
        .enumerate()
        .map(|(i, (t, h))| {
            let hint = if i == 0 {
                CounterResetHint::Unknown
            } else {
                CounterResetHint::NotCounterReset
            };
            (*t, hinted(hint, h.clone()))
        })
        .collect();
    assert_eq!(keys(&got), keys(&expected));
}

#[test]
fn golden_empty_chunk_is_three_zero_bytes() {
    let c = FloatHistogramChunk::new();
    assert_eq!(c.bytes(), [0, 0, 0]);
    assert_eq!(c.num_samples(), 0);
    assert!(c.is_empty());
    assert_eq!(decode_float_histograms(c.bytes()), Ok(vec![]));
    assert_eq!(decode_histograms(c.bytes()), Ok(vec![]));
}

#[test]
fn golden_stale_marker_as_first_sample_writes_an_empty_layout() {
    let mut c = FloatHistogramChunk::new();
    let stale = FloatHistogram {
        sum: STALE_NAN,
        // Ignored: a stale marker is written as nothing but its sum.
        count: 3.0,
        positive_spans: vec![span(0, 1)],
        positive_buckets: vec![3.0],
        ..FloatHistogram::default()
    };
    assert!(c.append(5, &stale));
    // 00 01 00 header; 00 zero threshold 0; 0 schema 0; 0 and 0 no spans;
    // 110 000101 t = 5 (6-bit bucket); count 0.0, zero count 0.0 (64 zero bits each);
    // the stale marker's bits 7FF0000000000002; 4 padding bits.
    assert_eq!(
        c.bytes(),
        hex("000100 00 18500000000000000000000000000000 0007ff00000000000020")
    );
    let got = decode_float_histograms(c.bytes()).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, 5);
    assert_eq!(got[0].1.sum.to_bits(), STALE_NAN_BITS);
    assert_eq!(
        key(&got[0].1),
        key(&FloatHistogram {
            sum: STALE_NAN,
            ..FloatHistogram::default()
        })
    );
}

#[test]
fn golden_header_bits_come_from_the_first_sample_hint() {
    // Prometheus's CounterResetHeader: the top two bits of byte 2.
    for (hint, byte) in [
        (CounterResetHint::Unknown, 0x00),
        (CounterResetHint::CounterReset, 0x80),
        (CounterResetHint::NotCounterReset, 0x40),
        (CounterResetHint::Gauge, 0xC0),
    ] {
        let mut c = FloatHistogramChunk::new();
        assert!(c.append(0, &hinted(hint, FloatHistogram::default())));
        assert_eq!(c.bytes()[2], byte, "{hint:?}");
        assert_eq!(c.counter_reset_header(), hint);
        assert_eq!(
            HistogramIter::float(c.bytes()).counter_reset_header(),
            Some(hint)
        );
        // The other six bits are ignored when reading.
        assert_eq!(header_hint(byte | 0x3f), hint);
    }
}

// -------------------------------------------------------------- integer chunk

#[test]
fn golden_integer_histogram_chunk_decode_hand_derived() {
    // Prometheus's HistogramChunk, assembled by hand from chunks.md and histogram.go's
    // appender: three samples of schema 0, zero threshold 0.001, positive buckets at
    // indexes 0 and 1; the third one a stale marker.
    //
    // 00 03 40               3 samples, header 01: not a counter reset
    // FF 3F50624DD2F1A9FC    zero threshold 0.001: no power of two, so 255 + 64 bits
    // then bits:
    //   0                    schema 0
    //   10 001               1 positive span: 10 010 length 2, 0 offset 0
    //   0                    no negative spans
    // sample 0 (t 100, count 6, zero count 2, sum 7.5, buckets [1, 3]):
    //   1110 001100100       t = 100 (varbit_int, 9-bit bucket)
    //   10 110               count 6 (varbit_uint)
    //   10 010               zero count 2
    //   401E000000000000     sum 7.5, 64 bits
    //   10 001, 10 010       buckets as deltas between buckets: 1, 3 - 1 = 2
    // sample 1 (t 160, count 10, zero count 3, sum 12, buckets [2, 5]):
    //   1110 000111100       t: dod = 60 - 0
    //   10 100               count: delta 4, dod 4
    //   10 001               zero count: delta 1, dod 1
    //   11 01010 000101 11011  sum: x = 7.5 ^ 12 (4028...) = 0036000000000000,
    //                        10 leading, 49 trailing zeros, 5 significant bits
    //   10 001, 10 001       buckets [2, 3] (as deltas) changed by [1, 1] from
    //                        [1, 2], dods [1, 1]
    // sample 2 (t 220, stale marker):
    //   0                    dod 0
    //   0, 0                 count and zero count dods: Prometheus writes 0 for both
    //   11 00010 111101 + 61 bits   sum: x = 4028... ^ 7FF0000000000002 =
    //                        3FD8000000000002, 2 leading and 1 trailing zero
    //   (no buckets after a stale sum)
    // 238 bits, padded with 2 zero bits to 30 bytes.
    let bytes = hex(
        "000340 ff 3f50624dd2f1a9fc 4647192d2401e0000000000008cb87948ea17718 \
         8c5effb0000000000004",
    );
    let got = decode_histograms(&bytes).unwrap();
    let h = |hint, count, zero_count, sum, buckets: [f64; 2]| FloatHistogram {
        counter_reset_hint: hint,
        schema: 0,
        zero_threshold: 0.001,
        zero_count,
        count,
        sum,
        positive_spans: vec![span(0, 2)],
        positive_buckets: buckets.to_vec(),
        ..FloatHistogram::default()
    };
    let want = vec![
        (100, h(CounterResetHint::Unknown, 6.0, 2.0, 7.5, [1.0, 3.0])),
        (
            160,
            h(
                CounterResetHint::NotCounterReset,
                10.0,
                3.0,
                12.0,
                [2.0, 5.0],
            ),
        ),
        (
            220,
            FloatHistogram {
                sum: STALE_NAN,
                ..FloatHistogram::default()
            },
        ),
    ];
    assert_eq!(keys(&got), keys(&want));
    assert_eq!(
        HistogramIter::integer(&bytes).counter_reset_header(),
        Some(CounterResetHint::NotCounterReset)
    );
    // Every strict prefix is an error, never a panic.
    for len in 0..bytes.len() {
        assert!(decode_histograms(&bytes[..len]).is_err(), "prefix of {len}");
    }
}

/// An integer histogram as Prometheus's `Histogram` holds it: integer counts, buckets
/// as deltas to the previous bucket of their side.
#[derive(Debug, Clone)]
struct IntHistogram {
    count: u64,
    zero_count: u64,
    sum: f64,
    positive: Vec<i64>,
    negative: Vec<i64>,
}

/// Test-only encoder of Prometheus's integer `HistogramChunk`, written from
/// `HistogramAppender.appendHistogram`: the layout and every sample in it.
fn encode_integer(header: u8, layout: &Layout, samples: &[(i64, IntHistogram)]) -> Vec<u8> {
    let mut w = BitWriter::from_parts(vec![0, 0, header], 0);
    w.bytes_mut()[..2].copy_from_slice(&(samples.len() as u16).to_be_bytes());
    let Some(((t0, first), rest)) = samples.split_first() else {
        return w.into_bytes();
    };
    layout.write(&mut w);
    w.write_varbit_int(*t0);
    w.write_varbit_uint(first.count);
    w.write_varbit_uint(first.zero_count);
    w.write_bits(first.sum.to_bits(), 64);
    for &b in first.positive.iter().chain(&first.negative) {
        w.write_varbit_int(b);
    }
    let mut prev = first.clone();
    let (mut t, mut t_delta, mut count_delta, mut zero_delta) = (*t0, 0i64, 0i64, 0i64);
    let mut sum = XorValue::writer(first.sum);
    let mut bucket_deltas = vec![0i64; first.positive.len() + first.negative.len()];
    for (ts, h) in rest {
        let d = ts.wrapping_sub(t);
        w.write_varbit_int(d.wrapping_sub(t_delta));
        (t, t_delta) = (*ts, d);
        let stale = is_stale_nan(h.sum);
        let cd = (h.count as i64).wrapping_sub(prev.count as i64);
        let zd = (h.zero_count as i64).wrapping_sub(prev.zero_count as i64);
        if stale {
            w.write_varbit_int(0);
            w.write_varbit_int(0);
        } else {
            w.write_varbit_int(cd.wrapping_sub(count_delta));
            w.write_varbit_int(zd.wrapping_sub(zero_delta));
        }
        (count_delta, zero_delta) = (cd, zd);
        sum.write(&mut w, h.sum);
        if !stale {
            let now = h.positive.iter().chain(&h.negative);
            let before = prev.positive.iter().chain(&prev.negative);
            for ((b, p), delta) in now.zip(before).zip(&mut bucket_deltas) {
                let d = b.wrapping_sub(*p);
                w.write_varbit_int(d.wrapping_sub(*delta));
                *delta = d;
            }
        }
        prev = h.clone();
    }
    w.into_bytes()
}

/// What the integer histogram reads back as.
fn as_float(layout: &Layout, hint: CounterResetHint, h: &IntHistogram) -> FloatHistogram {
    if is_stale_nan(h.sum) {
        return FloatHistogram {
            sum: h.sum,
            ..FloatHistogram::default()
        };
    }
    let absolute = |deltas: &[i64]| {
        let mut running = 0i64;
        deltas
            .iter()
            .map(|d| {
                running = running.wrapping_add(*d);
                running as f64
            })
            .collect()
    };
    FloatHistogram {
        counter_reset_hint: hint,
        schema: layout.schema,
        zero_threshold: layout.zero_threshold,
        zero_count: h.zero_count as f64,
        count: h.count as f64,
        sum: h.sum,
        positive_spans: layout.positive.clone(),
        negative_spans: layout.negative.clone(),
        positive_buckets: absolute(&h.positive),
        negative_buckets: absolute(&h.negative),
        custom_values: layout.custom_values(),
    }
}

#[test]
fn integer_chunk_of_a_gauge_histogram_with_custom_buckets() {
    let layout = Layout {
        schema: -53,
        zero_threshold: 0.0,
        positive: vec![span(0, 3)],
        negative: vec![],
        custom_values: Arc::from([0.5, 1.0, 2.5]),
    };
    let samples: Vec<(i64, IntHistogram)> = (0..10)
        .map(|i| {
            let base = (i * 7 % 5) as i64;
            (
                i64::from(i) * 15_000,
                IntHistogram {
                    count: 3 * base as u64 + 3,
                    zero_count: 0,
                    sum: f64::from(i) * 1.5,
                    positive: vec![base + 1, 0, 0],
                    negative: vec![],
                },
            )
        })
        .collect();
    let bytes = encode_integer(0xC0, &layout, &samples);
    let got = decode_histograms(&bytes).unwrap();
    let want: Vec<(i64, FloatHistogram)> = samples
        .iter()
        .map(|(t, h)| (*t, as_float(&layout, CounterResetHint::Gauge, h)))
        .collect();
    assert_eq!(keys(&got), keys(&want));
    assert_eq!(got[0].1.custom_bounds(), [0.5, 1.0, 2.5]);
}

#[test]
fn integer_chunk_with_schema_above_8_is_read_at_schema_8() {
    // A newer Prometheus may write schema 9: buckets 1..=4 of schema 9 are buckets 1
    // and 2 of schema 8.
    let layout = Layout {
        schema: 9,
        positive: vec![span(1, 4)],
        ..Layout::empty()
    };
    let h = IntHistogram {
        count: 10,
        zero_count: 0,
        sum: 1.0,
        positive: vec![1, 1, 0, 0],
        negative: vec![],
    };
    let got = decode_histograms(&encode_integer(0, &layout, &[(0, h)])).unwrap();
    assert_eq!(got[0].1.schema, 8);
    assert_eq!(got[0].1.positive_spans, [span(1, 2)]);
    assert_eq!(got[0].1.positive_buckets, [3.0, 4.0]);

    // With a negative offset after the first span, there is no schema-8 layout.
    let layout = Layout {
        positive: vec![span(4, 1), span(-3, 1)],
        ..layout
    };
    let h = IntHistogram {
        positive: vec![1, 0],
        ..empty_int()
    };
    assert_eq!(
        decode_histograms(&encode_integer(0, &layout, &[(0, h)])),
        Err(ChunkError::IrreducibleHistogramSchema {
            schema: 9,
            sample: 0
        })
    );
}

fn empty_int() -> IntHistogram {
    IntHistogram {
        count: 0,
        zero_count: 0,
        sum: 0.0,
        positive: vec![],
        negative: vec![],
    }
}

#[test]
fn errors_say_where() {
    assert_eq!(
        decode_float_histograms(&[0, 1]),
        Err(ChunkError::MissingHistogramHeader { len: 2 })
    );
    assert_eq!(
        decode_histograms(&[]),
        Err(ChunkError::MissingHistogramHeader { len: 0 })
    );
    // One sample promised, the layout is cut short.
    assert_eq!(
        decode_float_histograms(&[0, 1, 0]),
        Err(ChunkError::TruncatedHistogramLayout { total: 1, bit: 24 })
    );
    // Layout: zero threshold 0, schema 0, no spans; sample 0 starts at bit 35 and
    // ends after its timestamp.
    assert_eq!(
        decode_float_histograms(&[0, 1, 0, 0, 0b0000_0000]),
        Err(ChunkError::UnexpectedEnd {
            sample: 0,
            total: 1,
            bit: 35
        })
    );
    // A second sample whose count field opens a 94-bit window.
    let mut c = FloatHistogramChunk::new();
    assert!(c.append(0, &FloatHistogram::default()));
    let mut bytes = c.bytes().to_vec();
    bytes[1] = 2;
    // The first sample's stream is 204 bits (layout 11, t 1, three 64-bit fields), so
    // sample 1 starts at bit 24 + 204, in the 4 padding bits of the last byte: dod 0,
    // then '11', leading 11111, significant 111111.
    let start = 8 * bytes.len() as u64 - 4;
    let last = bytes.len() - 1;
    bytes[last] |= 0b0111;
    bytes.extend_from_slice(&[0xff, 0xf0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        decode_float_histograms(&bytes),
        Err(ChunkError::InvalidXorWindow {
            sample: 1,
            bit: start,
            leading: 31,
            significant: 63
        })
    );
    // The iterator yields the good sample, then the error, then nothing.
    let mut it = HistogramIter::float(&bytes);
    assert!(matches!(it.next(), Some(Ok((0, _)))));
    assert!(matches!(it.next(), Some(Err(_))));
    assert!(it.next().is_none());
}

#[test]
fn error_messages_are_lowercase() {
    let errors = [
        ChunkError::MissingHistogramHeader { len: 2 },
        ChunkError::TruncatedHistogramLayout { total: 1, bit: 24 },
        ChunkError::UnknownHistogramSchema {
            schema: 60,
            bit: 32,
        },
        ChunkError::InvalidHistogramSpan {
            span: 0,
            bit: 40,
            length: 1 << 40,
            offset: 0,
        },
        ChunkError::IrreducibleHistogramSchema {
            schema: 9,
            sample: 0,
        },
    ];
    for err in errors {
        let msg = err.to_string();
        assert!(msg.starts_with(|c: char| c.is_ascii_lowercase()), "{msg}");
    }
}

#[test]
fn oversized_spans_are_errors() {
    // Zero threshold 0, schema 0, one positive span of length 2^32 (varbit_uint,
    // '11111110' + 56 bits) at offset 0.
    let mut w = BitWriter::from_parts(vec![0, 1, 0], 0);
    w.write_byte(0);
    w.write_varbit_int(0);
    w.write_varbit_uint(1);
    w.write_varbit_uint(1 << 32);
    w.write_varbit_int(0);
    w.write_varbit_uint(0);
    let bytes = w.into_bytes();
    assert_eq!(
        decode_float_histograms(&bytes),
        Err(ChunkError::InvalidHistogramSpan {
            span: 0,
            bit: 24 + 8 + 1 + 5,
            length: 1 << 32,
            offset: 0
        })
    );
}

// ------------------------------------------------------------------ properties

fn layouts() -> impl Strategy<Value = Layout> {
    let spans = || vec((-5i32..5, 0u32..4), 0..4);
    let exponential = (
        -4i32..=8,
        prop::sample::select(vec![0.0, 2f64.powi(-128), 0.001, 1024.0]),
        spans(),
        spans(),
    )
        .prop_map(|(schema, zero_threshold, p, n)| Layout {
            schema,
            zero_threshold,
            positive: p.into_iter().map(|(o, l)| span(o, l)).collect(),
            negative: n.into_iter().map(|(o, l)| span(o, l)).collect(),
            custom_values: Arc::from([]),
        });
    let custom =
        (vec((0u32..3, 1u32..3), 0..3), vec(0u32..100_000, 0..6)).prop_map(|(p, mut bounds)| {
            bounds.sort_unstable();
            bounds.dedup();
            Layout {
                schema: -53,
                zero_threshold: 0.0,
                positive: p.into_iter().map(|(o, l)| span(o as i32, l)).collect(),
                negative: vec![],
                custom_values: bounds.iter().map(|&b| f64::from(b) / 7.0).collect(),
            }
        });
    prop_oneof![3 => exponential, 1 => custom]
}

fn int_samples(layout: &Layout) -> impl Strategy<Value = Vec<(i64, IntHistogram)>> {
    let (np, nn) = layout.bucket_counts();
    let int = || {
        prop_oneof![
            4 => -50i64..50,
            1 => any::<i64>(),
        ]
    };
    let sample = (
        any::<u64>(),
        0u64..1000,
        prop_oneof![4 => any::<f64>(), 1 => Just(STALE_NAN)],
        vec(int(), np),
        vec(int(), nn),
    )
        .prop_map(
            |(count, zero_count, sum, positive, negative)| IntHistogram {
                count,
                zero_count,
                sum,
                positive,
                negative,
            },
        );
    (any::<i64>(), vec((1i64..100_000, sample), 1..40)).prop_map(|(start, steps)| {
        let mut t = start;
        let mut stale = false;
        steps
            .into_iter()
            .map(|(step, mut h)| {
                t = t.wrapping_add(step);
                // After a stale marker Prometheus writes only stale markers.
                if stale {
                    h.sum = STALE_NAN;
                }
                stale |= is_stale_nan(h.sum);
                (t, h)
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn integer_chunks_decode_as_prometheus_reads_them(
        (layout, samples) in layouts().prop_flat_map(|l| {
            let s = int_samples(&l);
            (Just(l), s)
        }),
        gauge in any::<bool>(),
    ) {
        let header = if gauge { 0xC0 } else { 0x80 };
        let bytes = encode_integer(header, &layout, &samples);
        let got = decode_histograms(&bytes).unwrap();
        let want: Vec<(i64, FloatHistogram)> = samples
            .iter()
            .enumerate()
            .map(|(i, (t, h))| {
                let hint = match (gauge, i) {
                    (true, _) => CounterResetHint::Gauge,
                    (false, 0) => CounterResetHint::Unknown,
                    (false, _) => CounterResetHint::NotCounterReset,
                };
                (*t, as_float(&layout, hint, h))
            })
            .collect();
        prop_assert_eq!(keys(&got), keys(&want));
        for len in 0..bytes.len() {
            prop_assert!(decode_histograms(&bytes[..len]).is_err());
            // Read as the other encoding: anything but a panic.
            let _ = decode_float_histograms(&bytes[..len]);
        }
    }

    #[test]
    fn float_chunk_writer_and_reader_agree_on_layouts(layout in layouts(), values in vec(any::<f64>(), 64)) {
        // The first sample takes the layout; a gauge chunk takes arbitrary values.
        let (np, nn) = layout.bucket_counts();
        let h = FloatHistogram {
            counter_reset_hint: CounterResetHint::Gauge,
            schema: layout.schema,
            zero_threshold: layout.zero_threshold,
            zero_count: values[0],
            count: values[1],
            sum: values[2],
            positive_spans: layout.positive.clone(),
            negative_spans: layout.negative.clone(),
            positive_buckets: values[3..3 + np].to_vec(),
            negative_buckets: values[3 + np..3 + np + nn].to_vec(),
            custom_values: layout.custom_values(),
        };
        let mut c = FloatHistogramChunk::new();
        prop_assert!(c.append(7, &h));
        let got = decode_float_histograms(c.bytes()).unwrap();
        if is_stale_nan(h.sum) {
            prop_assert_eq!(got[0].1.sum.to_bits(), STALE_NAN_BITS);
        } else {
            prop_assert_eq!(keys(&got), keys(&[(7, h)]));
        }
    }
}
