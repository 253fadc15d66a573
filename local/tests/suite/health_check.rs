//! The local world with the `health-check` mechanism, end to end: no ARC cluster; per app two
//! flags in the local CloudWatch (each in the Region it does not take out), their alarms, the
//! `CLOUDWATCH_METRIC` health checks on them, and the local Route 53 answering from those.
//! Moves are flags published over the wire (the AWS SDK, and boto3); every answer is read over
//! real DNS. Each test runs its own world on its own loopback networks and free ports.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use local_world::World;
use local_world::moves::{FlagClient, Mover};
use reqwest::StatusCode;
use serde_json::Value;
use topology::manifest::Routing;
use topology::{AppName, Region, Topology};

use crate::common;

/// A flag's alarm period here: 200 ms stands for AWS's minute.
const ALARM_PERIOD: Duration = Duration::from_millis(200);

/// The fixture with the health-check mechanism on loopback networks of its own, free ports
/// and a fast clock (TTL 1 s, health checks every 200 ms, alarm periods of 200 ms), with
/// `edit` applied to its text.
fn topology(network: u8, edit: impl FnOnce(String) -> String) -> Topology {
    let text = common::health_check(
        &common::fast_clock(&common::on_networks(&common::topology_text(), network)),
        ALARM_PERIOD.as_millis() as u64,
    );
    Topology::parse(&edit(text)).unwrap()
}

async fn world(topology: Topology) -> Arc<World> {
    Arc::new(
        tokio::time::timeout(Duration::from_secs(10), World::start(topology))
            .await
            .expect("the world starts within 10 s")
            .unwrap(),
    )
}

/// The longest a flag takes to show in the authoritative answer: the alarm period holding it
/// ends, then a health check reads it (as docs/workshop.md's lab states for these settings).
fn propagation(world: &World) -> Duration {
    let local = &world.topology().local;
    local.alarm_period() + local.health_check_interval()
}

/// The A record `<app>.<domain>` answers with, asked over UDP of the world's Route 53.
async fn dns_answer(world: &World, app: &AppName) -> Ipv4Addr {
    let name = format!("{app}.{}.", world.topology().local.domain);
    let mut message = Message::new(7, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(
        Name::from_ascii(&name).unwrap(),
        RecordType::A,
    ));
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&message.to_vec().unwrap(), world.dns().local_addr())
        .await
        .unwrap();
    let mut buffer = vec![0; 2048];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buffer))
        .await
        .expect("Route 53 answers within 2 s")
        .unwrap();
    let response = Message::from_vec(&buffer[..n]).unwrap();
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    let addresses: Vec<Ipv4Addr> = response
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    assert_eq!(addresses.len(), 1, "one answer for {name}: {response:?}");
    addresses[0]
}

/// The Region whose address `answer` is, for `app`.
fn region_of(world: &World, app: &AppName, answer: Ipv4Addr) -> Region {
    world
        .topology()
        .regions
        .both()
        .into_iter()
        .find(|r| world.topology().local_address(app, r) == Some(answer))
        .unwrap_or_else(|| panic!("{answer} is no address of {app}"))
        .clone()
}

