//! Arithmetic on [`FloatHistogram`]s with Prometheus's semantics: addition and
//! subtraction across schemas and zero thresholds (and, for custom buckets, across
//! differing bounds), Kahan summation, scaling, compaction and resolution changes.

use std::borrow::Cow;
use std::sync::Arc;

use super::custom::{add_custom_mismatched, intersect_bounds};
use super::error::{HistogramError, Side};
use super::layout::{self, Layout, LayoutMut};
use super::{
    custom_bucket_bounds_match, is_custom_buckets_schema, CounterResetHint, FloatHistogram, Span,
};
use crate::gofloat::kahan_inc;

/// What [`FloatHistogram::add`], [`FloatHistogram::sub`] and
/// [`FloatHistogram::kahan_add`] report besides the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddOutcome {
    /// One operand was hinted [`CounterResetHint::CounterReset`] and the other
    /// [`CounterResetHint::NotCounterReset`]; the result's hint was set to unknown.
    pub counter_reset_collision: bool,
    /// The operands had different custom bucket bounds; the result uses the bounds
    /// both have in common (see [`FloatHistogram::add`]).
    pub nhcb_bounds_reconciled: bool,
}

impl FloatHistogram {
    /// Adds `other` to `self`: counts, sums and buckets, inserting buckets `self` lacks.
    ///
    /// - Different exponential schemas: the result has the lower resolution.
    /// - Different zero thresholds: the result has the larger one, widened further
    ///   until it does not cut through a populated bucket of either operand; buckets
    ///   inside it move into the zero count.
    /// - Custom buckets with different bounds: both operands are mapped onto the bounds
    ///   they have in common (a bucket goes to the first common bound at or above its
    ///   own upper bound) and `nhcb_bounds_reconciled` is reported.
    /// - Counter reset hints are combined as Prometheus does: equal hints stay, a gauge
    ///   operand makes a gauge, an unknown operand makes unknown, reset against
    ///   not-reset makes unknown and reports `counter_reset_collision`.
    ///
    /// The result may hold empty buckets and adjacent spans; call
    /// [`compact`](Self::compact) to normalise it. Mixing exponential and custom buckets
    /// fails, as do spans that do not describe the buckets there are (where Prometheus
    /// would panic); `self` is then unchanged.
    pub fn add(&mut self, other: &FloatHistogram) -> Result<AddOutcome, HistogramError> {
        self.combine(other, false, None)
    }

    /// Subtracts `other` from `self`, like [`add`](Self::add) with negated counts
    /// (including the counter reset hint handling, which suits incremental means; set
    /// the hint to [`CounterResetHint::Gauge`] afterwards for PromQL's `-`).
    pub fn sub(&mut self, other: &FloatHistogram) -> Result<AddOutcome, HistogramError> {
        self.combine(other, true, None)
    }

    /// Adds `other` to `self` like [`add`](Self::add), but with Kahan (Neumaier)
    /// summation of every count, as Prometheus's `sum`, `avg` and `sum_over_time` do.
    ///
    /// `compensation` is the running compensation histogram: `None` for the first
    /// addition, afterwards what the previous call returned. It always has the bucket
    /// layout of `self`. To finish the sum, fold the compensation in once with
    /// [`kahan_finish`](Self::kahan_finish) (Prometheus does `sum.Add(compensation)`),
    /// then [`compact`](Self::compact) the result:
    ///
    /// ```
    /// # use cairn_model::histogram::{FloatHistogram, HistogramError};
    /// # fn sum(hs: &[FloatHistogram]) -> Result<FloatHistogram, HistogramError> {
    /// let mut total = hs[0].clone();
    /// let mut comp = None;
    /// for h in &hs[1..] {
    ///     let (c, _outcome) = total.kahan_add(h, comp.take())?;
    ///     comp = Some(c);
    /// }
    /// total.kahan_finish(comp.as_ref())?;
    /// total.compact(0);
    /// # Ok(total) }
    /// ```
    ///
    /// A compensation histogram whose layout does not match `self` (one not produced by
    /// the previous call) is folded into `self` first and a fresh one is started. Fails
    /// like [`add`](Self::add), dropping the given compensation; `self` is then
    /// unchanged unless a foreign compensation had been folded in.
    pub fn kahan_add(
        &mut self,
        other: &FloatHistogram,
        compensation: Option<FloatHistogram>,
    ) -> Result<(FloatHistogram, AddOutcome), HistogramError> {
        self.check_compatible(other)?;
        let compensation = match compensation {
            Some(c)
                if c.positive_buckets.len() == self.positive_buckets.len()
                    && c.negative_buckets.len() == self.negative_buckets.len() =>
            {
                Some(c)
            }
            Some(c) => {
                self.add(&c)?;
                None
            }
            None => None,
        };
        // The hint is adjusted before a new compensation copies it, as in Prometheus.
        let mut probe = self.counter_reset_hint;
        adjust_hint(&mut probe, other.counter_reset_hint);
        let mut c = compensation.unwrap_or_else(|| {
            let mut c = self.new_compensation();
            c.counter_reset_hint = probe;
            c
        });
        let outcome = self.combine(other, false, Some(&mut c))?;
        Ok((c, outcome))
    }

