//! The `failover` command line. `main.rs` only parses ([`Cli`], in `args`) and calls [`run`]:
//! each command builds one [`Report`] (`change` runs the moves), rendered once as text or
//! JSON (`report`, `text`); the error, if any, also goes to stderr and sets the exit code.
//! [`execute_with`] runs a parsed command against a manifest already loaded: what a test or
//! the local world drives, with the CLI's exact behaviour and report.

mod args;
mod change;
mod plan;
mod report;
mod text;

use std::path::{Path, PathBuf};

use topology::AppName;
use topology::manifest::{LOCAL_MANIFEST_PATH, Manifest};

use crate::client::ClientConfig;
use crate::error::FailoverError;
use crate::plane::DataPlane;
pub use args::{ChangeArgs, Cli, Command, PlanCommand, parse_duration};
use change::{Progress, change_routing};
pub use report::{DryRun, Format, Moved, PlanList, PlanRun, Report};

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
    if let Command::Plan {
        plans,
        command: PlanCommand::List,
    } = cli.command
    {
        return plan::list(plans);
    }
    match load(cli.manifest.as_deref()) {
        Ok(manifest) => execute_with(&manifest, cli, format).await,
        Err(error) => Report::Failed(plan_error(&cli.command).unwrap_or(error)),
    }
}

/// Runs the command against `manifest` (`cli.manifest` is not read) and builds its report,
/// e.g. `execute_with(&manifest, Cli::try_parse_from(["failover", "status"])?, Format::Json)`.
pub async fn execute_with(manifest: &Manifest, cli: Cli, format: Format) -> Report {
    let config = ClientConfig {
        connect_timeout: cli.connect_timeout,
        attempt_timeout: cli.attempt_timeout,
        hedge_after: cli.hedge_after,
        deadline: cli.deadline,
        ..ClientConfig::default()
    };
    let progress = Progress {
        shown: format == Format::Text,
    };
    // Boxed: the moves' futures (verification included) nest too deep for the compiler's
    // layout computation otherwise.
    let done = Box::pin(async {
        let plane = DataPlane::from_manifest(manifest, config)?;
        match cli.command {
            Command::Status => Ok(Report::Status(plane.status().await?)),
            Command::Shift { apps, to, change } => {
                Box::pin(change_routing(&plane, &apps, &to, change, progress)).await
            }
            Command::Evacuate { region, change } => {
                let to = manifest.regions.other(&region).cloned().ok_or_else(|| {
                    FailoverError::Usage(format!(
                        "Region `{region}` is not one of this deployment's Regions ({}, {})",
                        manifest.regions.primary, manifest.regions.secondary
                    ))
                })?;
                let apps: Vec<AppName> = manifest.apps.iter().map(|a| a.name.clone()).collect();
                Box::pin(change_routing(&plane, &apps, &to, change, progress)).await
            }
            Command::Plan {
                plans,
                command: PlanCommand::List,
            } => Ok(plan::list(plans)),
            Command::Plan { plans, command } => {
                Box::pin(plan::execute(
                    manifest,
                    &plane,
                    plans,
                    command,
                    progress.shown,
                ))
                .await
            }
        }
    });
    done.await.unwrap_or_else(Report::Failed)
}

/// Why the plan `plan check` or `plan run` names does not load, if it does not: said before
/// a missing manifest, which is no use without a plan.
fn plan_error(command: &Command) -> Option<FailoverError> {
    let Command::Plan {
        plans,
        command: PlanCommand::Check { plan } | PlanCommand::Run { plan, .. },
    } = command
    else {
        return None;
    };
    let error = crate::plan::PlanDir::new(plans).load(plan).err()?;
    Some(FailoverError::Usage(error.to_string()))
}

/// Loads the manifest: the flag, else `.local/deployment.json`.
fn load(path: Option<&Path>) -> Result<Manifest, FailoverError> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None if Path::new(LOCAL_MANIFEST_PATH).exists() => PathBuf::from(LOCAL_MANIFEST_PATH),
        None => {
            return Err(FailoverError::Usage(format!(
                "no manifest: {LOCAL_MANIFEST_PATH} does not exist here. Start the local world (`just local`, or `cargo run -p local-world -- run`) or deploy (`infra deploy`), or pass --manifest PATH"
            )));
        }
    };
    Ok(Manifest::load(&path)?)
}
