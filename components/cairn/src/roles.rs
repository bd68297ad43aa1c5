//! Starting and stopping roles. `cairn all` and the split roles run this same code;
//! `all` only enables every role and points the receiver and querier at the process's
//! own gRPC servers, so data still flows receiver → gRPC → ingester → StoreAPI → querier,
//! and blocks in the bucket → store gateway → StoreAPI → querier. The ingester's StoreAPI
//! owns `server.grpc_listen`, so in `all` the store gateway serves on its own port
//! (`store.grpc_listen`, by default a free loopback port only this process uses). The
//! compactor (in `all` too, so a single node keeps its bucket tidy) runs on its interval
//! in the background of the same process. Without a configured ring, `all` also runs a
//! one-node `cairn meta` on its gRPC port and is its own ring.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cairn_compact::{CompactMetrics, Compactor};
use cairn_ingest::{IngestMetrics, IngestService, Ingester, MetadataService, Shipper};
use cairn_model::TenantId;
use cairn_ops::{ops_router, HttpMetrics, Readiness};
use cairn_query::Querier;
use cairn_receive::{Distributor, Receiver};
use cairn_ring::RingSource;
use cairn_store::BlockStore;
use cairn_storeapi::{StoreClient, StoreService};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::error::CliError;

/// Which roles a process runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Roles {
    receive: bool,
    ingest: bool,
    query: bool,
    compact: bool,
    store: bool,
    meta: bool,
}

impl Roles {
    const NONE: Self = Self {
        receive: false,
        ingest: false,
        query: false,
        store: false,
        compact: false,
        meta: false,
    };
    /// Every role; the meta node only while the process is its own ring (see
    /// [`run`]).
    pub(crate) const ALL: Self = Self {
        receive: true,
        ingest: true,
        query: true,
        store: true,
        compact: true,
        meta: true,
    };
    pub(crate) const META: Self = Self {
        meta: true,
        ..Self::NONE
    };
    pub(crate) const RECEIVE: Self = Self {
        receive: true,
        ..Self::NONE
    };
    pub(crate) const INGEST: Self = Self {
        ingest: true,
        ..Self::NONE
    };
    pub(crate) const QUERY: Self = Self {
        query: true,
        ..Self::NONE
    };
    pub(crate) const STORE: Self = Self {
        store: true,
        ..Self::NONE
    };
    pub(crate) const COMPACT: Self = Self {
        compact: true,
        ..Self::NONE
    };

