//! Property: no request body or query string, however odd, makes the orders service answer
//! 5xx (memory store).

use crate::common::ALICE;
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::fuzz;

fn any_json() -> BoxedStrategy<Value> {
    fuzz::any_json(vec![
        "[A-Z]{3}".prop_map(Value::String).boxed(),
        Just(json!(ALICE)).boxed(),
    ])
}

/// A line near the real shape: the real keys with extreme numbers or any values.
fn line_like() -> impl Strategy<Value = Value> {
    let number = prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any_json()
    ];
    (prop_oneof!["[A-Z0-9-]{1,8}".prop_map(Value::String), any_json()], number.clone(), number)
        .prop_map(|(sku, quantity, price)| json!({"sku": sku, "quantity": quantity, "unit_price_cents": price}))
}

/// Bodies near the real shape: the real keys, sometimes missing, sometimes an extra key.
fn order_like() -> BoxedStrategy<Value> {
    fuzz::object_like(
        vec![
            (
                "user_id",
                prop_oneof![Just(json!(ALICE)), any_json()].boxed(),
            ),
            (
                "currency",
                prop_oneof!["[A-Z]{3}".prop_map(Value::String), any_json()].boxed(),
            ),
            (
                "items",
                prop_oneof![
                    prop::collection::vec(line_like(), 0..4).prop_map(Value::Array),
                    any_json()
                ]
                .boxed(),
            ),
        ],
        any_json(),
    )
}

fn any_body() -> BoxedStrategy<String> {
    fuzz::any_body(order_like(), any_json())
}

/// Query strings for `GET /orders`, percent-encoding left to chance.
fn any_query() -> impl Strategy<Value = String> {
    let value = prop_oneof![Just(ALICE.to_owned()), "[ -~]{0,16}", "-?[0-9]{1,22}"];
    prop::collection::vec(
        (
            prop_oneof![Just("user_id"), Just("limit"), Just("cursor"), Just("x")],
            value,
        ),
        0..4,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", v.replace(['&', '#', ' '], "%20")))
            .collect::<Vec<_>>()
            .join("&")
    })
}

#[test]
fn random_requests_never_produce_a_5xx() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(testkit::spawn_app(&orders::SERVICE, testkit::Store::Memory));
    let mut runner = TestRunner::new(Config {
        cases: 128,
        ..Config::default()
    });
    let strategy = (0..3u8, any_body(), any_query(), "[ -~]{0,40}");
    runner
        .run(&strategy, |(endpoint, body, query, id)| {
            let status = runtime.block_on(async {
                let response = match endpoint {
                    0 => {
                        app.send_raw(Method::POST, "/orders", "application/json", body.clone())
                            .await
                    }
                    1 => app.get(&format!("/orders?{query}")).await,
                    _ => {
                        let id = id.replace(['/', '?', '#', '%', ' '], "_");
                        app.send_raw(
                            Method::POST,
                            &format!("/orders/{id}/cancel"),
                            "application/json",
                            body.clone(),
                        )
                        .await
                    }
                };
                response.status()
            });
            prop_assert!(
                status.as_u16() < 500,
                "{status} for endpoint {endpoint}: {body} / ?{query} / {id}"
            );
            Ok(())
        })
        .unwrap();
    let health = runtime.block_on(app.get("/health"));
    assert_eq!(health.status(), 200);
}
