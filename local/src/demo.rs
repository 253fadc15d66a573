//! `local-world demo`: the local world with traffic and a scripted failover drill, narrated step by
//! step with what was expected and what was measured, then the traffic report.
//!
//! The drill: steady state (every app, and every service route directly and through the
//! gateway); writes in the primary, read back from both Regions; shift one service to the
//! secondary (DNS propagation, the move, the gateway following it) while the other apps stay
//! put; stop another service in the primary (only its routes fail) and recover by evacuating
//! the primary; writes in the secondary; fail back; optionally more shifts at random phases of
//! the clients' TTL cycle (`--shifts N`). Each expectation is a function of measurements
//! ([`crate::verdict`]), so a broken world fails it.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use failover::{Client, ClientConfig, ShiftOptions};
use loadtest::consistency::{CheckConfig, StaleClientConfig, StaleWrites};
use loadtest::{LiveView, Report, Run, RunConfig, Scenario};
use rand::Rng;
use topology::{AppName, Region, Topology};

use super::{DemoArgs, World, control, describe};
use crate::measure::{self, Writes};
use crate::probe::RouteProbe;
use crate::stages;
use crate::verdict::{self, Step};

/// What the live view adds to a move besides its window: the last responses from the old
/// Region take their time to arrive.
const RESPONSE_TIME: Duration = Duration::from_millis(500);

/// How long the stale clients write before the fail back starts.
const STALE_HEAD_START: Duration = Duration::from_millis(500);

/// The replication gate's limit in the drill: well above the world's replication lag.
const GATE_MAX_LAG: Duration = Duration::from_secs(1);

/// A stale client writing through a move, and the conflicts its app's table had before.
struct StaleWriter {
    app: AppName,
    conflicts: u64,
    task: tokio::task::JoinHandle<Result<StaleWrites, loadtest::consistency::CheckError>>,
}

/// How long each phase lasts and how hard traffic runs.
#[derive(Debug, Clone, Copy)]
struct Pace {
    rate_per_app: u32,
    steady: Duration,
    settle: Duration,
    consistency: Duration,
    consistency_lag: Duration,
    /// How often the route probe reads each route.
    probe_period: Duration,
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

    fn writes(&self) -> Writes {
        Writes {
            rate_per_service: (self.rate_per_app / 4).max(2),
            duration: self.consistency,
            lag: self.consistency_lag,
        }
    }
}

