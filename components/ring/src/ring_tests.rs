use std::collections::{HashMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::{generate_tokens, DEFAULT_TOKENS_PER_MEMBER};

const NOW: i64 = 1_000_000;
const TIMEOUT: Duration = Duration::from_secs(60);

fn member(id: &str, zone: &str, taken: &mut HashSet<u32>) -> Member {
    let tokens = generate_tokens(id, DEFAULT_TOKENS_PER_MEMBER, taken);
    taken.extend(tokens.iter().copied());
    Member {
        id: id.into(),
        addr: format!("{id}:10901"),
        zone: zone.into(),
        tokens,
        state: MemberState::Active,
        last_heartbeat_ms: Some(NOW),
    }
}

fn ring_of(ids: &[(&str, &str)]) -> Ring {
    let mut taken = HashSet::new();
    Ring::new(
        ids.iter()
            .map(|(id, z)| member(id, z, &mut taken))
            .collect(),
    )
    .unwrap()
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("ingester-{i}")).collect()
}

fn plain_ring(n: usize) -> Ring {
    let ids = ids(n);
    ring_of(&ids.iter().map(|s| (s.as_str(), "")).collect::<Vec<_>>())
}

/// Realistic keys: series tokens of distinct label sets.
fn keys(n: usize) -> Vec<u32> {
    (0..n)
        .map(|i| {
            let id = i.to_string();
            series_token(
                "tenant-a",
                [
                    ("__name__", "http_requests_total"),
                    ("instance", id.as_str()),
                ],
            )
        })
        .collect()
}

fn write_set(ring: &Ring, key: u32, rf: usize) -> Vec<String> {
    ring.replicas(key, rf, Operation::Write, NOW, TIMEOUT)
        .unwrap()
        .members
        .iter()
        .map(|&i| ring.members()[i].id.clone())
        .collect()
}

#[test]
fn owner_is_the_first_token_at_or_after_the_key_and_wraps() {
    let ring = plain_ring(3);
    let mut all: Vec<(u32, &str)> = ring
        .members()
        .iter()
        .flat_map(|m| m.tokens.iter().map(move |&t| (t, m.id.as_str())))
        .collect();
    all.sort_unstable();
    let (first, first_id) = all[0];
    let (last, _) = *all.last().unwrap();
    assert_eq!(ring.owner(first).unwrap().id, first_id);
    assert_eq!(ring.owner(0).unwrap().id, first_id);
    assert_eq!(
        ring.owner(last.wrapping_add(1)).unwrap().id,
        first_id,
        "wraps"
    );
    let (t5, id5) = all[5];
    assert_eq!(ring.owner(t5).unwrap().id, id5);
    assert_eq!(ring.owner(all[4].0 + 1).unwrap().id, id5);
    assert!(Ring::new(vec![]).unwrap().owner(7).is_none());
}

#[test]
fn series_token_matches_the_model_hash() {
    let labels = [("__name__", "up"), ("job", "a")];
    let h = cairn_model::stable_hash_pairs(std::iter::once(("", "t1")).chain(labels));
    assert_eq!(series_token("t1", labels), (h ^ (h >> 32)) as u32);
    assert_ne!(series_token("t1", labels), series_token("t2", labels));
}

#[test]
fn load_is_roughly_even_across_members() {
    let ring = plain_ring(5);
    let keys = keys(100_000);
    for rf in [1, 3] {
        let mut per: HashMap<String, usize> = HashMap::new();
        for &k in &keys {
            for id in write_set(&ring, k, rf) {
                *per.entry(id).or_default() += 1;
            }
        }
        let mean = (keys.len() * rf) as f64 / 5.0;
        assert_eq!(per.len(), 5);
        for (id, n) in &per {
            let dev = (*n as f64 - mean).abs() / mean;
            assert!(dev < 0.2, "rf {rf}: {id} has {n}, mean {mean}: {per:?}");
        }
    }
}

#[test]
fn adding_a_member_moves_about_one_in_n_keys_and_only_to_it() {
    let before = plain_ring(4);
    let after = plain_ring(5);
    let new_id = "ingester-4";
    let keys = keys(50_000);
    let mut moved = 0;
    for &k in &keys {
        let (a, b) = (before.owner(k).unwrap(), after.owner(k).unwrap());
        if a.id != b.id {
            assert_eq!(b.id, new_id, "a key moved between old members");
            moved += 1;
        }
        let (sa, sb) = (write_set(&before, k, 3), write_set(&after, k, 3));
        if sa != sb {
            assert!(sb.iter().any(|id| id == new_id), "{sa:?} -> {sb:?}");
        }
    }
    let frac = moved as f64 / keys.len() as f64;
    assert!((0.12..0.28).contains(&frac), "moved {frac}");
}

