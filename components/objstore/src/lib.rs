//! Object storage for Cairn's blocks.
//!
//! One configuration shape ([`BucketConfig`]) for every role selects where blocks live:
//! a local directory (the default of `cairn all`), an S3-compatible service (MinIO,
//! AWS S3, Ceph, ...) or memory (unit tests). [`Bucket`] wraps the chosen
//! `object_store` implementation with the few operations Cairn needs, errors that name
//! the object, and the layout helpers every role shares.
//!
//! ```text
//!  BucketConfig (YAML/env) ──validate──▶ Bucket::from_config
//!        │                                   │ filesystem: LocalFileSystem(dir)
//!        │                                   │ s3:         AmazonS3 (endpoint, path style,
//!        │                                   │             timeouts, retries with backoff)
//!        │                                   │ memory:     InMemory
//!        ▼                                   ▼
//!  roles: ingester (upload) · store gateway (byte-range reads) · compactor · tools
//!
//!  layout:  <tenant>/<block ulid>/meta.json        written last: a block exists once
//!           <tenant>/<block ulid>/block.parquet     its meta.json does
//!           <tenant>/<block ulid>/deletion-mark.json  written before deletion
//! ```

mod bucket;
mod config;
mod error;

pub use bucket::{Bucket, ObjectInfo};
pub use config::{BucketConfig, BucketKind, FilesystemConfig, S3Config};
pub use error::ObjStoreError;
pub use object_store::{path::Path as ObjectPath, ObjectStore};

#[cfg(any(test, feature = "test-util"))]
pub mod testing;
