//! The docker-compose cluster, run for real in Docker: `docker-compose.yml` with the
//! `docker-compose.local.yml` override, on images built from this test's own `cairn`
//! binary by `scripts/build-local-images.sh` (no registry is needed): 3 meta voters
//! keeping the ring, 3 ingesters registered in it, 2 receivers at RF=3, a querier, a
//! store gateway and a compactor over an s3s-fs bucket. Samples go in through both
//! receivers and come back through the querier; then one ingester container gets
//! SIGKILL (`docker kill`), writes keep being acknowledged, and every acknowledged
//! sample is still answered exactly once. The compose project is torn down
//! (`down -v`) however the test ends.
//!
//! Skipped, with a message, only when no Docker daemon answers.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SERIES: usize = 20;
/// Rounds written before the kill (alternating receivers), and after it.
const ROUNDS_BEFORE: usize = 10;
const ROUNDS_AFTER: usize = 10;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs a command to completion within `limit`, killing it past that.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    // Drain the pipes on threads so a chatty command cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut b);
        b
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn docker_daemon_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `docker compose` (v2) where it exists, else Debian's `docker-compose` (v1).
fn compose_command() -> Vec<String> {
    let works = |prog: &str, args: &[&str]| {
        Command::new(prog)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works("docker", &["compose", "version"]) {
        vec!["docker".into(), "compose".into()]
    } else if works("docker-compose", &["version"]) {
        vec!["docker-compose".into()]
    } else {
        panic!("neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)");
    }
}

/// One compose project; `down -v` when dropped, with the logs printed first when the
/// test is failing.
struct Project {
    cmd: Vec<String>,
    name: String,
    env: Vec<(String, String)>,
}

impl Project {
    fn command(&self, args: &[&str]) -> Command {
        let root = repo_root();
        let mut c = Command::new(&self.cmd[0]);
        c.args(&self.cmd[1..])
            .arg("-f")
            .arg(root.join("docker-compose.yml"))
            .arg("-f")
            .arg(root.join("docker-compose.local.yml"))
            .args(["-p", &self.name])
            .args(args)
            .current_dir(&root)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    fn run(&self, args: &[&str], limit: Duration) -> Output {
        let out = run(&mut self.command(args), limit);
        assert!(
            out.status.success(),
            "compose {args:?} failed:\n{}\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr),
            self.logs()
        );
        out
    }

    fn logs(&self) -> String {
        let out = run(
            &mut self.command(&["logs", "--no-color", "--tail", "40"]),
            Duration::from_secs(60),
        );
        text(&out.stdout)
    }

    fn container(&self, service: &str) -> String {
        let out = self.run(&["ps", "-q", service], Duration::from_secs(60));
        let id = text(&out.stdout).trim().to_owned();
        assert!(!id.is_empty(), "no container for {service}");
        id
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- logs of compose project {} ---\n{}",
                self.name,
                self.logs()
            );
        }
        let out = run(
            &mut self.command(&["down", "-v", "--remove-orphans", "-t", "10"]),
            Duration::from_secs(180),
        );
        if !out.status.success() {
            eprintln!(
                "compose down of {} failed:\n{}",
                self.name,
                text(&out.stderr)
            );
        }
    }
}

fn running(container: &str) -> bool {
    let out = run(
        Command::new("docker").args(["inspect", "-f", "{{.State.Running}}", container]),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "docker inspect: {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim() == "true"
}

/// Polls `/-/ready` on a published port until 200.
fn wait_ready_port(name: &str, port: u16, project: &Project) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if http_status(port, "/-/ready") == Some(200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "{name} never became ready on 127.0.0.1:{port}\n{}",
        project.logs()
    );
}

