//! `shift` and `evacuate`, on either mechanism: plan, replication gate, confirmation, the
//! move, and `--verify`.
//! The result is one [`Report`]; what a person watching needs meanwhile goes to stderr.

use std::io::IsTerminal;

use topology::{AppName, Region};

use topology::manifest::Manifest;

use super::args::ChangeArgs;
use super::report::{DryRun, Moved, Report};
use super::text;
use crate::error::FailoverError;
use crate::gate::{GateConfig, GateReport};
use crate::ops::ShiftOptions;
use crate::plane::{DataPlane, MoveOutcome};
use crate::prompt::PromptError;
use crate::verified::{Verified, VerifyError};
use crate::verify::{Prepared, VerifyConfig, default_timeout, prepare, verify_moves};

/// Lines for a person while a move runs, on stderr; none for a script (`--json`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Progress {
    pub(super) shown: bool,
}

impl Progress {
    fn show(self, text: &str) {
        if self.shown {
            eprint!("{text}");
        }
    }
}

/// Moves `apps` to `to` as `change` says (or, with `--dry-run`, says what it would send).
pub(super) async fn change_routing(
    plane: &DataPlane,
    apps: &[AppName],
    to: &Region,
    change: ChangeArgs,
    progress: Progress,
) -> Result<Report, FailoverError> {
    let opts = ShiftOptions {
        override_safety_rules: change.override_safety_rules.clone(),
        dry_run: true,
    };
    // Build (and check) the plan first: a bad app or Region fails before any prompt.
    let plan = plane.shift(apps, to, opts.clone()).await?;
    let manifest = plane.manifest();
    let gate = read_gate(manifest, plan.apps(), to, &change).await?;
    let refusal = gate.as_ref().and_then(GateReport::refusal);
    if change.dry_run {
        let gate_refuses = refusal.is_some() && !change.force;
        return Ok(Report::DryRun(DryRun {
            mechanism: manifest.mechanism(),
            plan,
            gate,
            gate_refuses,
        }));
    }
    if let Some(gate) = &gate {
        progress.show(&text::gate(gate));
    }
    if let Some(refusal) = refusal {
        if !change.force {
            return Err(refusal);
        }
        eprintln!("warning: --force: moving although {refusal}");
    }
    if !change.yes {
        confirm(&plan)?;
    }
    let config = VerifyConfig {
        timeout: change
            .verify_timeout
            .unwrap_or_else(|| default_timeout(manifest)),
        resolver: change.resolver,
        ..VerifyConfig::default()
    };
    let prepared = if change.verify {
        prepare_all(manifest, plan.apps(), &config).await?
    } else {
        Vec::new()
    };
    progress.show(&text::sending(manifest.mechanism(), plan.apps(), to));
    let since = tokio::time::Instant::now();
    let shift = ShiftOptions {
        dry_run: false,
        ..opts
    };
    let shift = plane.shift(apps, to, shift).await?;
    let config = VerifyConfig {
        not_before: shift.delay().unwrap_or_default(),
        ..config
    };
    if !change.verify {
        return Ok(Report::Moved(Moved {
            mechanism: manifest.mechanism(),
            gate,
            shift,
            verified: None,
            failure: None,
        }));
    }
    progress.show(&format!(
        "verifying: timing each stage until traffic reaches {to} ...\n"
    ));
    let (verified, failure) = sort(verify_moves(plane, &prepared, to, since, &config).await);
    Ok(Report::Moved(Moved {
        mechanism: manifest.mechanism(),
        gate,
        shift,
        verified: Some(verified),
        failure: failure.map(FailoverError::Verify),
    }))
}

/// Before the shift: each app's recursive resolver caches the answer clients hold now. All
/// apps at once: a hung resolver delays the shift by one timeout, not one per app.
async fn prepare_all(
    manifest: &Manifest,
    apps: &[AppName],
    config: &VerifyConfig,
) -> Result<Vec<Prepared>, FailoverError> {
    let prepared = apps.iter().map(|app| prepare(manifest, app, config));
    Ok(futures::future::try_join_all(prepared).await?)
}

/// Every app's stages reached, and the first failure.
fn sort(results: Vec<Result<Verified, VerifyError>>) -> (Vec<Verified>, Option<VerifyError>) {
    let mut reports = Vec::new();
    let mut failure = None;
    for result in results {
        match result {
            Ok(report) => reports.push(report),
            Err(error) => {
                if let Some(report) = error.report() {
                    reports.push(report.clone());
                }
                failure.get_or_insert(error);
            }
        }
    }
    (reports, failure)
}

/// The gate's reading, or `None` when forced past a reading that failed.
async fn read_gate(
    manifest: &Manifest,
    apps: &[AppName],
    to: &Region,
    change: &ChangeArgs,
) -> Result<Option<GateReport>, FailoverError> {
    let config = GateConfig {
        max_lag: change.max_replication_lag,
        ..GateConfig::default()
    };
    match crate::gate::read(manifest, apps, to, &config).await {
        Ok(report) => Ok(Some(report)),
        Err(error) if change.force => {
            eprintln!("warning: --force: moving without the replication gate: {error}");
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Asks on the terminal; refuses to ask anything that is not one.
fn confirm(plan: &MoveOutcome) -> Result<(), FailoverError> {
    if std::io::stdin().is_terminal() {
        eprint!("{}", text::plan(plan, false));
    }
    match crate::prompt::confirm("Proceed?") {
        Ok(true) => Ok(()),
        Ok(false) => Err(FailoverError::Usage(
            "not confirmed; nothing was changed".into(),
        )),
        Err(PromptError::NotATerminal) => Err(FailoverError::Usage(
            "stdin is not a terminal, so there is no one to confirm this change: pass --yes to proceed (or --dry-run to see it)".into(),
        )),
        Err(e) => Err(FailoverError::Usage(e.to_string())),
    }
}
