//! What the payments tests add to the shared harness (`testkit`): an order to pay for, a
//! valid payment and the calls with an optional `Idempotency-Key`.

#![allow(dead_code, unused_imports)] // each test binary uses a different subset

use serde_json::{Value, json};
pub use testkit::{TestApp, assert_problem, fields};

pub const ORDER: &str = "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e";

/// The payments calls, on the shared test app.
pub trait PaymentsApp {
    /// How many payments the table holds.
    async fn payment_count(&self) -> usize;
    /// A POST with any content type, body and (optional) idempotency key.
    async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: String,
        key: Option<&str>,
    ) -> reqwest::Response;
    /// `POST /payments` with a JSON body and an idempotency key.
    async fn pay(&self, body: &Value, key: Option<&str>) -> reqwest::Response;
    /// `POST /payments/{id}/refund` without a body.
    async fn refund(&self, id: &str, key: Option<&str>) -> reqwest::Response;
    /// Takes a payment under `key` and returns its body.
    async fn create_payment(&self, key: &str) -> Value;
}

fn with_key(request: reqwest::RequestBuilder, key: Option<&str>) -> reqwest::RequestBuilder {
    match key {
        Some(key) => request.header("idempotency-key", key),
        None => request,
    }
}

impl PaymentsApp for TestApp {
    async fn payment_count(&self) -> usize {
        self.count("PAYMENT#").await
    }

    async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: String,
        key: Option<&str>,
    ) -> reqwest::Response {
        let request = self
            .request(reqwest::Method::POST, path)
            .header("content-type", content_type)
            .body(body);
        with_key(request, key).send().await.unwrap()
    }

    async fn pay(&self, body: &Value, key: Option<&str>) -> reqwest::Response {
        self.post_raw("/payments", "application/json", body.to_string(), key)
            .await
    }

    async fn refund(&self, id: &str, key: Option<&str>) -> reqwest::Response {
        let request = self.request(reqwest::Method::POST, &format!("/payments/{id}/refund"));
        with_key(request, key).send().await.unwrap()
    }

    async fn create_payment(&self, key: &str) -> Value {
        let response = self.pay(&payment_body(2500), Some(key)).await;
        assert_eq!(response.status(), 201, "paying with key {key}");
        response.json().await.unwrap()
    }
}

/// A valid payment request.
pub fn payment_body(cents: i64) -> Value {
    json!({"order_id": ORDER, "amount_cents": cents, "currency": "EUR"})
}
