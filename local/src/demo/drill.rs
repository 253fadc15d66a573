//! What every drill step shares: the world, the mechanism's data-plane client (ARC's, or the
//! flags'), the traffic and the route probe, the pace, the expectations judged so far, and the
//! moves to time and verify at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use loadtest::{BearerToken, LiveView, Run, RunConfig, Scenario};
use topology::{AppName, Mechanism, Region};

use super::narrator::Narrator;
use super::plans::{Approver, DrillPlans, Running};
use crate::World;
use crate::measure::Writes;
use crate::moves::Mover;
use crate::probe::RouteProbe;
use crate::stages;
use crate::verdict::Step;

/// What the live view adds to a move besides its window: the last responses from the old
/// Region take their time to arrive.
const RESPONSE_TIME: Duration = Duration::from_millis(500);

/// How long the tokens of the drill's traffic and probe live: longer than any drill.
const TOKEN_LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// How long each phase lasts and how hard traffic runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub(crate) rate_per_app: u32,
    pub(crate) steady: Duration,
    pub(crate) settle: Duration,
    pub(crate) consistency: Duration,
    pub(crate) consistency_lag: Duration,
    /// How often the route probe reads each route.
    pub(crate) probe_period: Duration,
}

impl Pace {
    pub(crate) fn new(quick: bool) -> Self {
        if quick {
            Self {
                rate_per_app: 20,
                steady: Duration::from_secs(2),
                settle: Duration::from_secs(1),
                consistency: Duration::from_secs(2),
                consistency_lag: Duration::from_millis(500),
                probe_period: Duration::from_millis(100),
            }
        } else {
            Self {
                rate_per_app: 40,
                steady: Duration::from_secs(8),
                settle: Duration::from_secs(4),
                consistency: Duration::from_secs(6),
                consistency_lag: Duration::from_secs(2),
                probe_period: Duration::from_millis(200),
            }
        }
    }

    pub(crate) fn writes(&self) -> Writes {
        Writes {
            rate_per_service: (self.rate_per_app / 4).max(2),
            duration: self.consistency,
            lag: self.consistency_lag,
        }
    }
}

/// A move the drill made, marked on the traffic's timeline.
#[derive(Debug, Clone)]
pub(crate) struct MarkedMove {
    /// The app whose traffic the move is timed on.
    pub(crate) app: AppName,
    /// The mark's label, e.g. `shift orders -> us-west-2`.
    pub(crate) label: String,
    pub(crate) to: Region,
    /// Seconds into the clients' TTL cycle at the call.
    pub(crate) phase: f64,
}

/// The drill in progress.
pub(crate) struct Drill {
    pub(crate) world: Arc<World>,
    /// Moves apps by the world's mechanism.
    pub(crate) mover: Mover,
    pub(crate) run: Run,
    /// The traffic's settings (its connection age and live window bound the moves).
    pub(crate) traffic: RunConfig,
    pub(crate) probe: RouteProbe,
    pub(crate) pace: Pace,
    pub(crate) narrator: Narrator,
    pub(crate) steps: Vec<Step>,
    pub(crate) apps: Vec<AppName>,
    pub(crate) primary: Region,
    pub(crate) secondary: Region,
    /// Every wait a client's move includes, plus the live view's window and its responses'
    /// time: the longest a move may take as the live view sees it.
    pub(crate) bound: Duration,
    pub(crate) moves: Vec<MarkedMove>,
    /// Each move's staged verification, running alongside the drill.
    pub(crate) verifications: Vec<stages::Pending>,
    /// Where the evacuation's and fail back's plans come from.
    pub(crate) plans: DrillPlans,
    /// The reports of the plans the drill ran.
    pub(crate) plan_reports: Vec<failover::plan::PlanReport>,
}

