//! Property: no request body, however odd, makes the users service answer 5xx (memory store).

use crate::common::UsersApp;
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::Value;
use testkit::fuzz;

fn any_json() -> BoxedStrategy<Value> {
    fuzz::any_json(vec![
        "[a-z]{1,10}@[a-z]{1,10}\\.[a-z]{2,3}"
            .prop_map(Value::String)
            .boxed(),
    ])
}

/// Bodies near the real shape: the real keys with any values, sometimes an extra key.
fn user_like() -> BoxedStrategy<Value> {
    fuzz::object_like(
        vec![("email", any_json()), ("name", any_json())],
        any_json(),
    )
}

fn any_body() -> BoxedStrategy<String> {
    fuzz::any_body(user_like(), any_json())
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
