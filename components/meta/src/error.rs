use thiserror::Error;

/// Everything `cairn meta` and its clients can fail with.
#[derive(Debug, Error)]
pub enum MetaError {
    /// The configuration is unusable.
    #[error("invalid meta configuration: {0}")]
    Config(String),
    /// Reading or writing the node's persistent state failed.
    #[error("meta storage at {path}: {message}")]
    Storage {
        /// File or directory involved.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Raft refused or failed the operation.
    #[error("raft: {0}")]
    Raft(String),
    /// No meta node could be reached, or none has a leader right now.
    #[error("meta unavailable: {0}")]
    Unavailable(String),
    /// The request names something that does not exist or is not allowed.
    #[error("{0}")]
    InvalidRequest(String),
}

impl MetaError {
    pub(crate) fn storage(path: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        Self::Storage {
            path: path.to_string(),
            message: e.to_string(),
        }
    }

    /// The gRPC status a service answers with.
    pub fn to_status(&self) -> tonic::Status {
        match self {
            Self::InvalidRequest(m) => tonic::Status::invalid_argument(m.clone()),
            Self::Config(m) => tonic::Status::failed_precondition(m.clone()),
            Self::Unavailable(m) | Self::Raft(m) => tonic::Status::unavailable(m.clone()),
            Self::Storage { .. } => tonic::Status::internal(self.to_string()),
        }
    }

    pub(crate) fn from_status(status: &tonic::Status) -> Self {
        match status.code() {
            tonic::Code::InvalidArgument => Self::InvalidRequest(status.message().to_owned()),
            _ => Self::Unavailable(format!("{}: {}", status.code(), status.message())),
        }
    }
}
