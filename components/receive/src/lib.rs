//! The receiver: Cairn's remote-write front door. Stateless.
//!
//! ```text
//!  POST /api/v1/write (+ /api/v1/push, /api/v1/receive, /api/prom/push)
//!    │ body ≤ max_request_bytes (413)
//!    │ Content-Encoding snappy, Content-Type protobuf (415 otherwise)
//!    ▼
//!  snappy block decode (400) ─▶ prometheus.WriteRequest decode (400)
//!    │ tenant: X-Scope-OrgID | THANOS-TENANT | basic-auth user | default (401/403)
//!    ▼
//!  validate::series: names, sorted unique labels, sample age/future (bad series dropped)
//!    ▼
//!  Distributor: series hashed (tenant, labels) onto ingesters ──gRPC Push──▶ ingesters
//!    │ all accepted samples are in an ingester WAL before Push returns
//!    ▼
//!  204 if everything was stored; 400 naming the first bad series when some data can
//!  never be accepted (the rest is stored); 5xx only when a retry can succeed
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
