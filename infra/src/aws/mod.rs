//! PLACEHOLDER, replaced by the AWS target (issue 5).

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct SynthArgs {
    #[arg(long, default_value = "topology.toml")]
    pub config: PathBuf,
}
#[derive(clap::Args)]
pub struct DeployArgs {
    #[arg(long, default_value = "topology.toml")]
    pub config: PathBuf,
}
#[derive(clap::Args)]
pub struct DestroyArgs {
    #[arg(long, default_value = "topology.toml")]
    pub config: PathBuf,
}

pub async fn synth(_: SynthArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
pub async fn deploy(_: DeployArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
pub async fn destroy(_: DestroyArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
