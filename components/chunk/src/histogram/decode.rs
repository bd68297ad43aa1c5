//! Reading both histogram chunk encodings, as Prometheus's `floatHistogramIterator`
//! and `histogramIterator` do, into float histograms.

use std::iter::FusedIterator;

use cairn_model::histogram::{is_custom_buckets_schema, CounterResetHint, EXPONENTIAL_SCHEMA_MAX};
use cairn_model::{is_stale_nan, FloatHistogram};

use super::layout::Layout;
use super::xor_value::{XorError, XorValue};
use super::{header_hint, HEADER_BITS};
use crate::bits::BitReader;
use crate::ChunkError;

/// Decodes a Prometheus float histogram chunk (`EncFloatHistogram`, StoreAPI
/// `FLOAT_HISTOGRAM`): every sample, or the first error. Never panics on bad bytes;
/// like Prometheus it ignores anything after the samples the header announces.
pub fn decode_float_histograms(bytes: &[u8]) -> Result<Vec<(i64, FloatHistogram)>, ChunkError> {
    collect(HistogramIter::float(bytes), bytes.len())
}

/// Decodes a Prometheus integer histogram chunk (`EncHistogram`, StoreAPI
/// `HISTOGRAM`) into float histograms, as Prometheus's `AtFloatHistogram` converts
/// them: bucket deltas summed up to absolute counts. Never panics on bad bytes.
pub fn decode_histograms(bytes: &[u8]) -> Result<Vec<(i64, FloatHistogram)>, ChunkError> {
    collect(HistogramIter::integer(bytes), bytes.len())
}

fn collect(it: HistogramIter<'_>, len: usize) -> Result<Vec<(i64, FloatHistogram)>, ChunkError> {
    // Every sample after the first takes at least four bits, so a lying header
    // cannot make us reserve much more than the input.
    let mut out = Vec::with_capacity(it.size_hint().1.unwrap_or(0).min(len.saturating_mul(2)));
    for sample in it {
        out.push(sample?);
    }
    Ok(out)
}

/// The samples of a histogram chunk of either encoding, in order, as float
/// histograms. Yields an error and stops at the first corruption.
///
/// Samples carry the counter-reset hint Prometheus's iterators give them:
/// [`Gauge`](CounterResetHint::Gauge) throughout a gauge chunk; otherwise
/// [`Unknown`](CounterResetHint::Unknown) for the first sample (whatever the chunk
/// header says: the previous chunk may be gone or out of order) and
/// [`NotCounterReset`](CounterResetHint::NotCounterReset) for the others. A stale
/// marker comes back as a histogram with nothing but its sum (bits kept) and an
/// unknown hint. Chunks with schemas 9..=52, which newer Prometheus versions may
/// write, are read at schema 8.
#[derive(Debug, Clone)]
pub struct HistogramIter<'a> {
    r: BitReader<'a>,
    integer: bool,
    /// The header's flags byte; `None` when the bytes are too short for a header.
    flags: Option<u8>,
    total: u16,
    read: u16,
    /// The layout and values so far, from the first sample on.
    state: Option<Box<Decoded>>,
    /// An error to yield before anything else (a missing header).
    pending: Option<ChunkError>,
    done: bool,
}

/// The chunk's layout and the last sample's values.
#[derive(Debug, Clone)]
struct Decoded {
    layout: Layout,
    /// Positive buckets; the negative ones follow them in `values`.
    positive: usize,
    t: i64,
    t_delta: i64,
    values: Values,
}

#[derive(Debug, Clone)]
enum Values {
    Float {
        count: XorValue,
        zero_count: XorValue,
        sum: XorValue,
        buckets: Vec<XorValue>,
    },
    Integer {
        count: u64,
        count_delta: i64,
        zero_count: u64,
        zero_count_delta: i64,
        sum: XorValue,
        buckets: Vec<IntBucket>,
    },
}

/// A bucket of the integer encoding: its value (the difference to the previous
/// bucket of its side) and that value's last change.
#[derive(Debug, Clone, Copy)]
struct IntBucket {
    value: i64,
    delta: i64,
}

/// Where the sample being read starts, for errors.
#[derive(Debug, Clone, Copy)]
struct At {
    sample: usize,
    total: usize,
    bit: u64,
}

impl At {
    fn end(self) -> ChunkError {
        ChunkError::UnexpectedEnd {
            sample: self.sample,
            total: self.total,
            bit: self.bit,
        }
    }

