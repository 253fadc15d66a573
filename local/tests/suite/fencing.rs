//! Write fencing in the local world, over the wire: a fenced service's instance asks the local
//! ARC cluster's endpoints (the AWS SDK, SigV4, HTTP) for its own Region's routing control and
//! refuses writes while it is OFF, serving reads; a shift moves the fence within about a
//! second; an unreachable cluster lets writes through. The world runs on loopback networks of
//! its own (`127.0.73`, `127.0.74`), on ports the system picks.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common;

use failover::{Client, ClientConfig, ShiftOptions};
use local_arc::Fault;
use local_world::World;
use reqwest::StatusCode;
use topology::{AppName, Region, Topology};

/// The fixture with write fencing on for the first service only.
fn topology() -> Topology {
    let fenced = common::first();
    let text = common::on_networks(&common::with_fencing(&common::topology_text(), &fenced), 73);
    let topology = Topology::parse(&text).unwrap();
    assert!(topology.service(&fenced).unwrap().fence_writes());
    topology
}

/// What an instance answered.
struct Answer {
    status: StatusCode,
    kind: String,
    retry_after: Option<String>,
    region: Option<String>,
}

/// `method` on `path` at `addr`, as a trusted internal client (the manifest's certificate). A
/// write sends an empty object: the service itself answers it with a 4xx, the fence with 503.
async fn call(world: &World, addr: SocketAddr, method: reqwest::Method, path: &str) -> Answer {
    let client = common::trusted_client(world.manifest())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let write = method != reqwest::Method::GET;
    let mut request = client.request(method, format!("https://{addr}{path}"));
    if write {
        request = request.json(&serde_json::json!({}));
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (retry_after, region) = (header("retry-after"), header("x-region"));
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    Answer {
        status,
        kind: body["type"].as_str().unwrap_or_default().to_owned(),
        retry_after,
        region,
    }
}

fn addr(world: &World, app: &AppName, region: &Region) -> SocketAddr {
    world.instance(app, region).unwrap().addr
}

fn is_fenced(answer: &Answer) -> bool {
    answer.status == StatusCode::SERVICE_UNAVAILABLE && answer.kind.ends_with("/region-fenced")
}

/// Polls a write to `addr` until the fence's answer is `fenced`, for at most 3 s; how long
/// it took.
async fn until_fenced(world: &World, addr: SocketAddr, path: &str, fenced: bool) -> Duration {
    let started = Instant::now();
    loop {
        let answer = call(world, addr, reqwest::Method::POST, path).await;
        if is_fenced(&answer) == fenced {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the fence at {addr} did not turn {} within 3 s (last: {} {})",
            if fenced { "on" } else { "off" },
            answer.status,
            answer.kind
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_instance_refuses_writes_while_its_control_is_off_and_serves_reads() {
    let world = tokio::time::timeout(Duration::from_secs(10), World::start(topology()))
        .await
        .expect("the world starts within 10 s")
        .unwrap();
    let fenced = common::first();
    let [primary, secondary] = world.topology().regions.both().map(Clone::clone);
    let writes = format!("/{fenced}");
    let unknown = format!("/{fenced}/{}", uuid::Uuid::now_v7().hyphenated());

    // Primary ON: the service answers the write itself (a 4xx for the empty body).
    let answer = call(
        &world,
        addr(&world, &fenced, &primary),
        reqwest::Method::POST,
        &writes,
    )
    .await;
    assert!(
        answer.status.is_client_error(),
        "primary answered {}",
        answer.status
    );

    // Secondary OFF: every kind of write is refused with the DNS TTL as Retry-After; reads
    // are served.
    let old = addr(&world, &fenced, &secondary);
    for method in [
        reqwest::Method::POST,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let path = if method == reqwest::Method::POST {
            &writes
        } else {
            &unknown
        };
        let answer = call(&world, old, method.clone(), path).await;
        assert!(
            is_fenced(&answer),
            "{method} answered {} {}",
            answer.status,
            answer.kind
        );
        assert_eq!(
            answer.retry_after.as_deref(),
            Some("5"),
            "Retry-After = the TTL"
        );
        assert_eq!(answer.region.as_deref(), Some(secondary.as_str()));
    }
    let read = call(&world, old, reqwest::Method::GET, &unknown).await;
    assert_eq!(
        read.status,
        StatusCode::NOT_FOUND,
        "a read is the service's own answer"
    );

    // An unfenced service takes writes in its OFF Region.
    let other = common::second();
    let answer = call(
        &world,
        addr(&world, &other, &secondary),
        reqwest::Method::POST,
        &format!("/{other}"),
    )
    .await;
    assert!(
        answer.status.is_client_error(),
        "unfenced answered {}",
        answer.status
    );

    // A shift moves the fence: the Region left refuses, the new one takes writes, each
    // within the reading's age (1 s) plus a poll.
    let client = Client::from_manifest(world.manifest(), ClientConfig::default()).unwrap();
    client
        .shift(
            std::slice::from_ref(&fenced),
            &secondary,
            ShiftOptions::default(),
        )
        .await
        .unwrap();
    let to_on = until_fenced(&world, addr(&world, &fenced, &primary), &writes, true).await;
    let to_off = until_fenced(&world, old, &writes, false).await;
    assert!(
        to_on.max(to_off) <= kit::fence::MAX_AGE + Duration::from_millis(500),
        "the fence followed the shift in {to_on:?} / {to_off:?}"
    );

    // Every endpoint down: the fence cannot read its control and lets writes through.
    for index in 0..world.manifest().cluster().unwrap().endpoints.len() {
        world
            .cluster()
            .unwrap()
            .set_fault(index, Fault::Down)
            .await
            .unwrap();
    }
    let waited = until_fenced(&world, addr(&world, &fenced, &primary), &writes, false).await;
    assert!(
        waited <= Duration::from_secs(3),
        "fail open after {waited:?}"
    );
    world.shutdown().await;
}
