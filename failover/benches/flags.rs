//! The health-check mechanism's calls against the local CloudWatch (loopback, the real SDK):
//! one PutMetricData and one GetMetricData (a fresh client's first call, then a warm one's),
//! then a whole move of one app (and when its flag landed in the Region that stays up) and a
//! `status`, with the Region left answering, down, and hanging: what the per-call timeouts
//! bound.
//!
//! `cargo bench -p failover --bench flags` (env: BENCH_RUNS, default 20).

use std::time::{Duration, Instant};

use failover::cloudwatch::{CallTimeouts, CloudWatch};
use failover::flags::{FlagRef, FlagsClient, Stamp, now_millis};
use failover::{ClientConfig, DataPlane, ShiftOptions};
use local_cloudwatch::{Fault, LocalCloudWatch, LocalCloudWatchConfig, Timestamp};
use topology::manifest::{
    AppRouting, FLAG_METRIC_NAME, FlagMetric, Manifest, RegionFlag, RegionFlags, Routing,
};
use topology::{AppName, Region, Topology};

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

#[tokio::main]
async fn main() {
    let runs = runs();
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let cloudwatch = LocalCloudWatch::start(LocalCloudWatchConfig::ephemeral(
        topology.regions.both().into_iter().cloned(),
    ))
    .await
    .expect("the local CloudWatch starts");
    let manifest = manifest(&topology, &cloudwatch);
    let orders: AppName = "orders".parse().unwrap();
    let (primary, secondary) = (
        topology.regions.primary.clone(),
        topology.regions.secondary.clone(),
    );

    println!("health-check mechanism against the local CloudWatch, {runs} runs per row");
    println!("{:<58} {:>10} {:>10}", "what", "median", "worst");
    let config = ClientConfig::default();
    let flag = FlagRef::of(manifest.app(&orders).unwrap(), &primary).unwrap();
    let put = |fresh: bool| {
        let (manifest, flag, config) = (&manifest, &flag, &config);
        let warm = FlagsClient::from_manifest(manifest, config.clone()).unwrap();
        async move {
            let mut times = Vec::new();
            for _ in 0..runs {
                let fresh_client;
                let client = if fresh {
                    fresh_client = FlagsClient::from_manifest(manifest, config.clone()).unwrap();
                    &fresh_client
                } else {
                    &warm
                };
                let started = Instant::now();
                client
                    .publish(&flag.published_in, &[(flag.clone(), false, Stamp::Now)])
                    .await
                    .expect("PutMetricData");
                times.push(started.elapsed());
            }
            times
        }
    };
    row(
        "PutMetricData, a fresh client's first call",
        put(true).await,
    );
    row("PutMetricData, a warm client", put(false).await);
    let warm = FlagsClient::from_manifest(&manifest, config.clone()).unwrap();
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        warm.read(
            &flag.published_in,
            std::slice::from_ref(&flag),
            now_millis(),
        )
        .await
        .expect("GetMetricData");
        times.push(started.elapsed());
    }
    row("GetMetricData (14 days back), a warm client", times);
    let alarms = CloudWatch::for_manifest(&manifest, CallTimeouts::default());
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        failover::alarms::describe(&alarms, &[(primary.clone(), "none".into())]).await;
        times.push(started.elapsed());
    }
    row("DescribeAlarms, a warm client", times);

    for fault in [Fault::None, Fault::Down, Fault::Hang] {
        // Moves to the secondary, away from the primary, whose endpoint has the fault.
        cloudwatch.set_fault(&primary, fault).await.unwrap();
        let mut moves = Vec::new();
        let mut landed = Vec::new();
        let mut statuses = Vec::new();
        for _ in 0..runs {
            let plane = DataPlane::from_manifest(&manifest, config.clone()).unwrap();
            let (since, started) = (Timestamp::now(), Instant::now());
            let shift = plane.shift(
                std::slice::from_ref(&orders),
                &secondary,
                ShiftOptions::default(),
            );
            let watch = async {
                while !published_since(&cloudwatch, &secondary, &primary, since) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                started.elapsed()
            };
            let (moved, at) = tokio::join!(shift, watch);
            moved.expect("the move succeeds");
            moves.push(started.elapsed());
            landed.push(at);
            let started = Instant::now();
            plane.status().await.expect("status");
            statuses.push(started.elapsed());
        }
        let left = format!("{fault:?}").to_lowercase();
        row(&format!("move of one app, the Region left: {left}"), moves);
        row("  of which, until its flag landed (step 1)", landed);
        row(&format!("status, one Region: {left}"), statuses);
    }
    cloudwatch.set_fault(&primary, Fault::None).await.unwrap();
    cloudwatch.shutdown().await;
}

/// Whether `held_in` has a datapoint of orders' flag that takes `out` out, stamped since `since`.
fn published_since(
    cloudwatch: &LocalCloudWatch,
    held_in: &Region,
    out: &Region,
    since: Timestamp,
) -> bool {
    let snapshot = cloudwatch.snapshot();
    snapshot
        .regions
        .iter()
        .filter(|r| r.region == *held_in)
        .flat_map(|r| &r.metrics)
        .filter(|m| m.metric.dimensions.get("Region") == Some(out.as_str()))
        .filter(|m| m.metric.dimensions.get("App") == Some("orders"))
        .any(|m| {
            m.latest
                .is_some_and(|l| l.timestamp.millis() >= since.millis())
        })
}

fn row(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let median = times[times.len() / 2];
    let worst = times[times.len() - 1];
    println!("{what:<58} {:>10} {:>10}", shown(median), shown(worst));
}

fn shown(d: Duration) -> String {
    if d < Duration::from_millis(10) {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    }
}

/// A local health-check manifest on `cloudwatch` (no alarms: the calls alone are measured).
fn manifest(topology: &Topology, cloudwatch: &LocalCloudWatch) -> Manifest {
    let mut m = local_arc::manifest_for(topology, vec![]);
    m.routing = Routing::HealthCheck {
        flags: FlagMetric {
            namespace: "MultiRegionApi/bench".into(),
            metric_name: FLAG_METRIC_NAME.into(),
            endpoints: cloudwatch.endpoints(),
        },
    };
    let regions = m.regions.clone();
    for entry in &mut m.apps {
        let flag = |out: &Region| RegionFlag {
            region: out.clone(),
            published_in: regions.other(out).unwrap().clone(),
            alarm_name: format!("bench-{}-{out}-out", entry.name),
            health_check_id: None,
        };
        entry.routing = AppRouting::HealthCheck(RegionFlags {
            flags: vec![flag(&regions.primary), flag(&regions.secondary)],
        });
    }
    m
}
