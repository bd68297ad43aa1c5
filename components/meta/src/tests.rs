//! A meta group of real nodes on loopback gRPC ports, in one process.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cairn_ring::{MemberState, RingSource};
use tokio::sync::oneshot;

use crate::{MetaClient, MetaConfig, MetaNode, MetaRing};

struct Running {
    node: Arc<MetaNode>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn kill(mut self) {
        self.node.shutdown().await;
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.server.await;
    }
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn config(id: u64, peers: &[String]) -> MetaConfig {
    MetaConfig {
        node_id: id,
        peers: peers.to_vec(),
        election_timeout: Duration::from_millis(600),
        heartbeat_interval: Duration::from_millis(100),
        snapshot_every: 20,
        ..MetaConfig::default()
    }
}

async fn start(id: u64, addr: SocketAddr, peers: &[String], dir: &Path) -> Running {
    let node = MetaNode::start(&config(id, peers), addr.to_string(), dir, None)
        .await
        .unwrap();
    let (meta, raft) = node.services();
    let (tx, rx) = oneshot::channel::<()>();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let server = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(meta)
            .add_service(raft)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async {
                    let _ = rx.await;
                },
            )
            .await;
    });
    node.bootstrap(peers).await.unwrap();
    Running {
        node,
        stop: Some(tx),
        server,
    }
}

async fn eventually<F, Fut>(what: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_survive_the_leader_and_restart_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let addrs: Vec<SocketAddr> = (0..3).map(|_| free_addr()).collect();
    let peers: Vec<String> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect();
    let mut nodes = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        nodes.push(Some(
            start(i as u64 + 1, *a, &peers, &dir.path().join(format!("n{i}"))).await,
        ));
    }
    let endpoints: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    let client = MetaClient::new(&endpoints, Duration::from_secs(2)).unwrap();
    nodes[0]
        .as_ref()
        .unwrap()
        .node
        .wait_for_leader(Duration::from_secs(10))
        .await
        .unwrap();

    // Writes through any node; tokens are stable across re-registration.
    let tokens = client
        .register("ing-1", "10.0.0.1:9095", "", 16)
        .await
        .unwrap();
    assert_eq!(tokens.len(), 16);
    client
        .set_state("ing-1", MemberState::Active)
        .await
        .unwrap();
    client
        .register("ing-2", "10.0.0.2:9095", "", 16)
        .await
        .unwrap();
    assert!(client.heartbeat("ing-2").await.unwrap());
    assert!(!client.heartbeat("nobody").await.unwrap());
    let zoned = client
        .register("ing-3", "10.0.0.3:9095", "zone-a", 16)
        .await;
    assert!(
        matches!(zoned, Err(crate::MetaError::InvalidRequest(ref m)) if m.contains("zone")),
        "{zoned:?}"
    );
    let ring = client.get_ring(true).await.unwrap();
    assert_eq!(ring.len(), 2);
    assert_eq!(ring.member("ing-1").unwrap().state, MemberState::Active);
    assert_eq!(ring.member("ing-2").unwrap().state, MemberState::Joining);

    // Every node applies the same ring; watchers see it.
    let watched = MetaRing::start(client.clone(), None);
    assert!(watched.wait_received(Duration::from_secs(5)).await);
    eventually("watchers to see both members", || {
        let w = watched.current();
        async move { w.len() == 2 }
    })
    .await;
    for n in nodes.iter().flatten() {
        let node = n.node.clone();
        eventually("every node to apply the ring", move || {
            let node = node.clone();
            async move { node.ring().data.members.len() == 2 }
        })
        .await;
    }

    // Enough changes for snapshots and log purges on every node.
    for _ in 0..50 {
        client.heartbeat("ing-1").await.unwrap();
    }

    // Kill the leader: the others elect a new one and keep taking writes.
    let status = client.status().await.unwrap();
    let leader = status.leader_id as usize;
    assert!((1..=3).contains(&leader), "{status:?}");
    nodes[leader - 1].take().unwrap().kill().await;
    let survivor = nodes.iter().flatten().next().unwrap().node.clone();
    eventually("a new leader", || {
        let survivor = survivor.clone();
        async move {
            matches!(survivor.wait_for_leader(Duration::from_millis(100)).await, Ok(l) if l as usize != leader)
        }
    })
    .await;
    client
        .register("ing-4", "10.0.0.4:9095", "", 16)
        .await
        .unwrap();
    client.remove("ing-2").await.unwrap();
    let ring = client.get_ring(true).await.unwrap();
    let ids: Vec<&str> = ring.members().iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["ing-1", "ing-4"]);

    // The killed node comes back from its own disk and catches up.
    let back = start(
        leader as u64,
        addrs[leader - 1],
        &peers,
        &dir.path().join(format!("n{}", leader - 1)),
    )
    .await;
    let node = back.node.clone();
    eventually("the restarted node to catch up", move || {
        let node = node.clone();
        async move {
            let ids: Vec<String> = node.ring().data.members.keys().cloned().collect();
            ids == ["ing-1", "ing-4"]
        }
    })
    .await;
    assert_eq!(
        client
            .register("ing-1", "10.0.0.9:9095", "", 16)
            .await
            .unwrap(),
        tokens,
        "a re-registered member keeps its tokens"
    );

    // With every meta node gone, watchers keep the last ring (once it has arrived).
    eventually("watchers to see the re-registration", || {
        let w = watched.current();
        async move { w.member("ing-1").is_some_and(|m| m.addr == "10.0.0.9:9095") }
    })
    .await;
    let last = watched.current();
    back.kill().await;
    for n in nodes.into_iter().flatten() {
        n.kill().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(watched.current(), last);
    assert!(!last.is_empty());
    assert!(client.get_ring(false).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_group_restarts_with_its_ring_and_adds_a_voter() {
    let dir = tempfile::tempdir().unwrap();
    let a1 = free_addr();
    let n1 = start(1, a1, &[], &dir.path().join("n1")).await;
    n1.node
        .wait_for_leader(Duration::from_secs(10))
        .await
        .unwrap();
    let client = MetaClient::new(&[a1.to_string()], Duration::from_secs(2)).unwrap();
    client.register("ing", "h:1", "", 8).await.unwrap();
    n1.kill().await;

    let n1 = start(1, a1, &[], &dir.path().join("n1")).await;
    n1.node
        .wait_for_leader(Duration::from_secs(10))
        .await
        .unwrap();
    let ring = client.get_ring(true).await.unwrap();
    assert_eq!(ring.member("ing").unwrap().tokens.len(), 8);

    // A second node joins as a voter; the ring reaches it.
    let a2 = free_addr();
    let n2 = start(
        2,
        a2,
        &[format!("1={a1}"), format!("2={a2}")],
        &dir.path().join("n2"),
    )
    .await;
    client.add_node(2, &a2.to_string()).await.unwrap();
    let status = client.status().await.unwrap();
    assert_eq!(
        status.voters.iter().map(|v| v.id).collect::<Vec<_>>(),
        [1, 2]
    );
    let node2 = n2.node.clone();
    eventually("node 2 to receive the ring", move || {
        let node2 = node2.clone();
        async move { node2.ring().data.members.contains_key("ing") }
    })
    .await;
    assert!(matches!(
        client.remove_node(7).await,
        Err(crate::MetaError::InvalidRequest(_))
    ));
    client.remove_node(2).await.unwrap();
    n2.kill().await;
    client.register("other", "h:2", "", 8).await.unwrap();
    n1.kill().await;
}