/// `cairn_ring_members{state="ACTIVE"}` of the role on `port`.
async fn ring_active(port: u16) -> Option<f64> {
    let text = http()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with("cairn_ring_members{") && l.contains("state=\"ACTIVE\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Waits until the role on `port` sees `want` ACTIVE ingesters in the ring.
async fn wait_ring_active(name: &str, port: u16, want: usize, project: &Project) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = None;
    while Instant::now() < deadline {
        seen = ring_active(port).await;
        if seen == Some(want as f64) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "{name} saw {seen:?} ACTIVE ingesters, not {want}\n{}",
        project.logs()
    );
}

/// Round `k` writes value `k` at `base + k` seconds to every series.
fn round_body(base: i64, k: usize) -> Vec<u8> {
    let t = base + k as i64 * 1_000;
    write_body(
        (0..SERIES)
            .map(|i| {
                series(
                    &[("__name__", "compose_load"), ("id", &i.to_string())],
                    &[(t, k as f64)],
                )
            })
            .collect(),
    )
}

/// Per series id: (number of samples, sum of their values) over `rounds` rounds, as the
/// querier answers them; every series must be present.
async fn per_series(query_port: u16, base: i64, rounds: usize) -> Vec<(f64, f64)> {
    let at = format!(
        "{:.3}",
        (base + (rounds as i64 - 1) * 1_000) as f64 / 1000.0
    );
    let window = format!("[{}s]", rounds + 30);
    let url = format!("http://127.0.0.1:{query_port}/api/v1/query");
    let mut out = vec![(f64::NAN, f64::NAN); SERIES];
    for (fun, slot) in [("count_over_time", 0), ("sum_over_time", 1)] {
        let (status, body) = get_json(
            &url,
            &[
                ("query", format!("{fun}(compose_load{window})")),
                ("time", at.clone()),
            ],
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let result = body["data"]["result"].as_array().unwrap();
        assert_eq!(result.len(), SERIES, "{fun}: {body}");
        for r in result {
            let id: usize = r["metric"]["id"].as_str().unwrap().parse().unwrap();
            let v: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
            if slot == 0 {
                out[id].0 = v;
            } else {
                out[id].1 = v;
            }
        }
    }
    out
}

fn assert_all_rounds(got: &[(f64, f64)], rounds: usize, when: &str) {
    let want_sum = (0..rounds).sum::<usize>() as f64;
    for (id, &(count, sum)) in got.iter().enumerate() {
        assert_eq!(
            (count, sum),
            (rounds as f64, want_sum),
            "{when}: series id={id} should have {rounds} samples once each"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_cluster_keeps_every_acknowledged_sample_when_an_ingester_is_killed() {
    if !docker_daemon_answers() {
        eprintln!(
            "SKIPPED: no Docker daemon answers `docker info`; the compose cluster test needs one"
        );
        return;
    }
    let started = Instant::now();
    let build = run(
        Command::new("bash")
            .arg(repo_root().join("scripts/build-local-images.sh"))
            .arg(env!("CARGO_BIN_EXE_cairn")),
        Duration::from_secs(300),
    );
    assert!(
        build.status.success(),
        "building the local images failed:\n{}",
        text(&build.stderr)
    );
    eprintln!("images ready after {:?}", started.elapsed());

    let (recv1, recv2, query) = (free_port(), free_port(), free_port());
    let name = format!(
        "cairntest{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let env = [
        ("CAIRN_PUBLISH_ADDR", "127.0.0.1".to_owned()),
        ("CAIRN_RECEIVER_1_PORT", recv1.to_string()),
        ("CAIRN_RECEIVER_2_PORT", recv2.to_string()),
        ("CAIRN_QUERIER_PORT", query.to_string()),
        ("CAIRN_S3_PORT", free_port().to_string()),
        ("CAIRN_S3_CONSOLE_PORT", free_port().to_string()),
        ("CAIRN_LOG_LEVEL", "info".to_owned()),
    ];
    let project = Project {
        cmd: compose_command(),
        name,
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    };
    // The base file alone (what users run, with images from a registry) must be valid
    // too, with Prometheus and Grafana in it and without a profile.
    let base = run(
        Command::new(&project.cmd[0])
            .args(&project.cmd[1..])
            .arg("-f")
            .arg(repo_root().join("docker-compose.yml"))
            .args(["config"]),
        Duration::from_secs(60),
    );
    assert!(base.status.success(), "{}", text(&base.stderr));
    let base = text(&base.stdout);
    for service in ["prometheus:", "grafana:", "s3-init:", "querier:"] {
        assert!(base.contains(service), "{service} missing:\n{base}");
    }
    assert!(!base.contains("profiles:"), "{base}");
    let up_started = Instant::now();
    project.run(&["up", "-d", "--no-build"], Duration::from_secs(240));
    wait_ready_port("receiver-1", recv1, &project);
    wait_ready_port("receiver-2", recv2, &project);
    wait_ready_port("querier", query, &project);
    // Ready means one ACTIVE ingester; RF=3 needs the receivers to see all three, or
    // series written now would have fewer copies than the kill below assumes.
    for (name, port) in [
        ("receiver-1", recv1),
        ("receiver-2", recv2),
        ("querier", query),
    ] {
        wait_ring_active(name, port, 3, &project).await;
    }
    eprintln!("cluster ready {:?} after `up`", up_started.elapsed());

    let base = now_ms() - 120_000;
    let write = |k: usize| {
        let port = if k.is_multiple_of(2) { recv1 } else { recv2 };
        async move {
            let url = format!("http://127.0.0.1:{port}/api/v1/write");
            let (status, body) = remote_write(&url, round_body(base, k), None).await;
            assert_eq!(
                status, 204,
                "round {k} via :{port} not acknowledged: {body}"
            );
        }
    };
    for k in 0..ROUNDS_BEFORE {
        write(k).await;
    }
    assert_all_rounds(
        &per_series(query, base, ROUNDS_BEFORE).await,
        ROUNDS_BEFORE,
        "before the kill",
    );

    let victim = project.container("ingester-3");
    let kill = run(
        Command::new("docker").args(["kill", "--signal", "KILL", &victim]),
        Duration::from_secs(60),
    );
    assert!(kill.status.success(), "docker kill: {}", text(&kill.stderr));
    let killed_at = Instant::now();
    assert!(!running(&victim), "ingester-3 still runs after docker kill");
    for k in ROUNDS_BEFORE..ROUNDS_BEFORE + ROUNDS_AFTER {
        write(k).await;
    }
    // `restart: unless-stopped` leaves a killed container down, so every write above
    // had only two of the three replicas.
    assert!(!running(&victim), "ingester-3 came back during the writes");
    eprintln!(
        "{ROUNDS_AFTER} rounds acknowledged in {:?} after the kill",
        killed_at.elapsed()
    );
    assert_all_rounds(
        &per_series(query, base, ROUNDS_BEFORE + ROUNDS_AFTER).await,
        ROUNDS_BEFORE + ROUNDS_AFTER,
        "after the kill",
    );
    eprintln!("test body done {:?} after the start", started.elapsed());
}

/// The role files the compose cluster mounts must load, or its containers would only
/// restart in a loop; checked without Docker.
#[test]
fn compose_role_configs_are_valid() {
    let dir = repo_root().join("deploy/compose");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
                .args(["config", "check"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                text(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} configs in {}", dir.display());
}
