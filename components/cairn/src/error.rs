use thiserror::Error;

/// Why the `cairn` command failed.
#[derive(Debug, Error)]
pub(crate) enum CliError {
    /// The configuration is unreadable or invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// A role failed to start or stopped with an error.
    #[error("{role}: {message}")]
    Role { role: &'static str, message: String },
}
