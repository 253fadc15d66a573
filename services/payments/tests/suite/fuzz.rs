//! Property: no request body, idempotency key or id, however odd, makes the payments
//! service answer 5xx (memory store).

use crate::common::{ORDER, PaymentsApp};
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use testkit::fuzz;

fn any_json() -> BoxedStrategy<Value> {
    fuzz::any_json(vec![
        "[A-Z]{3}".prop_map(Value::String).boxed(),
        Just(json!(ORDER)).boxed(),
    ])
}

/// Bodies near the real shape: the real keys, sometimes missing, sometimes an extra key.
fn payment_like() -> BoxedStrategy<Value> {
    fuzz::object_like(
        vec![
            (
                "order_id",
                prop_oneof![Just(json!(ORDER)), any_json()].boxed(),
            ),
            (
                "amount_cents",
                prop_oneof![any::<i64>().prop_map(Value::from), any_json()].boxed(),
            ),
            (
                "currency",
                prop_oneof!["[A-Z]{3}".prop_map(Value::String), any_json()].boxed(),
            ),
        ],
        any_json(),
    )
}

fn any_body() -> BoxedStrategy<String> {
    fuzz::any_body(payment_like(), any_json())
}

/// Keys from a small pool (so replays and mismatches happen), odd ones, or none.
fn any_key() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof!["k[0-3]", "[ -~]{0,12}"])
}

#[test]
fn random_requests_never_produce_a_5xx() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (app, payment_id) = runtime.block_on(async {
        let app = testkit::spawn_app(&payments::SERVICE, testkit::Store::Memory).await;
        let paid = app.create_payment("seed").await;
        let id = paid["id"].as_str().unwrap().to_owned();
        (app, id)
    });
    let mut runner = TestRunner::new(Config {
        cases: 128,
        ..Config::default()
    });
    let strategy = (
        any::<bool>(),
        any_body(),
        any_key(),
        prop::option::of("[ -~]{0,40}"),
    );
    runner
        .run(&strategy, |(create, body, key, id)| {
            let status = runtime.block_on(async {
                if create {
                    app.post_raw(
                        "/payments",
                        "application/json",
                        body.clone(),
                        key.as_deref(),
                    )
                    .await
                } else {
                    let id = id
                        .as_deref()
                        .unwrap_or(&payment_id)
                        .replace(['/', '?', '#', '%', ' '], "_");
                    app.refund(&id, key.as_deref()).await
                }
                .status()
            });
            prop_assert!(
                status.as_u16() < 500,
                "{status} for {body} (key {key:?}, id {id:?})"
            );
            Ok(())
        })
        .unwrap();
    let health = runtime.block_on(app.get("/health"));
    assert_eq!(health.status(), 200);
}
