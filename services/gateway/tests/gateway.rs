//! The gateway over real HTTP and real DNS: routing, headers, upstream failures as problems,
//! and DNS answers cached for exactly their TTL.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::routing::any;
use gateway::{GatewayConfig, Route, RoutingTable, Upstream, UpstreamResolver};
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UdpSocket};

/// A minimal authoritative DNS server for the tests: name → address, one TTL.
#[derive(Clone)]
struct Dns {
    addr: SocketAddr,
    answers: Arc<Mutex<HashMap<String, Ipv4Addr>>>,
}

impl Dns {
    async fn start(ttl: u32) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let answers: Arc<Mutex<HashMap<String, Ipv4Addr>>> = Arc::default();
        let table = answers.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buffer).await {
                let request = Message::from_vec(&buffer[..n]).unwrap();
                let query = request.queries[0].clone();
                let mut response = Message::response(request.metadata.id, OpCode::Query);
                response.metadata.authoritative = true;
                response.add_query(query.clone());
                let name = query.name.to_ascii().to_lowercase();
                match table.lock().unwrap().get(&name) {
                    Some(ip) if query.query_type == RecordType::A => {
                        response.add_answer(Record::from_rdata(query.name, ttl, RData::A(A(*ip))));
                    }
                    Some(_) => {}
                    None => response.metadata.response_code = ResponseCode::NXDomain,
                }
                let _ = socket.send_to(&response.to_vec().unwrap(), from).await;
            }
        });
        Self { addr, answers }
    }

    fn set(&self, name: &str, ip: Ipv4Addr) {
        self.answers.lock().unwrap().insert(format!("{name}."), ip);
    }
}

