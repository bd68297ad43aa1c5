use cairn_objstore::ObjStoreError;

/// What went wrong writing, reading or finding a block.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// Object storage failed.
    #[error(transparent)]
    ObjStore(#[from] ObjStoreError),
    /// A local file could not be read or written.
    #[error("block file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The Parquet file could not be written or read.
    #[error("parquet in block {block}: {source}")]
    Parquet {
        /// Block id or file.
        block: String,
        /// The error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// `meta.json` is missing fields or not JSON.
    #[error("meta.json of block {block}: {reason}")]
    Meta {
        /// Block id or path.
        block: String,
        /// What is wrong.
        reason: String,
    },
    /// The block's contents contradict its format (bad columns, undecodable chunks).
    #[error("corrupt block {block}: {reason}")]
    Corrupt {
        /// Block id.
        block: String,
        /// What is wrong.
        reason: String,
    },
    /// The caller passed series that cannot form a block (unsorted, outside the range).
    #[error("invalid block input: {0}")]
    InvalidInput(String),
}

impl BlockError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn corrupt(block: impl ToString, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            block: block.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn parquet(block: impl ToString, source: parquet::errors::ParquetError) -> Self {
        Self::Parquet {
            block: block.to_string(),
            source,
        }
    }
}

pub(crate) type Result<T, E = BlockError> = std::result::Result<T, E>;
