//! The local world: the whole architecture on loopback (`infra local`) and its demo
//! (`infra demo`).

pub mod dns;
pub mod instance;
pub mod replication;

use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `infra local`.
#[derive(clap::Args)]
pub struct LocalArgs {
    /// The topology file to run.
    #[arg(long, default_value = "topology.toml")]
    pub config: PathBuf,
}

/// Options of `infra demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// The topology file to run.
    #[arg(long, default_value = "topology.toml")]
    pub config: PathBuf,
}

/// Runs the local world until Ctrl-C.
pub async fn local(_: LocalArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}

/// Runs the demo and reports whether every expectation held.
pub async fn demo(_: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
