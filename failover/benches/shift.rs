//! Time for one shift (one UpdateRoutingControlStates batch for one app) against the local ARC
//! cluster, with all five endpoints healthy and with four of five hanging (they accept
//! connections and never answer):
//! - the `failover` CLI as a process (`failover shift orders --to R --yes --json`, the bench
//!   profile's binary: release settings), with its default hedge delay and with others, which
//!   is how the default was chosen; and a `--dry-run`, whose time is the process's own
//!   (start, manifest, plan) before any call;
//! - the library's shift call in process, next to a naive client that tries endpoints in turn
//!   with the SDK's default timeouts.
//!
//! Each run builds a fresh client, as each `failover shift` invocation does, so the first
//! endpoint tried is random. Runs are spaced to stay under ARC's ~3 updates/s per endpoint.
//!
//! `cargo bench -p failover --bench shift` (env: BENCH_RUNS, default 20; BENCH_CAP_SECS,
//! default 6: the longest a run may take before it is counted as a timeout).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_route53recoverycluster as arc;
use failover::client::DEFAULT_HEDGE_AFTER;
use failover::{Client, ClientConfig, ShiftOptions};
use local_arc::Fault;
use topology::manifest::Manifest;
use topology::{AppName, Region, Topology};

mod common;
use common::Bench;

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
    let Bench {
        cluster,
        manifest,
        manifest_path,
        dir: _dir,
    } = Bench::start(&topology).await;

    println!(
        "shift of one app (one UpdateRoutingControlStates batch), {runs} runs per row, fresh client per run"
    );
    println!(
        "{:<20} {:<52} {:>10} {:>10} {:>9}",
        "endpoints", "client", "median", "worst", "failed"
    );
    let default_hedge = ms(DEFAULT_HEDGE_AFTER);
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
        let cli = |hedge: u64| Strategy::Cli {
            hedge_ms: hedge,
            dry_run: false,
        };
        let mut rows = vec![
            (
                format!("failover CLI process (hedge {default_hedge} ms, default)"),
                cli(default_hedge),
            ),
            (
                "failover CLI process, --dry-run (no call)".to_owned(),
                Strategy::Cli {
                    hedge_ms: default_hedge,
                    dry_run: true,
                },
            ),
        ];
        if hanging > 0 {
            // The candidates the default was chosen from.
            for hedge in [250, 150, 50] {
                rows.push((
                    format!("failover CLI process, --hedge-after {hedge}ms"),
                    cli(hedge),
                ));
            }
        }
        rows.push((
            format!("library call (rotation + hedge {default_hedge} ms)"),
            Strategy::Library,
        ));
        rows.push((
            "library, in turn, SDK default timeouts+retries".to_owned(),
            Strategy::InTurnSdkDefaults,
        ));
        for (name, strategy) in rows {
            let sample = measure(runs, cap, &manifest, &manifest_path, strategy).await;
            print_row(&scenario, &name, &sample, cap);
        }
    }
    cluster.shutdown().await;
}

#[derive(Clone, Copy)]
enum Strategy {
    /// The `failover` binary as a process.
    Cli {
        hedge_ms: u64,
        dry_run: bool,
    },
    /// The library's shift call, in process.
    Library,
    InTurnSdkDefaults,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Durations of the runs that finished, and how many did not within `cap`.
struct Sample {
    times: Vec<Duration>,
    failed: usize,
}

async fn measure(
    runs: usize,
    cap: Duration,
    manifest: &Manifest,
    manifest_path: &Path,
    strategy: Strategy,
) -> Sample {
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
        let done =
            tokio::time::timeout(cap, shift(manifest, manifest_path, &app, to, strategy)).await;
        match done {
            Ok(true) => sample.times.push(started.elapsed()),
            _ => sample.failed += 1,
        }
        tokio::time::sleep(SPACING).await;
    }
    sample
}

async fn shift(
    manifest: &Manifest,
    manifest_path: &Path,
    app: &AppName,
    to: &Region,
    strategy: Strategy,
) -> bool {
    match strategy {
        Strategy::Cli { hedge_ms, dry_run } => {
            cli_shift(manifest_path, app, to, hedge_ms, dry_run).await
        }
        Strategy::Library => Client::from_manifest(manifest, ClientConfig::default())
            .unwrap()
            .shift(std::slice::from_ref(app), to, ShiftOptions::default())
            .await
            .is_ok(),
        Strategy::InTurnSdkDefaults => naive_shift(manifest, app, to).await,
    }
}

/// `failover shift APP --to REGION --yes --json`, as an on-call engineer runs it; `true` when
/// it exits 0. `kill_on_drop`: a run past the cap does not outlive its measurement.
async fn cli_shift(
    manifest: &Path,
    app: &AppName,
    to: &Region,
    hedge_ms: u64,
    dry_run: bool,
) -> bool {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_failover"));
    command
        .arg("--manifest")
        .arg(manifest)
        .args(["--hedge-after", &format!("{hedge_ms}ms"), "--json"])
        .args(["shift", app.as_str(), "--to", to.as_str(), "--yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if dry_run {
        command.arg("--dry-run");
    }
    command.status().await.is_ok_and(|s| s.success())
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
        "{scenario:<20} {client:<52} {:>10} {:>10} {:>9}",
        show(all.get(all.len() / 2)),
        show(all.last()),
        format!("{}/{}", sample.failed, all.len())
    );
}
