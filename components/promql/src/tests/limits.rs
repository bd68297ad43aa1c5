//! Samples limit, timeouts, queueing and storage errors.

use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::{
    Engine, EngineOptions, InMemoryStorage, QueryError, QueryOptions, SelectRequest, SelectResult,
    Storage, StorageError, Value,
};

#[tokio::test]
async fn max_samples_limit() {
    let st = storage(15 * S, &[("m", "0+1x100")]);
    let eng = Engine::new(EngineOptions {
        max_samples: 10,
        ..EngineOptions::default()
    });
    let e = eng
        .instant_query(
            &st,
            "sum_over_time(m[10m])",
            10 * M,
            &QueryOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e, QueryError::TooManySamples);
    assert_eq!(e.error_type(), "execution");
    assert_eq!(
        e.to_string(),
        "query processing would load too many samples into memory in query execution"
    );
    // Small queries still work.
    let r = eng
        .instant_query(&st, "m", 10 * M, &QueryOptions::default())
        .await
        .unwrap();
    assert!(matches!(r.value, Value::Vector(v) if v.len() == 1));
    let e = eng
        .range_query(&st, "m", 0, 20 * M, M, &QueryOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e, QueryError::TooManySamples);
}

#[derive(Debug)]
struct SlowStorage(Duration);

#[async_trait]
impl Storage for SlowStorage {
    async fn select(&self, _req: &SelectRequest) -> Result<SelectResult, StorageError> {
        tokio::time::sleep(self.0).await;
        Ok(SelectResult::default())
    }
}

#[derive(Debug)]
struct FailingStorage;

#[async_trait]
impl Storage for FailingStorage {
    async fn select(&self, _req: &SelectRequest) -> Result<SelectResult, StorageError> {
        Err(StorageError::retryable("store unreachable"))
    }
}

#[tokio::test]
async fn timeout_and_queueing() {
    let eng = Engine::new(EngineOptions {
        timeout: Duration::from_millis(100),
        max_concurrent: 1,
        ..EngineOptions::default()
    });
    let slow = SlowStorage(Duration::from_secs(5));
    let e = eng
        .instant_query(&slow, "m", 0, &QueryOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e, QueryError::Timeout("expression evaluation"));
    assert_eq!((e.error_type(), e.http_status()), ("timeout", 503));
    // With the only slot busy, a query with a shorter timeout times out in the queue,
    // and one with a long timeout waits for the slot.
    let slow2 = SlowStorage(Duration::from_millis(80));
    let fast = InMemoryStorage::new();
    let qo = QueryOptions::default();
    let short = Engine {
        opts: EngineOptions {
            timeout: Duration::from_millis(20),
            ..eng.opts.clone()
        },
        slots: eng.slots.clone(),
    };
    let long = Engine {
        opts: EngineOptions {
            timeout: Duration::from_secs(5),
            ..eng.opts.clone()
        },
        slots: eng.slots.clone(),
    };
    let started = std::time::Instant::now();
    let (a, b, c) = tokio::join!(
        eng.instant_query(&slow2, "m", 0, &qo),
        async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            short.instant_query(&fast, "m", 0, &qo).await
        },
        async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            long.instant_query(&fast, "m", 0, &qo).await
        }
    );
    assert!(a.is_ok());
    assert_eq!(b.unwrap_err(), QueryError::Timeout("query queue"));
    assert!(c.is_ok());
    assert!(started.elapsed() >= Duration::from_millis(80));
}

#[tokio::test]
async fn storage_errors_are_passed_on() {
    let e = instant(&FailingStorage, "m", 0).await.unwrap_err();
    assert_eq!(e.error_type(), "unavailable");
    assert_eq!(e.http_status(), 503);
    assert_eq!(e.to_string(), "store unreachable");
    // Literals need no storage.
    assert!(instant(&FailingStorage, "1", 0).await.is_ok());
}

#[tokio::test]
async fn extreme_offsets_and_ranges_do_not_panic() {
    let st = storage(M, &[("m", "1 2 3")]);
    for q in [
        "m offset 100000000y",
        "m offset -100000000y",
        "rate(m[100000000y])",
        "m @ 100000000000",
        "max_over_time(m[1y:1y])",
    ] {
        let r = instant(&st, q, M).await;
        assert!(r.is_ok(), "{q}: {r:?}");
    }
    // A subquery with more steps than max_samples is refused instead of allocating.
    let e = exec_err(&st, "max_over_time(m[100y:1ms])", M).await;
    assert_eq!(e, QueryError::TooManySamples);
}

