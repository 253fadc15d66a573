//! The payments API over real HTTP, once on the memory store and once on DynamoDB (moto):
//! every test body below runs against both.

use crate::common::{ORDER, PaymentsApp, TestApp, assert_problem, fields, payment_body};
use serde_json::{Value, json};

testkit::on_both_stores!(
    payments::SERVICE;
    capture_read_and_refund, the_same_key_and_body_replays_the_response,
    the_same_key_with_another_body_is_422, refund_retries_replay_and_do_not_409,
    refunding_a_refunded_payment_is_409, a_missing_idempotency_key_is_400,
    an_unusable_idempotency_key_is_400, malformed_json_is_400, wrong_content_type_is_415,
    bodies_over_64_kib_are_413, invalid_fields_are_422_naming_each, unknown_ids_are_404,
    twenty_concurrent_identical_posts_make_one_payment, concurrent_refunds_refund_once,
    health_and_identity,
);

/// The descriptor's router is the service: `GET /` names it as the descriptor does.
#[tokio::test]
async fn the_descriptor_serves_its_name() {
    testkit::assert_serves_its_name(&payments::SERVICE).await;
}

async fn capture_read_and_refund(app: TestApp) {
    let response = app.pay(&payment_body(2500), Some("pay-1")).await;
    assert_eq!(response.status(), 201);
    assert!(!response.headers().contains_key("idempotent-replayed"));
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let paid: Value = response.json().await.unwrap();
    let id = paid["id"].as_str().unwrap();
    assert_eq!(location, format!("/payments/{id}"));
    assert_eq!(
        (
            paid["order_id"].as_str(),
            paid["amount_cents"].as_u64(),
            paid["currency"].as_str()
        ),
        (Some(ORDER), Some(2500), Some("EUR"))
    );
    assert_eq!(
        (
            paid["status"].as_str(),
            paid["version"].as_u64(),
            paid["region"].as_str()
        ),
        (Some("captured"), Some(1), Some("us-east-1"))
    );
    let read = app.get(&location).await;
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await.unwrap(), paid);

    let refunded = app.refund(id, Some("refund-1")).await;
    assert_eq!(refunded.status(), 200);
    let refunded: Value = refunded.json().await.unwrap();
    assert_eq!(
        (refunded["status"].as_str(), refunded["version"].as_u64()),
        (Some("refunded"), Some(2))
    );
    assert_eq!(refunded["created_at"], paid["created_at"]);
    assert_eq!(
        app.get(&location).await.json::<Value>().await.unwrap(),
        refunded
    );
    assert_eq!(app.payment_count().await, 1);
    assert_eq!(app.item_count().await, 3, "one payment and two key records");
}

async fn the_same_key_and_body_replays_the_response(app: TestApp) {
    let first = app.pay(&payment_body(999), Some("k-replay")).await;
    assert_eq!(first.status(), 201);
    let first: String = first.text().await.unwrap();
    // The same request, spelt differently: members reordered, whitespace added.
    let respelt = format!(r#"{{ "currency": "EUR", "amount_cents": 999, "order_id": "{ORDER}" }}"#);
    for body in [payment_body(999).to_string(), respelt] {
        let again = app
            .post_raw("/payments", "application/json", body, Some("k-replay"))
            .await;
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.headers()["content-type"], "application/json");
        assert_eq!(
            again.text().await.unwrap(),
            first,
            "the stored body, byte for byte"
        );
    }
    assert_eq!(app.payment_count().await, 1);
    assert_eq!(app.item_count().await, 2);
}

