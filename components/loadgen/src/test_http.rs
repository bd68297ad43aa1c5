//! The tiny HTTP/1.1 servers the tests stand up in place of a receiver or a query API.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Serves on an ephemeral loopback port until the test ends: every request goes to
/// `answer` with its lowercased header lines (request line first) and body, which
/// returns the status line's code and text (e.g. `"200 OK"`) and a JSON body.
pub(crate) async fn serve<F>(answer: F) -> SocketAddr
where
    F: Fn(Vec<String>, Vec<u8>) -> (&'static str, String) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let (conn, _) = listener.accept().await.unwrap();
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut conn = BufReader::new(conn);
                while let Some((headers, body)) = read_request(&mut conn).await {
                    let (status, json) = answer(headers, body);
                    let reply = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{json}",
                        json.len()
                    );
                    if conn.get_mut().write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Reads one request: its lines up to the blank one, lowercased (the request line
/// first), and its body by `content-length`. `None` once the client closed.
async fn read_request(conn: &mut BufReader<TcpStream>) -> Option<(Vec<String>, Vec<u8>)> {
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
