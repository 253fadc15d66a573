//! `infra`: synthesize and deploy the architecture to AWS, or run it on this machine.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use infra::{aws, local};

/// Deploy the multi-region architecture to AWS, or run all of it on this machine.
///
/// Everything derives from topology.toml: the domain, the two Regions and the apps.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the local world with traffic and a scripted failover drill, then report and exit.
    Demo(local::DemoArgs),
    /// Run the whole architecture on loopback until Ctrl-C (no AWS account needed).
    Local(local::LocalArgs),
    /// Write the CloudFormation templates for every stack.
    Synth(aws::SynthArgs),
    /// Deploy every stack to both Regions, in order, and write the deployment manifest.
    Deploy(aws::DeployArgs),
    /// Delete every stack, in reverse order.
    Destroy(aws::DestroyArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => local::demo(args).await,
        Command::Local(args) => local::local(args).await.map(|()| ExitCode::SUCCESS),
        Command::Synth(args) => aws::synth(args).await.map(|()| ExitCode::SUCCESS),
        Command::Deploy(args) => aws::deploy(args).await.map(|()| ExitCode::SUCCESS),
        Command::Destroy(args) => aws::destroy(args).await.map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|err| {
        eprintln!("error: {err:#}");
        ExitCode::FAILURE
    })
}
