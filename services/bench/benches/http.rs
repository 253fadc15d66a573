//! `GET /orders/{id}` on the memory store over loopback HTTP, next to a minimal axum handler
//! (the floor), then the release binary's size and its start-to-first-200 time.
//!
//! Closed loop: a fixed number of keep-alive connections, each sending its next request as soon
//! as the previous one is answered. The server gets one core and the client the other, so the
//! ratio to the floor is the service's own overhead (routing, layers, store, JSON).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

const CONNECTIONS: usize = 32;
const WARM_UP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(5);

fn main() {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let region: topology::Region = "us-east-1".parse().unwrap();

    let floor = server.block_on(serve(minimal_router()));
    let table = kit::memory::MemoryTable::new(orders::SERVICE.name, region.clone());
    let ours = server.block_on(serve((orders::SERVICE.router)(table, region)));
    let id = client.block_on(create_order(ours));

    println!(
        "GET /orders/{{id}}, {CONNECTIONS} keep-alive connections, {}s each, server and client on one core each",
        MEASURE.as_secs()
    );
    let floor_result = client.block_on(measure(
        floor,
        "/orders/0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e".into(),
    ));
    let ours_result = client.block_on(measure(ours, format!("/orders/{id}")));
    println!("{:<28} {:>10} {:>10} {:>10}", "", "req/s", "p50", "p99");
    floor_result.print("minimal axum handler");
    ours_result.print("orders (memory store)");
    println!(
        "overhead: {:.2}x the floor's time per request ({:.0}% of its rate)",
        floor_result.rps / ours_result.rps,
        100.0 * ours_result.rps / floor_result.rps
    );
    drop(server);

    binary_size_and_start_time();
}

fn minimal_router() -> Router {
    use axum::extract::Path;
    use axum::routing::get;
    Router::new().route(
        "/orders/{id}",
        get(|Path(id): Path<String>| async move { axum::Json(serde_json::json!({ "id": id })) }),
    )
}

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

async fn create_order(addr: SocketAddr) -> String {
    let body = serde_json::json!({
        "user_id": "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e",
        "currency": "EUR",
        "items": [{ "sku": "SKU-1", "quantity": 2, "unit_price_cents": 1250 }]
    });
    let mut sender = connect(addr).await;
    let request = Request::post("/orders")
        .header("host", "orders.example.test")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 201, "POST /orders failed");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let order: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    order["id"]
        .as_str()
        .expect("the created order has an id")
        .to_owned()
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Sender {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

struct Outcome {
    rps: f64,
    latency: Histogram<u64>,
}

impl Outcome {
    fn print(&self, name: &str) {
        let us = |q: f64| format!("{} µs", self.latency.value_at_quantile(q));
        println!(
            "{name:<28} {:>10.0} {:>10} {:>10}",
            self.rps,
            us(0.50),
            us(0.99)
        );
    }
}

async fn measure(addr: SocketAddr, path: String) -> Outcome {
    run_for(addr, &path, WARM_UP).await;
    let started = Instant::now();
    let histograms = run_for(addr, &path, MEASURE).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for h in &histograms {
        latency.add(h).unwrap();
    }
    Outcome {
        rps: latency.len() as f64 / elapsed,
        latency,
    }
}

async fn run_for(addr: SocketAddr, path: &str, length: Duration) -> Vec<Histogram<u64>> {
    let until = Instant::now() + length;
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let path = path.to_owned();
            tokio::spawn(async move {
                let mut sender = connect(addr).await;
                let mut latency = Histogram::<u64>::new(3).unwrap();
                while Instant::now() < until {
                    let request = Request::get(path.as_str())
                        .header("host", "orders.example.test")
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    let sent = Instant::now();
                    let response = sender.send_request(request).await.unwrap();
                    assert_eq!(response.status(), 200);
                    response.into_body().collect().await.unwrap();
                    latency.record(sent.elapsed().as_micros() as u64).unwrap();
                }
                latency
            })
        })
        .collect();
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

/// Builds the release binary, then reports its size and the median of 10 starts to first 200.
fn binary_size_and_start_time() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("\nbuilding the release binary of orders (cargo build --release -p orders) …");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "orders", "--quiet"])
        .status()
        .unwrap();
    assert!(status.success(), "release build failed");
    let binary = target_dir().join("release/orders");
    let size = std::fs::metadata(&binary).unwrap().len();
    println!(
        "release binary {}: {:.1} MiB",
        binary.display(),
        size as f64 / 1048576.0
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut starts: Vec<Duration> = (0..10)
        .map(|_| rt.block_on(start_to_first_200(&binary)))
        .collect();
    starts.sort();
    println!(
        "start to first 200 (GET /health): median {:.1} ms, worst {:.1} ms",
        ms(starts[5]),
        ms(starts[9])
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

async fn start_to_first_200(binary: &PathBuf) -> Duration {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args([
            "--listen",
            &addr.to_string(),
            "--region",
            "us-east-1",
            "--store",
            "memory",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let took = loop {
        if let Ok(stream) = TcpStream::connect(addr).await {
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let request = Request::get("/health")
                .header("host", "orders")
                .body(Full::new(Bytes::new()))
                .unwrap();
            if sender
                .send_request(request)
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                break started.elapsed();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "orders did not answer within 10 s"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    child.kill().ok();
    child.wait().ok();
    took
}
