//! The real app on a random loopback port, on either store, and helpers to talk to it.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;

use kit::dynamo::DynamoTable;
use kit::memory::MemoryTable;
use kit::store::ItemTable;
use serde_json::Value;
use topology::{Region, Table};

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
        let table = MemoryTable::new("users", region());
        Self::spawn(users::local_router(region(), table.clone()), table).await
    }

    /// The service on a fresh DynamoDB table in this test binary's moto server.
    pub async fn dynamodb() -> Self {
        let endpoint = tokio::task::spawn_blocking(testkit::moto).await.unwrap();
        let client = kit::dynamo::client(&region(), Some(endpoint)).await;
        let spec = Table {
            name: testkit::unique_name("users"),
            indexes: Vec::new(),
        };
        let table = Arc::new(DynamoTable::new(client, spec));
        table.create().await.expect("create the table in moto");
        let store = users::DynamoUserStore::new(table.clone(), region());
        Self::spawn(users::router(Arc::new(store), region()), table).await
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

    /// How many items the table holds.
    pub async fn item_count(&self) -> usize {
        self.table.scan("", 1000, None).await.unwrap().items.len()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.send_raw(
            reqwest::Method::POST,
            path,
            "application/json",
            body.to_string(),
            None,
        )
        .await
    }

    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: String,
        if_match: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(v) = if_match {
            request = request.header("if-match", v);
        }
        request.send().await.unwrap()
    }

    pub async fn patch(
        &self,
        path: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> reqwest::Response {
        self.send_raw(
            reqwest::Method::PATCH,
            path,
            "application/json",
            body.to_string(),
            if_match,
        )
        .await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str, if_match: Option<&str>) -> reqwest::Response {
        let mut request = self.client.delete(self.url(path));
        if let Some(v) = if_match {
            request = request.header("if-match", v);
        }
        request.send().await.unwrap()
    }

    /// Creates a user and returns its body.
    pub async fn create_user(&self, email: &str, name: &str) -> Value {
        let response = self
            .post_json("/users", &serde_json::json!({"email": email, "name": name}))
            .await;
        assert_eq!(response.status(), 201, "creating {email}");
        response.json().await.unwrap()
    }
}

/// Asserts a problem+json answer of `status` and slug `kind`; returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(headers["x-region"], "us-east-1", "x-region on errors too");
    assert!(headers.contains_key("x-request-id"));
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
