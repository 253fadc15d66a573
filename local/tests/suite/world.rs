//! The local world end to end: both Regions, the DNS, the ARC cluster, the gateway and the
//! replicated tables, driven as a user would (the failover library, the loadtest library,
//! the control API). Each test runs its own world on its own loopback networks and on ports
//! the system picks, so tests run in parallel with each other and with `local-world run`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common;

use failover::{Client, ClientConfig, ShiftOptions};
use loadtest::{Run, RunConfig, Scenario};
use local_world::World;
use topology::{AppName, Topology};

/// The fixture topology (this build's services) on loopback networks of its own
/// (`127.0.<n>.x`, `127.0.<n+1>.x`), every listener on a free port, and a fast clock: TTL 1 s,
/// health checks every 200 ms.
fn topology(network: u8) -> Topology {
    let text = common::fast_clock(&common::on_networks(&common::topology_text(), network))
        .replace("replication_lag_ms = 250", "replication_lag_ms = 100");
    Topology::parse(&text).unwrap()
}

async fn world(network: u8) -> Arc<World> {
    Arc::new(
        tokio::time::timeout(Duration::from_secs(10), World::start(topology(network)))
            .await
            .expect("the world starts within 10 s")
            .unwrap(),
    )
}

fn client(world: &World) -> Client {
    Client::from_manifest(world.manifest(), ClientConfig::default()).unwrap()
}

