//! The `users` binary as a user runs it: flags, store wiring, start-up time, clean shutdown.

use std::time::Duration;

use testkit::Binary;

const EXE: &str = env!("CARGO_BIN_EXE_users");

#[tokio::test]
async fn starts_on_memory_in_well_under_a_second() {
    let running = Binary::start(EXE, &["--store", "memory"]).await;
    let (base, took) = (&running.base, running.started_in);
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let root = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(root.headers()["x-region"], "us-west-2");
    let root: serde_json::Value = root.json().await.unwrap();
    assert_eq!(root["service"], "users");
}

#[tokio::test]
async fn runs_on_dynamodb_creating_its_table() {
    let running = Binary::start_on_dynamodb(EXE).await;
    let base = &running.base;
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{base}/users"))
        .json(&serde_json::json!({"email": "bin@example.com", "name": "Bin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    assert_eq!(body["region"], "us-west-2");
}

#[test]
fn bad_flags_are_usage_errors() {
    let (code, stderr) = testkit::run_to_exit(EXE, &["--store", "sqlite"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("memory"), "{stderr}");
}
