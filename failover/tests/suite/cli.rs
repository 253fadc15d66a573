//! The `failover` binary, run as a user runs it, against an in-process local cluster.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use local_arc::Fault;
use tokio::process::Command;

async fn failover(dir: &Path, args: &[&str]) -> common::Run {
    common::failover(dir, args, &[]).await
}

/// A running cluster, initialized, and its manifest written to a temporary folder.
async fn world_on_disk() -> (common::World, tempfile::TempDir, PathBuf) {
    let w = common::world().await;
    w.client().initialize().await.unwrap();
    let (dir, path) = on_disk(&w);
    (w, dir, path)
}

/// `w`'s manifest written to a new temporary folder.
fn on_disk(w: &common::World) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deployment.json");
    w.manifest.save(&path).unwrap();
    (dir, path)
}

#[tokio::test]
async fn help_documents_the_commands_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let run = failover(dir.path(), &["--help"]).await;
    assert_eq!(run.code, 0);
    for needle in [
        "status",
        "shift",
        "evacuate",
        "Exit codes",
        "safety rule",
        "quorum",
    ] {
        assert!(
            run.stdout.contains(needle),
            "--help lacks `{needle}`:\n{}",
            run.stdout
        );
    }
    let run = failover(dir.path(), &["shift", "--help"]).await;
    assert_eq!(run.code, 0);
    for needle in [
        "--to",
        "--dry-run",
        "--yes",
        "--json",
        "--verify",
        "--override-safety-rules",
    ] {
        assert!(run.stdout.contains(needle), "shift --help lacks `{needle}`");
    }
}

#[tokio::test]
async fn bad_names_are_usage_errors_with_a_clear_message() {
    let (_w, dir, path) = world_on_disk().await;
    let manifest = path.to_str().unwrap();
    let run = failover(
        dir.path(),
        &[
            "shift",
            "Orders!",
            "--to",
            "us-west-2",
            "--manifest",
            manifest,
        ],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("Orders!"), "{}", run.stderr);

    let run = failover(
        dir.path(),
        &["shift", "orders", "--to", "mars", "--manifest", manifest],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("mars"), "{}", run.stderr);

    let run = failover(
        dir.path(),
        &[
            "shift",
            "billing",
            "--to",
            "us-west-2",
            "--yes",
            "--manifest",
            manifest,
        ],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown app `billing`") && run.stderr.contains("orders"),
        "{}",
        run.stderr
    );

    let run = failover(
        dir.path(),
        &["evacuate", "eu-west-1", "--yes", "--manifest", manifest],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("eu-west-1"), "{}", run.stderr);
}

