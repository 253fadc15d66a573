//! The runner: a plan's steps in sequence, a parallel group's steps at once; it stops at the
//! first step that fails, with that step's exit code, and runs nothing after it. `--resume`
//! skips what a previous run's report shows done. A plan whose end state already holds (every
//! app its shifts move is already where they would leave it) changes nothing.
//! What each kind of step does is in `super::exec`, a module per family of steps.
//!
//! Data plane only: moves go through [`DataPlane`] (routing controls, or flags published into
//! the Region that stays up); warm-up and waits call the target Region's own hostnames; no
//! step calls the Region being left, except the gate on AWS, whose `ReplicationLatency` is
//! published where the changes come from (a gate that cannot read it fails: nothing moved).
//! At the end the moved apps' alarms are read in every Region that holds them, for the report
//! only: a Region that does not answer leaves them unknown and fails nothing.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::time::Instant;
use topology::manifest::Manifest;
use topology::{AppName, Region};

use super::file::{Loaded, Plan};
use super::report::{
    AppAlarms, EndAlarms, PlanReport, Recovery, RunOutcome, StepOutcome, StepReport,
};
use super::step::{Step, StepKind};
use crate::error::{FailoverError, exit};
use crate::flags::{now_millis, rfc3339};
use crate::plane::{DataPlane, Routing};

/// Asks a person to approve a step (the dashboard's button): `(step, message)`, `true` to go on.
pub type ApprovalHook = Arc<dyn Fn(String, String) -> BoxFuture<'static, bool> + Send + Sync>;

/// Told as steps start and end (the dashboard's live view).
pub type StepHook = Arc<dyn Fn(StepEvent) + Send + Sync>;

/// What a [`StepHook`] is told.
#[derive(Debug, Clone)]
pub enum StepEvent {
    Started { step: String, kind: String },
    AwaitingApproval { step: String, message: String },
    Finished(StepReport),
}

/// How to run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Say what each step would do; change nothing, wait for nothing.
    pub dry_run: bool,
    /// Pass every approval.
    pub yes: bool,
    /// Pass the approvals with these step names.
    pub approve: Vec<String>,
    /// Continue the run this report records: the steps it shows done are not done again.
    pub resume: Option<(std::path::PathBuf, PlanReport)>,
    /// Print each step as it runs, on stderr.
    pub progress: bool,
    /// Ask a person through this instead of the terminal.
    pub approval: Option<ApprovalHook>,
    /// Told of each step.
    pub events: Option<StepHook>,
    /// Between two looks of a wait, and the per-request timeout of warm-ups and waits.
    pub poll: Option<Duration>,
}

/// Runs `loaded`'s root plan against `plane`'s deployment.
pub async fn run(loaded: &Loaded, plane: &DataPlane, options: RunOptions) -> PlanReport {
    let started_at = now_millis();
    let runner = Runner {
        loaded,
        plane,
        manifest: plane.manifest(),
        start: Instant::now(),
        done: options
            .resume
            .as_ref()
            .map_or_else(BTreeSet::new, |(_, r)| {
                r.all_steps()
                    .into_iter()
                    .filter(|s| s.outcome.done())
                    .map(|s| s.name.clone())
                    .collect()
            }),
        moves: Mutex::new(Moves::default()),
        options,
    };
    runner.run(started_at).await
}

/// A run in progress. The step executors (`super::exec`) are methods on it too.
pub(super) struct Runner<'a> {
    pub(super) loaded: &'a Loaded,
    pub(super) plane: &'a DataPlane,
    pub(super) manifest: &'a Manifest,
    start: Instant,
    /// Steps a resumed run's report shows done.
    done: BTreeSet<String>,
    pub(super) moves: Mutex<Moves>,
    pub(super) options: RunOptions,
}

/// When traffic moved, as the steps saw it (ms from the run's start).
#[derive(Default)]
pub(super) struct Moves {
    /// The last move accepted.
    pub(super) last_call: Option<u64>,
    /// Per app, the first `GET /` answered from its target Region.
    pub(super) traffic: Vec<(AppName, Region, u64)>,
    /// The apps moved, in the order first moved.
    pub(super) apps: Vec<AppName>,
}