    /// `self += other` (or `-=` with `negate`), Kahan-summed into `comp` if given.
    fn combine(
        &mut self,
        other: &FloatHistogram,
        negate: bool,
        mut comp: Option<&mut FloatHistogram>,
    ) -> Result<AddOutcome, HistogramError> {
        self.check_compatible(other)?;
        // Everything that can fail happens before `self` changes. Bucket positions are
        // derived from the spans, so they must describe exactly the buckets there are.
        self.check_lengths()?;
        let other_sides = if self.uses_custom_buckets() {
            None
        } else {
            if other.schema < self.schema {
                self.check_layout()?;
            }
            let target = self.schema.min(other.schema);
            let kahan = comp.is_some();
            Some([
                OtherSide::new(other, Side::Positive, target, kahan)?,
                OtherSide::new(other, Side::Negative, target, kahan)?,
            ])
        };
        let mut outcome = AddOutcome {
            counter_reset_collision: adjust_hint(
                &mut self.counter_reset_hint,
                other.counter_reset_hint,
            ),
            nhcb_bounds_reconciled: false,
        };
        let sign = if negate { -1.0 } else { 1.0 };
        if !self.uses_custom_buckets() {
            let (other_zero, other_zero_comp) =
                self.reconcile_zero_buckets(other, comp.as_deref_mut());
            match comp.as_deref_mut() {
                Some(c) => {
                    (self.zero_count, c.zero_count) =
                        kahan_inc(other_zero, self.zero_count, c.zero_count);
                    (self.zero_count, c.zero_count) =
                        kahan_inc(other_zero_comp, self.zero_count, c.zero_count);
                }
                None => self.zero_count += sign * other_zero,
            }
        }
        match comp.as_deref_mut() {
            Some(c) => {
                (self.count, c.count) = kahan_inc(other.count, self.count, c.count);
                (self.sum, c.sum) = kahan_inc(other.sum, self.sum, c.sum);
            }
            None => {
                self.count += sign * other.count;
                self.sum += sign * other.sum;
            }
        }

        if self.uses_custom_buckets() {
            if custom_bucket_bounds_match(self.custom_bounds(), other.custom_bounds()) {
                layout::add_buckets(
                    self.schema,
                    self.zero_threshold,
                    negate,
                    LayoutMut {
                        spans: &mut self.positive_spans,
                        buckets: &mut self.positive_buckets,
                        comp: comp.as_deref_mut().map(|c| &mut c.positive_buckets),
                    },
                    other.layout(true),
                );
            } else {
                outcome.nhcb_bounds_reconciled = true;
                let bounds = intersect_bounds(self.custom_bounds(), other.custom_bounds());
                let own = Layout {
                    comp: comp.as_deref().map(|c| c.positive_buckets.as_slice()),
                    ..self.layout(true)
                };
                let (spans, buckets, merged_comp) = add_custom_mismatched(
                    negate,
                    own,
                    self.custom_bounds(),
                    other.layout(true),
                    other.custom_bounds(),
                    &bounds,
                );
                self.positive_spans = spans;
                self.positive_buckets = buckets;
                self.custom_values = bounds_value(bounds);
                if let Some(c) = comp.as_deref_mut() {
                    c.positive_buckets = merged_comp;
                    c.custom_values = self.custom_values.clone();
                }
            }
            if let Some(c) = comp {
                c.positive_spans = self.positive_spans.clone();
            }
            return Ok(outcome);
        }

        if other.schema < self.schema {
            self.reduce_in_place(other.schema, comp.as_deref_mut())?;
        }
        let (schema, threshold) = (self.schema, self.zero_threshold);
        for side in other_sides.iter().flatten() {
            let positive = side.side == Side::Positive;
            let (spans, buckets) = self.side_mut(positive);
            let own_comp = comp.as_deref_mut().map(|c| {
                if positive {
                    &mut c.positive_buckets
                } else {
                    &mut c.negative_buckets
                }
            });
            layout::add_buckets(
                schema,
                threshold,
                negate,
                LayoutMut {
                    spans,
                    buckets,
                    comp: own_comp,
                },
                side.layout(),
            );
        }
        if let Some(c) = comp {
            c.schema = self.schema;
            c.zero_threshold = self.zero_threshold;
            c.positive_spans = self.positive_spans.clone();
            c.negative_spans = self.negative_spans.clone();
        }
        Ok(outcome)
    }

