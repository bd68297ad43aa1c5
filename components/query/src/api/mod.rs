//! The Prometheus HTTP API handlers.

mod json;
mod params;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, Uri};
use axum::routing::get;
use axum::{Json, Router};
use cairn_model::validate::is_valid_label_name;
use cairn_model::{Labels, Matcher, TenantId};
use cairn_ops::tenancy::TenancyConfig;
use cairn_promql::{Engine, EngineOptions, QueryOptions, QueryResult};
use cairn_storeapi::{SeriesQuery, StoreClient};
use prometheus_client::registry::Registry;
use serde_json::{json, Value as JsonValue};

use crate::metrics::{ErrorTypeLabel, QueryMetrics, QueryTypeLabel};
use crate::{FanoutStorage, QueryApiError, QueryConfig, ReplicaLabels, StoreSet};
use params::{Params, MAX_TIME_MS, MIN_TIME_MS};

/// Prometheus refuses range queries with more points than this per series.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// The querier role: PromQL engine, stores and API settings.
#[derive(Debug)]
pub struct Querier {
    engine: Engine,
    /// Replaced whole when ring discovery changes the ingesters.
    stores: parking_lot::RwLock<StoreSet>,
    config: QueryConfig,
    tenancy: TenancyConfig,
    metrics: QueryMetrics,
}

type ApiResult = Result<Json<JsonValue>, QueryApiError>;
type QueryApiResult = Result<json::JsonBody, QueryApiError>;

impl Querier {
    /// Builds the querier over `stores` and registers its metrics.
    pub fn new(
        config: QueryConfig,
        tenancy: TenancyConfig,
        stores: Vec<StoreClient>,
        registry: &mut Registry,
    ) -> Self {
        let engine = Engine::new(EngineOptions {
            lookback_delta: config.lookback_delta,
            max_samples: config.max_samples,
            timeout: config.timeout,
            max_concurrent: config.max_concurrent,
            ..EngineOptions::default()
        });
        Self {
            engine,
            stores: parking_lot::RwLock::new(StoreSet::new(stores)),
            config,
            tenancy,
            metrics: QueryMetrics::new(registry),
        }
    }

    /// Replaces the stores with `static_stores` plus the ring's `ingesters`, written with
    /// `replication_factor` (clamped to the ring size) and a quorum of RF/2+1: up to
    /// RF − quorum failed ingesters cost a query nothing, since
    /// every acknowledged sample is also on another one. Connections to addresses
    /// already known are kept; queries in flight finish on the set they started with.
    pub fn set_stores(
        &self,
        static_stores: &[String],
        ingesters: &[String],
        replication_factor: usize,
    ) -> Result<(), QueryApiError> {
        // As the receivers do: RF clamped to the ring size, quorum of that.
        let rf = replication_factor.min(ingesters.len());
        let tolerated = rf.saturating_sub(rf / 2 + 1);
        let mut stores = self.stores.write();
        let addrs: Vec<String> = static_stores.iter().chain(ingesters).cloned().collect();
        if stores.addrs() == addrs && stores.tolerated_ingester_failures() == tolerated {
            return Ok(());
        }
        let next = stores
            .with_ingesters(static_stores, ingesters, tolerated, self.config.timeout)
            .map_err(|e| QueryApiError::Unavailable(format!("store discovery: {e}")))?;
        tracing::info!(stores = ?addrs, tolerated_ingester_failures = tolerated, "querier stores changed");
        *stores = next;
        Ok(())
    }

