//! PLACEHOLDER, replaced by the local world (issue 6).

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct LocalArgs {
    #[arg(long, default_value = "topology.toml")]
    pub config: PathBuf,
}
#[derive(clap::Args)]
pub struct DemoArgs {
    #[arg(long, default_value = "topology.toml")]
    pub config: PathBuf,
}

pub async fn local(_: LocalArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
pub async fn demo(_: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