fn probe(world: &World, apps: Vec<AppName>) -> Run {
    let config = RunConfig {
        apps,
        rate_per_app: 40,
        duration: None,
        scenario: Scenario::Probe,
        ..RunConfig::default()
    };
    Run::start(world.manifest(), config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_shift_moves_all_traffic_within_the_bound_without_errors() {
    let world = world(21).await;
    let orders = common::first();
    let (primary, secondary) = (
        world.topology().regions.primary.clone(),
        world.topology().regions.secondary.clone(),
    );
    let run = probe(&world, vec![orders.clone(), common::gateway()]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        run.live().app(&orders).unwrap().current_region.as_ref(),
        Some(&primary)
    );

    client(&world)
        .shift(
            std::slice::from_ref(&orders),
            &secondary,
            ShiftOptions::default(),
        )
        .await
        .unwrap();
    let acknowledged = Instant::now();
    let local = &world.topology().local;
    let bound = local.ttl() + local.health_check_interval() + Duration::from_secs(1);
    let moved = loop {
        if run.live().app(&orders).unwrap().current_region.as_ref() == Some(&secondary) {
            break acknowledged.elapsed();
        }
        assert!(acknowledged.elapsed() < bound * 2, "traffic never moved");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!("all orders traffic on {secondary} {moved:?} after the shift (bound {bound:?})");
    assert!(moved <= bound, "moved after {moved:?}, bound {bound:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let live = run.live();
    assert_eq!(
        live.app(&orders).unwrap().errors,
        0,
        "a planned shift loses no request"
    );
    assert_eq!(
        live.app(&common::gateway())
            .unwrap()
            .current_region
            .as_ref(),
        Some(&primary),
        "the other apps stay put"
    );
    assert_eq!(
        world.dns().answer(&orders).unwrap().region,
        secondary,
        "DNS answers the secondary"
    );
    // Through the gateway in the primary, /orders now answers from the secondary.
    let api = world.instance(&common::gateway(), &primary).unwrap().addr;
    let http = reqwest::Client::builder()
        .resolve("api.example.test", api)
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let response = http
        .get(format!(
            "http://api.example.test:{}/{orders}?limit=1",
            api.port()
        ))
        .bearer_auth(world.api_token(Duration::from_secs(60)).unwrap())
        .send()
        .await
        .unwrap();
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("x-region"), primary.as_str());
    assert_eq!(header("x-upstream-region"), secondary.as_str());
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_primary_without_a_shift_fails_only_that_app() {
    let world = world(23).await;
    let payments = common::second();
    let primary = world.topology().regions.primary.clone();
    let apps: Vec<AppName> = world
        .manifest()
        .apps
        .iter()
        .map(|a| a.name.clone())
        .collect();
    let run = probe(&world, apps.clone());
    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = run.live();
    world.instance(&payments, &primary).unwrap().stop().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = run.live();
    for name in &apps {
        let errors = after.app(name).unwrap().errors - before.app(name).unwrap().errors;
        if *name == payments {
            assert!(errors > 0, "{name} fails while its primary is stopped");
        } else {
            assert_eq!(errors, 0, "{name} is not affected");
        }
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_loss_blocks_a_shift_and_changes_nothing() {
    let world = world(25).await;
    let orders = common::first();
    let secondary = world.topology().regions.secondary.clone();
    for index in 0..3 {
        world
            .cluster()
            .unwrap()
            .set_fault(index, local_arc::Fault::Down)
            .await
            .unwrap();
    }
    let entry = world.manifest().app(&orders).unwrap().clone();
    let before: Vec<Option<bool>> = entry
        .arc()
        .unwrap()
        .routing_controls
        .iter()
        .map(|c| world.cluster().unwrap().routing_control_state(&c.arn))
        .collect();
    let started = Instant::now();
    // A short deadline: the default (15 s) suits an incident, not a test.
    let config = ClientConfig {
        deadline: Duration::from_secs(3),
        ..ClientConfig::default()
    };
    let result = Client::from_manifest(world.manifest(), config)
        .unwrap()
        .shift(
            std::slice::from_ref(&orders),
            &secondary,
            ShiftOptions::default(),
        )
        .await;
    let error = result.expect_err("a shift without quorum must fail");
    println!("refused after {:?}: {error}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(5));
    let after: Vec<Option<bool>> = entry
        .arc()
        .unwrap()
        .routing_controls
        .iter()
        .map(|c| world.cluster().unwrap().routing_control_state(&c.arn))
        .collect();
    assert_eq!(before, after, "no routing control changed");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        world.dns().answer(&orders).unwrap().region,
        world.topology().regions.primary,
        "DNS still answers the primary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_converges_and_every_acknowledged_write_is_found() {
    let world = world(27).await;
    world.replicator().set_lag(Duration::from_millis(300));
    let config = RunConfig {
        apps: common::services(),
        rate_per_app: 10,
        duration: Some(Duration::from_secs(2)),
        scenario: Scenario::Consistency,
        ..RunConfig::default()
    };
    let run = Run::start(world.manifest(), config).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(world.replicator().drained(Duration::from_secs(3)).await);
    let report = run.stop().await;
    let consistency = report.consistency();
    assert!(consistency.acknowledged > 0, "the scenario wrote something");
    assert_eq!(consistency.never_found, 0, "no acknowledged write is lost");
    // Both Regions hold the same items once the backlog is empty.
    let [primary, secondary] = world.topology().regions.both();
    for service in common::services() {
        let a = world.table(&service, primary).unwrap().len();
        let b = world.table(&service, secondary).unwrap().len();
        assert_eq!(a, b, "{service} converged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_api_shows_state_and_injects_faults() {
    let world = world(29).await;
    let _control = local_world::control::serve(world.clone()).unwrap();
    let base = world.manifest().control_api.clone().unwrap();
    let http = reqwest::Client::new();
    let state: serde_json::Value = http
        .get(format!("{base}/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (first, last) = (common::first(), common::last());
    assert_eq!(
        state["apps"].as_array().unwrap().len(),
        common::services().len() + 1
    );
    assert_eq!(state["apps"][1]["dns_answer"]["region"], "us-east-1");
    assert_eq!(state["arc_endpoints"].as_array().unwrap().len(), 5);

    let stopped: serde_json::Value = http
        .post(format!("{base}/faults/apps/{first}/us-east-1"))
        .json(&serde_json::json!({"action": "stop"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stopped["regions"][0]["instance"]["status"], "stopped");
    let entry = world.manifest().app(&first).unwrap();
    let direct = entry
        .regional_url(&world.topology().regions.primary)
        .unwrap();
    assert!(direct.contains(&format!("{first}.us-east-1.")), "{direct}");

    let down: serde_json::Value = http
        .post(format!("{base}/faults/apps/{last}/us-west-2"))
        .json(&serde_json::json!({"action": "store_down"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(down["regions"][1]["store_available"], false);
    let health = reqwest::Client::builder()
        .resolve(
            &format!("{last}.example.test"),
            world
                .instance(&last, &world.topology().regions.secondary)
                .unwrap()
                .addr,
        )
        .build()
        .unwrap()
        .get(format!(
            "http://{last}.example.test:{}/health",
            world.topology().local.app_port
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 503, "the service reports its store down");
    let response = http
        .post(format!("{base}/faults/apps/nope/us-east-1"))
        .json(&serde_json::json!({"action": "restore"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let lag: serde_json::Value = http
        .put(format!("{base}/replication/lag"))
        .json(&serde_json::json!({"lag_ms": 1500}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(lag["lag_ms"], 1500);
    let arc: serde_json::Value = http
        .post(format!("{base}/faults/arc/1"))
        .json(&serde_json::json!({"fault": "slow", "delay_ms": 100}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The fault reads back as it was written.
    assert_eq!(arc["arc_endpoints"][1]["fault"], "slow");
    assert_eq!(arc["arc_endpoints"][1]["delay_ms"], 100);
    let missing = http
        .post(format!("{base}/faults/arc/9"))
        .json(&serde_json::json!({"fault": "down"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let spec: serde_json::Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"]["/faults/arc/{index}"].is_object());
}
