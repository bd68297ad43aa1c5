//! `cairn-loadgen-backfill`: writes the query-benchmark data set (see
//! `cairn_loadgen::backfill`) to one remote-write endpoint and prints a JSON summary.

use std::process::ExitCode;

use clap::Parser;

/// Writes a fixed historical data set (counters, gauges, classic histograms) through
/// remote write, in time order.
#[derive(Debug, Parser)]
#[command(name = "cairn-loadgen-backfill", version, about, long_about = None)]
struct Cli {
    /// Remote-write endpoint.
    #[arg(long)]
    url: String,
    /// Scrape targets; each has 50 series.
    #[arg(long, default_value_t = 200)]
    instances: usize,
    /// Jobs the targets are spread over.
    #[arg(long, default_value_t = 10)]
    jobs: usize,
    /// First sample time, unix milliseconds.
    #[arg(long)]
    start_ms: i64,
    /// Last sample time (inclusive), unix milliseconds.
    #[arg(long)]
    end_ms: i64,
    /// Sample interval, milliseconds.
    #[arg(long, default_value_t = 15_000)]
    interval_ms: i64,
    /// Samples per series per request.
    #[arg(long, default_value_t = 20)]
    window: usize,
    /// Scrape targets per request.
    #[arg(long, default_value_t = 20)]
    targets_per_request: usize,
    /// Parallel requests.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
}

// The summary is the program's output.
#[allow(clippy::print_stdout)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = cairn_loadgen::backfill::BackfillArgs {
        url: cli.url,
        instances: cli.instances,
        jobs: cli.jobs,
        start_ms: cli.start_ms,
        end_ms: cli.end_ms,
        interval_ms: cli.interval_ms,
        window: cli.window,
        targets_per_request: cli.targets_per_request,
        concurrency: cli.concurrency,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cairn-loadgen-backfill: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(cairn_loadgen::backfill::backfill(&args)) {
        Ok(summary) => {
            println!(
                "{}",
                serde_json::to_string(&summary).unwrap_or_else(|e| e.to_string())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cairn-loadgen-backfill: {e}");
            ExitCode::FAILURE
        }
    }
}
