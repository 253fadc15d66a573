//! The `payments` binary itself: its flags wire the store and the Region as documented, on
//! memory and on DynamoDB (moto, with `--create-table`).

use crate::common::payment_body;
use serde_json::Value;
use testkit::Binary;

const EXE: &str = env!("CARGO_BIN_EXE_payments");

async fn pay_and_read(base: &str) {
    let client = reqwest::Client::new();
    let pay = || {
        client
            .post(format!("{base}/payments"))
            .header("idempotency-key", "binary-test")
            .json(&payment_body(2500))
            .send()
    };
    let response = pay().await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-region"], "us-west-2");
    let paid: Value = response.json().await.unwrap();
    let replayed = pay().await.unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(replayed.json::<Value>().await.unwrap(), paid);
    let read = testkit::get_json(
        &client,
        &format!("{base}/payments/{}", paid["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(read, paid);
    assert_eq!(read["region"], "us-west-2");
}

#[tokio::test]
async fn serves_on_the_memory_store() {
    let running = Binary::start(EXE, &["--store", "memory"]).await;
    pay_and_read(&running.base).await;
}

#[tokio::test]
async fn serves_on_dynamodb_creating_its_table() {
    let running = Binary::start_on_dynamodb(EXE).await;
    pay_and_read(&running.base).await;
}

#[test]
fn bad_flags_are_refused_with_a_message() {
    let (code, stderr) = testkit::run_to_exit(EXE, &["--store", "sqlite"]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("--store"), "{stderr}");
}
