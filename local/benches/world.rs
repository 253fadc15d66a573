//! The local world at scale, as a user starts it: `local-world run --config FILE` (the bench
//! profile's binary, release settings) with the suite's 4-app fixture and with the 100-app
//! one (`testkit::SCALE_FIXTURE_TOPOLOGY`), each on its own loopback networks and free ports:
//! - start: from the process's spawn to its "Press Ctrl-C" line (every app in both Regions
//!   serving, DNS, the ARC cluster initialized, the manifest written);
//! - memory: the process's resident set then (VmRSS) and its peak (VmHWM), from /proc (Linux);
//! - the dashboard: the bytes of one `view` event of its `/events` stream, the payload an open
//!   page receives on every update (at most every 250 ms, when something changed).
//!
//! `cargo bench -p local-world --bench world` (env: BENCH_RUNS, default 3: starts per world).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The longest a world may take to start before the bench gives up.
const START_CAP: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() {
    let runs = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3usize);
    println!(
        "local-world run, {runs} starts per row (the process's start, memory and dashboard payload)"
    );
    println!(
        "{:<22} {:>10} {:>10} {:>11} {:>11} {:>14}",
        "topology", "start med", "start max", "RSS", "peak RSS", "view event"
    );
    for (name, text, network) in [
        ("4 apps (fixture)", testkit::FIXTURE_TOPOLOGY, 151),
        ("100 apps (scale)", testkit::SCALE_FIXTURE_TOPOLOGY, 141),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("topology.toml");
        std::fs::write(&config, on_networks(text, network)).unwrap();
        let mut starts = Vec::new();
        let mut memory = (0, 0);
        let mut payload = 0;
        for _ in 0..runs {
            let (mut child, took) = start(dir.path(), &config).await;
            starts.push(took);
            memory = resident_kib(child.id().unwrap());
            payload = view_event_bytes(dir.path()).await;
            stop(&mut child).await;
        }
        starts.sort();
        println!(
            "{name:<22} {:>10} {:>10} {:>11} {:>11} {:>14}",
            seconds(starts[starts.len() / 2]),
            seconds(starts[starts.len() - 1]),
            mib(memory.0),
            mib(memory.1),
            format!("{:.1} KiB", payload as f64 / 1024.0)
        );
    }
}

/// The fixture on loopback networks `127.0.<network>` and the next, every listener on a free
/// port (as the local world's tests do), so that the bench runs beside other worlds.
fn on_networks(text: &str, network: u8) -> String {
    text.replace("\"127.0.1\"", &format!("\"127.0.{network}\""))
        .replace("\"127.0.2\"", &format!("\"127.0.{}\"", network + 1))
        .replace("127.0.0.1:8053", "127.0.0.1:0")
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("arc_first_port = 8091", "arc_first_port = 0")
        .replace(
            "replication_lag_ms = 250\n",
            "replication_lag_ms = 250\ncloudwatch_first_port = 0\n",
        )
}

/// Spawns `local-world run` in `dir` and waits for its "Press Ctrl-C" line.
async fn start(dir: &Path, config: &Path) -> (Child, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_local-world"))
        .arg("run")
        .arg("--config")
        .arg(config)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("local-world starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(START_CAP, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("Press Ctrl-C") {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(ready, Ok(true)),
        "local-world run did not start within {START_CAP:?}"
    );
    let took = started.elapsed();
    // Keep reading, so that the world never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, took)
}

/// (VmRSS, VmHWM) of process `pid`, in KiB; zeros where /proc does not say.
fn resident_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The size of the first `view` event's data on the dashboard's `/events` stream.
async fn view_event_bytes(dir: &Path) -> usize {
    let manifest = topology::manifest::Manifest::load(dir.join(".local/deployment.json")).unwrap();
    let api = manifest
        .control_api
        .expect("the manifest names the control API");
    let mut response = reqwest::get(format!("{api}/events")).await.unwrap();
    let mut text = String::new();
    // An event ends with an empty line.
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("the dashboard sends its view")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let event = &text[..text.find("\n\n").unwrap()];
    event
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.trim_start().len())
        .sum()
}

async fn stop(child: &mut Child) {
    let _ = child.start_kill();
    let _ = child.wait().await;
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}