async fn the_same_key_with_another_body_is_422(app: TestApp) {
    let paid = app.create_payment("k-1").await;
    let response = app.pay(&payment_body(2501), Some("k-1")).await;
    let problem = assert_problem(response, 422, "idempotency-key-reused").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("k-1"),
        "{problem}"
    );
    // A payment's key is not a refund's key either.
    let response = app.refund(paid["id"].as_str().unwrap(), Some("k-1")).await;
    assert_problem(response, 422, "idempotency-key-reused").await;
    let read: Value = app
        .get(&format!("/payments/{}", paid["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, paid, "nothing was refunded");
    assert_eq!(app.item_count().await, 2, "nothing was written");
}

async fn refund_retries_replay_and_do_not_409(app: TestApp) {
    let paid = app.create_payment("pay").await;
    let id = paid["id"].as_str().unwrap();
    let first = app.refund(id, Some("refund")).await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    let retry = app.refund(id, Some("refund")).await;
    assert_eq!(retry.status(), 200);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.text().await.unwrap(), first);
    // The refund key used for another payment's refund is another request.
    let other = app.create_payment("pay-2").await;
    let response = app
        .refund(other["id"].as_str().unwrap(), Some("refund"))
        .await;
    assert_problem(response, 422, "idempotency-key-reused").await;
    assert_eq!(app.item_count().await, 5, "two payments, three key records");
}

async fn refunding_a_refunded_payment_is_409(app: TestApp) {
    let paid = app.create_payment("pay").await;
    let id = paid["id"].as_str().unwrap();
    assert_eq!(app.refund(id, Some("r-1")).await.status(), 200);
    let problem = assert_problem(
        app.refund(id, Some("r-2")).await,
        409,
        "payment-not-captured",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("refunded"),
        "{problem}"
    );
    // A refused request stores nothing: its key is still free.
    assert_eq!(app.item_count().await, 3);
    let read: Value = app
        .get(&format!("/payments/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["version"], 2);
}

async fn a_missing_idempotency_key_is_400(app: TestApp) {
    let response = app.pay(&payment_body(100), None).await;
    let problem = assert_problem(response, 400, "bad-request").await;
    assert_eq!(fields(&problem), ["Idempotency-Key"]);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key")
    );
    let paid = app.create_payment("pay").await;
    let response = app.refund(paid["id"].as_str().unwrap(), None).await;
    assert_problem(response, 400, "bad-request").await;
    assert_eq!(
        app.item_count().await,
        2,
        "only the payment made with a key"
    );
}

async fn an_unusable_idempotency_key_is_400(app: TestApp) {
    let too_long = "k".repeat(256);
    for key in ["", "has space", too_long.as_str()] {
        let response = app.pay(&payment_body(100), Some(key)).await;
        assert_problem(response, 400, "bad-request").await;
    }
    assert_eq!(app.item_count().await, 0);
}

async fn malformed_json_is_400(app: TestApp) {
    let trailing = format!("{} x", payment_body(100));
    for body in [r#"{"x":"#, r#"{"order_id": "#, "not json", &trailing, ""] {
        let response = app
            .post_raw("/payments", "application/json", body.into(), Some("k"))
            .await;
        assert_problem(response, 400, "bad-request").await;
    }
    assert_eq!(app.item_count().await, 0, "nothing was written");
}

async fn wrong_content_type_is_415(app: TestApp) {
    let body = payment_body(100).to_string();
    for ct in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let response = app.post_raw("/payments", ct, body.clone(), Some("k")).await;
        assert_problem(response, 415, "unsupported-media-type").await;
    }
    assert_eq!(app.item_count().await, 0);
}

async fn bodies_over_64_kib_are_413(app: TestApp) {
    let mut body = payment_body(100);
    body["currency"] = json!("E".repeat(65 * 1024));
    let response = app.pay(&body, Some("k")).await;
    assert_problem(response, 413, "payload-too-large").await;
    assert_eq!(app.item_count().await, 0);
}

async fn invalid_fields_are_422_naming_each(app: TestApp) {
    let body = json!({"order_id": "order-1", "amount_cents": 0, "currency": "eur"});
    let problem = assert_problem(app.pay(&body, Some("k")).await, 422, "validation").await;
    assert_eq!(fields(&problem), ["order_id", "amount_cents", "currency"]);
    let cases = [
        (
            json!({"order_id": ORDER, "amount_cents": -1, "currency": "EUR"}),
            "amount_cents",
        ),
        (
            json!({"order_id": ORDER, "amount_cents": 9_007_199_254_740_992_i64, "currency": "EUR"}),
            "amount_cents",
        ),
        (
            json!({"order_id": ORDER, "amount_cents": 1.5, "currency": "EUR"}),
            "amount_cents",
        ),
        (
            json!({"order_id": ORDER, "currency": "EUR"}),
            "amount_cents",
        ),
        (
            json!({"order_id": ORDER, "amount_cents": 1, "currency": "EUR", "status": "refunded"}),
            "status",
        ),
        (json!([ORDER]), "$"),
    ];
    for (body, field) in cases {
        let problem = assert_problem(app.pay(&body, Some("k")).await, 422, "validation").await;
        assert_eq!(fields(&problem), [field], "{body}");
    }
    assert_eq!(app.item_count().await, 0, "refused requests use no key");
    // The key is still free for a correct request.
    assert_eq!(app.pay(&payment_body(1), Some("k")).await.status(), 201);
}

async fn unknown_ids_are_404(app: TestApp) {
    let unknown = uuid::Uuid::now_v7().to_string();
    for id in [unknown.as_str(), "not-a-uuid", ORDER] {
        assert_problem(app.get(&format!("/payments/{id}")).await, 404, "not-found").await;
        assert_problem(
            app.refund(id, Some(&format!("r-{id}"))).await,
            404,
            "not-found",
        )
        .await;
    }
    assert_eq!(
        app.item_count().await,
        0,
        "a refund never creates a payment or uses its key"
    );
}

async fn twenty_concurrent_identical_posts_make_one_payment(app: TestApp) {
    let requests = (0..20).map(|_| async {
        let response = app.pay(&payment_body(4200), Some("race")).await;
        let replayed = response.headers().contains_key("idempotent-replayed");
        (
            response.status().as_u16(),
            replayed,
            response.text().await.unwrap(),
        )
    });
    let answers = futures::future::join_all(requests).await;
    assert!(
        answers.iter().all(|(status, _, _)| *status == 201),
        "{answers:?}"
    );
    let originals = answers.iter().filter(|(_, replayed, _)| !replayed).count();
    assert_eq!(
        originals, 1,
        "one request made the payment, the others replayed it"
    );
    let body = &answers[0].2;
    assert!(
        answers.iter().all(|(_, _, b)| b == body),
        "every answer is the same payment"
    );
    assert_eq!(app.payment_count().await, 1);
    assert_eq!(app.item_count().await, 2);
}

async fn concurrent_refunds_refund_once(app: TestApp) {
    let paid = app.create_payment("pay").await;
    let id = paid["id"].as_str().unwrap();
    // One key, many retries at once: one refund, replayed to the others.
    let same_key = (0..10).map(|_| async {
        let response = app.refund(id, Some("refund-once")).await;
        let replayed = response.headers().contains_key("idempotent-replayed");
        (response.status().as_u16(), replayed)
    });
    let answers = futures::future::join_all(same_key).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    assert_eq!(answers.iter().filter(|(_, replayed)| !replayed).count(), 1);
    // Distinct keys at once on a fresh payment: one refund, the others see it refunded.
    let other = app.create_payment("pay-2").await;
    let other_id = other["id"].as_str().unwrap();
    let app = &app;
    let distinct = (0..6).map(|i| async move {
        app.refund(other_id, Some(&format!("refund-{i}")))
            .await
            .status()
            .as_u16()
    });
    let mut statuses = futures::future::join_all(distinct).await;
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409]);
    assert_eq!(app.payment_count().await, 2);
    assert_eq!(
        app.item_count().await,
        6,
        "two payments, two payment keys, two refund keys"
    );
}

