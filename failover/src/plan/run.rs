//! The runner: a plan's steps in sequence, a parallel group's steps at once; it stops at the
//! first step that fails, with that step's exit code, and runs nothing after it. `--resume`
//! skips what a previous run's report shows done. A plan whose end state already holds (every
//! app its shifts move is already where they would leave it) changes nothing.
//!
//! Data plane only: moves go through [`DataPlane`] (routing controls, or flags published into
//! the Region that stays up); warm-up and waits call the target Region's own hostnames; no
//! step calls the Region being left, except the gate on AWS, whose `ReplicationLatency` is
//! published where the changes come from (a gate that cannot read it fails: nothing moved).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::time::Instant;
use topology::manifest::Manifest;
use topology::{AppName, Region};

use super::file::{Loaded, Plan};
use super::regional::Regional;
use super::report::{PlanReport, Recovery, RunOutcome, StepOutcome, StepReport};
use super::step::{Apps, RegionRef, ShiftMode, Step, StepKind, Wait};
use crate::alarms::describe;
use crate::cloudwatch::CloudWatch;
use crate::error::{FailoverError, exit};
use crate::flags::{now_millis, rfc3339, timeouts};
use crate::gate::GateConfig;
use crate::ops::ShiftOptions;
use crate::plane::{DataPlane, Routing};
use crate::prompt::PromptError;
use crate::verified::{StageName, Verified};
use crate::verify::{VerifyConfig, prepare, verify, verify_moves};

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

struct Runner<'a> {
    loaded: &'a Loaded,
    plane: &'a DataPlane,
    manifest: &'a Manifest,
    start: Instant,
    done: BTreeSet<String>,
    moves: Mutex<Moves>,
    options: RunOptions,
}

/// When traffic moved, as the steps saw it (ms from the run's start).
#[derive(Default)]
struct Moves {
    /// The last move accepted.
    last_call: Option<u64>,
    /// Per app, the first `GET /` answered from its target Region.
    traffic: Vec<(AppName, Region, u64)>,
}

