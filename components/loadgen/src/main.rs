//! `cairn-loadgen` binary: parse flags, run, print the summary. See the library docs.

use std::process::ExitCode;

use cairn_loadgen::{Cli, Command};
use clap::Parser;

fn main() -> ExitCode {
    let command = Cli::parse().into_command();
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
    // Exit 1 when any request failed, so scripts notice without parsing.
    let result = match command {
        Command::Write(args) => {
            let json = args.json;
            runtime.block_on(cairn_loadgen::run(args)).map(|s| {
                s.print(json);
                s.errors.total()
            })
        }
        Command::Query(args) => {
            let json = args.json;
            runtime.block_on(cairn_loadgen::run_queries(args)).map(|s| {
                s.print(json);
                s.errors
            })
        }
    };
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cairn-loadgen: {e}");
            ExitCode::from(2)
        }
    }
}