    fn xor(self, err: XorError) -> ChunkError {
        match err {
            XorError::End => self.end(),
            XorError::Window(leading, significant) => ChunkError::InvalidXorWindow {
                sample: self.sample,
                bit: self.bit,
                leading,
                significant,
            },
        }
    }
}

impl<'a> HistogramIter<'a> {
    /// Iterates over the bytes of a float histogram chunk (header included).
    pub fn float(bytes: &'a [u8]) -> Self {
        Self::new(bytes, false)
    }

    /// Iterates over the bytes of an integer histogram chunk (header included),
    /// yielding float histograms.
    pub fn integer(bytes: &'a [u8]) -> Self {
        Self::new(bytes, true)
    }

    fn new(bytes: &'a [u8], integer: bool) -> Self {
        let mut it = Self {
            r: BitReader::new(&[]),
            integer,
            flags: None,
            total: 0,
            read: 0,
            state: None,
            pending: None,
            done: false,
        };
        match bytes {
            [a, b, flags, stream @ ..] => {
                it.total = u16::from_be_bytes([*a, *b]);
                it.flags = Some(*flags);
                it.r = BitReader::new(stream);
            }
            _ => it.pending = Some(ChunkError::MissingHistogramHeader { len: bytes.len() }),
        }
        it
    }

    /// The chunk's counter-reset header (see
    /// [`FloatHistogramChunk::counter_reset_header`](crate::FloatHistogramChunk::counter_reset_header)),
    /// or `None` when the bytes are too short to have one.
    pub fn counter_reset_header(&self) -> Option<CounterResetHint> {
        self.flags.map(header_hint)
    }

    fn next_sample(&mut self) -> Result<(i64, FloatHistogram), ChunkError> {
        let at = At {
            sample: usize::from(self.read),
            total: usize::from(self.total),
            bit: HEADER_BITS + self.r.pos(),
        };
        let state = match self.state.as_deref_mut() {
            Some(state) => {
                state.read_next(&mut self.r, at)?;
                state
            }
            None => self.state.insert(Box::new(Decoded::read_first(
                &mut self.r,
                at,
                self.integer,
            )?)),
        };
        let gauge = self.flags.map(header_hint) == Some(CounterResetHint::Gauge);
        let hint = match (gauge, at.sample) {
            (true, _) => CounterResetHint::Gauge,
            (false, 0) => CounterResetHint::Unknown,
            (false, _) => CounterResetHint::NotCounterReset,
        };
        Ok((state.t, state.histogram(hint, at.sample)?))
    }
}

impl Decoded {
    /// Reads the layout and the first sample.
    fn read_first(r: &mut BitReader<'_>, at: At, integer: bool) -> Result<Self, ChunkError> {
        let layout = Layout::read(r, at.total)?;
        let at = At {
            bit: HEADER_BITS + r.pos(),
            ..at
        };
        let (positive, negative) = layout.bucket_counts();
        let buckets = positive.saturating_add(negative);
        // Each bucket of the first sample takes 64 bits (float) or at least one.
        let per_bucket = if integer { 1 } else { 64 };
        if buckets as u64 > r.remaining() / per_bucket {
            return Err(at.end());
        }
        let t = r.read_varbit_int().ok_or_else(|| at.end())?;
        let values = if integer {
            let count = r.read_varbit_uint().ok_or_else(|| at.end())?;
            let zero_count = r.read_varbit_uint().ok_or_else(|| at.end())?;
            let sum = XorValue::reader(r.read_bits(64).ok_or_else(|| at.end())?);
            let buckets = (0..buckets)
                .map(|_| {
                    let value = r.read_varbit_int().ok_or_else(|| at.end())?;
                    Ok(IntBucket { value, delta: 0 })
                })
                .collect::<Result<_, ChunkError>>()?;
            Values::Integer {
                count,
                count_delta: 0,
                zero_count,
                zero_count_delta: 0,
                sum,
                buckets,
            }
        } else {
            let mut raw = || r.read_bits(64).ok_or_else(|| at.end());
            let count = XorValue::reader(raw()?);
            let zero_count = XorValue::reader(raw()?);
            let sum = XorValue::reader(raw()?);
            let buckets = (0..buckets)
                .map(|_| raw().map(XorValue::reader))
                .collect::<Result<_, ChunkError>>()?;
            Values::Float {
                count,
                zero_count,
                sum,
                buckets,
            }
        };
        Ok(Self {
            layout,
            positive,
            t,
            t_delta: 0,
            values,
        })
    }

