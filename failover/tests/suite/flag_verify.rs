//! `--verify` on the health-check mechanism, end to end on loopback: the local CloudWatch with
//! the flags' alarms, Route 53 health checks following those alarms (local-cloudwatch's), their
//! `HealthCheckStatus` published into us-east-1 as Route 53 does, a DNS server answering by
//! Route 53's failover rules from those health checks, and an instance of orders per Region.

use crate::common;
use crate::common::hc::{FlagWorld, app, flag_world, region};
use crate::common::net::{Regions, dns_answering, two_regions, with_orders_at};

use std::sync::Arc;
use std::time::Duration;

use failover::{
    DataPlane, Outcome, ShiftOptions, StageName, Verified, VerifyConfig, VerifyError, exit,
    prepare, verify_move,
};
use local_cloudwatch::{
    Dimensions, FailureThreshold, Fault, HealthCheckConfig, HealthCheckId, HealthCheckers,
    InsufficientDataHealthStatus, MetricDatum, RequestInterval, Sample, StorageResolution,
    TimeScale,
};
use topology::manifest::Manifest;
use topology::{AppName, Region};

fn orders() -> AppName {
    app("orders")
}

/// The health-check world, with Route 53 emulated on top of it.
struct Routed {
    world: Arc<FlagWorld>,
    checkers: Arc<HealthCheckers>,
    manifest: Manifest,
    mirror: tokio::task::JoinHandle<()>,
    _regions: Regions,
}

impl Drop for Routed {
    fn drop(&mut self) {
        self.mirror.abort();
    }
}

/// Each record's health check id, primary first.
fn ids(m: &Manifest, app: &AppName) -> [HealthCheckId; 2] {
    let entry = m.app(app).unwrap();
    [&m.regions.primary, &m.regions.secondary].map(|r| {
        entry
            .flag(r)
            .unwrap()
            .health_check_id
            .as_ref()
            .unwrap()
            .parse()
            .unwrap()
    })
}