/// A step's failure: its message and exit code.
pub(super) struct Failure {
    pub(super) message: String,
    pub(super) code: u8,
}

impl From<FailoverError> for Failure {
    fn from(error: FailoverError) -> Self {
        Self {
            code: error.exit_code(),
            message: error.to_string(),
        }
    }
}

impl Failure {
    /// A step's own failure (exit code `STEP_FAILED`).
    pub(super) fn step(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: exit::STEP_FAILED,
        }
    }
}

/// Where a run stopped: the failing step's name (a nested one's, in a group or a child plan)
/// and why; `None` while nothing failed.
type Stopped = Option<(String, Failure)>;

/// A step's result: what it did, and why it failed (with what it did until then).
pub(super) type StepResult = Result<Done, (Done, Failure)>;

/// What a step did: a line, measurements, nested steps.
#[derive(Default)]
pub(super) struct Done {
    pub(super) detail: String,
    pub(super) measurements: Value,
    pub(super) steps: Vec<StepReport>,
}

impl Done {
    pub(super) fn line(detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            ..Self::default()
        }
    }
}

impl<'a> Runner<'a> {
    async fn run(&self, started_at: i64) -> PlanReport {
        let plan = &self.loaded.root;
        let mut report = PlanReport {
            plan: plan.name.clone(),
            description: plan.description.clone(),
            file: plan.path.clone(),
            mechanism: self.manifest.mechanism().as_str().to_owned(),
            started_at: rfc3339(started_at),
            outcome: RunOutcome::Succeeded,
            duration_ms: 0,
            failed_step: None,
            exit_code: exit::OK,
            error: None,
            resumed_from: self.options.resume.as_ref().map(|(p, _)| p.clone()),
            recovery: None,
            steps: Vec::new(),
            alarms: None,
        };
        if let Err(failure) = self.preflight() {
            report.steps = not_run(&plan.steps, "not started");
            return self.finish(report, RunOutcome::Failed, None, Some(failure));
        }
        if self.options.resume.is_none()
            && let Some(holds) = self.end_state_holds().await
        {
            self.say(&format!("plan `{}`: {holds}; nothing to do\n", plan.name));
            report.steps = not_run(&plan.steps, "the end state already held");
            return self.finish(report, RunOutcome::AlreadyDone, None, None);
        }
        let (steps, failed) = self.sequence(plan).await;
        report.steps = steps;
        report.alarms = self.end_alarms().await;
        let outcome = match (&failed, self.options.dry_run) {
            (Some(_), _) => RunOutcome::Failed,
            (None, true) => RunOutcome::DryRun,
            (None, false) => RunOutcome::Succeeded,
        };
        let (step, failure) = failed.map_or((None, None), |(s, f)| (Some(s), Some(f)));
        self.finish(report, outcome, step, failure)
    }

    fn finish(
        &self,
        mut report: PlanReport,
        outcome: RunOutcome,
        step: Option<String>,
        failure: Option<Failure>,
    ) -> PlanReport {
        report.outcome = outcome;
        report.duration_ms = self.now();
        report.recovery = self.recovery();
        if let Some(failure) = failure {
            report.exit_code = failure.code;
            report.error = Some(match &step {
                Some(step) => format!("step `{step}`: {}", failure.message),
                None => failure.message,
            });
        }
        report.failed_step = step;
        report
    }

    /// Every app and Region the plan (and its children) names exists in the manifest, and a
    /// resumed report is this plan's.
    fn preflight(&self) -> Result<(), Failure> {
        let usage = |message: String| Failure {
            message,
            code: exit::USAGE,
        };
        if let Some((path, previous)) = &self.options.resume
            && previous.plan != self.loaded.root.name
        {
            return Err(usage(format!(
                "--resume {}: that report is of plan `{}`, not `{}`",
                path.display(),
                previous.plan,
                self.loaded.root.name
            )));
        }
        let names: BTreeSet<&str> = std::iter::once(&self.loaded.root)
            .chain(self.loaded.children.values())
            .flat_map(|p| p.all_steps())
            .map(|s| s.name.as_str())
            .collect();
        for approved in &self.options.approve {
            if !names.contains(approved.as_str()) {
                return Err(usage(format!(
                    "--approve {approved}: the plan has no step of that name"
                )));
            }
        }
        super::check::names_resolve(self.loaded, self.manifest).map_err(usage)
    }

