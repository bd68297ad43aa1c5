use std::time::Duration;

use cairn_model::{stable_hash_pairs, TenantId};
use cairn_proto::cairn::ingest::v1::{ingester_client::IngesterClient, PushRequest};
use cairn_proto::channel::{lazy_channel, MAX_MESSAGE_BYTES};
use cairn_proto::prometheus::TimeSeries;
use futures::future::join_all;
use tonic::transport::Channel;

use crate::validate::Rejections;
use crate::ReceiveError;

/// Spreads series over ingesters by a stable hash of (tenant, labels), so one series
/// always lands on the same ingester, and pushes the shares in parallel.
#[derive(Debug, Clone)]
pub struct Distributor {
    ingesters: Vec<(String, IngesterClient<Channel>)>,
}

/// What the ingesters did with a write.
#[derive(Debug, Default)]
pub(crate) struct PushOutcome {
    pub(crate) appended: u64,
    pub(crate) rejections: Rejections,
}

impl Distributor {
    /// Clients for `addrs` (`host:port` or `http://host:port`); connections are lazy.
    pub fn new(addrs: &[String], timeout: Duration) -> Result<Self, ReceiveError> {
        if addrs.is_empty() {
            return Err(ReceiveError::Unavailable("no ingesters configured".into()));
        }
        let ingesters = addrs
            .iter()
            .map(|addr| {
                let channel = lazy_channel(addr, timeout).map_err(|e| {
                    ReceiveError::Unavailable(format!("ingester address {addr:?}: {e}"))
                })?;
                let client = IngesterClient::new(channel)
                    .max_encoding_message_size(MAX_MESSAGE_BYTES)
                    .max_decoding_message_size(MAX_MESSAGE_BYTES);
                Ok((addr.clone(), client))
            })
            .collect::<Result<_, ReceiveError>>()?;
        Ok(Self { ingesters })
    }

    fn shard(&self, tenant: &TenantId, ts: &TimeSeries) -> usize {
        let hash = stable_hash_pairs(
            std::iter::once(("", tenant.as_str())).chain(
                ts.labels
                    .iter()
                    .map(|l| (l.name.as_str(), l.value.as_str())),
            ),
        );
        (hash % self.ingesters.len() as u64) as usize
    }

    /// Pushes series to their ingesters. Succeeds only if every ingester acknowledged
    /// its share; any transport or server failure is retryable (503).
    pub(crate) async fn push(
        &self,
        tenant: &TenantId,
        series: Vec<TimeSeries>,
    ) -> Result<PushOutcome, ReceiveError> {
        let mut shares: Vec<Vec<TimeSeries>> = vec![Vec::new(); self.ingesters.len()];
        for ts in series {
            let i = self.shard(tenant, &ts);
            shares[i].push(ts);
        }
        let pushes = shares
            .into_iter()
            .enumerate()
            .filter(|(_, share)| !share.is_empty())
            .map(|(i, timeseries)| {
                let (addr, client) = &self.ingesters[i];
                let mut client = client.clone();
                let req = PushRequest {
                    tenant: tenant.as_str().to_owned(),
                    timeseries,
                };
                async move {
                    client
                        .push(req)
                        .await
                        .map(tonic::Response::into_inner)
                        .map_err(|status| (addr.clone(), status))
                }
            });
        let mut outcome = PushOutcome::default();
        let mut failures = Vec::new();
        for result in join_all(pushes).await {
            match result {
                Ok(resp) => {
                    outcome.appended += resp.samples_appended;
                    for r in resp.rejections {
                        outcome
                            .rejections
                            .add(&r.reason, r.samples, || r.example.clone());
                    }
                }
                Err((addr, status)) => {
                    failures.push(format!("ingester {addr}: {}", status.message()))
                }
            }
        }
        if failures.is_empty() {
            Ok(outcome)
        } else {
            Err(ReceiveError::Unavailable(failures.join("; ")))
        }
    }
}