    /// The stores as one tenant sees them, with the request's `partial_response`
    /// (default from the config), replica deduplication (Thanos's `dedup`, default on,
    /// and `replicaLabels[]`, default `query.replica_labels`) and, for PromQL,
    /// `max_source_resolution`.
    fn storage(&self, tenant: TenantId, p: &Params) -> Result<FanoutStorage, QueryApiError> {
        let partial = p
            .bool("partial_response")?
            .unwrap_or(self.config.partial_response);
        let replica_labels = if !p.bool("dedup")?.unwrap_or(true) {
            ReplicaLabels::off()
        } else if p.all("replicaLabels[]").iter().any(|l| !l.is_empty()) {
            ReplicaLabels::new(p.all("replicaLabels[]").iter().cloned())
        } else {
            ReplicaLabels::new(self.config.replica_labels.iter().cloned())
        };
        Ok(
            FanoutStorage::new(self.stores.read().clone(), partial, tenant)
                .with_replica_labels(replica_labels),
        )
    }

    fn observe(
        &self,
        query_type: &'static str,
        start: Instant,
        result: &Result<QueryResult, cairn_promql::QueryError>,
    ) {
        self.metrics
            .duration
            .get_or_create(&QueryTypeLabel { query_type })
            .observe(start.elapsed().as_secs_f64());
        if let Err(e) = result {
            self.metrics
                .failures
                .get_or_create(&ErrorTypeLabel {
                    error_type: e.error_type(),
                })
                .inc();
        }
    }

    /// With downsampled data allowed, the lookback is at least the resolution (as in
    /// Thanos): points of a 1h-resolution block are an hour apart, and an instant
    /// selector with a 5m lookback would find none between them.
    fn query_options(
        &self,
        p: &Params,
        max_resolution_ms: i64,
    ) -> Result<QueryOptions, QueryApiError> {
        let mut lookback_delta = p.duration("lookback_delta")?;
        let resolution = Duration::from_millis(max_resolution_ms.max(0) as u64);
        if resolution > lookback_delta.unwrap_or(self.config.lookback_delta) {
            lookback_delta = Some(resolution);
        }
        Ok(QueryOptions { lookback_delta })
    }

    async fn instant_query(&self, tenant: TenantId, p: Params) -> QueryApiResult {
        let query = p.get("query").ok_or_else(|| {
            QueryApiError::BadData("invalid parameter \"query\": query must not be empty".into())
        })?;
        let time = p.time_or("time", now_ms())?;
        let max_resolution = p.max_source_resolution(0)?;
        let opts = self.query_options(&p, max_resolution)?;
        let storage = self
            .storage(tenant, &p)?
            .with_max_resolution(max_resolution);
        let start = Instant::now();
        let run = self.engine.instant_query(&storage, query, time, &opts);
        let result = with_timeout(p.duration("timeout")?, run).await;
        self.observe("instant", start, &result);
        Ok(json::query_success(&result?))
    }

