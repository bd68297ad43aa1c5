use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ObjStoreError;

/// Which kind of object store holds the blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BucketKind {
    /// A local directory (single-node setups, `cairn all`).
    #[default]
    Filesystem,
    /// An S3-compatible service.
    S3,
    /// Process memory; lost on exit (tests only).
    Memory,
}

/// Object storage settings, the same shape for every role.
///
/// ```yaml
/// bucket:
///   backend: s3
///   s3:
///     endpoint: http://minio:9000
///     bucket: cairn
///     path_style: true
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BucketConfig {
    /// `filesystem` (default), `s3` or `memory`.
    pub backend: BucketKind,
    /// Settings for `backend: filesystem`.
    pub filesystem: FilesystemConfig,
    /// Settings for `backend: s3`.
    pub s3: S3Config,
    /// Optional key prefix under which every object is stored (to share a bucket).
    pub prefix: String,
}

/// Settings of a filesystem bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FilesystemConfig {
    /// The directory holding the objects; empty means `<data_dir>/bucket`.
    pub dir: PathBuf,
}

/// Settings of an S3-compatible bucket. Credentials left empty are taken from the
/// standard `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`
/// variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Service URL, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://minio:9000`.
    /// Empty means AWS's endpoint for `region`.
    pub endpoint: String,
    /// Bucket name.
    pub bucket: String,
    /// Region used for request signing.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token for temporary credentials.
    pub session_token: String,
    /// Address objects as `<endpoint>/<bucket>/<key>` (MinIO and most self-hosted
    /// servers) instead of `<bucket>.<endpoint>/<key>`.
    pub path_style: bool,
    /// Allow plain `http://` endpoints.
    pub insecure: bool,
    /// Accept TLS certificates that do not verify (self-signed test setups).
    pub insecure_skip_verify: bool,
    /// Time allowed to establish a connection.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub connect_timeout: Duration,
    /// Time allowed for one request, body included.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub request_timeout: Duration,
    /// Retries of a failed request (with exponential backoff).
    pub max_retries: usize,
    /// Give up retrying a request after this long.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub retry_timeout: Duration,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: String::new(),
            path_style: true,
            insecure: false,
            insecure_skip_verify: false,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            retry_timeout: Duration::from_secs(60),
        }
    }
}

impl BucketConfig {
    /// A filesystem bucket in `dir`.
    pub fn filesystem(dir: impl Into<PathBuf>) -> Self {
        Self {
            backend: BucketKind::Filesystem,
            filesystem: FilesystemConfig { dir: dir.into() },
            ..Self::default()
        }
    }

    /// An in-memory bucket.
    pub fn memory() -> Self {
        Self {
            backend: BucketKind::Memory,
            ..Self::default()
        }
    }

    /// Checks the settings of the chosen backend.
    pub fn validate(&self) -> Result<(), ObjStoreError> {
        let err = |m: &str| Err(ObjStoreError::Config(m.into()));
        if self.prefix.starts_with('/') || self.prefix.contains("//") {
            return err("bucket.prefix must be a relative path without empty segments");
        }
        match self.backend {
            BucketKind::Filesystem | BucketKind::Memory => Ok(()),
            BucketKind::S3 => {
                let s3 = &self.s3;
                if s3.bucket.is_empty() {
                    return err("bucket.s3.bucket must be set with backend: s3");
                }
                if s3.region.is_empty() {
                    return err("bucket.s3.region must not be empty");
                }
                if !s3.endpoint.is_empty()
                    && !s3.endpoint.starts_with("http://")
                    && !s3.endpoint.starts_with("https://")
                {
                    return err("bucket.s3.endpoint must start with http:// or https://");
                }
                if s3.endpoint.starts_with("http://") && !s3.insecure {
                    return err("bucket.s3.endpoint is plain http: set bucket.s3.insecure: true to allow it");
                }
                if s3.access_key_id.is_empty() != s3.secret_access_key.is_empty() {
                    return err(
                        "bucket.s3.access_key_id and secret_access_key must be set together",
                    );
                }
                if s3.request_timeout.is_zero() || s3.connect_timeout.is_zero() {
                    return err("bucket.s3 timeouts must be greater than 0");
                }
                Ok(())
            }
        }
    }
}
