//! Time to evacuate a Region of 100 apps (the scale fixture, `testkit::SCALE_FIXTURE_TOPOLOGY`)
//! against the local ARC cluster at ARC's own rate of 3 updates per second per endpoint:
//! 200 routing controls in 20 UpdateRoutingControlStates batches of 10, spread over the five
//! endpoints by the client's pacing. The library call in process, and the `failover` CLI as
//! a process (`failover evacuate REGION --yes --json`, the bench profile's binary).
//!
//! Runs are spaced so that every endpoint's bucket is full again, as for an on-call engineer
//! who has not just evacuated.
//!
//! `cargo bench -p failover --bench evacuate` (env: BENCH_EVACUATE_RUNS, default 10).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use failover::{Client, ClientConfig, ShiftOptions};
use local_arc::UpdateOutcome;
use topology::manifest::Manifest;
use topology::{Region, Topology};

mod common;
use common::Bench;

/// Enough for every endpoint's bucket (3 calls, refilled at 3 per second) to be full again.
const REST: Duration = Duration::from_millis(1500);

#[tokio::main]
async fn main() {
    let runs = std::env::var("BENCH_EVACUATE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10usize);
    let topology = Topology::parse(testkit::SCALE_FIXTURE_TOPOLOGY).unwrap();
    let Bench {
        cluster,
        manifest,
        manifest_path: path,
        dir: _dir,
    } = Bench::start(&topology).await;
    tokio::time::sleep(REST).await;

    println!(
        "evacuate {} apps ({} routing controls), {runs} runs per row, ARC's rate of 3 updates/s per endpoint",
        manifest.apps.len(),
        manifest.apps.len() * 2
    );
    println!(
        "{:<44} {:>10} {:>10} {:>7} {:>10} {:>10}",
        "client", "median", "worst", "calls", "max ctrls", "throttled"
    );
    for cli in [false, true] {
        let mut times = Vec::new();
        cluster.clear_update_calls();
        for run in 0..runs {
            let from = if run % 2 == 0 {
                &manifest.regions.primary
            } else {
                &manifest.regions.secondary
            };
            let started = Instant::now();
            let ok = if cli {
                cli_evacuate(&path, from).await
            } else {
                library_evacuate(&manifest, from).await
            };
            assert!(ok, "the evacuation failed");
            times.push(started.elapsed());
            tokio::time::sleep(REST).await;
        }
        times.sort();
        let calls = cluster.update_calls();
        let applied: Vec<_> = calls
            .iter()
            .filter(|c| c.outcome == UpdateOutcome::Applied)
            .collect();
        let mut per_endpoint: BTreeMap<usize, usize> = BTreeMap::new();
        for c in &applied {
            *per_endpoint.entry(c.endpoint).or_default() += 1;
        }
        let name = if cli {
            "failover CLI process (evacuate --yes --json)"
        } else {
            "library evacuate call (in process)"
        };
        println!(
            "{name:<44} {:>10} {:>10} {:>7} {:>10} {:>10}",
            show(times[times.len() / 2]),
            show(times[times.len() - 1]),
            applied.len() / runs,
            applied.iter().map(|c| c.controls).max().unwrap_or(0),
            calls
                .iter()
                .filter(|c| c.outcome == UpdateOutcome::Throttled)
                .count()
        );
        println!("{:<44} calls applied per endpoint: {per_endpoint:?}", "");
    }
    cluster.shutdown().await;
}

async fn library_evacuate(manifest: &Manifest, from: &Region) -> bool {
    Client::from_manifest(manifest, ClientConfig::default())
        .unwrap()
        .evacuate(from, ShiftOptions::default())
        .await
        .is_ok()
}

async fn cli_evacuate(manifest: &Path, from: &Region) -> bool {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_failover"))
        .arg("--manifest")
        .arg(manifest)
        .args(["--json", "evacuate", from.as_str(), "--yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .is_ok_and(|s| s.success())
}

fn show(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