    /// When every app the plan's shifts move is already where the plan leaves it, says so.
    async fn end_state_holds(&self) -> Option<String> {
        let targets = super::end_state(self.loaded, self.manifest).ok()?;
        if targets.is_empty() {
            return None;
        }
        // Where each app is served: with ARC from the cluster alone (no alarm is read); with
        // flags, from both Regions' CloudWatch, each read bounded by its timeout.
        let active: Vec<(AppName, Option<Region>)> = match self.plane.routing() {
            Routing::Arc(client) => client
                .status()
                .await
                .ok()?
                .apps
                .into_iter()
                .map(|a| (a.app, Some(a.active)))
                .collect(),
            Routing::HealthCheck(_) => self
                .plane
                .status()
                .await
                .ok()?
                .apps
                .into_iter()
                .map(|a| (a.app, a.active))
                .collect(),
        };
        let holds = targets.iter().all(|(app, region)| {
            active
                .iter()
                .any(|(a, at)| a == app && at.as_ref() == Some(region))
        });
        holds.then(|| {
            let at: Vec<String> = targets.iter().map(|(a, r)| format!("{a} on {r}")).collect();
            format!("its end state already holds ({})", at.join(", "))
        })
    }

    /// The alarms of the apps this run moved, read now; `None` when it moved none that has
    /// alarms.
    async fn end_alarms(&self) -> Option<EndAlarms> {
        let moved = self.moves.lock().expect("not poisoned").apps.clone();
        let with_alarms: Vec<AppName> = moved
            .into_iter()
            .filter(|app| self.manifest.app(app).is_some_and(|a| !a.alarms.is_empty()))
            .collect();
        if with_alarms.is_empty() {
            return None;
        }
        let read_ms = self.now();
        let (apps, cloudwatch) = self.plane.app_alarms(&with_alarms).await;
        Some(EndAlarms {
            read_ms,
            apps: apps
                .into_iter()
                .map(|(app, alarms)| AppAlarms { app, alarms })
                .collect(),
            cloudwatch,
        })
    }

    /// `plan`'s steps in order, until one fails: their reports, and the failure.
    fn sequence<'b>(&'b self, plan: &'b Plan) -> BoxFuture<'b, (Vec<StepReport>, Stopped)> {
        Box::pin(async move {
            let mut reports = Vec::new();
            let mut failed = None;
            let total = plan.steps.len();
            for (i, step) in plan.steps.iter().enumerate() {
                if failed.is_some() {
                    reports.push(StepReport::not_run(
                        &step.name,
                        step.kind.word(),
                        "a step before it failed",
                    ));
                    continue;
                }
                self.say(&format!(
                    "[{}/{total}] {} `{}` ...\n",
                    i + 1,
                    step.kind.word(),
                    step.name
                ));
                let (report, failure) = self.step(step).await;
                self.say(&format!(
                    "      {}: {}\n",
                    match report.outcome {
                        StepOutcome::Failed => "FAILED",
                        StepOutcome::DoneBefore => "done before",
                        StepOutcome::DryRun => "would",
                        _ => "ok",
                    },
                    report.detail
                ));
                reports.push(report);
                failed = failure;
            }
            (reports, failed)
        })
    }

