//! Property: no request body or query string, however odd, makes the orders service answer
//! 5xx (memory store).

mod common;

use common::ALICE;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Map, Value, json};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        "[A-Z]{3}".prop_map(Value::String),
        Just(json!(ALICE)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
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
fn order_like() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop_oneof![Just(json!(ALICE)), any_json()]),
        prop::option::of(prop_oneof!["[A-Z]{3}".prop_map(Value::String), any_json()]),
        prop::option::of(prop_oneof![
            prop::collection::vec(line_like(), 0..4).prop_map(Value::Array),
            any_json()
        ]),
        prop::option::of((".{0,8}", any_json())),
    )
        .prop_map(|(user, currency, items, extra)| {
            let mut body = Map::new();
            for (k, v) in [("user_id", user), ("currency", currency), ("items", items)] {
                if let Some(v) = v {
                    body.insert(k.into(), v);
                }
            }
            if let Some((k, v)) = extra {
                body.insert(k, v);
            }
            Value::Object(body)
        })
}

fn any_body() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => order_like().prop_map(|v| v.to_string()),
        1 => any_json().prop_map(|v| v.to_string()),
        1 => ".{0,64}",
    ]
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
