//! The receiver: Cairn's remote-write front door. Stateless.
//!
//! ```text
//!  POST /api/v1/write (+ /api/v1/push, /api/v1/receive, /api/prom/push)
//!    │ body ≤ max_request_bytes (413)
//!    │ Content-Encoding snappy, Content-Type protobuf (415 otherwise)
//!    ▼
//!  snappy block decode (400) ─▶ WriteRequest read in place by cairn_proto::wire (400):
//!    │ labels as &str into the buffer, each series' own TimeSeries bytes kept
//!    │ tenant: X-Scope-OrgID | THANOS-TENANT | basic-auth user | default (401/403)
//!    ▼
//!  validate: names, sorted unique labels, sample age/future (bad series dropped; a
//!    │ trimmed series is re-encoded, a whole one forwarded as the bytes received)
//!    ▼
//!  Distributor: token of hash(tenant, labels) on the ring (cairn-ring RingSource)
//!    │ RF distinct healthy ACTIVE ingesters per series, one per zone when zoned;
//!    │ metric metadata to the replicas of its family name (best effort)
//!    │ one batch per ingester, all in parallel ──gRPC Push──▶ ingesters
//!    │ a replica counts once its samples are in the ingester's WAL
//!    ▼
//!  per series: stored by a quorum (RF/2+1)? refused as bad data by a quorum?
//!  204 if every series was stored; 400 naming bad series when some data can never be
//!  accepted (the rest is stored); 503 when any series missed its quorum (retryable,
//!  never a false 2xx)
//! ```

mod config;
mod distributor;
mod error;
mod handler;
mod metrics;
mod validate;

pub use config::ReceiveConfig;
pub use distributor::Distributor;
pub use error::ReceiveError;
pub use handler::{router, Receiver, WRITE_PATHS};
