//! Benchmarks of the services, run with `just bench`: `benches/http.rs` (a service's overhead
//! over loopback HTTP next to a minimal axum handler, in requests per second and in
//! instructions per request) and `benches/lambda.rs` (each Lambda package's zipped size and
//! init time). `examples/profile_get.rs` is a steady workload for a profiler.
//!
//! This library holds what they share: the two routers compared, and the order they read.

use axum::Router;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::Request;
use tower::ServiceExt;

/// The `Host` every request carries, as a client of the local world's orders app sends.
pub const HOST: &str = "orders.example.test";

/// The route both routers answer, and the id the minimal handler is asked for.
pub const MINIMAL_PATH: &str = "/orders/0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e";

/// Which router a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A bare axum handler: the floor.
    Minimal,
    /// The orders service on its memory store, everything a request goes through included.
    Orders,
}

impl Subject {
    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Minimal => "minimal",
            Subject::Orders => "orders",
        }
    }

    /// The subject named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Subject::Minimal, Subject::Orders]
            .into_iter()
            .find(|s| s.name() == name)
    }

    /// The router and the path of a `GET` it answers with `200`: for orders, an order placed
    /// first through the router itself.
    pub async fn router(self) -> (Router, String) {
        match self {
            Subject::Minimal => (minimal_router(), MINIMAL_PATH.to_owned()),
            Subject::Orders => {
                let region: topology::Region = "us-east-1".parse().expect("a Region");
                let table = kit::memory::MemoryTable::new(orders::SERVICE.name, region.clone());
                let router = (orders::SERVICE.router)(table, region);
                let path = format!("/orders/{}", place_order(&router).await);
                (router, path)
            }
        }
    }
}

/// The floor: the same route answered by one axum handler with a JSON body, and nothing else.
pub fn minimal_router() -> Router {
    use axum::extract::Path;
    use axum::routing::get;
    Router::new().route(
        "/orders/{id}",
        get(|Path(id): Path<String>| async move { axum::Json(serde_json::json!({ "id": id })) }),
    )
}

/// Places an order through `router`; its id.
pub async fn place_order(router: &Router) -> String {
    let body = serde_json::json!({
        "user_id": "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e",
        "currency": "EUR",
        "items": [{ "sku": "SKU-1", "quantity": 2, "unit_price_cents": 1250 }]
    });
    let request = Request::post("/orders")
        .header("host", HOST)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("a request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), 201, "POST /orders failed");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    let order: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    order["id"]
        .as_str()
        .expect("the created order has an id")
        .to_owned()
}
