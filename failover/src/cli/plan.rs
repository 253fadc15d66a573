//! `failover plan list|check|run`: loads the plan, runs it (or checks it), and builds one
//! [`Report`]; a run also writes its own report files.

use std::path::PathBuf;

use topology::manifest::Manifest;

use super::args::PlanCommand;
use super::report::{PlanList, PlanRun, Report};
use crate::error::FailoverError;
use crate::plan::{self, PlanDir, PlanReport, RunOptions};
use crate::plane::DataPlane;

/// `plan list`: needs no manifest.
pub(super) fn list(dir: PathBuf) -> Report {
    let plans = PlanDir::new(&dir);
    let entries = plans
        .list()
        .into_iter()
        .map(|p| p.map_err(|e| e.to_string()))
        .collect();
    Report::PlanList(PlanList { dir, entries })
}

/// `plan check` and `plan run`.
pub(super) async fn execute(
    manifest: &Manifest,
    plane: &DataPlane,
    dir: PathBuf,
    command: PlanCommand,
    progress: bool,
) -> Result<Report, FailoverError> {
    let plans = PlanDir::new(dir);
    let usage = |e: plan::PlanFileError| FailoverError::Usage(e.to_string());
    match command {
        PlanCommand::List => unreachable!("listed without a manifest"),
        PlanCommand::Check { plan } => {
            let loaded = plans.load(&plan).map_err(usage)?;
            Ok(Report::PlanCheck(plan::check(&loaded, plane).await))
        }
        PlanCommand::Run {
            plan,
            dry_run,
            yes,
            approve,
            resume,
            report_dir,
        } => {
            let loaded = plans.load(&plan).map_err(usage)?;
            let resume = match resume {
                Some(path) => {
                    let previous = PlanReport::load(&path).map_err(FailoverError::Usage)?;
                    Some((path, previous))
                }
                None => None,
            };
            let options = RunOptions {
                dry_run,
                yes,
                approve,
                resume,
                progress,
                ..RunOptions::default()
            };
            let _ = manifest;
            let report = plan::run(&loaded, plane, options).await;
            let written = report.write(&report_dir);
            Ok(Report::PlanRun(PlanRun::new(report, written)))
        }
    }
}
