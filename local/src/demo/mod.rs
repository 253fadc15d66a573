//! `local-world demo`: the local world with traffic and a scripted failover drill; one short
//! line per step as it runs, then one table of every expectation (what held, and the number
//! that matters). The full detail goes to `demo.json` in the report folder, and with
//! `--verbose` to the terminal too.
//!
//! The drill (`steps`): steady state (every app, and every service route directly and through
//! the gateway); writes in the primary, read back from both Regions; concurrent updates from
//! both Regions (last writer wins); the replication gate; shift one service to the secondary
//! (DNS propagation, the move, the gateway following it) while the other apps stay put; stop
//! another service in the primary (only its routes fail) and recover by evacuating the
//! primary; writes in the secondary; fail back, with write fencing against a client holding
//! the old answer; optionally more shifts at random phases of the clients' TTL cycle
//! (`--shifts N`). Each expectation is a function of measurements ([`crate::verdict`]), so a
//! broken world fails it.

mod drill;
mod narrator;
pub(crate) mod plans;
mod steps;
mod summary;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use topology::Topology;

use super::{DemoArgs, World, control, describe};
use crate::{stages, verdict};
pub(crate) use drill::propagation_bound;
use drill::{Drill, Pace, bound_terms, client_bound};
use narrator::Narrator;

/// Runs the demo; exit code 0 only when every expectation held.
pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let mut topology = Topology::load(&args.config)?;
    if args.quick {
        shorten(&mut topology);
    }
    let narrator = Narrator::new(Instant::now(), args.verbose);
    narrator.say("starting the local world");
    let world = Arc::new(World::start(topology).await?);
    let control = control::serve(world.clone());
    introduce(&world, narrator);
    let plans = plans::DrillPlans::beside(&args.config);
    let mut drill = Drill::new(world.clone(), Pace::new(args.quick), narrator, plans)?;
    run_steps(&mut drill, args.shifts).await;
    let dir = args.report.clone().unwrap_or_else(default_report_dir);
    let held = finish(drill, &dir, args.shifts).await?;
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

/// The drill's steps, in order.
async fn run_steps(drill: &mut Drill, shifts: u32) {
    steps::steady_state::run(drill).await;
    steps::writes::in_primary(drill).await;
    steps::last_writer_wins::run(drill).await;
    steps::replication_gate::run(drill).await;
    steps::planned_shift::run(drill).await;
    steps::outage::run(drill).await;
    steps::evacuate::run(drill).await;
    steps::writes::after_repair(drill).await;
    steps::fail_back::run(drill).await;
    steps::random_shifts::run(drill, shifts).await;
}

/// What runs where: the whole table with `--verbose`, else the few lines a newcomer needs.
/// Either way the control API's line, which scripts read the URL from.
fn introduce(world: &World, narrator: Narrator) {
    let manifest = world.manifest();
    if narrator.verbose() {
        print!("{}", describe(world));
    } else {
        let apps: Vec<&str> = manifest.apps.iter().map(|a| a.name.as_str()).collect();
        let [primary, secondary] = manifest.regions.both();
        let dns = world.dns().local_addr();
        let mechanism = match manifest.mechanism() {
            topology::Mechanism::Arc => "failover by ARC routing controls",
            topology::Mechanism::HealthCheck => "failover by flags in CloudWatch",
        };
        println!(
            "The local world ({}): {} in {primary} and {secondary}, Route 53 at {dns}, {mechanism}",
            manifest.domain,
            apps.join(", "),
        );
        if let Some(url) = &manifest.control_api {
            println!("Dashboard       {url}/  (open it in a browser)");
        }
    }
    if let Some(url) = &manifest.control_api {
        narrator.say(&format!(
            "control API: {url}/state (faults: POST {url}/faults/...)"
        ));
    }
}

/// Stops the traffic, waits for the moves' verifications, writes the report and `demo.json`
/// into `dir`, prints the outcome; whether every expectation held.
async fn finish(drill: Drill, dir: &Path, shifts: u32) -> anyhow::Result<bool> {
    let narrator = drill.narrator;
    let client_bound = client_bound(&drill.world, &drill.traffic);
    let mechanism = drill.world.mechanism();
    let Drill {
        run,
        mut steps,
        probe,
        moves,
        verifications,
        plan_reports,
        ..
    } = drill;
    let staged = stages::finish(verifications).await;
    steps.push(verdict::stages_in_order(&staged, mechanism));
    let probed = probe.stop().await;
    let report = run.stop().await;
    let (json, svg) = report
        .write(dir)
        .with_context(|| format!("cannot write the report to {}", dir.display()))?;
    let moves = summary::move_times(&report, &moves);
    if shifts > 0 {
        steps.push(verdict::move_distribution(
            &moves,
            client_bound,
            bound_terms(mechanism),
        ));
    }
    let held = steps.iter().all(|s| s.held);
    let seconds = narrator.seconds();
    let mut plan_files = Vec::new();
    for plan in &plan_reports {
        let (json, _) = plan
            .write(&dir.join("plans"))
            .map_err(|e| anyhow::anyhow!(e))?;
        plan_files.push(json);
    }
    let verdict_path = dir.join("demo.json");
    let outcome = serde_json::json!({
        "passed": held, "seconds": seconds, "steps": steps, "moves": moves,
        "move_bound_seconds": client_bound.as_secs_f64(),
        "staged_verification": staged,
        "plans": plan_reports,
        "route_probe": probed.routes.iter().map(|(r, c)| serde_json::json!({"route": r.to_string(), "counts": c})).collect::<Vec<_>>(),
    });
    std::fs::write(&verdict_path, format!("{outcome:#}\n"))
        .with_context(|| format!("cannot write {}", verdict_path.display()))?;
    if narrator.verbose() {
        println!("\n{}", report.summary_table());
        print!("{}", summary::verdicts(&steps));
        print!(
            "{}",
            summary::describe_moves(&moves, client_bound, bound_terms(mechanism))
        );
        print!("{}", stages::table(&staged, mechanism));
        println!(
            "Route probe (every service route, direct and through the gateway): {}",
            verdict::routes_text(&probed)
        );
    } else {
        print!("{}", summary::table(&steps));
        println!(
            "\nTraffic moves: {}",
            verdict::move_summary(&moves, client_bound)
        );
    }
    println!(
        "Report: {}, {} and {}{}",
        json.display(),
        svg.display(),
        verdict_path.display(),
        if narrator.verbose() {
            ""
        } else {
            " (every step in full; --verbose prints it)"
        }
    );
    println!(
        "Demo {} in {seconds:.1} s: {}.",
        if held { "PASSED" } else { "FAILED" },
        summary::count(&steps)
    );
    Ok(held)
}

/// `--quick`: a TTL of at most 2 s, health checks at most every 0.5 s and alarm periods of
/// at most 1 s, so each move takes seconds, not tens of seconds. The rules are the same, only
/// the clock runs faster.
fn shorten(topology: &mut Topology) {
    let local = &mut topology.local;
    local.ttl_seconds = local.ttl_seconds.min(2);
    local.health_check_interval_ms = local.health_check_interval_ms.min(500);
    local.alarm_period_ms = local.alarm_period_ms.min(1000);
}

/// `.local/demo-<seconds since the Unix epoch>`: unique enough for a folder name.
fn default_report_dir() -> PathBuf {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    PathBuf::from(format!(".local/demo-{stamp}"))
}
