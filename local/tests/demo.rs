//! `infra demo --quick`, run as a user runs it: the binary, on a topology of its own
//! (own loopback networks, free ports), must pass its drill and write its report.

mod common;

use std::time::{Duration, Instant};

#[tokio::test]
async fn infra_demo_quick_passes_and_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("topology.toml");
    let text = common::topology_text()
        .replace("\"127.0.1\"", "\"127.0.31\"")
        .replace("\"127.0.2\"", "\"127.0.32\"")
        .replace("127.0.0.1:8053", "127.0.0.1:0")
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("arc_first_port = 8091", "arc_first_port = 0")
        .replace("ttl_seconds = 5", "ttl_seconds = 1")
        .replace(
            "health_check_interval_ms = 1000",
            "health_check_interval_ms = 200",
        );
    std::fs::write(&config, text).unwrap();
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
    assert!(report.join("report.json").is_file());
    assert!(report.join("timeline.svg").is_file());
    // The verdict, for scripts: every step held, every move measured within its bound.
    let verdict: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("demo.json")).unwrap()).unwrap();
    assert_eq!(verdict["passed"], true, "{verdict:#}");
    let steps = verdict["steps"].as_array().unwrap();
    assert!(steps.len() >= 8, "{verdict:#}");
    assert!(steps.iter().all(|s| s["held"] == true), "{verdict:#}");
    let moves = verdict["moves"].as_array().unwrap();
    assert_eq!(moves.len(), 3, "{verdict:#}");
    for m in moves {
        // TTL 1 s + health checks every 0.2 s, plus a second for the probe's own pace.
        let seconds = m["seconds"].as_f64().unwrap_or(f64::MAX);
        assert!(seconds < 2.2, "{m}");
    }
}
