//! `loadtest run --scenario consistency` as a user runs it: a write still waiting for
//! replication is reported pending and the run passes; a write no Region ever returns is
//! reported lost and the run exits 3.

use crate::common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::common::{Dns, FakeStore, PRIMARY, SECONDARY, TwoRegions, manifest};

/// Runs the binary's consistency scenario for 1 s against `manifest`, writing into `dir`.
async fn consistency_run(
    dir: &Path,
    manifest: &topology::manifest::Manifest,
    json: bool,
) -> Output {
    let path = dir.join("deployment.json");
    manifest.save(&path).unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"));
    command
        .args(["run", "--manifest"])
        .arg(&path)
        .args([
            "--scenario",
            "consistency",
            "--rate",
            "20",
            "--duration",
            "1s",
        ])
        .args(["--consistency-grace", "1s", "--report"])
        .arg(dir.join("out"));
    if json {
        command.arg("--json");
    }
    command.output().await.unwrap()
}

fn report_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("out/report.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/report.schema.json"))
            .unwrap(),
    )
    .unwrap();
    common::schema::validate(&schema, &value).unwrap();
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_no_region_returns_is_lost_and_the_run_exits_3() {
    let dns = Dns::start(5).await;
    // Every 5th write is acknowledged but stored nowhere.
    let store = FakeStore::new(Duration::from_millis(100), 5);
    let world = TwoRegions::start(57, store.clone()).await;
    let manifest = manifest(&world, &dns, &["orders"], true);
    let dir = tempfile::tempdir().unwrap();

    let output = consistency_run(dir.path(), &manifest, false).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    let dropped = store.dropped.lock().unwrap().clone();
    assert!(!dropped.is_empty());
    let lost = dropped.len();
    assert!(
        stdout.contains(&format!(
            "0 still pending (found in some Region, not yet in every one), {lost} lost"
        )),
        "{stdout}"
    );
    for id in &dropped {
        assert!(
            stdout.contains(&format!("LOST: orders /orders/{id}")),
            "{stdout}"
        );
    }
    assert!(
        stderr.contains(&format!("error: {lost} acknowledged write")) && stderr.contains("lost"),
        "{stderr}"
    );
    // report.json says the same, in its documented form.
    let report = report_json(dir.path());
    let c = &report["consistency"];
    assert_eq!(c["lost"], lost as u64, "{c}");
    assert_eq!(c["pending"], 0, "{c}");
    assert_eq!(c["lost_writes"].as_array().unwrap().len(), lost, "{c}");
    assert_eq!(c["lost_writes"][0]["written_region"], PRIMARY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_still_replicating_is_pending_not_lost_and_the_run_passes() {
    let dns = Dns::start(5).await;
    // Replication takes a minute: no write reaches the secondary before the report.
    let store = FakeStore::new(Duration::from_secs(60), 0);
    let world = TwoRegions::start(58, store.clone()).await;
    let manifest = manifest(&world, &dns, &["orders"], true);
    let dir = tempfile::tempdir().unwrap();

    let output = consistency_run(dir.path(), &manifest, true).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("lost"), "{stderr}");
    // --json: the report on stdout.
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let c = &report["consistency"];
    let acknowledged = c["acknowledged"].as_u64().unwrap();
    assert!(acknowledged >= 15, "{c}");
    assert_eq!(acknowledged, store.writes());
    assert_eq!(c["pending"], acknowledged, "{c}");
    assert_eq!(c["lost"], 0, "{c}");
    assert_eq!(c["never_found"], acknowledged, "{c}");
    let pending = c["pending_writes"].as_array().unwrap();
    assert_eq!(pending.len() as u64, acknowledged.min(100));
    assert!(
        pending
            .iter()
            .all(|w| w["missing_from"] == serde_json::json!([SECONDARY])),
        "found in the primary and through the app's URL: {c}"
    );
    assert_eq!(report_json(dir.path())["consistency"], *c);

    // The summary says so too, without the word "lost" for any write.
    let rendered = std::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .arg("render")
        .arg(dir.path().join("out/report.json"))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&rendered.stdout);
    assert!(rendered.status.success(), "{table}");
    assert!(
        table.contains(&format!(
            "{acknowledged} writes acknowledged: 0 found in every Region, {acknowledged} still pending"
        )) && table.contains(", 0 lost"),
        "{table}"
    );
    assert!(
        table.contains("  pending: orders /orders/") && !table.contains("LOST"),
        "{table}"
    );
}
