//! `local-world demo --quick`, run as a user runs it: the binary, on a topology of its own
//! (own loopback networks, free ports), must pass its drill and write its report.

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Mutex;

/// One demo at a time: two drills side by side on a small machine measure each other.
static ONE_DEMO: Mutex<()> = Mutex::const_new(());

/// Writes the fixture topology on loopback networks `127.0.<network>` and `<network + 1>`,
/// with free ports and a fast clock, into `dir`.
fn write_topology(dir: &Path, network: u8) -> std::path::PathBuf {
    write_topology_with(dir, network, |t| t)
}

/// As [`write_topology`], with `edit` applied to the text.
fn write_topology_with(
    dir: &Path,
    network: u8,
    edit: impl FnOnce(String) -> String,
) -> std::path::PathBuf {
    let config = dir.join("topology.toml");
    let fenced = common::with_fencing(&common::topology_text(), &common::second());
    let text = common::fast_clock(&common::on_networks(&fenced, network));
    std::fs::write(&config, edit(text)).unwrap();
    config
}

/// The most a passing demo may print, stdout and stderr together: a screen, not a scroll.
const LINE_BUDGET: usize = 60;

#[tokio::test]
async fn demo_quick_passes_within_its_line_budget_and_writes_its_report() {
    let _one = ONE_DEMO.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_topology(dir.path(), 31);
    let report = dir.path().join("report");
    let started = Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_local-world"))
            .arg("demo")
            .arg("--quick")
            .arg("--config")
            .arg(&config)
            .arg("--report")
            .arg(&report)
            .current_dir(dir.path())
            // The default log filter, as a user who sets nothing gets it.
            .env_remove("RUST_LOG")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the quick demo ends within 60 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}\n(took {:?})", started.elapsed());
    assert!(
        output.status.success(),
        "the demo failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("Demo PASSED"), "{stdout}");
    assert!(
        stdout.contains("control API: http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(report.join("report.json").is_file());
    assert!(report.join("timeline.svg").is_file());
    // The verdict, for scripts: every step held, every move measured within its bound.
    let verdict: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("demo.json")).unwrap()).unwrap();
    assert_eq!(verdict["passed"], true, "{verdict:#}");
    let steps = verdict["steps"].as_array().unwrap();
    assert!(steps.len() >= 8, "{verdict:#}");
    assert!(steps.iter().all(|s| s["held"] == true), "{verdict:#}");
    // Short: every step once, as a row of the table with its number, no verdict in full.
    let lines = stdout.lines().count() + stderr.lines().count();
    assert!(
        lines <= LINE_BUDGET,
        "{lines} lines, over {LINE_BUDGET}:\n{stdout}\n{stderr}"
    );
    for step in steps {
        let name = step["name"].as_str().unwrap();
        let rows: Vec<&str> = stdout
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.trim_start().starts_with("yes"))
            })
            .collect();
        assert_eq!(rows.len(), 1, "one row for `{name}`:\n{stdout}");
        assert!(
            rows[0].ends_with(step["summary"].as_str().unwrap()),
            "{}",
            rows[0]
        );
    }
    assert!(!stdout.contains("expected"), "a verdict in full:\n{stdout}");
    // The on-call steps: the gate refused then allowed, and the fenced service's stale writes
    // were refused and retried with none lost.
    for name in [
        format!("replication gate ({})", common::first()),
        format!("write fencing ({})", common::second()),
    ] {
        assert!(
            steps.iter().any(|s| s["name"] == name.as_str()),
            "no step `{name}`: {verdict:#}"
        );
    }
    let moves = verdict["moves"].as_array().unwrap();
    assert_eq!(moves.len(), 3, "{verdict:#}");
    // Every move's four stages, each no earlier than the one before.
    let staged = verdict["staged_verification"].as_array().unwrap();
    assert_eq!(staged.len(), 3, "{verdict:#}");
    for app in staged.iter().flat_map(|m| m["apps"].as_array().unwrap()) {
        let times: Vec<u64> = app["stages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["elapsed_ms"].as_u64())
            .collect();
        assert_eq!(times.len(), 4, "{app}");
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{app}");
    }
    for m in moves {
        // TTL 1 s + health checks every 0.2 s, plus a second for the probe's own pace.
        let seconds = m["seconds"].as_f64().unwrap_or(f64::MAX);
        assert!(seconds < 2.2, "{m}");
    }
}

