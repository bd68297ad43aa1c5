//! The token ring: which ingesters exist, and which of them hold a series.
//!
//! ```text
//!  source of truth                      cairn-ring                         users
//!  ───────────────                      ──────────                         ─────
//!  config (StaticRing)  ─┐
//!                        ├─ RingSource ─▶ Arc<Ring> (watch channel) ─▶ receiver: replicas() per series
//!  cairn meta (later)   ─┘                  │                         querier: members()
//!                                           ▼
//!   members {id, addr, zone, tokens, state, heartbeat}
//!   tokens sorted ─▶ series_token(tenant, labels) ─▶ binary search ─▶ walk clockwise
//!                                                     RF distinct eligible members,
//!                                                     one per zone while zones ≥ RF
//! ```
//!
//! Each member owns many tokens on a `u32` circle. A series is placed by hashing
//! (tenant, sorted labels) to a token and walking the circle clockwise from it, picking
//! the first `RF` distinct members that may take the operation. Because every member
//! has many tokens spread over the circle, load is roughly even and adding or removing
//! one member moves only about `1/N` of the series.
//!
//! The ring itself is an immutable snapshot; a [`RingSource`] publishes new snapshots
//! (today [`StaticRing`] from configuration, later `cairn meta` over openraft).

mod error;
mod member;
mod ring;
mod source;

pub use error::RingError;
pub use member::{generate_tokens, Member, MemberState, DEFAULT_TOKENS_PER_MEMBER};
pub use ring::{quorum, series_token, Operation, ReplicationSet, Ring};
pub use source::{parse_static_member, RingSource, StaticMember, StaticRing};
