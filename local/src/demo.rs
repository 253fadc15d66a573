//! `local-world demo`: the local world with traffic and a scripted failover drill, narrated step by
//! step with what was expected and what was measured, then the traffic report.
//!
//! The drill: steady state; shift `orders` to the secondary while the other apps stay put;
//! stop `payments` in the primary and recover by evacuating the primary; the consistency
//! scenario (no acknowledged write lost once replication catches up); fail back.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use failover::{Client, ClientConfig, ShiftOptions};
use loadtest::{LiveView, Report, Run, RunConfig, Scenario};
use topology::{AppName, Region, Topology};

use super::{DemoArgs, World, control, describe};

/// How long each phase lasts and how hard traffic runs.
#[derive(Debug, Clone, Copy)]
struct Pace {
    rate_per_app: u32,
    steady: Duration,
    settle: Duration,
    consistency: Duration,
    consistency_lag: Duration,
}

impl Pace {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                rate_per_app: 20,
                steady: Duration::from_secs(2),
                settle: Duration::from_secs(1),
                consistency: Duration::from_secs(2),
                consistency_lag: Duration::from_millis(500),
            }
        } else {
            Self {
                rate_per_app: 40,
                steady: Duration::from_secs(8),
                settle: Duration::from_secs(4),
                consistency: Duration::from_secs(6),
                consistency_lag: Duration::from_secs(2),
            }
        }
    }
}

/// One step's verdict.
#[derive(Debug, Clone, serde::Serialize)]
struct Step {
    name: String,
    expected: String,
    measured: String,
    held: bool,
}

struct Drill {
    world: Arc<World>,
    client: Client,
    run: Run,
    pace: Pace,
    started: Instant,
    steps: Vec<Step>,
    apps: Vec<AppName>,
    primary: Region,
    secondary: Region,
    /// TTL + health-check interval + 1 s: the longest a move may take.
    bound: Duration,
}