    /// Reads a sample after the first.
    fn read_next(&mut self, r: &mut BitReader<'_>, at: At) -> Result<(), ChunkError> {
        let dod = r.read_varbit_int().ok_or_else(|| at.end())?;
        self.t_delta = self.t_delta.wrapping_add(dod);
        self.t = self.t.wrapping_add(self.t_delta);
        match &mut self.values {
            Values::Float {
                count,
                zero_count,
                sum,
                buckets,
            } => {
                for field in [count, zero_count, &mut *sum] {
                    field.read(r).map_err(|e| at.xor(e))?;
                }
                if !is_stale_nan(sum.value()) {
                    for field in buckets {
                        field.read(r).map_err(|e| at.xor(e))?;
                    }
                }
            }
            Values::Integer {
                count,
                count_delta,
                zero_count,
                zero_count_delta,
                sum,
                buckets,
            } => {
                let mut dod = || r.read_varbit_int().ok_or_else(|| at.end());
                *count_delta = count_delta.wrapping_add(dod()?);
                *count = (*count as i64).wrapping_add(*count_delta) as u64;
                *zero_count_delta = zero_count_delta.wrapping_add(dod()?);
                *zero_count = (*zero_count as i64).wrapping_add(*zero_count_delta) as u64;
                sum.read(r).map_err(|e| at.xor(e))?;
                if !is_stale_nan(sum.value()) {
                    for b in buckets {
                        let dod = r.read_varbit_int().ok_or_else(|| at.end())?;
                        b.delta = b.delta.wrapping_add(dod);
                        b.value = b.value.wrapping_add(b.delta);
                    }
                }
            }
        }
        Ok(())
    }

    /// The current sample as a float histogram.
    fn histogram(
        &self,
        hint: CounterResetHint,
        sample: usize,
    ) -> Result<FloatHistogram, ChunkError> {
        let (count, zero_count, sum, positive, negative) = match &self.values {
            Values::Float {
                count,
                zero_count,
                sum,
                buckets,
            } => {
                let (p, n) = buckets.split_at(self.positive.min(buckets.len()));
                let values = |fields: &[XorValue]| fields.iter().map(|f| f.value()).collect();
                (
                    count.value(),
                    zero_count.value(),
                    sum.value(),
                    values(p),
                    values(n),
                )
            }
            Values::Integer {
                count,
                zero_count,
                sum,
                buckets,
                ..
            } => {
                let (p, n) = buckets.split_at(self.positive.min(buckets.len()));
                // Each bucket is the difference to the previous one of its side.
                let absolute = |side: &[IntBucket]| {
                    let mut running = 0i64;
                    side.iter()
                        .map(|b| {
                            running = running.wrapping_add(b.value);
                            running as f64
                        })
                        .collect()
                };
                (
                    *count as f64,
                    *zero_count as f64,
                    sum.value(),
                    absolute(p),
                    absolute(n),
                )
            }
        };
        if is_stale_nan(sum) {
            return Ok(FloatHistogram {
                sum,
                ..FloatHistogram::default()
            });
        }
        let layout = &self.layout;
        let mut h = FloatHistogram {
            counter_reset_hint: hint,
            schema: layout.schema,
            zero_threshold: layout.zero_threshold,
            zero_count,
            count,
            sum,
            positive_spans: layout.positive.clone(),
            negative_spans: layout.negative.clone(),
            positive_buckets: positive,
            negative_buckets: negative,
            custom_values: layout.custom_values(),
        };
        if h.schema > EXPONENTIAL_SCHEMA_MAX && !is_custom_buckets_schema(h.schema) {
            let schema = h.schema;
            h.reduce_resolution(EXPONENTIAL_SCHEMA_MAX)
                .map_err(|_| ChunkError::IrreducibleHistogramSchema { schema, sample })?;
        }
        Ok(h)
    }
}

impl Iterator for HistogramIter<'_> {
    type Item = Result<(i64, FloatHistogram), ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(err) = self.pending.take() {
            self.done = true;
            return Some(Err(err));
        }
        if self.read >= self.total {
            self.done = true;
            return None;
        }
        let sample = self.next_sample();
        match sample {
            Ok(_) => self.read += 1,
            Err(_) => self.done = true,
        }
        Some(sample)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        let left = usize::from(self.total - self.read) + usize::from(self.pending.is_some());
        (0, Some(left))
    }
}

impl FusedIterator for HistogramIter<'_> {}
