//! A meta node: the Raft instance, its storage, and the gRPC services it answers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_proto::cairn::meta::v1 as pb;
use cairn_proto::cairn::meta::v1::meta_server::{self, MetaServer};
use cairn_proto::cairn::meta::v1::raft_client::RaftClient;
use cairn_proto::cairn::meta::v1::raft_server::RaftServer;
use cairn_proto::channel::lazy_channel;
use cairn_ring::DEFAULT_TOKENS_PER_MEMBER;
use futures::Stream;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState, SnapshotPolicy};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;

use crate::config::{parse_peer, MetaConfig};
use crate::convert::{ring_to_pb, state_from_pb, state_to_pb};
use crate::log_store::LogStore;
use crate::network::{Network, RaftService};
use crate::state_machine::{RingSnapshot, StateMachine};
use crate::types::{CommandResponse, NodeId, Raft, RingCommand};
use crate::MetaError;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One running meta node.
pub struct MetaNode {
    id: NodeId,
    addr: String,
    raft: Raft,
    state_machine: StateMachine,
    metrics_task: JoinHandle<()>,
    /// Set on shutdown: ends WatchRing streams, which would otherwise keep a graceful
    /// gRPC server shutdown waiting forever.
    closing: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for MetaNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaNode")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default)]
struct NodeMetrics {
    is_leader: Gauge,
    term: Gauge,
    last_applied: Gauge,
}

impl MetaNode {
    /// Opens the node's storage in `dir` and starts Raft. `advertise_addr` is how
    /// peers reach this node. Serve [`services`](Self::services) on that address, then
    /// call [`bootstrap`](Self::bootstrap).
    pub async fn start(
        config: &MetaConfig,
        advertise_addr: String,
        dir: &Path,
        registry: Option<&mut Registry>,
    ) -> Result<Arc<Self>, MetaError> {
        config.validate().map_err(MetaError::Config)?;
        let node_id = config.resolve_node_id(&advertise_addr)?;
        std::fs::create_dir_all(dir).map_err(|e| MetaError::storage(dir.display(), e))?;
        let raft_config = openraft::Config {
            cluster_name: "cairn-meta".into(),
            election_timeout_min: config.election_timeout.as_millis() as u64,
            election_timeout_max: config.election_timeout.as_millis() as u64 * 2,
            heartbeat_interval: config.heartbeat_interval.as_millis() as u64,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every),
            // A follower a little behind catches up from the log, not a snapshot.
            max_in_snapshot_log_to_keep: 100,
            ..Default::default()
        }
        .validate()
        .map_err(|e| MetaError::Config(e.to_string()))?;
        let log_store = LogStore::open(dir)?;
        let state_machine = StateMachine::open(dir)?;
        let raft = Raft::new(
            node_id,
            Arc::new(raft_config),
            Network,
            log_store,
            state_machine.clone(),
        )
        .await
        .map_err(|e| MetaError::Raft(e.to_string()))?;

