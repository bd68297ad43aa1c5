//! Prometheus's native-histogram chunks (`tsdb/chunkenc`): the float histogram chunk
//! (`FloatHistogramChunk`, `EncFloatHistogram`), written and read, and the integer
//! histogram chunk (`HistogramChunk`, `EncHistogram`), read into float histograms.
//!
//! ```text
//!  byte 0-1   sample count, u16 big-endian
//!  byte 2     counter-reset header in the top two bits: 00 unknown, 10 counter reset,
//!             01 not a counter reset, 11 gauge histogram; the other six bits are zero
//!  layout     zero threshold, schema, positive and negative spans, custom bounds
//!             (schema -53 only), fixed by the first sample (layout.rs)
//!
//!             float chunk                       integer chunk (read only)
//!  sample 0   t varbit_int                      t varbit_int
//!             count, zero count, sum:           count, zero count varbit_uint,
//!               64 raw bits each                  sum 64 raw bits
//!             each bucket: 64 raw bits          each bucket: varbit_int (a bucket is
//!                                                 the delta to the previous bucket)
//!  sample n   t delta-of-delta varbit_int       t delta-of-delta varbit_int
//!             count, zero count, sum, each      count, zero count: delta-of-delta
//!               bucket: XOR with its previous     varbit_int; sum: XOR;
//!               value, each with its own window   each bucket: delta-of-delta varbit_int
//! ```
//!
//! A stale marker (sum = Prometheus's stale NaN, bits kept exactly) is written with
//! nothing but its count, zero count and sum, and no buckets; as a chunk's first sample
//! it writes an empty layout. After a stale marker a chunk takes only stale markers.
//!
//! The writer never recodes a chunk to add buckets: a histogram whose layout differs
//! needs a new chunk, as does a counter reset or a switch between gauge and counter
//! histograms (see [`FloatHistogramChunk::append`]).

mod decode;
mod layout;
mod varbit;
mod xor_value;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use cairn_model::histogram::CounterResetHint;
use cairn_model::{is_stale_nan, FloatHistogram};

use crate::bits::BitWriter;
use crate::xor::MAX_SAMPLES;
pub use decode::{decode_float_histograms, decode_histograms, HistogramIter};
use layout::Layout;
use xor_value::XorValue;

/// Bytes before the layout: sample count and flags.
const HEADER_LEN: usize = 3;
const HEADER_BITS: u64 = 8 * HEADER_LEN as u64;
/// The byte holding the counter-reset header, and its bits.
const FLAGS: usize = 2;
const RESET_MASK: u8 = 0b1100_0000;
const COUNTER_RESET: u8 = 0b1000_0000;
const NOT_COUNTER_RESET: u8 = 0b0100_0000;
const GAUGE: u8 = 0b1100_0000;

/// The header bits for a chunk whose first sample has `hint`.
fn header_flags(hint: CounterResetHint) -> u8 {
    match hint {
        CounterResetHint::Unknown => 0,
        CounterResetHint::CounterReset => COUNTER_RESET,
        CounterResetHint::NotCounterReset => NOT_COUNTER_RESET,
        CounterResetHint::Gauge => GAUGE,
    }
}

/// The hint a header byte stands for (other bits ignored).
fn header_hint(flags: u8) -> CounterResetHint {
    match flags & RESET_MASK {
        COUNTER_RESET => CounterResetHint::CounterReset,
        NOT_COUNTER_RESET => CounterResetHint::NotCounterReset,
        GAUGE => CounterResetHint::Gauge,
        _ => CounterResetHint::Unknown,
    }
}

/// A Prometheus float histogram chunk being written: the chunk bytes exactly as
/// Prometheus's `FloatHistogramChunk` would hold them after the same appends, plus
/// the state needed to continue.
///
/// The first sample fixes the chunk's bucket layout and its counter-reset header; a
/// later sample goes in only if it keeps both (see [`append`](Self::append)), and
/// [`append_or_cut`](Self::append_or_cut) starts the next chunk when it does not.
#[derive(Debug, Clone)]
pub struct FloatHistogramChunk {
    w: BitWriter,
    /// `None` while the chunk is empty.
    state: Option<Box<State>>,
}

