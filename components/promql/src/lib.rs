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
//!                                          │  sorted series + samples
//!                                          ▼
//!        Evaluator: each node → Val over all steps (scalar / vector / matrix)
//!          selectors ─▶ functions / aggregations / binary ops (step by step)
//!                                          │
//!                                          ▼
//!               Value (Scalar | String | Vector | Matrix) + warnings
//! ```
//!
//! Limits: [`EngineOptions::max_concurrent`] queries run at once (others queue), each
//! bounded by [`EngineOptions::timeout`] (queueing included) and
//! [`EngineOptions::max_samples`] samples held in memory.
//!
//! Functions that are not implemented yet fail with [`QueryError::Execution`]
//! ("function X is not supported yet") rather than giving a wrong answer.

mod aggregations;
mod binary;
mod engine;
mod error;
mod eval;
mod functions;
mod histogram;
mod mathx;
mod plan;
pub mod promqltest;
mod storage;
mod value;

#[cfg(test)]
mod tests;

pub use engine::{Engine, EngineOptions, QueryOptions};
pub use error::{QueryError, StorageError};
pub use plan::selector_matchers;
pub use storage::{
    EncodedChunk, InMemoryStorage, SampleIter, SelectHints, SelectRequest, SelectResult,
    SeriesData, Storage, StorageSeries,
};
pub use value::{QueryResult, RangeSeries, Value, VectorSample};