impl Drill {
    /// Starts the traffic and the route probe on `world`.
    pub(crate) fn new(
        world: Arc<World>,
        pace: Pace,
        narrator: Narrator,
        plans: DrillPlans,
    ) -> anyhow::Result<Self> {
        let manifest = world.manifest();
        let mover = Mover::from_manifest(manifest).context("cannot create the failover client")?;
        let apps: Vec<AppName> = manifest.apps.iter().map(|a| a.name.clone()).collect();
        let traffic = RunConfig {
            apps: apps.clone(),
            rate_per_app: pace.rate_per_app,
            duration: None,
            scenario: Scenario::Probe,
            bearer_token: world
                .api_token(TOKEN_LIFETIME)
                .and_then(|t| BearerToken::new(&t).ok()),
            ..RunConfig::default()
        };
        let run = Run::start(manifest, traffic.clone()).context("cannot start the traffic")?;
        let probe = RouteProbe::start(
            world.topology(),
            world.dns().local_addr(),
            pace.probe_period,
            manifest.trusted_client.as_ref(),
            world.api_token(TOKEN_LIFETIME).as_deref(),
        )
        .context("cannot start the route probe")?;
        let bound = client_bound(&world, &traffic) + traffic.live_window + RESPONSE_TIME;
        let regions = world.topology().regions.clone();
        Ok(Self {
            mover,
            run,
            traffic,
            probe,
            pace,
            narrator,
            steps: Vec::new(),
            apps,
            primary: regions.primary,
            secondary: regions.secondary,
            bound,
            moves: Vec::new(),
            verifications: Vec::new(),
            plans,
            plan_reports: Vec::new(),
            world,
        })
    }

    /// Starts plan `name` alongside the drill; why not, when it cannot be loaded.
    pub(crate) fn start_plan(&self, name: &str, approver: Approver) -> Result<Running, String> {
        let plan = self.plans.load(name)?;
        Ok(super::plans::start(&self.world, plan, approver))
    }

    /// Waits for a plan's run and keeps its report; why, when it did not succeed.
    pub(crate) async fn finish_plan(&mut self, running: Running) -> Result<(), String> {
        let report = running
            .task
            .await
            .map_err(|e| format!("the plan's task: {e}"))??;
        let outcome = match &report.error {
            None => Ok(()),
            Some(error) => Err(format!("plan `{}`: {error}", report.plan)),
        };
        self.narrator.say(&format!(
            "plan `{}`: {}{}",
            report.plan,
            report.headline(),
            report
                .recovery
                .as_ref()
                .map(|r| format!(", recovery time {:.2} s", r.ms as f64 / 1000.0))
                .unwrap_or_default()
        ));
        self.plan_reports.push(report);
        outcome
    }

