//! boto3, with the Python that the test harness provides for moto (it has boto3), publishes
//! and reads the flag against the local CloudWatch: a client nobody here wrote, on AWS JSON
//! 1.0.

use std::path::Path;

use serde_json::Value;

use crate::common::{self, METRIC, NAMESPACE};

#[tokio::test]
async fn boto3_publishes_and_reads_the_flag() {
    let python = testkit::moto_python().unwrap_or_else(|e| panic!("{e}"));
    let w = common::world(1.0).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite/boto3_flag.py");
    let output = tokio::process::Command::new(&python)
        .arg(&script)
        .arg(w.cloudwatch.url(&w.west).unwrap())
        .arg(w.west.as_str())
        .arg(w.east.as_str())
        // Nothing from the user's AWS set-up: no profile, no IMDS lookups.
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{} {}: {}",
        python.display(),
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        seen["protocol"], "json",
        "boto3 speaks AWS JSON 1.0 to CloudWatch: {seen}"
    );
    assert_eq!(seen["id"], "out");
    assert_eq!(seen["label"], METRIC);
    assert_eq!(seen["status"], "Complete");
    assert_eq!(seen["values"], serde_json::json!([1.0]));
    let published = seen["published_at"].as_f64().unwrap();
    assert_eq!(
        seen["timestamps"][0].as_f64().unwrap(),
        (published / 10.0).floor() * 10.0
    );
    assert_eq!(seen["alarm"]["name"], "orders-us-east-1-out");
    assert_eq!(seen["alarm"]["state"], "INSUFFICIENT_DATA");
    assert_eq!(seen["alarm"]["threshold"], 1.0);
    assert_eq!(
        seen["error"], "ResourceNotFound",
        "the query-compatible error code"
    );

    // What boto3 wrote, the Rust SDK reads: one store, whatever the protocol.
    let listed = w
        .client(&w.west)
        .list_metrics()
        .namespace(NAMESPACE)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.metrics().len(), 1);
    let alarm = w
        .cloudwatch
        .alarm(&w.west, &"orders-us-east-1-out".parse().unwrap())
        .unwrap();
    assert_eq!(
        alarm.definition.metric.dimensions.get("Region"),
        Some("us-east-1")
    );
}