    async fn range_query(&self, tenant: TenantId, p: Params) -> QueryApiResult {
        let query = p.get("query").ok_or_else(|| {
            QueryApiError::BadData("invalid parameter \"query\": query must not be empty".into())
        })?;
        let start = required_time(&p, "start")?;
        let end = required_time(&p, "end")?;
        if end < start {
            return Err(QueryApiError::BadData(
                "invalid parameter \"end\": end timestamp must not be before start time".into(),
            ));
        }
        let step = p.duration("step")?.ok_or_else(|| {
            QueryApiError::BadData(
                "invalid parameter \"step\": cannot parse \"\" to a valid duration".into(),
            )
        })?;
        let step_ms = step.as_millis() as i64;
        if step_ms <= 0 {
            return Err(QueryApiError::BadData(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if (end - start) / step_ms > MAX_POINTS_PER_SERIES {
            return Err(QueryApiError::BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        let max_resolution = p.max_source_resolution(step_ms)?;
        let opts = self.query_options(&p, max_resolution)?;
        let storage = self
            .storage(tenant, &p)?
            .with_max_resolution(max_resolution);
        let began = Instant::now();
        let run = self
            .engine
            .range_query(&storage, query, start, end, step_ms, &opts);
        let result = with_timeout(p.duration("timeout")?, run).await;
        self.observe("range", began, &result);
        Ok(json::query_success(&result?))
    }

    fn selection(&self, p: &Params) -> Result<(Vec<Vec<Matcher>>, i64, i64), QueryApiError> {
        let sets = p.match_sets()?;
        let start = p.time_or("start", MIN_TIME_MS)?;
        let end = p.time_or("end", MAX_TIME_MS)?;
        if end < start {
            return Err(QueryApiError::BadData(
                "invalid parameter \"end\": end timestamp must not be before start time".into(),
            ));
        }
        Ok((sets, start, end))
    }

    async fn series(&self, tenant: TenantId, p: Params) -> ApiResult {
        let (sets, start, end) = self.selection(&p)?;
        if sets.is_empty() {
            return Err(QueryApiError::BadData(
                "no match[] parameter provided".into(),
            ));
        }
        let storage = self.storage(tenant, &p)?;
        let mut all: Vec<Labels> = Vec::new();
        let mut warnings = Vec::new();
        for matchers in sets {
            let query = SeriesQuery {
                skip_chunks: true,
                ..SeriesQuery::new(matchers, start, end)
            };
            let (series, w) = storage.raw_series(&query).await.map_err(storage_error)?;
            // Deduplicated: replicas become one series without replica labels.
            let replica = storage.replica_labels();
            all.extend(series.into_iter().map(|s| replica.strip(&s.labels)));
            warnings.extend(w);
        }
        all.sort();
        all.dedup();
        let mut data: Vec<JsonValue> = all.iter().map(json::labels_object).collect();
        apply_limit(&p, &mut data, &mut warnings)?;
        Ok(Json(json::success(JsonValue::Array(data), &warnings, &[])))
    }

    async fn label_names(&self, tenant: TenantId, p: Params) -> ApiResult {
        let storage = self.storage(tenant, &p)?;
        self.union_over_match_sets(&p, |query| {
            let storage = storage.clone();
            async move { storage.label_names(&query).await }
        })
        .await
    }

    async fn label_values(&self, tenant: TenantId, name: String, p: Params) -> ApiResult {
        if !is_valid_label_name(&name) && name != cairn_model::METRIC_NAME {
            return Err(QueryApiError::BadData(format!(
                "invalid label name: {name:?}"
            )));
        }
        let storage = self.storage(tenant, &p)?;
        self.union_over_match_sets(&p, |query| {
            let (storage, name) = (storage.clone(), name.clone());
            async move { storage.label_values(&name, &query).await }
        })
        .await
    }

    /// `/api/v1/metadata`: what remote-write clients said about their metrics, as
    /// Prometheus answers it — `{family: [{type, help, unit}, …]}`, with `metric`,
    /// `limit` (families) and `limit_per_metric` (negative: no limit).
    async fn metadata(&self, tenant: TenantId, p: Params) -> ApiResult {
        let limit = int_param(&p, "limit")?;
        let per_metric = int_param(&p, "limit_per_metric")?;
        let storage = self.storage(tenant, &p)?;
        let metric = p.get("metric").unwrap_or("");
        let store_limit = i32::try_from(limit).unwrap_or(0);
        let (found, warnings) = storage
            .metric_metadata(metric, store_limit.max(0))
            .await
            .map_err(storage_error)?;
        let mut data = serde_json::Map::new();
        for (family, metas) in found {
            if limit >= 0 && data.len() as i64 >= limit {
                break;
            }
            let metas: Vec<JsonValue> = metas
                .into_iter()
                .take(usize::try_from(per_metric).unwrap_or(usize::MAX))
                .map(|(kind, help, unit)| json!({"type": kind, "help": help, "unit": unit}))
                .collect();
            data.insert(family, JsonValue::Array(metas));
        }
        Ok(Json(json::success(JsonValue::Object(data), &warnings, &[])))
    }

    /// Runs `lookup` once per `match[]` set (or once unrestricted) and answers with the
    /// sorted union of the strings, honouring `limit`.
    async fn union_over_match_sets<F, Fut>(&self, p: &Params, lookup: F) -> ApiResult
    where
        F: Fn(SeriesQuery) -> Fut,
        Fut: std::future::Future<
            Output = Result<(Vec<String>, Vec<String>), cairn_promql::StorageError>,
        >,
    {
        let (sets, start, end) = self.selection(p)?;
        let mut all = Vec::new();
        let mut warnings = Vec::new();
        for matchers in match_sets_or_all(sets) {
            let query = SeriesQuery {
                skip_chunks: true,
                ..SeriesQuery::new(matchers, start, end)
            };
            let (found, w) = lookup(query).await.map_err(storage_error)?;
            all.extend(found);
            warnings.extend(w);
        }
        all.sort_unstable();
        all.dedup();
        let mut data: Vec<JsonValue> = all.into_iter().map(JsonValue::String).collect();
        apply_limit(p, &mut data, &mut warnings)?;
        Ok(Json(json::success(JsonValue::Array(data), &warnings, &[])))
    }
}

/// With no `match[]`, one unrestricted selection.
fn match_sets_or_all(sets: Vec<Vec<Matcher>>) -> Vec<Vec<Matcher>> {
    if sets.is_empty() {
        vec![Vec::new()]
    } else {
        sets
    }
}

fn storage_error(e: cairn_promql::StorageError) -> QueryApiError {
    QueryApiError::Query(cairn_promql::QueryError::Storage(e))
}

fn apply_limit(
    p: &Params,
    data: &mut Vec<JsonValue>,
    warnings: &mut Vec<String>,
) -> Result<(), QueryApiError> {
    let Some(limit) = p.get("limit") else {
        return Ok(());
    };
    let limit: usize = limit.parse().map_err(|_| {
        QueryApiError::BadData(format!(
            "invalid parameter \"limit\": cannot parse {limit:?} to a valid limit"
        ))
    })?;
    if limit > 0 && data.len() > limit {
        data.truncate(limit);
        warnings.push("results truncated due to limit".to_owned());
    }
    Ok(())
}

/// An integer parameter of the metadata API; absent = -1 (no limit).
fn int_param(p: &Params, key: &str) -> Result<i64, QueryApiError> {
    match p.get(key) {
        None | Some("") => Ok(-1),
        Some(v) => v.parse().map_err(|_| {
            QueryApiError::BadData(format!(
                "invalid parameter \"{key}\": {key} must be a number"
            ))
        }),
    }
}

fn required_time(p: &Params, key: &str) -> Result<i64, QueryApiError> {
    if p.get(key).is_none() {
        return Err(QueryApiError::BadData(format!(
            "invalid parameter \"{key}\": cannot parse \"\" to a valid timestamp"
        )));
    }
    p.time_or(key, 0)
}

/// The per-request `timeout` parameter can only shorten the engine's own timeout.
async fn with_timeout<F>(
    timeout: Option<Duration>,
    run: F,
) -> Result<QueryResult, cairn_promql::QueryError>
where
    F: std::future::Future<Output = Result<QueryResult, cairn_promql::QueryError>>,
{
    match timeout {
        None => run.await,
        Some(t) => tokio::time::timeout(t, run)
            .await
            .unwrap_or(Err(cairn_promql::QueryError::Timeout("query execution"))),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Query string plus, for form POSTs, the body's parameters.
fn request_params(
    method: &Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: &Bytes,
) -> Result<Params, QueryApiError> {
    let mut pairs: Vec<(String, String)> = match query {
        Some(q) => serde_urlencoded::from_str(&q)
            .map_err(|e| QueryApiError::BadData(format!("invalid query string: {e}")))?,
        None => Vec::new(),
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if method == Method::POST && is_form {
        let body: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| QueryApiError::BadData(format!("invalid form body: {e}")))?;
        pairs.extend(body);
    }
    Ok(Params::from_pairs(pairs))
}

struct Call {
    tenant: TenantId,
    params: Params,
}

fn call(
    q: &Querier,
    method: &Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: &Bytes,
) -> Result<Call, QueryApiError> {
    Ok(Call {
        tenant: q.tenancy.resolve(headers)?,
        params: request_params(method, headers, query, body)?,
    })
}

macro_rules! handler {
    ($name:ident, $method:ident) => {
        handler!($name, $method, ApiResult);
    };
    ($name:ident, $method:ident, $result:ty) => {
        async fn $name(
            State(q): State<Arc<Querier>>,
            method: Method,
            headers: HeaderMap,
            RawQuery(query): RawQuery,
            body: Bytes,
        ) -> $result {
            let c = call(&q, &method, &headers, query, &body)?;
            q.$method(c.tenant, c.params).await
        }
    };
}

handler!(query_handler, instant_query, QueryApiResult);
handler!(query_range_handler, range_query, QueryApiResult);
handler!(series_handler, series);
handler!(labels_handler, label_names);
handler!(metadata_handler, metadata);

async fn label_values_handler(
    State(q): State<Arc<Querier>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult {
    let c = call(&q, &method, &headers, query, &body)?;
    q.label_values(c.tenant, name, c.params).await
}

/// `/api/v1/format_query`: the expression pretty-printed the way Prometheus's
/// formatter lays it out (Grafana's "format query" button).
async fn format_query_handler(
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult {
    let p = request_params(&method, &headers, query, &body)?;
    let query = p.get("query").unwrap_or("");
    let expr = cairn_promql::parse_query(query)
        .map_err(|e| QueryApiError::BadData(format!("invalid parameter \"query\": {e}")))?;
    Ok(Json(json::success(json!(expr.prettify()), &[], &[])))
}

async fn buildinfo() -> Json<JsonValue> {
    Json(json::success(
        json!({
            "application": "cairn",
            "version": env!("CARGO_PKG_VERSION"),
            "revision": option_env!("CAIRN_GIT_REVISION").unwrap_or("unknown"),
            "branch": option_env!("CAIRN_GIT_BRANCH").unwrap_or("unknown"),
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }),
        &[],
        &[],
    ))
}

/// Endpoints Grafana calls that Cairn has nothing for yet answer with Prometheus's
/// empty shapes, so dashboards and the data-source check work.
async fn empty_list() -> Json<JsonValue> {
    Json(json::success(json!([]), &[], &[]))
}

async fn no_rules() -> Json<JsonValue> {
    Json(json::success(json!({"groups": []}), &[], &[]))
}

async fn no_alerts() -> Json<JsonValue> {
    Json(json::success(json!({"alerts": []}), &[], &[]))
}

/// The query API routes, bound to a shared [`Querier`].
pub fn router(querier: Arc<Querier>) -> Router {
    Router::new()
        .route("/api/v1/query", get(query_handler).post(query_handler))
        .route(
            "/api/v1/query_range",
            get(query_range_handler).post(query_range_handler),
        )
        .route("/api/v1/series", get(series_handler).post(series_handler))
        .route("/api/v1/labels", get(labels_handler).post(labels_handler))
        .route("/api/v1/label/{name}/values", get(label_values_handler))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route(
            "/api/v1/format_query",
            get(format_query_handler).post(format_query_handler),
        )
        .route("/api/v1/metadata", get(metadata_handler))
        .route("/api/v1/query_exemplars", get(empty_list).post(empty_list))
        .route("/api/v1/rules", get(no_rules))
        .route("/api/v1/alerts", get(no_alerts))
        .with_state(querier)
}

/// JSON 404 for paths no role serves.
pub async fn not_found(uri: Uri) -> QueryApiError {
    QueryApiError::NotFound(format!("no such endpoint: {}", uri.path()))
}