    /// Folds the compensation of a Kahan sum (see [`kahan_add`](Self::kahan_add)) into
    /// `self`; does nothing without one. This is a plain [`add`](Self::add), which is
    /// what Prometheus does at the end of `sum`/`avg`; its outcome flags are always
    /// false for a compensation produced by `kahan_add` on `self`.
    pub fn kahan_finish(
        &mut self,
        compensation: Option<&FloatHistogram>,
    ) -> Result<AddOutcome, HistogramError> {
        match compensation {
            Some(c) => self.add(c),
            None => Ok(AddOutcome::default()),
        }
    }

    /// Whether a count, the sum or a custom bound is infinite: a sum of histograms
    /// overflowed (PromQL's averages then switch to an incremental mean).
    pub fn has_overflow(&self) -> bool {
        [self.zero_count, self.count, self.sum]
            .iter()
            .chain(&self.positive_buckets)
            .chain(&self.negative_buckets)
            .chain(self.custom_bounds())
            .any(|v| v.is_infinite())
    }

    /// Multiplies every count (zero bucket, buckets, total) and the sum by `factor`. A
    /// negative factor turns the histogram into a gauge.
    pub fn mul(&mut self, factor: f64) {
        self.zero_count *= factor;
        self.count *= factor;
        self.sum *= factor;
        self.positive_buckets.iter_mut().for_each(|b| *b *= factor);
        self.negative_buckets.iter_mut().for_each(|b| *b *= factor);
        if factor < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
    }

    /// Divides every count and the sum by `scalar`. Dividing by zero removes all
    /// buckets (spans included) and leaves the zero count, count and sum at ±Inf (or
    /// NaN where they were zero), without touching the hint; a negative divisor turns
    /// the histogram into a gauge.
    pub fn div(&mut self, scalar: f64) {
        self.zero_count /= scalar;
        self.count /= scalar;
        self.sum /= scalar;
        if scalar == 0.0 {
            self.positive_buckets.clear();
            self.negative_buckets.clear();
            self.positive_spans.clear();
            self.negative_spans.clear();
            return;
        }
        self.positive_buckets.iter_mut().for_each(|b| *b /= scalar);
        self.negative_buckets.iter_mut().for_each(|b| *b /= scalar);
        if scalar < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
    }

    /// Removes empty buckets at the ends of spans and stretches of more than
    /// `max_empty_buckets` empty buckets inside them, drops zero-length spans, and
    /// merges spans separated by at most `max_empty_buckets` buckets (which become
    /// explicit empty buckets). `compact(0)` keeps only populated buckets, each run of
    /// adjacent ones in one span; it is what PromQL results get.
    pub fn compact(&mut self, max_empty_buckets: usize) {
        layout::compact(
            &mut self.positive_spans,
            &mut self.positive_buckets,
            None,
            max_empty_buckets,
        );
        layout::compact(
            &mut self.negative_spans,
            &mut self.negative_buckets,
            None,
            max_empty_buckets,
        );
    }

