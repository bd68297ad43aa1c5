//! Query results as returned to API callers.

use std::sync::Arc;

use cairn_model::{FloatHistogram, HistogramSample, Labels, Sample};

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSample {
    /// The series' labels.
    pub labels: Labels,
    /// Evaluation timestamp in milliseconds.
    pub t: i64,
    /// The value (0 when the element is a histogram).
    pub v: f64,
    /// The native histogram, when the element is one rather than a float.
    pub h: Option<Arc<FloatHistogram>>,
}

/// One series of a range vector (matrix).
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Float points sorted by timestamp.
    pub samples: Vec<Sample>,
    /// Histogram points sorted by timestamp.
    pub histograms: Vec<HistogramSample>,
}

/// The value a query evaluates to, shaped like Prometheus's `resultType`s.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `scalar`: a number at the evaluation time.
    Scalar {
        /// Evaluation timestamp in milliseconds.
        t: i64,
        /// The number.
        v: f64,
    },
    /// `string`: a string literal at the evaluation time.
    String {
        /// Evaluation timestamp in milliseconds.
        t: i64,
        /// The string.
        v: String,
    },
    /// `vector`: an instant vector.
    Vector(Vec<VectorSample>),
    /// `matrix`: a range vector (range queries, or instant queries of range selectors).
    Matrix(Vec<RangeSeries>),
}

impl Value {
    /// Prometheus's `resultType` name: `scalar`, `string`, `vector` or `matrix`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Scalar { .. } => "scalar",
            Self::String { .. } => "string",
            Self::Vector(_) => "vector",
            Self::Matrix(_) => "matrix",
        }
    }
}

/// A query's result with the annotations Prometheus reports beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The result value.
    pub value: Value,
    /// Warnings (from storage and from evaluation).
    pub warnings: Vec<String>,
    /// Informational annotations.
    pub infos: Vec<String>,
}