/// 100 counters × 241 samples (1 h at 15 s): 24,100 samples when decoded all at once.
fn hundred_counters() -> InMemoryStorage {
    let mut st = InMemoryStorage::new();
    for i in 0..100 {
        st.add(
            Labels::from_pairs([
                ("__name__", "c_total".to_string()),
                ("job", format!("j{}", i % 2)),
                ("i", i.to_string()),
            ]),
            (0..241).map(|s| Sample::new(s * 15 * S, (s * (i + 1)) as f64)),
        );
    }
    st
}

#[tokio::test]
async fn streamed_evaluation_holds_one_series_at_a_time() {
    let st = hundred_counters();
    let eng = Engine::new(EngineOptions {
        max_samples: 2_000,
        ..EngineOptions::default()
    });
    let opts = QueryOptions::default();
    // Decoded whole, the selector's matrix (24,100 samples) and rate's output (100 × 61)
    // would each exceed the limit; streamed, the aggregation holds one series' samples
    // (241) plus its own state and output (2 groups × 61 steps).
    let r = eng
        .range_query(&st, "sum by (job) (rate(c_total[5m]))", 0, 60 * M, M, &opts)
        .await
        .unwrap();
    let Value::Matrix(m) = r.value else {
        panic!("{:?}", r.value)
    };
    assert_eq!(m.len(), 2);
    // Every counter grows by i+1 per 15 s: job j0 holds i = 0, 2, ..., 98, whose rates
    // sum to (1 + 3 + ... + 99) / 15 = 2500 / 15 per second.
    assert!(m[0]
        .samples
        .iter()
        .skip(5)
        .all(|s| (s.v - 2500.0 / 15.0).abs() < 1e-9));
    let r = eng
        .instant_query(&st, "count(c_total)", 60 * M, &opts)
        .await
        .unwrap();
    assert!(matches!(&r.value, Value::Vector(v) if v[0].v == 100.0));

    // Queries that really hold too much still fail: rate's 6,100 output points...
    let e = eng
        .range_query(&st, "rate(c_total[5m])", 0, 60 * M, M, &opts)
        .await
        .unwrap_err();
    assert_eq!(e, QueryError::TooManySamples);
    // ... a whole range vector returned as the result...
    let e = eng
        .instant_query(&st, "c_total[1h]", 60 * M, &opts)
        .await
        .unwrap_err();
    assert_eq!(e, QueryError::TooManySamples);
    // ... and one series whose decoded samples alone exceed the limit.
    let tight = Engine::new(EngineOptions {
        max_samples: 200,
        ..EngineOptions::default()
    });
    let e = tight
        .range_query(&st, "sum(rate(c_total[5m]))", 0, 60 * M, M, &opts)
        .await
        .unwrap_err();
    assert_eq!(e, QueryError::TooManySamples);
}

/// Serves [`InMemoryStorage`]'s data as XOR chunks of at most 120 samples, optionally
/// twice over with overlapping chunks (like two replicas), as the querier's store
/// fan-out does.
#[derive(Debug)]
struct ChunkedStorage {
    inner: InMemoryStorage,
    replicas: bool,
}

#[async_trait]
impl Storage for ChunkedStorage {
    async fn select(&self, req: &SelectRequest) -> Result<SelectResult, StorageError> {
        let mut res = self.inner.select(req).await?;
        for s in &mut res.series {
            let mut samples = Vec::new();
            s.decode_into(i64::MIN, i64::MAX, &mut samples)?;
            let encode = |part: &[Sample]| {
                let mut c = cairn_chunk::XorChunk::new();
                for p in part {
                    c.append(p.t, p.v);
                }
                crate::EncodedChunk {
                    min_time: part[0].t,
                    max_time: part[part.len() - 1].t,
                    data: c.into_bytes(),
                }
            };
            let mut chunks: Vec<_> = samples.chunks(120).map(encode).collect();
            if self.replicas {
                chunks.extend(samples.chunks(50).map(encode));
                chunks.sort_by_key(|c| (c.min_time, c.max_time));
            }
            s.data = crate::SeriesData::Xor(chunks);
        }
        Ok(res)
    }
}

#[tokio::test]
async fn encoded_chunks_evaluate_like_decoded_samples() {
    let st = hundred_counters();
    let eng = Engine::new(EngineOptions::default());
    let opts = QueryOptions::default();
    for replicas in [false, true] {
        let chunked = ChunkedStorage {
            inner: st.clone(),
            replicas,
        };
        for q in [
            "c_total",
            "rate(c_total[5m])",
            "sum by (job) (rate(c_total[5m]))",
            "max_over_time(c_total[10m] offset 5m)",
            "c_total @ 600",
        ] {
            let want = eng.range_query(&st, q, 0, 60 * M, M, &opts).await.unwrap();
            let got = eng
                .range_query(&chunked, q, 0, 60 * M, M, &opts)
                .await
                .unwrap();
            assert_eq!(got, want, "{q} (replicas: {replicas})");
        }
    }
}
