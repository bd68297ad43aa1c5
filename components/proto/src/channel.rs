//! The one way Cairn's gRPC clients open connections and size their messages.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// Largest gRPC message any Cairn server or client sends or accepts (a remote-write
/// batch or a StoreAPI series can be far above tonic's 4 MiB default).
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// How long establishing a connection may take, separate from the per-call timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A lazily connecting channel to `addr` (`host:port` or a full `http://` URI), so a
/// peer that starts later is picked up. `timeout` bounds every call.
pub fn lazy_channel(addr: &str, timeout: Duration) -> Result<Channel, String> {
    let uri = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    let endpoint = Endpoint::from_shared(uri).map_err(|e| e.to_string())?;
    Ok(endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout)
        .tcp_nodelay(true)
        .connect_lazy())
}