/// A step's failure: its message and exit code.
struct Failure {
    message: String,
    code: u8,
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
    fn step(message: impl Into<String>) -> Self {
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
type StepResult = Result<Done, (Done, Failure)>;

/// What a step did: a line, measurements, nested steps.
#[derive(Default)]
struct Done {
    detail: String,
    measurements: Value,
    steps: Vec<StepReport>,
}

impl Done {
    fn line(detail: impl Into<String>) -> Self {
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

    async fn leaf(&self, step: &Step) -> StepResult {
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

    async fn gate(&self, apps: &Apps, to: &RegionRef, max_lag: Duration) -> Result<Done, Failure> {
        let (apps, to) = self.resolve(apps, to)?;
        let config = GateConfig {
            max_lag,
            ..GateConfig::default()
        };
        let report = crate::gate::read(self.manifest, &apps, &to, &config).await?;
        let lags: Vec<String> = report
            .readings
            .iter()
            .filter_map(|r| r.lag_ms.map(|lag| format!("{} {} ms", r.app, lag)))
            .collect();
        let measurements = json!(report);
        if let Some(refusal) = report.refusal() {
            return Err(refusal.into());
        }
        Ok(Done {
            detail: format!(
                "replication into {to} within {} ms: {}",
                report.max_lag_ms,
                if lags.is_empty() {
                    "no table to read".to_owned()
                } else {
                    lags.join(", ")
                }
            ),
            measurements,
            steps: Vec::new(),
        })
    }

    async fn shift(
        &self,
        apps: &Apps,
        to: &RegionRef,
        mode: ShiftMode,
        verify: bool,
        timeout: Duration,
    ) -> StepResult {
        let (apps, to) = self.resolve(apps, to).map_err(|f| (Done::default(), f))?;
        if self.options.dry_run {
            let plan = self
                .plane
                .shift(
                    &apps,
                    &to,
                    ShiftOptions {
                        dry_run: true,
                        ..ShiftOptions::default()
                    },
                )
                .await
                .map_err(|e| (Done::default(), e.into()))?;
            return Ok(Done {
                detail: format!("would move {} to {to} ({})", names(&apps), mode_text(mode)),
                measurements: json!(plan),
                steps: Vec::new(),
            });
        }
        let config = self.verify_config(timeout);
        let prepared = if verify {
            let all = apps.iter().map(|app| prepare(self.manifest, app, &config));
            futures::future::try_join_all(all)
                .await
                .map_err(|e| (Done::default(), FailoverError::Verify(e).into()))?
        } else {
            Vec::new()
        };
        let since = Instant::now();
        let called_at = self.now();
        let moved = match mode {
            ShiftMode::Batch => vec![self.plane.shift(&apps, &to, ShiftOptions::default()).await],
            ShiftMode::Parallel => {
                futures::future::join_all(apps.iter().map(|app| {
                    self.plane
                        .shift(std::slice::from_ref(app), &to, ShiftOptions::default())
                }))
                .await
            }
        };
        let accepted = self.now();
        let mut outcomes = Vec::new();
        let mut error = None;
        for result in moved {
            match result {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        if !outcomes.is_empty() {
            let mut moves = self.moves.lock().expect("not poisoned");
            moves.last_call = Some(moves.last_call.unwrap_or(0).max(accepted));
        }
        let mut measurements =
            json!({ "called_ms": called_at, "accepted_ms": accepted, "moves": outcomes });
        if let Some(error) = error {
            let done = Done {
                detail: String::new(),
                measurements,
                steps: Vec::new(),
            };
            return Err((done, error.into()));
        }
        let mut detail = format!(
            "moved {} to {to} in {} ms ({})",
            names(&apps),
            accepted - called_at,
            mode_text(mode)
        );
        if !verify {
            return Ok(Done {
                detail,
                measurements,
                steps: Vec::new(),
            });
        }
        let config = VerifyConfig {
            not_before: outcomes
                .iter()
                .filter_map(|o| o.delay())
                .max()
                .unwrap_or_default(),
            ..config
        };
        let results = verify_moves(self.plane, &prepared, &to, since, &config).await;
        let (verified, failure) = self.record_traffic(results, called_at);
        measurements["verified"] = json!(verified);
        detail.push_str(&format!("; {}", traffic_text(&verified, called_at)));
        let done = Done {
            detail,
            measurements,
            steps: Vec::new(),
        };
        match failure {
            None => Ok(done),
            Some(f) => Err((done, f)),
        }
    }

    /// Records when each verified app's traffic moved (the `http` stage's pass, from
    /// `since_ms`); the verifications, and the first failure.
    fn record_traffic(
        &self,
        results: Vec<Result<Verified, crate::verified::VerifyError>>,
        since_ms: u64,
    ) -> (Vec<Verified>, Option<Failure>) {
        let mut verified = Vec::new();
        let mut failure = None;
        for result in results {
            match result {
                Ok(v) => {
                    if let Some(ms) = http_ms(&v) {
                        self.moves.lock().expect("not poisoned").traffic.push((
                            v.app.clone(),
                            v.region.clone(),
                            since_ms + ms,
                        ));
                    }
                    verified.push(v);
                }
                Err(e) => {
                    if let Some(v) = e.report() {
                        verified.push(v.clone());
                    }
                    failure.get_or_insert_with(|| FailoverError::Verify(e).into());
                }
            }
        }
        (verified, failure)
    }

    async fn verify(&self, apps: &Apps, region: &RegionRef, timeout: Duration) -> StepResult {
        let (apps, region) = self
            .resolve(apps, region)
            .map_err(|f| (Done::default(), f))?;
        if self.options.dry_run {
            return Ok(Done::line(format!(
                "would check that DNS and GET / show {} on {region}, within {} s",
                names(&apps),
                timeout.as_secs()
            )));
        }
        let config = self.verify_config(timeout);
        let since = self.now();
        let results = futures::future::join_all(
            apps.iter()
                .map(|app| verify(self.manifest, app, &region, &config)),
        )
        .await;
        let (verified, failure) = self.record_traffic(results, since);
        let done = Done {
            detail: traffic_text(&verified, since),
            measurements: json!({ "verified": verified }),
            steps: Vec::new(),
        };
        match failure {
            None => Ok(done),
            Some(f) => Err((done, f)),
        }
    }

    async fn wait(&self, wait: &Wait) -> Result<Done, Failure> {
        match wait {
            Wait::Duration(d) => {
                if !self.options.dry_run {
                    tokio::time::sleep(*d).await;
                }
                Ok(Done::line(format!("waited {} ms", d.as_millis())))
            }
            Wait::Answers {
                app,
                region,
                timeout,
            } => {
                let region = region.resolve(self.manifest).map_err(Failure::step)?;
                if self.options.dry_run {
                    return Ok(Done::line(format!(
                        "would wait for {app} to answer in {region}"
                    )));
                }
                let regional = Regional::new(self.manifest, self.poll()).map_err(Failure::step)?;
                let deadline = Instant::now() + *timeout;
                let mut looks = 0u32;
                loop {
                    looks += 1;
                    let last = match regional.get(self.manifest, app, &region, "/").await {
                        Ok(a) if (200..300).contains(&a.status) => {
                            return Ok(Done {
                                detail: format!("{app} answered in {region} ({} looks)", looks),
                                measurements: json!({ "looks": looks, "status": a.status }),
                                steps: Vec::new(),
                            });
                        }
                        Ok(a) => format!("it answered {}", a.status),
                        Err(e) => e,
                    };
                    if Instant::now() >= deadline {
                        return Err(Failure::step(format!(
                            "{app} did not answer in {region} within {} s: {last}",
                            timeout.as_secs()
                        )));
                    }
                    tokio::time::sleep(self.poll()).await;
                }
            }
            Wait::Alarm {
                name,
                region,
                state,
                timeout,
            } => {
                let region = region.resolve(self.manifest).map_err(Failure::step)?;
                if self.options.dry_run {
                    return Ok(Done::line(format!(
                        "would wait for alarm {name} in {region} to be {state}"
                    )));
                }
                let config = crate::client::ClientConfig::default();
                let cloudwatch = CloudWatch::for_manifest(self.manifest, timeouts(&config));
                let wanted = [(region.clone(), name.clone())];
                let deadline = Instant::now() + *timeout;
                loop {
                    let seen = describe(&cloudwatch, &wanted).await.get(&region, name);
                    if seen.state.as_str() == state {
                        return Ok(Done::line(format!("alarm {name} in {region} is {state}")));
                    }
                    if Instant::now() >= deadline {
                        return Err(Failure::step(format!(
                            "alarm {name} in {region} was not {state} within {} s (last: {})",
                            timeout.as_secs(),
                            seen.state.as_str()
                        )));
                    }
                    tokio::time::sleep(self.poll().max(Duration::from_secs(1))).await;
                }
            }
        }
    }

    async fn approval(&self, step: &str, message: &str) -> Result<Done, Failure> {
        if self.options.dry_run {
            return Ok(Done::line(format!("would ask: {message}")));
        }
        if self.options.yes {
            return Ok(Done::line("approved by --yes"));
        }
        if self.options.approve.iter().any(|a| a == step) {
            return Ok(Done::line(format!("approved by --approve {step}")));
        }
        self.tell(StepEvent::AwaitingApproval {
            step: step.to_owned(),
            message: message.to_owned(),
        });
        let not_given = |how: &str| Failure {
            message: format!(
                "not approved ({how}); the steps after it did not run. Resume with --resume REPORT --approve {step}"
            ),
            code: exit::NOT_APPROVED,
        };
        if let Some(hook) = &self.options.approval {
            return if hook(step.to_owned(), message.to_owned()).await {
                Ok(Done::line("approved on the dashboard"))
            } else {
                Err(not_given("declined on the dashboard"))
            };
        }
        let question = format!("{message} (step `{step}`)");
        match tokio::task::spawn_blocking(move || crate::prompt::confirm(&question)).await {
            Ok(Ok(true)) => Ok(Done::line("approved at the terminal")),
            Ok(Ok(false)) => Err(not_given("declined at the terminal")),
            Ok(Err(PromptError::NotATerminal)) => Err(not_given(
                "it waits for a person: stdin is not a terminal, and neither --yes nor --approve names it",
            )),
            Ok(Err(e)) => Err(not_given(&e.to_string())),
            Err(e) => Err(not_given(&e.to_string())),
        }
    }

    async fn warm_up(
        &self,
        apps: &Apps,
        region: &RegionRef,
        requests: u32,
        path: &str,
        min_success: u32,
    ) -> StepResult {
        let (apps, region) = self
            .resolve(apps, region)
            .map_err(|f| (Done::default(), f))?;
        if self.options.dry_run {
            return Ok(Done::line(format!(
                "would send {requests} GET {path} to each of {} on its {region} hostname",
                names(&apps)
            )));
        }
        let regional = Regional::new(self.manifest, self.poll())
            .map_err(|e| (Done::default(), Failure::step(e)))?;
        let runs = apps
            .iter()
            .map(|app| warm(&regional, self.manifest, app, &region, path, requests));
        let results = futures::future::join_all(runs).await;
        let mut lines = Vec::new();
        let mut failure = None;
        let mut measured = Vec::new();
        for (app, result) in apps.iter().zip(results) {
            let (ok, slowest, last_error) = result;
            lines.push(format!("{app} {ok}/{requests}"));
            measured.push(json!({ "app": app, "region": region, "requests": requests, "succeeded": ok, "slowest_ms": slowest, "last_error": last_error }));
            if ok < min_success && failure.is_none() {
                failure = Some(Failure::step(format!(
                    "warm-up of {app} in {region}: {ok} of {requests} requests answered 2xx (need {min_success}){}",
                    last_error
                        .map(|e| format!("; last: {e}"))
                        .unwrap_or_default()
                )));
            }
        }
        let done = Done {
            detail: format!("warmed {region}: {}", lines.join(", ")),
            measurements: json!(measured),
            steps: Vec::new(),
        };
        match failure {
            None => Ok(done),
            Some(f) => Err((done, f)),
        }
    }

    async fn command(
        &self,
        step: &str,
        run: &[String],
        timeout: Duration,
    ) -> Result<Done, Failure> {
        if self.options.dry_run {
            return Ok(Done::line(format!("would run {}", run.join(" "))));
        }
        let mut command = tokio::process::Command::new(&run[0]);
        command
            .args(&run[1..])
            .env("FAILOVER_PLAN", &self.loaded.root.name)
            .env("FAILOVER_STEP", step)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(timeout, command.output())
            .await
            .map_err(|_| {
                Failure::step(format!(
                    "`{}` did not finish within {} s",
                    run.join(" "),
                    timeout.as_secs()
                ))
            })?
            .map_err(|e| Failure::step(format!("cannot run `{}`: {e}", run[0])))?;
        let tail = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes);
            let lines: Vec<&str> = text.lines().rev().take(5).collect();
            lines.into_iter().rev().collect::<Vec<_>>().join("\n")
        };
        if !output.status.success() {
            return Err(Failure::step(format!(
                "`{}` exited with {}: {}",
                run.join(" "),
                output.status,
                tail(&output.stderr)
            )));
        }
        Ok(Done {
            detail: format!("`{}` exited 0", run.join(" ")),
            measurements: json!({ "stdout_tail": tail(&output.stdout) }),
            steps: Vec::new(),
        })
    }

    async fn http(
        &self,
        method: &str,
        url: &str,
        body: Option<&str>,
        expect: u16,
        timeout: Duration,
    ) -> Result<Done, Failure> {
        if self.options.dry_run {
            return Ok(Done::line(format!(
                "would call {method} {url}, expecting {expect}"
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| Failure::step(format!("HTTP client: {e}")))?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| Failure::step(e.to_string()))?;
        let mut request = client.request(method.clone(), url);
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let started = Instant::now();
        let response = request
            .send()
            .await
            .map_err(|e| Failure::step(format!("{method} {url}: {e}")))?;
        let status = response.status().as_u16();
        let ms = started.elapsed().as_millis();
        if status != expect {
            return Err(Failure::step(format!(
                "{method} {url} answered {status}, not {expect}"
            )));
        }
        Ok(Done {
            detail: format!("{method} {url} answered {status} in {ms} ms"),
            measurements: json!({ "status": status, "elapsed_ms": ms }),
            steps: Vec::new(),
        })
    }

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

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Verification within `timeout`, looking at least as often as the default.
    fn verify_config(&self, timeout: Duration) -> VerifyConfig {
        let defaults = VerifyConfig::for_manifest(self.manifest);
        VerifyConfig {
            timeout,
            interval: defaults.interval.min(self.poll()),
            ..defaults
        }
    }

    fn poll(&self) -> Duration {
        self.options.poll.unwrap_or(Duration::from_millis(500))
    }

    fn say(&self, text: &str) {
        if self.options.progress {
            eprint!("{text}");
        }
    }

    fn tell(&self, event: StepEvent) {
        if let Some(hook) = &self.options.events {
            hook(event);
        }
    }
}

/// `requests` GETs of `path` to `app` in `region`, four at a time: how many answered 2xx, the
/// slowest, and the last error.
async fn warm(
    regional: &Regional,
    manifest: &Manifest,
    app: &AppName,
    region: &Region,
    path: &str,
    requests: u32,
) -> (u32, u64, Option<String>) {
    use futures::StreamExt;
    let (client, url) = match regional.client(manifest, app, region, path).await {
        Ok(bound) => bound,
        Err(e) => return (0, 0, Some(e)),
    };
    let answers: Vec<_> = futures::stream::iter(0..requests)
        .map(|_| super::regional::send(&client, &url))
        .buffer_unordered(4)
        .collect()
        .await;
    let mut ok = 0;
    let mut slowest = 0;
    let mut last_error = None;
    for answer in answers {
        match answer {
            Ok(a) if (200..300).contains(&a.status) => {
                ok += 1;
                slowest = slowest.max(u64::try_from(a.elapsed.as_millis()).unwrap_or(u64::MAX));
            }
            Ok(a) => last_error = Some(format!("answered {}", a.status)),
            Err(e) => last_error = Some(e),
        }
    }
    (ok, slowest, last_error)
}

/// When the `http` stage passed, from the verification's start.
fn http_ms(verified: &Verified) -> Option<u64> {
    verified
        .stages
        .iter()
        .find(|s| s.stage == StageName::Http && s.outcome == crate::verified::Outcome::Passed)
        .and_then(|s| s.elapsed_ms)
}

fn traffic_text(verified: &[Verified], since_ms: u64) -> String {
    let each: Vec<String> = verified
        .iter()
        .map(|v| match http_ms(v) {
            Some(ms) => format!(
                "{} answered from {} at {} ms",
                v.app,
                v.region,
                since_ms + ms
            ),
            None => format!("{} not verified", v.app),
        })
        .collect();
    format!("traffic: {}", each.join(", "))
}

fn mode_text(mode: ShiftMode) -> &'static str {
    match mode {
        ShiftMode::Batch => "one batch",
        ShiftMode::Parallel => "one call per app, at once",
    }
}

fn names(apps: &[AppName]) -> String {
    apps.iter()
        .map(AppName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn not_run(steps: &[Step], why: &str) -> Vec<StepReport> {
    steps
        .iter()
        .map(|s| StepReport::not_run(&s.name, s.kind.word(), why))
        .collect()
}
