//! The HTTP side: one remote-write POST per batch.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};

use crate::args::BasicAuth;
use crate::stats::ErrorClass;
use crate::Error;

/// Header naming the remote-write protocol version (1.0 is `0.1.0`).
pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
/// Header naming the tenant (Cortex/Mimir/Cairn convention).
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

/// The result of one request.
#[derive(Debug)]
pub enum Outcome {
    /// A 2xx answer.
    Ok,
    /// Any other answer or no answer; `detail` is the status and body, or the
    /// transport error.
    Failed {
        /// Which error counter it goes to.
        class: ErrorClass,
        /// Human-readable description.
        detail: String,
    },
}

/// Sends request bodies to one endpoint; cheap to clone (shares the connection pool).
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    url: String,
    auth: Option<BasicAuth>,
}

impl Sender {
    /// A sender with the remote-write headers, `tenant` and keep-alive connections.
    pub fn new(
        url: &str,
        tenant: Option<&str>,
        auth: Option<BasicAuth>,
        timeout: Duration,
        connections: usize,
    ) -> Result<Self, Error> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(VERSION_HEADER, HeaderValue::from_static("0.1.0"));
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("cairn-loadgen/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(t) = tenant {
            let v = HeaderValue::from_str(t).map_err(|e| {
                Error::InvalidArgs(format!("--tenant is not a valid header value: {e}"))
            })?;
            headers.insert(TENANT_HEADER, v);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .pool_max_idle_per_host(connections)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            url: url.to_owned(),
            auth,
        })
    }

    /// POSTs one compressed `WriteRequest`.
    pub async fn send(&self, body: Vec<u8>) -> Outcome {
        let mut req = self.client.post(&self.url).body(body);
        if let Some(a) = &self.auth {
            req = req.basic_auth(&a.user, Some(&a.password));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Failed {
                    class: ErrorClass::Transport,
                    detail: describe(&e),
                }
            }
        };
        let status = resp.status();
        // Read the body in full either way so the connection can be reused.
        let body = resp.bytes().await;
        if status.is_success() {
            return match body {
                Ok(_) => Outcome::Ok,
                Err(e) => Outcome::Failed {
                    class: ErrorClass::Transport,
                    detail: describe(&e),
                },
            };
        }
        let class = match status.as_u16() {
            400..=499 => ErrorClass::Http4xx,
            500..=599 => ErrorClass::Http5xx,
            _ => ErrorClass::OtherStatus,
        };
        let text = body.map_or_else(
            |e| format!("<body unreadable: {e}>"),
            |b| String::from_utf8_lossy(&b).trim().to_owned(),
        );
        Outcome::Failed {
            class,
            detail: format!("{status}: {}", truncate(&text, 2000)),
        }
    }
}

/// The error and its sources on one line (reqwest's own message hides the cause).
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
