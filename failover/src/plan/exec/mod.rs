//! The step executors: one method on the runner per step kind, a module per family. The
//! runner (`super::run`) sequences steps, runs groups and child plans, and calls [`leaf`] for
//! every other step. An executor honours `--dry-run` itself (it says what it would do and
//! changes nothing) and returns what it did, with the failure when it failed.
//!
//! [`leaf`]: Runner::leaf

mod approval;
mod moves;
mod team;
mod waits;

use topology::{AppName, Region};

use super::run::{Done, Failure, Runner, StepResult};
use super::step::{Apps, RegionRef, Step, StepKind};
use crate::error::exit;

impl Runner<'_> {
    /// A step that is neither a group nor a child plan.
    pub(super) async fn leaf(&self, step: &Step) -> StepResult {
        let plain = |r: Result<Done, Failure>| r.map_err(|f| (Done::default(), f));
        match &step.kind {
            StepKind::Gate { apps, to, max_lag } => plain(self.gate(apps, to, *max_lag).await),
            StepKind::Shift {
                apps,
                to,
                mode,
                verify,
                verify_timeout,
            } => self.shift(apps, to, *mode, *verify, *verify_timeout).await,
            StepKind::Verify {
                apps,
                region,
                timeout,
            } => self.verify(apps, region, *timeout).await,
            StepKind::Wait(wait) => plain(self.wait(wait).await),
            StepKind::Approval { message } => plain(self.approval(&step.name, message).await),
            StepKind::WarmUp {
                apps,
                region,
                requests,
                path,
                min_success,
            } => {
                self.warm_up(apps, region, *requests, path, *min_success)
                    .await
            }
            StepKind::Command { run, timeout } => {
                plain(self.command(&step.name, run, *timeout).await)
            }
            StepKind::Http {
                method,
                url,
                body,
                expect_status,
                timeout,
            } => plain(
                self.http(method, url, body.as_deref(), *expect_status, *timeout)
                    .await,
            ),
            StepKind::Plan { .. } | StepKind::Parallel { .. } => {
                unreachable!("run by `step`")
            }
        }
    }

    /// A step's apps and Region, by name; a name the manifest lacks is a usage error.
    fn resolve(&self, apps: &Apps, region: &RegionRef) -> Result<(Vec<AppName>, Region), Failure> {
        let usage = |message| Failure {
            message,
            code: exit::USAGE,
        };
        Ok((
            apps.resolve(self.manifest).map_err(usage)?,
            region.resolve(self.manifest).map_err(usage)?,
        ))
    }
}

/// Apps as a comma-separated list.
fn names(apps: &[AppName]) -> String {
    apps.iter()
        .map(AppName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
