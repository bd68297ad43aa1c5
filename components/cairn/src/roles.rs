//! Starting and stopping roles. `cairn all` and the split roles run this same code;
//! `all` only enables every role and points the receiver and querier at the process's
//! own gRPC servers, so data still flows receiver → gRPC → ingester → StoreAPI → querier,
//! and blocks in the bucket → store gateway → StoreAPI → querier. The ingester's StoreAPI
//! owns `server.grpc_listen`, so in `all` the store gateway serves on its own port
//! (`store.grpc_listen`, by default a free loopback port only this process uses). The
//! compactor (in `all` too, so a single node keeps its bucket tidy) runs on its interval
//! in the background of the same process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cairn_compact::{CompactMetrics, Compactor};
use cairn_ingest::{IngestMetrics, IngestService, Ingester, Shipper};
use cairn_model::TenantId;
use cairn_ops::{ops_router, HttpMetrics, Readiness};
use cairn_query::Querier;
use cairn_receive::{Distributor, Receiver};
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
}

impl Roles {
    const NONE: Self = Self {
        receive: false,
        ingest: false,
        query: false,
        store: false,
        compact: false,
    };
    pub(crate) const ALL: Self = Self {
        receive: true,
        ingest: true,
        query: true,
        store: true,
        compact: true,
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

/// Runs the roles until SIGTERM/SIGINT, then shuts down gracefully.
pub(crate) fn run(roles: Roles, mut config: Config) -> Result<(), CliError> {
    cairn_ops::init_logging(config.server.log_format, &config.server.log_level);
    let own_grpc = loopback_addr(config.server.grpc_listen);
    // The process's own store gateway joins the querier's stores once it is bound.
    let query_own_store = roles.store && roles.query && config.query.stores.is_empty();
    if roles.ingest && roles.receive && config.receive.ingesters.is_empty() {
        config.receive.ingesters = vec![own_grpc.clone()];
    }
    if roles.ingest && roles.query && config.query.stores.is_empty() {
        config.query.stores = vec![own_grpc];
    }
    if roles.receive && config.receive.ingesters.is_empty() {
        return Err(CliError::Config(
            "receive.ingesters must list at least one ingester".into(),
        ));
    }
    if roles.query && config.query.stores.is_empty() && !query_own_store {
        return Err(CliError::Config(
            "query.stores must list at least one store".into(),
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Role {
            role: "runtime",
            message: e.to_string(),
        })?;
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

    let store_role = if roles.store {
        let role = prepare_store(&config, roles.ingest, &mut registry).await?;
        if query_own_store {
            config.query.stores.push(loopback_addr(role.addr));
        }
        Some(role)
    } else {
        None
    };

    let mut app = Router::new();
    if roles.receive {
        let distributor =
            Distributor::from_config(&config.receive, &mut registry).map_err(|e| {
                CliError::Role {
                    role: "receive",
                    message: e.to_string(),
                }
            })?;
        let receiver = Receiver::new(
            config.receive.clone(),
            config.tenancy.clone(),
            distributor,
            &mut registry,
        );
        app = app.merge(cairn_receive::router(Arc::new(receiver)));
    }
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
        let querier = Querier::new(
            config.query.clone(),
            config.tenancy.clone(),
            stores,
            &mut registry,
        );
        app = app.merge(cairn_query::router(Arc::new(querier)));
    }
    let ingest_metrics = roles.ingest.then(|| IngestMetrics::new(&mut registry));
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

    // Stateless roles can serve at once; the ingester only after its WAL replay.
    let stateless_ready = readiness.component("http");
    stateless_ready.set_ready();

    let mut servers = Vec::new();
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

    let mut ingester = None;
    let mut grpc = None;
    if let Some(metrics) = ingest_metrics {
        let ready = readiness.component("ingester wal replay");
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
        let grpc_listener =
            TcpListener::bind(config.server.grpc_listen)
                .await
                .map_err(|source| CliError::Bind {
                    addr: config.server.grpc_listen,
                    source,
                })?;
        let incoming = tokio_stream_incoming(grpc_listener);
        let server = tonic::transport::Server::builder()
            .add_service(IngestService::new(ing.clone()).server())
            .add_service(store.store_server())
            .add_service(store.info_server())
            .serve_with_incoming_shutdown(incoming, stopped(stop_rx.clone()));
        grpc = Some(tokio::spawn(server));
        tracing::info!(addr = %config.server.grpc_listen, "grpc server listening");
        ready.set_ready();
        ingester = Some((ing, background, shipping));
    }
    let compacting = compactor.map(|c| {
        let stop = stop_rx.clone();
        tokio::spawn(async move { c.run(stop).await })
    });
    tracing::info!("cairn is ready");

    cairn_ops::shutdown_signal().await;
    stateless_ready.set_not_ready();
    let _ = stop_tx.send(true);
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
    if let Some((ing, background, shipping)) = ingester {
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Role {
            role: "runtime",
            message: e.to_string(),
        })?;
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