struct Drill {
    world: Arc<World>,
    client: Client,
    run: Run,
    /// The traffic's settings (its connection age and live window bound the moves).
    traffic: RunConfig,
    probe: RouteProbe,
    pace: Pace,
    started: Instant,
    steps: Vec<Step>,
    apps: Vec<AppName>,
    primary: Region,
    secondary: Region,
    /// Every wait a client's move includes, plus the live view's window and its responses'
    /// time: the longest a move may take as the live view sees it.
    bound: Duration,
    /// Each move's mark and the phase of the clients' TTL cycle it came at.
    moves: Vec<(AppName, String, Region, f64)>,
    /// Each move's staged verification, running alongside the drill.
    verifications: Vec<stages::Pending>,
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
    if let Some(url) = &world.manifest().control_api {
        say(
            started,
            &format!("control API: {url}/state (faults: POST {url}/faults/...)"),
        );
    }
    let mut drill = Drill::new(world.clone(), pace, started)?;
    drill.steady_state().await;
    drill.writes_in_primary().await;
    drill.last_writer_wins().await;
    drill.replication_gate().await;
    drill.planned_shift().await;
    drill.regional_outage().await;
    drill.consistency().await;
    drill.fail_back().await;
    drill.random_phase_shifts(args.shifts).await;
    let Drill {
        run,
        mut steps,
        probe,
        moves,
        traffic,
        verifications,
        ..
    } = drill;
    let staged = stages::finish(verifications).await;
    steps.push(verdict::stages_in_order(&staged));
    let probed = probe.stop().await;
    let report = run.stop().await;
    let dir = args.report.unwrap_or_else(default_report_dir);
    let (json, svg) = report
        .write(&dir)
        .with_context(|| format!("cannot write the report to {}", dir.display()))?;
    let moves = move_times(&report, &moves);
    let client_bound = client_bound(&world, &traffic);
    if args.shifts > 0 {
        steps.push(verdict::move_distribution(&moves, client_bound));
    }
    let held = steps.iter().all(|s| s.held);
    let seconds = started.elapsed().as_secs_f64();
    let verdict_path = dir.join("demo.json");
    let outcome = serde_json::json!({
        "passed": held, "seconds": seconds, "steps": steps, "moves": moves,
        "move_bound_seconds": client_bound.as_secs_f64(),
        "staged_verification": staged,
        "route_probe": probed.routes.iter().map(|(r, c)| serde_json::json!({"route": r.to_string(), "counts": c})).collect::<Vec<_>>(),
    });
    std::fs::write(&verdict_path, format!("{outcome:#}\n"))
        .with_context(|| format!("cannot write {}", verdict_path.display()))?;
    println!("\n{}", report.summary_table());
    print!("{}", verdicts(&steps));
    print!("{}", describe_moves(&moves, client_bound));
    print!("{}", stages::table(&staged));
    println!(
        "Route probe (every service route, direct and through the gateway): {}",
        verdict::routes_text(&probed)
    );
    println!(
        "Report: {}, {} and {}",
        json.display(),
        svg.display(),
        verdict_path.display()
    );
    println!(
        "Demo {} in {seconds:.1} s: {} of {} expectations held.",
        if held { "PASSED" } else { "FAILED" },
        steps.iter().filter(|s| s.held).count(),
        steps.len()
    );
    if args.keep_running {
        if let Some(url) = &world.manifest().control_api {
            println!("The world keeps running (control API {url}/state). Press Ctrl-C to stop.");
        }
        kit::serve::shutdown_signal().await;
        println!("\nStopping the local world...");
    }
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

/// Every wait a client's move includes: its cached answer's TTL, the health-check interval
/// (propagation) and the age at which it stops reusing a connection to the old Region.
fn client_bound(world: &World, traffic: &RunConfig) -> Duration {
    let local = &world.topology().local;
    local.ttl() + local.health_check_interval() + traffic.max_connection_age
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
        let traffic = RunConfig {
            apps: apps.clone(),
            rate_per_app: pace.rate_per_app,
            duration: None,
            scenario: Scenario::Probe,
            ..RunConfig::default()
        };
        let run = Run::start(manifest, traffic.clone()).context("cannot start the traffic")?;
        let probe = RouteProbe::start(
            world.topology(),
            world.dns().local_addr(),
            pace.probe_period,
            world.manifest().gateway_secret.as_deref(),
        )
        .context("cannot start the route probe")?;
        let bound = client_bound(&world, &traffic) + traffic.live_window + RESPONSE_TIME;
        let regions = world.topology().regions.clone();
        Ok(Self {
            client,
            run,
            traffic,
            probe,
            pace,
            started,
            steps: Vec::new(),
            apps,
            primary: regions.primary,
            secondary: regions.secondary,
            bound,
            moves: Vec::new(),
            verifications: Vec::new(),
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
        self.push(Step {
            name: name.to_owned(),
            expected,
            measured,
            held,
        });
    }

    fn push(&mut self, step: Step) {
        let mark = if step.held { "ok  " } else { "FAIL" };
        self.say(&format!(
            "{mark} {}: expected {}; measured {}",
            step.name, step.expected, step.measured
        ));
        self.steps.push(step);
    }

    /// Marks a move in the traffic and remembers where in the clients' TTL cycle it came:
    /// the clients resolved first at the run's start and refresh every TTL since.
    fn mark_move(&mut self, app: &AppName, label: String, to: &Region) -> f64 {
        let ttl = self.world.topology().local.ttl().as_secs_f64();
        let phase = self.run.elapsed().as_secs_f64() % ttl.max(f64::EPSILON);
        self.run.mark(label.clone());
        self.moves.push((app.clone(), label, to.clone(), phase));
        phase
    }

    async fn steady_state(&mut self) {
        self.say("step 1: steady state, every app on the primary");
        self.run.mark("steady state");
        let before = self.run.live();
        let probed = self.probe.snapshot();
        tokio::time::sleep(self.pace.steady).await;
        let after = self.run.live();
        let on_primary = self
            .apps
            .iter()
            .all(|a| current_region(&after, a).as_ref() == Some(&self.primary));
        let errors: u64 = self
            .apps
            .iter()
            .map(|a| new_failures(&before, &after, a))
            .sum();
        self.record(
            "steady state",
            format!(
                "all apps on {} (GET / on each subdomain), 0 errors, 0 unsent",
                self.primary
            ),
            format!(
                "{}, {errors} errors or unsent",
                regions_text(&after, &self.apps)
            ),
            on_primary && errors == 0,
        );
        let routes = self.probe.snapshot().since(&probed);
        self.push(verdict::every_route_answers("every route answers", &routes));
    }

    async fn writes_in_primary(&mut self) {
        let region = self.primary.clone();
        self.say(&format!(
            "step 1b: write to every service in {region} (replication lag {} ms), read each write back from both Regions",
            self.pace.consistency_lag.as_millis()
        ));
        self.run.mark(format!("writes in {region}"));
        self.writes(region).await;
    }

    /// Every service with an update operation in its OpenAPI document: one item updated from
    /// both Regions at once (within one replication window), through `loadtest::consistency`;
    /// which write won, and both Regions ending with the same item.
    async fn last_writer_wins(&mut self) {
        self.say("step 1c: update one item per service from both Regions at once: last writer wins, both converge");
        let services: Vec<AppName> = self
            .world
            .topology()
            .services()
            .map(|s| s.name().clone())
            .collect();
        for app in services {
            let mut config = CheckConfig::new(app.clone(), self.primary.clone(), 3);
            config.replication_deadline = Duration::from_secs(10);
            let name = format!("last writer wins ({app})");
            let fenced = self
                .world
                .topology()
                .service(&app)
                .is_some_and(|s| s.fence_writes());
            let expected = if fenced {
                format!(
                    "3 writes in the primary read back from both Regions; of concurrent updates from both Regions, the one sent to {} (control OFF) refused by the write fence, the other winning in both",
                    self.secondary
                )
            } else {
                "3 writes in the primary read back from both Regions; concurrent updates from both Regions converge on one item".to_owned()
            };
            let conflicts = measure::conflicts(&self.world, &app);
            match loadtest::consistency::check(self.world.manifest(), &config).await {
                Ok(check) => {
                    let held = check.passed();
                    self.world
                        .replicator()
                        .drained(Duration::from_secs(5))
                        .await;
                    let conflicts = measure::conflicts(&self.world, &app) - conflicts;
                    let measured = format!(
                        "{}\n  replication saw {conflicts} item(s) written in both Regions within one replication window",
                        check.summary()
                    );
                    self.record(&name, expected, measured, held);
                }
                Err(error) => self.record(&name, expected, format!("{error:#}"), false),
            }
        }
    }

    /// Before a move of `apps`: their staged verification, prepared (the recursive resolver
    /// holds the answer clients hold now); the stages count from its return.
    async fn prepare_verification(&self, apps: &[AppName]) -> stages::Prepared {
        stages::prepare(self.world.manifest(), apps).await
    }

    /// After the call of a move: its stages, verified alongside the drill.
    fn verify_move(&mut self, label: String, prepared: stages::Prepared, to: &Region) {
        let pending = stages::start(self.world.manifest(), label, prepared, to.clone());
        self.verifications.push(pending);
    }

    /// The replication gate of `failover shift`: a move of the first service refused while its
    /// replica in the secondary is held behind, allowed once it caught up.
    async fn replication_gate(&mut self) {
        let app = self.service("orders", 0);
        let to = self.secondary.clone();
        let max_lag = GATE_MAX_LAG;
        self.say(&format!(
            "step 1d: the replication gate: hold the replication of {app} into {to} behind, ask to move {app} there (limit {:.1} s), then let it catch up",
            max_lag.as_secs_f64()
        ));
        self.run.mark(format!("replication gate ({app})"));
        match measure::replication_gate(&self.world, &app, &to, max_lag).await {
            Ok(trial) => self.push(verdict::gate_refuses_then_allows(&trial)),
            Err(error) => self.record(
                &format!("replication gate ({app})"),
                "the gate reads the world's replication".into(),
                format!("{error:#}"),
                false,
            ),
        }
    }

    async fn writes(&mut self, region: Region) {
        match measure::writes(&self.world, region.clone(), self.pace.writes()).await {
            Ok(check) => self.push(verdict::no_write_lost(&check)),
            Err(error) => self.record(
                &format!("no write lost ({region})"),
                "the consistency scenario runs".into(),
                format!("{error:#}"),
                false,
            ),
        }
    }

    async fn planned_shift(&mut self) {
        let orders = self.service("orders", 0);
        let to = self.secondary.clone();
        self.say(&format!(
            "step 2: shift {orders} to {to} with the failover library"
        ));
        let before = self.run.live();
        let phase = self.mark_move(&orders, format!("shift {orders} -> {to}"), &to);
        self.say(&format!(
            "the shift comes {phase:.2} s into the clients' {} s TTL cycle",
            self.world.topology().local.ttl_seconds
        ));
        let verifying = self
            .prepare_verification(std::slice::from_ref(&orders))
            .await;
        let propagation = measure::shift_propagation(&self.world, &self.client, &orders, &to).await;
        self.verify_move(format!("shift {orders} -> {to}"), verifying, &to);
        let propagation = match propagation {
            Ok(p) => p,
            Err(error) => {
                self.record(
                    "planned shift",
                    "the shift is accepted".into(),
                    format!("{error:#}"),
                    false,
                );
                return;
            }
        };
        self.push(verdict::propagates_like_route53(&propagation));
        let others: Vec<AppName> = self
            .apps
            .iter()
            .filter(|a| **a != orders)
            .cloned()
            .collect();
        let moved = self.wait_for(&orders, &to).await;
        let (put, samples) = self.watch_staying(&others).await;
        let after = self.run.live();
        let errors = new_failures(&before, &after, &orders);
        self.record_move(&format!("shift {orders}"), moved, errors, 0);
        self.gateway_follows(&orders, &to).await;
        self.record(
            "other apps stay put",
            format!("every other app on {} throughout the shift", self.primary),
            format!(
                "{} in {put} of {samples} looks over {:.1} s; now {}",
                self.primary,
                self.pace.settle.as_secs_f64(),
                regions_text(&after, &others)
            ),
            samples > 0 && put == samples,
        );
    }

    /// Watches `apps` for the settle time: in how many looks were all of them still on the
    /// primary, out of how many.
    async fn watch_staying(&self, apps: &[AppName]) -> (u32, u32) {
        let started = Instant::now();
        let (mut put, mut samples) = (0, 0);
        while started.elapsed() < self.pace.settle {
            let live = self.run.live();
            samples += 1;
            // Moved means answered from another Region; a look with no answer at all (an
            // overloaded machine) does not count as a move.
            let moved = apps.iter().any(|a| {
                live.app(a)
                    .is_some_and(|l| l.recent_regions.iter().any(|r| *r != self.primary))
            });
            if !moved {
                put += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (put, samples)
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
                "the live view saw all traffic moved {:.2} s after the call, {errors} errors or unsent",
                t.as_secs_f64()
            ),
            None => format!(
                "traffic did not move within {:.0} s, {errors} errors or unsent",
                (bound * 2).as_secs_f64()
            ),
        };
        self.record(
            name,
            format!(
                "all traffic moved within {:.1} s (TTL + check interval + connection age + the live view's window and response time), at most {max_errors} errors or unsent",
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
        let probed = self.probe.snapshot();
        self.run.mark(format!("stop {payments} in {primary}"));
        if let Some(instance) = self.world.instance(&payments, &primary) {
            instance.stop().await;
        }
        tokio::time::sleep(self.pace.settle).await;
        let during = self.run.live();
        let routes = self.probe.snapshot().since(&probed);
        let others: u64 = self
            .apps
            .iter()
            .filter(|a| **a != payments)
            .map(|a| new_failures(&before, &during, a))
            .sum();
        self.push(verdict::contained(&payments, &routes, others));
        self.say(&format!(
            "step 4: evacuate {primary} with the failover library"
        ));
        self.mark_move(&payments, format!("evacuate {primary}"), &secondary);
        let verifying = self.prepare_verification(&self.apps.clone()).await;
        let evacuated = self
            .client
            .evacuate(&primary, ShiftOptions::default())
            .await;
        self.verify_move(format!("evacuate {primary}"), verifying, &secondary);
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
        let probed = self.probe.snapshot();
        tokio::time::sleep(self.pace.settle).await;
        let settled = self.run.live();
        let routes = self.probe.snapshot().since(&probed);
        let errors_after: u64 = self
            .apps
            .iter()
            .map(|a| new_failures(&settled_from, &settled, a))
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
        let all_routes = verdict::every_route_answers("evacuated", &routes);
        self.record(
            "evacuated",
            format!(
                "every app on {secondary}, then 0 errors or unsent; {}",
                all_routes.expected
            ),
            format!(
                "{}, {errors_after} errors or unsent once settled; {}",
                regions_text(&settled, &self.apps),
                all_routes.measured
            ),
            all_moved && errors_after == 0 && all_routes.held,
        );
    }

    async fn consistency(&mut self) {
        let region = self.secondary.clone();
        self.say(&format!(
            "step 5: repair the primary; write to every service in {region} (replication lag {} ms) and read each write back from both Regions",
            self.pace.consistency_lag.as_millis()
        ));
        self.run.mark(format!("writes in {region}"));
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
        self.writes(region).await;
    }

    async fn fail_back(&mut self) {
        let primary = self.primary.clone();
        self.say(&format!("step 6: fail every app back to {primary}"));
        let before = self.run.live();
        let first = self.service("orders", 0);
        let stale = self.stale_writers();
        if !stale.is_empty() {
            // Let the stale clients write in the secondary before it is left.
            tokio::time::sleep(STALE_HEAD_START).await;
        }
        self.mark_move(&first, format!("fail back to {primary}"), &primary);
        let verifying = self.prepare_verification(&self.apps.clone()).await;
        let shifted = self
            .client
            .shift(&self.apps, &primary, ShiftOptions::default())
            .await;
        self.verify_move(format!("fail back to {primary}"), verifying, &primary);
        if let Err(error) = shifted {
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
            .map(|a| new_failures(&before, &after, a))
            .sum();
        self.record_move("fail back", moved, errors, 0);
        self.fenced_writes(stale).await;
    }

    /// For each write-fenced service, a client that keeps its answer from before the fail
    /// back (the secondary) and writes through it, started just before the shift.
    fn stale_writers(&self) -> Vec<StaleWriter> {
        let from = self.secondary.clone();
        let duration = self.bound;
        self.world
            .topology()
            .services()
            .filter(|s| s.fence_writes())
            .map(|s| {
                let app = s.name().clone();
                let conflicts = measure::conflicts(&self.world, &app);
                let config = StaleClientConfig::new(app.clone(), from.clone(), duration);
                let manifest = self.world.manifest().clone();
                let task = tokio::spawn(async move {
                    loadtest::consistency::stale_client_writes(&manifest, &config).await
                });
                StaleWriter {
                    app,
                    conflicts,
                    task,
                }
            })
            .collect()
    }

    /// What the stale clients' writes came to, once replication drained.
    async fn fenced_writes(&mut self, writers: Vec<StaleWriter>) {
        if writers.is_empty() {
            return;
        }
        let primary = self.primary.clone();
        self.say(&format!(
            "step 6b: write fencing: a client still holding the old answer ({}) wrote through the move",
            self.secondary
        ));
        for writer in writers {
            let name = format!("write fencing ({})", writer.app);
            let result = writer.task.await;
            self.world
                .replicator()
                .drained(Duration::from_secs(10))
                .await;
            let conflicts = measure::conflicts(&self.world, &writer.app) - writer.conflicts;
            match result {
                Ok(Ok(writes)) => {
                    self.push(verdict::fenced_writes_land_once(
                        &writes, &primary, conflicts,
                    ));
                }
                Ok(Err(error)) => self.record(
                    &name,
                    "the stale client runs".into(),
                    error.to_string(),
                    false,
                ),
                Err(error) => self.record(
                    &name,
                    "the stale client runs".into(),
                    error.to_string(),
                    false,
                ),
            }
        }
    }

    /// `--shifts N`: shifts the first service back and forth N times, each at a random phase
    /// of the clients' TTL cycle, so the move times form a distribution rather than one
    /// sample set by where the script's shift fell.
    async fn random_phase_shifts(&mut self, shifts: u32) {
        if shifts == 0 {
            return;
        }
        let app = self.service("orders", 0);
        let ttl = self.world.topology().local.ttl();
        self.say(&format!(
            "step 7: {shifts} shifts of {app} at random phases of the {} s TTL cycle",
            ttl.as_secs()
        ));
        for n in 1..=shifts {
            let to = if n % 2 == 1 {
                self.secondary.clone()
            } else {
                self.primary.clone()
            };
            let wait = ttl.mul_f64(rand::rng().random_range(0.0..1.0));
            tokio::time::sleep(wait).await;
            let phase = self.mark_move(&app, format!("shift {n}: {app} -> {to}"), &to);
            let verifying = self.prepare_verification(std::slice::from_ref(&app)).await;
            let shifted = self
                .client
                .shift(std::slice::from_ref(&app), &to, ShiftOptions::default())
                .await;
            self.verify_move(format!("shift {n}: {app} -> {to}"), verifying, &to);
            if let Err(error) = shifted {
                self.record(
                    &format!("shift {n}"),
                    "the shift is accepted".into(),
                    error.to_string(),
                    false,
                );
                return;
            }
            let moved = self.wait_for(&app, &to).await;
            self.say(&format!(
                "shift {n} at phase {phase:.2} s: the live view saw it moved after {}",
                moved.map_or_else(
                    || "never".to_owned(),
                    |t| format!("{:.2} s", t.as_secs_f64())
                )
            ));
            // Let the mixed window close before the next shift.
            tokio::time::sleep(self.traffic.live_window + self.traffic.max_connection_age).await;
        }
        if shifts % 2 == 1 {
            let _ = self
                .client
                .shift(
                    std::slice::from_ref(&app),
                    &self.primary,
                    ShiftOptions::default(),
                )
                .await;
        }
    }
}

/// The Region all of `app`'s recent traffic answered from, per the live view.
fn current_region(live: &LiveView, app: &AppName) -> Option<Region> {
    live.app(app).and_then(|a| a.current_region.clone())
}

/// Requests of `app` that failed or were never sent, between two live views.
fn new_failures(before: &LiveView, after: &LiveView, app: &AppName) -> u64 {
    let failures = |v: &LiveView| v.app(app).map_or(0, |a| a.errors + a.not_sent);
    failures(after).saturating_sub(failures(before))
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

/// From the report: for each move, the time from its mark (just before the call to ARC)
/// until every response came from the new Region (the first response from it plus the mixed
/// window), with the TTL phase it came at.
fn move_times(report: &Report, moves: &[(AppName, String, Region, f64)]) -> Vec<verdict::Move> {
    moves
        .iter()
        .map(|(app, after, to, phase)| verdict::Move {
            seconds: moved_after(report, after, app, to),
            app: app.clone(),
            after: after.clone(),
            phase_seconds: *phase,
        })
        .collect()
}

/// The moves as the demo prints them, next to the bound of every wait a client has.
fn describe_moves(moves: &[verdict::Move], bound: Duration) -> String {
    let mut out = format!(
        "\nTime from each call to 100 % of the app's traffic on the new Region, from the report (bound: TTL + health-check interval + connection age = {:.1} s):\n",
        bound.as_secs_f64()
    );
    for m in moves {
        let measured = m
            .seconds
            .map_or_else(|| "no switch recorded".to_owned(), |t| format!("{t:.2} s"));
        let _ = writeln!(
            out,
            "  {app:<10} after `{after}` (at {phase:.2} s of the TTL cycle): {measured}",
            app = m.app.as_str(),
            after = m.after,
            phase = m.phase_seconds,
        );
    }
    let _ = writeln!(out, "  {}", verdict::move_summary(moves, bound));
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