/// Polls DNS until `app` answers from `region`; how long it took after `since`.
async fn until_answered(
    world: &World,
    app: &AppName,
    region: &Region,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let answer = dns_answer(world, app).await;
        if region_of(world, app, answer) == *region {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{app} still answered from {} after {within:?}",
            region_of(world, app, answer)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_world_runs_the_flags_and_writes_them_into_its_manifest() {
    let world = world(topology(101, |t| t)).await;
    assert!(world.cluster().is_none(), "no ARC resource");
    let manifest = world.manifest();
    let Routing::HealthCheck { flags } = &manifest.routing else {
        panic!("the manifest's routing: {:?}", manifest.routing)
    };
    assert_eq!(flags.namespace, "MultiRegionApi/local");
    assert_eq!(flags.metric_name, "RegionOut");
    let regions = &manifest.regions;
    for region in regions.both() {
        assert!(flags.endpoint(region).is_some(), "an endpoint in {region}");
    }
    for app in &manifest.apps {
        for region in regions.both() {
            let flag = app.flag(region).expect("a flag per Region");
            assert_eq!(Some(&flag.published_in), regions.other(region));
            assert_eq!(flag.alarm_name, format!("local-{}-{region}-out", app.name));
            let id = flag.health_check_id.as_deref().unwrap();
            let alarm = world
                .monitoring()
                .cloudwatch()
                .alarm(&flag.published_in, &flag.alarm_name.parse().unwrap())
                .expect("the flag's alarm where the flag lives");
            assert_eq!(alarm.definition.threshold, 1.0);
            let checks = world.monitoring().health_checks().unwrap();
            assert_eq!(
                checks.is_healthy(&id.parse().unwrap()),
                Some(true),
                "no flag published: healthy"
            );
        }
        assert_eq!(
            region_of(&world, &app.name, dns_answer(&world, &app.name).await),
            regions.primary,
            "both records healthy: the primary"
        );
    }
    // The state shows the mechanism and each flag where it lives.
    let state = world.state().await;
    assert_eq!(state.mechanism, "health-check");
    assert!(state.arc_endpoints.is_empty());
    let first = &state.apps[1];
    assert_eq!(first.flags.len(), 2);
    assert_eq!(first.flags[0].region, regions.primary);
    assert_eq!(first.flags[0].published_in, regions.secondary);
    assert_eq!(first.flags[0].value, None, "never published");
    // The manifest the world writes is one `failover` and boto3 read back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deployment.json");
    manifest.save(&path).unwrap();
    assert_eq!(
        &topology::manifest::Manifest::load(&path).unwrap(),
        manifest
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_combination_of_flags_leaves_an_app_without_an_answer() {
    let world = world(topology(103, |t| t)).await;
    let app = common::first();
    let [primary, secondary] = world.topology().regions.both().map(Clone::clone);
    let client = FlagClient::from_manifest(world.manifest()).unwrap();
    let checks = world.monitoring().health_checks().unwrap().clone();
    let flags: Vec<_> = world
        .monitoring()
        .flags_of(&app)
        .into_iter()
        .map(|f| f.health_check.clone())
        .collect();
    // One flag changes at a time, each published in a later alarm period than the one
    // before (a period's Maximum would hide a 1 then a 0 published within it).
    for (p_out, s_out, expected) in [
        (false, false, &primary),
        (true, false, &secondary),
        (true, true, &primary),
        (false, true, &primary),
        (false, false, &primary),
    ] {
        client.set(&app, &primary, p_out).await.unwrap();
        client.set(&app, &secondary, s_out).await.unwrap();
        let started = Instant::now();
        while checks.is_healthy(&flags[0]) != Some(!p_out)
            || checks.is_healthy(&flags[1]) != Some(!s_out)
        {
            assert!(
                started.elapsed() < propagation(&world) * 3,
                "the health checks never saw {p_out}/{s_out}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let answer = dns_answer(&world, &app).await;
        println!(
            "\"{primary} is out\" = {}, \"{secondary} is out\" = {}: {app} answers {answer}",
            u8::from(p_out),
            u8::from(s_out)
        );
        assert_eq!(region_of(&world, &app, answer), *expected);
        tokio::time::sleep(ALARM_PERIOD).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evacuating_a_region_whose_endpoints_are_all_unreachable_moves_dns() {
    let world = world(topology(105, |t| t)).await;
    let [primary, secondary] = world.topology().regions.both().map(Clone::clone);
    let apps: Vec<AppName> = world
        .topology()
        .apps
        .iter()
        .map(|a| a.name().clone())
        .collect();
    // The Region being left is gone: its CloudWatch refuses connections, every instance too.
    world
        .monitoring()
        .set_fault(&primary, local_cloudwatch::Fault::Down)
        .await
        .unwrap();
    for app in &apps {
        world.instance(app, &primary).unwrap().stop().await;
    }
    let mover = Mover::from_manifest(world.manifest()).unwrap();
    let called = Instant::now();
    let moved = mover
        .evacuate(&primary)
        .await
        .expect("the evacuation goes through");
    println!("evacuated in {:?}: {moved:?}", called.elapsed());
    assert_eq!(moved.to, secondary);
    assert_eq!(
        moved.warnings.len(),
        1,
        "the flag not cleared in {primary}: {moved:?}"
    );
    let bound = propagation(&world) + Duration::from_millis(300);
    for app in &apps {
        until_answered(&world, app, &secondary, bound * 2).await;
    }
    let took = called.elapsed();
    println!("every app answered from {secondary} {took:?} after the call (bound {bound:?})");
    assert!(took <= bound, "DNS moved after {took:?}, bound {bound:?}");
    // And the Region that stays serves them.
    let gateway = common::gateway();
    let address = dns_answer(&world, &gateway).await;
    let port = world.topology().local.app_port;
    let response = reqwest::get(format!("http://{address}:{port}/"))
        .await
        .unwrap();
    assert_eq!(response.headers()["x-region"], secondary.as_str());

    // The other way, with the secondary's CloudWatch hanging: the move waits out the call
    // into it, at most its timeout, and goes through.
    world
        .monitoring()
        .set_fault(&primary, local_cloudwatch::Fault::None)
        .await
        .unwrap();
    world
        .monitoring()
        .set_fault(&secondary, local_cloudwatch::Fault::Hang)
        .await
        .unwrap();
    tokio::time::sleep(ALARM_PERIOD).await;
    let called = Instant::now();
    let moved = mover
        .evacuate(&secondary)
        .await
        .expect("the evacuation goes through");
    assert!(
        called.elapsed() < Duration::from_secs(3),
        "{:?}",
        called.elapsed()
    );
    assert_eq!(moved.warnings.len(), 1, "{moved:?}");
    for app in &apps {
        until_answered(&world, app, &primary, Duration::from_secs(3) + bound).await;
    }
}

/// `method` on `path` at `app`'s instance in `region`, as a trusted internal client.
async fn call(
    world: &World,
    app: &AppName,
    region: &Region,
    method: reqwest::Method,
    path: &str,
) -> (StatusCode, String) {
    let addr: SocketAddr = world.instance(app, region).unwrap().addr;
    let mut request = common::trusted_client(world.manifest())
        .build()
        .unwrap()
        .request(method.clone(), format!("https://{addr}{path}"));
    if method != reqwest::Method::GET {
        request = request.json(&serde_json::json!({}));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    (status, body["type"].as_str().unwrap_or_default().to_owned())
}

async fn fenced(world: &World, app: &AppName, region: &Region) -> bool {
    let (status, kind) = call(
        world,
        app,
        region,
        reqwest::Method::POST,
        &format!("/{app}"),
    )
    .await;
    status == StatusCode::SERVICE_UNAVAILABLE && kind.ends_with("/region-fenced")
}

async fn until_fenced(world: &World, app: &AppName, region: &Region, want: bool) -> Duration {
    let started = Instant::now();
    while fenced(world, app, region).await != want {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the fence of {app} in {region} did not turn {}",
            if want { "on" } else { "off" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_service_refuses_writes_in_the_region_the_flags_take_out() {
    let app = common::first();
    let world = world(topology(107, |t| common::with_fencing(&t, &app))).await;
    let [primary, secondary] = world.topology().regions.both().map(Clone::clone);
    // No flag: the primary serves, the secondary is out.
    assert!(
        !fenced(&world, &app, &primary).await,
        "the primary takes writes"
    );
    assert!(
        fenced(&world, &app, &secondary).await,
        "the secondary refuses them"
    );
    let (read, _) = call(
        &world,
        &app,
        &secondary,
        reqwest::Method::GET,
        &format!("/{app}/{}", uuid::Uuid::now_v7()),
    )
    .await;
    assert_eq!(read, StatusCode::NOT_FOUND, "reads are served");

    // A move by the flags moves the fence, each side within the reading's age and a poll.
    let mover = Mover::from_manifest(world.manifest()).unwrap();
    mover
        .shift(std::slice::from_ref(&app), &secondary)
        .await
        .unwrap();
    let on = until_fenced(&world, &app, &primary, true).await;
    let off = until_fenced(&world, &app, &secondary, false).await;
    println!("the fence followed the flags in {on:?} / {off:?}");
    assert!(on.max(off) <= kit::fence::MAX_AGE + Duration::from_millis(500));

    // CloudWatch unreachable in both Regions: the fence cannot read the flags, lets writes
    // through (fail open).
    for region in [&primary, &secondary] {
        world
            .monitoring()
            .set_fault(region, local_cloudwatch::Fault::Down)
            .await
            .unwrap();
    }
    until_fenced(&world, &app, &primary, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_moves_an_app_with_nothing_but_the_manifest() {
    let python = testkit::moto_python().unwrap_or_else(|e| panic!("{e}"));
    let world = world(topology(109, |t| t)).await;
    let app = common::first();
    let [primary, secondary] = world.topology().regions.both().map(Clone::clone);
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("deployment.json");
    world.manifest().save(&manifest).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite/boto3_shift.py");
    let called = Instant::now();
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(&manifest)
        .arg(app.as_str())
        .arg(primary.as_str())
        // Nothing from the user's AWS set-up: no profile, no IMDS lookups.
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    println!("boto3: {seen} ({:?})", called.elapsed());
    assert_eq!(seen["published_in"], secondary.as_str());
    assert_eq!(seen["values"], serde_json::json!([1.0]), "read back");
    assert_eq!(seen["alarm"], format!("local-{app}-{primary}-out"));
    assert_eq!(seen["treat_missing_data"], "ignore");
    let moved = until_answered(&world, &app, &secondary, propagation(&world) * 3).await;
    println!("DNS answered {secondary} {moved:?} after boto3 returned");
    let state = world.state().await;
    let flag = &state.apps.iter().find(|a| a.app == app).unwrap().flags[0];
    assert_eq!(flag.value, Some(1.0));
    assert_eq!(flag.alarm_state.as_deref(), Some("ALARM"));
    assert_eq!(flag.healthy, Some(false));
    // Every other app stays put.
    for other in world.topology().apps.iter().filter(|a| *a.name() != app) {
        let answer = dns_answer(&world, other.name()).await;
        assert_eq!(region_of(&world, other.name(), answer), primary);
    }
}
