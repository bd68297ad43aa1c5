/// The bit pattern Prometheus uses to mark a series as stale (a signalling NaN that no
/// arithmetic produces).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker as a float. Compare with [`is_stale_nan`], never with `==`.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// Whether `v` is exactly Prometheus's staleness marker (not just any NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample: a timestamp in milliseconds since the Unix epoch and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value; may be NaN, ±Inf or the staleness marker.
    pub v: f64,
}

impl Sample {
    /// A sample at `t` milliseconds with value `v`.
    pub const fn new(t: i64, v: f64) -> Self {
        Self { t, v }
    }
}

/// One native-histogram sample: a timestamp in milliseconds and a histogram, shared so
/// that repeating it at many query steps copies a pointer, not the buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The histogram; a staleness marker has a `sum` of [`STALE_NAN`].
    pub h: std::sync::Arc<crate::FloatHistogram>,
}

impl HistogramSample {
    /// A histogram sample at `t` milliseconds.
    pub fn new(t: i64, h: crate::FloatHistogram) -> Self {
        Self {
            t,
            h: std::sync::Arc::new(h),
        }
    }

    /// Whether this is a staleness marker.
    pub fn is_stale(&self) -> bool {
        is_stale_nan(self.h.sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker_is_a_nan_but_not_every_nan_is_stale() {
        assert!(STALE_NAN.is_nan());
        assert!(is_stale_nan(STALE_NAN));
        assert!(!is_stale_nan(f64::NAN));
        assert!(!is_stale_nan(1.0));
    }
}
