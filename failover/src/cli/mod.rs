//! The `failover` command line. `main.rs` only parses ([`Cli`], in `args`) and calls [`run`]:
//! each command builds one [`Report`] (`change` runs the moves), rendered once as text or
//! JSON (`report`, `text`); the error, if any, also goes to stderr and sets the exit code.

mod args;
mod change;
mod report;
mod text;

use std::path::{Path, PathBuf};

use topology::AppName;
use topology::manifest::{LOCAL_MANIFEST_PATH, Manifest};

use crate::client::{Client, ClientConfig};
use crate::error::FailoverError;
pub use args::{ChangeArgs, Cli, Command, parse_duration};
use change::{Progress, change_routing};
pub use report::{DryRun, Format, Moved, Report};

/// Runs the command, prints its report; returns the exit code.
pub async fn run(cli: Cli) -> u8 {
    let format = if cli.json { Format::Json } else { Format::Text };
    let report = execute(cli, format).await;
    print!("{}", report.render(format));
    if let Some(error) = report.failure() {
        eprintln!("error: {error}");
    }
    report.exit_code()
}

/// Runs the command and builds its report; a failure is part of the report.
pub async fn execute(cli: Cli, format: Format) -> Report {
    let config = ClientConfig {
        connect_timeout: cli.connect_timeout,
        attempt_timeout: cli.attempt_timeout,
        deadline: cli.deadline,
        ..ClientConfig::default()
    };
    let progress = Progress {
        shown: format == Format::Text,
    };
    let done = async {
        let client = client(cli.manifest.as_deref(), config)?;
        match cli.command {
            Command::Status => {
                let status = client.status().await?;
                let regions = client.manifest().regions.clone();
                Ok(Report::Status { status, regions })
            }
            Command::Shift { apps, to, change } => {
                change_routing(&client, &apps, &to, change, progress).await
            }
            Command::Evacuate { region, change } => {
                let manifest = client.manifest();
                let to = manifest.regions.other(&region).cloned().ok_or_else(|| {
                    FailoverError::Usage(format!(
                        "Region `{region}` is not one of this deployment's Regions ({}, {})",
                        manifest.regions.primary, manifest.regions.secondary
                    ))
                })?;
                let apps: Vec<AppName> = manifest.apps.iter().map(|a| a.name.clone()).collect();
                change_routing(&client, &apps, &to, change, progress).await
            }
        }
    };
    done.await.unwrap_or_else(Report::Failed)
}

/// Loads the manifest (the flag, else `.local/deployment.json`) and builds the client.
fn client(path: Option<&Path>, config: ClientConfig) -> Result<Client, FailoverError> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None if Path::new(LOCAL_MANIFEST_PATH).exists() => PathBuf::from(LOCAL_MANIFEST_PATH),
        None => {
            return Err(FailoverError::Usage(format!(
                "no manifest: {LOCAL_MANIFEST_PATH} does not exist here. Start the local world (`just local`, or `cargo run -p local-world -- run`) or deploy (`infra deploy`), or pass --manifest PATH"
            )));
        }
    };
    let manifest = Manifest::load(&path)?;
    Client::from_manifest(&manifest, config)
}