/// The store switched off: requests fail as 503 problems (after bounded retries), health
/// says so, and the key stays usable once the store is back.
#[tokio::test]
async fn an_unavailable_store_is_503() {
    let app = testkit::spawn_app(&payments::SERVICE, testkit::Store::Memory).await;
    let body = payment_body(100);
    let pay = || app.pay(&body, Some("during-outage"));
    app.set_available(false);
    assert_problem(pay().await, 503, "unavailable").await;
    assert_eq!(app.get("/health").await.status(), 503);
    app.set_available(true);
    let response = pay().await;
    assert_eq!(response.status(), 201);
    assert!(!response.headers().contains_key("idempotent-replayed"));
}

async fn health_and_identity(app: TestApp) {
    let spec = testkit::assert_shared_surface(
        &app,
        &payments::SERVICE,
        &[
            ("/payments", "post"),
            ("/payments/{id}", "get"),
            ("/payments/{id}/refund", "post"),
        ],
    )
    .await;
    let params = spec["paths"]["/payments"]["post"]["parameters"].to_string();
    assert!(params.contains("Idempotency-Key"), "{params}");
    let created = &spec["paths"]["/payments"]["post"]["responses"]["201"];
    assert!(
        created["headers"]["idempotent-replayed"].is_object(),
        "{created}"
    );
}
