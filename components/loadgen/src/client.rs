//! The HTTP side: one remote-write POST per batch.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};

use crate::args::Auth;
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
        /// The HTTP status, if the server answered.
        status: Option<u16>,
        /// Human-readable description.
        detail: String,
    },
}

/// Sends request bodies to one endpoint; cheap to clone (shares the connection pool).
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    url: String,
    auth: Auth,
}

impl Sender {
    /// A sender with the remote-write headers, `tenant`, credentials and keep-alive
    /// connections.
    pub fn new(
        url: &str,
        tenant: Option<&str>,
        auth: Auth,
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
        Ok(Self {
            client: http_client(headers, tenant, timeout, connections)?,
            url: url.to_owned(),
            auth,
        })
    }

    /// POSTs one compressed `WriteRequest`.
    pub async fn send(&self, body: Vec<u8>) -> Outcome {
        let req = with_auth(self.client.post(&self.url).body(body), &self.auth);
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                // Read the body in full either way so the connection can be reused.
                let body = resp.bytes().await;
                match body {
                    Ok(_) if status.is_success() => Outcome::Ok,
                    Ok(b) => failed(status.as_u16(), &b),
                    Err(e) => transport(&e),
                }
            }
            Err(e) => transport(&e),
        }
    }
}

/// A client with `headers`, the tenant header, this program's user agent, a timeout
/// per request and up to `connections` idle keep-alive connections.
pub(crate) fn http_client(
    mut headers: HeaderMap,
    tenant: Option<&str>,
    timeout: Duration,
    connections: usize,
) -> Result<reqwest::Client, Error> {
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
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .timeout(timeout)
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// Adds the credentials to a request.
pub(crate) fn with_auth(req: reqwest::RequestBuilder, auth: &Auth) -> reqwest::RequestBuilder {
    match auth {
        Auth::None => req,
        Auth::Basic(a) => req.basic_auth(&a.user, Some(&a.password)),
        Auth::Bearer(t) => req.bearer_auth(t),
    }
}

/// The outcome of a non-2xx answer.
pub(crate) fn failed(status: u16, body: &[u8]) -> Outcome {
    let class = match status {
        400..=499 => ErrorClass::Http4xx,
        500..=599 => ErrorClass::Http5xx,
        _ => ErrorClass::OtherStatus,
    };
    let text = String::from_utf8_lossy(body);
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    Outcome::Failed {
        class,
        status: Some(status),
        detail: format!("{status} {reason}: {}", truncate(text.trim(), 2000)),
    }
}

/// The outcome of a request that got no (complete) answer.
pub(crate) fn transport(e: &reqwest::Error) -> Outcome {
    Outcome::Failed {
        class: ErrorClass::Transport,
        status: None,
        detail: describe(e),
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
