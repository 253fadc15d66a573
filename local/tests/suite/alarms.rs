//! Every app's alarms, computed by the world from what it measures (the API's requests, 5xx and
//! latency; the function's errors; the records' health checks) into its local CloudWatch, as
//! AWS computes them: an outage drives them to ALARM, the move away clears them, and the
//! control API's state (the dashboard's) shows it. Alarm periods of 200 ms stand for AWS's
//! minute: each alarm fires when 2 of its last 3 periods breach.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use local_world::World;
use local_world::moves::Mover;
use serde_json::Value;
use topology::{AppName, Region, Topology};

use crate::common;

/// The fixture with the health-check mechanism on its own loopback networks, free ports, a
/// fast clock (TTL 1 s, checks every 200 ms, alarm periods of 200 ms), a p99 latency
/// threshold of 100 ms and 2 function errors. Counts are per period, and a period here lasts
/// 200 ms: the AWS default of 5 errors a minute would ask for 5 in 200 ms. No token is needed
/// at the gateway: these alarms watch what the services answer (the auth suite covers tokens).
fn topology(network: u8) -> Topology {
    let text = common::health_check(
        &common::fast_clock(&common::on_networks(&common::topology_text(), network)),
        200,
    )
    .replace(
        "[local]\n",
        "[alarms]\np99_latency_ms = 100\nfunction_errors = 2\n\n[local]\n",
    )
    .replace("[auth]\n", "[auth]\nenabled = false\n");
    Topology::parse(&text).unwrap()
}

/// Requests through the gateway in the primary to `/<service>/<id>` (a 404 when all is well),
/// from four clients each sending every 10 ms, until dropped: the gateway resolves the service
/// through DNS, as any client.
struct Traffic {
    running: Arc<AtomicBool>,
}

impl Traffic {
    fn start(world: &World, service: &AppName) -> Self {
        let running = Arc::new(AtomicBool::new(true));
        let primary = world.topology().regions.primary.clone();
        let gateway = world.instance(&common::gateway(), &primary).unwrap().addr;
        let url = format!("http://{gateway}/{service}");
        for _ in 0..4 {
            let (flag, url) = (running.clone(), url.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(2))
                    .build()
                    .unwrap();
                while flag.load(Ordering::Relaxed) {
                    let _ = client
                        .get(format!("{url}/{}", uuid::Uuid::now_v7()))
                        .send()
                        .await;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
        }
        Self { running }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
    }
}

/// Alarm `name`'s state in the control API's `GET /state`.
async fn shown(control: &str, name: &str) -> String {
    let state: Value = reqwest::get(format!("{control}/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alarm = state["cloudwatch"]["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no alarm {name} in the state"));
    alarm["state"].as_str().unwrap_or("missing").to_owned()
}

/// Waits until every alarm of `names` shows `state`; how long it took.
async fn until(control: &str, names: &[String], state: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let mut all = true;
        for name in names {
            all &= shown(control, name).await == state;
        }
        if all {
            return started.elapsed();
        }
        let now: Vec<String> =
            futures::future::join_all(names.iter().map(|n| shown(control, n))).await;
        assert!(
            started.elapsed() < within,
            "{names:?} not {state} within {within:?}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn name(app: &AppName, region: &Region, kind: &str) -> String {
    format!("local-{app}-{region}-{kind}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fires_the_apps_alarms_and_the_move_clears_them() {
    let world = Arc::new(World::start(topology(121)).await.unwrap());
    local_world::control::serve(world.clone()).expect("the control API's listener");
    let control = world.manifest().control_api.clone().unwrap();
    let [primary, secondary] = world.topology().regions.both().map(Clone::clone);
    let mover = Mover::from_manifest(world.manifest()).unwrap();
    let gateway = common::gateway();
    let (first, second) = (common::first(), common::second());
    let patience = Duration::from_secs(8);
    let gateway_errors = vec![name(&gateway, &primary, "error-rate")];

    // A service stopped in the primary: its clients cannot reach it, so it publishes nothing
    // (as an unreachable API on AWS) and its own alarms stay quiet; the gateway, whose proxied
    // calls to it fail with 502, fires its error-rate alarm.
    let traffic = Traffic::start(&world, &second);
    until(&control, &gateway_errors, "OK", patience).await;
    world.instance(&second, &primary).unwrap().stop().await;
    let fired = until(&control, &gateway_errors, "ALARM", patience).await;
    println!("{second} stopped in {primary}: the gateway's error-rate alarm fired after {fired:?}");
    assert_ne!(
        shown(&control, &name(&second, &primary, "error-rate")).await,
        "ALARM"
    );
    mover
        .shift(std::slice::from_ref(&second), &secondary)
        .await
        .unwrap();
    let cleared = until(&control, &gateway_errors, "OK", patience).await;
    println!("{second} shifted to {secondary}: cleared after {cleared:?}");
    drop(traffic);

    // A service failing every request in the primary (what API Gateway shows of a broken
    // function: 5xx answers), and slowly: its error-rate, function-errors and p99 latency
    // alarms fire; moved away, it gets no more traffic there and they clear.
    let traffic = Traffic::start(&world, &first);
    let own: Vec<String> = ["error-rate", "function-errors", "latency"]
        .iter()
        .map(|kind| name(&first, &primary, kind))
        .collect();
    until(&control, &own, "OK", patience).await;
    let fault = serde_json::json!({"fault": "degrade", "error_rate": 1.0, "latency_ms": 150});
    let response = reqwest::Client::new()
        .post(format!("{control}/faults/apps/{first}/{primary}"))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let fired = until(&control, &own, "ALARM", patience).await;
    println!("{first} degraded in {primary}: {own:?} fired after {fired:?}");
    mover
        .shift(std::slice::from_ref(&first), &secondary)
        .await
        .unwrap();
    let cleared = until(&control, &own, "OK", patience).await;
    println!("{first} shifted to {secondary}: cleared after {cleared:?}");
    drop(traffic);

    // Route 53's view: the health check of the primary's record of a moved app is unhealthy,
    // and its alarm (in us-east-1, on AWS/Route53 HealthCheckStatus) says so.
    let health = vec![name(&first, &primary, "health-check")];
    until(&control, &health, "ALARM", patience).await;
    assert_eq!(
        shown(&control, &name(&first, &secondary, "health-check")).await,
        "OK"
    );
    let state: Value = reqwest::get(format!("{control}/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alarms = state["cloudwatch"]["alarms"].as_array().unwrap();
    let expected: usize = world.manifest().apps.iter().map(|a| a.alarms.len()).sum();
    assert_eq!(alarms.len(), expected, "every alarm of the manifest");
    assert!(
        alarms.iter().all(|a| a["state"].is_string()),
        "each defined"
    );
}
