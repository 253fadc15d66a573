//! The contract test: schemathesis generates requests from the service's own
//! `/openapi.json` (examples, boundaries, fuzzing, stateful sequences through the links it
//! infers) and checks every answer against it, with every check and only the exceptions
//! `services/schemathesis.toml` lists. On both stores: more cases on memory, fewer on
//! DynamoDB (moto answers one call at a time). `CONTRACT_SEED=<n>` replays a run.

use testkit::contract::check_contract;
use testkit::{Store, spawn_app};

#[tokio::test]
async fn the_memory_store_keeps_the_documented_contract() {
    let app = spawn_app(&orders::SERVICE, Store::Memory).await;
    check_contract(&app, 50).await;
}

#[tokio::test]
async fn the_dynamodb_store_keeps_the_documented_contract() {
    let app = spawn_app(&orders::SERVICE, Store::Dynamodb).await;
    check_contract(&app, 10).await;
}
