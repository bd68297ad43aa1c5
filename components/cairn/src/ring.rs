//! Ring wiring shared by the roles: the process's meta node, the ring clients, the
//! ingester's lifecycle and the querier's discovery of ingesters.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use cairn_meta::{LifecycleSettings, Lifecycler, MetaClient, MetaNode, MetaRing};
use cairn_query::Querier;
use cairn_ring::RingSource;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::error::CliError;

fn ring_err(message: impl ToString) -> CliError {
    CliError::Role {
        role: "ring",
        message: message.to_string(),
    }
}

/// The machine's host name, for default ids and addresses.
pub(crate) fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

/// `configured`, or the listen address with the host name for an unspecified IP.
pub(crate) fn advertise_addr(configured: &str, listen: SocketAddr) -> String {
    if !configured.is_empty() {
        return configured.to_owned();
    }
    if listen.ip().is_unspecified() {
        format!("{}:{}", hostname(), listen.port())
    } else {
        listen.to_string()
    }
}

/// Starts this process's meta node with its data under `<data_dir>/meta`.
pub(crate) async fn start_meta(
    config: &Config,
    registry: &mut Registry,
) -> Result<Arc<MetaNode>, CliError> {
    let addr = advertise_addr(&config.meta.advertise_addr, config.server.grpc_listen);
    MetaNode::start(
        &config.meta,
        addr,
        &config.data_dir.join("meta"),
        Some(registry),
    )
    .await
    .map_err(ring_err)
}

/// A client over `ring.endpoints`.
pub(crate) fn meta_client(config: &Config) -> Result<MetaClient, CliError> {
    MetaClient::new(&config.ring.endpoints, config.ring.timeout).map_err(ring_err)
}

/// The ring as meta publishes it (with `cairn_ring_members` in `registry`).
pub(crate) fn watch_ring(
    config: &Config,
    registry: &mut Registry,
) -> Result<Arc<MetaRing>, CliError> {
    Ok(MetaRing::start(meta_client(config)?, Some(registry)))
}

/// The ingester's lifecycler, from `ingest.lifecycle`.
pub(crate) fn lifecycler(config: &Config) -> Result<Arc<Lifecycler>, CliError> {
    let lc = &config.ingest.lifecycle;
    let settings = LifecycleSettings {
        id: if lc.id.is_empty() {
            hostname()
        } else {
            lc.id.clone()
        },
        addr: advertise_addr(&lc.advertise_addr, config.server.grpc_listen),
        zone: lc.zone.clone(),
        tokens: lc.tokens,
        heartbeat_interval: config.ring.heartbeat_interval,
    };
    Ok(Lifecycler::new(meta_client(config)?, settings))
}

/// Keeps the querier's stores at `static_stores` plus every ingester on the ring. A
/// member is asked in any state: a JOINING or LEAVING ingester may hold data. Up to
/// RF − quorum ingesters that are down cost a query nothing (the others hold a copy of
/// everything acknowledged, see [`Querier::set_stores`]); more turn into
/// partial-response warnings rather than silently missing data.
pub(crate) fn spawn_store_discovery(
    querier: Arc<Querier>,
    static_stores: Vec<String>,
    replication_factor: usize,
    ring: Arc<MetaRing>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut rx = ring.watch();
        loop {
            let members: BTreeSet<String> = rx
                .borrow_and_update()
                .members()
                .iter()
                .map(|m| m.addr.clone())
                .collect();
            let ingesters: Vec<String> = members
                .into_iter()
                .filter(|a| !static_stores.contains(a))
                .collect();
            if let Err(e) = querier.set_stores(&static_stores, &ingesters, replication_factor) {
                tracing::warn!(error = %e, "cannot update the querier's stores from the ring");
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    })
}
