//! Property: no request body, however odd, makes the users service answer 5xx (memory store).

mod common;

use common::UsersApp;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Map, Value};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        "[a-z]{1,10}@[a-z]{1,10}\\.[a-z]{2,3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bodies near the real shape: the real keys with any values, sometimes an extra key.
fn user_like() -> impl Strategy<Value = Value> {
    (
        prop::option::of(any_json()),
        prop::option::of(any_json()),
        prop::option::of((".{0,8}", any_json())),
    )
        .prop_map(|(email, name, extra)| {
            let mut body = Map::new();
            if let Some(e) = email {
                body.insert("email".into(), e);
            }
            if let Some(n) = name {
                body.insert("name".into(), n);
            }
            if let Some((k, v)) = extra {
                body.insert(k, v);
            }
            Value::Object(body)
        })
}

fn any_body() -> impl Strategy<Value = String> {
    prop_oneof![
        user_like().prop_map(|v| v.to_string()),
        any_json().prop_map(|v| v.to_string()),
        ".{0,64}",
    ]
}

fn any_if_match() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![Just("\"1\"".to_owned()), "[ -~]{0,12}"])
}

#[test]
fn random_bodies_never_produce_a_5xx() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (app, user_path) = runtime.block_on(async {
        let app = testkit::spawn_app(&users::SERVICE, testkit::Store::Memory).await;
        let user = app.create_user("fuzz@example.com", "Fuzz").await;
        let path = format!("/users/{}", user["id"].as_str().unwrap());
        (app, path)
    });
    let mut runner = TestRunner::new(Config {
        cases: 96,
        ..Config::default()
    });
    let strategy = (any::<bool>(), any_body(), any_if_match());
    runner
        .run(&strategy, |(post, body, if_match)| {
            let status = runtime.block_on(async {
                let (method, path) = if post {
                    (Method::POST, "/users")
                } else {
                    (Method::PATCH, user_path.as_str())
                };
                app.send_if_match(
                    method,
                    path,
                    "application/json",
                    body.clone(),
                    if_match.as_deref(),
                )
                .await
                .status()
            });
            prop_assert!(
                status.as_u16() < 500,
                "{status} for {body} (If-Match {if_match:?})"
            );
            Ok(())
        })
        .unwrap();
    // The runner's failures panic above; a sanity check that the service is still whole.
    let health = runtime.block_on(app.get("/health"));
    assert_eq!(health.status(), 200);
}
