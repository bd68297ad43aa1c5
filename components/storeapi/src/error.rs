use thiserror::Error;

/// Errors talking to or serving the StoreAPI.
#[derive(Debug, Error)]
pub enum StoreApiError {
    /// A request carried something that cannot be turned into model values.
    #[error("invalid store request: {0}")]
    InvalidRequest(String),
    /// The tenant in the `thanos-tenant` metadata is not valid.
    #[error("invalid tenant: {0}")]
    InvalidTenant(String),
    /// The endpoint of a store could not be parsed or connected.
    #[error("store {addr}: cannot connect: {reason}")]
    Connect {
        /// The store address.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// A store answered with a gRPC error.
    #[error("store {addr}: {status}")]
    Rpc {
        /// The store address.
        addr: String,
        /// The gRPC status it returned.
        status: Box<tonic::Status>,
    },
    /// A backend failed to serve a request.
    #[error("{0}")]
    Backend(String),
}

impl StoreApiError {
    /// The gRPC status a server returns for this error.
    pub fn to_status(&self) -> tonic::Status {
        match self {
            Self::InvalidRequest(_) | Self::InvalidTenant(_) => {
                tonic::Status::invalid_argument(self.to_string())
            }
            Self::Connect { .. } => tonic::Status::unavailable(self.to_string()),
            Self::Rpc { status, .. } => (**status).clone(),
            Self::Backend(_) => tonic::Status::internal(self.to_string()),
        }
    }
}
