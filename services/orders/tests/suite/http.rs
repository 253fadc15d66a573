//! The orders API over real HTTP, once on the memory store and once on DynamoDB (moto):
//! every test body below runs against both.

use crate::common::{ALICE, BOB, OrdersApp, TestApp, assert_problem, fields, order_body};
use reqwest::Method;
use serde_json::{Value, json};

testkit::on_both_stores!(
    orders::SERVICE;
    place_read_and_cancel, lists_page_by_user_with_a_cursor, malformed_json_is_400,
    wrong_content_type_is_415, bodies_over_64_kib_are_413, invalid_fields_are_422_naming_each,
    shape_errors_are_422_naming_the_field, unknown_ids_are_404,
    cancelling_a_cancelled_order_is_409, concurrent_cancels_have_one_winner,
    list_parameters_are_checked, health_and_identity,
);

/// The descriptor's router is the service: `GET /` names it as the descriptor does.
#[tokio::test]
async fn the_descriptor_serves_its_name() {
    testkit::assert_serves_its_name(&orders::SERVICE).await;
}

async fn place_read_and_cancel(app: TestApp) {
    let response = app.post_json("/orders", &order_body(ALICE)).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-region"], "us-east-1");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let placed: Value = response.json().await.unwrap();
    let id = placed["id"].as_str().unwrap();
    assert_eq!(location, format!("/orders/{id}"));
    assert_eq!(placed["user_id"], ALICE);
    assert_eq!(placed["currency"], "EUR");
    assert_eq!(placed["total_cents"], 2599);
    assert_eq!(placed["items"][0]["line_total_cents"], 2500);
    assert_eq!(placed["items"][1]["sku"], "SKU-2");
    assert_eq!(
        (placed["status"].as_str(), placed["version"].as_u64()),
        (Some("pending"), Some(1))
    );
    assert_eq!(placed["region"], "us-east-1");
    assert_eq!(placed["created_at"], placed["updated_at"]);

    let read = app.get(&location).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await.unwrap(), placed);

    let cancelled = app.cancel(id).await;
    assert_eq!(cancelled.status(), 200);
    let cancelled: Value = cancelled.json().await.unwrap();
    assert_eq!(
        (cancelled["status"].as_str(), cancelled["version"].as_u64()),
        (Some("cancelled"), Some(2))
    );
    assert_eq!(cancelled["created_at"], placed["created_at"]);
    assert_eq!(cancelled["total_cents"], 2599);
    let read: Value = app.get(&location).await.json().await.unwrap();
    assert_eq!(read, cancelled);
    assert_eq!(app.item_count().await, 1);
}