#[tokio::test]
async fn demo_quick_passes_with_the_health_check_mechanism() {
    let _one = ONE_DEMO.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // Alarm periods of half a second stand for AWS's minute.
    let config = write_topology_with(dir.path(), 113, |t| common::health_check(&t, 500));
    let report = dir.path().join("report");
    let output = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_local-world"))
            .args(["demo", "--quick", "--config"])
            .arg(&config)
            .arg("--report")
            .arg(&report)
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the quick demo ends within 90 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        output.status.success(),
        "the demo failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("Demo PASSED"), "{stdout}");
    assert!(
        stdout.contains("failover by flags"),
        "the mechanism is named: {stdout}"
    );
    let lines = stdout.lines().count() + stderr.lines().count();
    assert!(lines <= LINE_BUDGET, "{lines} lines, over {LINE_BUDGET}");
    let verdict: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("demo.json")).unwrap()).unwrap();
    let steps = verdict["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["held"] == true), "{verdict:#}");
    // The bound is the mechanism's: alarm period + check interval + TTL + connection age.
    let bound = verdict["move_bound_seconds"].as_f64().unwrap();
    let age = loadtest::RunConfig::default()
        .max_connection_age
        .as_secs_f64();
    assert!((bound - (0.5 + 0.2 + 1.0 + age)).abs() < 1e-9, "{bound}");
    let propagation = steps
        .iter()
        .find(|s| s["name"] == "DNS propagation")
        .unwrap();
    assert!(
        propagation["expected"]
            .as_str()
            .unwrap()
            .contains("after its period ends, the new one within 850 ms"),
        "{propagation}"
    );
    let staged = steps
        .iter()
        .find(|s| s["name"] == "staged verification")
        .unwrap();
    assert!(
        staged["expected"]
            .as_str()
            .unwrap()
            .contains("the flags' alarms"),
        "{staged}"
    );
    for name in ["write fencing", "fail back", "evacuated"] {
        assert!(
            steps
                .iter()
                .any(|s| s["name"].as_str().unwrap().starts_with(name)),
            "no step `{name}`: {verdict:#}"
        );
    }
    let moves = verdict["moves"].as_array().unwrap();
    assert_eq!(moves.len(), 3, "{verdict:#}");
    for m in moves {
        let seconds = m["seconds"].as_f64().unwrap_or(f64::MAX);
        assert!(seconds <= bound, "{m}");
    }
}

/// Also the verbose demo: every expectation in full as it runs, and the detail at the end.
#[tokio::test]
async fn keep_running_serves_after_the_drill_until_ctrl_c() {
    let _one = ONE_DEMO.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_topology(dir.path(), 37);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_local-world"))
        .args(["demo", "--quick", "--keep-running", "--verbose", "--config"])
        .arg(&config)
        .arg("--report")
        .arg(dir.path().join("report"))
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut control, mut result) = (None, None);
    let (mut in_full, mut staged) = (0, false);
    // `--verbose` judges each expectation on a line of its own: the failed ones, for the message.
    let mut failed = Vec::new();
    // Expectations judged at the end (the moves' times, among others) show only in the closing
    // tables: the output's end goes into the message too.
    let mut output = Vec::new();
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            output.push(line.clone());
            in_full += usize::from(line.contains("ok   steady state: expected all apps on"));
            staged |= line.starts_with("Staged verification of each move");
            if line.starts_with("FAIL ") {
                failed.push(line.clone());
            }
            if let Some(rest) = line.split("control API: ").nth(1) {
                control = rest.split("/state").next().map(str::to_owned);
            }
            if line.starts_with("Demo ") {
                result = Some(line.clone());
            }
            if line.contains("keeps running") {
                return;
            }
        }
    })
    .await;
    assert!(waited.is_ok(), "the demo did not finish within 60 s");
    let result = result.expect("the demo prints its result");
    // Whether this drill passes is `demo_quick_passes_within_its_line_budget_and_writes_its_report`'s
    // question (and CI's quick demos', each run alone); here, beside the rest of the suite,
    // a move may outlast the quick clock's 3 s bound. What this test asks of the verdict is
    // that it agrees with the lines that judged each expectation.
    let tail = output[output.len().saturating_sub(80)..].join("\n");
    if result.contains("PASSED") {
        assert!(
            failed.is_empty(),
            "a passing demo failed none:\n{}",
            failed.join("\n")
        );
    } else {
        let named = !failed.is_empty() || output.iter().any(|l| l.contains(" NO    expected: "));
        assert!(
            result.contains("FAILED") && named,
            "{result}: a failing demo names what failed\n{tail}"
        );
        eprintln!("the drill failed here (its verdict is another test's):\n{tail}");
    }
    assert_eq!(
        in_full, 1,
        "--verbose prints each expectation in full as it is judged"
    );
    assert!(staged, "--verbose prints the staged verification's table");
    let control = control.expect("the demo prints the control API's URL at start");
    let state = reqwest::get(format!("{control}/state")).await.unwrap();
    assert_eq!(state.status(), 200, "the world still runs after the drill");

    common::interrupt_and_expect_clean_stop(&mut child).await;
    assert!(
        reqwest::get(format!("{control}/state")).await.is_err(),
        "stopped"
    );
}
