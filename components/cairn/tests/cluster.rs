//! A whole cluster as real processes on loopback: 3 meta nodes (Raft), 3 ingesters on
//! the ring at RF=3, 2 receivers, a store gateway and a querier, all sharing one
//! filesystem bucket. Under steady remote-write load through both receivers:
//!
//! (a) kill -9 an ingester: writes keep succeeding; after it restarts it replays its
//!     WAL and rejoins with the same tokens;
//! (b) kill -9 the meta leader: writes and queries go on, a new leader is elected;
//! (c) add a fourth ingester, then remove one gracefully (`POST /ingester/shutdown`:
//!     flush to the bucket, leave the ring, exit);
//! (d) kill a second meta node, so meta has no quorum: writes and queries go on with
//!     the last ring, longer than the heartbeat timeout.
//!
//! Afterwards every acknowledged sample is answered by the querier, exactly once.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const SERIES: usize = 24;

struct Cluster {
    dir: tempfile::TempDir,
    config: String,
    meta: Vec<Option<Cairn>>,
    meta_ports: Vec<(u16, u16)>,
    endpoints: String,
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("cluster.yaml");
        std::fs::write(
            &config,
            format!(
                "bucket:\n  backend: filesystem\n  filesystem:\n    dir: {}\n\
                 ring:\n  heartbeat_interval: 1s\n\
                 receive:\n  heartbeat_timeout: 10s\n  replication_factor: 3\n\
                 store:\n  sync_interval: 1s\n\
                 meta:\n  election_timeout: 1s\n  heartbeat_interval: 200ms\n",
                dir.path().join("bucket").display()
            ),
        )
        .unwrap();
        let config = config.to_str().unwrap().to_owned();
        let meta_ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let peers = meta_ports
            .iter()
            .enumerate()
            .map(|(i, (_, g))| format!("{}=127.0.0.1:{g}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let endpoints = meta_ports
            .iter()
            .map(|(_, g)| format!("127.0.0.1:{g}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = Self {
            dir,
            config,
            meta: Vec::new(),
            meta_ports: meta_ports.clone(),
            endpoints,
        };
        for (i, ports) in meta_ports.into_iter().enumerate() {
            let id = (i + 1).to_string();
            let m = start_role_on(
                "meta",
                c.dir.path(),
                &c.dir.path().join(format!("meta-{id}")),
                ports,
                &[
                    "--config.file",
                    &c.config,
                    "--meta.node-id",
                    &id,
                    "--meta.peers",
                    &peers,
                ],
            );
            c.meta.push(Some(m));
        }
        c
    }

    fn ingester(&self, n: usize, ports: (u16, u16)) -> Cairn {
        let id = format!("ing-{n}");
        start_role_on(
            "ingest",
            self.dir.path(),
            &self.dir.path().join(&id),
            ports,
            &[
                "--config.file",
                &self.config,
                "--ring.endpoints",
                &self.endpoints,
                "--ingest.id",
                &id,
                "--ingest.advertise-addr",
                &format!("127.0.0.1:{}", ports.1),
            ],
        )
    }

    fn role(&self, role: &str, name: &str, extra: &[&str]) -> Cairn {
        let mut args = vec![
            "--config.file",
            &self.config,
            "--ring.endpoints",
            &self.endpoints,
        ];
        args.extend_from_slice(extra);
        start_role(role, self.dir.path(), &self.dir.path().join(name), &args)
    }

    /// Raft status from the meta node on `grpc` (leader id, via `cairn tools meta`).
    fn leader_seen_by(&self, grpc: u16) -> Option<u64> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["tools", "meta", "status", "--ring.endpoints"])
            .arg(format!("127.0.0.1:{grpc}"))
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let leader = text.split('\t').find_map(|f| f.strip_prefix("leader "))?;
        leader.trim().parse().ok().filter(|l| *l != 0)
    }

    fn ring(&self) -> String {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["tools", "meta", "ring", "--ring.endpoints", &self.endpoints])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// `ID -> (STATE, TOKENS)` from `cairn tools meta ring`.
fn ring_table(text: &str) -> BTreeMap<String, (String, String)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 5).then(|| (f[0].to_owned(), (f[3].to_owned(), f[4].to_owned())))
        })
        .collect()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// Writes round after round (value k at base + k s for every series), alternating