/// What appending needs to know about the samples so far.
#[derive(Debug, Clone)]
struct State {
    layout: Layout,
    /// Whether the header says gauge histogram.
    gauge: bool,
    t: i64,
    /// `t` minus the previous timestamp (0 after the first sample), wrapping.
    t_delta: i64,
    count: XorValue,
    zero_count: XorValue,
    sum: XorValue,
    positive: Vec<XorValue>,
    negative: Vec<XorValue>,
}

/// Whether a sample goes into the chunk, or the header of the chunk it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Append,
    Cut(CounterResetHint),
}

impl Default for FloatHistogramChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl FloatHistogramChunk {
    /// An empty chunk: the three header bytes, all zero.
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(&[0; HEADER_LEN]);
        Self {
            w: BitWriter::from_parts(bytes, 0),
            state: None,
        }
    }

    /// Number of samples.
    pub fn num_samples(&self) -> usize {
        let b = self.w.bytes();
        usize::from(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Whether the chunk holds no samples.
    pub fn is_empty(&self) -> bool {
        self.state.is_none()
    }

    /// The encoded chunk (Prometheus bytes): what Prometheus's
    /// `FloatHistogramChunk.Bytes()` (3.0 and later) returns after the same appends.
    pub fn bytes(&self) -> &[u8] {
        self.w.bytes()
    }

    /// The encoded chunk, without copying.
    pub fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }

    /// The chunk's counter-reset header: what is known about a counter reset between
    /// the previous chunk of the series and this one, or
    /// [`Gauge`](CounterResetHint::Gauge) for a chunk of gauge histograms. Set by the
    /// first sample; [`Unknown`](CounterResetHint::Unknown) while the chunk is empty.
    pub fn counter_reset_header(&self) -> CounterResetHint {
        header_hint(self.w.bytes()[FLAGS])
    }

    /// The samples, decoded.
    pub fn iter(&self) -> HistogramIter<'_> {
        HistogramIter::float(self.bytes())
    }

    /// Appends `h` at `t` if it can go into this chunk; returns false and changes
    /// nothing when it cannot.
    ///
    /// The first sample of an empty chunk always goes in. It fixes the layout (schema,
    /// zero threshold, spans, custom bounds) and the counter-reset header, from its
    /// hint: gauge, counter reset, not a counter reset or unknown. A later sample goes
    /// in only if
    ///
    /// - `t` is after the last sample's timestamp and the chunk holds fewer than
    ///   65535 samples;
    /// - it is a gauge histogram exactly when the chunk is one;
    /// - it is a stale marker, or it has the chunk's layout (spans compared by the
    ///   bucket indexes they describe) and the previous sample is no stale marker;
    /// - for counter histograms: its hint is not counter reset and no count went down
    ///   (total, zero bucket, any bucket), as Prometheus's appender checks.
    ///
    /// A first sample whose spans describe more buckets than it has keeps only the
    /// spans' first buckets, and one with more buckets than its spans describe is
    /// stored without the extra ones (histograms that pass `validate` have neither).
    /// A schema Prometheus does not know (outside -9..=52 and -53) is written as it
    /// is, but readers, ours included, reject the chunk.
    pub fn append(&mut self, t: i64, h: &FloatHistogram) -> bool {
        match self.verdict(t, h) {
            Verdict::Append => {
                self.push(t, h);
                true
            }
            Verdict::Cut(_) => false,
        }
    }

    /// Appends `h` at `t`, or — when it cannot go into this chunk (see
    /// [`append`](Self::append)) — returns a new chunk holding just this sample, with
    /// the counter-reset header Prometheus would give it. The caller closes `self`
    /// and continues with the returned chunk.
    ///
    /// The new chunk's header is [`Gauge`](CounterResetHint::Gauge) for gauge
    /// histograms; [`CounterReset`](CounterResetHint::CounterReset) when the sample
    /// says so or its counts went down against the previous sample;
    /// [`NotCounterReset`](CounterResetHint::NotCounterReset) when this chunk was
    /// full or the layout changed and the sample is no counter reset against the
    /// previous one (compared with [`FloatHistogram::detect_reset`] across layouts);
    /// and [`Unknown`](CounterResetHint::Unknown) when the previous sample tells
    /// nothing (a stale marker, a gauge chunk, a timestamp out of order, or histograms
    /// too malformed to compare).
    pub fn append_or_cut(&mut self, t: i64, h: &FloatHistogram) -> Option<FloatHistogramChunk> {
        match self.verdict(t, h) {
            Verdict::Append => {
                self.push(t, h);
                None
            }
            Verdict::Cut(header) => {
                let mut next = Self::new();
                next.start(t, h, header);
                Some(next)
            }
        }
    }

    /// Whether `h` at `t` goes into this chunk, following Prometheus's
    /// `appendable`/`appendableGauge` minus recoding, and if not, the new chunk's
    /// header.
    fn verdict(&self, t: i64, h: &FloatHistogram) -> Verdict {
        let Some(s) = self.state.as_deref() else {
            return Verdict::Append;
        };
        let stale = is_stale_nan(h.sum);
        let full = self.num_samples() >= MAX_SAMPLES;
        let after_stale = is_stale_nan(s.sum.value());
        if h.counter_reset_hint == CounterResetHint::Gauge {
            let fits = s.gauge && t > s.t && !full && (stale || (!after_stale && s.layout.fits(h)));
            return if fits {
                Verdict::Append
            } else {
                Verdict::Cut(CounterResetHint::Gauge)
            };
        }
        if h.counter_reset_hint == CounterResetHint::CounterReset {
            return Verdict::Cut(CounterResetHint::CounterReset);
        }
        if s.gauge || t <= s.t {
            return Verdict::Cut(CounterResetHint::Unknown);
        }
        if stale {
            return if full {
                Verdict::Cut(CounterResetHint::NotCounterReset)
            } else {
                Verdict::Append
            };
        }
        if after_stale {
            return Verdict::Cut(CounterResetHint::Unknown);
        }
        if !s.layout.fits(h) {
            return Verdict::Cut(match s.reset_across_layouts(h) {
                Some(true) => CounterResetHint::CounterReset,
                Some(false) => CounterResetHint::NotCounterReset,
                None => CounterResetHint::Unknown,
            });
        }
        if s.counts_went_down(h) {
            Verdict::Cut(CounterResetHint::CounterReset)
        } else if full {
            Verdict::Cut(CounterResetHint::NotCounterReset)
        } else {
            Verdict::Append
        }
    }

    /// Appends a sample [`verdict`](Self::verdict) let in.
    fn push(&mut self, t: i64, h: &FloatHistogram) {
        let Some(s) = self.state.as_deref_mut() else {
            self.start(t, h, h.counter_reset_hint);
            return;
        };
        let w = &mut self.w;
        let t_delta = t.wrapping_sub(s.t);
        w.write_varbit_int(t_delta.wrapping_sub(s.t_delta));
        (s.t, s.t_delta) = (t, t_delta);
        if is_stale_nan(h.sum) {
            // As Prometheus: a histogram of nothing but the sum, so no buckets.
            s.count.write(w, 0.0);
            s.zero_count.write(w, 0.0);
            s.sum.write(w, h.sum);
        } else {
            s.count.write(w, h.count);
            s.zero_count.write(w, h.zero_count);
            s.sum.write(w, h.sum);
            for (field, &v) in s.positive.iter_mut().zip(&h.positive_buckets) {
                field.write(w, v);
            }
            for (field, &v) in s.negative.iter_mut().zip(&h.negative_buckets) {
                field.write(w, v);
            }
        }
        self.set_num_samples(self.num_samples() + 1);
    }

    /// Writes `h` as the first sample of this empty chunk, with the header `header`.
    fn start(&mut self, t: i64, h: &FloatHistogram, header: CounterResetHint) {
        debug_assert!(self.state.is_none(), "start on a non-empty chunk");
        let stale = is_stale_nan(h.sum);
        let layout = if stale {
            Layout::empty()
        } else {
            Layout::of(h)
        };
        let (np, nn) = layout.bucket_counts();
        let (count, zero_count, positive, negative) = if stale {
            (0.0, 0.0, &[][..], &[][..])
        } else {
            (
                h.count,
                h.zero_count,
                &h.positive_buckets[..np],
                &h.negative_buckets[..nn],
            )
        };
        let w = &mut self.w;
        w.bytes_mut()[FLAGS] = header_flags(header);
        layout.write(w);
        w.write_varbit_int(t);
        for v in [count, zero_count, h.sum]
            .iter()
            .chain(positive)
            .chain(negative)
        {
            w.write_bits(v.to_bits(), 64);
        }
        self.state = Some(Box::new(State {
            layout,
            gauge: header == CounterResetHint::Gauge,
            t,
            t_delta: 0,
            count: XorValue::writer(count),
            zero_count: XorValue::writer(zero_count),
            sum: XorValue::writer(h.sum),
            positive: positive.iter().map(|&v| XorValue::writer(v)).collect(),
            negative: negative.iter().map(|&v| XorValue::writer(v)).collect(),
        }));
        self.set_num_samples(1);
    }

    fn set_num_samples(&mut self, n: usize) {
        // Callers never pass more than MAX_SAMPLES.
        let n = u16::try_from(n).unwrap_or(u16::MAX);
        self.w.bytes_mut()[..2].copy_from_slice(&n.to_be_bytes());
    }
}

