//! `GET /orders/{id}` on the memory store over loopback HTTP, next to a minimal axum handler
//! (the floor), side by side: the two are measured in alternating one-second rounds, so that
//! whatever else the machine does at the time weighs on both alike.
//!
//! Closed loop: a fixed number of keep-alive connections, each sending its next request as soon
//! as the previous one is answered. The server gets one core and the client the other, so the
//! ratio to the floor is the service's own overhead (routing, layers, store, JSON).

use std::net::SocketAddr;
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
const ROUND: Duration = Duration::from_secs(1);
const ROUNDS: u32 = 6;

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
    let floor_path = "/orders/0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e".to_owned();
    let ours_path = format!("/orders/{id}");

    println!(
        "GET /orders/{{id}}, {CONNECTIONS} keep-alive connections, {ROUNDS} alternating rounds of \
         {}s each, server and client on one core each",
        ROUND.as_secs()
    );
    client.block_on(run_for(floor, &floor_path, WARM_UP));
    client.block_on(run_for(ours, &ours_path, WARM_UP));
    let mut floor_result = Outcome::default();
    let mut ours_result = Outcome::default();
    for _ in 0..ROUNDS {
        floor_result.add(client.block_on(measure(floor, &floor_path)));
        ours_result.add(client.block_on(measure(ours, &ours_path)));
    }
    println!("{:<28} {:>10} {:>10} {:>10}", "", "req/s", "p50", "p99");
    floor_result.print("minimal axum handler");
    ours_result.print("orders (memory store)");
    println!(
        "orders / minimal handler: {:.2}x the rate ({:.2}x the time per request)",
        ours_result.rps() / floor_result.rps(),
        floor_result.rps() / ours_result.rps(),
    );
    drop(server);
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

/// Requests answered, their latencies and the time spent, summed over rounds.
struct Outcome {
    latency: Histogram<u64>,
    elapsed: Duration,
}

impl Default for Outcome {
    fn default() -> Self {
        Self {
            latency: Histogram::new(3).unwrap(),
            elapsed: Duration::ZERO,
        }
    }
}

impl Outcome {
    fn add(&mut self, other: Outcome) {
        self.latency.add(&other.latency).unwrap();
        self.elapsed += other.elapsed;
    }

    fn rps(&self) -> f64 {
        self.latency.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn print(&self, name: &str) {
        let us = |q: f64| format!("{} µs", self.latency.value_at_quantile(q));
        println!(
            "{name:<28} {:>10.0} {:>10} {:>10}",
            self.rps(),
            us(0.50),
            us(0.99)
        );
    }
}

/// One round against `addr`.
async fn measure(addr: SocketAddr, path: &str) -> Outcome {
    let started = Instant::now();
    let histograms = run_for(addr, path, ROUND).await;
    let elapsed = started.elapsed();
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for h in &histograms {
        latency.add(h).unwrap();
    }
    Outcome { latency, elapsed }
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