/// Health checks every 0.2 s (a failure threshold of 1) on each flag's alarm; their status
/// published into us-east-1 every 0.1 s; DNS answering orders by Route 53's rules (east
/// 127.0.0.1, west 127.0.0.2, TTL 1 s), or as `dns` says.
async fn routed(dns: Option<std::net::SocketAddr>) -> Routed {
    let world = Arc::new(flag_world().await);
    let m = &world.manifest;
    let checks: Vec<(HealthCheckId, HealthCheckConfig)> = m
        .apps
        .iter()
        .flat_map(|a| a.flags().unwrap().iter())
        .map(|f| {
            let mut config =
                HealthCheckConfig::new(f.published_in.clone(), f.alarm_name.parse().unwrap());
            config.insufficient_data = InsufficientDataHealthStatus::LastKnownStatus;
            config.failure_threshold = FailureThreshold::new(1).unwrap();
            config.request_interval = RequestInterval::Fast;
            (f.health_check_id.as_ref().unwrap().parse().unwrap(), config)
        })
        .collect();
    let checkers = Arc::new(
        HealthCheckers::start(
            &world.cloudwatch,
            checks.clone(),
            TimeScale::new(0.02).unwrap(),
        )
        .unwrap(),
    );
    let mirror = {
        let (world, checkers) = (world.clone(), checkers.clone());
        tokio::spawn(async move {
            let east = region("us-east-1");
            loop {
                for (id, _) in &checks {
                    let healthy = checkers.is_healthy(id).unwrap();
                    let datum = MetricDatum {
                        name: "HealthCheckStatus".parse().unwrap(),
                        dimensions: Dimensions::new([("HealthCheckId", id.as_str())]).unwrap(),
                        timestamp: None,
                        sample: Sample::Value(if healthy { 1.0 } else { 0.0 }),
                        unit: None,
                        resolution: StorageResolution::High,
                    };
                    let _ = world.cloudwatch.put_metric_data(
                        &east,
                        &"AWS/Route53".parse().unwrap(),
                        &[datum],
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let dns = match dns {
        Some(dns) => dns,
        None => {
            let [p, s] = ids(m, &orders());
            let checkers = checkers.clone();
            dns_answering(
                move || {
                    let healthy = |id| checkers.is_healthy(id).unwrap();
                    if healthy(&p) || !healthy(&s) { 1 } else { 2 }
                },
                1,
            )
            .await
        }
    };
    let regions = two_regions().await;
    let url = format!("http://orders.example.test:{}", regions.port);
    let manifest = with_orders_at(m.clone(), Some(dns), url);
    Routed {
        world,
        checkers,
        manifest,
        mirror,
        _regions: regions,
    }
}

fn config(r: &Routed) -> VerifyConfig {
    VerifyConfig {
        interval: Duration::from_millis(100),
        request_timeout: Duration::from_millis(800),
        ..VerifyConfig::for_manifest(&r.manifest)
    }
}

/// Prepares, moves orders to `to`, verifies.
async fn move_and_verify(r: &Routed, to: &Region) -> Result<Verified, VerifyError> {
    let plane = DataPlane::from_manifest(&r.manifest, common::hc::quick()).unwrap();
    let config = config(r);
    let prepared = prepare(&r.manifest, &orders(), &config).await.unwrap();
    let since = tokio::time::Instant::now();
    plane
        .shift(&[orders()], to, ShiftOptions::default())
        .await
        .unwrap();
    verify_move(&plane, &prepared, to, since, &config).await
}

fn outcomes(v: &Verified) -> Vec<(StageName, Outcome)> {
    v.stages.iter().map(|s| (s.stage, s.outcome)).collect()
}

#[tokio::test]
async fn every_stage_passes_in_order_flags_alarms_health_checks_then_dns_and_http() {
    let r = routed(None).await;
    let west = region("us-west-2");
    let v = move_and_verify(&r, &west).await.unwrap();
    assert_eq!(
        outcomes(&v),
        [
            (StageName::Flags, Outcome::Passed),
            (StageName::Alarm, Outcome::Passed),
            (StageName::HealthCheck, Outcome::Passed),
            (StageName::Authoritative, Outcome::Passed),
            (StageName::Recursive, Outcome::Passed),
            (StageName::Http, Outcome::Passed),
        ],
        "{v:#?}"
    );
    let times: Vec<u64> = v.stages.iter().map(|s| s.elapsed_ms.unwrap()).collect();
    assert!(times.windows(2).all(|t| t[0] <= t[1]), "{times:?}");
    for stage in &v.stages[..3] {
        assert!(
            stage.detail.contains("us-east-1 out") && stage.detail.contains("answers us-west-2"),
            "{stage:?}"
        );
    }
    assert!(v.passed());
    let [p, _] = ids(&r.manifest, &orders());
    assert_eq!(
        r.checkers.is_healthy(&p),
        Some(false),
        "the primary's record is out"
    );
}

#[tokio::test]
async fn a_stage_whose_region_does_not_answer_is_unknown_and_dns_decides() {
    let r = routed(None).await;
    // The primary's CloudWatch (also Route 53's metrics Region) is gone: the flag that takes
    // the secondary out, its alarm and every health check status cannot be read.
    r.world
        .cloudwatch
        .set_fault(&region("us-east-1"), Fault::Down)
        .await
        .unwrap();
    let v = move_and_verify(&r, &region("us-west-2")).await.unwrap();
    assert_eq!(
        outcomes(&v),
        [
            (StageName::Flags, Outcome::Unknown),
            (StageName::Alarm, Outcome::Unknown),
            (StageName::HealthCheck, Outcome::Unknown),
            (StageName::Authoritative, Outcome::Passed),
            (StageName::Recursive, Outcome::Passed),
            (StageName::Http, Outcome::Passed),
        ],
        "{v:#?}"
    );
    assert!(v.stages[0].detail.contains("us-west-2 unknown"), "{v:#?}");
    assert!(v.passed(), "unknown is not failed");
}

#[tokio::test]
async fn the_cli_verifies_six_stages_and_exits_5_when_dns_does_not_follow() {
    let stale = dns_answering(|| 1, 0).await;
    let r = routed(Some(stale)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deployment.json");
    r.manifest.save(&path).unwrap();
    let run = common::failover(
        dir.path(),
        &[
            "shift",
            "orders",
            "--to",
            "us-west-2",
            "--yes",
            "--verify",
            "--verify-timeout",
            "8s",
            "--json",
            "--manifest",
            path.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(run.code, i32::from(exit::VERIFY_TIMEOUT), "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["mechanism"], "health-check");
    assert_eq!(doc["shift"]["to"], "us-west-2");
    let stages = doc["verified"][0]["stages"].as_array().unwrap();
    let seen: Vec<(&str, &str)> = stages
        .iter()
        .map(|s| (s["stage"].as_str().unwrap(), s["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("flags", "passed"),
            ("alarm", "passed"),
            ("health_check", "passed"),
            ("authoritative", "failed"),
        ]
    );
    assert!(
        run.stderr
            .contains("verification failed at stage 4 authoritative DNS"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the flags are published"),
        "{}",
        run.stderr
    );
}
