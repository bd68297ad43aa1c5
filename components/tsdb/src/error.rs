use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the tsdb crate.
///
/// Corruption found while replaying a WAL is not an error: it is repaired (truncated)
/// and logged, see [`crate::wal`]. Errors are what the caller must act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed; `op` says what was being done, `path` where.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "write wal segment".
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A single WAL record would exceed the frame's length limit.
    #[error("wal record of {len} bytes for segment {} exceeds the limit of {max} bytes", path.display())]
    RecordTooLarge {
        /// The segment the record was meant for.
        path: PathBuf,
        /// Encoded payload size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An earlier write or fsync failed, so the WAL may no longer match what was
    /// acknowledged; the head refuses further appends until it is reopened (which
    /// replays and repairs the log).
    #[error("wal in {} is unusable after an earlier write or fsync failure; reopen to recover", dir.display())]
    WalPoisoned {
        /// The WAL directory.
        dir: PathBuf,
    },
    /// A WAL segment being folded into a checkpoint is damaged; nothing was deleted.
    #[error("cannot checkpoint wal: segment {} is damaged: {reason}", path.display())]
    Checkpoint {
        /// The damaged segment.
        path: PathBuf,
        /// What is wrong and where.
        reason: String,
    },
    /// The head (or the whole tsdb) was closed; no more appends are accepted.
    #[error("head with wal in {} is closed", dir.display())]
    Closed {
        /// The WAL directory of the closed head.
        dir: PathBuf,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand for building an [`Error::Io`] in `map_err`.
pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { op, path, source }
}
