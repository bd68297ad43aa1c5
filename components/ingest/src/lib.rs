//! The ingester: holds recent data for every tenant in memory, durable through a WAL,
//! and ships it to object storage as blocks.
//!
//! ```text
//!  receiver ──cairn.ingest.v1.Ingester/Push──▶ IngestService
//!                                                │ encoded TimeSeries read in place (cairn_proto::wire),
//!                                                │ labels checked; metric metadata → MetadataStore (memory)
//!                                                ▼
//!                                     cairn_tsdb::Tsdb::append (WAL write, then head; borrowed labels)
//!                                                │ rejections (out of order, duplicate) → PushResponse
//!  querier ◀──thanos.Store/Series, LabelNames, LabelValues, thanos.info.Info── Ingester (StoreBackend)
//!          ◀──thanos.Metadata/MetricMetadata── MetadataService
//!                                                │ Tsdb::select → raw XOR chunks, sorted by labels
//!  Shipper (every ship_interval, per tenant; see the `shipper` module):
//!    head range [k·block_range, (k+1)·block_range) complete (+ grace)
//!      ─▶ Head::cut_block ─▶ cairn_block::write_block ─▶ <dir>/<tenant>/blocks/<ulid>/
//!      ─▶ upload_block (data, meta.json last; retried with backoff while the bucket is down)
//!      ─▶ shipped.json ─▶ Head::truncate (head + WAL checkpoint) ─▶ local copy deleted
//!  start:  Tsdb::open replays every tenant's WAL; Shipper::open finds pending blocks,
//!          closes cut ranges and truncates shipped ones; then the role reports ready
//!  stop:   the shipper finishes its pass; Ingester::close fsyncs and closes every WAL
//! ```

mod config;
mod error;
mod ingester;
mod metadata;
mod metrics;
mod service;
mod shipper;

pub use config::{IngestConfig, LifecycleConfig, WalFsync};
pub use error::IngestError;
pub use ingester::{EncodedPushReport, Ingester};
pub use metadata::MetricMeta;
pub use metrics::IngestMetrics;
pub use service::{IngestService, MetadataService};
pub use shipper::{ShipReport, Shipper};