    fn names(self) -> Vec<&'static str> {
        [
            (self.receive, "receive"),
            (self.ingest, "ingest"),
            (self.query, "query"),
            (self.compact, "compact"),
            (self.store, "store"),
            (self.meta, "meta"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// How the process's own gRPC server is reached from inside it.
fn loopback_addr(listen: SocketAddr) -> String {
    let ip = if listen.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        listen.ip()
    };
    SocketAddr::new(ip, listen.port()).to_string()
}

/// A tokio runtime: multi-threaded for serving roles, current-thread for one-shot tools.
pub(crate) fn runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime, CliError> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().map_err(|e| CliError::Role {
        role: "runtime",
        message: e.to_string(),
    })
}

/// Runs the roles until SIGTERM/SIGINT (or, for an ingester on the ring, a graceful
/// leave through `POST /ingester/shutdown`), then shuts down gracefully.
///
/// `cairn all` without `receive.ingesters` or `ring.endpoints` is its own ring: it runs
/// a one-node meta group, its ingester joins it, and its receiver and querier watch it
/// through the process's own gRPC port — the same path a cluster takes.
pub(crate) fn run(mut roles: Roles, mut config: Config) -> Result<(), CliError> {
    cairn_ops::init_logging(config.server.log_format, &config.server.log_level);
    let own_grpc = loopback_addr(config.server.grpc_listen);
    let is_all = roles.receive && roles.ingest && roles.query;
    if is_all {
        roles.meta = config.ring.endpoints.is_empty() && config.receive.ingesters.is_empty();
        if roles.meta {
            config.ring.endpoints = vec![own_grpc.clone()];
            if config.meta.advertise_addr.is_empty() {
                config.meta.advertise_addr = own_grpc.clone();
            }
            if config.ingest.lifecycle.advertise_addr.is_empty() {
                config.ingest.lifecycle.advertise_addr = own_grpc.clone();
            }
            // Not the host name: a data directory moved to another machine must find
            // its own member (and tokens) again.
            if config.ingest.lifecycle.id.is_empty() {
                config.ingest.lifecycle.id = "all".to_owned();
            }
        }
    }
    let use_ring = !config.ring.endpoints.is_empty();
    // The process's own store gateway joins the querier's stores once it is bound.
    let query_own_store = roles.store && roles.query && config.query.stores.is_empty();
    if !use_ring {
        if roles.ingest && roles.receive && config.receive.ingesters.is_empty() {
            config.receive.ingesters = vec![own_grpc.clone()];
        }
        if roles.ingest && roles.query && config.query.stores.is_empty() {
            config.query.stores = vec![own_grpc];
        }
    }
    if roles.receive && !use_ring && config.receive.ingesters.is_empty() {
        return Err(CliError::Config(
            "receive.ingesters must list at least one ingester, or ring.endpoints the meta nodes"
                .into(),
        ));
    }
    if roles.query && !use_ring && config.query.stores.is_empty() && !query_own_store {
        return Err(CliError::Config(
            "query.stores must list at least one store, or ring.endpoints the meta nodes".into(),
        ));
    }
    let runtime = runtime(true)?;
    runtime.block_on(serve(roles, config, query_own_store))
}

/// The store gateway, bound but not yet serving.
struct StoreRole {
    store: Arc<BlockStore>,
    listener: TcpListener,
    addr: SocketAddr,
}

fn store_error(message: impl ToString) -> CliError {
    CliError::Role {
        role: "store",
        message: message.to_string(),
    }
}

/// Opens the bucket and binds the store gateway's gRPC port: `server.grpc_listen`, or
/// when an ingester already serves the StoreAPI there, `store.grpc_listen`.
async fn prepare_store(
    config: &Config,
    shares_process_with_ingester: bool,
    registry: &mut Registry,
) -> Result<StoreRole, CliError> {
    let bucket = config.open_bucket("store")?;
    let listen = if shares_process_with_ingester {
        config
            .store
            .grpc_listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    } else {
        config.server.grpc_listen
    };
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| CliError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(store_error)?;
    tracing::info!(bucket = bucket.description(), %addr, "store gateway bound");
    let store = Arc::new(BlockStore::new(bucket, &config.store, Some(registry)));
    Ok(StoreRole {
        store,
        listener,
        addr,
    })
}

async fn serve(roles: Roles, mut config: Config, query_own_store: bool) -> Result<(), CliError> {
    tracing::info!(roles = ?roles.names(), http = %config.server.http_listen, grpc = %config.server.grpc_listen, "starting cairn");
    let mut registry = Registry::default();
    let readiness = Readiness::default();
    let default_tenant = TenantId::new(if config.tenancy.default_tenant.is_empty() {
        "anonymous"
    } else {
        &config.tenancy.default_tenant
    })
    .map_err(|e| CliError::Config(e.to_string()))?;
    let use_ring = !config.ring.endpoints.is_empty();

    let store_role = if roles.store {
        let role = prepare_store(&config, roles.ingest, &mut registry).await?;
        if query_own_store {
            config.query.stores.push(loopback_addr(role.addr));
        }
        Some(role)
    } else {
        None
    };
    let meta_node = if roles.meta {
        Some(crate::ring::start_meta(&config, &mut registry).await?)
    } else {
        None
    };
    let ring = if use_ring && (roles.receive || roles.query) {
        Some(crate::ring::watch_ring(&config, &mut registry)?)
    } else {
        None
    };

    let mut app = Router::new();
    if roles.receive {
        let receive_err = |e: cairn_receive::ReceiveError| CliError::Role {
            role: "receive",
            message: e.to_string(),
        };
        let distributor = match &ring {
            Some(ring) => Distributor::new(
                ring.clone(),
                config.receive.replication_factor,
                config.receive.heartbeat_timeout,
                config.receive.push_timeout,
                &mut registry,
            )
            .map_err(receive_err)?,
            None => {
                Distributor::from_config(&config.receive, &mut registry).map_err(receive_err)?
            }
        };
        let receiver = Receiver::new(
            config.receive.clone(),
            config.tenancy.clone(),
            distributor,
            &mut registry,
        );
        app = app.merge(cairn_receive::router(Arc::new(receiver)));
    }
    let mut querier = None;
    if roles.query {
        let stores = config
            .query
            .stores
            .iter()
            .map(|addr| StoreClient::connect_lazy(addr, config.query.timeout))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CliError::Role {
                role: "query",
                message: e.to_string(),
            })?;
        let q = Arc::new(Querier::new(
            config.query.clone(),
            config.tenancy.clone(),
            stores,
            &mut registry,
        ));
        app = app.merge(cairn_query::router(q.clone()));
        querier = Some(q);
    }
    let ingest_metrics = roles.ingest.then(|| IngestMetrics::new(&mut registry));
    let lifecycler = if roles.ingest && use_ring {
        Some(crate::ring::lifecycler(&config)?)
    } else {
        None
    };
    // `POST /ingester/shutdown` asks for a graceful leave (Mimir's endpoint).
    let (leave_tx, mut leave_rx) = watch::channel(false);
    if lifecycler.is_some() {
        app = app.merge(leave_router(leave_tx));
    }
    let compactor = if roles.compact {
        Some(new_compactor(&config, CompactMetrics::new(&mut registry))?)
    } else {
        None
    };
    let http_metrics = HttpMetrics::new(&mut registry);
    let registry = Arc::new(registry);
    let app = http_metrics.layer(
        app.merge(ops_router(registry, readiness.clone()))
            .fallback(cairn_query::not_found),
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let http_listener = TcpListener::bind(config.server.http_listen)
        .await
        .map_err(|source| CliError::Bind {
            addr: config.server.http_listen,
            source,
        })?;
    let http_stop = stopped(stop_rx.clone());
    let http = tokio::spawn(async move {
        axum::serve(http_listener, app)
            .with_graceful_shutdown(http_stop)
            .await
    });
    tracing::info!(addr = %config.server.http_listen, "http server listening");

    // Stateless roles can serve at once; the ingester only after its WAL replay, and
    // ring clients once they have a ring with an ACTIVE ingester to write to.
    let stateless_ready = readiness.component("http");
    stateless_ready.set_ready();
    let mut servers = Vec::new();
    if let Some(ring) = &ring {
        let ready = readiness.component("ring with an ACTIVE ingester");
        let mut rx = ring.watch();
        servers.push(tokio::spawn(async move {
            let active = |r: &Arc<cairn_ring::Ring>| {
                r.members()
                    .iter()
                    .any(|m| m.state == cairn_ring::MemberState::Active)
            };
            if rx.wait_for(active).await.is_ok() {
                ready.set_ready();
            }
        }));
        if let Some(q) = &querier {
            servers.push(crate::ring::spawn_store_discovery(
                q.clone(),
                config.query.stores.clone(),
                config.receive.replication_factor,
                ring.clone(),
                stop_rx.clone(),
            ));
        }
    }

    if let Some(role) = store_role {
        // Ready once the first sync has listed the bucket; until then queries would
        // silently miss every block.
        let ready = readiness.component("store gateway initial sync");
        let mut synced = role.store.synced();
        tokio::spawn(async move {
            if synced.wait_for(|s| *s).await.is_ok() {
                ready.set_ready();
            }
        });
        servers.push(tokio::spawn(
            role.store
                .clone()
                .run_sync_loop(config.store.sync_interval, stop_rx.clone()),
        ));
        let service = StoreService::new(role.store, default_tenant.clone());
        let server = tonic::transport::Server::builder()
            .add_service(service.store_server())
            .add_service(service.info_server())
            .serve_with_incoming_shutdown(
                tokio_stream_incoming(role.listener),
                stopped(stop_rx.clone()),
            );
        let addr = role.addr;
        servers.push(tokio::spawn(async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, %addr, "store gateway grpc server stopped with an error");
            }
        }));
        tracing::info!(%addr, "store gateway grpc server listening");
    }

    // One gRPC server on `server.grpc_listen` for the ingester's and meta's services.
    let mut grpc_routes = tonic::service::RoutesBuilder::default();
    let mut ingester = None;
    if let Some(metrics) = ingest_metrics {
        let ing = Ingester::open(
            config.data_dir.join("ingester"),
            config.ingest.clone(),
            metrics,
        )
        .await
        .map_err(|e| CliError::Role {
            role: "ingest",
            message: e.to_string(),
        })?;
        let bucket = config.open_bucket("ingest")?;
        let shipper = Shipper::open(ing.clone(), bucket)
            .await
            .map_err(|e| CliError::Role {
                role: "ingest",
                message: e.to_string(),
            })?;
        tracing::info!(
            bucket = shipper.bucket().description(),
            "block shipper started"
        );
        let shipping = shipper.spawn(stop_rx.clone());
        let background = ing.spawn_background();
        let store = StoreService::new(ing.clone(), default_tenant.clone());
        grpc_routes
            .add_service(IngestService::new(ing.clone()).server())
            .add_service(MetadataService::new(ing.clone(), default_tenant.clone()).server())
            .add_service(store.store_server())
            .add_service(store.info_server());
        ingester = Some((ing, shipper, background, shipping));
    }
    if let Some(node) = &meta_node {
        let (meta, raft) = node.services();
        grpc_routes.add_service(meta).add_service(raft);
    }
    let mut grpc = None;
    if roles.ingest || roles.meta {
        let grpc_listener =
            TcpListener::bind(config.server.grpc_listen)
                .await
                .map_err(|source| CliError::Bind {
                    addr: config.server.grpc_listen,
                    source,
                })?;
        let server = tonic::transport::Server::builder()
            .add_routes(grpc_routes.routes())
            .serve_with_incoming_shutdown(
                tokio_stream_incoming(grpc_listener),
                stopped(stop_rx.clone()),
            );
        grpc = Some(tokio::spawn(server));
        tracing::info!(addr = %config.server.grpc_listen, "grpc server listening");
    }
    if let Some(node) = &meta_node {
        node.bootstrap(&config.meta.peers)
            .await
            .map_err(|e| CliError::Role {
                role: "meta",
                message: e.to_string(),
            })?;
        readiness.component("meta").set_ready();
    }
    let mut heartbeats = None;
    if ingester.is_some() {
        let ready = readiness.component("ingester wal replay and ring membership");
        match &lifecycler {
            None => ready.set_ready(),
            Some(lc) => {
                let lc = lc.clone();
                let stop = stop_rx.clone();
                heartbeats = Some(tokio::spawn(async move {
                    match lc.join(stop.clone()).await {
                        Ok(_) => {
                            ready.set_ready();
                            let _ = lc.spawn_heartbeats(stop).await;
                        }
                        Err(e) => tracing::error!(error = %e, "ingester did not join the ring"),
                    }
                }));
            }
        }
    }
    let compacting = compactor.map(|c| {
        let stop = stop_rx.clone();
        tokio::spawn(async move { c.run(stop).await })
    });
    tracing::info!("cairn is ready");

    let leave = tokio::select! {
        () = cairn_ops::shutdown_signal() => config.ingest.lifecycle.leave_on_shutdown,
        _ = leave_rx.wait_for(|l| *l) => true,
    };
    if let (true, Some(lc), Some((ing, shipper, _, _))) = (leave, &lifecycler, &ingester) {
        let timeout = config.ingest.lifecycle.flush_timeout;
        let flush = async {
            ing.refuse_writes().await;
            shipper.flush(timeout).await.map(|_| ())
        };
        if let Err(e) = lc.leave(flush).await {
            tracing::error!(error = %e, "graceful leave failed; the ingester stays in the ring as LEAVING and keeps its WAL");
        }
    }
    stateless_ready.set_not_ready();
    let _ = stop_tx.send(true);
    if let Some(node) = &meta_node {
        node.shutdown().await;
    }
    let drain = async {
        if let Ok(Err(e)) = http.await {
            tracing::error!(error = %e, "http server stopped with an error");
        }
        if let Some(grpc) = grpc {
            if let Ok(Err(e)) = grpc.await {
                tracing::error!(error = %e, "grpc server stopped with an error");
            }
        }
        for s in servers {
            let _ = s.await;
        }
        if let Some(h) = heartbeats {
            let _ = h.await;
        }
    };
    if let Some(task) = compacting {
        // A compaction step in flight is abandoned: the bucket is consistent at every
        // point (meta.json last, marks after uploads), and the next start cleans up.
        task.abort();
    }
    if tokio::time::timeout(Duration::from_secs(30), drain)
        .await
        .is_err()
    {
        tracing::warn!("servers did not drain within 30s; closing anyway");
    }
    if let Some((ing, _, background, shipping)) = ingester {
        // The shipper finishes the pass it is in (an upload in flight completes or
        // fails as a whole; either way the local state stays consistent).
        if tokio::time::timeout(Duration::from_secs(60), shipping)
            .await
            .is_err()
        {
            tracing::warn!("block shipper did not stop within 60s; pending blocks are uploaded after the restart");
        }
        background.abort();
        ing.close().await.map_err(|e| CliError::Role {
            role: "ingest",
            message: e.to_string(),
        })?;
    }
    tracing::info!("cairn stopped");
    Ok(())
}

