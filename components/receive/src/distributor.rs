//! Replicated placement: every series goes to the `RF` ingesters the ring picks for it,
//! and a write is acknowledged only when each series reached a write quorum.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_model::TenantId;
use cairn_proto::cairn::ingest::v1::{ingester_client::IngesterClient, PushRequest, PushResponse};
use cairn_proto::channel::{lazy_channel, MAX_MESSAGE_BYTES};
use cairn_ring::{
    series_token, Operation, Ring, RingSource, StaticRing, DEFAULT_TOKENS_PER_MEMBER,
};
use futures::future::join_all;
use prometheus_client::registry::Registry;
use tonic::transport::Channel;

use crate::metrics::{DistributorMetrics, IngesterErrorLabels, IngesterLabel, ReasonLabel};
use crate::validate::{describe, Forward, ForwardMetadata, Rejections};
use crate::{ReceiveConfig, ReceiveError};

/// Places series on the ring and pushes each to its replicas in parallel, one batch
/// per ingester, answering only once every series reached a write quorum.
#[derive(Debug)]
pub struct Distributor {
    ring: Arc<dyn RingSource>,
    replication_factor: usize,
    heartbeat_timeout: Duration,
    push_timeout: Duration,
    /// One lazily connecting client per ingester address, created on first use so a
    /// ring that gains members needs no restart, and dropped when its address leaves
    /// the ring so departed ingesters hold no connections.
    clients: Mutex<Clients>,
    metrics: DistributorMetrics,
}

/// The client cache and the ring snapshot it was last pruned against.
#[derive(Debug, Default)]
struct Clients {
    ring: Option<Arc<Ring>>,
    by_addr: HashMap<String, IngesterClient<Channel>>,
}

/// What one ingester is sent: indexes into the request's series and metadata.
#[derive(Debug, Default)]
struct Batch {
    series: Vec<usize>,
    metadata: Vec<usize>,
}

/// What the ingesters did with a write.
#[derive(Debug, Default)]
pub(crate) struct PushOutcome {
    pub(crate) appended: u64,
    pub(crate) rejections: Rejections,
}

/// How one ingester answered its batch.
enum Answer {
    Stored(PushResponse),
    /// The data can never be accepted (gRPC codes that mean "don't retry").
    Refused(String),
    /// Down, unreachable, timed out or failing: a retry can succeed.
    Failed(String),
}