/// An upstream that echoes what it received and says which Region it is.
async fn upstream(addr: SocketAddr, region: &'static str) -> SocketAddr {
    let app = Router::new().fallback(any(move |request: Request| async move {
        let (parts, body) = request.into_parts();
        let received = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let body = serde_json::json!({
            "path": parts.uri.path_and_query().map(|p| p.to_string()),
            "method": parts.method.as_str(),
            "host": parts.headers.get("host").and_then(|h| h.to_str().ok()),
            "request_id": parts.headers.get("x-request-id").and_then(|h| h.to_str().ok()),
            "connection": parts.headers.get("connection").and_then(|h| h.to_str().ok()),
            "body": String::from_utf8_lossy(&received),
        });
        ([("x-region", region)], axum::Json(body))
    }));
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Starts a gateway in `us-east-1` routing `/orders` to `orders.example.test:port`.
async fn gateway(dns: &Dns, port: u16, timeout: Duration) -> String {
    let table = RoutingTable::new(vec![Route {
        prefix: "/orders".into(),
        upstream: Upstream {
            app: "orders".parse().unwrap(),
            host: "orders.example.test".into(),
            port,
        },
    }]);
    let config = GatewayConfig {
        app: "api".parse().unwrap(),
        region: "us-east-1".parse().unwrap(),
        table,
        resolver: UpstreamResolver::new(Some(dns.addr)).unwrap(),
        upstream_timeout: timeout,
        gateway_secret: None,
        auth: None,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, gateway::router(config)).await });
    format!("http://{addr}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn proxies_the_full_path_and_shows_both_regions() {
    let dns = Dns::start(5).await;
    let east = upstream("127.0.9.2:0".parse().unwrap(), "us-west-2").await;
    dns.set("orders.example.test", Ipv4Addr::new(127, 0, 9, 2));
    let base = gateway(&dns, east.port(), Duration::from_secs(5)).await;

    let response = client()
        .post(format!("{base}/orders/42/cancel?reason=late"))
        .header("x-request-id", "req-1")
        .header("connection", "keep-alive")
        .body(r#"{"reason":"late"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(response.headers(), "x-region"), "us-east-1");
    assert_eq!(header(response.headers(), "x-upstream-region"), "us-west-2");
    assert_eq!(header(response.headers(), "x-request-id"), "req-1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["path"], "/orders/42/cancel?reason=late");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["host"], format!("orders.example.test:{}", east.port()));
    assert_eq!(
        body["request_id"], "req-1",
        "the request id travels upstream"
    );

    let exact = client().get(format!("{base}/orders")).send().await.unwrap();
    assert_eq!(exact.status(), 200);

    let own = client().get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(header(own.headers(), "x-region"), "us-east-1");
    let root: serde_json::Value = client()
        .get(&base)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(root["service"], "api");
}

#[tokio::test]
async fn unknown_prefixes_are_404_problems() {
    let dns = Dns::start(5).await;
    let base = gateway(&dns, 1, Duration::from_secs(1)).await;
    for path in ["/inventory/1", "/ordersx"] {
        let response = client().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            header(response.headers(), "content-type"),
            "application/problem+json"
        );
    }
}

async fn problem(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    assert_eq!(
        header(response.headers(), "content-type"),
        "application/problem+json"
    );
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn refused_unresolvable_slow_and_garbled_upstreams_become_problems() {
    let dns = Dns::start(5).await;
    // Nothing listens on 127.0.9.10: connection refused.
    let free = TcpListener::bind("127.0.9.10:0").await.unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    dns.set("orders.example.test", Ipv4Addr::new(127, 0, 9, 10));
    let base = gateway(&dns, port, Duration::from_millis(300)).await;
    let (status, body) = problem(
        client()
            .get(format!("{base}/orders/1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 502);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("/upstream-unreachable"),
        "{body}"
    );

    // A name the DNS does not know.
    let dns2 = Dns::start(5).await;
    let base2 = gateway(&dns2, port, Duration::from_millis(300)).await;
    let (status, body) = problem(
        client()
            .get(format!("{base2}/orders/1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 502);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("/upstream-unresolvable"),
        "{body}"
    );

    // An upstream that accepts and never answers: 504 after the timeout.
    let slow = TcpListener::bind("127.0.9.11:0").await.unwrap();
    let slow_port = slow.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = slow.accept().await {
            held.push(stream);
        }
    });
    let dns3 = Dns::start(5).await;
    dns3.set("orders.example.test", Ipv4Addr::new(127, 0, 9, 11));
    let base3 = gateway(&dns3, slow_port, Duration::from_millis(300)).await;
    let started = Instant::now();
    let (status, body) = problem(
        client()
            .get(format!("{base3}/orders/1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 504);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("/upstream-timeout"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    // An upstream that answers garbage.
    let garbled = TcpListener::bind("127.0.9.12:0").await.unwrap();
    let garbled_port = garbled.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = garbled.accept().await {
            let _ = stream.write_all(b"SMTP READY\r\n\r\n").await;
        }
    });
    let dns4 = Dns::start(5).await;
    dns4.set("orders.example.test", Ipv4Addr::new(127, 0, 9, 12));
    let base4 = gateway(&dns4, garbled_port, Duration::from_millis(300)).await;
    let (status, body) = problem(
        client()
            .get(format!("{base4}/orders/1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 502);
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("/bad-upstream-response"),
        "{body}"
    );
}

#[tokio::test]
async fn a_dns_change_reaches_the_gateway_when_the_ttl_expires() {
    let dns = Dns::start(1).await;
    let first = upstream("127.0.9.21:0".parse().unwrap(), "us-east-1").await;
    upstream(
        SocketAddr::new([127, 0, 9, 22].into(), first.port()),
        "us-west-2",
    )
    .await;
    dns.set("orders.example.test", Ipv4Addr::new(127, 0, 9, 21));
    let base = gateway(&dns, first.port(), Duration::from_secs(2)).await;
    let region =
        |response: reqwest::Response| header(response.headers(), "x-upstream-region").to_owned();

    assert_eq!(
        region(
            client()
                .get(format!("{base}/orders/1"))
                .send()
                .await
                .unwrap()
        ),
        "us-east-1"
    );
    dns.set("orders.example.test", Ipv4Addr::new(127, 0, 9, 22));
    let changed = Instant::now();
    // Still cached: the answer is valid for its TTL.
    assert_eq!(
        region(
            client()
                .get(format!("{base}/orders/1"))
                .send()
                .await
                .unwrap()
        ),
        "us-east-1"
    );
    let moved = loop {
        let now = region(
            client()
                .get(format!("{base}/orders/1"))
                .send()
                .await
                .unwrap(),
        );
        if now == "us-west-2" {
            break changed.elapsed();
        }
        assert!(changed.elapsed() < Duration::from_secs(3), "still on {now}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        moved <= Duration::from_millis(1200),
        "moved after {moved:?}"
    );
}
