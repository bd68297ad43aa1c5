use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

use crate::{generate_tokens, Member, MemberState, Ring, RingError};

/// Where ring snapshots come from. Receivers and queriers hold one and read
/// [`current`](RingSource::current) per request; a source that loses its backend (meta
/// without quorum) keeps serving its last snapshot.
pub trait RingSource: Send + Sync + fmt::Debug {
    /// The latest ring.
    fn current(&self) -> Arc<Ring>;
    /// A receiver that sees every new snapshot.
    fn watch(&self) -> watch::Receiver<Arc<Ring>>;
}

/// One ingester from configuration: `[id=]address[@zone]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticMember {
    /// Defaults to the address.
    pub id: String,
    /// gRPC address.
    pub addr: String,
    /// Empty without `@zone`.
    pub zone: String,
}

/// Parses `[id=]address[@zone]`, e.g. `10.0.0.1:10901`, `ing-a=10.0.0.1:10901` or
/// `ing-a=10.0.0.1:10901@eu-west-1a`.
pub fn parse_static_member(spec: &str) -> Result<StaticMember, RingError> {
    let spec = spec.trim();
    let (id, rest) = match spec.split_once('=') {
        Some((id, rest)) => (Some(id.trim()), rest.trim()),
        None => (None, spec),
    };
    let (addr, zone) = match rest.rsplit_once('@') {
        Some((addr, zone)) => (addr.trim(), zone.trim()),
        None => (rest, ""),
    };
    let bad = |why: &str| RingError::InvalidMember(format!("{spec:?}: {why}"));
    if addr.is_empty() {
        return Err(bad("missing address (expected [id=]address[@zone])"));
    }
    if id == Some("") {
        return Err(bad("empty id before '='"));
    }
    if rest.contains('@') && zone.is_empty() {
        return Err(bad("empty zone after '@'"));
    }
    Ok(StaticMember {
        id: id.unwrap_or(addr).to_owned(),
        addr: addr.to_owned(),
        zone: zone.to_owned(),
    })
}

/// A ring from configuration: every member `Active`, not heartbeat tracked, tokens
/// generated from the member id. [`update`](StaticRing::update) replaces it (tests,
/// reloads); there is no other change.
#[derive(Debug)]
pub struct StaticRing {
    tx: watch::Sender<Arc<Ring>>,
}

impl StaticRing {
    /// Builds the ring from member specs with `tokens_per_member` tokens each.
    ///
    /// Tokens are generated in member-id order, each avoiding the ones before it, so the
    /// same member list gives the same ring whatever order it is written in.
    pub fn from_specs(specs: &[String], tokens_per_member: usize) -> Result<Self, RingError> {
        let mut parsed = specs
            .iter()
            .map(|s| parse_static_member(s))
            .collect::<Result<Vec<_>, _>>()?;
        parsed.sort_by(|a, b| a.id.cmp(&b.id));
        let mut taken = HashSet::new();
        let mut members = Vec::with_capacity(parsed.len());
        for m in parsed {
            let tokens = generate_tokens(&m.id, tokens_per_member, &taken);
            taken.extend(tokens.iter().copied());
            members.push(Member {
                id: m.id,
                addr: m.addr,
                zone: m.zone,
                tokens,
                state: MemberState::Active,
                last_heartbeat_ms: None,
            });
        }
        Ok(Self::new(Ring::new(members)?))
    }

    /// Serves `ring`.
    pub fn new(ring: Ring) -> Self {
        Self {
            tx: watch::Sender::new(Arc::new(ring)),
        }
    }

    /// Publishes a new snapshot to every watcher.
    pub fn update(&self, ring: Ring) {
        self.tx.send_replace(Arc::new(ring));
    }
}

impl RingSource for StaticRing {
    fn current(&self) -> Arc<Ring> {
        self.tx.borrow().clone()
    }

    fn watch(&self) -> watch::Receiver<Arc<Ring>> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_specs_parse_with_optional_id_and_zone() {
        let m = parse_static_member("10.0.0.1:10901").unwrap();
        assert_eq!(
            (m.id.as_str(), m.addr.as_str(), m.zone.as_str()),
            ("10.0.0.1:10901", "10.0.0.1:10901", "")
        );
        let m = parse_static_member(" ing-a = http://10.0.0.1:10901 @ zone-a ").unwrap();
        assert_eq!(
            (m.id.as_str(), m.addr.as_str(), m.zone.as_str()),
            ("ing-a", "http://10.0.0.1:10901", "zone-a")
        );
        for bad in ["", "=a:1", "a=", "a:1@", "a=@z"] {
            assert!(parse_static_member(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn static_ring_is_order_independent_and_publishes_updates() {
        let a =
            StaticRing::from_specs(&["x=a:1".into(), "y=b:1".into(), "z=c:1".into()], 16).unwrap();
        let b =
            StaticRing::from_specs(&["z=c:1".into(), "x=a:1".into(), "y=b:1".into()], 16).unwrap();
        assert_eq!(a.current(), b.current());
        assert!(a
            .current()
            .members()
            .iter()
            .all(|m| m.state == MemberState::Active && m.tokens.len() == 16));
        assert!(matches!(
            StaticRing::from_specs(&["x=a:1".into(), "x=b:1".into()], 16),
            Err(RingError::DuplicateMember(_))
        ));
        assert!(matches!(
            StaticRing::from_specs(&["x=a:1@z1".into(), "y=b:1".into()], 16),
            Err(RingError::MixedZones(_))
        ));

        let mut rx = a.watch();
        a.update(b.current().as_ref().clone());
        assert!(rx.has_changed().unwrap());
        let one = StaticRing::from_specs(&["x=a:1".into()], 4)
            .unwrap()
            .current();
        a.update(one.as_ref().clone());
        assert_eq!(rx.borrow_and_update().len(), 1);
        assert_eq!(a.current().len(), 1);
    }
}
