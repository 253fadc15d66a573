//! `verify`: real DNS over UDP (a small authoritative responder whose answer the test flips,
//! or that follows the routing controls of a local ARC cluster, as Route 53 does), real HTTP
//! to two loopback "Regions" on the same port, as in the local world, and the staged
//! verification after a real shift against the local ARC cluster.

use crate::common;
use crate::common::net::{Regions, dns_answering, dns_server, two_regions, with_orders_at};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use failover::{
    FailoverError, Outcome, Prepared, StageName, Verified, VerifyConfig, VerifyError, exit,
    prepare, verify, verify_shift,
};
use local_arc::manifest_for;
use local_arc::{Fault, LocalCluster};
use topology::manifest::Manifest;
use topology::{AppName, Region, Topology};

fn manifest(dns: Option<SocketAddr>, url: String) -> Manifest {
    let m = manifest_for(&Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap(), vec![]);
    with_orders_at(m, dns, url)
}

fn orders() -> AppName {
    "orders".parse().unwrap()
}

fn region(r: &str) -> Region {
    r.parse().unwrap()
}

fn quick(timeout: Duration) -> VerifyConfig {
    VerifyConfig {
        timeout,
        interval: Duration::from_millis(100),
        request_timeout: Duration::from_secs(1),
        resolver: None,
        not_before: Duration::ZERO,
    }
}