    /// Lowers the resolution to the exponential `target_schema` (which must be below
    /// the current schema), merging buckets. Fails for custom buckets, for a target
    /// that is not lower, and for spans that do not match the buckets; `self` is then
    /// unchanged.
    pub fn reduce_resolution(&mut self, target_schema: i32) -> Result<(), HistogramError> {
        if self.uses_custom_buckets() || is_custom_buckets_schema(target_schema) {
            return Err(HistogramError::CustomBucketsResolution);
        }
        if target_schema >= self.schema {
            return Err(HistogramError::ResolutionNotReduced {
                from: self.schema,
                to: target_schema,
            });
        }
        self.reduce_in_place(target_schema, None)
    }

    /// A copy at the exponential `target` schema, buckets merged as by
    /// [`reduce_resolution`](Self::reduce_resolution). As in Prometheus the copy's
    /// counter reset hint is unknown when the schema changes. When `target` is not
    /// below the schema, or either is the custom-buckets schema, or the spans do not
    /// match the buckets, the result is an unchanged copy.
    pub fn copy_to_schema(&self, target: i32) -> FloatHistogram {
        let mut copy = self.clone();
        if target >= self.schema || self.uses_custom_buckets() || is_custom_buckets_schema(target) {
            return copy;
        }
        if copy.reduce_in_place(target, None).is_ok() {
            copy.counter_reset_hint = CounterResetHint::Unknown;
        }
        copy
    }

    /// Reduces both sides to `target` (below the current exponential schema), together
    /// with the matching compensation histogram if given. Nothing changes on error.
    fn reduce_in_place(
        &mut self,
        target: i32,
        comp: Option<&mut FloatHistogram>,
    ) -> Result<(), HistogramError> {
        let (pc, nc) = match &comp {
            Some(c) => (
                Some(c.positive_buckets.as_slice()),
                Some(c.negative_buckets.as_slice()),
            ),
            None => (None, None),
        };
        let pos = layout::reduce_resolution(
            Side::Positive,
            Layout {
                spans: &self.positive_spans,
                buckets: &self.positive_buckets,
                comp: pc,
            },
            self.schema,
            target,
        )?;
        let neg = layout::reduce_resolution(
            Side::Negative,
            Layout {
                spans: &self.negative_spans,
                buckets: &self.negative_buckets,
                comp: nc,
            },
            self.schema,
            target,
        )?;
        (self.positive_spans, self.positive_buckets) = (pos.spans, pos.buckets);
        (self.negative_spans, self.negative_buckets) = (neg.spans, neg.buckets);
        if let Some(c) = comp {
            c.positive_buckets = pos.comp.unwrap_or_default();
            c.negative_buckets = neg.comp.unwrap_or_default();
            c.positive_spans = self.positive_spans.clone();
            c.negative_spans = self.negative_spans.clone();
            c.schema = target;
        }
        self.schema = target;
        Ok(())
    }

    /// Checks that both sides' spans describe as many buckets as there are.
    fn check_lengths(&self) -> Result<(), HistogramError> {
        self.check_sides(layout::check_lengths)
    }

    /// Checks that both sides' spans match their buckets (see `layout::check_spans`).
    pub(super) fn check_layout(&self) -> Result<(), HistogramError> {
        self.check_sides(layout::check_spans)
    }

    /// Runs `check(spans, bucket count, side)` on the positive, then the negative side.
    fn check_sides(
        &self,
        check: fn(&[Span], usize, Side) -> Result<(), HistogramError>,
    ) -> Result<(), HistogramError> {
        check(
            &self.positive_spans,
            self.positive_buckets.len(),
            Side::Positive,
        )?;
        check(
            &self.negative_spans,
            self.negative_buckets.len(),
            Side::Negative,
        )
    }