async fn lists_page_by_user_with_a_cursor(app: TestApp) {
    let mut alices = Vec::new();
    for i in 0..5 {
        alices.push(app.place(ALICE).await["id"].as_str().unwrap().to_owned());
        if i % 2 == 0 {
            app.place(BOB).await;
        }
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let query = match &cursor {
            Some(c) => format!("/orders?user_id={ALICE}&limit=2&cursor={c}"),
            None => format!("/orders?user_id={ALICE}&limit=2"),
        };
        let response = app.get(&query).await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        for order in items {
            assert_eq!(order["user_id"], ALICE);
            seen.push(order["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, alices, "every order of Alice's once, oldest first");
    let bobs: Value = app
        .get(&format!("/orders?user_id={BOB}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bobs["items"].as_array().unwrap().len(), 3);
    assert!(bobs.get("next_cursor").is_none());
    let nobody = "0190b7a4-5f7e-7c3a-9d2e-000000000000";
    let empty: Value = app
        .get(&format!("/orders?user_id={nobody}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty, json!({"items": []}));
}

async fn malformed_json_is_400(app: TestApp) {
    let trailing = format!("{} x", order_body(ALICE));
    for body in [
        r#"{"x":"#,
        r#"{"user_id": "#,
        "not json",
        &trailing,
        "",
        r#"{"user_id": "a",}"#,
    ] {
        let response = app
            .send_raw(Method::POST, "/orders", "application/json", body.into())
            .await;
        assert_problem(response, 400, "bad-request").await;
    }
    assert_eq!(app.item_count().await, 0, "nothing was written");
}

async fn wrong_content_type_is_415(app: TestApp) {
    let body = order_body(ALICE).to_string();
    for ct in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let response = app
            .send_raw(Method::POST, "/orders", ct, body.clone())
            .await;
        assert_problem(response, 415, "unsupported-media-type").await;
    }
    assert_eq!(app.item_count().await, 0);
}

async fn bodies_over_64_kib_are_413(app: TestApp) {
    let mut body = order_body(ALICE);
    body["items"][0]["sku"] = json!("A".repeat(65 * 1024));
    let response = app.post_json("/orders", &body).await;
    assert_problem(response, 413, "payload-too-large").await;
    assert_eq!(app.item_count().await, 0);
}

async fn invalid_fields_are_422_naming_each(app: TestApp) {
    let body = json!({
        "user_id": "alice", "currency": "euro",
        "items": [
            {"sku": "ok", "quantity": 1, "unit_price_cents": 1},
            {"sku": "bad sku", "quantity": 0, "unit_price_cents": -5}
        ]
    });
    let problem = assert_problem(app.post_json("/orders", &body).await, 422, "validation").await;
    assert_eq!(
        fields(&problem),
        [
            "user_id",
            "currency",
            "items[1].sku",
            "items[1].quantity",
            "items[1].unit_price_cents"
        ]
    );
    let cases = [
        (
            json!({"user_id": ALICE, "currency": "EUR", "items": []}),
            "items",
        ),
        (
            // Each line fits; their sum is over 2^53 − 1 minor units.
            json!({"user_id": ALICE, "currency": "EUR", "items": [
                {"sku": "A", "quantity": 1, "unit_price_cents": 9_007_199_254_740_991_i64},
                {"sku": "B", "quantity": 1, "unit_price_cents": 1}
            ]}),
            "items",
        ),
        (
            json!({"user_id": ALICE, "currency": "EUR", "items": [
                {"sku": "A", "quantity": 10_001, "unit_price_cents": 1}
            ]}),
            "items[0].quantity",
        ),
    ];
    for (body, field) in cases {
        let problem =
            assert_problem(app.post_json("/orders", &body).await, 422, "validation").await;
        assert_eq!(fields(&problem), [field], "{body}");
    }
    assert_eq!(app.item_count().await, 0);
}

async fn shape_errors_are_422_naming_the_field(app: TestApp) {
    let cases = [
        (json!({"user_id": ALICE, "items": []}), "currency"),
        (
            json!({"user_id": ALICE, "currency": "EUR", "items": {}}),
            "items",
        ),
        (
            json!({"user_id": ALICE, "currency": "EUR", "items": [{"sku": "A", "quantity": 1.5, "unit_price_cents": 1}]}),
            "items[0].quantity",
        ),
        (
            json!({"user_id": ALICE, "currency": "EUR", "items": [{"sku": "A", "quantity": 1}]}),
            "items[0].unit_price_cents",
        ),
        (
            json!({"user_id": ALICE, "currency": "EUR", "items": [], "total_cents": 1}),
            "total_cents",
        ),
        (json!([ALICE]), "$"),
    ];
    for (body, field) in cases {
        let problem =
            assert_problem(app.post_json("/orders", &body).await, 422, "validation").await;
        assert_eq!(fields(&problem), [field], "{body}");
    }
    assert_eq!(app.item_count().await, 0);
}

async fn unknown_ids_are_404(app: TestApp) {
    let unknown = uuid::Uuid::now_v7().to_string();
    for id in [
        unknown.as_str(),
        "not-a-uuid",
        "6f1c1f4e-3b1a-4b8e-9a8e-2f0c1d2e3f4a",
    ] {
        assert_problem(app.get(&format!("/orders/{id}")).await, 404, "not-found").await;
        assert_problem(app.cancel(id).await, 404, "not-found").await;
    }
    assert_problem(app.get("/nowhere").await, 404, "not-found").await;
    assert_eq!(
        app.item_count().await,
        0,
        "a cancellation never creates an order"
    );
}

async fn cancelling_a_cancelled_order_is_409(app: TestApp) {
    let order = app.place(ALICE).await;
    let id = order["id"].as_str().unwrap();
    assert_eq!(app.cancel(id).await.status(), 200);
    let before: Value = app
        .get(&format!("/orders/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let problem = assert_problem(app.cancel(id).await, 409, "order-not-pending").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("cancelled"),
        "{problem}"
    );
    let after: Value = app
        .get(&format!("/orders/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, before, "nothing was written");
}

async fn concurrent_cancels_have_one_winner(app: TestApp) {
    let order = app.place(ALICE).await;
    let id = order["id"].as_str().unwrap();
    let cancels = (0..8).map(|_| async { app.cancel(id).await.status().as_u16() });
    let mut statuses = futures::future::join_all(cancels).await;
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409]);
    let read: Value = app
        .get(&format!("/orders/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["version"], 2, "exactly one cancellation was written");
}

async fn list_parameters_are_checked(app: TestApp) {
    let other_cursor = {
        for _ in 0..2 {
            app.place(BOB).await;
        }
        let page: Value = app
            .get(&format!("/orders?user_id={BOB}&limit=1"))
            .await
            .json()
            .await
            .unwrap();
        page["next_cursor"].as_str().unwrap().to_owned()
    };
    let cases = [
        ("".to_owned(), "user_id"),
        ("user_id=bob".to_owned(), "user_id"),
        (format!("user_id={ALICE}&limit=0"), "limit"),
        (format!("user_id={ALICE}&limit=101"), "limit"),
        (format!("user_id={ALICE}&limit=many"), "limit"),
        (format!("user_id={ALICE}&cursor=nope"), "cursor"),
        (format!("user_id={ALICE}&cursor={other_cursor}"), "cursor"),
    ];
    for (query, field) in cases {
        let response = app.get(&format!("/orders?{query}")).await;
        let problem = assert_problem(response, 400, "bad-request").await;
        assert_eq!(fields(&problem), [field], "{query}");
    }
}

/// The store switched off: requests fail as 503 problems, and health says so.
#[tokio::test]
async fn an_unavailable_store_is_503() {
    let app = testkit::spawn_switched_off(&orders::SERVICE).await;
    let placed = app.post_json("/orders", &order_body(ALICE)).await;
    assert_problem(placed, 503, "unavailable").await;
    let listed = app.get(&format!("/orders?user_id={ALICE}")).await;
    assert_problem(listed, 503, "unavailable").await;
    assert_eq!(app.get("/health").await.status(), 503);
}

async fn health_and_identity(app: TestApp) {
    testkit::assert_shared_surface(
        &app,
        &orders::SERVICE,
        &[
            ("/orders", "post"),
            ("/orders", "get"),
            ("/orders/{id}", "get"),
            ("/orders/{id}/cancel", "post"),
        ],
    )
    .await;
}