        let metrics = NodeMetrics::default();
        if let Some(r) = registry {
            let r = r.sub_registry_with_prefix("cairn_meta");
            r.register(
                "is_leader",
                "1 when this meta node is the Raft leader",
                metrics.is_leader.clone(),
            );
            r.register(
                "current_term",
                "Raft term this meta node is in",
                metrics.term.clone(),
            );
            r.register(
                "last_applied_index",
                "Raft log index of the last ring change this node applied",
                metrics.last_applied.clone(),
            );
        }
        let mut rx = raft.metrics();
        let metrics_task = tokio::spawn(async move {
            loop {
                {
                    let m = rx.borrow_and_update();
                    metrics
                        .is_leader
                        .set(i64::from(m.state == ServerState::Leader));
                    metrics.term.set(m.current_term as i64);
                    metrics
                        .last_applied
                        .set(m.last_applied.map_or(0, |l| l.index) as i64);
                }
                if rx.changed().await.is_err() {
                    break;
                }
            }
        });
        tracing::info!(node_id, addr = %advertise_addr, dir = %dir.display(), "meta node started");
        Ok(Arc::new(Self {
            id: node_id,
            addr: advertise_addr,
            raft,
            state_machine,
            metrics_task,
            closing: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// Forms the group on its very first start if this node is the one to do it: the
    /// node alone when `peers` is empty, else the lowest id of `peers`. Anything already
    /// initialized is left alone.
    pub async fn bootstrap(&self, peers: &[String]) -> Result<(), MetaError> {
        let mut members = BTreeMap::new();
        if peers.is_empty() {
            members.insert(self.id, BasicNode::new(self.addr.clone()));
        } else {
            for p in peers {
                let (id, addr) = parse_peer(p)?;
                members.insert(id, BasicNode::new(addr));
            }
        }
        if members.keys().next() != Some(&self.id) {
            return Ok(());
        }
        if self
            .raft
            .is_initialized()
            .await
            .map_err(|e| MetaError::Raft(e.to_string()))?
        {
            return Ok(());
        }
        tracing::info!(voters = ?members.keys().collect::<Vec<_>>(), "forming the meta group");
        match self.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(MetaError::Raft(e.to_string())),
        }
    }

    /// The Meta and Raft gRPC services, for the process's gRPC server.
    pub fn services(
        self: &Arc<Self>,
    ) -> (
        MetaServer<MetaService>,
        RaftServer<impl pb::raft_server::Raft>,
    ) {
        (
            MetaServer::new(MetaService { node: self.clone() }),
            RaftServer::new(RaftService {
                raft: self.raft.clone(),
            })
            .max_decoding_message_size(cairn_proto::channel::MAX_MESSAGE_BYTES),
        )
    }

    /// The ring as this node has applied it.
    pub fn ring(&self) -> Arc<RingSnapshot> {
        self.state_machine.current()
    }

    /// Whether this node currently leads.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// Waits until some node of the group is known to lead.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<NodeId, MetaError> {
        let mut rx = self.raft.metrics();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|m| m.current_leader.is_some()))
            .await
            .ok()
            .and_then(|r| r.ok().and_then(|m| m.current_leader));
        waited.ok_or_else(|| MetaError::Unavailable(format!("no meta leader within {timeout:?}")))
    }

    /// Ends ring watches and stops Raft (storage is durable at every step). Call before
    /// the gRPC server's graceful shutdown.
    pub async fn shutdown(&self) {
        self.closing.send_replace(true);
        self.metrics_task.abort();
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "meta raft did not shut down cleanly");
        }
    }

    fn leader_addr(&self) -> Option<String> {
        let m = self.raft.metrics().borrow().clone();
        let leader = m.current_leader?;
        m.membership_config
            .membership()
            .get_node(&leader)
            .map(|n| n.addr.clone())
    }

    /// Commits `cmd`, on this node if it leads, else through the leader.
    async fn write(&self, cmd: RingCommand) -> Result<CommandResponse, MetaError> {
        match self.raft.client_write(cmd.clone()).await {
            Ok(r) => Ok(r.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                let addr = f.leader_node.map(|n| n.addr).ok_or_else(|| {
                    MetaError::Unavailable("no meta leader elected right now".into())
                })?;
                forward_write(&addr, &cmd).await
            }
            Err(e) => Err(MetaError::Raft(e.to_string())),
        }
    }

    async fn membership_change(&self, change: MembershipChange) -> Result<(), MetaError> {
        if !self.is_leader() {
            let addr = self
                .leader_addr()
                .ok_or_else(|| MetaError::Unavailable("no meta leader elected right now".into()))?;
            let client = crate::client::MetaClient::new(&[addr], Duration::from_secs(120))?;
            return match change {
                MembershipChange::Add { id, addr } => client.add_node(id, &addr).await,
                MembershipChange::Remove { id } => client.remove_node(id).await,
            };
        }
        let raft_err = |e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>| {
            MetaError::Raft(e.to_string())
        };
        match change {
            MembershipChange::Add { id, addr } => {
                // A learner first: it receives the log (or a snapshot) without voting, so
                // adding it never costs the group its quorum while it catches up.
                self.raft
                    .add_learner(id, BasicNode::new(addr.clone()), true)
                    .await
                    .map_err(raft_err)?;
                self.raft
                    .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                    .await
                    .map_err(raft_err)?;
                tracing::info!(node_id = id, %addr, "meta node added as a voter");
            }
            MembershipChange::Remove { id } => {
                let voters: BTreeSet<NodeId> = self
                    .raft
                    .metrics()
                    .borrow()
                    .membership_config
                    .membership()
                    .voter_ids()
                    .collect();
                if !voters.contains(&id) {
                    return Err(MetaError::InvalidRequest(format!(
                        "meta node {id} is not a voter (voters: {voters:?})"
                    )));
                }
                if voters.len() == 1 {
                    return Err(MetaError::InvalidRequest(
                        "cannot remove the last meta voter".into(),
                    ));
                }
                self.raft
                    .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
                    .await
                    .map_err(raft_err)?;
                tracing::info!(node_id = id, "meta node removed");
            }
        }
        Ok(())
    }
}

