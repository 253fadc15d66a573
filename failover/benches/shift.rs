//! Time for one shift (one UpdateRoutingControlStates batch for one app) against the local ARC
//! cluster, with all five endpoints healthy and with four of five hanging; the failover client
//! next to a naive client that tries endpoints in turn with the SDK's default timeouts.
//!
//! Each run builds a fresh client, as each `failover shift` invocation does, so the first
//! endpoint tried is random. Runs are spaced to stay under ARC's ~3 updates/s per endpoint.
//!
//! `cargo bench -p failover` (env: BENCH_RUNS, default 20; BENCH_CAP_SECS, default 6: the
//! longest a baseline run may take before it is counted as a timeout).

use std::time::{Duration, Instant};

use aws_sdk_route53recoverycluster as arc;
use failover::{Client, ClientConfig, ShiftOptions};
use local_arc::{Fault, LocalCluster, LocalClusterConfig};
use topology::manifest::Manifest;
use topology::{AppName, Region, Topology};

const SPACING: Duration = Duration::from_millis(400);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let runs = env("BENCH_RUNS", 20) as usize;
    let cap = Duration::from_secs(env("BENCH_CAP_SECS", 6));
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let config = LocalClusterConfig {
        safety_rule_wait_period: Duration::ZERO,
        ..LocalClusterConfig::ephemeral(&topology)
    };
    let cluster = LocalCluster::start(&topology, config)
        .await
        .expect("the local cluster starts");
    let manifest = cluster.manifest(&topology);
    Client::from_manifest(&manifest, ClientConfig::default())
        .unwrap()
        .initialize()
        .await
        .expect("initialize");

    println!(
        "shift of one app (one UpdateRoutingControlStates batch), {runs} runs per row, fresh client per run"
    );
    println!(
        "{:<26} {:<40} {:>10} {:>10} {:>9}",
        "endpoints", "client", "median", "worst", "failed"
    );
    for hanging in [0usize, 4] {
        for i in 0..5 {
            let fault = if i < hanging {
                Fault::Hang
            } else {
                Fault::None
            };
            cluster.set_fault(i, fault).await.unwrap();
        }
        let scenario = if hanging == 0 {
            "all 5 healthy".to_owned()
        } else {
            format!("{hanging} of 5 hanging")
        };
        let ours = measure(runs, cap, &manifest, Strategy::Failover).await;
        print_row(&scenario, "failover (rotation + hedge, 1s/2s)", &ours, cap);
        let naive = measure(runs, cap, &manifest, Strategy::InTurnSdkDefaults).await;
        print_row(
            &scenario,
            "in turn, SDK default timeouts+retries",
            &naive,
            cap,
        );
    }
    cluster.shutdown().await;
}

#[derive(Clone, Copy)]
enum Strategy {
    Failover,
    InTurnSdkDefaults,
}

/// Durations of the runs that finished, and how many did not within `cap`.
struct Sample {
    times: Vec<Duration>,
    failed: usize,
}

async fn measure(runs: usize, cap: Duration, manifest: &Manifest, strategy: Strategy) -> Sample {
    let app: AppName = "orders".parse().unwrap();
    let mut sample = Sample {
        times: Vec::new(),
        failed: 0,
    };
    for run in 0..runs {
        let to = if run % 2 == 0 {
            &manifest.regions.secondary
        } else {
            &manifest.regions.primary
        };
        let started = Instant::now();
        let done = tokio::time::timeout(cap, shift(manifest, &app, to, strategy)).await;
        match done {
            Ok(true) => sample.times.push(started.elapsed()),
            _ => sample.failed += 1,
        }
        tokio::time::sleep(SPACING).await;
    }
    sample
}

async fn shift(manifest: &Manifest, app: &AppName, to: &Region, strategy: Strategy) -> bool {
    match strategy {
        Strategy::Failover => Client::from_manifest(manifest, ClientConfig::default())
            .unwrap()
            .shift(std::slice::from_ref(app), to, ShiftOptions::default())
            .await
            .is_ok(),
        Strategy::InTurnSdkDefaults => naive_shift(manifest, app, to).await,
    }
}

/// What a first implementation does: one SDK client per endpoint with the SDK's defaults
/// (standard retries, connect timeout 3.1 s, no attempt timeout), tried one after the other
/// from a random start.
async fn naive_shift(manifest: &Manifest, app: &AppName, to: &Region) -> bool {
    let entry = manifest.app(app).unwrap();
    let entries: Vec<_> = entry
        .arc()
        .unwrap()
        .routing_controls
        .iter()
        .map(|c| {
            arc::types::UpdateRoutingControlStateEntry::builder()
                .routing_control_arn(c.arn.as_str())
                .routing_control_state(if c.region == *to {
                    arc::types::RoutingControlState::On
                } else {
                    arc::types::RoutingControlState::Off
                })
                .build()
                .unwrap()
        })
        .collect();
    let endpoints = &manifest.cluster().unwrap().endpoints;
    let start = rand::random_range(0..endpoints.len());
    for k in 0..endpoints.len() {
        let endpoint = &endpoints[(start + k) % endpoints.len()];
        let config = arc::Config::builder()
            .behavior_version(arc::config::BehaviorVersion::latest())
            .region(arc::config::Region::new(endpoint.region.to_string()))
            .endpoint_url(&endpoint.url)
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKIDBENCH",
                "bench",
                None,
                None,
                "bench",
            ))
            .build();
        let sent = arc::Client::from_conf(config)
            .update_routing_control_states()
            .set_update_routing_control_state_entries(Some(entries.clone()))
            .send()
            .await;
        if sent.is_ok() {
            return true;
        }
    }
    false
}

fn print_row(scenario: &str, client: &str, sample: &Sample, cap: Duration) {
    // Runs that did not finish within the cap sort after every finished one.
    let mut all: Vec<Option<Duration>> = sample.times.iter().copied().map(Some).collect();
    all.sort();
    all.extend(std::iter::repeat_n(None, sample.failed));
    let show = |d: Option<&Option<Duration>>| match d {
        Some(Some(d)) if d.as_millis() >= 1000 => format!("{:.2} s", d.as_secs_f64()),
        Some(Some(d)) => format!("{:.1} ms", d.as_secs_f64() * 1000.0),
        Some(None) => format!(">{} s", cap.as_secs()),
        None => "-".to_owned(),
    };
    println!(
        "{scenario:<26} {client:<40} {:>10} {:>10} {:>9}",
        show(all.get(all.len() / 2)),
        show(all.last()),
        format!("{}/{}", sample.failed, all.len())
    );
}
