//! `infra`: synthesize and deploy the architecture to AWS.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use infra::aws;

/// Deploy the multi-region architecture to AWS: both Regions, in order, every output wired.
///
/// Everything derives from topology.toml: the domain, the two Regions and the apps. To run
/// it all on this machine instead, see `local-world --help`.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the CloudFormation templates for every stack.
    Synth(aws::SynthArgs),
    /// Deploy every stack to both Regions, in order, and write the deployment manifest.
    Deploy(aws::DeployArgs),
    /// Delete every stack, in reverse order.
    Destroy(aws::DestroyArgs),
    /// Write the one-time stack of a GitHub Actions pipeline: GitHub's OIDC provider, a deploy
    /// role trusted by one repository's environment or branch, the CloudFormation execution
    /// role and a read-only status role, each scoped to this deployment.
    PipelineTemplate(aws::PipelineArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Synth(args) => aws::synth(args).await.map(|()| ExitCode::SUCCESS),
        Command::Deploy(args) => aws::deploy(args).await.map(|()| ExitCode::SUCCESS),
        Command::Destroy(args) => aws::destroy(args).await.map(|()| ExitCode::SUCCESS),
        Command::PipelineTemplate(args) => aws::pipeline_template(args).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|err| {
        eprintln!("error: {err:#}");
        ExitCode::FAILURE
    })
}