#[test]
fn zone_aware_placement_puts_one_replica_per_zone() {
    let ring = ring_of(&[
        ("a1", "za"),
        ("a2", "za"),
        ("b1", "zb"),
        ("b2", "zb"),
        ("c1", "zc"),
        ("c2", "zc"),
    ]);
    assert!(ring.zone_aware());
    let zone = |id: &str| ring.member(id).unwrap().zone.clone();
    for &k in &keys(5_000) {
        let set = write_set(&ring, k, 3);
        let zones: HashSet<String> = set.iter().map(|id| zone(id)).collect();
        assert_eq!(zones.len(), 3, "{set:?}");
    }

    // A whole zone down: two replicas in the two other zones, never two in one zone.
    let mut down = ring.members().to_vec();
    for m in &mut down {
        if m.zone == "zc" {
            m.last_heartbeat_ms = Some(0);
        }
    }
    let down = Ring::new(down).unwrap();
    for &k in &keys(2_000) {
        let set = write_set(&down, k, 3);
        let zones: HashSet<String> = set.iter().map(|id| zone(id)).collect();
        assert_eq!((set.len(), zones.len()), (2, 2), "{set:?}");
    }

    // Fewer zones than RF: every zone is used, then the rest fills up.
    let two = ring_of(&[("a1", "za"), ("a2", "za"), ("b1", "zb"), ("b2", "zb")]);
    for &k in &keys(2_000) {
        let set = write_set(&two, k, 3);
        let zones: HashSet<String> = set
            .iter()
            .map(|id| two.member(id).unwrap().zone.clone())
            .collect();
        assert_eq!((set.len(), zones.len()), (3, 2), "{set:?}");
    }
}

#[test]
fn writes_skip_stale_and_non_active_members_reads_keep_leaving_ones() {
    let mut members = plain_ring(5).members().to_vec();
    members[0].last_heartbeat_ms = Some(NOW - TIMEOUT.as_millis() as i64);
    members[1].state = MemberState::Joining;
    members[2].state = MemberState::Leaving;
    members[3].state = MemberState::Unhealthy;
    let ring = Ring::new(members).unwrap();
    for &k in &keys(1_000) {
        assert_eq!(
            ring.replicas(k, 1, Operation::Write, NOW, TIMEOUT)
                .unwrap()
                .members,
            [4]
        );
        let read = ring.replicas(k, 3, Operation::Read, NOW, TIMEOUT).unwrap();
        let mut got = read.members.clone();
        got.sort_unstable();
        assert_eq!(got, [0, 2, 4], "stale still readable, leaving readable");
    }
    // RF=3 needs 2 healthy writers; only one is left.
    assert_eq!(
        ring.replicas(7, 3, Operation::Write, NOW, TIMEOUT),
        Err(RingError::QuorumImpossible {
            rf: 3,
            quorum: 2,
            eligible: 1
        })
    );
    // A zero timeout turns heartbeat checks off.
    let set = ring
        .replicas(7, 3, Operation::Write, NOW, Duration::ZERO)
        .unwrap();
    assert_eq!(set.members.len(), 2);
    assert_eq!(
        ring.replicas(7, 0, Operation::Write, NOW, TIMEOUT),
        Err(RingError::ZeroReplicationFactor)
    );
}

#[test]
fn quorum_is_a_strict_majority() {
    assert_eq!([1, 2, 3, 4, 5].map(quorum), [1, 2, 2, 3, 3]);
}

proptest! {
    #[test]
    fn replicas_are_distinct_stable_and_start_at_the_owner(key in any::<u32>(), rf in 1usize..=5) {
        let ring = plain_ring(5);
        let set = ring.replicas(key, rf, Operation::Write, NOW, TIMEOUT).unwrap();
        prop_assert_eq!(set.members.len(), rf);
        prop_assert_eq!(set.quorum, rf / 2 + 1);
        let distinct: HashSet<usize> = set.members.iter().copied().collect();
        prop_assert_eq!(distinct.len(), rf);
        prop_assert_eq!(&ring.members()[set.members[0]].id, &ring.owner(key).unwrap().id);
        // Same key, same set — also on a ring built from the same members in another order.
        let mut reversed = ring.members().to_vec();
        reversed.reverse();
        let again = Ring::new(reversed).unwrap();
        prop_assert_eq!(again.replicas(key, rf, Operation::Write, NOW, TIMEOUT).unwrap(), set);
    }
}

#[test]
fn a_frozen_ring_keeps_fresh_members_writable_and_dead_ones_stale() {
    let mut taken = HashSet::new();
    let timeout = Duration::from_secs(60);
    let mut members: Vec<Member> = ["a", "b", "c"]
        .iter()
        .map(|id| member(id, "", &mut taken))
        .collect();
    // a and b heartbeat until t=1000s; c died at t=800s.
    members[0].last_heartbeat_ms = Some(1_000_000);
    members[1].last_heartbeat_ms = Some(995_000);
    members[2].last_heartbeat_ms = Some(800_000);
    let ring = Ring::new(members).unwrap();
    let eligible = |now: i64| -> Vec<String> {
        let clock = ring.heartbeat_clock(now, timeout);
        ring.replicas(7, 3, Operation::Write, clock, timeout)
            .map(|set| {
                let mut ids: Vec<String> = set
                    .members
                    .iter()
                    .map(|&i| ring.members()[i].id.clone())
                    .collect();
                ids.sort();
                ids
            })
            .unwrap_or_default()
    };
    // Meta records heartbeats: the clock is now.
    assert_eq!(ring.heartbeat_clock(1_001_000, timeout), 1_001_000);
    assert_eq!(eligible(1_001_000), ["a", "b"]);
    // Meta has been unreachable for an hour: the ring froze, a and b still take writes.
    assert_eq!(ring.heartbeat_clock(4_600_000, timeout), 1_030_000);
    assert_eq!(eligible(4_600_000), ["a", "b"]);
    // A ring without heartbeats (static) uses the wall clock.
    let static_ring = plain_ring(3);
    assert_eq!(static_ring.heartbeat_clock(42, timeout), 42);
}
