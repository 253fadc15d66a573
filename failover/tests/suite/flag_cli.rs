//! The `failover` binary on a health-check deployment, run as a user runs it against the
//! local CloudWatch: status, shift, evacuate, dry runs, and the exit codes its `--help`
//! documents for this mechanism.

use crate::common::hc::{FlagWorld, app, flag_world};
use crate::common::{self, Run};

use std::path::PathBuf;

use local_cloudwatch::Fault;
use serde_json::json;
use topology::manifest::tables_of;
use wiremock::matchers::{self, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `w`'s manifest in a new temporary folder.
fn on_disk(w: &FlagWorld) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deployment.json");
    w.manifest.save(&path).unwrap();
    (dir, path)
}

async fn failover(dir: &tempfile::TempDir, path: &std::path::Path, args: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--manifest",
        path.to_str().unwrap(),
        "--attempt-timeout",
        "500ms",
        "--deadline",
        "1500ms",
    ]);
    common::failover(dir.path(), &all, &[]).await
}

#[tokio::test]
async fn status_shift_and_evacuate_work_as_on_arc_and_say_what_they_published() {
    let w = flag_world().await;
    let (dir, path) = on_disk(&w);

    let run = failover(&dir, &path, &["status"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for needle in [
        "SERVING",
        "ALARMS us-east-1",
        "in (never set, us-west-2)",
        "no data 6",
    ] {
        assert!(
            run.stdout.contains(needle),
            "lacks `{needle}`:\n{}",
            run.stdout
        );
    }

    let run = failover(
        &dir,
        &path,
        &["shift", "orders", "--to", "us-west-2", "--yes"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(
            "step 1 (required): into us-west-2, the flag \"us-east-1 is out\" = 1 for orders: published"
        ) && run.stdout.contains("done: orders now routed to us-west-2"),
        "{}",
        run.stdout
    );
    assert_eq!(w.settled(&app("orders")).await, (true, false));

    let run = failover(&dir, &path, &["status", "--json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["mechanism"], "health-check");
    let orders = doc["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app"] == "orders")
        .unwrap();
    assert_eq!(orders["active"], "us-west-2");
    assert_eq!(orders["flags"][0]["out"], true);

    // Back to the primary: three steps, the last stamped for the next minute.
    let run = failover(
        &dir,
        &path,
        &["shift", "orders", "--to", "us-east-1", "--yes", "--json"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let steps = doc["shift"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{doc}");
    assert!(steps.iter().all(|s| s["result"] == "published"), "{doc}");
    assert!(steps[2]["flags"][0]["takes_effect"].is_string(), "{doc}");
    assert_eq!(w.settled(&app("orders")).await, (false, false));

    let run = failover(&dir, &path, &["evacuate", "us-east-1", "--yes"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    for a in &w.manifest.apps {
        assert_eq!(w.settled(&a.name).await, (true, false), "{}", a.name);
    }
}

#[tokio::test]
async fn evacuating_a_region_whose_cloudwatch_is_down_succeeds_and_says_what_it_skipped() {
    let w = flag_world().await;
    let (dir, path) = on_disk(&w);
    w.cloudwatch
        .set_fault(&w.primary(), Fault::Down)
        .await
        .unwrap();
    let run = failover(&dir, &path, &["evacuate", "us-east-1", "--yes"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("step 2 (best effort)") && run.stdout.contains("skipped"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("can be neither ruled out nor cleared"),
        "the stale-flag caveat is said:\n{}",
        run.stdout
    );
    // Status shows the flags held in the primary as unread, and still exits 0.
    let run = failover(&dir, &path, &["status"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("could not read the flags held in us-east-1")
            && run.stdout.contains("alarms in us-east-1 unknown"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn the_exit_codes_are_those_documented_for_this_mechanism() {
    let w = flag_world().await;
    let (dir, path) = on_disk(&w);

    // 2: a safety rule to override does not exist here.
    let rule = "arn:aws:route53-recovery-control::123456789012:controlpanel/p/safetyrule/r";
    let run = failover(
        &dir,
        &path,
        &[
            "shift",
            "orders",
            "--to",
            "us-west-2",
            "--yes",
            "--override-safety-rules",
            rule,
        ],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no safety rules"), "{}", run.stderr);

    // 0: a dry run, which publishes nothing.
    let run = failover(
        &dir,
        &path,
        &["shift", "orders", "--to", "us-west-2", "--dry-run"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Would publish"), "{}", run.stdout);
    assert!(
        w.cloudwatch
            .snapshot()
            .regions
            .iter()
            .all(|r| r.requests == 0)
    );

    // 4: the target Region's CloudWatch does not answer; nothing is published elsewhere.
    w.cloudwatch
        .set_fault(&w.secondary(), Fault::Down)
        .await
        .unwrap();
    let run = failover(
        &dir,
        &path,
        &["shift", "orders", "--to", "us-west-2", "--yes"],
    )
    .await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("PutMetricData in us-west-2") && run.stderr.contains("failover status"),
        "{}",
        run.stderr
    );
    w.cloudwatch
        .set_fault(&w.primary(), Fault::Down)
        .await
        .unwrap();
    let run = failover(&dir, &path, &["status"]).await;
    assert_eq!(run.code, 4, "{}", run.stderr);
    for r in [w.primary(), w.secondary()] {
        w.cloudwatch.set_fault(&r, Fault::None).await.unwrap();
    }
    assert_eq!(w.settled(&app("orders")).await, (false, false));

    // 6: the replication gate refuses before anything is published.
    let api = MockServer::builder().start().await;
    Mock::given(method("GET"))
        .and(matchers::path("/state"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "replication": { "links": [
                { "table": "orders", "from": "us-east-1", "to": "us-west-2", "pending": 12, "oldest_ms": 9000 }
            ] }
        })))
        .mount(&api)
        .await;
    let mut gated = w.manifest.clone();
    gated.control_api = Some(api.uri());
    for entry in &mut gated.apps {
        let def = w
            .topology
            .apps
            .iter()
            .find(|a| *a.name() == entry.name)
            .unwrap();
        entry.tables = tables_of(def, &w.topology.regions);
    }
    gated.save(&path).unwrap();
    let before = w.cloudwatch.snapshot();
    let run = failover(
        &dir,
        &path,
        &["shift", "orders", "--to", "us-west-2", "--yes"],
    )
    .await;
    assert_eq!(run.code, 6, "{}", run.stderr);
    let after = w.cloudwatch.snapshot();
    for (b, a) in before.regions.iter().zip(&after.regions) {
        assert_eq!(b.requests, a.requests, "{} was called", a.region);
    }
}

#[tokio::test]
async fn help_says_which_exit_codes_cannot_happen_and_what_unreachable_means() {
    let dir = tempfile::tempdir().unwrap();
    let run = common::failover(dir.path(), &["--help"], &[]).await;
    assert_eq!(run.code, 0);
    for needle in [
        "3 cannot happen there",
        "the target Region's CloudWatch",
        "PutMetricData",
        "DescribeAlarms",
        "HealthCheckStatus",
        "unknown (not failed)",
    ] {
        assert!(
            run.stdout.contains(needle),
            "--help lacks `{needle}`:\n{}",
            run.stdout
        );
    }
    let run = common::failover(dir.path(), &["shift", "--help"], &[]).await;
    assert!(
        run.stdout.contains("45s in the local world"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn on_aws_missing_credentials_are_a_login_problem_for_status_and_moves() {
    let w = flag_world().await;
    let mut manifest = w.manifest.clone();
    manifest.environment = topology::manifest::Environment::Aws;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aws.json");
    manifest.save(&path).unwrap();
    for args in [
        vec!["status"],
        vec!["shift", "orders", "--to", "us-west-2", "--yes", "--force"],
    ] {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_failover"));
        command
            .args(&args)
            .args(["--manifest", path.to_str().unwrap()])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
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
            "FAILOVER_MANIFEST",
        ] {
            command.env_remove(var);
        }
        let out = command.output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("no AWS credentials"), "{args:?}: {stderr}");
    }
}
