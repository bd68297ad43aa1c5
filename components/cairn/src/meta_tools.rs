//! `cairn tools meta status|ring|add-node|remove-node|forget`: the ring and the meta group, for
//! operators.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_meta::MetaClient;
use clap::{Args, Subcommand};

use crate::cli::RunArgs;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub(crate) enum MetaCommand {
    /// Raft status of every meta node in `ring.endpoints`: id, state, leader, term,
    /// applied index, voters.
    Status(RunArgs),
    /// The ring: every member with address, zone, state, tokens and heartbeat age.
    Ring(RunArgs),
    /// Add a meta node as a voter. Start it first with `meta.peers` listing the group
    /// and itself; it catches up as a learner before it votes.
    AddNode(NodeArgs),
    /// Remove a meta node from the voters (stop it afterwards).
    RemoveNode(RemoveArgs),
    /// Drop an ingester that is gone for good (its disk lost) from the ring, so
    /// queriers stop asking it. A live ingester registers again on its next heartbeat.
    Forget(ForgetArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ForgetArgs {
    /// The ingester's ring id.
    #[arg(long)]
    id: String,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// The new node's id.
    #[arg(long)]
    id: u64,
    /// The new node's gRPC address (`host:port`).
    #[arg(long)]
    addr: String,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RemoveArgs {
    /// The node's id.
    #[arg(long)]
    id: u64,
    #[command(flatten)]
    run: RunArgs,
}

fn meta_err(e: cairn_meta::MetaError) -> CliError {
    CliError::Role {
        role: "tools meta",
        message: e.to_string(),
    }
}

fn client(run: &RunArgs) -> Result<(Vec<String>, MetaClient), CliError> {
    let cfg = run.config()?;
    if cfg.ring.endpoints.is_empty() {
        return Err(CliError::Config(
            "set ring.endpoints (or --ring.endpoints) to the meta nodes".into(),
        ));
    }
    let client = MetaClient::new(&cfg.ring.endpoints, Duration::from_secs(30)).map_err(meta_err)?;
    Ok((cfg.ring.endpoints, client))
}

pub(crate) fn run(cmd: MetaCommand) -> Result<(), CliError> {
    let runtime = crate::roles::runtime(false)?;
    runtime.block_on(async {
        match cmd {
            MetaCommand::Status(run) => status(&run).await,
            MetaCommand::Ring(run) => ring(&run).await,
            MetaCommand::AddNode(a) => {
                let (_, c) = client(&a.run)?;
                c.add_node(a.id, &a.addr).await.map_err(meta_err)?;
                print(&format!("meta node {} at {} is a voter", a.id, a.addr));
                Ok(())
            }
            MetaCommand::Forget(a) => {
                let (_, c) = client(&a.run)?;
                c.remove(&a.id).await.map_err(meta_err)?;
                print(&format!("ingester {} removed from the ring", a.id));
                Ok(())
            }
            MetaCommand::RemoveNode(a) => {
                let (_, c) = client(&a.run)?;
                c.remove_node(a.id).await.map_err(meta_err)?;
                print(&format!("meta node {} removed from the voters", a.id));
                Ok(())
            }
        }
    })
}

async fn status(run: &RunArgs) -> Result<(), CliError> {
    let (endpoints, _) = client(run)?;
    let mut out = String::new();
    let mut reached = 0;
    for addr in &endpoints {
        let one = MetaClient::new(std::slice::from_ref(addr), Duration::from_secs(5))
            .map_err(meta_err)?;
        match one.status().await {
            Ok(s) => {
                reached += 1;
                let voters: Vec<String> = s
                    .voters
                    .iter()
                    .map(|v| format!("{}={}", v.id, v.addr))
                    .collect();
                let _ = writeln!(
                    out,
                    "{addr}\tnode {}\t{}\tleader {}\tterm {}\tapplied {}\tvoters [{}]",
                    s.node_id,
                    s.state,
                    s.leader_id,
                    s.current_term,
                    s.last_applied_index,
                    voters.join(", ")
                );
            }
            Err(e) => {
                let _ = writeln!(out, "{addr}\tunreachable: {e}");
            }
        }
    }
    print(&out);
    if reached == 0 {
        return Err(CliError::Role {
            role: "tools meta",
            message: "no meta node answered".into(),
        });
    }
    Ok(())
}

async fn ring(run: &RunArgs) -> Result<(), CliError> {
    let (_, c) = client(run)?;
    let ring = c.get_ring(true).await.map_err(meta_err)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut out = String::from("ID\tADDRESS\tZONE\tSTATE\tTOKENS\tHEARTBEAT AGE\n");
    for m in ring.members() {
        let age = m.last_heartbeat_ms.map_or_else(
            || "-".to_owned(),
            |t| format!("{:.1}s", (now - t) as f64 / 1000.0),
        );
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{:?}\t{}\t{age}",
            m.id,
            m.addr,
            if m.zone.is_empty() { "-" } else { &m.zone },
            m.state,
            m.tokens.len()
        );
    }
    print(&out);
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print(s: &str) {
    println!("{}", s.trim_end());
}
