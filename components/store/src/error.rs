use cairn_block::BlockError;
use cairn_objstore::ObjStoreError;

/// What can go wrong discovering or reading blocks.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Listing the bucket failed.
    #[error("store sync: listing {what}: {source}")]
    List {
        /// What was being listed.
        what: String,
        /// The error.
        #[source]
        source: ObjStoreError,
    },
    /// A block could not be opened or read.
    #[error("store: block {block} of tenant {tenant}: {source}")]
    Block {
        /// The tenant.
        tenant: String,
        /// The block id.
        block: String,
        /// The error.
        #[source]
        source: BlockError,
    },
}
