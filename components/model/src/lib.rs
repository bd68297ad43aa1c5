//! The data model every Cairn component shares.
//!
//! A time series is identified by its [`Labels`] (a sorted, duplicate-free set of
//! name/value pairs, one of which is usually `__name__`) and holds [`Sample`]s:
//! millisecond timestamps with `f64` values, or [`HistogramSample`]s holding native
//! histograms ([`FloatHistogram`], with their arithmetic in [`histogram`]; PromQL uses
//! them, the write path does not store them yet). Series are selected with
//! [`Matcher`]s, and every series belongs to exactly one [`TenantId`]. [`gofloat`] has
//! the float helpers that must match Prometheus's Go code bit for bit.
//!
//! ```text
//!  remote_write ──▶ validate::series() ──▶ Labels + Vec<Sample> ──▶ ingester head
//!  PromQL / StoreAPI ──▶ Vec<Matcher> ──▶ Matcher::matches(label value) ──▶ postings
//! ```
//!
//! The validation rules are Prometheus's classic ones (metric names
//! `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*`, labels sorted by
//! name and unique, no empty values, `__`-prefixed names reserved except `__name__`).

pub mod duration;
mod error;
pub mod gofloat;
pub mod histogram;
mod labels;
mod matcher;
pub mod regex_compat;
mod sample;
mod tenant;
pub mod validate;

pub use error::ModelError;
pub use histogram::FloatHistogram;
pub use labels::{stable_hash_pairs, Label, Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{MatchOp, Matcher};
pub use sample::{is_stale_nan, HistogramSample, Sample, STALE_NAN, STALE_NAN_BITS};
pub use tenant::TenantId;
