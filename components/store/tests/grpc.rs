//! The store gateway through its real gRPC interface (StoreService + StoreClient),
//! over an in-memory bucket and over a real S3 server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cairn_block::{
    local_block_dir, upload_block, write_block, AggrChunk, AggrType, BlockChunk, BlockMeta,
    BlockSeries, BlockWriterOptions, ChunkData, Compaction, NewBlock, RESOLUTION_5M,
    RESOLUTION_RAW,
};
use cairn_chunk::XorChunk;
use cairn_model::{Labels, MatchOp, Matcher, TenantId};
use cairn_objstore::Bucket;
use cairn_store::{BlockStore, StoreConfig};
use cairn_storeapi::{Aggregate, SeriesQuery, StoreClient, StoreService};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

const H: i64 = 3_600_000;

fn xor(points: impl IntoIterator<Item = (i64, f64)>) -> Vec<u8> {
    let mut c = XorChunk::new();
    for (t, v) in points {
        c.append(t, v);
    }
    c.into_bytes()
}

async fn put_block(bucket: &Bucket, resolution: i64, series: Vec<BlockSeries>) -> BlockMeta {
    let dir = tempfile::tempdir().unwrap();
    let names = ["__name__", "job"].map(String::from).into();
    let meta = write_block(
        dir.path(),
        NewBlock {
            tenant: "team-a".into(),
            min_time: 0,
            max_time: 2 * H,
            resolution,
            compaction: Compaction {
                level: 1,
                sources: vec![],
                parents: vec![],
            },
            external_labels: BTreeMap::new(),
            source: "test".into(),
        },
        &names,
        series.into_iter().map(Ok),
        &BlockWriterOptions::default(),
    )
    .unwrap();
    upload_block(bucket, &local_block_dir(dir.path(), &meta.ulid), &meta)
        .await
        .unwrap();
    meta
}

fn raw(name: &str) -> BlockSeries {
    let points: Vec<(i64, f64)> = (0..120).map(|i| (i * 60_000, i as f64)).collect();
    BlockSeries {
        labels: Labels::from_pairs([("__name__", name), ("job", "node")]),
        chunks: vec![BlockChunk {
            min_time: 0,
            max_time: 119 * 60_000,
            data: ChunkData::Xor(xor(points)),
        }],
    }
}

fn downsampled(name: &str) -> BlockSeries {
    let mut a = AggrChunk::default();
    for t in AggrType::ALL {
        a.set(t, xor((0..24).map(|w| (w * 300_000 + 240_000, w as f64))));
    }
    BlockSeries {
        labels: Labels::from_pairs([("__name__", name), ("job", "node")]),
        chunks: vec![BlockChunk {
            min_time: 240_000,
            max_time: 23 * 300_000 + 240_000,
            data: ChunkData::Aggr(a),
        }],
    }
}

/// Serves `store` on an ephemeral port; returns a client for it.
async fn serve(store: Arc<BlockStore>) -> StoreClient {
    let service = StoreService::new(store, TenantId::new("anonymous").unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tonic::transport::Server::builder()
        .add_service(service.store_server())
        .add_service(service.info_server())
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);
    StoreClient::connect_lazy(&addr, Duration::from_secs(10)).unwrap()
}

fn all() -> SeriesQuery {
    SeriesQuery::new(
        vec![Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()],
        0,
        2 * H,
    )
}

#[tokio::test]
async fn raw_and_downsampled_blocks_over_grpc_with_info_and_metrics() {
    let bucket = Bucket::memory();
    put_block(&bucket, RESOLUTION_RAW, vec![raw("up")]).await;
    put_block(&bucket, RESOLUTION_5M, vec![downsampled("up")]).await;
    let mut registry = Registry::default();
    let store = Arc::new(BlockStore::new(
        bucket,
        &StoreConfig::default(),
        Some(&mut registry),
    ));
    store.sync().await.unwrap();
    let client = serve(store).await;
    let tenant = TenantId::new("team-a").unwrap();

    let info = client.info().await.unwrap();
    assert_eq!(info.component_type, "store");
    assert_eq!((info.min_time, info.max_time), (0, 2 * H - 1));

    // Raw data only by default.
    let (series, warnings) = client.series(&tenant, &all()).await.unwrap();
    assert!(warnings.is_empty());
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].chunks.len(), 1);
    assert!(!series[0].chunks[0].is_downsampled());
    let decoded = cairn_chunk::decode(&series[0].chunks[0].data).unwrap();
    assert_eq!(decoded.len(), 120);

    // With 5m allowed the downsampled block answers, with only the asked aggregate.
    let q = SeriesQuery {
        max_resolution_ms: RESOLUTION_5M,
        aggregates: vec![Aggregate::Counter],
        ..all()
    };
    let (series, _) = client.series(&tenant, &q).await.unwrap();
    let chunk = &series[0].chunks[0];
    let aggr = chunk.aggregates.as_ref().expect("a downsampled chunk");
    assert!(aggr.get(Aggregate::Counter).is_some());
    assert!(aggr.get(Aggregate::Count).is_none() && aggr.get(Aggregate::Sum).is_none());
    assert_eq!(
        cairn_chunk::decode(aggr.get(Aggregate::Counter).unwrap())
            .unwrap()
            .len(),
        24
    );

    let (names, _) = client.label_names(&tenant, &all()).await.unwrap();
    assert_eq!(names, ["__name__", "job"]);
    let (values, _) = client.label_values(&tenant, "job", &all()).await.unwrap();
    assert_eq!(values, ["node"]);
    // Another tenant sees nothing.
    let other = TenantId::new("team-b").unwrap();
    assert!(client.series(&other, &all()).await.unwrap().0.is_empty());

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for want in [
        "cairn_store_blocks_loaded 2",
        "cairn_store_series_returned_total 2",
        "cairn_store_cache_misses_total{cache=\"metadata\"}",
        "cairn_store_cache_bytes{cache=\"data\"}",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[tokio::test]
async fn a_block_in_a_real_s3_bucket_is_served_through_the_store_gateway() {
    let s3 = cairn_objstore::testing::S3Server::start();
    let config = s3.bucket("blocks");
    let bucket = Bucket::from_config(&config, std::path::Path::new("/nonexistent")).unwrap();
    let meta = put_block(
        &bucket,
        RESOLUTION_RAW,
        vec![raw("node_cpu_seconds_total"), raw("up")],
    )
    .await;
    let store = Arc::new(BlockStore::new(bucket, &StoreConfig::default(), None));
    let report = store.sync().await.unwrap();
    assert_eq!(report.blocks, 1);
    let client = serve(store.clone()).await;
    let tenant = TenantId::new("team-a").unwrap();
    let q = SeriesQuery::new(vec![Matcher::equal("__name__", "up")], H, 2 * H);
    let (series, _) = client.series(&tenant, &q).await.unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].labels.metric_name(), Some("up"));
    let samples = cairn_chunk::decode(&series[0].chunks[0].data).unwrap();
    assert_eq!(samples.len(), 120);
    assert_eq!(samples[119].v, 119.0);
    // Reads went through byte ranges into the caches.
    assert!(store.caches().usage().data_bytes > 0);

    // The block is deleted from S3: the next sync drops it.
    let objects = Bucket::from_config(&config, std::path::Path::new("/nonexistent")).unwrap();
    for o in objects.list(&meta.dir()).await.unwrap() {
        objects.delete(&o.path).await.unwrap();
    }
    assert_eq!(store.sync().await.unwrap().removed, 1);
    assert!(client.series(&tenant, &q).await.unwrap().0.is_empty());
}
