//! The bucket layout a histogram chunk takes from its first sample and writes once,
//! before that sample (Prometheus's `histogram_meta.go`).
//!
//! ```text
//!  zero threshold   1 byte: 0 for 0, 1..=254 for 2^(byte - 244) (2^-243 ..= 2^10),
//!                   or 255 followed by the float's 64 bits
//!  schema           varbit_int
//!  positive spans   varbit_uint count, then per span varbit_uint length, varbit_int offset
//!  negative spans   the same
//!  custom bounds    only for schema -53: varbit_uint count, then per bound either
//!                   varbit_uint(bound * 1000 + 1) when that is a whole number in
//!                   1..=33554431, or a 0 bit and the float's 64 bits
//! ```

use std::sync::Arc;

use cairn_model::histogram::{
    custom_bucket_bounds_match, is_custom_buckets_schema, Span, CUSTOM_BUCKETS_SCHEMA,
};
use cairn_model::FloatHistogram;

use super::HEADER_BITS;
use crate::bits::{BitReader, BitWriter};
use crate::ChunkError;

/// The lowest and highest schema Prometheus reads (those above 8 at resolution 8).
const MIN_KNOWN_SCHEMA: i64 = -9;
const MAX_KNOWN_SCHEMA: i64 = 52;

/// The layout shared by all samples of a chunk.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Layout {
    pub(super) schema: i32,
    pub(super) zero_threshold: f64,
    pub(super) positive: Vec<Span>,
    pub(super) negative: Vec<Span>,
    /// The custom bucket bounds; written (and read) only for the custom-buckets schema.
    pub(super) custom_values: Arc<[f64]>,
}

impl Layout {
    /// The layout of a chunk holding only stale markers (Prometheus writes a stale
    /// marker as a histogram with nothing but its sum).
    pub(super) fn empty() -> Self {
        Self {
            schema: 0,
            zero_threshold: 0.0,
            positive: Vec::new(),
            negative: Vec::new(),
            custom_values: Arc::from([]),
        }
    }

    /// The layout `h` fixes as a chunk's first sample, as the chunk will read it back.
    ///
    /// Spans describing more buckets than `h` has are cut down to the buckets there are;
    /// buckets beyond what the spans describe are left out (see
    /// [`bucket_count`]). Valid histograms are taken as they are.
    pub(super) fn of(h: &FloatHistogram) -> Self {
        let custom = is_custom_buckets_schema(h.schema);
        Self {
            schema: h.schema,
            // -0 is written as 0.
            zero_threshold: if h.zero_threshold == 0.0 {
                0.0
            } else {
                h.zero_threshold
            },
            positive: spans_for(&h.positive_spans, h.positive_buckets.len()),
            negative: spans_for(&h.negative_spans, h.negative_buckets.len()),
            custom_values: match &h.custom_values {
                Some(bounds) if custom => Arc::clone(bounds),
                _ => Arc::from([]),
            },
        }
    }

    /// Buckets on the positive and the negative side.
    pub(super) fn bucket_counts(&self) -> (usize, usize) {
        // The spans of a layout never describe more buckets than some histogram had
        // or the chunk data could hold, so the counts fit.
        let count = |spans: &[Span]| usize::try_from(bucket_count(spans)).unwrap_or(usize::MAX);
        (count(&self.positive), count(&self.negative))
    }

    /// The custom bounds as a histogram carries them: `Some` exactly for the
    /// custom-buckets schema.
    pub(super) fn custom_values(&self) -> Option<Arc<[f64]>> {
        is_custom_buckets_schema(self.schema).then(|| Arc::clone(&self.custom_values))
    }

    /// Whether `h` (not a stale marker) can be stored with this layout: the same
    /// schema and zero threshold, the same custom bounds for custom buckets, and the
    /// same bucket indexes on each side, as many as it has buckets. Spans are compared
    /// by the bucket indexes they describe, as Prometheus's appender does, so
    /// zero-length spans and a span split in two change nothing.
    pub(super) fn fits(&self, h: &FloatHistogram) -> bool {
        h.schema == self.schema
            && h.zero_threshold == self.zero_threshold
            && (!is_custom_buckets_schema(self.schema)
                || custom_bucket_bounds_match(h.custom_bounds(), &self.custom_values))
            && same_buckets(&self.positive, &h.positive_spans, h.positive_buckets.len())
            && same_buckets(&self.negative, &h.negative_spans, h.negative_buckets.len())
    }

