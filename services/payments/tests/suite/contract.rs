//! The contract test: requests generated from the service's own `/openapi.json` (valid ones
//! and ones breaking each documented constraint), each answer checked against the document,
//! on both stores. Many cases on memory, fewer on DynamoDB (moto answers one at a time).
//! `CONTRACT_SEED=<n>` replays a run.

use testkit::contract::{Semantic, check_contract};
use testkit::{Store, spawn_app};

const SEMANTIC: &[Semantic] = &[];

#[tokio::test]
async fn the_memory_store_keeps_the_documented_contract() {
    let app = spawn_app(&payments::SERVICE, Store::Memory).await;
    let sent = check_contract(&app, 200, SEMANTIC).await;
    println!("{sent} requests kept the contract");
}

#[tokio::test]
async fn the_dynamodb_store_keeps_the_documented_contract() {
    let app = spawn_app(&payments::SERVICE, Store::Dynamodb).await;
    let sent = check_contract(&app, 15, SEMANTIC).await;
    println!("{sent} requests kept the contract");
}
