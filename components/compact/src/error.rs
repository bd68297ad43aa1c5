use cairn_block::BlockError;
use cairn_objstore::ObjStoreError;
use ulid::Ulid;

/// What went wrong compacting or inspecting a tenant's blocks.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// Object storage failed; the run is retried on the next interval.
    #[error(transparent)]
    ObjStore(Box<ObjStoreError>),
    /// A block could not be read, written or listed.
    #[error(transparent)]
    Block(Box<BlockError>),
    /// The tenant's blocks are in a state the compactor refuses to touch.
    #[error("tenant {tenant} halted ({reason}): {detail}")]
    Halt {
        /// The tenant.
        tenant: String,
        /// Short machine-friendly reason (`overlap`, `corrupt`).
        reason: &'static str,
        /// What exactly is wrong: block ids, ranges.
        detail: String,
    },
    /// A local scratch file could not be handled.
    #[error("compactor scratch dir {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A block could not be written (a bug or a full disk).
    #[error("writing block for tenant {tenant}: {source}")]
    Write {
        /// The tenant.
        tenant: String,
        /// The error.
        #[source]
        source: Box<BlockError>,
    },
    /// A background task died.
    #[error("compaction task failed: {0}")]
    Task(String),
}

impl From<ObjStoreError> for CompactError {
    fn from(e: ObjStoreError) -> Self {
        Self::ObjStore(Box::new(e))
    }
}

impl From<BlockError> for CompactError {
    fn from(e: BlockError) -> Self {
        match e {
            BlockError::ObjStore(e) => e.into(),
            other => Self::Block(Box::new(other)),
        }
    }
}

impl CompactError {
    pub(crate) fn corrupt(tenant: &str, block: Ulid, detail: impl std::fmt::Display) -> Self {
        Self::Halt {
            tenant: tenant.into(),
            reason: "corrupt",
            detail: format!("block {block}: {detail}"),
        }
    }

    /// Turns a read error of `block` into a halt when it means the block is damaged
    /// (rather than the store being unreachable).
    pub(crate) fn reading(tenant: &str, block: Ulid, e: BlockError) -> Self {
        match e {
            BlockError::ObjStore(e) if !e.is_not_found() => e.into(),
            other => Self::corrupt(tenant, block, other),
        }
    }
}

pub(crate) type Result<T, E = CompactError> = std::result::Result<T, E>;
