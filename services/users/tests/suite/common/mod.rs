//! What the users tests add to the shared harness (`testkit`): the calls with an optional
//! `If-Match`.

#![allow(dead_code, unused_imports)] // each test binary uses a different subset

use serde_json::Value;
pub use testkit::{TestApp, assert_problem, fields};

/// The users calls, on the shared test app.
pub trait UsersApp {
    /// Any method, content type and body, with an optional `If-Match`.
    async fn send_if_match(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: String,
        if_match: Option<&str>,
    ) -> reqwest::Response;
    /// `PATCH path` with a JSON body.
    async fn patch(&self, path: &str, body: &Value, if_match: Option<&str>) -> reqwest::Response;
    /// `DELETE path`.
    async fn delete(&self, path: &str, if_match: Option<&str>) -> reqwest::Response;
    /// Creates a user and returns its body.
    async fn create_user(&self, email: &str, name: &str) -> Value;
}

fn with_if_match(
    request: reqwest::RequestBuilder,
    if_match: Option<&str>,
) -> reqwest::RequestBuilder {
    match if_match {
        Some(v) => request.header("if-match", v),
        None => request,
    }
}

impl UsersApp for TestApp {
    async fn send_if_match(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: String,
        if_match: Option<&str>,
    ) -> reqwest::Response {
        let request = self
            .request(method, path)
            .header("content-type", content_type)
            .body(body);
        with_if_match(request, if_match).send().await.unwrap()
    }

    async fn patch(&self, path: &str, body: &Value, if_match: Option<&str>) -> reqwest::Response {
        self.send_if_match(
            reqwest::Method::PATCH,
            path,
            "application/json",
            body.to_string(),
            if_match,
        )
        .await
    }

    async fn delete(&self, path: &str, if_match: Option<&str>) -> reqwest::Response {
        let request = self.request(reqwest::Method::DELETE, path);
        with_if_match(request, if_match).send().await.unwrap()
    }

    async fn create_user(&self, email: &str, name: &str) -> Value {
        let response = self
            .post_json("/users", &serde_json::json!({"email": email, "name": name}))
            .await;
        assert_eq!(response.status(), 201, "creating {email}");
        response.json().await.unwrap()
    }
}