    pub(super) fn write(&self, w: &mut BitWriter) {
        write_zero_threshold(w, self.zero_threshold);
        w.write_varbit_int(i64::from(self.schema));
        for spans in [&self.positive, &self.negative] {
            w.write_varbit_uint(spans.len() as u64);
            for s in spans {
                w.write_varbit_uint(u64::from(s.length));
                w.write_varbit_int(i64::from(s.offset));
            }
        }
        if is_custom_buckets_schema(self.schema) {
            w.write_varbit_uint(self.custom_values.len() as u64);
            for &bound in self.custom_values.iter() {
                write_custom_bound(w, bound);
            }
        }
    }

    /// Reads a layout, checking what Prometheus's iterator checks (a known schema) and
    /// what keeps corrupt data from asking for huge allocations: no more spans or
    /// bounds than the remaining bits could encode. `total` is the chunk's sample count,
    /// for errors.
    pub(super) fn read(r: &mut BitReader<'_>, total: usize) -> Result<Self, ChunkError> {
        let zero_threshold = field(r, total, read_zero_threshold)?;
        let schema_bit = HEADER_BITS + r.pos();
        let schema = field(r, total, BitReader::read_varbit_int)?;
        let known = schema == i64::from(CUSTOM_BUCKETS_SCHEMA)
            || (MIN_KNOWN_SCHEMA..=MAX_KNOWN_SCHEMA).contains(&schema);
        if !known {
            return Err(ChunkError::UnknownHistogramSchema {
                schema,
                bit: schema_bit,
            });
        }
        // Every known schema fits.
        let schema = schema as i32;
        let mut sides = [Vec::new(), Vec::new()];
        let mut span_number = 0;
        for spans in &mut sides {
            // Every span takes at least two bits.
            let n = counted(r, total, 2)?;
            spans.reserve_exact(n);
            for _ in 0..n {
                let bit = HEADER_BITS + r.pos();
                let length = field(r, total, BitReader::read_varbit_uint)?;
                let offset = field(r, total, BitReader::read_varbit_int)?;
                match (u32::try_from(length), i32::try_from(offset)) {
                    (Ok(length), Ok(offset)) => spans.push(Span { offset, length }),
                    _ => {
                        return Err(ChunkError::InvalidHistogramSpan {
                            span: span_number,
                            bit,
                            length,
                            offset,
                        })
                    }
                }
                span_number += 1;
            }
        }
        let custom_values: Arc<[f64]> = if is_custom_buckets_schema(schema) {
            // Every bound takes at least five bits.
            let n = counted(r, total, 5)?;
            let mut bounds = Vec::with_capacity(n);
            for _ in 0..n {
                bounds.push(field(r, total, read_custom_bound)?);
            }
            bounds.into()
        } else {
            Arc::from([])
        };
        let [positive, negative] = sides;
        Ok(Self {
            schema,
            zero_threshold,
            positive,
            negative,
            custom_values,
        })
    }
}

/// Reads one layout field, or says where the data ended.
fn field<'a, T>(
    r: &mut BitReader<'a>,
    total: usize,
    read: impl FnOnce(&mut BitReader<'a>) -> Option<T>,
) -> Result<T, ChunkError> {
    let bit = HEADER_BITS + r.pos();
    read(r).ok_or(ChunkError::TruncatedHistogramLayout { total, bit })
}

/// Reads a count of items that take at least `min_bits` each, rejecting counts the
/// remaining data cannot hold.
fn counted(r: &mut BitReader<'_>, total: usize, min_bits: u64) -> Result<usize, ChunkError> {
    let bit = HEADER_BITS + r.pos();
    let n = field(r, total, BitReader::read_varbit_uint)?;
    match usize::try_from(n) {
        Ok(n) if n as u64 <= r.remaining() / min_bits => Ok(n),
        _ => Err(ChunkError::TruncatedHistogramLayout { total, bit }),
    }
}

/// How many buckets `spans` describe.
pub(super) fn bucket_count(spans: &[Span]) -> u64 {
    spans.iter().map(|s| u64::from(s.length)).sum()
}

/// The bucket indexes `spans` describe, in order: each span starts `offset` after the
/// end of the previous one (the first at `offset`), zero-length spans included.
fn bucket_indexes(spans: &[Span]) -> impl Iterator<Item = i64> + '_ {
    let mut next = 0i64;
    spans.iter().flat_map(move |s| {
        let start = next.wrapping_add(i64::from(s.offset));
        next = start.wrapping_add(i64::from(s.length));
        (0..i64::from(s.length)).map(move |i| start.wrapping_add(i))
    })
}

/// Whether `spans` describe exactly `n` buckets at the indexes `chunk` describes.
fn same_buckets(chunk: &[Span], spans: &[Span], n: usize) -> bool {
    let n = n as u64;
    bucket_count(spans) == n
        && bucket_count(chunk) == n
        && bucket_indexes(chunk).eq(bucket_indexes(spans))
}

