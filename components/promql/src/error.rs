//! The one error type of the engine and the storage error it wraps.

use thiserror::Error;

/// A failure reported by a [`Storage`](crate::Storage) implementation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct StorageError {
    /// What went wrong, for the user.
    pub message: String,
    /// Whether retrying the same request may succeed (e.g. a store was unreachable).
    pub retryable: bool,
}

impl StorageError {
    /// A permanent storage error (Prometheus errorType `internal`).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }

    /// A transient storage error (Prometheus errorType `unavailable`).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }
}

/// Everything that can make a query fail, mapped onto Prometheus's API error types.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum QueryError {
    /// The query text (or a query parameter such as the step) is invalid.
    #[error("{0}")]
    Parse(String),
    /// The query is valid but cannot be evaluated (e.g. many-to-many matching).
    #[error("{0}")]
    Execution(String),
    /// The query would hold more samples in memory than `max_samples` allows.
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    /// The query ran longer than the configured timeout (including queueing).
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The query was canceled by the caller.
    #[error("query was canceled in {0}")]
    Canceled(&'static str),
    /// The storage layer failed.
    #[error("{0}")]
    Storage(#[from] StorageError),
}

impl QueryError {
    /// Prometheus's `errorType` string for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Parse(_) => "bad_data",
            Self::Execution(_) | Self::TooManySamples => "execution",
            Self::Timeout(_) => "timeout",
            Self::Canceled(_) => "canceled",
            Self::Storage(e) if e.retryable => "unavailable",
            Self::Storage(_) => "internal",
        }
    }

    /// The HTTP status Prometheus's API answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Parse(_) => 400,
            Self::Execution(_) | Self::TooManySamples => 422,
            Self::Timeout(_)
            | Self::Storage(StorageError {
                retryable: true, ..
            }) => 503,
            Self::Canceled(_) => 499,
            Self::Storage(_) => 500,
        }
    }

    pub(crate) fn exec(msg: impl Into<String>) -> Self {
        Self::Execution(msg.into())
    }
}

/// Shorthand used throughout the evaluator.
pub(crate) type Result<T, E = QueryError> = std::result::Result<T, E>;
