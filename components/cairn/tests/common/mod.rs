//! Process-level test harness: starts the real `cairn` binary (and real peers) on
//! loopback ports, and speaks remote write and the query API to them.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_proto::prometheus::{TimeSeries, WriteRequest};
use prost::Message;
use serde_json::Value;

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process that is killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Proc {
    /// Sends SIGTERM and waits for exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        false
    }

    /// SIGKILL, no cleanup.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `cairn all` with its ports and data directory.
pub struct Cairn {
    pub proc: Proc,
    pub http: u16,
    pub grpc: u16,
    pub data_dir: PathBuf,
}

impl Cairn {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }
}

/// Starts `cairn all` with `extra` flags and waits until `/-/ready` answers 200.
pub fn start_cairn(dir: &Path, data_dir: &Path, extra: &[&str]) -> Cairn {
    start_role("all", dir, data_dir, extra)
}

/// Starts `cairn <role>` on fresh loopback ports and waits until it is ready.
pub fn start_role(role: &str, dir: &Path, data_dir: &Path, extra: &[&str]) -> Cairn {
    start_role_on(role, dir, data_dir, (free_port(), free_port()), extra)
}

/// For ingesters on a static ring: the `--receive.ingesters` value (`ing-<i>=address`,
/// in order) and the `--query.stores` value (their addresses).
pub fn static_ring_flags(ingesters: &[Cairn]) -> (String, String) {
    let addr = |c: &Cairn| format!("127.0.0.1:{}", c.grpc);
    let members: Vec<String> = ingesters
        .iter()
        .enumerate()
        .map(|(i, c)| format!("ing-{i}={}", addr(c)))
        .collect();
    let stores: Vec<String> = ingesters.iter().map(addr).collect();
    (members.join(","), stores.join(","))
}

/// Starts `cairn <role>` on the given (http, grpc) loopback ports and waits until it is
/// ready; for processes whose address others must know in advance, or a restart.
pub fn start_role_on(
    role: &str,
    dir: &Path,
    data_dir: &Path,
    (http, grpc): (u16, u16),
    extra: &[&str],
) -> Cairn {
    let log = dir.join(format!("cairn-{role}-{http}.log"));
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg(role)
        .args(["--http.listen", &format!("127.0.0.1:{http}")])
        .args(["--grpc.listen", &format!("127.0.0.1:{grpc}")])
        .args(["--data.dir", data_dir.to_str().unwrap()])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .expect("start cairn");
    let cairn = Cairn {
        proc: Proc {
            child,
            name: format!("cairn {role}"),
            log,
        },
        http,
        grpc,
        data_dir: data_dir.to_path_buf(),
    };
    wait_ready(cairn.http, "/-/ready", &cairn.proc);
    cairn
}

/// Polls `GET path` on `port` until it answers 200, failing with the log after 60s.
pub fn wait_ready(port: u16, path: &str, proc: &Proc) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http_status(port, path) == Some(200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{} never became ready at :{port}{path}; log:\n{}",
        proc.name,
        proc.log_text()
    );
}

/// Status code of a plain blocking `GET`, or None if nothing answered.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Async HTTP client used by tests.
pub fn http() -> ::reqwest::Client {
    ::reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// One series for a remote-write request; labels are sorted here.
pub fn series(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    let mut ts = TimeSeries::with_samples(labels, samples);
    ts.labels.sort_by(|a, b| a.name.cmp(&b.name));
    ts
}

/// A snappy-compressed remote-write 1.0 body.
pub fn write_body(series: Vec<TimeSeries>) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: series,
        ..Default::default()
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap()
}

/// POSTs a remote-write body with the standard headers; returns status and body text.
pub async fn remote_write(url: &str, body: Vec<u8>, tenant: Option<&str>) -> (u16, String) {
    let mut req = http()
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body);
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let resp = req.send().await.expect("send remote write");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// GET a query-API URL and parse the JSON (whatever the status).
pub async fn get_json(url: &str, params: &[(&str, String)], tenant: Option<&str>) -> (u16, Value) {
    let mut req = http().get(url).query(params);
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let resp = req.send().await.expect("query");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not json ({e}): {text}"));
    (status, json)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
