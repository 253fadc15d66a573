//! Failover plans against the local world: the runner (`failover::plan::run`) drives a world's
//! real data plane (the local ARC cluster, its DNS, its instances, its replication), as
//! `failover plan run` does, while live traffic watches. Plans are written by each test into
//! a folder of its own, naming services by position, never by name. The worlds run on
//! loopback networks of their own (`127.0.141` to `127.0.150`), on ports the system picks.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common;

use failover::alarms::AlarmState;
use failover::plan::{
    CheckOutcome, PlanDir, PlanReport, RunOptions, RunOutcome, StepEvent, StepOutcome,
};
use failover::{ClientConfig, DataPlane, exit};
use loadtest::{Run, RunConfig, Scenario};
use local_arc::Fault;
use local_world::World;
use topology::{AppName, Region, Topology};

/// The fixture on its own networks with a fast clock (TTL 1 s, health checks every 200 ms).
async fn world(network: u8) -> Arc<World> {
    let text = common::fast_clock(&common::on_networks(&common::topology_text(), network))
        .replace("replication_lag_ms = 250", "replication_lag_ms = 100");
    let world = Arc::new(
        tokio::time::timeout(
            Duration::from_secs(10),
            World::start(Topology::parse(&text).unwrap()),
        )
        .await
        .expect("the world starts within 10 s")
        .unwrap(),
    );
    // The gate reads replication from the control API, as `failover` does.
    local_world::control::serve(world.clone()).expect("the control API's listener");
    world
}

fn plane(world: &World) -> DataPlane {
    DataPlane::from_manifest(world.manifest(), ClientConfig::default()).unwrap()
}

/// Writes `text` as plan `name` in `dir`.
fn write_plan(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
}

fn options() -> RunOptions {
    RunOptions {
        poll: Some(Duration::from_millis(100)),
        ..RunOptions::default()
    }
}

async fn run(dir: &Path, plan: &str, world: &World, options: RunOptions) -> PlanReport {
    let loaded = PlanDir::new(dir).load(plan).unwrap();
    failover::plan::run(&loaded, &plane(world), options).await
}

/// The Region Route 53 answers for `app` now.
fn answered(world: &World, app: &AppName) -> Region {
    world.dns().answer(app).unwrap().region
}