    /// How the drill moves apps, in words, for the steps' lines.
    pub(crate) fn how(&self) -> &'static str {
        match self.world.mechanism() {
            Mechanism::Arc => "the failover library, ARC routing controls",
            Mechanism::HealthCheck => "flags published with the AWS SDK",
        }
    }

    /// The service the drill uses for a role: the one named as in the shipped topology, else
    /// the `nth` service, so the drill still runs after a team renames its services.
    pub(crate) fn service(&self, name: &str, nth: usize) -> AppName {
        let services: Vec<&AppName> = self.world.topology().services().map(|a| a.name()).collect();
        services
            .iter()
            .find(|a| a.as_str() == name)
            .or_else(|| services.get(nth % services.len().max(1)))
            .map_or_else(|| self.apps[0].clone(), |a| (*a).clone())
    }

    /// Records an expectation judged in the drill itself.
    pub(crate) fn record(
        &mut self,
        name: &str,
        expected: String,
        measured: String,
        summary: String,
        held: bool,
    ) {
        self.push(Step {
            name: name.to_owned(),
            expected,
            measured,
            summary,
            skipped: false,
            held,
        });
    }

    /// Records an expectation that could not be measured, and why.
    pub(crate) fn fail(&mut self, name: &str, expected: &str, why: String) {
        self.push(Step::failed(name, expected, why));
    }

    pub(crate) fn push(&mut self, step: Step) {
        self.narrator.verdict(&step);
        self.steps.push(step);
    }

    /// Marks a move in the traffic and remembers where in the clients' TTL cycle it came:
    /// the clients resolved first at the run's start and refresh every TTL since.
    pub(crate) fn mark_move(&mut self, app: &AppName, label: String, to: &Region) -> f64 {
        let ttl = self.world.topology().local.ttl().as_secs_f64();
        let phase = self.run.elapsed().as_secs_f64() % ttl.max(f64::EPSILON);
        self.run.mark(label.clone());
        self.moves.push(MarkedMove {
            app: app.clone(),
            label,
            to: to.clone(),
            phase,
        });
        phase
    }

    /// Before a move of `apps`: their staged verification, prepared (the recursive resolver
    /// holds the answer clients hold now); the stages count from its return.
    pub(crate) async fn prepare_verification(&self, apps: &[AppName]) -> stages::Prepared {
        stages::prepare(self.world.manifest(), apps).await
    }

    /// After the call of a move: its stages, verified alongside the drill.
    pub(crate) fn verify_move(&mut self, label: String, prepared: stages::Prepared, to: &Region) {
        let pending = stages::start(self.world.manifest(), label, prepared, to.clone());
        self.verifications.push(pending);
    }

    /// Polls the live view until all of `app`'s traffic answers from `region`; the time it took.
    pub(crate) async fn wait_for(&self, app: &AppName, region: &Region) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < self.bound * 2 {
            if current_region(&self.run.live(), app).as_ref() == Some(region) {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Requests of every app that failed or were never sent since `before`.
    pub(crate) fn failures_since(&self, before: &LiveView, after: &LiveView) -> u64 {
        self.apps
            .iter()
            .map(|a| new_failures(before, after, a))
            .sum()
    }

    /// A move of all traffic judged against the bound, from the live view.
    pub(crate) fn record_move(
        &mut self,
        name: &str,
        moved: Option<Duration>,
        errors: u64,
        max_errors: u64,
    ) {
        let bound = self.bound;
        let (measured, summary) = match moved {
            // The live view needs a window of responses from one Region, so this reads a little
            // later than the report's exact time printed at the end.
            Some(t) => (
                format!(
                    "the live view saw all traffic moved {:.2} s after the call, {errors} errors or unsent",
                    t.as_secs_f64()
                ),
                format!("moved in {:.2} s, {errors} errors", t.as_secs_f64()),
            ),
            None => (
                format!(
                    "traffic did not move within {:.0} s, {errors} errors or unsent",
                    (bound * 2).as_secs_f64()
                ),
                format!("did NOT move, {errors} errors"),
            ),
        };
        self.record(
            name,
            format!(
                "all traffic moved within {:.1} s ({} + the live view's window and response time), at most {max_errors} errors or unsent",
                bound.as_secs_f64(),
                bound_terms(self.world.mechanism())
            ),
            measured,
            summary,
            moved.is_some_and(|t| t <= bound) && errors <= max_errors,
        );
    }
}

/// Every wait a client's move includes: with the `health-check` mechanism the flag's alarm
/// period (the alarm judges the flag when the period holding it ends), then the health-check
/// interval (propagation), its cached answer's TTL and the age at which it stops reusing a
/// connection to the old Region.
pub(crate) fn client_bound(world: &World, traffic: &RunConfig) -> Duration {
    let local = &world.topology().local;
    propagation_bound(world) + local.ttl() + traffic.max_connection_age
}

/// The longest Route 53 takes to answer with the new record after a move's call: a
/// health-check interval, after an alarm period with the `health-check` mechanism.
pub(crate) fn propagation_bound(world: &World) -> Duration {
    let local = &world.topology().local;
    match world.mechanism() {
        Mechanism::Arc => local.health_check_interval(),
        Mechanism::HealthCheck => local.alarm_period() + local.health_check_interval(),
    }
}

/// What [`client_bound`] adds up, in words.
pub(crate) fn bound_terms(mechanism: Mechanism) -> &'static str {
    match mechanism {
        Mechanism::Arc => "TTL + check interval + connection age",
        Mechanism::HealthCheck => "alarm period + check interval + TTL + connection age",
    }
}

/// The Region all of `app`'s recent traffic answered from, per the live view.
pub(crate) fn current_region(live: &LiveView, app: &AppName) -> Option<Region> {
    live.app(app).and_then(|a| a.current_region.clone())
}

/// Requests of `app` that failed or were never sent, between two live views.
pub(crate) fn new_failures(before: &LiveView, after: &LiveView, app: &AppName) -> u64 {
    let failures = |v: &LiveView| v.app(app).map_or(0, |a| a.errors + a.not_sent);
    failures(after).saturating_sub(failures(before))
}

/// Where each app's traffic answers from, in words.
pub(crate) fn regions_text(live: &LiveView, apps: &[AppName]) -> String {
    apps.iter()
        .map(|a| {
            let region = current_region(live, a).map_or_else(|| "?".to_owned(), |r| r.to_string());
            format!("{a} on {region}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many of `apps` answer from `region` now, in words: `4 of 4 apps on us-east-1`.
pub(crate) fn apps_on(live: &LiveView, apps: &[AppName], region: &Region) -> String {
    let on = apps
        .iter()
        .filter(|a| current_region(live, a).as_ref() == Some(region))
        .count();
    format!("{on} of {} apps on {region}", apps.len())
}
