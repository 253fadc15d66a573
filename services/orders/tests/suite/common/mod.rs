//! What the orders tests add to the shared harness (`testkit`): two users, a valid order and
//! the calls the tests make often.

#![allow(dead_code, unused_imports)] // each test binary uses a different subset

use serde_json::{Value, json};
pub use testkit::{TestApp, assert_problem, fields};

pub const ALICE: &str = "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e";
pub const BOB: &str = "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8f";

/// The orders calls, on the shared test app.
pub trait OrdersApp {
    /// `POST /orders/{id}/cancel` without a body.
    async fn cancel(&self, id: &str) -> reqwest::Response;
    /// Places an order of `user` and returns its body.
    async fn place(&self, user: &str) -> Value;
}

impl OrdersApp for TestApp {
    async fn cancel(&self, id: &str) -> reqwest::Response {
        self.request(reqwest::Method::POST, &format!("/orders/{id}/cancel"))
            .send()
            .await
            .unwrap()
    }

    async fn place(&self, user: &str) -> Value {
        let response = self.post_json("/orders", &order_body(user)).await;
        assert_eq!(response.status(), 201, "placing an order for {user}");
        response.json().await.unwrap()
    }
}

/// A valid order: two lines, 2 × 12.50 + 1 × 0.99 EUR.
pub fn order_body(user: &str) -> Value {
    json!({
        "user_id": user,
        "currency": "EUR",
        "items": [
            {"sku": "SKU-1", "quantity": 2, "unit_price_cents": 1250},
            {"sku": "SKU-2", "quantity": 1, "unit_price_cents": 99}
        ]
    })
}