/// `POST /ingester/shutdown`: flush the head to the bucket, leave the ring, exit.
fn leave_router(leave: watch::Sender<bool>) -> Router {
    use axum::http::StatusCode;
    let leave = Arc::new(leave);
    Router::new().route(
        "/ingester/shutdown",
        axum::routing::post(move || {
            let leave = leave.clone();
            async move {
                leave.send_replace(true);
                (
                    StatusCode::ACCEPTED,
                    "leaving: refusing writes, flushing the head to the bucket, then leaving the ring and exiting\n",
                )
            }
        }),
    )
}

/// The compactor over the configured bucket, building blocks in `<data_dir>/compact`.
fn new_compactor(config: &Config, metrics: CompactMetrics) -> Result<Compactor, CliError> {
    let role_err = |message: String| CliError::Role {
        role: "compact",
        message,
    };
    let bucket = config.open_bucket("compact")?;
    Compactor::new(
        bucket,
        config.compact.clone(),
        &config.data_dir.join("compact"),
        metrics,
    )
    .map_err(|e| role_err(e.to_string()))
}

/// `cairn compact --once`: one pass over every tenant, then exit; fails when any tenant
/// failed or halted.
pub(crate) fn compact_once(config: Config) -> Result<(), CliError> {
    cairn_ops::init_logging(config.server.log_format, &config.server.log_level);
    let runtime = runtime(true)?;
    runtime.block_on(async {
        let compactor = new_compactor(&config, CompactMetrics::unregistered())?;
        let report = compactor.run_once().await;
        if report.failed.is_empty() {
            tracing::info!(tenants = report.ok.len(), "compaction run complete");
            Ok(())
        } else {
            let failed: Vec<String> = report
                .failed
                .iter()
                .map(|(t, e)| format!("{t}: {e}"))
                .collect();
            Err(CliError::Role {
                role: "compact",
                message: failed.join("; "),
            })
        }
    })
}

/// Accepted gRPC connections with Nagle's algorithm off. tonic sets TCP_NODELAY only on
/// listeners it binds itself; without it a response split over several segments waits
/// for the peer's delayed ACK, adding ~40ms to every StoreAPI call.
fn tokio_stream_incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|conn| {
        let conn = conn?;
        conn.set_nodelay(true)?;
        Ok(conn)
    })
}
