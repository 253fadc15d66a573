//! What the gateway's tests share: a small authoritative DNS server, an upstream that echoes
//! what it received, a gateway routing `/orders` to it, and a client.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::routing::any;
use gateway::{AuthConfig, GatewayConfig, Route, RoutingTable, Upstream, UpstreamResolver};
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::{TcpListener, UdpSocket};

/// A minimal authoritative DNS server for the tests: name → address, one TTL.
#[derive(Clone)]
pub struct Dns {
    pub addr: SocketAddr,
    answers: Arc<Mutex<HashMap<String, Ipv4Addr>>>,
}

impl Dns {
    pub async fn start(ttl: u32) -> Self {
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

    pub fn set(&self, name: &str, ip: Ipv4Addr) {
        self.answers.lock().unwrap().insert(format!("{name}."), ip);
    }
}

/// An upstream that echoes what it received and says which Region it is.
pub async fn upstream(addr: SocketAddr, region: &'static str) -> SocketAddr {
    let app = Router::new().fallback(any(move |request: Request| async move {
        let (parts, body) = request.into_parts();
        let received = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let body = serde_json::json!({
            "path": parts.uri.path_and_query().map(|p| p.to_string()),
            "method": parts.method.as_str(),
            "host": parts.headers.get("host").and_then(|h| h.to_str().ok()),
            "request_id": parts.headers.get("x-request-id").and_then(|h| h.to_str().ok()),
            "connection": parts.headers.get("connection").and_then(|h| h.to_str().ok()),
            "subject": parts.headers.get("x-auth-subject").and_then(|h| h.to_str().ok()),
            "issuer": parts.headers.get("x-auth-issuer").and_then(|h| h.to_str().ok()),
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
pub async fn gateway(dns: &Dns, port: u16, timeout: Duration) -> String {
    gateway_with(dns, port, timeout, None).await
}

/// [`gateway`], checking tokens against `auth`.
pub async fn gateway_with(
    dns: &Dns,
    port: u16,
    timeout: Duration,
    auth: Option<AuthConfig>,
) -> String {
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
        upstream_tls: None,
        auth,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, gateway::router(config)).await });
    format!("http://{addr}")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).map_or("", |v| v.to_str().unwrap())
}