impl<'a> IntoIterator for &'a FloatHistogramChunk {
    type Item = Result<(i64, FloatHistogram), crate::ChunkError>;
    type IntoIter = HistogramIter<'a>;

    fn into_iter(self) -> HistogramIter<'a> {
        self.iter()
    }
}

impl State {
    /// Whether any count of `h` (same layout) is below the previous sample's, which
    /// Prometheus's appender treats as a counter reset. NaN compares as no reset.
    fn counts_went_down(&self, h: &FloatHistogram) -> bool {
        let below = |fields: &[XorValue], values: &[f64]| {
            fields.iter().zip(values).any(|(f, &v)| v < f.value())
        };
        h.count < self.count.value()
            || h.zero_count < self.zero_count.value()
            || below(&self.positive, &h.positive_buckets)
            || below(&self.negative, &h.negative_buckets)
    }

    /// Whether `h`, in another layout, is a counter reset against the previous sample
    /// ([`FloatHistogram::detect_reset`], from the counts rather than `h`'s hint);
    /// `None` when either histogram is invalid and cannot be compared.
    fn reset_across_layouts(&self, h: &FloatHistogram) -> Option<bool> {
        let previous = self.previous();
        let h = match h.counter_reset_hint {
            CounterResetHint::Unknown => Cow::Borrowed(h),
            _ => Cow::Owned(FloatHistogram {
                counter_reset_hint: CounterResetHint::Unknown,
                ..h.clone()
            }),
        };
        (previous.validate().is_ok() && h.validate().is_ok()).then(|| h.detect_reset(&previous))
    }

    /// The last sample, as a reader will see it (not a stale marker).
    fn previous(&self) -> FloatHistogram {
        let values = |fields: &[XorValue]| fields.iter().map(|f| f.value()).collect();
        FloatHistogram {
            counter_reset_hint: CounterResetHint::Unknown,
            schema: self.layout.schema,
            zero_threshold: self.layout.zero_threshold,
            zero_count: self.zero_count.value(),
            count: self.count.value(),
            sum: self.sum.value(),
            positive_spans: self.layout.positive.clone(),
            negative_spans: self.layout.negative.clone(),
            positive_buckets: values(&self.positive),
            negative_buckets: values(&self.negative),
            custom_values: self.layout.custom_values(),
        }
    }
}