/// `spans` cut down to describe at most `n` buckets.
fn spans_for(spans: &[Span], n: usize) -> Vec<Span> {
    if bucket_count(spans) <= n as u64 {
        return spans.to_vec();
    }
    let mut left = n;
    let mut out = Vec::new();
    for s in spans {
        if left == 0 {
            break;
        }
        let length = (s.length as usize).min(left);
        left -= length;
        out.push(Span {
            offset: s.offset,
            length: length as u32,
        });
    }
    out
}

/// `e` when `t` is exactly `0.5 * 2^e` for a positive normal `t` (what Go's
/// `math.Frexp` reports as the fraction 0.5 and exponent `e`).
fn half_exponent(t: f64) -> Option<i32> {
    const MANTISSA: u64 = (1 << 52) - 1;
    let bits = t.to_bits();
    let biased = (bits >> 52) as i32;
    (t > 0.0 && biased != 0 && biased != 0x7ff && bits & MANTISSA == 0).then_some(biased - 1022)
}

fn write_zero_threshold(w: &mut BitWriter, t: f64) {
    if t == 0.0 {
        w.write_byte(0);
        return;
    }
    match half_exponent(t) {
        Some(e) if (-242..=11).contains(&e) => w.write_byte((e + 243) as u8),
        _ => {
            w.write_byte(255);
            w.write_bits(t.to_bits(), 64);
        }
    }
}

fn read_zero_threshold(r: &mut BitReader<'_>) -> Option<f64> {
    Some(match r.read_byte()? {
        0 => 0.0,
        255 => f64::from_bits(r.read_bits(64)?),
        // 0.5 * 2^(b - 243): a normal power of two, built from its exponent bits.
        b => f64::from_bits((u64::from(b) + 1023 - 244) << 52),
    })
}

fn write_custom_bound(w: &mut BitWriter, bound: f64) {
    let scaled = bound * 1000.0;
    let whole = scaled.round();
    if (0.0..=33_554_430.0).contains(&scaled) && whole / 1000.0 == bound {
        w.write_varbit_uint(whole as u64 + 1);
    } else {
        w.write_bit(false);
        w.write_bits(bound.to_bits(), 64);
    }
}

