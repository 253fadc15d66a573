//! Property: no request body, idempotency key or id, however odd, makes the payments
//! service answer 5xx (memory store).

mod common;

use common::{ORDER, PaymentsApp};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
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
        Just(json!(ORDER)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bodies near the real shape: the real keys, sometimes missing, sometimes an extra key.
fn payment_like() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop_oneof![Just(json!(ORDER)), any_json()]),
        prop::option::of(prop_oneof![any::<i64>().prop_map(Value::from), any_json()]),
        prop::option::of(prop_oneof!["[A-Z]{3}".prop_map(Value::String), any_json()]),
        prop::option::of((".{0,8}", any_json())),
    )
        .prop_map(|(order, amount, currency, extra)| {
            let mut body = Map::new();
            for (k, v) in [
                ("order_id", order),
                ("amount_cents", amount),
                ("currency", currency),
            ] {
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
        3 => payment_like().prop_map(|v| v.to_string()),
        1 => any_json().prop_map(|v| v.to_string()),
        1 => ".{0,64}",
    ]
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
