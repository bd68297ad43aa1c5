//! Operator tools: `cairn tools bucket ls|inspect|verify` (what is in the bucket) and
//! `cairn tools healthcheck` (a container healthcheck that needs no curl in the image).

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use cairn_compact::tools::{self, BlockRow, Inspection, Verification};
use cairn_objstore::Bucket;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use ulid::Ulid;

use crate::cli::RunArgs;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub(crate) enum BucketCommand {
    /// List tenants and blocks: ulid, time range, resolution, level, series, samples,
    /// size, marks; directories without meta.json at the end.
    Ls(LsArgs),
    /// Show one block: meta.json, marks, Parquet row groups and columns, label
    /// cardinalities.
    Inspect(InspectArgs),
    /// Check every block (meta, Parquet, counts, label order, chunks) and overlaps
    /// within compaction groups; exit status 1 when something is wrong.
    Verify(VerifyArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Output {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Only this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The tenant.
    tenant: String,
    /// The block id.
    ulid: Ulid,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Only this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    #[command(flatten)]
    run: RunArgs,
}

pub(crate) fn run(cmd: BucketCommand) -> Result<(), CliError> {
    let runtime = crate::roles::runtime(false)?;
    runtime.block_on(async {
        match cmd {
            BucketCommand::Ls(a) => {
                let (bucket, _) = open(&a.run)?;
                let l = tools::list(&bucket, a.tenant.as_deref())
                    .await
                    .map_err(|e| err(e.to_string()))?;
                match a.output {
                    Output::Json => print_json(&l),
                    Output::Table => print(&ls_table(&l.blocks, &l.partial)),
                }
                Ok(())
            }
            BucketCommand::Inspect(a) => {
                let (bucket, _) = open(&a.run)?;
                let i = tools::inspect(&bucket, &a.tenant, &a.ulid)
                    .await
                    .map_err(|e| err(e.to_string()))?;
                match a.output {
                    Output::Json => print_json(&i),
                    Output::Table => print(&inspect_text(&i)),
                }
                Ok(())
            }
            BucketCommand::Verify(a) => {
                let (bucket, cfg) = open(&a.run)?;
                let v = tools::verify(&bucket, &cfg.compact, a.tenant.as_deref())
                    .await
                    .map_err(|e| err(e.to_string()))?;
                match a.output {
                    Output::Json => print_json(&v),
                    Output::Table => print(&verify_text(&v)),
                }
                if v.problems.is_empty() {
                    Ok(())
                } else {
                    Err(err(format!("{} problems found", v.problems.len())))
                }
            }
        }
    })
}

fn err(message: String) -> CliError {
    CliError::Role {
        role: "tools bucket",
        message,
    }
}

fn open(run: &RunArgs) -> Result<(Bucket, crate::config::Config), CliError> {
    let cfg = run.config()?;
    let bucket = cfg.open_bucket("tools bucket")?;
    Ok((bucket, cfg))
}

fn resolution(r: i64) -> &'static str {
    match r {
        cairn_block::RESOLUTION_RAW => "raw",
        cairn_block::RESOLUTION_5M => "5m",
        cairn_block::RESOLUTION_1H => "1h",
        _ => "?",
    }
}

fn ls_table(rows: &[BlockRow], partial: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<26} {:>15} {:>15} {:>8} {:>4} {:>6} {:>9} {:>12} {:>11} {:<10} LABELS",
        "TENANT",
        "ULID",
        "MIN_TIME",
        "MAX_TIME",
        "RANGE",
        "RES",
        "LEVEL",
        "SERIES",
        "SAMPLES",
        "BYTES",
        "MARKS"
    );
    for r in rows {
        let marks = match (&r.deletion_mark, &r.no_compact_mark) {
            (Some(_), Some(_)) => "delete,no-compact",
            (Some(_), None) => "delete",
            (None, Some(_)) => "no-compact",
            (None, None) => "-",
        };
        let labels: Vec<String> = r
            .external_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let range_h = (r.max_time - r.min_time) as f64 / 3_600_000.0;
        let _ = writeln!(
            out,
            "{:<12} {:<26} {:>15} {:>15} {:>7}h {:>4} {:>6} {:>9} {:>12} {:>11} {:<10} {}",
            r.tenant,
            r.ulid.to_string(),
            r.min_time,
            r.max_time,
            format!("{range_h:.1}"),
            resolution(r.resolution),
            r.level,
            r.series,
            r.samples,
            r.bytes,
            marks,
            labels.join(",")
        );
    }
    for p in partial {
        let _ = writeln!(out, "partial (no meta.json): {p}");
    }
    out
}

fn inspect_text(i: &Inspection) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", String::from_utf8_lossy(&i.meta.to_json()));
    if let Some(m) = &i.deletion_mark {
        let _ = writeln!(out, "deletion mark: at {} ({})", m.marked_at, m.reason);
    }
    if let Some(m) = &i.no_compact_mark {
        let _ = writeln!(out, "no-compact mark: at {} ({})", m.marked_at, m.reason);
    }
    let _ = writeln!(out, "\nlabel cardinality:");
    for (name, n) in &i.label_cardinality {
        let _ = writeln!(out, "  {name:<30} {n}");
    }
    for (g, rg) in i.row_groups.iter().enumerate() {
        let _ = writeln!(
            out,
            "\nrow group {g}: {} rows, {} bytes compressed",
            rg.rows, rg.compressed_bytes
        );
        for c in &rg.columns {
            let _ = writeln!(
                out,
                "  {:<30} {:>12} {:>12}",
                c.name, c.compressed_bytes, c.uncompressed_bytes
            );
        }
    }
    out
}