    fn check_compatible(&self, other: &FloatHistogram) -> Result<(), HistogramError> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramError::MixedExponentialCustom);
        }
        Ok(())
    }

    /// An all-zero compensation histogram with the layout of `self`.
    fn new_compensation(&self) -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            custom_values: self.custom_values.clone(),
            positive_spans: self.positive_spans.clone(),
            positive_buckets: vec![0.0; self.positive_buckets.len()],
            negative_spans: self.negative_spans.clone(),
            negative_buckets: if self.uses_custom_buckets() {
                Vec::new()
            } else {
                vec![0.0; self.negative_buckets.len()]
            },
            ..Default::default()
        }
    }

    /// Gives both operands a common zero threshold: the larger of the two, widened
    /// until it lies on a bucket boundary of every populated bucket it touches. `self`
    /// (and its compensation) are changed accordingly; for `other` the zero count it
    /// would have (and that count's Kahan compensation) is returned.
    fn reconcile_zero_buckets(
        &mut self,
        other: &FloatHistogram,
        mut comp: Option<&mut FloatHistogram>,
    ) -> (f64, f64) {
        let mut other_zero = other.zero_count;
        let mut other_threshold = other.zero_threshold;
        let mut other_zero_comp = 0.0;
        while other_threshold != self.zero_threshold {
            if self.zero_threshold.partial_cmp(&other_threshold).is_none() {
                // A NaN threshold: nothing to reconcile (Prometheus would loop forever).
                break;
            }
            if self.zero_threshold > other_threshold {
                (other_zero, other_threshold, other_zero_comp) =
                    other.zero_count_for_larger_threshold(self.zero_threshold, None);
            }
            if other_threshold > self.zero_threshold {
                let (zero, threshold, zero_comp) =
                    self.zero_count_for_larger_threshold(other_threshold, comp.as_deref());
                self.zero_count = zero;
                self.zero_threshold = threshold;
                if let Some(c) = comp.as_deref_mut() {
                    c.zero_count = zero_comp;
                }
                self.trim_buckets_in_zero_bucket(comp.as_deref_mut());
            }
        }
        (other_zero, other_zero_comp)
    }

    /// The zero count (and its Kahan compensation, starting from `comp`'s) this
    /// histogram would have with the zero threshold raised to `larger`, and the
    /// threshold actually needed: raised further to the upper bound of any populated
    /// bucket that `larger` would cut through.
    pub(super) fn zero_count_for_larger_threshold(
        &self,
        larger: f64,
        comp: Option<&FloatHistogram>,
    ) -> (f64, f64, f64) {
        let mut zero_comp = comp.map_or(0.0, |c| c.zero_count);
        if larger == self.zero_threshold {
            return (self.zero_count, larger, zero_comp);
        }
        let mut larger = larger;
        'outer: loop {
            let mut zero = self.zero_count;
            for (i, b) in self.buckets(true).enumerate() {
                if b.lower >= larger {
                    break;
                }
                (zero, zero_comp) = kahan_inc(b.count, zero, zero_comp);
                if let Some(c) = comp.and_then(|c| c.positive_buckets.get(i)) {
                    (zero, zero_comp) = kahan_inc(*c, zero, zero_comp);
                }
                if b.upper > larger {
                    if b.count != 0.0 {
                        larger = b.upper;
                    }
                    break;
                }
            }
            for (i, b) in self.buckets(false).enumerate() {
                if b.upper <= -larger {
                    break;
                }
                (zero, zero_comp) = kahan_inc(b.count, zero, zero_comp);
                if let Some(c) = comp.and_then(|c| c.negative_buckets.get(i)) {
                    (zero, zero_comp) = kahan_inc(*c, zero, zero_comp);
                }
                if b.lower < -larger {
                    if b.count != 0.0 {
                        // The positive side was counted with a threshold that is too
                        // small now: start over.
                        larger = -b.lower;
                        continue 'outer;
                    }
                    break;
                }
            }
            return (zero, larger, zero_comp);
        }
    }

    /// Empties the buckets inside the zero bucket (their counts are already in the
    /// zero count) and compacts the histogram (and its compensation).
    fn trim_buckets_in_zero_bucket(&mut self, comp: Option<&mut FloatHistogram>) {
        let zt = self.zero_threshold;
        let inside_pos = self.buckets(true).take_while(|b| b.lower < zt).count();
        let inside_neg = self.buckets(false).take_while(|b| b.upper > -zt).count();
        self.positive_buckets[..inside_pos].fill(0.0);
        self.negative_buckets[..inside_neg].fill(0.0);
        match comp {
            Some(c) => {
                let n = inside_pos.min(c.positive_buckets.len());
                c.positive_buckets[..n].fill(0.0);
                let n = inside_neg.min(c.negative_buckets.len());
                c.negative_buckets[..n].fill(0.0);
                layout::compact(
                    &mut self.positive_spans,
                    &mut self.positive_buckets,
                    Some(&mut c.positive_buckets),
                    0,
                );
                layout::compact(
                    &mut self.negative_spans,
                    &mut self.negative_buckets,
                    Some(&mut c.negative_buckets),
                    0,
                );
            }
            None => self.compact(0),
        }
    }

    fn side_mut(&mut self, positive: bool) -> (&mut Vec<Span>, &mut Vec<f64>) {
        if positive {
            (&mut self.positive_spans, &mut self.positive_buckets)
        } else {
            (&mut self.negative_spans, &mut self.negative_buckets)
        }
    }

    fn layout(&self, positive: bool) -> Layout<'_> {
        if positive {
            Layout {
                spans: &self.positive_spans,
                buckets: &self.positive_buckets,
                comp: None,
            }
        } else {
            Layout {
                spans: &self.negative_spans,
                buckets: &self.negative_buckets,
                comp: None,
            }
        }
    }
}

