//! The `orders` binary itself: its flags wire the store and the Region as documented, on
//! memory and on DynamoDB (moto, with `--create-table`).

use std::time::{Duration, Instant};

use crate::common::{ALICE, order_body};
use serde_json::Value;
use testkit::Binary;

const EXE: &str = env!("CARGO_BIN_EXE_orders");

async fn place_and_read(base: &str) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let response = client
        .post(format!("{base}/orders"))
        .json(&order_body(ALICE))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-region"], "us-west-2");
    let placed: Value = response.json().await.unwrap();
    let read = testkit::get_json(
        &client,
        &format!("{base}/orders/{}", placed["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(read, placed);
    assert_eq!(read["region"], "us-west-2");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn serves_on_the_memory_store() {
    let running = Binary::start(EXE, &["--store", "memory"]).await;
    place_and_read(&running.base).await;
}

#[tokio::test]
async fn serves_on_dynamodb_creating_its_table() {
    let running = Binary::start_on_dynamodb(EXE).await;
    place_and_read(&running.base).await;
    // The index exists: the listing goes through it.
    let page: Value = reqwest::get(format!("{}/orders?user_id={ALICE}", running.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_flags_are_refused_with_a_message() {
    let (code, stderr) = testkit::run_to_exit(EXE, &["--store", "sqlite"]);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("--store"), "{stderr}");
}
