//! The StoreAPI endpoints a querier reads, each with its Info answer cached so a query
//! only asks stores whose data can overlap its time range.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_storeapi::{StoreApiError, StoreClient, StoreInfo};
use parking_lot::Mutex;

/// How long an Info answer is trusted. Store gateways change their range only when
/// they sync; ingesters are never skipped for new data (see [`StoreSet::may_hold`]).
const INFO_TTL: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Endpoint {
    client: StoreClient,
    info: Mutex<Option<(Instant, StoreInfo)>>,
}

/// Every configured store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StoreSet {
    endpoints: Arc<Vec<Arc<Endpoint>>>,
    /// Which endpoints are ring ingesters (the others are static stores).
    ingester: Arc<Vec<bool>>,
    /// How many ingesters may fail a query without any acknowledged sample missing from
    /// its answer: replication factor minus write quorum.
    tolerated_ingester_failures: usize,
}

impl StoreSet {
    /// The set of `clients`; nothing is contacted until the first query.
    pub fn new(clients: Vec<StoreClient>) -> Self {
        let n = clients.len();
        Self {
            ingester: Arc::new(vec![false; n]),
            tolerated_ingester_failures: 0,
            endpoints: Arc::new(
                clients
                    .into_iter()
                    .map(|client| {
                        Arc::new(Endpoint {
                            client,
                            info: Mutex::new(None),
                        })
                    })
                    .collect(),
            ),
        }
    }

    /// A set of `static_addrs` plus the ring's `ingesters`, reusing this set's
    /// connection (and cached Info) for every address it already has and connecting
    /// lazily to the others with `timeout`. Up to `tolerated_failures` ingesters may
    /// fail a query without a warning: with
    /// replication factor RF and write quorum W every acknowledged sample is on at least
    /// W ingesters, so RF − W failed ones still leave a copy of it.
    pub fn with_ingesters(
        &self,
        static_addrs: &[String],
        ingesters: &[String],
        tolerated_failures: usize,
        timeout: Duration,
    ) -> Result<Self, StoreApiError> {
        let addrs: Vec<&String> = static_addrs.iter().chain(ingesters).collect();
        let endpoints = addrs
            .iter()
            .map(|addr| {
                match self
                    .endpoints
                    .iter()
                    .find(|e| e.client.addr() == addr.as_str())
                {
                    Some(e) => Ok(e.clone()),
                    None => Ok(Arc::new(Endpoint {
                        client: StoreClient::connect_lazy(addr, timeout)?,
                        info: Mutex::new(None),
                    })),
                }
            })
            .collect::<Result<Vec<_>, StoreApiError>>()?;
        let ingester = (0..addrs.len()).map(|i| i >= static_addrs.len()).collect();
        Ok(Self {
            endpoints: Arc::new(endpoints),
            ingester: Arc::new(ingester),
            tolerated_ingester_failures: tolerated_failures,
        })
    }

    /// Whether store `i` is a ring ingester.
    pub(crate) fn is_ingester(&self, i: usize) -> bool {
        self.ingester[i]
    }

    /// See [`StoreSet::with_ingesters`].
    pub fn tolerated_ingester_failures(&self) -> usize {
        self.tolerated_ingester_failures
    }

    /// The stores' addresses, in order.
    pub fn addrs(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .map(|e| e.client.addr().to_owned())
            .collect()
    }

    /// Number of stores.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether no store is configured.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    pub(crate) fn client(&self, i: usize) -> &StoreClient {
        &self.endpoints[i].client
    }

    /// Whether store `i` may hold data in `[mint, maxt]`, by its (cached) Info. A
    /// store gateway's range is exact; for other stores (ingesters) new samples keep
    /// arriving, so only their oldest sample counts. A store whose Info fails is asked
    /// anyway, so that its failure surfaces as a warning or an error.
    pub(crate) async fn may_hold(&self, i: usize, mint: i64, maxt: i64) -> bool {
        let e = &self.endpoints[i];
        let cached = e
            .info
            .lock()
            .as_ref()
            .filter(|(at, _)| at.elapsed() < INFO_TTL)
            .map(|(_, info)| info.clone());
        let info = match cached {
            Some(info) => info,
            None => match e.client.info().await {
                Ok(info) => {
                    *e.info.lock() = Some((Instant::now(), info.clone()));
                    info
                }
                Err(err) => {
                    tracing::debug!(store = e.client.addr(), error = %err, "store info failed");
                    return true;
                }
            },
        };
        overlaps(&info, mint, maxt)
    }
}

fn overlaps(info: &StoreInfo, mint: i64, maxt: i64) -> bool {
    if info.component_type == "store" {
        info.min_time <= info.max_time && info.min_time <= maxt && mint <= info.max_time
    } else {
        info.min_time == i64::MAX || info.min_time <= maxt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(component_type: &'static str, min_time: i64, max_time: i64) -> StoreInfo {
        StoreInfo {
            component_type,
            min_time,
            max_time,
            label_sets: vec![],
        }
    }

    #[test]
    fn store_gateways_are_skipped_outside_their_range_ingesters_only_before_it() {
        let gw = info("store", 100, 200);
        assert!(overlaps(&gw, 150, 300) && overlaps(&gw, 0, 100) && overlaps(&gw, 200, 300));
        assert!(!overlaps(&gw, 201, 300) && !overlaps(&gw, 0, 99));
        assert!(!overlaps(&info("store", i64::MAX, i64::MIN), 0, 1));

        let ing = info("receive", 100, 200);
        assert!(
            overlaps(&ing, 500, 600),
            "an ingester's newest data keeps growing"
        );
        assert!(!overlaps(&ing, 0, 99));
        assert!(overlaps(&info("receive", i64::MAX, i64::MIN), 0, 1));
    }
}
