//! `local-world`: the whole multi-Region architecture on this machine, no AWS account needed.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use local_world::issuer::TokenArgs;
use local_world::{ArcClusterArgs, DemoArgs, RunArgs};

/// Run the multi-Region architecture on loopback: every app in both Regions, a local Route 53,
/// the failover mechanism's data plane (the local ARC cluster, or flags in a local CloudWatch
/// with their alarms and health checks: `[failover] mechanism`), every app's alarms and
/// replicated tables; or a scripted failover drill against it.
///
/// Everything derives from topology.toml. `failover` and `loadtest` work against the running
/// world unchanged, through the manifest it writes to .local/deployment.json.
#[derive(Parser)]
#[command(name = "local-world", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the local world with traffic and a scripted failover drill, then report and exit.
    Demo(DemoArgs),
    /// Run the whole architecture on loopback until Ctrl-C.
    Run(RunArgs),
    /// Run the local ARC cluster alone (five endpoints on loopback) until Ctrl-C.
    ArcCluster(ArcClusterArgs),
    /// Print a token for the running world's `api` app, from its issuer (the manifest says
    /// where): `curl -H "Authorization: Bearer $(local-world token)" ...`.
    Token(TokenArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    local_world::telemetry::init(match cli.command {
        Command::Demo(_) => local_world::telemetry::DEMO_FILTER,
        Command::Run(_) | Command::ArcCluster(_) | Command::Token(_) => {
            local_world::telemetry::DEFAULT_FILTER
        }
    });
    let result = match cli.command {
        Command::Demo(args) => local_world::demo(args).await,
        Command::Run(args) => local_world::run(args).await.map(|()| ExitCode::SUCCESS),
        Command::ArcCluster(args) => local_world::arc_cluster(args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Token(args) => local_world::issuer::print_token(args)
            .await
            .map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|err| {
        eprintln!("error: {err:#}");
        ExitCode::FAILURE
    })
}