#[tokio::test]
async fn manifests_that_cannot_be_used_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let run = failover(dir.path(), &["status"]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(".local/deployment.json") && run.stderr.contains("--manifest"),
        "{}",
        run.stderr
    );

    let (w, _keep, _) = world_on_disk().await;
    let mut value = serde_json::to_value(&w.manifest).unwrap();
    value["manifest_version"] = 99.into();
    let path = dir.path().join("future.json");
    std::fs::write(&path, value.to_string()).unwrap();
    let run = failover(
        dir.path(),
        &["status", "--manifest", path.to_str().unwrap()],
    )
    .await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("manifest_version 99"), "{}", run.stderr);

    // The default path is used when present.
    std::fs::create_dir_all(dir.path().join(".local")).unwrap();
    w.manifest
        .save(dir.path().join(".local/deployment.json"))
        .unwrap();
    let run = failover(dir.path(), &["status"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_prints_the_batch() {
    let (w, dir, path) = world_on_disk().await;
    let manifest = path.to_str().unwrap();
    let run = failover(
        dir.path(),
        &[
            "shift",
            "orders",
            "--to",
            "us-west-2",
            "--dry-run",
            "--manifest",
            manifest,
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let orders = w.manifest.app(&"orders".parse().unwrap()).unwrap();
    for control in &orders.arc().unwrap().routing_controls {
        assert!(run.stdout.contains(control.arn.as_str()), "{}", run.stdout);
    }
    assert!(run.stdout.contains("dry run"), "{}", run.stdout);
    assert_eq!(w.states("orders"), (true, false));

    let run = failover(
        dir.path(),
        &[
            "evacuate",
            "us-east-1",
            "--dry-run",
            "--json",
            "--manifest",
            manifest,
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["batches"][0]["changes"].as_array().unwrap().len(), 8);
    assert!(plan["batches"][0]["answer"].is_null());
    assert_eq!(w.states("orders"), (true, false));
}

#[tokio::test]
async fn without_a_terminal_it_asks_for_yes_instead_of_prompting() {
    let (w, dir, path) = world_on_disk().await;
    let run = failover(
        dir.path(),
        &[
            "shift",
            "orders",
            "--to",
            "us-west-2",
            "--manifest",
            path.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(w.states("orders"), (true, false));
}

#[tokio::test]
async fn shift_evacuate_and_status_work_end_to_end() {
    let (w, dir, path) = world_on_disk().await;
    let manifest = path.to_str().unwrap();
    let run = failover(
        dir.path(),
        &[
            "shift",
            "orders",
            "--to",
            "us-west-2",
            "--yes",
            "--manifest",
            manifest,
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("answered by"), "{}", run.stdout);
    assert_eq!(w.states("orders"), (false, true));

    let run = failover(dir.path(), &["status", "--json", "--manifest", manifest]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let orders = status["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app"] == "orders")
        .unwrap();
    assert_eq!(orders["active"], "us-west-2");

    let run = failover(
        dir.path(),
        &[
            "evacuate",
            "us-east-1",
            "--yes",
            "--json",
            "--manifest",
            manifest,
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(out["shift"]["to"], "us-west-2");
    for app in &w.manifest.apps {
        assert_eq!(w.states(app.name.as_str()), (false, true), "{}", app.name);
    }

    let run = failover(dir.path(), &["status", "--manifest", manifest]).await;
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("SERVING") && run.stdout.contains("us-west-2"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn no_reachable_endpoint_exits_4() {
    let (w, dir, path) = world_on_disk().await;
    for i in 0..5 {
        w.cluster.set_fault(i, Fault::Down).await.unwrap();
    }
    let run = failover(
        dir.path(),
        &[
            "status",
            "--deadline",
            "1s",
            "--manifest",
            path.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("no ARC cluster endpoint answered"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_shift_without_a_quorum_says_what_it_waits_for_then_exits_4() {
    let (w, dir, path) = world_on_disk().await;
    for i in 0..3 {
        w.cluster.set_fault(i, Fault::Down).await.unwrap();
    }
    let manifest = path.to_str().unwrap();
    let args = ["--deadline", "1s", "--manifest", manifest];
    let shift = ["shift", "orders", "--to", "us-west-2", "--yes"];
    let run = failover(dir.path(), &[&shift[..], &args[..]].concat()).await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    let waiting = run
        .stderr
        .find("moving orders to us-west-2 through the ARC cluster's endpoints (retried until --deadline")
        .unwrap_or_else(|| panic!("the wait is announced: {}", run.stderr));
    let lost = run.stderr.find("lost its quorum").expect("the refusal");
    assert!(
        waiting < lost,
        "announced before the refusal: {}",
        run.stderr
    );
}

#[tokio::test]
async fn a_shift_refused_by_a_safety_rule_exits_3_and_changes_nothing() {
    // A batch that would leave orders with no Region ON is blocked; the rule then refuses
    // every change to orders' controls for its wait period, which is what the CLI meets.
    let w = common::world_with(|c| {
        c.mutations_per_second = 1000.0;
        c.safety_rule_wait_period = std::time::Duration::from_secs(30);
    })
    .await;
    let client = w.client();
    client.initialize().await.unwrap();
    let orders = w.manifest.app(&common::World::app("orders")).unwrap();
    assert!(
        client
            .set_routing_control_states(&w.both_off("orders"), &[])
            .await
            .is_err()
    );
    let (dir, path) = on_disk(&w);
    let to = w.secondary().to_string();

    let run = failover(
        dir.path(),
        &[
            "shift",
            "orders",
            "--to",
            &to,
            "--yes",
            "--manifest",
            path.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains(orders.arc().unwrap().safety_rule_arn.as_str()),
        "the refusal names the rule:\n{}",
        run.stderr
    );
    assert_eq!(w.states("orders"), (true, false));
}

#[tokio::test]
async fn on_aws_missing_credentials_are_a_login_problem_not_a_network_one() {
    let (w, dir, _) = world_on_disk().await;
    let mut manifest = w.manifest.clone();
    manifest.environment = topology::manifest::Environment::Aws;
    manifest.save(dir.path().join("aws.json")).unwrap();
    let without = status_with_default_chain(dir.path(), false).await;
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert_eq!(without.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no AWS credentials") && stderr.contains("aws sso login"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("WARN"),
        "no credential-chain noise:\n{stderr}"
    );
    // The same manifest with credentials from the standard chain works.
    let with = status_with_default_chain(dir.path(), true).await;
    let stderr = String::from_utf8_lossy(&with.stderr);
    assert_eq!(with.status.code(), Some(0), "{stderr}");
}

/// `failover status --manifest aws.json` with only what the standard credential chain finds:
/// nothing, or an access key in the environment.
async fn status_with_default_chain(dir: &Path, credentials: bool) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_failover"));
    command
        .args(["status", "--manifest", "aws.json"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "FAILOVER_LOG",
    ] {
        command.env_remove(var);
    }
    if credentials {
        command
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret");
    }
    command.output().await.unwrap()
}
