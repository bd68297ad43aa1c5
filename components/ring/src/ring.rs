use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use crate::{Member, MemberState, RingError};

/// What a replication set is for; decides which members are eligible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// New samples: only `Active` members whose heartbeat is fresh.
    Write,
    /// Reading what was written: `Active` and `Leaving` members (a leaving member still
    /// holds its head until it has flushed), heartbeat not checked — a member that
    /// might answer is better asked than skipped.
    Read,
}

impl Operation {
    fn admits(self, m: &Member, now_ms: i64, heartbeat_timeout: Duration) -> bool {
        match self {
            Self::Write => m.state == MemberState::Active && !m.is_stale(now_ms, heartbeat_timeout),
            Self::Read => matches!(m.state, MemberState::Active | MemberState::Leaving),
        }
    }
}

/// Acknowledgements needed out of `rf` replicas: a strict majority.
pub fn quorum(rf: usize) -> usize {
    rf / 2 + 1
}

/// The ring token of a series: the stable hash of (tenant, labels) folded to 32 bits.
///
/// `labels` must be sorted by name (the receiver validates that). The tenant goes in as
/// a pair with an empty name, which no real label can have, so the hash equals
/// `cairn_model::stable_hash_pairs` over `("", tenant)` followed by the labels — the same
/// key the RF=1 distributor used.
pub fn series_token<'a>(
    tenant: &'a str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> u32 {
    let h = cairn_model::stable_hash_pairs(std::iter::once(("", tenant)).chain(labels));
    (h ^ (h >> 32)) as u32
}

/// The members a key is placed on, in ring order (the first is the key's owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationSet {
    /// Indexes into [`Ring::members`].
    pub members: Vec<usize>,
    /// How many of them must acknowledge.
    pub quorum: usize,
}

/// An immutable snapshot of the ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    members: Vec<Member>,
    /// (token, member index), sorted; ties broken by member id order.
    tokens: Vec<(u32, usize)>,
    /// Distinct zones among members that own tokens; empty when zones are not used.
    zones: BTreeSet<String>,
}

impl Ring {
    /// Builds a ring. Member ids must be unique and non-empty; either every member has
    /// a zone (the ring is then zone-aware) or none has.
    pub fn new(mut members: Vec<Member>) -> Result<Self, RingError> {
        members.sort_by(|a, b| a.id.cmp(&b.id));
        let mut ids = HashSet::new();
        for m in &members {
            if m.id.is_empty() || m.addr.is_empty() {
                return Err(RingError::InvalidMember(format!(
                    "member {:?} at {:?}: id and address must not be empty",
                    m.id, m.addr
                )));
            }
            if !ids.insert(m.id.as_str()) {
                return Err(RingError::DuplicateMember(m.id.clone()));
            }
        }
        let zoneless: Vec<&str> = members
            .iter()
            .filter(|m| m.zone.is_empty())
            .map(|m| m.id.as_str())
            .collect();
        if !zoneless.is_empty() && zoneless.len() < members.len() {
            return Err(RingError::MixedZones(zoneless.join(", ")));
        }
        let zones = members
            .iter()
            .filter(|m| !m.zone.is_empty() && !m.tokens.is_empty())
            .map(|m| m.zone.clone())
            .collect();
        let mut tokens: Vec<(u32, usize)> = members
            .iter()
            .enumerate()
            .flat_map(|(i, m)| m.tokens.iter().map(move |&t| (t, i)))
            .collect();
        tokens.sort_unstable();
        Ok(Self {
            members,
            tokens,
            zones,
        })
    }