fn step<'a>(report: &'a PlanReport, name: &str) -> &'a failover::plan::StepReport {
    report
        .step(name)
        .unwrap_or_else(|| panic!("no step `{name}`: {report:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_run_in_order_a_parallel_group_together_and_recovery_matches_live_traffic() {
    let world = world(141).await;
    let (first, second) = (common::first(), common::second());
    let dir = tempfile::tempdir().unwrap();
    write_plan(
        dir.path(),
        "move",
        &format!(
            r#"
description = "two services to the secondary, at once"
[[steps]]
name = "replication"
gate = {{ apps = ["{first}", "{second}"], to = "secondary" }}
[[steps]]
name = "go"
approval = {{ message = "move?" }}
[[steps]]
name = "warm"
warm_up = {{ apps = ["{first}", "{second}"], region = "secondary", requests = 8 }}
[[steps]]
name = "both"
[[steps.parallel]]
name = "move {first}"
shift = {{ apps = ["{first}"], to = "secondary", verify = true, verify_timeout = "20s" }}
[[steps.parallel]]
name = "move {second}"
shift = {{ apps = ["{second}"], to = "secondary", verify = true, verify_timeout = "20s" }}
[[steps]]
name = "settle"
wait = {{ duration = "300ms" }}
"#
        ),
    );
    let secondary = world.topology().regions.secondary.clone();
    let traffic = Run::start(
        world.manifest(),
        RunConfig {
            apps: vec![first.clone(), second.clone()],
            rate_per_app: 50,
            duration: None,
            scenario: Scenario::Probe,
            ..RunConfig::default()
        },
    )
    .unwrap();
    let traffic_started = Instant::now();
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let plan_started = Instant::now();
    let report = run(
        dir.path(),
        "move",
        &world,
        RunOptions {
            yes: true,
            ..options()
        },
    )
    .await;
    assert_eq!(report.outcome, RunOutcome::Succeeded, "{report:#?}");
    assert_eq!(report.exit_code, exit::OK);
    let live = traffic.stop().await;

    // In order: each top-level step starts once the one before it ended.
    let top: Vec<(u64, u64)> = report
        .steps
        .iter()
        .map(|s| (s.start_ms.unwrap(), s.end_ms.unwrap()))
        .collect();
    for pair in top.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "out of order: {top:?}");
    }
    assert_eq!(step(&report, "go").detail, "approved by --yes");
    assert!(
        step(&report, "warm").detail.contains("8/8"),
        "{:?}",
        step(&report, "warm")
    );
    // The group's two moves ran together: each started before the other ended.
    let (a, b) = (
        step(&report, &format!("move {first}")),
        step(&report, &format!("move {second}")),
    );
    assert!(
        a.start_ms < b.end_ms && b.start_ms < a.end_ms,
        "not concurrent: {a:?} {b:?}"
    );
    assert!(a.start_ms.unwrap().abs_diff(b.start_ms.unwrap()) < 100);
    for app in [&first, &second] {
        assert_eq!(answered(&world, app), secondary);
    }

    // The recovery time is when the last app's first answer came from the secondary, as the
    // live traffic saw it.
    let recovery = report.recovery.clone().expect("traffic moved");
    assert!(recovery.verified, "{recovery:?}");
    let offset = plan_started.duration_since(traffic_started).as_secs_f64();
    let seen_ms = [&first, &second]
        .iter()
        .map(|app| {
            let switch = live
                .app(app)
                .unwrap()
                .switches
                .iter()
                .find(|s| s.to == secondary)
                .unwrap_or_else(|| panic!("live traffic of {app} never moved"));
            ((switch.at_seconds - offset) * 1000.0) as u64
        })
        .max()
        .unwrap();
    println!(
        "recovery: report {} ms, live traffic {seen_ms} ms",
        recovery.ms
    );
    // Both wait out the same 1 s TTL, from different moments of it; the report's clients look
    // every 100 ms at each stage in turn.
    assert!(
        recovery.ms.abs_diff(seen_ms) <= 1500,
        "report {} ms, live traffic {seen_ms} ms",
        recovery.ms
    );

    // Run again: the end state holds, nothing is done.
    let again = run(
        dir.path(),
        "move",
        &world,
        RunOptions {
            yes: true,
            ..options()
        },
    )
    .await;
    assert_eq!(again.outcome, RunOutcome::AlreadyDone, "{again:#?}");
    assert!(
        again
            .all_steps()
            .iter()
            .all(|s| s.outcome == StepOutcome::NotRun)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_refusal_stops_the_plan_and_resume_finishes_it() {
    let world = world(143).await;
    let first = common::first();
    let (primary, secondary) = (
        world.topology().regions.primary.clone(),
        world.topology().regions.secondary.clone(),
    );
    let dir = tempfile::tempdir().unwrap();
    write_plan(
        dir.path(),
        "gated",
        &format!(
            r#"
[[steps]]
name = "warm"
warm_up = {{ apps = ["{first}"], region = "secondary", requests = 3 }}
[[steps]]
name = "replication"
gate = {{ apps = ["{first}"], to = "secondary", max_lag = "200ms" }}
[[steps]]
name = "move"
shift = {{ apps = ["{first}"], to = "secondary" }}
"#
        ),
    );
    // Hold replication into the secondary behind: one write waits there longer than 200 ms.
    common::write_held_back(&world, &first, &primary, "PLAN#gate");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let refused = run(dir.path(), "gated", &world, options()).await;
    assert_eq!(refused.outcome, RunOutcome::Failed, "{refused:#?}");
    assert_eq!(refused.failed_step.as_deref(), Some("replication"));
    assert_eq!(refused.exit_code, exit::REPLICATION_BEHIND);
    assert!(
        refused.error.as_deref().unwrap().contains("replication"),
        "{refused:?}"
    );
    assert_eq!(step(&refused, "warm").outcome, StepOutcome::Succeeded);
    assert_eq!(step(&refused, "move").outcome, StepOutcome::NotRun);
    assert!(refused.recovery.is_none(), "nothing moved");
    assert_eq!(
        answered(&world, &first),
        primary,
        "nothing after the gate ran"
    );
    let (json, markdown) = refused.write(dir.path()).unwrap();
    assert!(
        std::fs::read_to_string(&markdown)
            .unwrap()
            .contains("failed at step `replication` (exit 6)")
    );

    // Caught up: resuming from the report skips the warm-up and finishes.
    world.replicator().set_lag(Duration::from_millis(10));
    assert!(world.replicator().drained(Duration::from_secs(5)).await);
    let previous = PlanReport::load(&json).unwrap();
    let resumed = run(
        dir.path(),
        "gated",
        &world,
        RunOptions {
            resume: Some((json.clone(), previous)),
            ..options()
        },
    )
    .await;
    assert_eq!(resumed.outcome, RunOutcome::Succeeded, "{resumed:#?}");
    assert_eq!(step(&resumed, "warm").outcome, StepOutcome::DoneBefore);
    assert_eq!(
        step(&resumed, "replication").outcome,
        StepOutcome::Succeeded
    );
    assert_eq!(step(&resumed, "move").outcome, StepOutcome::Succeeded);
    assert_eq!(resumed.resumed_from.as_deref(), Some(json.as_path()));
    let recovery = resumed.recovery.expect("a move was made");
    assert!(!recovery.verified, "no step verified: {recovery:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(answered(&world, &first), secondary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_waits_for_a_person_and_approve_or_yes_pass_it() {
    let world = world(145).await;
    let first = common::first();
    let (primary, secondary) = (
        world.topology().regions.primary.clone(),
        world.topology().regions.secondary.clone(),
    );
    let dir = tempfile::tempdir().unwrap();
    let plan = |to: &str| {
        format!(
            "[[steps]]\nname = \"go\"\napproval = {{ message = \"move {first}?\" }}\n[[steps]]\nname = \"move\"\nshift = {{ apps = [\"{first}\"], to = \"{to}\" }}\n"
        )
    };
    write_plan(dir.path(), "out", &plan("secondary"));
    write_plan(dir.path(), "home", &plan("primary"));

    // A person who says no: the plan stops at the approval, nothing after it runs.
    let declined = run(
        dir.path(),
        "out",
        &world,
        RunOptions {
            approval: Some(Arc::new(|_, _| Box::pin(async { false }))),
            ..options()
        },
    )
    .await;
    assert_eq!(declined.exit_code, exit::NOT_APPROVED, "{declined:#?}");
    assert_eq!(declined.failed_step.as_deref(), Some("go"));
    assert_eq!(step(&declined, "move").outcome, StepOutcome::NotRun);
    assert_eq!(answered(&world, &first), primary);

    // The approval waits: nothing moves while the person thinks.
    let (answer, asked) = tokio::sync::oneshot::channel::<bool>();
    let answer = Arc::new(std::sync::Mutex::new(Some(answer)));
    let waiting = Arc::new(AtomicBool::new(false));
    let seen = waiting.clone();
    let asked = Arc::new(tokio::sync::Mutex::new(Some(asked)));
    let options_waiting = RunOptions {
        approval: Some(Arc::new(move |_, _| {
            let asked = asked.clone();
            Box::pin(async move {
                let rx = asked.lock().await.take().unwrap();
                rx.await.unwrap_or(false)
            })
        })),
        events: Some(Arc::new(move |event| {
            if let StepEvent::AwaitingApproval { step, .. } = event {
                assert_eq!(step, "go");
                seen.store(true, Ordering::SeqCst);
            }
        })),
        ..options()
    };
    let running = {
        let world = world.clone();
        let dir = dir.path().to_owned();
        tokio::spawn(async move { run(&dir, "out", &world, options_waiting).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    if running.is_finished() {
        panic!("the plan did not wait: {:#?}", running.await);
    }
    assert!(
        waiting.load(Ordering::SeqCst),
        "the approval is shown waiting"
    );
    assert_eq!(answered(&world, &first), primary, "nothing moved meanwhile");
    answer.lock().unwrap().take().unwrap().send(true).unwrap();
    let approved = running.await.unwrap();
    assert_eq!(approved.outcome, RunOutcome::Succeeded, "{approved:#?}");
    assert_eq!(step(&approved, "go").detail, "approved on the dashboard");

    // --approve STEP passes that approval; --yes passes every one.
    let home = run(
        dir.path(),
        "home",
        &world,
        RunOptions {
            approve: vec!["go".into()],
            ..options()
        },
    )
    .await;
    assert_eq!(home.outcome, RunOutcome::Succeeded, "{home:#?}");
    assert_eq!(step(&home, "go").detail, "approved by --approve go");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = run(
        dir.path(),
        "out",
        &world,
        RunOptions {
            yes: true,
            ..options()
        },
    )
    .await;
    assert_eq!(out.outcome, RunOutcome::Succeeded, "{out:#?}");
    assert_eq!(step(&out, "go").detail, "approved by --yes");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(answered(&world, &first), secondary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_check_reports_a_missing_app_a_silent_standby_and_a_cluster_without_quorum() {
    let world = world(147).await;
    let first = common::first();
    let secondary = world.topology().regions.secondary.clone();
    let dir = tempfile::tempdir().unwrap();
    let move_first = format!(
        "[[steps]]\nname = \"move\"\nshift = {{ apps = [\"{first}\"], to = \"secondary\" }}\n"
    );
    write_plan(dir.path(), "ok", &move_first);
    write_plan(
        dir.path(),
        "typo",
        "[[steps]]\nname = \"move\"\nshift = { apps = [\"nosuchapp\"], to = \"secondary\" }\n",
    );
    let check = |name: &'static str| {
        let world = world.clone();
        let dir = dir.path().to_owned();
        async move {
            let loaded = PlanDir::new(&dir).load(name).unwrap();
            failover::plan::check(&loaded, &plane(&world)).await
        }
    };

    let healthy = check("ok").await;
    assert_eq!(healthy.exit_code(), exit::OK, "{healthy:#?}");
    assert!(
        healthy
            .checks
            .iter()
            .all(|c| c.outcome == CheckOutcome::Passed),
        "{healthy:#?}"
    );

    let typo = check("typo").await;
    let names = typo.get("apps and Regions").unwrap();
    assert_eq!(names.outcome, CheckOutcome::Failed);
    assert!(names.detail.contains("`nosuchapp`"), "{names:?}");
    assert_eq!(typo.exit_code(), exit::USAGE);

    world.instance(&first, &secondary).unwrap().stop().await;
    let silent = check("ok").await;
    let standby = silent.get("target Regions answer").unwrap();
    assert_eq!(standby.outcome, CheckOutcome::Failed, "{silent:#?}");
    assert!(
        standby.detail.contains(&format!("{first} in {secondary}")),
        "{standby:?}"
    );
    assert_eq!(silent.exit_code(), exit::STEP_FAILED);
    world
        .instance(&first, &secondary)
        .unwrap()
        .restore()
        .await
        .unwrap();

    let cluster = world.cluster().unwrap();
    for index in 0..3 {
        cluster.set_fault(index, Fault::Down).await.unwrap();
    }
    let no_quorum = check("ok").await;
    let mechanism = no_quorum.get("routing mechanism").unwrap();
    assert_eq!(mechanism.outcome, CheckOutcome::Failed, "{no_quorum:#?}");
    assert!(mechanism.detail.contains("2 of 5"), "{mechanism:?}");
    assert_eq!(no_quorum.exit_code(), exit::UNREACHABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_ends_with_the_alarms_of_the_apps_it_moved() {
    let world = world(149).await;
    let (first, second) = (common::first(), common::second());
    let [primary, secondary] = world.topology().regions.both().map(Clone::clone);
    let dir = tempfile::tempdir().unwrap();
    write_plan(
        dir.path(),
        "away",
        &format!(
            "[[steps]]\nname = \"move\"\nshift = {{ apps = [\"{first}\"], to = \"secondary\" }}\n"
        ),
    );
    write_plan(
        dir.path(),
        "back",
        &format!(
            "[[steps]]\nname = \"move\"\nshift = {{ apps = [\"{first}\"], to = \"primary\" }}\n"
        ),
    );
    write_plan(
        dir.path(),
        "pause",
        "[[steps]]\nname = \"settle\"\nwait = { duration = \"10ms\" }\n",
    );
    let declared = |app: &AppName| {
        let mut names: Vec<String> = world
            .manifest()
            .app(app)
            .unwrap()
            .alarms
            .iter()
            .map(|a| a.name.clone())
            .collect();
        names.sort();
        names
    };
    assert!(
        !declared(&first).is_empty(),
        "the fixture gives apps alarms"
    );

    let away = run(dir.path(), "away", &world, options()).await;
    assert_eq!(away.outcome, RunOutcome::Succeeded, "{away:#?}");
    let alarms = away.alarms.as_ref().expect("the moved app's alarms");
    assert_eq!(alarms.apps.len(), 1, "only the app moved: {alarms:#?}");
    assert_eq!(alarms.apps[0].app, first);
    assert_ne!(alarms.apps[0].app, second);
    let mut read: Vec<String> = alarms.apps[0]
        .alarms
        .iter()
        .map(|a| a.name.clone())
        .collect();
    read.sort();
    assert_eq!(read, declared(&first), "every alarm the manifest lists");
    assert!(
        alarms.apps[0]
            .alarms
            .iter()
            .all(|a| !matches!(a.reading.state, AlarmState::Unknown | AlarmState::NotFound)),
        "each Region's CloudWatch answered with each alarm: {alarms:#?}"
    );
    assert!(alarms.cloudwatch.iter().all(|r| r.answered));
    assert!(alarms.read_ms <= away.duration_ms);
    // Written and read back (what `--resume` does), the alarms survive.
    let (json, markdown) = away.write(dir.path()).unwrap();
    assert_eq!(PlanReport::load(&json).unwrap().alarms, away.alarms);
    let markdown = std::fs::read_to_string(markdown).unwrap();
    assert!(markdown.contains("## Alarms at the end"), "{markdown}");
    assert!(markdown.contains(&declared(&first)[0]), "{markdown}");

    // A run that moves nothing reads no alarm.
    let pause = run(dir.path(), "pause", &world, options()).await;
    assert_eq!(pause.outcome, RunOutcome::Succeeded, "{pause:#?}");
    assert!(pause.alarms.is_none(), "{pause:#?}");

    // The primary's CloudWatch down: the move back still runs (ARC needs no CloudWatch), and
    // the report says which alarms it could not read, and why.
    world
        .monitoring()
        .set_fault(&primary, local_cloudwatch::Fault::Down)
        .await
        .unwrap();
    let back = run(dir.path(), "back", &world, options()).await;
    assert_eq!(back.outcome, RunOutcome::Succeeded, "{back:#?}");
    assert_eq!(step(&back, "move").outcome, StepOutcome::Succeeded);
    let alarms = back.alarms.as_ref().expect("the moved app's alarms");
    let held_in = |region: &Region| {
        alarms.apps[0]
            .alarms
            .iter()
            .filter(|a| a.region == *region)
            .map(|a| a.reading.state)
            .collect::<Vec<_>>()
    };
    assert!(!held_in(&primary).is_empty(), "{alarms:#?}");
    assert!(
        held_in(&primary).iter().all(|s| *s == AlarmState::Unknown),
        "{alarms:#?}"
    );
    assert!(
        held_in(&secondary)
            .iter()
            .all(|s| *s != AlarmState::Unknown),
        "{alarms:#?}"
    );
    assert!(
        alarms
            .cloudwatch
            .iter()
            .any(|r| r.region == primary && !r.answered),
        "{alarms:#?}"
    );
    assert!(
        back.markdown()
            .contains(&format!("CloudWatch in {primary} did not answer")),
        "{}",
        back.markdown()
    );
    world
        .monitoring()
        .set_fault(&primary, local_cloudwatch::Fault::None)
        .await
        .unwrap();
}
