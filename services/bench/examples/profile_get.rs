//! `GET /orders/{id}` on the memory store, through the whole router but without a socket, in
//! a loop: a steady workload for a profiler.
//!
//! ```sh
//! cargo build --release -p service-bench --example profile_get
//! valgrind --tool=callgrind target/release/examples/profile_get 20000
//! callgrind_annotate --inclusive=yes callgrind.out.<pid> | head -60
//! ```

use axum::body::Body;
use http_body_util::BodyExt;
use hyper::Request;
use tower::ServiceExt;

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("the argument is a number of requests"))
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let region: topology::Region = "us-east-1".parse().unwrap();
    let table = kit::memory::MemoryTable::new(orders::SERVICE.name, region.clone());
    let router = (orders::SERVICE.router)(table, region);
    rt.block_on(async {
        let body = serde_json::json!({
            "user_id": "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e",
            "currency": "EUR",
            "items": [{ "sku": "SKU-1", "quantity": 2, "unit_price_cents": 1250 }]
        });
        let request = Request::post("/orders")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 201);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let order: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let path = format!("/orders/{}", order["id"].as_str().unwrap());
        for _ in 0..count {
            let request = Request::get(path.as_str())
                .header("host", "orders.example.test")
                .body(Body::empty())
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.unwrap();
        }
    });
}