#[tokio::test]
async fn waits_until_dns_and_the_app_show_the_target_region() {
    let regions = two_regions().await;
    let octet = Arc::new(AtomicU8::new(1));
    let dns = dns_server(octet.clone()).await;
    let m = manifest(
        Some(dns),
        format!("http://orders.example.test:{}", regions.port),
    );

    let east = verify(
        &m,
        &orders(),
        &region("us-east-1"),
        &quick(Duration::from_secs(3)),
    )
    .await
    .unwrap();
    // One look at each of the three stages asked (authoritative, recursive, GET /).
    assert_eq!(east.polls, 3, "{east:#?}");

    let flip = octet.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        flip.store(2, Ordering::SeqCst);
    });
    let west = verify(
        &m,
        &orders(),
        &region("us-west-2"),
        &quick(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert!(west.elapsed_ms >= 500, "{west:?}");
    assert!(west.polls > 1, "{west:?}");
}

#[tokio::test]
async fn gives_up_with_exit_5_when_traffic_does_not_move() {
    let regions = two_regions().await;
    let dns = dns_server(Arc::new(AtomicU8::new(1))).await;
    let m = manifest(
        Some(dns),
        format!("http://orders.example.test:{}", regions.port),
    );
    let started = std::time::Instant::now();
    let err = verify(
        &m,
        &orders(),
        &region("us-west-2"),
        &quick(Duration::from_millis(800)),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.is_timeout());
    assert!(
        err.to_string().contains("us-east-1"),
        "says where it still answers: {err}"
    );
    assert_eq!(FailoverError::from(err).exit_code(), exit::VERIFY_TIMEOUT);
}

#[tokio::test]
async fn without_a_dns_server_the_system_resolver_is_used() {
    let regions = two_regions().await;
    let m = manifest(None, format!("http://127.0.0.1:{}", regions.port));
    let ok = verify(
        &m,
        &orders(),
        &region("us-east-1"),
        &quick(Duration::from_secs(3)),
    )
    .await
    .unwrap();
    assert_eq!(ok.region, region("us-east-1"));
}

/// A DNS server that answers as Route 53 does for a failover pair: the address of the Region
/// whose routing control is ON in `cluster` (east 127.0.0.1, west 127.0.0.2), TTL 1 s.
async fn route53_like(cluster: &Arc<LocalCluster>, m: &Manifest) -> SocketAddr {
    let entry = m.app(&orders()).unwrap();
    let east = entry.routing_control(&region("us-east-1")).unwrap().clone();
    let cluster = cluster.clone();
    dns_answering(
        move || match cluster.routing_control_state(&east) {
            Some(false) => 2,
            _ => 1,
        },
        1,
    )
    .await
}

/// A UDP socket that reads queries and never answers: a hung resolver.
async fn hung_resolver() -> (tokio::net::UdpSocket, SocketAddr) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

struct Shifted {
    manifest: Manifest,
    cluster: Arc<LocalCluster>,
    client: failover::Client,
    _regions: Regions,
}

/// A running cluster (initialized), orders served by two Regions, the manifest pointing at
/// `dns` (Route 53-like unless given).
async fn staged_world(dns: Option<SocketAddr>) -> Shifted {
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let mut config = local_arc::LocalClusterConfig::ephemeral(&topology);
    config.mutations_per_second = 1000.0;
    config.safety_rule_wait_period = Duration::ZERO;
    let cluster = Arc::new(LocalCluster::start(&topology, config).await.unwrap());
    let regions = two_regions().await;
    let url = format!("http://orders.example.test:{}", regions.port);
    let manifest = with_orders_at(cluster.manifest(&topology), None, url.clone());
    let dns = match dns {
        Some(dns) => dns,
        None => route53_like(&cluster, &manifest).await,
    };
    let manifest = with_orders_at(manifest, Some(dns), url);
    let client = failover::Client::from_manifest(&manifest, common::quick()).unwrap();
    client.initialize().await.unwrap();
    Shifted {
        manifest,
        cluster,
        client,
        _regions: regions,
    }
}

/// Prepares, shifts orders to us-west-2, and verifies every stage.
async fn shift_and_verify(s: &Shifted, config: &VerifyConfig) -> Result<Verified, VerifyError> {
    let prepared = prepare(&s.manifest, &orders(), config).await.unwrap();
    let since = tokio::time::Instant::now();
    s.client
        .shift(&[orders()], &region("us-west-2"), Default::default())
        .await
        .unwrap();
    verify_shift(&s.client, &prepared, &region("us-west-2"), since, config).await
}

fn stage_names(v: &Verified) -> Vec<(StageName, Outcome)> {
    v.stages.iter().map(|s| (s.stage, s.outcome)).collect()
}

#[tokio::test]
async fn every_stage_passes_in_order_and_the_cache_waits_out_the_ttl() {
    let s = staged_world(None).await;
    let v = shift_and_verify(&s, &quick(Duration::from_secs(8)))
        .await
        .unwrap();
    assert_eq!(
        stage_names(&v),
        [
            (StageName::Quorum, Outcome::Passed),
            (StageName::Authoritative, Outcome::Passed),
            (StageName::Recursive, Outcome::Passed),
            (StageName::Http, Outcome::Passed),
        ],
        "{v:#?}"
    );
    let times: Vec<u64> = v.stages.iter().map(|s| s.elapsed_ms.unwrap()).collect();
    assert!(times.windows(2).all(|t| t[0] <= t[1]), "{times:?}");
    assert!(v.stages[0].detail.contains("of 5 endpoints"), "{v:#?}");
    assert!(v.stages[1].detail.contains("127.0.0.2"), "{v:#?}");
    // The recursive resolver cached the old answer (TTL 1 s) just before the shift.
    assert!(
        times[2] >= 500,
        "the cached answer outlived its TTL? {times:?}"
    );
    assert!(v.stages[3].detail.contains("us-west-2"), "{v:#?}");
    assert!(v.passed());
    assert_eq!(
        s.cluster.routing_control_state(
            s.manifest
                .app(&orders())
                .unwrap()
                .routing_control(&region("us-west-2"))
                .unwrap()
        ),
        Some(true)
    );
}

/// On AWS a service with gateway-only access admits only the `api` gateway's client
/// certificate, so nobody else can `GET /` on its names: the HTTP stage is skipped, saying why,
/// and the DNS stages are the proof.
#[tokio::test]
async fn a_service_that_admits_only_the_gateway_is_verified_by_dns_alone() {
    let mut s = staged_world(None).await;
    s.manifest
        .apps
        .iter_mut()
        .find(|a| a.name == orders())
        .unwrap()
        .client_certificate_required = true;
    // The client verifies against its own manifest.
    s.client = failover::Client::from_manifest(&s.manifest, common::quick()).unwrap();
    let v = shift_and_verify(&s, &quick(Duration::from_secs(8)))
        .await
        .unwrap();
    assert_eq!(
        stage_names(&v),
        [
            (StageName::Quorum, Outcome::Passed),
            (StageName::Authoritative, Outcome::Passed),
            (StageName::Recursive, Outcome::Passed),
            (StageName::Http, Outcome::Skipped),
        ],
        "{v:#?}"
    );
    assert!(v.stages[3].detail.contains("client certificate"), "{v:#?}");
    assert!(v.passed());
}

#[tokio::test]
async fn a_wrong_authoritative_answer_fails_at_stage_2() {
    // A DNS server that never follows the controls: it keeps answering east.
    let stale = dns_answering(|| 1, 0).await;
    let s = staged_world(Some(stale)).await;
    let err = shift_and_verify(&s, &quick(Duration::from_millis(1500)))
        .await
        .unwrap_err();
    let VerifyError::Stage { stage, report, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(*stage, StageName::Authoritative);
    assert_eq!(
        stage_names(report),
        [
            (StageName::Quorum, Outcome::Passed),
            (StageName::Authoritative, Outcome::Failed),
        ]
    );
    assert!(
        err.to_string().contains("127.0.0.1 (us-east-1)"),
        "names the wrong answer and its Region: {err}"
    );
    assert_eq!(FailoverError::from(err).exit_code(), exit::VERIFY_TIMEOUT);
}

#[tokio::test]
async fn a_hung_recursive_resolver_fails_at_stage_3() {
    let s = staged_world(None).await;
    let (_socket, hung) = hung_resolver().await;
    let config = VerifyConfig {
        resolver: Some(hung),
        request_timeout: Duration::from_millis(300),
        ..quick(Duration::from_millis(1500))
    };
    let err = shift_and_verify(&s, &config).await.unwrap_err();
    let report = err.report().unwrap();
    assert_eq!(
        stage_names(report),
        [
            (StageName::Quorum, Outcome::Passed),
            (StageName::Authoritative, Outcome::Passed),
            (StageName::Recursive, Outcome::Failed),
        ],
        "{err}"
    );
    assert!(err.to_string().contains("stage 3"), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("a caching resolver at {hung} gave no answer")),
        "names the resolver that hung: {err}"
    );
    assert!(err.is_timeout());
}

/// Orders shifted to us-west-2, then three of the five cluster endpoints down.
async fn shifted_with_three_endpoints_down() -> (Shifted, Prepared) {
    let s = staged_world(None).await;
    let prepared = prepare(&s.manifest, &orders(), &quick(Duration::from_secs(1)))
        .await
        .unwrap();
    s.client
        .shift(&[orders()], &region("us-west-2"), Default::default())
        .await
        .unwrap();
    for i in 0..3 {
        s.cluster.set_fault(i, Fault::Down).await.unwrap();
    }
    (s, prepared)
}

#[tokio::test]
async fn without_a_quorum_of_endpoints_it_fails_at_stage_1() {
    let (s, prepared) = shifted_with_three_endpoints_down().await;
    // Long enough for a look at five endpoints to finish on a busy machine: the stage must fail
    // on what the endpoints said, not on the deadline.
    let config = quick(Duration::from_secs(3));
    let since = tokio::time::Instant::now();
    let err = verify_shift(&s.client, &prepared, &region("us-west-2"), since, &config)
        .await
        .unwrap_err();
    let report = err.report().unwrap();
    assert_eq!(
        stage_names(report),
        [(StageName::Quorum, Outcome::Failed)],
        "{err}"
    );
    assert!(err.to_string().contains("2 of 5 endpoints"), "{err}");
}

#[tokio::test]
async fn a_last_look_the_deadline_cuts_short_reports_what_the_look_before_it_saw() {
    let (s, prepared) = shifted_with_three_endpoints_down().await;
    // The looks see 2 of 5 endpoints up, until the two stop answering half a second before
    // the deadline: the look then running is cut short, before the client's own time-out.
    let config = VerifyConfig {
        request_timeout: Duration::from_secs(30),
        ..quick(Duration::from_secs(3))
    };
    let target = region("us-west-2");
    let since = tokio::time::Instant::now();
    let hang = async {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        for i in 3..5 {
            s.cluster.set_fault(i, Fault::Hang).await.unwrap();
        }
    };
    let (verified, ()) = tokio::join!(
        verify_shift(&s.client, &prepared, &target, since, &config),
        hang
    );
    let err = verified.unwrap_err();
    assert_eq!(
        stage_names(err.report().unwrap()),
        [(StageName::Quorum, Outcome::Failed)],
        "{err}"
    );
    assert!(err.to_string().contains("2 of 5 endpoints"), "{err}");
}

#[tokio::test]
async fn the_cli_prints_one_report_with_every_stage_reached_and_exits_5() {
    // A DNS server that never follows the controls: stage 2 fails.
    let stale = dns_answering(|| 1, 0).await;
    let s = staged_world(Some(stale)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deployment.json");
    s.manifest.save(&path).unwrap();
    let args = |to: &'static str, json: bool| {
        let mut args = vec![
            "shift",
            "orders",
            "--to",
            to,
            "--yes",
            "--verify",
            "--verify-timeout",
            "1s",
            "--manifest",
            path.to_str().unwrap(),
        ];
        if json {
            args.push("--json");
        }
        args
    };

    let run = common::failover(dir.path(), &args("us-west-2", true), &[]).await;
    assert_eq!(run.code, 5, "{}", run.stderr);
    // One document: the shift, the stages reached, and the failure with its exit code.
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["shift"]["to"], "us-west-2");
    assert_eq!(doc["exit_code"], 5);
    assert!(doc["error"].as_str().unwrap().contains("stage 2"), "{doc}");
    let stages = doc["verified"][0]["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2, "{doc}");
    assert_eq!(stages[1]["stage"], "authoritative");
    assert_eq!(stages[1]["outcome"], "failed");
    assert!(
        run.stderr.contains("error: verification failed at stage 2"),
        "{}",
        run.stderr
    );

    // As text: the move and the stage table on stdout, the error on stderr.
    let run = common::failover(dir.path(), &args("us-east-1", false), &[]).await;
    assert_eq!(run.code, 0, "east is what DNS answers: {}", run.stderr);
    assert!(
        run.stdout.contains("done: orders now routed to us-east-1")
            && run
                .stdout
                .contains("verified: orders answers from us-east-1"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("verifying:"), "{}", run.stderr);
    let run = common::failover(dir.path(), &args("us-west-2", false), &[]).await;
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stdout.contains("2 authoritative DNS") && run.stdout.contains("FAILED"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("error:"), "{}", run.stdout);
    assert!(
        run.stderr.contains("error: verification failed"),
        "{}",
        run.stderr
    );
}
