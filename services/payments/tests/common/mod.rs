//! The real payments app on a random loopback port, on either store, and helpers to talk
//! to it.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;

use kit::dynamo::DynamoTable;
use kit::memory::MemoryTable;
use kit::store::ItemTable;
use serde_json::{Value, json};
use topology::{Region, Table};

pub const ORDER: &str = "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The app's table, to check what was (not) written.
    pub table: Arc<dyn ItemTable>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn region() -> Region {
    "us-east-1".parse().unwrap()
}

impl TestApp {
    /// The service on an in-memory table.
    pub async fn memory() -> Self {
        let table = MemoryTable::new("payments", region());
        Self::spawn(payments::local_router(region(), table.clone()), table).await
    }

    /// The service on a fresh DynamoDB table in this test binary's moto server.
    pub async fn dynamodb() -> Self {
        let endpoint = tokio::task::spawn_blocking(testkit::moto).await.unwrap();
        let client = kit::dynamo::client(&region(), Some(endpoint)).await;
        let spec = Table {
            name: testkit::unique_name("payments"),
            ..payments::table_spec()
        };
        let table = Arc::new(DynamoTable::new(client, spec));
        table.create().await.expect("create the table in moto");
        let store = payments::PaymentTable::new(table.clone());
        Self::spawn(payments::router(Arc::new(store), region()), table).await
    }

    async fn spawn(router: axum::Router, table: Arc<dyn ItemTable>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            base,
            client: reqwest::Client::new(),
            table,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// How many items the table holds (payments and idempotency records).
    pub async fn item_count(&self) -> usize {
        self.table.scan("", 1000, None).await.unwrap().items.len()
    }

    /// How many payments the table holds.
    pub async fn payment_count(&self) -> usize {
        self.table
            .scan("PAYMENT#", 1000, None)
            .await
            .unwrap()
            .items
            .len()
    }

    /// A POST with any content type, body and (optional) idempotency key.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: String,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.unwrap()
    }

    /// `POST /payments` with a JSON body and an idempotency key.
    pub async fn pay(&self, body: &Value, key: Option<&str>) -> reqwest::Response {
        self.post_raw("/payments", "application/json", body.to_string(), key)
            .await
    }

    /// `POST /payments/{id}/refund` without a body.
    pub async fn refund(&self, id: &str, key: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(&format!("/payments/{id}/refund")));
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// Takes a payment under `key` and returns its body.
    pub async fn create_payment(&self, key: &str) -> Value {
        let response = self.pay(&payment_body(2500), Some(key)).await;
        assert_eq!(response.status(), 201, "paying with key {key}");
        response.json().await.unwrap()
    }
}

/// A valid payment request.
pub fn payment_body(cents: i64) -> Value {
    json!({"order_id": ORDER, "amount_cents": cents, "currency": "EUR"})
}

/// Asserts a problem+json answer of `status` and slug `kind`; returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(headers["x-region"], "us-east-1", "x-region on errors too");
    assert!(headers.contains_key("x-request-id"));
    assert!(
        !headers.contains_key("idempotent-replayed"),
        "errors are never replays"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["type"],
        format!("https://problems.multi-region.dev/{kind}"),
        "{body}"
    );
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    body
}

/// The fields a validation problem names.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}
