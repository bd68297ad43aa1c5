use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use tokio::io::AsyncWriteExt;

use crate::{BucketConfig, BucketKind, ObjStoreError};

type Result<T> = std::result::Result<T, ObjStoreError>;

/// An object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Path inside the bucket.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// A handle on the configured object store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    description: String,
}

impl Bucket {
    /// Opens the bucket `config` describes; a filesystem bucket without a directory
    /// uses `default_dir` (created when missing).
    pub fn from_config(config: &BucketConfig, default_dir: &Path) -> Result<Self> {
        config.validate()?;
        let (store, description): (Arc<dyn ObjectStore>, String) = match config.backend {
            BucketKind::Memory => (Arc::new(InMemory::new()), "memory".into()),
            BucketKind::Filesystem => {
                let dir = if config.filesystem.dir.as_os_str().is_empty() {
                    default_dir.to_path_buf()
                } else {
                    config.filesystem.dir.clone()
                };
                std::fs::create_dir_all(&dir).map_err(|e| {
                    ObjStoreError::Config(format!(
                        "cannot create bucket dir {}: {e}",
                        dir.display()
                    ))
                })?;
                let fs = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| {
                        ObjStoreError::Config(format!("bucket dir {}: {e}", dir.display()))
                    })?
                    .with_automatic_cleanup(true);
                (Arc::new(fs), format!("filesystem:{}", dir.display()))
            }
            BucketKind::S3 => {
                let s3 = &config.s3;
                // Start from the AWS_* environment so credentials need not be in files.
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_virtual_hosted_style_request(!s3.path_style)
                    .with_client_options(
                        ClientOptions::new()
                            .with_allow_http(s3.insecure)
                            .with_connect_timeout(s3.connect_timeout)
                            .with_timeout(s3.request_timeout)
                            .with_allow_invalid_certificates(s3.insecure_skip_verify),
                    )
                    .with_retry(RetryConfig {
                        backoff: BackoffConfig::default(),
                        max_retries: s3.max_retries,
                        retry_timeout: s3.retry_timeout,
                    });
                if !s3.endpoint.is_empty() {
                    b = b.with_endpoint(&s3.endpoint);
                }
                if !s3.access_key_id.is_empty() {
                    b = b
                        .with_access_key_id(&s3.access_key_id)
                        .with_secret_access_key(&s3.secret_access_key);
                }
                if !s3.session_token.is_empty() {
                    b = b.with_token(&s3.session_token);
                }
                let store = b
                    .build()
                    .map_err(|e| ObjStoreError::Config(format!("s3: {e}")))?;
                let endpoint = if s3.endpoint.is_empty() {
                    "aws"
                } else {
                    &s3.endpoint
                };
                (Arc::new(store), format!("s3:{endpoint}/{}", s3.bucket))
            }
        };
        let store: Arc<dyn ObjectStore> = if config.prefix.is_empty() {
            store
        } else {
            Arc::new(PrefixStore::new(store, config.prefix.trim_end_matches('/')))
        };
        Ok(Self { store, description })
    }

    /// An in-memory bucket (tests).
    pub fn memory() -> Self {
        Self {
            store: Arc::new(InMemory::new()),
            description: "memory".into(),
        }
    }

    /// Where the bucket is, for logs.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The underlying store, for readers that do their own byte-range reads.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The whole object.
    pub async fn get(&self, path: &str) -> Result<Bytes> {
        let r = self
            .store
            .get(&ObjectPath::from(path))
            .await
            .map_err(|e| ObjStoreError::from_store("get", path, e))?;
        r.bytes()
            .await
            .map_err(|e| ObjStoreError::from_store("get", path, e))
    }

    /// Bytes `range` of the object.
    pub async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Bytes> {
        self.store
            .get_range(&ObjectPath::from(path), range)
            .await
            .map_err(|e| ObjStoreError::from_store("get", path, e))
    }

    /// Size of the object.
    pub async fn head(&self, path: &str) -> Result<ObjectInfo> {
        let m = self
            .store
            .head(&ObjectPath::from(path))
            .await
            .map_err(|e| ObjStoreError::from_store("head", path, e))?;
        Ok(ObjectInfo {
            path: path.into(),
            size: m.size,
        })
    }

    /// Whether the object exists.
    pub async fn exists(&self, path: &str) -> Result<bool> {
        match self.head(path).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes the object in one request (replacing it atomically when it exists).
    pub async fn put(&self, path: &str, data: Bytes) -> Result<()> {
        self.store
            .put(&ObjectPath::from(path), PutPayload::from(data))
            .await
            .map_err(|e| ObjStoreError::from_store("put", path, e))?;
        Ok(())
    }

    /// Uploads a local file, in parts when it is large; the object appears only once
    /// the upload completed.
    pub async fn upload_file(&self, local: &Path, path: &str) -> Result<u64> {
        let io_err = |e: std::io::Error| ObjStoreError::Store {
            op: "put",
            path: path.into(),
            source: object_store::Error::Generic {
                store: "local file",
                source: Box::new(e),
            },
        };
        let mut file = tokio::fs::File::open(local).await.map_err(io_err)?;
        let mut writer = BufWriter::new(self.store.clone(), ObjectPath::from(path));
        let copied = tokio::io::copy(&mut file, &mut writer).await;
        match copied {
            Ok(n) => {
                writer.shutdown().await.map_err(io_err)?;
                Ok(n)
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(io_err(e))
            }
        }
    }

    /// Every object under `prefix` (recursively), in no particular order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let p = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        self.store
            .list(p.as_ref())
            .map_ok(|m| ObjectInfo {
                path: m.location.to_string(),
                size: m.size,
            })
            .try_collect()
            .await
            .map_err(|e| ObjStoreError::from_store("list", prefix, e))
    }

    /// The names of the "directories" directly under `prefix`, sorted.
    pub async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>> {
        let p = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
        let res = self
            .store
            .list_with_delimiter(p.as_ref())
            .await
            .map_err(|e| ObjStoreError::from_store("list", prefix, e))?;
        let mut dirs: Vec<String> = res
            .common_prefixes
            .iter()
            .filter_map(|d| d.filename().map(str::to_string))
            .collect();
        dirs.sort();
        Ok(dirs)
    }

    /// Deletes the object; deleting a missing object succeeds.
    pub async fn delete(&self, path: &str) -> Result<()> {
        match self.store.delete(&ObjectPath::from(path)).await {
            Ok(()) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(ObjStoreError::from_store("delete", path, e)),
        }
    }
}

#[cfg(test)]
mod tests;