enum MembershipChange {
    Add { id: NodeId, addr: String },
    Remove { id: NodeId },
}

async fn forward_write(addr: &str, cmd: &RingCommand) -> Result<CommandResponse, MetaError> {
    let channel = lazy_channel(addr, Duration::from_secs(10)).map_err(MetaError::Unavailable)?;
    let json = serde_json::to_vec(cmd).map_err(|e| MetaError::Raft(e.to_string()))?;
    let answer = RaftClient::new(channel)
        .client_write(pb::RaftPayload { json })
        .await
        .map_err(|s| MetaError::Unavailable(format!("meta leader at {addr}: {}", s.message())))?
        .into_inner();
    let result: Result<CommandResponse, String> =
        serde_json::from_slice(&answer.json).map_err(|e| MetaError::Raft(e.to_string()))?;
    result.map_err(MetaError::Unavailable)
}

/// The `cairn.meta.v1.Meta` service of one node.
#[derive(Debug, Clone)]
pub struct MetaService {
    node: Arc<MetaNode>,
}

type Resp<T> = Result<tonic::Response<T>, tonic::Status>;

fn check(resp: CommandResponse) -> Result<CommandResponse, tonic::Status> {
    match resp {
        CommandResponse::Refused(why) => Err(tonic::Status::invalid_argument(why)),
        other => Ok(other),
    }
}

#[tonic::async_trait]
impl meta_server::Meta for MetaService {
    async fn get_ring(&self, request: tonic::Request<pb::GetRingRequest>) -> Resp<pb::RingState> {
        if request.get_ref().linearizable {
            match self.node.raft.ensure_linearizable().await {
                Ok(_) => {}
                Err(RaftError::APIError(_)) => {
                    let addr = self.node.leader_addr().ok_or_else(|| {
                        tonic::Status::unavailable("no meta leader elected right now")
                    })?;
                    let client = crate::client::MetaClient::new(&[addr], Duration::from_secs(10))
                        .map_err(|e| e.to_status())?;
                    let state = client
                        .get_ring_state(true)
                        .await
                        .map_err(|e| e.to_status())?;
                    return Ok(tonic::Response::new(state));
                }
                Err(e) => return Err(tonic::Status::unavailable(e.to_string())),
            }
        }
        Ok(tonic::Response::new(ring_to_pb(&self.node.ring())))
    }

    type WatchRingStream = Pin<Box<dyn Stream<Item = Result<pb::RingState, tonic::Status>> + Send>>;

    async fn watch_ring(
        &self,
        _request: tonic::Request<pb::WatchRingRequest>,
    ) -> Resp<Self::WatchRingStream> {
        let rx = self.node.state_machine.watch();
        let mut closing = self.node.closing.subscribe();
        let closed = async move {
            let _ = closing.wait_for(|c| *c).await;
        };
        let stream = futures::StreamExt::take_until(
            tokio_stream::wrappers::WatchStream::new(rx).map(|s| Ok(ring_to_pb(&s))),
            Box::pin(closed),
        );
        Ok(tonic::Response::new(Box::pin(stream)))
    }

