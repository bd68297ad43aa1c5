//! `cairn meta`: the ring's membership, replicated with Raft (openraft), and the clients
//! every other role uses to read and change it.
//!
//! ```text
//!   ingester ── Lifecycler: Register/SetState/Heartbeat/Remove ──┐
//!                                                                ▼
//!            ┌──────────── meta node (any; followers forward writes to the leader) ─┐
//!            │ Meta gRPC ─▶ RingCommand ─▶ raft.client_write ─▶ log (fsynced files)  │
//!            │                       quorum of voters ◀── Raft gRPC (JSON payloads)  │
//!            │ committed ─▶ StateMachine::apply ─▶ RingData ─▶ watch ─▶ WatchRing    │
//!            │                       └▶ snapshot.json every `snapshot_every` entries │
//!            └───────────────────────────────────────────────────────────────────────┘
//!                                                                │ WatchRing stream
//!   receiver / querier ◀── MetaRing (RingSource; last ring kept while meta is down) ◀┘
//! ```
//!
//! The replicated state is small: members with id, address, zone, tokens, state and
//! last heartbeat. Every change is a Raft log entry, so it is linearizable and survives
//! the loss of any minority of meta nodes; a node's log, vote and snapshot are on disk.
//! Clients never depend on meta for the data path: a receiver keeps placing series on
//! the last ring it saw while meta has no quorum.

mod client;
mod config;
mod convert;
mod error;
mod log_store;
mod network;
mod node;
mod state_machine;
#[cfg(test)]
mod tests;
mod types;

pub use client::{LifecycleSettings, Lifecycler, MetaClient, MetaRing};
pub use config::{parse_peer, MetaConfig, RingConfig};
pub use error::MetaError;
pub use node::{MetaNode, MetaService};
pub use state_machine::RingSnapshot;
pub use types::{CommandResponse, NodeId, RingCommand, RingData};
