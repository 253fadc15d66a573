//! Failover plans: the moves of a Region switch written down once, checked before an incident
//! and run step by step during one, with a report. A plan is a TOML file in a folder next to
//! `topology.toml` (`file`); its steps are types (`step`); `check` says whether it can run now
//! without changing anything; `run` runs it, each step's work done by `exec`; `report` is what
//! a run leaves (JSON and Markdown). Like every failover path, a plan run makes data-plane calls
//! only.

pub mod check;
mod exec;
pub mod file;
pub mod regional;
pub mod report;
pub mod run;
pub mod step;

use topology::manifest::Manifest;
use topology::{AppName, Region};

pub use check::{Check, CheckOutcome, CheckReport, check};
pub use file::{DEFAULT_PLANS_DIR, Loaded, Plan, PlanDir, PlanFileError};
pub use report::{AppAlarms, EndAlarms, PlanReport, Recovery, RunOutcome, StepOutcome, StepReport};
pub use run::{ApprovalHook, RunOptions, StepEvent, StepHook, run};
pub use step::{Apps, RegionRef, ShiftMode, Step, StepKind, Wait};

/// Where the plan leaves each app its shifts move (the last shift of each app wins), in the
/// order first moved; child plans included.
pub fn end_state(loaded: &Loaded, manifest: &Manifest) -> Result<Vec<(AppName, Region)>, String> {
    let mut targets: Vec<(AppName, Region)> = Vec::new();
    collect(loaded, &loaded.root, manifest, &mut targets)?;
    Ok(targets)
}

fn collect(
    loaded: &Loaded,
    plan: &Plan,
    manifest: &Manifest,
    targets: &mut Vec<(AppName, Region)>,
) -> Result<(), String> {
    for step in plan.all_steps() {
        match &step.kind {
            StepKind::Shift { apps, to, .. } => {
                let to = to.resolve(manifest)?;
                for app in apps.resolve(manifest)? {
                    match targets.iter_mut().find(|(a, _)| *a == app) {
                        Some(target) => target.1 = to.clone(),
                        None => targets.push((app, to.clone())),
                    }
                }
            }
            StepKind::Plan { plan } => {
                if let Some(child) = loaded.plan(plan) {
                    collect(loaded, child, manifest, targets)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}
