//! `cairn-loadgen` binary: parse flags, run, print the summary. See the library docs.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cairn_loadgen::Args::parse();
    let json = args.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cairn-loadgen: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(cairn_loadgen::run(args)) {
        Ok(summary) => {
            summary.print(json);
            // Exit 1 when any request failed, so scripts notice without parsing.
            if summary.errors.total() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("cairn-loadgen: {e}");
            ExitCode::from(2)
        }
    }
}
