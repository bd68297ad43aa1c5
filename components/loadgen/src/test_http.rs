//! The request side of the tiny HTTP/1.1 servers the tests stand up in place of a
//! receiver or a query API.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpStream;

/// Reads one request: its lines up to the blank one, lowercased (the request line
/// first), and its body by `content-length`. `None` once the client closed.
pub(crate) async fn read_request(
    conn: &mut BufReader<TcpStream>,
) -> Option<(Vec<String>, Vec<u8>)> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        headers.push(line.trim_end().to_ascii_lowercase());
    }
    let len: usize = headers
        .iter()
        .find_map(|h| h.strip_prefix("content-length: "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    conn.read_exact(&mut body).await.unwrap();
    Some((headers, body))
}
