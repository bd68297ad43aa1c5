//! What receivers, queriers and ingesters use to talk to `cairn meta`.
//!
//! ```text
//!  MetaClient ── any of ring.endpoints (rotates on failure) ──▶ Meta gRPC
//!  MetaRing   ── WatchRing stream ──▶ watch<Arc<Ring>> (RingSource); on loss of the
//!                stream: keep the last ring, reconnect to the next endpoint
//!  Lifecycler ── Register (JOINING, tokens) ─▶ SetState ACTIVE ─▶ Heartbeat every N s
//!                leave: SetState LEAVING ─▶ flush ─▶ Remove
//! ```

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn_proto::cairn::meta::v1 as pb;
use cairn_proto::cairn::meta::v1::meta_client::MetaClient as GrpcClient;
use cairn_proto::channel::lazy_channel;
use cairn_ring::{MemberState, Ring, RingSource};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::convert::{ring_from_pb, state_to_pb};
use crate::MetaError;

/// Calls meta nodes, moving on to the next endpoint when one fails. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MetaClient {
    endpoints: Arc<Vec<(String, GrpcClient<Channel>)>>,
    next: Arc<AtomicUsize>,
}

impl MetaClient {
    /// A client over `endpoints` (`host:port`), each call limited to `timeout`.
    /// Connections are made on first use.
    pub fn new(endpoints: &[String], timeout: Duration) -> Result<Self, MetaError> {
        if endpoints.is_empty() {
            return Err(MetaError::Config("no meta endpoints configured".into()));
        }
        let endpoints = endpoints
            .iter()
            .map(|addr| {
                let ch = lazy_channel(addr, timeout)
                    .map_err(|e| MetaError::Config(format!("meta endpoint {addr:?}: {e}")))?;
                Ok((addr.clone(), GrpcClient::new(ch)))
            })
            .collect::<Result<Vec<_>, MetaError>>()?;
        Ok(Self {
            endpoints: Arc::new(endpoints),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Tries each endpoint once, starting with the last one that worked. Refusals of the
    /// request itself (invalid argument, not found) are returned at once.
    async fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T, MetaError>
    where
        F: Fn(GrpcClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let n = self.endpoints.len();
        let start = self.next.load(Ordering::Relaxed);
        let mut errors = Vec::new();
        for k in 0..n {
            let i = (start + k) % n;
            let (addr, client) = &self.endpoints[i];
            match f(client.clone()).await {
                Ok(r) => {
                    self.next.store(i, Ordering::Relaxed);
                    return Ok(r.into_inner());
                }
                Err(s)
                    if matches!(
                        s.code(),
                        tonic::Code::InvalidArgument | tonic::Code::NotFound
                    ) =>
                {
                    return Err(MetaError::from_status(&s));
                }
                Err(s) => errors.push(format!("{addr}: {}", s.message())),
            }
        }
        Err(MetaError::Unavailable(format!(
            "{what} failed on every meta node: {}",
            errors.join("; ")
        )))
    }

    /// Registers (or re-registers) a member as JOINING; returns its tokens.
    pub async fn register(
        &self,
        id: &str,
        addr: &str,
        zone: &str,
        tokens: u32,
    ) -> Result<Vec<u32>, MetaError> {
        let req = pb::RegisterRequest {
            id: id.to_owned(),
            addr: addr.to_owned(),
            zone: zone.to_owned(),
            tokens,
        };
        let r = self
            .call("register", |mut c| {
                let req = req.clone();
                async move { c.register(req).await }
            })
            .await?;
        Ok(r.tokens)
    }

    /// Moves a member to `state`.
    pub async fn set_state(&self, id: &str, state: MemberState) -> Result<(), MetaError> {
        let req = pb::SetStateRequest {
            id: id.to_owned(),
            state: state_to_pb(state),
        };
        self.call("set state", |mut c| {
            let req = req.clone();
            async move { c.set_state(req).await }
        })
        .await
        .map(|_| ())
    }

    /// Records a heartbeat; `false` when the ring does not know the member.
    pub async fn heartbeat(&self, id: &str) -> Result<bool, MetaError> {
        let req = pb::HeartbeatRequest { id: id.to_owned() };
        let r = self
            .call("heartbeat", |mut c| {
                let req = req.clone();
                async move { c.heartbeat(req).await }
            })
            .await?;
        Ok(r.known)
    }

    /// Removes a member from the ring.
    pub async fn remove(&self, id: &str) -> Result<(), MetaError> {
        let req = pb::RemoveRequest { id: id.to_owned() };
        self.call("remove", |mut c| {
            let req = req.clone();
            async move { c.remove(req).await }
        })
        .await
        .map(|_| ())
    }

    /// The ring as a meta node reports it (see [`get_ring`](Self::get_ring)).
    pub(crate) async fn get_ring_state(
        &self,
        linearizable: bool,
    ) -> Result<pb::RingState, MetaError> {
        self.call("get ring", |mut c| async move {
            c.get_ring(pb::GetRingRequest { linearizable }).await
        })
        .await
    }

    /// The ring; with `linearizable`, reflecting every change acknowledged before.
    pub async fn get_ring(&self, linearizable: bool) -> Result<Ring, MetaError> {
        ring_from_pb(self.get_ring_state(linearizable).await?)
    }

    /// Raft status of the first node that answers.
    pub async fn status(&self) -> Result<pb::StatusResponse, MetaError> {
        self.call("status", |mut c| async move {
            c.status(pb::StatusRequest {}).await
        })
        .await
    }

    /// Adds meta node `id` at `addr` as a voter.
    pub async fn add_node(&self, id: u64, addr: &str) -> Result<(), MetaError> {
        let req = pb::AddNodeRequest {
            id,
            addr: addr.to_owned(),
        };
        self.call("add meta node", |mut c| {
            let req = req.clone();
            async move { c.add_node(req).await }
        })
        .await
        .map(|_| ())
    }

    /// Removes meta node `id` from the voters.
    pub async fn remove_node(&self, id: u64) -> Result<(), MetaError> {
        self.call("remove meta node", |mut c| async move {
            c.remove_node(pb::RemoveNodeRequest { id }).await
        })
        .await
        .map(|_| ())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

fn state_name(s: MemberState) -> &'static str {
    match s {
        MemberState::Joining => "JOINING",
        MemberState::Active => "ACTIVE",
        MemberState::Leaving => "LEAVING",
        MemberState::Unhealthy => "UNHEALTHY",
    }
}

/// The ring as `cairn meta` publishes it, for receivers and queriers. Serves the last
/// ring it received while no meta node can be reached.
#[derive(Debug)]
pub struct MetaRing {
    tx: watch::Sender<Arc<Ring>>,
    received: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MetaRing {
    /// Starts watching through `client`; `registry` gets `cairn_ring_members{state}`.
    pub fn start(client: MetaClient, registry: Option<&mut Registry>) -> Arc<Self> {
        let members: Family<StateLabel, Gauge> = Family::default();
        if let Some(r) = registry {
            r.register(
                "cairn_ring_members",
                "Ring members by state, as this process last saw the ring",
                members.clone(),
            );
        }
        let empty = Ring::new(Vec::new()).expect("an empty ring is valid");
        let tx = watch::Sender::new(Arc::new(empty));
        let received = watch::Sender::new(false);
        let task = tokio::spawn(watch_loop(client, tx.clone(), received.clone(), members));
        Arc::new(Self { tx, received, task })
    }

    /// Waits until a first ring arrived; `false` on timeout.
    pub async fn wait_received(&self, timeout: Duration) -> bool {
        let mut rx = self.received.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|r| *r)).await;
        matches!(waited, Ok(Ok(_)))
    }

    /// Whether a ring has arrived yet.
    pub fn has_received(&self) -> bool {
        *self.received.borrow()
    }
}

impl Drop for MetaRing {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RingSource for MetaRing {
    fn current(&self) -> Arc<Ring> {
        self.tx.borrow().clone()
    }

    fn watch(&self) -> watch::Receiver<Arc<Ring>> {
        self.tx.subscribe()
    }
}

async fn watch_loop(
    client: MetaClient,
    tx: watch::Sender<Arc<Ring>>,
    received: watch::Sender<bool>,
    members: Family<StateLabel, Gauge>,
) {
    let n = client.endpoints.len();
    let mut i = 0;
    let mut failures = 0u32;
    loop {
        let (addr, grpc) = &client.endpoints[i % n];
        let mut grpc = grpc.clone();
        match grpc.watch_ring(pb::WatchRingRequest {}).await {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(state)) => match ring_from_pb(state) {
                            Ok(ring) => {
                                failures = 0;
                                for s in [
                                    MemberState::Joining,
                                    MemberState::Active,
                                    MemberState::Leaving,
                                    MemberState::Unhealthy,
                                ] {
                                    let count =
                                        ring.members().iter().filter(|m| m.state == s).count();
                                    members
                                        .get_or_create(&StateLabel {
                                            state: state_name(s),
                                        })
                                        .set(count as i64);
                                }
                                tx.send_replace(Arc::new(ring));
                                received.send_replace(true);
                            }
                            Err(e) => {
                                tracing::warn!(meta = %addr, error = %e, "ignoring ring update")
                            }
                        },
                        Ok(None) => break,
                        Err(s) => {
                            tracing::debug!(meta = %addr, error = %s.message(), "ring watch ended");
                            break;
                        }
                    }
                }
            }
            Err(s) => {
                failures += 1;
                // Quiet while one node is down and another answers; loud when none does —
                // after about five seconds of trying at startup, when meta may be starting
                // alongside this process (always so in `cairn all`).
                let rounds = if *received.borrow() { 1 } else { 10 };
                if (failures as usize).is_multiple_of(n * rounds) {
                    tracing::warn!(meta = %addr, error = %s.message(), "cannot watch the ring on any meta node; serving the last known ring");
                }
            }
        }
        i += 1;
        let pause = if failures == 0 { 100 } else { 500 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Who an ingester is on the ring.
#[derive(Debug, Clone)]
pub struct LifecycleSettings {
    /// Member id; tokens follow it across restarts.
    pub id: String,
    /// gRPC address receivers and queriers use.
    pub addr: String,
    /// Zone, empty without zones.
    pub zone: String,
    /// Tokens to own.
    pub tokens: u32,
    /// Heartbeat period.
    pub heartbeat_interval: Duration,
}

/// An ingester's presence on the ring: join, heartbeat, leave.
#[derive(Debug)]
pub struct Lifecycler {
    client: MetaClient,
    settings: LifecycleSettings,
    leaving: AtomicBool,
}

impl Lifecycler {
    /// A lifecycler that has not joined yet.
    pub fn new(client: MetaClient, settings: LifecycleSettings) -> Arc<Self> {
        Arc::new(Self {
            client,
            settings,
            leaving: AtomicBool::new(false),
        })
    }

    /// The member id.
    pub fn id(&self) -> &str {
        &self.settings.id
    }

    async fn register_active(&self) -> Result<Vec<u32>, MetaError> {
        let s = &self.settings;
        let tokens = self
            .client
            .register(&s.id, &s.addr, &s.zone, s.tokens)
            .await?;
        self.client.set_state(&s.id, MemberState::Active).await?;
        Ok(tokens)
    }

    /// Registers as JOINING (a known id keeps its tokens) and, since the caller has
    /// replayed its WAL and serves, goes ACTIVE. Retries until meta answers or `stop`.
    pub async fn join(&self, mut stop: watch::Receiver<bool>) -> Result<Vec<u32>, MetaError> {
        let mut delay = Duration::from_millis(200);
        loop {
            match self.register_active().await {
                Ok(tokens) => {
                    tracing::info!(id = %self.settings.id, addr = %self.settings.addr, tokens = tokens.len(), "joined the ring as ACTIVE");
                    return Ok(tokens);
                }
                Err(e @ MetaError::InvalidRequest(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?delay, "cannot join the ring yet");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|s| *s) => return Err(MetaError::Unavailable("stopped before joining the ring".into())),
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// Heartbeats until `stop`. A member the ring forgot (removed by an operator, or
    /// meta's state lost) registers again, unless it is leaving.
    pub fn spawn_heartbeats(self: &Arc<Self>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.settings.heartbeat_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if this.leaving.load(Ordering::Relaxed) {
                    // Still heartbeat while flushing, so receivers keep the member
                    // readable, but never come back.
                    let _ = this.client.heartbeat(&this.settings.id).await;
                    continue;
                }
                match this.client.heartbeat(&this.settings.id).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(id = %this.settings.id, "the ring forgot this ingester; registering again");
                        if let Err(e) = this.register_active().await {
                            tracing::warn!(error = %e, "cannot register again");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "ring heartbeat failed; receivers skip this ingester once its heartbeat is stale")
                    }
                }
            }
        })
    }

    /// Graceful leave: LEAVING (no new writes, still read), `flush` (the caller ships
    /// the head to object storage), then removal from the ring. If `flush` fails the
    /// member stays LEAVING, so its data stays readable and nothing is lost.
    pub async fn leave<F, E>(&self, flush: F) -> Result<(), MetaError>
    where
        F: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        self.leaving.store(true, Ordering::Relaxed);
        let id = &self.settings.id;
        self.client.set_state(id, MemberState::Leaving).await?;
        tracing::info!(%id, "ring state LEAVING; flushing the head");
        flush
            .await
            .map_err(|e| MetaError::Unavailable(format!("flush before leaving failed: {e}")))?;
        self.client.remove(id).await?;
        tracing::info!(%id, "left the ring");
        Ok(())
    }
}
