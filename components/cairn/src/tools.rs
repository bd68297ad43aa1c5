//! `cairn tools bucket ls|inspect|verify`: what is in the bucket, for operators.

use std::fmt::Write as _;

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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| err(e.to_string()))?;
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
