//! The report's files: report.json against its documented schema, timeline.svg well-formed,
//! and the CLI end to end.

use crate::common;

use std::time::Duration;

use crate::common::{Dns, FakeStore, TwoRegions, manifest};
use loadtest::{Run, RunConfig};

fn schema() -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/report.schema.json"))
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Checks that `svg` is well-formed XML with an `<svg>` root: every token parses and every
/// element closes in order.
fn assert_well_formed_svg(svg: &str) {
    let mut open: Vec<String> = Vec::new();
    let mut root = None;
    for token in xmlparser::Tokenizer::from(svg) {
        match token.unwrap_or_else(|e| panic!("malformed SVG: {e}")) {
            xmlparser::Token::ElementStart { local, .. } => {
                root.get_or_insert_with(|| local.as_str().to_owned());
                open.push(local.as_str().to_owned());
            }
            xmlparser::Token::ElementEnd { end, .. } => match end {
                xmlparser::ElementEnd::Open => {}
                xmlparser::ElementEnd::Close(_, name) => {
                    assert_eq!(
                        open.pop().as_deref(),
                        Some(name.as_str()),
                        "mismatched </{name}>"
                    );
                }
                xmlparser::ElementEnd::Empty => {
                    open.pop();
                }
            },
            _ => {}
        }
    }
    assert!(open.is_empty(), "unclosed elements: {open:?}");
    assert_eq!(root.as_deref(), Some("svg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_json_follows_its_schema_and_the_timeline_is_svg() {
    let dns = Dns::start(1).await;
    let world = TwoRegions::start(51, FakeStore::new(Duration::ZERO, 0)).await;
    let manifest = manifest(&world, &dns, &["orders", "users"], false);
    let run = Run::start(
        &manifest,
        RunConfig {
            rate_per_app: 50,
            ..RunConfig::default()
        },
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    dns.set("orders.example.test", world.secondary_ip());
    run.mark("shift orders -> us-west-2 <&> \"quoted\"");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let report = run.stop().await;
    assert_eq!(report.apps[0].switches.len(), 1);

    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = report.write(dir.path()).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    common::schema::validate(&schema(), &value).unwrap();
    // It reads back into the same report.
    let back: loadtest::Report = serde_json::from_value(value).unwrap();
    assert_eq!(back, report);

    let svg = std::fs::read_to_string(&svg).unwrap();
    assert_well_formed_svg(&svg);
    assert!(svg.contains("us-west-2") && svg.contains("orders"));
    assert!(svg.contains("&lt;&amp;&gt;"), "labels are escaped");

    // A mutation the schema must catch: a missing required member.
    let mut broken: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    broken["apps"][0].as_object_mut().unwrap().remove("errors");
    assert!(common::schema::validate(&schema(), &broken).is_err());

    let table = report.summary_table();
    assert!(
        table.contains("orders") && table.contains("us-east-1 -> us-west-2"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_and_reports() {
    let dns = Dns::start(5).await;
    let world = TwoRegions::start(52, FakeStore::new(Duration::ZERO, 0)).await;
    let manifest = manifest(&world, &dns, &["orders", "users"], false);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deployment.json");
    manifest.save(&path).unwrap();
    let report_dir = dir.path().join("out");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["run", "--manifest"])
        .arg(&path)
        .args([
            "--apps",
            "orders",
            "--rate",
            "30",
            "--duration",
            "1s",
            "--json",
            "--report",
        ])
        .arg(&report_dir)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["apps"].as_array().unwrap().len(), 1);
    assert_eq!(report["apps"][0]["requests"], 30);
    assert_eq!(report["apps"][0]["responses_by_region"]["us-east-1"], 30);
    assert!(report_dir.join("report.json").exists() && report_dir.join("timeline.svg").exists());
    assert!(
        stderr.contains("orders"),
        "the live view went to stderr: {stderr}"
    );

    // `render` reads the report back: the same table, the timeline drawn again.
    std::fs::remove_file(report_dir.join("timeline.svg")).unwrap();
    let rendered = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .arg("render")
        .arg(report_dir.join("report.json"))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    assert!(
        stdout.contains("probe scenario") && stdout.contains("Timeline:"),
        "{stdout}"
    );
    assert!(report_dir.join("timeline.svg").exists());
}

#[test]
fn the_cli_explains_every_flag_and_refuses_bad_input() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--manifest",
        "--apps",
        "--rate",
        "--duration",
        "--scenario",
        "--report",
        "--json",
        "--max-in-flight",
        "--timeout",
        "--max-connection-age",
        "--connection-reuse",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help:\n{text}");
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["run", "--duration", "forever"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid duration"));
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "run",
            "--manifest",
            "/nonexistent/deployment.json",
            "--duration",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let unknown = std::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["run", "--scenario", "chaos"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    let stderr_unknown = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr_unknown.contains("probe, mixed, consistency"),
        "names the scenarios: {stderr_unknown}"
    );
    assert!(
        text.contains("Exit codes") && text.contains("3  consistency scenario"),
        "{text}"
    );
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("`cargo run -p local-world -- run`"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("No such file").count(),
        1,
        "the reason once: {stderr}"
    );
}

#[test]
fn a_report_of_another_schema_version_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    std::fs::write(
        &path,
        r#"{"schema_version": 2, "consistency": {"lost": []}}"#,
    )
    .unwrap();
    let rendered = std::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .arg("render")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(rendered.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&rendered.stderr);
    assert!(
        stderr.contains("schema_version 2") && stderr.contains("reads 3"),
        "{stderr}"
    );
    assert!(!dir.path().join("timeline.svg").exists(), "nothing written");
}