    /// All members, sorted by id.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The member with `id`.
    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members
            .binary_search_by(|m| m.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.members[i])
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the ring has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The time heartbeat ages are measured against: now, but never later than the
    /// newest heartbeat in the ring plus `heartbeat_timeout`.
    ///
    /// While meta can record heartbeats, some member's heartbeat is always recent and
    /// this is simply now. When meta has no quorum, no heartbeat advances; measuring
    /// against the wall clock would then turn every member stale after the timeout and
    /// stop all writes, although the ring is only frozen, not wrong. Capped like this,
    /// members that were fresh when the ring froze stay writable, and a member that had
    /// already stopped heartbeating stays stale.
    pub fn heartbeat_clock(&self, now_ms: i64, heartbeat_timeout: Duration) -> i64 {
        match self
            .members
            .iter()
            .filter_map(|m| m.last_heartbeat_ms)
            .max()
        {
            // Half the timeout of slack: the newest heartbeat is itself up to one
            // heartbeat interval old when the ring freezes.
            Some(newest) => {
                now_ms.min(newest.saturating_add(heartbeat_timeout.as_millis() as i64 / 2))
            }
            None => now_ms,
        }
    }

    /// Whether placement spreads replicas over zones.
    pub fn zone_aware(&self) -> bool {
        !self.zones.is_empty()
    }

    /// Position in `tokens` of the first token at or after `key`, wrapping to 0.
    fn first_at_or_after(&self, key: u32) -> usize {
        let i = self.tokens.partition_point(|&(t, _)| t < key);
        if i == self.tokens.len() {
            0
        } else {
            i
        }
    }

    /// The member owning `key`: the one with the first token at or after it, regardless
    /// of state. `None` only for a ring without tokens.
    pub fn owner(&self, key: u32) -> Option<&Member> {
        if self.tokens.is_empty() {
            return None;
        }
        Some(&self.members[self.tokens[self.first_at_or_after(key)].1])
    }

    /// The members `key` is replicated to: walking clockwise from the key's token, the
    /// first `rf` distinct members eligible for `op`, at most one per zone while the
    /// ring has at least `rf` zones (with fewer zones, every zone first, then any).
    ///
    /// Ineligible members (not `Active`, or — for writes — with a stale heartbeat) are
    /// skipped and the walk goes on, so a down ingester's share moves to the next one.
    /// The set may be smaller than `rf` when too few members are eligible; it fails
    /// only when it would be smaller than the quorum `rf/2+1`, which is still what must
    /// acknowledge.
    pub fn replicas(
        &self,
        key: u32,
        rf: usize,
        op: Operation,
        now_ms: i64,
        heartbeat_timeout: Duration,
    ) -> Result<ReplicationSet, RingError> {
        if rf == 0 {
            return Err(RingError::ZeroReplicationFactor);
        }
        let quorum = quorum(rf);
        let mut picked: Vec<usize> = Vec::with_capacity(rf);
        if !self.tokens.is_empty() {
            let start = self.first_at_or_after(key);
            let one_per_zone = self.zone_aware();
            let mut zones_used: Vec<&str> = Vec::with_capacity(rf);
            // Pass 0 keeps replicas in distinct zones; pass 1 (only with fewer zones
            // than rf) fills up from zones already used.
            let passes = if one_per_zone && self.zones.len() < rf {
                2
            } else {
                1
            };
            'passes: for pass in 0..passes {
                for step in 0..self.tokens.len() {
                    if picked.len() == rf {
                        break 'passes;
                    }
                    let idx = self.tokens[(start + step) % self.tokens.len()].1;
                    let m = &self.members[idx];
                    if picked.contains(&idx) || !op.admits(m, now_ms, heartbeat_timeout) {
                        continue;
                    }
                    if one_per_zone && pass == 0 && zones_used.contains(&m.zone.as_str()) {
                        continue;
                    }
                    zones_used.push(&m.zone);
                    picked.push(idx);
                }
            }
        }
        if picked.len() < quorum {
            return Err(RingError::QuorumImpossible {
                rf,
                quorum,
                eligible: picked.len(),
            });
        }
        Ok(ReplicationSet {
            members: picked,
            quorum,
        })
    }
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