fn verify_text(v: &Verification) -> String {
    let mut out = String::new();
    let line = |f: &tools::Finding| match f.block {
        Some(b) => format!("{}/{b}: {}", f.tenant, f.message),
        None => format!("{}: {}", f.tenant, f.message),
    };
    for f in &v.problems {
        let _ = writeln!(out, "PROBLEM {}", line(f));
    }
    for f in &v.warnings {
        let _ = writeln!(out, "warning {}", line(f));
    }
    let _ = writeln!(
        out,
        "{} blocks checked, {} problems, {} warnings",
        v.blocks_checked,
        v.problems.len(),
        v.warnings.len()
    );
    out
}

#[allow(clippy::print_stdout)]
fn print(s: &str) {
    print!("{s}");
}

#[allow(clippy::print_stdout)]
fn print_json(v: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("tool output serializes")
    );
}

#[derive(Debug, Args)]
pub(crate) struct HealthcheckArgs {
    /// URL to GET; only plain `http://` (the ops port inside the container).
    #[arg(long, default_value = "http://127.0.0.1:9009/-/ready")]
    url: String,
    /// Give up after this long, e.g. `5s`.
    #[arg(long, default_value = "5s", value_parser = cairn_model::duration::parse)]
    timeout: Duration,
}

/// `cairn tools healthcheck`: exit 0 when the URL answers 2xx, otherwise fail with a
/// one-line reason (printed by `main`, exit status 1).
pub(crate) fn healthcheck(args: &HealthcheckArgs) -> Result<(), CliError> {
    let status = http_get_status(&args.url, args.timeout).map_err(|message| CliError::Role {
        role: "healthcheck",
        message,
    })?;
    if (200..300).contains(&status.0) {
        print(&format!("{}: {}\n", args.url, status.1));
        Ok(())
    } else {
        Err(CliError::Role {
            role: "healthcheck",
            message: format!("{} answered {}", args.url, status.1),
        })
    }
}

/// GETs `url` over HTTP/1.1 and returns the status code and status line; the error is a
/// one-line reason. Hand-written on std so the check works in a `FROM scratch` image
/// and costs no runtime or client stack for a request made every few seconds.
fn http_get_status(url: &str, timeout: Duration) -> Result<(u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    let target = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let deadline = Instant::now() + timeout;
    let addrs: Vec<_> = target
        .to_socket_addrs()
        .map_err(|e| format!("{url}: cannot resolve {authority}: {e}"))?
        .collect();
    let mut last_err = format!("{url}: {authority} resolves to no address");
    let mut stream = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_err = format!("{url}: cannot connect to {addr}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last_err)?;
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let io = |e: std::io::Error| format!("{url}: {e}");
    stream.set_read_timeout(Some(left)).map_err(io)?;
    stream.set_write_timeout(Some(left)).map_err(io)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: cairn-healthcheck\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    // The status line is all we need; read until its end (or a sane limit).
    let mut head = Vec::with_capacity(128);
    let mut buf = [0u8; 128];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("").trim();
    let code = line
        .strip_prefix("HTTP/")
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("{url}: not an HTTP response: {line:?}"))?;
    let reason = line.split_once(' ').map_or(line, |(_, r)| r).to_owned();
    Ok((code, reason))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    use super::*;

    /// Serves one connection with `response` and hands back the request it read.
    fn serve_once(response: &'static str) -> (String, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/-/ready", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 256];
            while !req.ends_with(b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            conn.write_all(response.as_bytes()).unwrap();
            String::from_utf8(req).unwrap()
        });
        (url, handle)
    }

    fn check(url: &str) -> Result<(), String> {
        healthcheck(&HealthcheckArgs {
            url: url.to_owned(),
            timeout: Duration::from_secs(5),
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn ready_server_passes_and_gets_a_plain_get_of_the_path() {
        let (url, server) = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nready");
        check(&url).unwrap();
        let req = server.join().unwrap();
        assert!(req.starts_with("GET /-/ready HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("\r\nHost: 127.0.0.1:"), "{req}");
    }

    #[test]
    fn not_ready_server_fails_with_its_status_in_one_line() {
        let (url, server) =
            serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\nwaiting for wal replay");
        let e = check(&url).unwrap_err();
        server.join().unwrap();
        assert!(e.contains("503 Service Unavailable"), "{e}");
        assert!(e.contains(&url), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn nothing_listening_fails_with_the_connect_error() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = check(&format!("http://127.0.0.1:{port}/-/ready")).unwrap_err();
        assert!(e.contains("cannot connect"), "{e}");
    }

    #[test]
    fn garbage_answer_and_unsupported_urls_fail() {
        let (url, server) = serve_once("SSH-2.0-OpenSSH\r\n");
        let e = check(&url).unwrap_err();
        server.join().unwrap();
        assert!(e.contains("not an HTTP response"), "{e}");
        let e = check("https://127.0.0.1:9009/-/ready").unwrap_err();
        assert!(e.contains("only http://"), "{e}");
    }

    #[test]
    fn silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let started = Instant::now();
        let e = healthcheck(&HealthcheckArgs {
            url,
            timeout: Duration::from_millis(300),
        })
        .unwrap_err()
        .to_string();
        assert!(started.elapsed() < Duration::from_secs(3), "{e}");
        drop(listener);
    }
}