    /// One step: its report and, when it failed, the failing step's name (a nested one's, in a
    /// group or a child plan) and why.
    fn step<'b>(&'b self, step: &'b Step) -> BoxFuture<'b, (StepReport, Stopped)> {
        Box::pin(async move {
            let kind = step.kind.word();
            if self.done.contains(&step.name) {
                let mut report = StepReport::not_run(&step.name, kind, "done in the resumed run");
                report.outcome = StepOutcome::DoneBefore;
                return (report, None);
            }
            self.tell(StepEvent::Started {
                step: step.name.clone(),
                kind: kind.to_owned(),
            });
            let start = self.now();
            let (result, nested_failure) = match &step.kind {
                StepKind::Parallel { steps } => self.parallel(steps).await,
                StepKind::Plan { plan } => self.child(plan).await,
                _ => (self.leaf(step).await, None),
            };
            let end = self.now();
            let (outcome, done, failure) = match result {
                Ok(done) if self.options.dry_run => (StepOutcome::DryRun, done, None),
                Ok(done) => (StepOutcome::Succeeded, done, None),
                Err((done, failure)) => (StepOutcome::Failed, done, Some(failure)),
            };
            let report = StepReport {
                name: step.name.clone(),
                kind: kind.to_owned(),
                outcome,
                start_ms: Some(start),
                end_ms: Some(end),
                detail: match &failure {
                    Some(f) if done.detail.is_empty() => f.message.clone(),
                    _ => done.detail,
                },
                measurements: done.measurements,
                exit_code: failure.as_ref().map(|f| f.code),
                steps: done.steps,
            };
            self.tell(StepEvent::Finished(report.clone()));
            let failed = nested_failure.or_else(|| failure.map(|f| (step.name.clone(), f)));
            (report, failed)
        })
    }

    async fn parallel(&self, steps: &[Step]) -> (StepResult, Stopped) {
        let results = futures::future::join_all(steps.iter().map(|s| self.step(s))).await;
        let mut reports = Vec::new();
        let mut failed = None;
        for (report, failure) in results {
            reports.push(report);
            if failed.is_none() {
                failed = failure;
            }
        }
        let passed = reports
            .iter()
            .filter(|r| r.outcome != StepOutcome::Failed)
            .count();
        let done = Done {
            detail: format!("{passed} of {} steps passed", reports.len()),
            measurements: Value::Null,
            steps: reports,
        };
        match failed {
            None => (Ok(done), None),
            Some((name, failure)) => {
                let group = Failure {
                    message: format!("step `{name}` of the group failed: {}", failure.message),
                    code: failure.code,
                };
                (Err((done, group)), Some((name, failure)))
            }
        }
    }

    async fn child(&self, name: &str) -> (StepResult, Stopped) {
        let Some(plan) = self.loaded.plan(name) else {
            let failure = Failure {
                message: format!("plan `{name}` was not loaded"),
                code: exit::USAGE,
            };
            return (Err((Done::default(), failure)), None);
        };
        let (steps, failed) = self.sequence(plan).await;
        let done = Done {
            detail: format!("plan `{name}`: {} steps", steps.len()),
            measurements: Value::Null,
            steps,
        };
        match failed {
            None => (Ok(done), None),
            Some((step, failure)) => {
                let outer = Failure {
                    message: format!("plan `{name}` failed at step `{step}`: {}", failure.message),
                    code: failure.code,
                };
                (Err((done, outer)), Some((step, failure)))
            }
        }
    }

    /// From the run's start until traffic had moved: the last app's first `GET /` answered
    /// from its target Region; without verification, the last move accepted.
    fn recovery(&self) -> Option<Recovery> {
        let moves = self.moves.lock().expect("not poisoned");
        if let Some((app, region, ms)) = moves.traffic.iter().max_by_key(|(_, _, ms)| *ms) {
            return Some(Recovery {
                ms: *ms,
                verified: true,
                detail: format!("until the last app to move ({app}) answered GET / from {region}"),
            });
        }
        moves.last_call.map(|ms| Recovery {
            ms,
            verified: false,
            detail: "until the last move was accepted; no step verified traffic (add `verify = true` to the shift)".into(),
        })
    }

    pub(super) fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Between two looks of a wait, and the per-request timeout of warm-ups and waits.
    pub(super) fn poll(&self) -> Duration {
        self.options.poll.unwrap_or(Duration::from_millis(500))
    }

    fn say(&self, text: &str) {
        if self.options.progress {
            eprint!("{text}");
        }
    }

    pub(super) fn tell(&self, event: StepEvent) {
        if let Some(hook) = &self.options.events {
            hook(event);
        }
    }
}

fn not_run(steps: &[Step], why: &str) -> Vec<StepReport> {
    steps
        .iter()
        .map(|s| StepReport::not_run(&s.name, s.kind.word(), why))
        .collect()
}
