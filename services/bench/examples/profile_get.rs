//! `GET /orders/{id}` through the whole router but without a socket, in a loop: a steady
//! workload for a profiler. The first argument picks the router (`orders`, the default, or
//! `minimal`, the bench's floor); the second, the number of requests.
//!
//! ```sh
//! cargo build --release -p service-bench --example profile_get
//! valgrind --tool=callgrind target/release/examples/profile_get orders 20000
//! callgrind_annotate --inclusive=yes callgrind.out.<pid> | head -60
//! ```

use axum::body::Body;
use http_body_util::BodyExt;
use hyper::Request;
use service_bench::{HOST, Subject};
use tower::ServiceExt;

/// As in the service binaries.
#[global_allocator]
static ALLOCATOR: kit::serve::Allocator = kit::serve::Allocator;

fn main() {
    let mut args = std::env::args().skip(1);
    let subject = args.next().unwrap_or_else(|| "orders".into());
    let Some(subject) = Subject::parse(&subject) else {
        eprintln!("profile_get: the first argument is `orders` or `minimal`, not `{subject}`");
        std::process::exit(2);
    };
    let count: usize = match args.next().map(|n| n.parse()) {
        None => 20_000,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("profile_get: the second argument is a number of requests");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (router, path) = subject.router().await;
        for _ in 0..count {
            let request = Request::get(path.as_str())
                .header("host", HOST)
                .body(Body::empty())
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.unwrap();
        }
    });
}
