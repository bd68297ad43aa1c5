use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// Tokens a member gets unless configured otherwise: enough that ownership is within a
/// few percent of even for small clusters, few enough that the ring stays tiny.
pub const DEFAULT_TOKENS_PER_MEMBER: usize = 128;

/// Where a member is in its lifecycle. Only `Active` members take writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MemberState {
    /// Registered, tokens may be claimed, but not yet taking writes (e.g. replaying WAL).
    Joining,
    /// Takes writes and answers reads.
    Active,
    /// Flushing its head before removal: answers reads, takes no new writes.
    Leaving,
    /// Marked bad by an operator or by meta; takes nothing.
    Unhealthy,
}

/// One ingester on the ring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Stable identity; tokens are derived from it and survive restarts.
    pub id: String,
    /// gRPC address (`host:port` or `http://host:port`).
    pub addr: String,
    /// Failure domain; empty when zones are not used.
    pub zone: String,
    /// Owned tokens (any order; the ring sorts them).
    pub tokens: Vec<u32>,
    /// Lifecycle state.
    pub state: MemberState,
    /// Last heartbeat, unix milliseconds. `None` means the member is not heartbeat
    /// tracked (static configuration) and is never considered stale.
    pub last_heartbeat_ms: Option<i64>,
}

impl Member {
    /// Whether the heartbeat is older than `timeout` at `now_ms`. A zero timeout turns
    /// the check off.
    pub fn is_stale(&self, now_ms: i64, timeout: std::time::Duration) -> bool {
        match self.last_heartbeat_ms {
            None => false,
            Some(_) if timeout.is_zero() => false,
            Some(t) => now_ms.saturating_sub(t) >= timeout.as_millis() as i64,
        }
    }
}

/// SplitMix64: a tiny, fixed PRNG so token generation is the same in every release.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `n` tokens for member `id`, deterministic from the id, none of them in `taken`.
///
/// The circle is cut into `n` equal segments and the member gets one pseudo-random
/// token in each, so every member's tokens are spread over the whole circle rather than
/// clumping (which plain random tokens do at small `n`). A token that collides with
/// `taken` (or an earlier one of this member) is redrawn from the same stream, so the
/// result depends only on `id`, `n` and `taken`.
pub fn generate_tokens(id: &str, n: usize, taken: &HashSet<u32>) -> Vec<u32> {
    if n == 0 {
        return Vec::new();
    }
    let mut rng = SplitMix64(cairn_model::stable_hash_pairs([("ring_member", id)]));
    let segment = (1u64 << 32) / n as u64;
    let mut mine = HashSet::with_capacity(n);
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let start = i * segment;
        let width = segment.max(1);
        // Bounded: after many collisions in a full segment, fall back to anywhere.
        let mut token = None;
        for attempt in 0..64 {
            let r = rng.next();
            let t = if attempt < 32 {
                (start + r % width) as u32
            } else {
                r as u32
            };
            if !taken.contains(&t) && !mine.contains(&t) {
                token = Some(t);
                break;
            }
        }
        if let Some(t) = token {
            mine.insert(t);
            tokens.push(t);
        }
    }
    tokens.sort_unstable();
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_deterministic_spread_and_avoid_taken_ones() {
        let a = generate_tokens("ingester-1", 128, &HashSet::new());
        assert_eq!(a, generate_tokens("ingester-1", 128, &HashSet::new()));
        assert_eq!(a.len(), 128);
        assert_ne!(a, generate_tokens("ingester-2", 128, &HashSet::new()));
        // One token per 1/128th of the circle.
        let segment = (1u64 << 32) / 128;
        for (i, t) in a.iter().enumerate() {
            assert_eq!(
                u64::from(*t) / segment,
                i as u64,
                "token {t} in segment {i}"
            );
        }
        let taken: HashSet<u32> = a.iter().copied().collect();
        let b = generate_tokens("ingester-1", 128, &taken);
        assert_eq!(b.len(), 128);
        assert!(b.iter().all(|t| !taken.contains(t)));
    }

    #[test]
    fn staleness_follows_the_timeout_and_static_members_never_go_stale() {
        let mut m = Member {
            id: "a".into(),
            addr: "a:1".into(),
            zone: String::new(),
            tokens: vec![],
            state: MemberState::Active,
            last_heartbeat_ms: Some(1_000),
        };
        let timeout = std::time::Duration::from_secs(10);
        assert!(!m.is_stale(10_999, timeout));
        assert!(m.is_stale(11_000, timeout));
        assert!(!m.is_stale(1_000_000, std::time::Duration::ZERO));
        m.last_heartbeat_ms = None;
        assert!(!m.is_stale(i64::MAX, timeout));
    }
}
