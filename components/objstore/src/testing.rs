//! A real S3-compatible server for tests: `moto_server` (PyPI `moto[server]`, installed
//! by `scripts/install-test-deps.sh`) on a free loopback port, killed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{BucketConfig, BucketKind, S3Config};

/// A running S3 server process.
#[derive(Debug)]
pub struct S3Server {
    child: Option<Child>,
    port: u16,
}

impl S3Server {
    /// Starts `moto_server` and waits until it answers. Panics with a hint when it is
    /// not installed: tests that need S3 must not silently pass without it.
    pub fn start() -> Self {
        let port = free_port();
        let mut server = Self { child: None, port };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start moto_server ({e}); run scripts/install-test-deps.sh")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http(self.port, "GET", "/").is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto_server did not start on port {}", self.port);
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates bucket `name` and returns a config pointing at it, with short timeouts
    /// and few retries so outage tests finish quickly.
    pub fn bucket(&self, name: &str) -> BucketConfig {
        let status = http(self.port, "PUT", &format!("/{name}")).expect("create bucket");
        assert!(status < 300, "creating bucket {name}: http {status}");
        BucketConfig {
            backend: BucketKind::S3,
            s3: S3Config {
                endpoint: self.endpoint(),
                bucket: name.into(),
                access_key_id: "test".into(),
                secret_access_key: "test".into(),
                insecure: true,
                path_style: true,
                connect_timeout: Duration::from_secs(1),
                request_timeout: Duration::from_secs(5),
                max_retries: 1,
                retry_timeout: Duration::from_secs(2),
                ..S3Config::default()
            },
            ..BucketConfig::default()
        }
    }

    /// Starts the server again on the same port, e.g. after [`S3Server::stop`]. It
    /// comes back empty (moto keeps everything in memory): create the bucket again.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Kills the server (an outage). Its in-memory contents are lost.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A bare HTTP/1.0 request; returns the status code (None when nothing answers).
fn http(port: u16, method: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace().nth(1)?.parse().ok()
}
