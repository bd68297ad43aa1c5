/// What went wrong talking to object storage.
#[derive(Debug, thiserror::Error)]
pub enum ObjStoreError {
    /// The configuration cannot work.
    #[error("invalid bucket config: {0}")]
    Config(String),
    /// The object does not exist.
    #[error("object {path} not found")]
    NotFound {
        /// Object path inside the bucket.
        path: String,
    },
    /// Any other failure of the store (network, permissions, server errors).
    #[error("object storage {op} {path}: {source}")]
    Store {
        /// The operation: get, put, list, delete, head.
        op: &'static str,
        /// Object path or prefix inside the bucket.
        path: String,
        /// The underlying error.
        #[source]
        source: object_store::Error,
    },
}

impl ObjStoreError {
    pub(crate) fn from_store(op: &'static str, path: &str, e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Self::NotFound { path: path.into() },
            source => Self::Store {
                op,
                path: path.into(),
                source,
            },
        }
    }

    /// Whether the object was missing (as opposed to the store failing).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}