/// gRPC codes that say the request itself is wrong, so retrying cannot help.
fn is_data_error(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::InvalidArgument
            | tonic::Code::FailedPrecondition
            | tonic::Code::OutOfRange
            | tonic::Code::AlreadyExists
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Distributor {
    /// A distributor over `ring`, replicating `replication_factor` times (clamped to
    /// the ring's size per request), registering its metrics in `registry`.
    pub fn new(
        ring: Arc<dyn RingSource>,
        replication_factor: usize,
        heartbeat_timeout: Duration,
        push_timeout: Duration,
        registry: &mut Registry,
    ) -> Result<Self, ReceiveError> {
        if replication_factor == 0 {
            return Err(ReceiveError::Unavailable(
                "replication factor must be at least 1".into(),
            ));
        }
        let size = ring.current().len();
        // Expected in `cairn all` (one ingester), so not a warning.
        if size < replication_factor {
            tracing::info!(
                replication_factor,
                ingesters = size,
                "fewer ingesters than the replication factor; replicating to every ingester"
            );
        }
        Ok(Self {
            ring,
            replication_factor,
            heartbeat_timeout,
            push_timeout,
            clients: Mutex::default(),
            metrics: DistributorMetrics::new(registry),
        })
    }

    /// A distributor over the static ring `config.ingesters` describes.
    pub fn from_config(
        config: &ReceiveConfig,
        registry: &mut Registry,
    ) -> Result<Self, ReceiveError> {
        let ring = StaticRing::from_specs(&config.ingesters, DEFAULT_TOKENS_PER_MEMBER)
            .map_err(|e| ReceiveError::Unavailable(format!("receive.ingesters: {e}")))?;
        Self::new(
            Arc::new(ring),
            config.replication_factor,
            config.heartbeat_timeout,
            config.push_timeout,
            registry,
        )
    }

    /// Drops the clients of addresses `ring` no longer has, once per new snapshot.
    fn prune_clients(&self, ring: &Arc<Ring>) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.ring.as_ref().is_some_and(|r| Arc::ptr_eq(r, ring)) {
            return;
        }
        let before = clients.by_addr.len();
        clients
            .by_addr
            .retain(|addr, _| ring.members().iter().any(|m| &m.addr == addr));
        let dropped = before - clients.by_addr.len();
        if dropped > 0 {
            tracing::info!(dropped, "dropped clients of ingesters that left the ring");
        }
        clients.ring = Some(ring.clone());
    }

    fn client(&self, addr: &str) -> Result<IngesterClient<Channel>, String> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let clients = &mut clients.by_addr;
        if let Some(c) = clients.get(addr) {
            return Ok(c.clone());
        }
        let channel = lazy_channel(addr, self.push_timeout)
            .map_err(|e| format!("ingester address {addr:?}: {e}"))?;
        let client = IngesterClient::new(channel)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        clients.insert(addr.to_owned(), client.clone());
        Ok(client)
    }

    fn quorum_failure(&self, reason: &str, series: usize) {
        self.metrics
            .quorum_failures
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc_by(series as u64);
    }

    /// Pushes series to their replicas. `Ok` only when every series was stored by a
    /// quorum of its replicas, or refused as bad data by a quorum (reported in the
    /// outcome's rejections); otherwise a retryable [`ReceiveError::Unavailable`].
    ///
    /// Metric metadata goes to the replicas of its family name (as if it were a series
    /// with only `__name__`), best effort: it never decides the request's fate.
    pub(crate) async fn push(
        &self,
        tenant: &TenantId,
        series: &[Forward<'_, '_>],
        metadata: &[ForwardMetadata<'_>],
    ) -> Result<PushOutcome, ReceiveError> {
        let ring = self.ring.current();
        self.prune_clients(&ring);
        if ring.is_empty() {
            self.quorum_failure("no_ingesters", series.len());
            return Err(ReceiveError::Unavailable(
                "the ring has no ingesters".into(),
            ));
        }
        let rf = self.replication_factor.min(ring.len());
        let now = ring.heartbeat_clock(now_ms(), self.heartbeat_timeout);

        // Placement: replicas per series, series per ingester. A series without a
        // possible quorum fails the request before anything is sent.
        let mut replicas: Vec<Vec<usize>> = Vec::with_capacity(series.len());
        let mut quorums: Vec<usize> = Vec::with_capacity(series.len());
        let mut batches: HashMap<usize, Batch> = HashMap::new();
        for (i, ts) in series.iter().enumerate() {
            let token = series_token(tenant.as_str(), ts.labels.iter().copied());
            let set = ring
                .replicas(token, rf, Operation::Write, now, self.heartbeat_timeout)
                .map_err(|e| {
                    self.quorum_failure("ring", series.len());
                    ReceiveError::Unavailable(e.to_string())
                })?;
            for &m in &set.members {
                batches.entry(m).or_default().series.push(i);
            }
            quorums.push(set.quorum);
            replicas.push(set.members);
        }
        for (i, meta) in metadata.iter().enumerate() {
            let token = series_token(tenant.as_str(), [(cairn_model::METRIC_NAME, meta.family)]);
            if let Ok(set) = ring.replicas(token, rf, Operation::Write, now, self.heartbeat_timeout)
            {
                for &m in &set.members {
                    batches.entry(m).or_default().metadata.push(i);
                }
            }
        }

        let answers = self.send(&ring, tenant, series, metadata, &batches).await;
        self.settle(&ring, series, &replicas, &quorums, &batches, answers)
    }

    /// Sends every ingester its batch, all in parallel.
    async fn send(
        &self,
        ring: &Ring,
        tenant: &TenantId,
        series: &[Forward<'_, '_>],
        metadata: &[ForwardMetadata<'_>],
        batches: &HashMap<usize, Batch>,
    ) -> HashMap<usize, Answer> {
        let pushes = batches.iter().map(|(&m, batch)| {
            let member = &ring.members()[m];
            let client = self.client(&member.addr);
            let req = PushRequest {
                tenant: tenant.as_str().to_owned(),
                timeseries: batch
                    .series
                    .iter()
                    .map(|&i| series[i].body.clone())
                    .collect(),
                metadata: batch
                    .metadata
                    .iter()
                    .map(|&i| metadata[i].body.clone())
                    .collect(),
            };
            async move {
                let start = Instant::now();
                let answer = match client {
                    Err(e) => Answer::Failed(e),
                    Ok(mut client) => match client.push(req).await {
                        Ok(resp) => Answer::Stored(resp.into_inner()),
                        Err(s) if is_data_error(s.code()) => {
                            Answer::Refused(s.message().to_owned())
                        }
                        Err(s) => Answer::Failed(format!("{:?}: {}", s.code(), s.message())),
                    },
                };
                let label = IngesterLabel {
                    ingester: member.id.clone(),
                };
                self.metrics
                    .push_duration
                    .get_or_create(&label)
                    .observe(start.elapsed().as_secs_f64());
                let kind = match &answer {
                    Answer::Stored(_) => None,
                    Answer::Refused(_) => Some("refused"),
                    Answer::Failed(_) => Some("failed"),
                };
                if let Some(kind) = kind {
                    self.metrics
                        .push_errors
                        .get_or_create(&IngesterErrorLabels {
                            ingester: label.ingester,
                            kind: kind.to_owned(),
                        })
                        .inc();
                }
                (m, answer)
            }
        });
        join_all(pushes).await.into_iter().collect()
    }

    /// Decides the request's fate from the ingesters' answers, series by series.
    fn settle(
        &self,
        ring: &Ring,
        series: &[Forward<'_, '_>],
        replicas: &[Vec<usize>],
        quorums: &[usize],
        batches: &HashMap<usize, Batch>,
        answers: HashMap<usize, Answer>,
    ) -> Result<PushOutcome, ReceiveError> {
        let mut outcome = PushOutcome::default();
        let mut unavailable = 0usize;
        let mut first_unavailable = None;
        for (i, set) in replicas.iter().enumerate() {
            let (mut stored, mut refused) = (0, 0);
            let mut refusal = None;
            for m in set {
                match &answers[m] {
                    Answer::Stored(_) => stored += 1,
                    Answer::Refused(msg) => {
                        refused += 1;
                        refusal.get_or_insert(msg);
                    }
                    Answer::Failed(_) => {}
                }
            }
            if stored >= quorums[i] {
                continue;
            }
            if refused >= quorums[i] {
                let ts = &series[i];
                outcome
                    .rejections
                    .add("refused_by_ingesters", ts.samples, || {
                        format!(
                            "series {}: {}",
                            describe(ts.labels),
                            refusal.map_or("", |s| s)
                        )
                    });
                continue;
            }
            unavailable += 1;
            first_unavailable.get_or_insert(i);
        }
        if let Some(i) = first_unavailable {
            self.quorum_failure("ingesters", unavailable);
            let failures: Vec<String> = replicas[i]
                .iter()
                .filter_map(|m| match &answers[m] {
                    Answer::Failed(e) => Some(format!("ingester {}: {e}", ring.members()[*m].id)),
                    _ => None,
                })
                .collect();
            return Err(ReceiveError::Unavailable(format!(
                "{unavailable} series did not reach a write quorum ({} of {} replicas needed); e.g. {}: {}",
                quorums[i],
                replicas[i].len(),
                describe(series[i].labels),
                failures.join("; ")
            )));
        }

        // Each stored sample is reported once per replica that stored it. Scale the
        // ingesters' totals by distinct samples / samples they were sent, which is exact
        // whenever every series was stored by the same number of replicas (the usual
        // case) and close otherwise.
        let mut sent = 0u64;
        let mut appended = 0u64;
        let mut reported = Rejections::default();
        for (m, answer) in &answers {
            if let Answer::Stored(resp) = answer {
                sent += batches[m]
                    .series
                    .iter()
                    .map(|&i| series[i].samples)
                    .sum::<u64>();
                appended += resp.samples_appended;
                for r in &resp.rejections {
                    reported.add(&r.reason, r.samples, || r.example.clone());
                }
            }
        }
        let distinct: u64 = replicas
            .iter()
            .enumerate()
            .filter(|(_, set)| set.iter().any(|m| matches!(answers[m], Answer::Stored(_))))
            .map(|(i, _)| series[i].samples)
            .sum();
        outcome.appended = scale(appended, distinct, sent);
        outcome
            .rejections
            .merge(reported.scaled(|n| scale(n, distinct, sent).max(1)));
        Ok(outcome)
    }
}

/// `n * num / den`, rounded, without overflow; `n` when `den` is 0.
fn scale(n: u64, num: u64, den: u64) -> u64 {
    if den == 0 {
        return n;
    }
    ((u128::from(n) * u128::from(num) + u128::from(den) / 2) / u128::from(den)) as u64
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn cached(d: &Distributor) -> Vec<String> {
        let clients = d.clients.lock().unwrap();
        let mut addrs: Vec<String> = clients.by_addr.keys().cloned().collect();
        addrs.sort();
        addrs
    }

    #[tokio::test]
    async fn clients_of_departed_ingesters_are_dropped() {
        // Nothing listens on these ports: pushes fail, but their clients are made.
        let specs = |n: usize| -> Vec<String> {
            (1..=n).map(|i| format!("ing-{i}=127.0.0.1:{i}")).collect()
        };
        let ring = Arc::new(StaticRing::from_specs(&specs(3), 16).unwrap());
        let d = Distributor::new(
            ring.clone(),
            3,
            Duration::from_secs(60),
            Duration::from_secs(5),
            &mut Registry::default(),
        )
        .unwrap();
        let labels = [("__name__", "m")];
        let series = [Forward {
            labels: &labels,
            samples: 1,
            body: Bytes::new(),
        }];
        let tenant = TenantId::new("t").unwrap();
        assert!(d.push(&tenant, &series, &[]).await.is_err());
        assert_eq!(cached(&d), ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]);

        let smaller = StaticRing::from_specs(&specs(2), 16).unwrap().current();
        ring.update(Ring::clone(&smaller));
        assert!(d.push(&tenant, &series, &[]).await.is_err());
        assert_eq!(cached(&d), ["127.0.0.1:1", "127.0.0.1:2"]);
    }
}
