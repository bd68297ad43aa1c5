//! Generated protobuf messages and gRPC stubs for every `.proto` under `proto/`.
//!
//! ```text
//!  proto/prometheus/*.proto   ─┐
//!  proto/thanos/**/*.proto    ─┼─ build.rs (prost + tonic) ──▶ OUT_DIR/*.rs ──▶ these modules
//!  proto/cairn/**/v1/*.proto  ─┘
//! ```
//!
//! Module paths mirror the protobuf packages: `prometheus` (remote write/read, upstream
//! package name kept), `thanos` (StoreAPI) and `thanos::info` (Info API), and
//! `cairn::ingest::v1` and `cairn::meta::v1` (internal RPCs). Nothing in those modules is written by hand;
//! [`channel`] holds the one hand-written helper every gRPC client uses to connect, and
//! [`wire`] a zero-copy reader of remote-write series for the write path's hot loop.

#![allow(missing_docs)]

pub mod channel;
mod histogram;
pub mod wire;

/// Prometheus remote write 1.0 / remote read (`prometheus` package).
#[allow(
    unreachable_pub,
    missing_debug_implementations,
    unused_qualifications,
    clippy::all
)]
pub mod prometheus {
    include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));

    impl TimeSeries {
        /// A series of float samples as a remote-write client sends it: `labels` as
        /// (name, value) in the order given (remote write wants them sorted by name),
        /// `samples` as (timestamp in ms, value). For tests and tools.
        pub fn with_samples(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> Self {
            Self {
                labels: labels
                    .iter()
                    .map(|(name, value)| Label {
                        name: (*name).into(),
                        value: (*value).into(),
                    })
                    .collect(),
                samples: samples
                    .iter()
                    .map(|&(timestamp, value)| Sample { value, timestamp })
                    .collect(),
                ..Default::default()
            }
        }
    }
}

/// Thanos StoreAPI and Metadata API (`thanos` package) and Info API (`thanos.info`).
#[allow(
    unreachable_pub,
    missing_debug_implementations,
    unused_qualifications,
    clippy::all
)]
pub mod thanos {
    include!(concat!(env!("OUT_DIR"), "/thanos.rs"));

    /// The Thanos Info API (`thanos.info` package).
    pub mod info {
        include!(concat!(env!("OUT_DIR"), "/thanos.info.rs"));
    }
}

/// Cairn's own internal RPCs, versioned by package.
#[allow(
    unreachable_pub,
    missing_debug_implementations,
    unused_qualifications,
    clippy::all
)]
pub mod cairn {
    /// Receiver → ingester write path.
    pub mod ingest {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/cairn.ingest.v1.rs"));
        }
    }
    /// Ring membership replicated by `cairn meta`, and the Raft transport between meta
    /// nodes.
    pub mod meta {
        /// Version 1.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/cairn.meta.v1.rs"));
        }
    }
}