    async fn register(
        &self,
        request: tonic::Request<pb::RegisterRequest>,
    ) -> Resp<pb::RegisterResponse> {
        let r = request.into_inner();
        let cmd = RingCommand::Register {
            id: r.id,
            addr: r.addr,
            zone: r.zone,
            tokens: if r.tokens == 0 {
                DEFAULT_TOKENS_PER_MEMBER as u32
            } else {
                r.tokens
            },
            now_ms: now_ms(),
        };
        match check(self.node.write(cmd).await.map_err(|e| e.to_status())?)? {
            CommandResponse::Registered { tokens, state } => {
                Ok(tonic::Response::new(pb::RegisterResponse {
                    tokens,
                    state: state_to_pb(state),
                }))
            }
            other => Err(tonic::Status::internal(format!(
                "register answered {other:?}"
            ))),
        }
    }

    async fn set_state(
        &self,
        request: tonic::Request<pb::SetStateRequest>,
    ) -> Resp<pb::SetStateResponse> {
        let r = request.into_inner();
        let state = state_from_pb(r.state).map_err(|e| e.to_status())?;
        let cmd = RingCommand::SetState {
            id: r.id.clone(),
            state,
            now_ms: now_ms(),
        };
        match check(self.node.write(cmd).await.map_err(|e| e.to_status())?)? {
            CommandResponse::UnknownMember => Err(tonic::Status::not_found(format!(
                "ring member {:?} is not registered",
                r.id
            ))),
            _ => Ok(tonic::Response::new(pb::SetStateResponse {})),
        }
    }

    async fn heartbeat(
        &self,
        request: tonic::Request<pb::HeartbeatRequest>,
    ) -> Resp<pb::HeartbeatResponse> {
        let cmd = RingCommand::Heartbeat {
            id: request.into_inner().id,
            now_ms: now_ms(),
        };
        let known = check(self.node.write(cmd).await.map_err(|e| e.to_status())?)?
            != CommandResponse::UnknownMember;
        Ok(tonic::Response::new(pb::HeartbeatResponse { known }))
    }

    async fn remove(&self, request: tonic::Request<pb::RemoveRequest>) -> Resp<pb::RemoveResponse> {
        let cmd = RingCommand::Remove {
            id: request.into_inner().id,
        };
        check(self.node.write(cmd).await.map_err(|e| e.to_status())?)?;
        Ok(tonic::Response::new(pb::RemoveResponse {}))
    }

    async fn status(
        &self,
        _request: tonic::Request<pb::StatusRequest>,
    ) -> Resp<pb::StatusResponse> {
        let m = self.node.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let nodes = |ids: Vec<NodeId>| {
            ids.into_iter()
                .map(|id| pb::MetaNode {
                    id,
                    addr: membership
                        .get_node(&id)
                        .map(|n| n.addr.clone())
                        .unwrap_or_default(),
                })
                .collect::<Vec<_>>()
        };
        Ok(tonic::Response::new(pb::StatusResponse {
            node_id: self.node.id,
            leader_id: m.current_leader.unwrap_or(0),
            current_term: m.current_term,
            last_applied_index: m.last_applied.map_or(0, |l| l.index),
            voters: nodes(membership.voter_ids().collect()),
            learners: nodes(membership.learner_ids().collect()),
            state: format!("{:?}", m.state),
        }))
    }

    async fn add_node(
        &self,
        request: tonic::Request<pb::AddNodeRequest>,
    ) -> Resp<pb::AddNodeResponse> {
        let r = request.into_inner();
        if r.id == 0 || r.addr.is_empty() {
            return Err(tonic::Status::invalid_argument(
                "a meta node needs an id of at least 1 and an address",
            ));
        }
        self.node
            .membership_change(MembershipChange::Add {
                id: r.id,
                addr: r.addr,
            })
            .await
            .map_err(|e| e.to_status())?;
        Ok(tonic::Response::new(pb::AddNodeResponse {}))
    }

    async fn remove_node(
        &self,
        request: tonic::Request<pb::RemoveNodeRequest>,
    ) -> Resp<pb::RemoveNodeResponse> {
        self.node
            .membership_change(MembershipChange::Remove {
                id: request.into_inner().id,
            })
            .await
            .map_err(|e| e.to_status())?;
        Ok(tonic::Response::new(pb::RemoveNodeResponse {}))
    }
}