/// Runs the demo; exit code 0 only when every expectation held.
pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let mut topology = Topology::load(&args.config)?;
    if args.quick {
        shorten(&mut topology);
    }
    let pace = Pace::new(args.quick);
    let started = Instant::now();
    say(started, "starting the local world");
    let world = Arc::new(World::start(topology).await?);
    let control = control::serve(world.clone());
    print!("{}", describe(&world));
    let mut drill = Drill::new(world.clone(), pace, started)?;
    drill.steady_state().await;
    drill.planned_shift().await;
    drill.regional_outage().await;
    drill.consistency().await?;
    drill.fail_back().await;
    let moved = (drill.service("orders", 0), drill.service("payments", 1));
    let Drill { run, steps, .. } = drill;
    let report = run.stop().await;
    let dir = args.report.unwrap_or_else(default_report_dir);
    let (json, svg) = report
        .write(&dir)
        .with_context(|| format!("cannot write the report to {}", dir.display()))?;
    let moves = move_times(&report, &world, &moved);
    let held = steps.iter().all(|s| s.held);
    let seconds = started.elapsed().as_secs_f64();
    let verdict = dir.join("demo.json");
    let outcome = serde_json::json!({
        "passed": held, "seconds": seconds, "steps": steps, "moves": moves,
    });
    std::fs::write(&verdict, format!("{outcome:#}\n"))
        .with_context(|| format!("cannot write {}", verdict.display()))?;
    println!("\n{}", report.summary_table());
    print!("{}", verdicts(&steps));
    print!("{}", describe_moves(&moves, &world));
    println!(
        "Report: {}, {} and {}",
        json.display(),
        svg.display(),
        verdict.display()
    );
    println!(
        "Demo {} in {seconds:.1} s: {} of {} expectations held.",
        if held { "PASSED" } else { "FAILED" },
        steps.iter().filter(|s| s.held).count(),
        steps.len()
    );
    if let Some(task) = control {
        task.abort();
    }
    if let Ok(world) = Arc::try_unwrap(world) {
        world.shutdown().await;
    }
    Ok(if held {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `--quick`: a TTL of at most 2 s and health checks at most every 0.5 s, so each move takes
/// seconds, not tens of seconds. The rules are the same, only the clock runs faster.
fn shorten(topology: &mut Topology) {
    let local = &mut topology.local;
    local.ttl_seconds = local.ttl_seconds.min(2);
    local.health_check_interval_ms = local.health_check_interval_ms.min(500);
}

fn default_report_dir() -> PathBuf {
    let stamp = chrono_like_stamp();
    PathBuf::from(format!(".local/demo-{stamp}"))
}

/// Seconds since the Unix epoch: unique enough for a folder name, no clock crate needed.
fn chrono_like_stamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn say(started: Instant, text: &str) {
    println!("[{:>5.1} s] {text}", started.elapsed().as_secs_f64());
}

impl Drill {
    fn new(world: Arc<World>, pace: Pace, started: Instant) -> anyhow::Result<Self> {
        let manifest = world.manifest();
        let client = Client::from_manifest(manifest, ClientConfig::default())
            .context("cannot create the ARC client")?;
        let apps: Vec<AppName> = manifest.apps.iter().map(|a| a.name.clone()).collect();
        let config = RunConfig {
            apps: apps.clone(),
            rate_per_app: pace.rate_per_app,
            duration: None,
            scenario: Scenario::Probe,
            ..RunConfig::default()
        };
        let run = Run::start(manifest, config).context("cannot start the traffic")?;
        let local = &world.topology().local;
        let bound = local.ttl() + local.health_check_interval() + Duration::from_secs(1);
        let regions = world.topology().regions.clone();
        Ok(Self {
            client,
            run,
            pace,
            started,
            steps: Vec::new(),
            apps,
            primary: regions.primary,
            secondary: regions.secondary,
            bound,
            world,
        })
    }

    fn say(&self, text: &str) {
        say(self.started, text);
    }

    /// The service the drill uses for a role: the one named as in the shipped topology, else
    /// the `nth` service, so the drill still runs after a team renames its services.
    fn service(&self, name: &str, nth: usize) -> AppName {
        let services: Vec<&AppName> = self.world.topology().services().map(|a| a.name()).collect();
        services
            .iter()
            .find(|a| a.as_str() == name)
            .or_else(|| services.get(nth % services.len().max(1)))
            .map_or_else(|| self.apps[0].clone(), |a| (*a).clone())
    }

    fn record(&mut self, name: &str, expected: String, measured: String, held: bool) {
        let mark = if held { "ok  " } else { "FAIL" };
        self.say(&format!(
            "{mark} {name}: expected {expected}; measured {measured}"
        ));
        self.steps.push(Step {
            name: name.to_owned(),
            expected,
            measured,
            held,
        });
    }

    async fn steady_state(&mut self) {
        self.say("step 1: steady state, every app on the primary");
        self.run.mark("steady state");
        let before = self.run.live();
        tokio::time::sleep(self.pace.steady).await;
        let after = self.run.live();
        let on_primary = self
            .apps
            .iter()
            .all(|a| current_region(&after, a).as_ref() == Some(&self.primary));
        let errors: u64 = self
            .apps
            .iter()
            .map(|a| new_errors(&before, &after, a))
            .sum();
        self.record(
            "steady state",
            format!("all apps on {}, 0 errors", self.primary),
            format!("{}, {errors} errors", regions_text(&after, &self.apps)),
            on_primary && errors == 0,
        );
    }

    async fn planned_shift(&mut self) {
        let orders = self.service("orders", 0);
        let to = self.secondary.clone();
        self.say(&format!(
            "step 2: shift {orders} to {to} with the failover library"
        ));
        let before = self.run.live();
        self.run.mark(format!("shift {orders} -> {to}"));
        let shift = self
            .client
            .shift(std::slice::from_ref(&orders), &to, ShiftOptions::default())
            .await;
        if let Err(error) = shift {
            self.record(
                "planned shift",
                "the shift is accepted".into(),
                format!("{error}"),
                false,
            );
            return;
        }
        let moved = self.wait_for(&orders, &to).await;
        tokio::time::sleep(self.pace.settle).await;
        let after = self.run.live();
        let errors = new_errors(&before, &after, &orders);
        let others_put = self
            .apps
            .iter()
            .filter(|a| **a != orders)
            .all(|a| current_region(&after, a).as_ref() == Some(&self.primary));
        self.record_move(&format!("shift {orders}"), moved, errors, 0);
        self.gateway_follows(&orders, &to).await;
        self.record(
            "other apps stay put",
            format!("every other app on {}", self.primary),
            regions_text(&after, &self.apps),
            others_put,
        );
    }

    /// The `api` gateway stays in its Region while the service behind a prefix moves: one
    /// base URL, each service failing over on its own.
    async fn gateway_follows(&mut self, service: &AppName, to: &Region) {
        let started = Instant::now();
        let mut seen = None;
        while started.elapsed() < self.bound {
            seen = self.through_gateway(service).await;
            if seen
                .as_ref()
                .is_some_and(|(_, upstream)| upstream == to.as_str())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let measured = seen.as_ref().map_or_else(
            || "no answer through the gateway".to_owned(),
            |(gateway, upstream)| format!("x-region {gateway}, x-upstream-region {upstream}"),
        );
        let held = seen.is_some_and(|(gateway, upstream)| {
            gateway == self.primary.as_str() && upstream == to.as_str()
        });
        self.record(
            "the gateway follows",
            format!("the gateway in {} proxies {service} to {to}", self.primary),
            measured,
            held,
        );
    }

    /// One request for `service` through the gateway, sent where DNS points the gateway's
    /// hostname now: the gateway's and the upstream's Regions.
    async fn through_gateway(&self, service: &AppName) -> Option<(String, String)> {
        let topology = self.world.topology();
        let gateway = topology.gateways().next()?;
        let (prefix, _) = gateway
            .routes()
            .iter()
            .find(|(_, target)| *target == service)?;
        let address = self.world.dns().answer(gateway.name())?.address;
        let port = topology.local.app_port;
        let host = format!("{}.{}", gateway.name(), topology.local.domain);
        let client = reqwest::Client::builder()
            .resolve(&host, SocketAddr::new(address.into(), port))
            .timeout(Duration::from_secs(2))
            .build()
            .ok()?;
        let response = client
            .get(format!("http://{host}:{port}{prefix}"))
            .send()
            .await
            .ok()?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Some((header("x-region")?, header(gateway::X_UPSTREAM_REGION)?))
    }

    fn record_move(&mut self, name: &str, moved: Option<Duration>, errors: u64, max_errors: u64) {
        let bound = self.bound;
        let measured = match moved {
            // The live view needs a window of responses from one Region, so this reads a little
            // later than the report's exact time printed at the end.
            Some(t) => format!(
                "the live view saw all traffic moved {:.2} s after the call, {errors} errors",
                t.as_secs_f64()
            ),
            None => format!(
                "traffic did not move within {:.0} s, {errors} errors",
                (bound * 2).as_secs_f64()
            ),
        };
        self.record(
            name,
            format!(
                "all traffic moved within {:.1} s (TTL + check interval + 1 s), at most {max_errors} errors",
                bound.as_secs_f64()
            ),
            measured,
            moved.is_some_and(|t| t <= bound) && errors <= max_errors,
        );
    }

    /// Polls the live view until all of `app`'s traffic answers from `region`; the time it took.
    async fn wait_for(&self, app: &AppName, region: &Region) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < self.bound * 2 {
            if current_region(&self.run.live(), app).as_ref() == Some(region) {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    async fn regional_outage(&mut self) {
        let payments = self.service("payments", 1);
        let (primary, secondary) = (self.primary.clone(), self.secondary.clone());
        self.say(&format!(
            "step 3: stop {payments} in {primary}, no shift yet"
        ));
        let before = self.run.live();
        self.run.mark(format!("stop {payments} in {primary}"));
        if let Some(instance) = self.world.instance(&payments, &primary) {
            instance.stop().await;
        }
        tokio::time::sleep(self.pace.settle).await;
        let during = self.run.live();
        let failing = new_errors(&before, &during, &payments);
        let others: u64 = self
            .apps
            .iter()
            .filter(|a| **a != payments)
            .map(|a| new_errors(&before, &during, a))
            .sum();
        self.record(
            "outage stays contained",
            format!("errors for {payments} only"),
            format!("{failing} errors for {payments}, {others} for the other apps"),
            failing > 0 && others == 0,
        );
        self.say(&format!(
            "step 4: evacuate {primary} with the failover library"
        ));
        self.run.mark(format!("evacuate {primary}"));
        let evacuated = self
            .client
            .evacuate(&primary, ShiftOptions::default())
            .await;
        if let Err(error) = evacuated {
            self.record(
                "evacuate",
                "the evacuation is accepted".into(),
                format!("{error}"),
                false,
            );
            return;
        }
        let moved = self.wait_for(&payments, &secondary).await;
        let mut all_moved = true;
        for app in &self.apps {
            all_moved &= self.wait_for(app, &secondary).await.is_some();
        }
        tokio::time::sleep(self.pace.settle).await;
        let settled_from = self.run.live();
        tokio::time::sleep(self.pace.settle).await;
        let settled = self.run.live();
        let errors_after: u64 = self
            .apps
            .iter()
            .map(|a| new_errors(&settled_from, &settled, a))
            .sum();
        self.record(
            &format!("{payments} recovers"),
            format!(
                "{payments} on {secondary} within {:.1} s",
                self.bound.as_secs_f64()
            ),
            moved.map_or_else(
                || "never moved".to_owned(),
                |t| format!("moved in {:.2} s", t.as_secs_f64()),
            ),
            moved.is_some_and(|t| t <= self.bound),
        );
        self.record(
            "evacuated",
            format!("every app on {secondary}, then 0 errors"),
            format!(
                "{}, {errors_after} errors once settled",
                regions_text(&settled, &self.apps)
            ),
            all_moved && errors_after == 0,
        );
    }

    async fn consistency(&mut self) -> anyhow::Result<()> {
        let lag = self.pace.consistency_lag;
        self.say(&format!(
            "step 5: repair the primary, raise the replication lag to {} ms and write; every acknowledged write must be found in both Regions once replication catches up",
            lag.as_millis()
        ));
        self.run.mark("consistency scenario");
        // The repaired primary takes writes again through replication, and the scenario
        // reads every write back from both Regions.
        let payments = self.service("payments", 1);
        if let Some(instance) = self.world.instance(&payments, &self.primary)
            && let Err(error) = instance.restore().await
        {
            self.record(
                "repair",
                format!("{payments} in {} serves again", self.primary),
                error.to_string(),
                false,
            );
        }
        let replicator = self.world.replicator();
        let normal = replicator.lag();
        replicator.set_lag(lag);
        let config = RunConfig {
            apps: self
                .world
                .topology()
                .services()
                .map(|a| a.name().clone())
                .collect(),
            rate_per_app: (self.pace.rate_per_app / 4).max(2),
            duration: Some(self.pace.consistency),
            scenario: Scenario::Consistency,
            ..RunConfig::default()
        };
        let writes = Run::start(self.world.manifest(), config)
            .context("cannot start the consistency scenario")?;
        tokio::time::sleep(self.pace.consistency).await;
        let drained = replicator.drained(lag * 4 + Duration::from_secs(2)).await;
        let report = writes.stop().await;
        replicator.set_lag(normal);
        let consistency = report.consistency();
        let lost: Vec<String> = consistency
            .lost
            .iter()
            .take(3)
            .map(|w| format!("{} (missing in {})", w.path, w.missing_from.join(", ")))
            .collect();
        self.record(
            "no acknowledged write lost",
            "every acknowledged write found in both Regions".into(),
            format!(
                "{} acknowledged, {} never found{}, worst replication delay {}; backlog {}",
                consistency.acknowledged,
                consistency.never_found,
                if lost.is_empty() {
                    String::new()
                } else {
                    format!(" e.g. {}", lost.join("; "))
                },
                consistency
                    .worst_delay
                    .map_or_else(|| "-".to_owned(), |d| format!("{} ms", d.as_millis())),
                if drained { "drained" } else { "NOT drained" },
            ),
            consistency.acknowledged > 0 && consistency.never_found == 0 && drained,
        );
        Ok(())
    }

    async fn fail_back(&mut self) {
        let primary = self.primary.clone();
        self.say(&format!("step 6: fail every app back to {primary}"));
        let before = self.run.live();
        self.run.mark(format!("fail back to {primary}"));
        if let Err(error) = self
            .client
            .shift(&self.apps, &primary, ShiftOptions::default())
            .await
        {
            self.record(
                "fail back",
                "the shift is accepted".into(),
                error.to_string(),
                false,
            );
            return;
        }
        let started = Instant::now();
        let mut all = true;
        for app in self.apps.clone() {
            all &= self.wait_for(&app, &primary).await.is_some();
        }
        let moved = all.then(|| started.elapsed());
        tokio::time::sleep(self.pace.settle).await;
        let after = self.run.live();
        let errors: u64 = self
            .apps
            .iter()
            .map(|a| new_errors(&before, &after, a))
            .sum();
        self.record_move("fail back", moved, errors, 0);
    }
}

/// The Region all of `app`'s recent traffic answered from, per the live view.
fn current_region(live: &LiveView, app: &AppName) -> Option<Region> {
    live.app(app).and_then(|a| a.current_region.clone())
}

/// Errors `app` saw between two live views.
fn new_errors(before: &LiveView, after: &LiveView, app: &AppName) -> u64 {
    let errors = |v: &LiveView| v.app(app).map_or(0, |a| a.errors);
    errors(after).saturating_sub(errors(before))
}

fn regions_text(live: &LiveView, apps: &[AppName]) -> String {
    apps.iter()
        .map(|a| {
            let region = current_region(live, a).map_or_else(|| "?".to_owned(), |r| r.to_string());
            format!("{a} on {region}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How long one move took, from its mark to 100 % of the app's traffic on the new Region.
#[derive(serde::Serialize)]
struct Move {
    app: AppName,
    after: String,
    /// `None` when no switch to the target Region was recorded after the mark.
    seconds: Option<f64>,
}

/// From the report: for each planned move, the time from the mark (just before the call to
/// ARC) until every response came from the new Region (the first response from it plus the
/// mixed window).
fn move_times(report: &Report, world: &World, (shifted, failed): &(AppName, AppName)) -> Vec<Move> {
    let regions = &world.topology().regions;
    let (primary, secondary) = (&regions.primary, &regions.secondary);
    [
        (
            shifted,
            format!("shift {shifted} -> {secondary}"),
            secondary,
        ),
        (failed, format!("evacuate {primary}"), secondary),
        (shifted, format!("fail back to {primary}"), primary),
    ]
    .into_iter()
    .map(|(app, after, to)| Move {
        seconds: moved_after(report, &after, app, to),
        app: app.clone(),
        after,
    })
    .collect()
}

/// The moves as the demo prints them, next to the theoretical bound TTL + health-check interval.
fn describe_moves(moves: &[Move], world: &World) -> String {
    let local = &world.topology().local;
    let bound = local.ttl() + local.health_check_interval();
    let mut out = format!(
        "\nTime from each call to 100 % of the app's traffic on the new Region, from the report (theoretical bound: TTL + health-check interval = {:.1} s):\n",
        bound.as_secs_f64()
    );
    for m in moves {
        let measured = m
            .seconds
            .map_or_else(|| "no switch recorded".to_owned(), |t| format!("{t:.2} s"));
        let _ = writeln!(
            out,
            "  {app:<10} after `{after}`: {measured}",
            app = m.app.as_str(),
            after = m.after
        );
    }
    out
}

fn moved_after(report: &Report, mark: &str, app: &AppName, to: &Region) -> Option<f64> {
    let mark_at = report.marks.iter().find(|m| m.label == mark)?.at_seconds;
    let switch = report
        .app(app)?
        .switches
        .iter()
        .find(|s| s.at_seconds >= mark_at && s.to == *to)?;
    Some(switch.at_seconds + switch.mixed_window_seconds - mark_at)
}

fn verdicts(steps: &[Step]) -> String {
    let mut out = String::from("\nStep                         Held  Expected / measured\n");
    for step in steps {
        let _ = writeln!(
            out,
            "{:<28} {:<5} expected: {}\n{:<34} measured: {}",
            step.name,
            if step.held { "yes" } else { "NO" },
            step.expected,
            "",
            step.measured
        );
    }
    out
}
