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
