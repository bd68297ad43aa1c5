//! The replicated state: what a Raft log entry says and how it changes the ring.

use std::collections::{BTreeMap, HashSet};
use std::io::Cursor;

use cairn_ring::{generate_tokens, Member, MemberState, Ring};
use serde::{Deserialize, Serialize};

/// Raft node ids. Meta node ids are small positive integers chosen by the operator.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// openraft's type configuration for the ring state machine.
    pub TypeConfig:
        D = RingCommand,
        R = CommandResponse,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub(crate) type Raft = openraft::Raft<TypeConfig>;

/// One change to the ring, as written to the Raft log. Timestamps are taken by the node
/// that accepted the request, so applying an entry is deterministic on every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RingCommand {
    /// Add a member as `Joining`, or re-register a known one (same tokens, new address).
    Register {
        /// Member id.
        id: String,
        /// gRPC address.
        addr: String,
        /// Zone, empty without zones.
        zone: String,
        /// Tokens to generate for a new member.
        tokens: u32,
        /// When the request arrived (unix ms).
        now_ms: i64,
    },
    /// Move a member to `state`.
    SetState {
        /// Member id.
        id: String,
        /// New state.
        state: MemberState,
        /// When the request arrived (unix ms).
        now_ms: i64,
    },
    /// Record a heartbeat.
    Heartbeat {
        /// Member id.
        id: String,
        /// When the heartbeat arrived (unix ms).
        now_ms: i64,
    },
    /// Drop a member and its tokens.
    Remove {
        /// Member id.
        id: String,
    },
}

/// What applying a [`RingCommand`] answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResponse {
    /// The member's tokens and state after a `Register`.
    Registered {
        /// Owned tokens.
        tokens: Vec<u32>,
        /// State after the command.
        state: MemberState,
    },
    /// Applied.
    Done,
    /// The command names a member the ring does not have.
    UnknownMember,
    /// The command would make the ring invalid; nothing changed.
    Refused(String),
}

/// The ring as the state machine keeps it: members by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RingData {
    /// Every member, by id.
    pub members: BTreeMap<String, Member>,
}

impl RingData {
    /// Applies one command. Never fails: a command that cannot apply answers why and
    /// leaves the data as it was.
    pub fn apply(&mut self, cmd: &RingCommand) -> CommandResponse {
        match cmd {
            RingCommand::Register {
                id,
                addr,
                zone,
                tokens,
                now_ms,
            } => self.register(id, addr, zone, *tokens as usize, *now_ms),
            RingCommand::SetState { id, state, now_ms } => match self.members.get_mut(id) {
                Some(m) => {
                    m.state = *state;
                    m.last_heartbeat_ms = Some(*now_ms);
                    CommandResponse::Done
                }
                None => CommandResponse::UnknownMember,
            },
            RingCommand::Heartbeat { id, now_ms } => match self.members.get_mut(id) {
                Some(m) => {
                    // Heartbeats can be applied out of arrival order across nodes.
                    m.last_heartbeat_ms = Some(m.last_heartbeat_ms.unwrap_or(0).max(*now_ms));
                    CommandResponse::Done
                }
                None => CommandResponse::UnknownMember,
            },
            RingCommand::Remove { id } => match self.members.remove(id) {
                Some(_) => CommandResponse::Done,
                None => CommandResponse::UnknownMember,
            },
        }
    }

    fn register(
        &mut self,
        id: &str,
        addr: &str,
        zone: &str,
        tokens: usize,
        now_ms: i64,
    ) -> CommandResponse {
        if id.is_empty() || addr.is_empty() {
            return CommandResponse::Refused("member id and address must not be empty".into());
        }
        let zoned_others: Vec<bool> = self
            .members
            .values()
            .filter(|m| m.id != id)
            .map(|m| !m.zone.is_empty())
            .collect();
        if zoned_others.contains(&zone.is_empty()) {
            return CommandResponse::Refused(format!(
                "member {id:?} {} a zone but the ring's other members {}",
                if zone.is_empty() { "has no" } else { "has" },
                if zone.is_empty() {
                    "have one"
                } else {
                    "have none"
                }
            ));
        }
        if let Some(m) = self.members.get_mut(id) {
            // A restart: same tokens, so the member gets back the series it held.
            m.addr = addr.to_owned();
            m.zone = zone.to_owned();
            m.state = MemberState::Joining;
            m.last_heartbeat_ms = Some(now_ms);
            return CommandResponse::Registered {
                tokens: m.tokens.clone(),
                state: m.state,
            };
        }
        let taken: HashSet<u32> = self
            .members
            .values()
            .flat_map(|m| m.tokens.iter().copied())
            .collect();
        let tokens = generate_tokens(id, tokens, &taken);
        self.members.insert(
            id.to_owned(),
            Member {
                id: id.to_owned(),
                addr: addr.to_owned(),
                zone: zone.to_owned(),
                tokens: tokens.clone(),
                state: MemberState::Joining,
                last_heartbeat_ms: Some(now_ms),
            },
        );
        CommandResponse::Registered {
            tokens,
            state: MemberState::Joining,
        }
    }

    /// The ring these members form.
    pub fn ring(&self) -> Ring {
        // `register` keeps ids unique and zones consistent, so this cannot fail; an
        // empty ring is the safe answer if it ever did.
        Ring::new(self.members.values().cloned().collect()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "replicated ring state is invalid; serving an empty ring");
            Ring::new(Vec::new()).expect("an empty ring is valid")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(id: &str, zone: &str) -> RingCommand {
        RingCommand::Register {
            id: id.into(),
            addr: format!("{id}:9095"),
            zone: zone.into(),
            tokens: 8,
            now_ms: 1,
        }
    }

    #[test]
    fn re_registering_keeps_tokens_and_rejoins() {
        let mut d = RingData::default();
        let CommandResponse::Registered { tokens, state } = d.apply(&register("a", "")) else {
            panic!()
        };
        assert_eq!((tokens.len(), state), (8, MemberState::Joining));
        d.apply(&RingCommand::SetState {
            id: "a".into(),
            state: MemberState::Active,
            now_ms: 2,
        });
        let CommandResponse::Registered { tokens: again, .. } = d.apply(&register("a", "")) else {
            panic!()
        };
        assert_eq!(again, tokens);
        assert_eq!(d.members["a"].state, MemberState::Joining);
        let CommandResponse::Registered { tokens: b, .. } = d.apply(&register("b", "")) else {
            panic!()
        };
        assert!(b.iter().all(|t| !tokens.contains(t)));
    }

    #[test]
    fn unknown_members_and_mixed_zones_change_nothing() {
        let mut d = RingData::default();
        d.apply(&register("a", "z1"));
        let before = d.clone();
        assert!(matches!(
            d.apply(&register("b", "")),
            CommandResponse::Refused(_)
        ));
        assert_eq!(
            d.apply(&RingCommand::Heartbeat {
                id: "x".into(),
                now_ms: 5
            }),
            CommandResponse::UnknownMember
        );
        assert_eq!(
            d.apply(&RingCommand::Remove { id: "x".into() }),
            CommandResponse::UnknownMember
        );
        assert_eq!(d, before);
        // Heartbeats never move time backwards.
        d.apply(&RingCommand::Heartbeat {
            id: "a".into(),
            now_ms: 10,
        });
        d.apply(&RingCommand::Heartbeat {
            id: "a".into(),
            now_ms: 7,
        });
        assert_eq!(d.members["a"].last_heartbeat_ms, Some(10));
        assert_eq!(d.ring().len(), 1);
    }
}
