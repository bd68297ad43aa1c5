//! The PromQL engine of Cairn.
//!
//! Queries are parsed with the `promql-parser` crate, every selector's time range is
//! worked out from the AST (offset, `@`, lookback delta, ranges, subqueries and the
//! query's own start/end), all selectors are fetched from a [`Storage`] concurrently,
//! and the expression is then evaluated synchronously (on a blocking thread) over all
//! steps at once, following Prometheus 3 semantics: left-open lookback and range
//! windows, staleness markers, `extrapolatedRate`, Kahan summation, vector matching
//! and its error messages.
//!
//! ```text
//!  query text ──parse──▶ AST ──plan──▶ SelectRequest per selector
//!                                          │  (start/end/matchers/hints)
//!                                          ▼
//!                          Storage::select (concurrently, async)
//!                                          │  sorted series, each with its samples kept
//!                                          │  compact: SeriesData::Xor (encoded chunks)
//!                                          │  or SeriesData::Samples (InMemoryStorage)
//!                                          ▼
//!        Evaluator: each node → Val over all steps (scalar / vector / matrix)
//!
//!          streamed, one series at a time (eval_vector_each):
//!            instant selector ── SampleIter reads chunks forward, step by step
//!            rate(x[5m]) etc. ── decode one series into a reused buffer → its output
//!            sum/avg/count/min/max/group/stddev/stdvar by (..) ── fold each series
//!                               into per-group, per-step state as it arrives
//!          whole: binary operators, topk/bottomk/limitk, quantile, count_values,
//!                 subqueries, and anything feeding them (evaluated, then consumed)
//!                                          │
//!                                          ▼
//!               Value (Scalar | String | Vector | Matrix) + warnings
//! ```
//!
//! So `sum by (job) (rate(x[5m]))` holds the compact fetched data, one series' decoded
//! samples and the aggregation's output, never the decoded matrix or rate's whole
//! output; [`EngineOptions::max_samples`] counts decoded samples and output points while
//! they are held (a decode buffer only while its series is being evaluated).
//!
//! Limits: [`EngineOptions::max_concurrent`] queries run at once (others queue), each
//! bounded by [`EngineOptions::timeout`] (queueing included) and
//! [`EngineOptions::max_samples`] samples held in memory (see above).
//!
//! Native histograms: a series' points are floats or [`cairn_model::FloatHistogram`]s
//! (`Series::points` and `Series::hpoints`, as upstream keeps `Floats` and
//! `Histograms` apart). Float-only operations ignore histogram points, with upstream's
//! annotations where it gives them; `rate`/`increase`/`delta`, `irate`/`idelta`,
//! `sum`/`avg`/`count`/`last`/`first`_over_time, `sum`/`avg`/`count`/`group`/`limitk`,
//! `+ - * /` and `== !=`, and the `histogram_*` functions work on histograms
//! (`range_histograms.rs`, `native_histogram.rs`, arithmetic in `cairn-model`).
//!
//! Functions that are not implemented yet fail with [`QueryError::Execution`]
//! ("function X is not supported yet") rather than giving a wrong answer.

mod aggregations;
mod annotations;
mod binary;
mod engine;
mod error;
mod eval;
mod functions;
mod histogram;
mod mathx;
mod native_histogram;
mod parse;
mod plan;
pub mod promqltest;
mod range_histograms;
mod storage;
mod value;

#[cfg(test)]
mod tests;

pub use engine::{Engine, EngineOptions, QueryOptions};
pub use error::{QueryError, StorageError};
pub use parse::parse_query;
pub use plan::selector_matchers;
pub use storage::{
    EncodedChunk, InMemoryStorage, SampleIter, SelectHints, SelectRequest, SelectResult,
    SeriesData, Storage, StorageSeries,
};
pub use value::{QueryResult, RangeSeries, Value, VectorSample};
