//! `failover plan`, run as a user runs it (no terminal on stdin) against an in-process local
//! cluster: listing, a broken file's error, an approval that waits for a person and the
//! resume that passes it, a dry run. The moves themselves are tested against the whole local
//! world, in the local-world crate's suite.

use crate::common;

use std::path::Path;

use serde_json::Value;

const APPROVAL_THEN_WAIT: &str = r#"
description = "asks, then waits"
[[steps]]
name = "go"
approval = { message = "Go on?" }
[[steps]]
name = "pause"
wait = { duration = "10ms" }
"#;

/// A cluster's manifest and a plans folder in a new temporary folder.
async fn setup() -> (common::World, tempfile::TempDir) {
    let w = common::world().await;
    let dir = tempfile::tempdir().unwrap();
    w.manifest.save(dir.path().join("deployment.json")).unwrap();
    std::fs::create_dir(dir.path().join("plans")).unwrap();
    std::fs::write(dir.path().join("plans/ask.toml"), APPROVAL_THEN_WAIT).unwrap();
    (w, dir)
}

async fn failover(dir: &Path, args: &[&str]) -> common::Run {
    let mut all = vec!["--manifest", "deployment.json"];
    all.extend_from_slice(args);
    common::failover(dir, &all, &[]).await
}

#[tokio::test]
async fn list_shows_each_plan_and_a_broken_one_with_its_file_step_and_field() {
    let (_w, dir) = setup().await;
    std::fs::write(
        dir.path().join("plans/broken.toml"),
        "[[steps]]\nname = \"wait a bit\"\nwait = { duration = \"forever\" }\n",
    )
    .unwrap();
    let run = failover(dir.path(), &["plan", "list"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("ask  asks, then waits"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("go (approval) -> pause (wait)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("plans/broken.toml: step `wait a bit`: `wait.duration`"),
        "{}",
        run.stdout
    );

    let run = failover(dir.path(), &["plan", "run", "broken", "--yes"]).await;
    assert_eq!(
        run.code, 2,
        "a broken plan is a usage error: {}",
        run.stderr
    );
    assert!(run.stderr.contains("`wait.duration`"), "{}", run.stderr);
    let run = failover(dir.path(), &["plan", "check", "nope"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no plan `nope`") && run.stderr.contains("ask, broken"),
        "{}",
        run.stderr
    );
    // Without a manifest too: the plan is what is wrong first.
    let run = common::failover(
        dir.path(),
        &["--manifest", "none.json", "plan", "check", "nope"],
        &[],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no plan `nope`") && !run.stderr.contains("none.json"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn an_approval_without_a_person_stops_the_run_and_resume_with_approve_passes_it() {
    let (_w, dir) = setup().await;
    let run = failover(
        dir.path(),
        &["plan", "run", "ask", "--report-dir", "reports"],
    )
    .await;
    assert_eq!(run.code, 7, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("step `go`") && run.stderr.contains("--approve go"),
        "{}",
        run.stderr
    );
    let report = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a JSON report");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(doc["failed_step"], "go");
    assert_eq!(doc["exit_code"], 7);
    assert_eq!(doc["steps"][1]["outcome"], "not_run", "{doc:#}");
    assert!(report.with_extension("md").exists());

    let report = report.to_str().unwrap();
    let run = failover(
        dir.path(),
        &[
            "--json",
            "plan",
            "run",
            "ask",
            "--resume",
            report,
            "--approve",
            "go",
            "--report-dir",
            "reports",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["outcome"], "succeeded");
    assert_eq!(doc["steps"][0]["detail"], "approved by --approve go");
    assert_eq!(doc["steps"][1]["outcome"], "succeeded");
    assert!(
        doc["report_files"]["markdown"]
            .as_str()
            .unwrap()
            .ends_with(".md")
    );

    let run = failover(dir.path(), &["plan", "run", "ask", "--approve", "nostep"]).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--approve nostep"), "{}", run.stderr);
}

#[tokio::test]
async fn a_dry_run_says_what_each_step_would_do_and_waits_for_no_one() {
    let (_w, dir) = setup().await;
    let run = failover(
        dir.path(),
        &[
            "--json",
            "plan",
            "run",
            "ask",
            "--dry-run",
            "--report-dir",
            "r",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["outcome"], "dry_run");
    assert_eq!(doc["steps"][0]["outcome"], "dry_run");
    assert_eq!(doc["steps"][0]["detail"], "would ask: Go on?");
}

#[test]
fn the_shipped_plans_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans");
    let plans = failover::plan::PlanDir::new(&dir);
    let names = plans.names();
    for expected in [
        "evacuate-primary",
        "evacuate-secondary",
        "fail-back",
        "move-services",
    ] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    for plan in plans.list() {
        plan.unwrap();
    }
}