/// receivers, and records which rounds were acknowledged.
struct Load {
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicUsize>,
    acked: Arc<Mutex<Vec<(usize, u16, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(urls: Vec<String>, base: i64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicUsize::new(0));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let (stop, rounds, acked) = (stop.clone(), rounds.clone(), acked.clone());
            tokio::spawn(async move {
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) {
                    let ts = base + k as i64 * 1000;
                    let body = write_body(
                        (0..SERIES)
                            .map(|s| {
                                series(
                                    &[("__name__", "cluster_load"), ("series", &s.to_string())],
                                    &[(ts, k as f64)],
                                )
                            })
                            .collect(),
                    );
                    let (status, text) = remote_write(&urls[k % urls.len()], body, None).await;
                    acked.lock().unwrap().push((k, status, text));
                    k += 1;
                    rounds.store(k, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };
        Self {
            stop,
            rounds,
            acked,
            task,
        }
    }

    async fn wait_rounds(&self, more: usize) {
        let target = self.rounds.load(Ordering::Relaxed) + more;
        while self.rounds.load(Ordering::Relaxed) < target {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Failed rounds since `from`.
    fn failures_since(&self, from: usize) -> Vec<(usize, u16, String)> {
        self.acked
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, s, _)| *k >= from && !(200..300).contains(s))
            .cloned()
            .collect()
    }
}

async fn query_all(query: &Cairn, base: i64, rounds: usize) -> BTreeMap<String, Vec<(i64, f64)>> {
    let (status, body) = get_json(
        &query.url("/api/v1/query_range"),
        &[
            ("query", "cluster_load".to_owned()),
            ("start", format!("{}", base as f64 / 1000.0)),
            (
                "end",
                format!("{}", (base + rounds as i64 * 1000) as f64 / 1000.0),
            ),
            ("step", "1".to_owned()),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut out = BTreeMap::new();
    for s in body["data"]["result"].as_array().unwrap() {
        let id = s["metric"]["series"].as_str().unwrap().to_owned();
        let points = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                let v: f64 = p[1].as_str().unwrap().parse().unwrap();
                (t, v)
            })
            .collect();
        out.insert(id, points);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingester_crash_meta_leader_loss_and_scaling_lose_no_acknowledged_sample() {
    let mut cluster = Cluster::start();
    let ports: Vec<(u16, u16)> = (0..4).map(|_| (free_port(), free_port())).collect();
    let mut ings: Vec<Option<Cairn>> = (1..=3)
        .map(|n| Some(cluster.ingester(n, ports[n - 1])))
        .collect();
    let bucket_store = cluster.role("store", "store", &[]);
    let store_addr = format!("127.0.0.1:{}", bucket_store.grpc);
    let receivers = [
        cluster.role("receive", "recv-1", &[]),
        cluster.role("receive", "recv-2", &[]),
    ];
    let query = cluster.role("query", "query", &["--query.stores", &store_addr]);
    let table = ring_table(&cluster.ring());
    assert_eq!(table.len(), 3, "{table:?}");
    assert!(
        table.values().all(|(s, t)| s == "Active" && t == "128"),
        "{table:?}"
    );
    let tokens_before = cluster.ring();

    // Samples start well inside the receivers' age window and end before "now".
    let base = now_ms() - 600_000;
    let load = Load::start(
        receivers.iter().map(|r| r.url("/api/v1/write")).collect(),
        base,
    );
    load.wait_rounds(20).await;

    // (a) kill -9 an ingester under load.
    let from = load.rounds.load(Ordering::Relaxed);
    ings[1].take().unwrap().proc.kill9();
    load.wait_rounds(30).await;
    let failed = load.failures_since(from);
    assert!(
        failed.is_empty(),
        "writes failed after the ingester died: {failed:?}"
    );
    // With RF=3 the other two hold a copy of everything acknowledged: a query loses
    // nothing, so it is no partial response, not even with partial responses off.
    let (status, body) = get_json(
        &query.url("/api/v1/query"),
        &[
            ("query", "count(cluster_load)".to_owned()),
            ("partial_response", "false".to_owned()),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("warnings").is_none(), "{body}");
    // It restarts, replays its WAL and rejoins with the same tokens.
    ings[1] = Some(cluster.ingester(2, ports[1]));
    let ing2_log = ings[1].as_ref().unwrap().proc.log_text();
    assert!(ing2_log.contains("wal replay finished"), "{ing2_log}");
    let after = cluster.ring();
    let same_tokens = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("ing-2\t"))
            .map(|l| l.split('\t').nth(4).unwrap_or("").to_owned())
    };
    assert_eq!(same_tokens(&after), same_tokens(&tokens_before));
    wait_until("ing-2 ACTIVE again", Duration::from_secs(20), || {
        ring_table(&cluster.ring())["ing-2"].0 == "Active"
    });

    // (b) kill -9 the meta leader.
    let leader = cluster
        .leader_seen_by(cluster.meta_ports[0].1)
        .expect("a meta leader");
    let from = load.rounds.load(Ordering::Relaxed);
    cluster.meta[leader as usize - 1]
        .take()
        .unwrap()
        .proc
        .kill9();
    let other = cluster
        .meta_ports
        .iter()
        .enumerate()
        .find(|(i, _)| *i + 1 != leader as usize)
        .map(|(_, p)| p.1)
        .unwrap();
    wait_until("a new meta leader", Duration::from_secs(30), || {
        cluster.leader_seen_by(other).is_some_and(|l| l != leader)
    });
    load.wait_rounds(30).await;
    let failed = load.failures_since(from);
    assert!(
        failed.is_empty(),
        "writes failed while meta lost its leader: {failed:?}"
    );
    let (status, body) = get_json(
        &query.url("/api/v1/query"),
        &[("query", "count(cluster_load)".to_owned())],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // (c) scale out to four ingesters, then one leaves gracefully.
    let from = load.rounds.load(Ordering::Relaxed);
    ings.push(Some(cluster.ingester(4, ports[3])));
    wait_until("ing-4 ACTIVE", Duration::from_secs(20), || {
        ring_table(&cluster.ring())
            .get("ing-4")
            .is_some_and(|(s, _)| s == "Active")
    });
    load.wait_rounds(20).await;
    let leaving = ings[0].as_ref().unwrap();
    let resp = http()
        .post(leaving.url("/ingester/shutdown"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let mut leaving = ings[0].take().unwrap();
    let exited = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = leaving.proc.child.try_wait() {
                return (status.success(), leaving.proc.log_text());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        (false, leaving.proc.log_text())
    })
    .await
    .unwrap();
    assert!(
        exited.0,
        "the leaving ingester did not exit cleanly:\n{}",
        exited.1
    );
    assert!(exited.1.contains("left the ring"), "{}", exited.1);
    let table = ring_table(&cluster.ring());
    assert!(!table.contains_key("ing-1"), "{table:?}");
    load.wait_rounds(20).await;
    let failed = load.failures_since(from);
    assert!(failed.is_empty(), "writes failed while scaling: {failed:?}");

    // Meta without quorum: one of the two remaining meta nodes goes too. Receivers and
    // the querier keep working on the last ring, also after every heartbeat in it is
    // older than receive.heartbeat_timeout (10s here).
    let from = load.rounds.load(Ordering::Relaxed);
    let victim = cluster.meta.iter().position(|m| m.is_some()).unwrap();
    cluster.meta[victim].take().unwrap().proc.kill9();
    tokio::time::sleep(Duration::from_secs(12)).await;
    load.wait_rounds(20).await;
    let failed = load.failures_since(from);
    assert!(
        failed.is_empty(),
        "writes failed while meta had no quorum: {failed:?}"
    );

    // Stop the load; every acknowledged round is answered exactly once.
    load.stop.store(true, Ordering::Relaxed);
    load.task.await.unwrap();
    let acked: Vec<usize> = load
        .acked
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, s, _)| (200..300).contains(s))
        .map(|(k, _, _)| *k)
        .collect();
    let rounds = load.rounds.load(Ordering::Relaxed);
    assert!(
        acked.len() > 100,
        "only {} rounds acknowledged",
        acked.len()
    );
    let got = query_all(&query, base, rounds).await;
    assert_eq!(
        got.len(),
        SERIES,
        "series: {:?}",
        got.keys().collect::<Vec<_>>()
    );
    for (id, points) in &got {
        let by_ts: BTreeMap<i64, f64> = points.iter().copied().collect();
        for k in &acked {
            let ts = base + *k as i64 * 1000;
            // A range query with step 1s evaluates at every second; each evaluation
            // sees the newest sample at or before it, so the point at ts is value k.
            assert_eq!(
                by_ts.get(&ts),
                Some(&(*k as f64)),
                "series {id}: acknowledged round {k} missing or wrong"
            );
        }
    }
    let raw = get_json(
        &query.url("/api/v1/query"),
        &[
            (
                "query",
                format!("count_over_time(cluster_load[{}s])", rounds + 5),
            ),
            (
                "time",
                format!("{}", (base + rounds as i64 * 1000) as f64 / 1000.0),
            ),
        ],
        None,
    )
    .await;
    for s in raw.1["data"]["result"].as_array().unwrap() {
        let n: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
        assert_eq!(n as usize, rounds, "samples counted once per round: {s}");
    }
}