/// Combines the counter reset hint `other` into `hint` as an addition or subtraction
/// does; true on a collision of reset and not-reset (the result is then unknown).
fn adjust_hint(hint: &mut CounterResetHint, other: CounterResetHint) -> bool {
    use CounterResetHint::{CounterReset, Gauge, NotCounterReset, Unknown};
    match (*hint, other) {
        (Gauge, _) | (Unknown, Unknown | CounterReset | NotCounterReset) => false,
        (CounterReset, CounterReset) | (NotCounterReset, NotCounterReset) => false,
        (_, Gauge) | (_, Unknown) => {
            *hint = other;
            false
        }
        (CounterReset, NotCounterReset) | (NotCounterReset, CounterReset) => {
            *hint = Unknown;
            true
        }
    }
}

/// One side of the second operand, merged into the first operand's schema if that is
/// lower (with compensation terms for the merged buckets in a Kahan sum).
#[derive(Debug)]
struct OtherSide<'a> {
    side: Side,
    spans: Cow<'a, [Span]>,
    buckets: Cow<'a, [f64]>,
    comp: Option<Vec<f64>>,
}

impl<'a> OtherSide<'a> {
    fn new(
        h: &'a FloatHistogram,
        side: Side,
        target: i32,
        kahan: bool,
    ) -> Result<Self, HistogramError> {
        let own = h.layout(side == Side::Positive);
        if target >= h.schema || (kahan && own.buckets.is_empty()) {
            return Ok(OtherSide {
                side,
                spans: Cow::Borrowed(own.spans),
                buckets: Cow::Borrowed(own.buckets),
                comp: None,
            });
        }
        let zeros = kahan.then(|| vec![0.0; own.buckets.len()]);
        let reduced = layout::reduce_resolution(
            side,
            Layout {
                comp: zeros.as_deref(),
                ..own
            },
            h.schema,
            target,
        )?;
        Ok(OtherSide {
            side,
            spans: Cow::Owned(reduced.spans),
            buckets: Cow::Owned(reduced.buckets),
            comp: reduced.comp,
        })
    }

    fn layout(&self) -> Layout<'_> {
        Layout {
            spans: &self.spans,
            buckets: &self.buckets,
            comp: self.comp.as_deref(),
        }
    }
}

/// The `custom_values` of a histogram with the given (possibly empty) bounds.
fn bounds_value(bounds: Vec<f64>) -> Option<Arc<[f64]>> {
    (!bounds.is_empty()).then(|| Arc::from(bounds))
}
