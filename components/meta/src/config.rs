use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::MetaError;

/// The `meta` section: one node of the Raft group holding the ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetaConfig {
    /// This node's Raft id, unique in the group, at least 1. `0`: the id of the
    /// `peers` entry whose address is this node's advertise address (handy where each
    /// node's address is known but numbering them is not, e.g. StatefulSets).
    pub node_id: u64,
    /// The initial voters as `id=host:port`, this node included. Empty: a group of this
    /// node alone (`cairn all`). The node with the lowest id forms the group on its
    /// first start; later starts and nodes added with `cairn tools meta add-node` never
    /// form one.
    pub peers: Vec<String>,
    /// How peers and clients reach this node (`host:port`); empty: the gRPC listen
    /// address (loopback when it listens on every interface).
    pub advertise_addr: String,
    /// A follower that hears nothing from a leader for between this and twice this
    /// starts an election.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub election_timeout: Duration,
    /// How often the leader sends heartbeats; well below `election_timeout`.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub heartbeat_interval: Duration,
    /// Log entries between snapshots (older entries are then purged).
    pub snapshot_every: u64,
}

impl Default for MetaConfig {
    fn default() -> Self {
        Self {
            node_id: 1,
            peers: Vec::new(),
            advertise_addr: String::new(),
            election_timeout: Duration::from_millis(1500),
            heartbeat_interval: Duration::from_millis(300),
            snapshot_every: 500,
        }
    }
}

/// One `id=host:port` entry of `meta.peers`.
pub fn parse_peer(spec: &str) -> Result<(u64, String), MetaError> {
    let bad = |why: &str| MetaError::Config(format!("meta.peers entry {spec:?}: {why}"));
    let (id, addr) = spec
        .trim()
        .split_once('=')
        .ok_or_else(|| bad("expected id=host:port"))?;
    let id: u64 = id
        .trim()
        .parse()
        .map_err(|_| bad("the id must be a positive integer"))?;
    if id == 0 {
        return Err(bad("the id must be at least 1"));
    }
    let addr = addr.trim();
    if addr.is_empty() {
        return Err(bad("missing address"));
    }
    Ok((id, addr.to_owned()))
}

impl MetaConfig {
    /// This node's id: `node_id`, or for `0` the id of the peer at `advertise_addr`.
    pub fn resolve_node_id(&self, advertise_addr: &str) -> Result<u64, MetaError> {
        if self.node_id != 0 {
            return Ok(self.node_id);
        }
        for p in &self.peers {
            let (id, addr) = parse_peer(p)?;
            if addr == advertise_addr {
                return Ok(id);
            }
        }
        Err(MetaError::Config(format!(
            "meta.node_id is 0 but no meta.peers entry has this node's address {advertise_addr:?}"
        )))
    }

    /// Checks the values make sense together.
    pub fn validate(&self) -> Result<(), String> {
        if self.node_id == 0 && self.peers.is_empty() {
            return Err("meta.node_id must be at least 1 (0, derive it, needs meta.peers)".into());
        }
        let mut ids = std::collections::BTreeSet::new();
        for p in &self.peers {
            let (id, _) = parse_peer(p).map_err(|e| e.to_string())?;
            if !ids.insert(id) {
                return Err(format!("meta.peers lists node id {id} more than once"));
            }
        }
        if !self.peers.is_empty() && self.node_id != 0 && !ids.contains(&self.node_id) {
            return Err(format!(
                "meta.peers must include this node (meta.node_id {})",
                self.node_id
            ));
        }
        if self.heartbeat_interval.is_zero() || self.election_timeout <= self.heartbeat_interval * 2
        {
            return Err(
                "meta.heartbeat_interval must be positive and under half of meta.election_timeout"
                    .into(),
            );
        }
        if self.snapshot_every == 0 {
            return Err("meta.snapshot_every must be at least 1".into());
        }
        Ok(())
    }
}

/// The `ring` section: how receivers, queriers and ingesters reach `cairn meta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RingConfig {
    /// Meta nodes' gRPC addresses. Empty: the static ring from `receive.ingesters` and
    /// `query.stores` (in `cairn all`: this process's own meta node).
    pub endpoints: Vec<String>,
    /// How often an ingester heartbeats into the ring.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub heartbeat_interval: Duration,
    /// Deadline of one call to a meta node.
    #[serde(with = "cairn_model::duration::serde_str")]
    pub timeout: Duration,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            heartbeat_interval: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
        }
    }
}

impl RingConfig {
    /// Checks the values make sense together.
    pub fn validate(&self) -> Result<(), String> {
        if self.heartbeat_interval.is_zero() {
            return Err("ring.heartbeat_interval must be greater than 0".into());
        }
        if self.timeout.is_zero() {
            return Err("ring.timeout must be greater than 0".into());
        }
        if self.endpoints.iter().any(|e| e.trim().is_empty()) {
            return Err("ring.endpoints must not contain empty addresses".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_validate() {
        assert_eq!(
            parse_peer(" 2 = meta-2:9095 ").unwrap(),
            (2, "meta-2:9095".into())
        );
        for bad in ["meta-1:9095", "0=a:1", "x=a:1", "1="] {
            assert!(parse_peer(bad).is_err(), "{bad}");
        }
        let mut c = MetaConfig {
            node_id: 2,
            peers: vec!["1=a:1".into(), "2=b:1".into(), "3=c:1".into()],
            ..MetaConfig::default()
        };
        c.validate().unwrap();
        c.node_id = 4;
        assert!(c.validate().unwrap_err().contains("must include this node"));
        c.node_id = 1;
        c.peers.push("1=d:1".into());
        assert!(c.validate().unwrap_err().contains("more than once"));
        MetaConfig::default().validate().unwrap();
        RingConfig::default().validate().unwrap();

        let derived = MetaConfig {
            node_id: 0,
            peers: vec!["1=meta-1:9095".into(), "2=meta-2:9095".into()],
            ..MetaConfig::default()
        };
        derived.validate().unwrap();
        assert_eq!(derived.resolve_node_id("meta-2:9095").unwrap(), 2);
        assert!(derived.resolve_node_id("meta-9:9095").is_err());
        let alone = MetaConfig {
            node_id: 0,
            ..MetaConfig::default()
        };
        assert!(alone.validate().is_err());
    }
}
