//! The ingester: holds recent data for every tenant in memory, durable through a WAL.
//!
//! ```text
//!  receiver ──cairn.ingest.v1.Ingester/Push──▶ IngestService
//!                                                │ labels checked, TimeSeries → (Labels, [Sample])
//!                                                ▼
//!                                     cairn_tsdb::Tsdb::append (WAL write, then head)
//!                                                │ rejections (out of order, duplicate) → PushResponse
//!  querier ◀──thanos.Store/Series, LabelNames, LabelValues, thanos.info.Info── Ingester (StoreBackend)
//!                                                │ Tsdb::select → raw XOR chunks, sorted by labels
//!  start:  Tsdb::open replays every tenant's WAL, then the role reports ready
//!  stop:   Ingester::close fsyncs and closes every WAL
//! ```

mod config;
mod error;
mod ingester;
mod metrics;
mod service;

pub use config::{IngestConfig, WalFsync};
pub use error::IngestError;
pub use ingester::Ingester;
pub use metrics::IngestMetrics;
pub use service::IngestService;