fn read_custom_bound(r: &mut BitReader<'_>) -> Option<f64> {
    match r.read_varbit_uint()? {
        0 => Some(f64::from_bits(r.read_bits(64)?)),
        n => Some((n - 1) as f64 / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(offset: i32, length: u32) -> Span {
        Span { offset, length }
    }

    fn round_trip(layout: &Layout) -> Layout {
        let mut w = BitWriter::from_parts(Vec::new(), 0);
        layout.write(&mut w);
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        let got = Layout::read(&mut r, 1).expect("layout reads back");
        assert!(r.remaining() < 8, "nothing but padding is left");
        got
    }

    #[test]
    fn layouts_from_prometheus_tests_round_trip() {
        // The cases of Prometheus's TestWriteReadHistogramChunkLayout.
        let exp = |schema, zero_threshold, positive: Vec<Span>, negative: Vec<Span>| Layout {
            schema,
            zero_threshold,
            positive,
            negative,
            custom_values: Arc::from([]),
        };
        let custom = |bounds: &[f64]| Layout {
            schema: -53,
            zero_threshold: 0.0,
            positive: vec![span(-4, 3), span(2, 42)],
            negative: vec![],
            custom_values: bounds.into(),
        };
        let layouts = [
            exp(3, 0.0, vec![span(-4, 3), span(2, 42)], vec![]),
            exp(
                -2,
                2.938735877055719e-39,
                vec![],
                vec![span(2, 5), span(1, 34)],
            ),
            exp(6, 1024.0, vec![], vec![]),
            exp(
                6,
                1025.0,
                vec![span(2, 5), span(1, 34), span(0, 0)],
                vec![span(-345, 4545), span(53645665, 345), span(945995, 85848)],
            ),
            exp(6, 2048.0, vec![], vec![]),
            exp(
                0,
                2f64.powi(-243),
                vec![span(-4, 3)],
                vec![span(2, 5), span(1, 34)],
            ),
            exp(
                0,
                2f64.powi(-244),
                vec![span(-4, 3)],
                vec![span(2, 5), span(1, 34)],
            ),
            exp(4, 42.0, vec![], vec![]),
            custom(&[
                -5.0, -2.5, 0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 255.0,
                500.0, 1000.0, 50000.0, 1e7,
            ]),
            custom(&[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            custom(&[
                0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 1.024, 8.192,
            ]),
            custom(&[1.001, 1.023, 2.01, 4.007, 4.095, 8.001, 8.19, 16.24]),
        ];
        for layout in &layouts {
            assert_eq!(&round_trip(layout), layout);
        }
    }

    #[test]
    fn zero_threshold_encodings() {
        let bytes = |t: f64| {
            let mut w = BitWriter::from_parts(Vec::new(), 0);
            write_zero_threshold(&mut w, t);
            w.into_bytes()
        };
        assert_eq!(bytes(0.0), [0]);
        assert_eq!(bytes(-0.0), [0]);
        // 2^-128 = 0.5 * 2^-127: -127 + 243 = 116, Prometheus's default.
        assert_eq!(bytes(2f64.powi(-128)), [116]);
        assert_eq!(bytes(2f64.powi(-243)), [1]);
        assert_eq!(bytes(1024.0), [254]);
        // Out of the one-byte range, not a power of two, negative, infinite, NaN.
        for t in [
            2048.0,
            2f64.powi(-244),
            0.001,
            -1.0,
            f64::INFINITY,
            f64::NAN,
        ] {
            let mut want = vec![255];
            want.extend_from_slice(&t.to_bits().to_be_bytes());
            assert_eq!(bytes(t), want, "{t}");
        }
        for b in 1..=254u8 {
            let t = read_zero_threshold(&mut BitReader::new(&[b])).unwrap();
            assert_eq!(bytes(t), [b]);
        }
    }

    #[test]
    fn custom_bound_encodings() {
        let bits = |bound: f64| {
            let mut w = BitWriter::from_parts(Vec::new(), 0);
            write_custom_bound(&mut w, bound);
            (
                w.bytes().len(),
                read_custom_bound(&mut BitReader::new(w.bytes())),
            )
        };
        // 0.1 * 1000 + 1 = 101: varbit_uint in 7 + 2 bits.
        assert_eq!(bits(0.1), (2, Some(0.1)));
        // 33554.43 is the largest short one (33554431 in 25 bits + 7 prefix bits).
        assert_eq!(bits(33554.43), (4, Some(33554.43)));
        // Larger, negative, finer than 0.001: a 0 bit and 64 bits.
        for b in [33554.431, -1.0, 0.0001, f64::INFINITY] {
            assert_eq!(bits(b), (9, Some(b)), "{b}");
        }
        // -0 is stored as 0 (as Prometheus does).
        assert_eq!(bits(-0.0).1.map(f64::to_bits), Some(0));
    }

    #[test]
    fn spans_are_compared_by_bucket_indexes() {
        let layout = Layout {
            positive: vec![span(1, 2), span(3, 1)],
            ..Layout::empty()
        };
        let h = |spans: Vec<Span>, n: usize| FloatHistogram {
            positive_spans: spans,
            positive_buckets: vec![1.0; n],
            ..FloatHistogram::default()
        };
        assert!(layout.fits(&h(vec![span(1, 2), span(3, 1)], 3)));
        assert!(layout.fits(&h(vec![span(1, 1), span(0, 1), span(0, 0), span(3, 1)], 3)));
        assert!(!layout.fits(&h(vec![span(1, 2), span(2, 1)], 3)));
        assert!(
            !layout.fits(&h(vec![span(1, 2), span(3, 1)], 2)),
            "bucket count"
        );
        assert!(!layout.fits(&h(vec![span(1, 3)], 3)));
    }

    #[test]
    fn inconsistent_first_samples_keep_what_their_buckets_cover() {
        assert_eq!(
            spans_for(&[span(0, 5), span(2, 3)], 6),
            [span(0, 5), span(2, 1)]
        );
        assert_eq!(spans_for(&[span(0, 5)], 0), []);
        assert_eq!(spans_for(&[span(0, 2)], 5), [span(0, 2)]);
        assert_eq!(
            spans_for(&[span(0, u32::MAX), span(0, u32::MAX)], 1),
            [span(0, 1)]
        );
    }

    #[test]
    fn corrupt_layouts_are_errors() {
        let read = |bytes: &[u8]| Layout::read(&mut BitReader::new(bytes), 7);
        assert_eq!(
            read(&[]),
            Err(ChunkError::TruncatedHistogramLayout { total: 7, bit: 24 })
        );
        // Zero threshold 0, schema 53 ('1110' 000110101).
        assert_eq!(
            read(&[0, 0b1110_0001, 0b1010_1000]),
            Err(ChunkError::UnknownHistogramSchema {
                schema: 53,
                bit: 32
            })
        );
        // Zero threshold 0, schema 0 ('0'), 2^56 - 1 positive spans ('11111110' and
        // 56 ones).
        let mut bytes = vec![0, 0b0111_1111, 0b0111_1111];
        bytes.extend_from_slice(&[0xff; 7]);
        assert_eq!(
            read(&bytes),
            Err(ChunkError::TruncatedHistogramLayout { total: 7, bit: 33 })
        );
    }
}
