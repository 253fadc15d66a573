//! Real DNS and HTTP on loopback: a small authoritative responder whose answer a closure
//! decides, and an app's instance in each of two "Regions" on the same port, as in the local
//! world.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use topology::manifest::{Manifest, RegionalUrl};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Answers every A query with 127.0.0.<last octet>, TTL 0.
pub async fn dns_server(last_octet: Arc<AtomicU8>) -> SocketAddr {
    dns_answering(move || last_octet.load(Ordering::SeqCst), 0).await
}

/// Answers every A query with 127.0.0.<`octet()`>, with this TTL.
pub async fn dns_answering(octet: impl Fn() -> u8 + Send + 'static, ttl: u32) -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut response = Message::new(
                query.metadata.id,
                MessageType::Response,
                query.metadata.op_code,
            );
            response.metadata.authoritative = true;
            for q in &query.queries {
                response.add_query(q.clone());
                if q.query_type() == RecordType::A {
                    let ip = Ipv4Addr::new(127, 0, 0, octet());
                    response.add_answer(Record::from_rdata(q.name().clone(), ttl, RData::A(A(ip))));
                }
            }
            let _ = socket.send_to(&response.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

/// An app instance on `ip:port` that says which Region it is in (header, or body only).
pub async fn instance(ip: Ipv4Addr, port: u16, region: &str, header: bool) -> Option<MockServer> {
    let listener = std::net::TcpListener::bind((ip, port)).ok()?;
    let server = MockServer::builder().listener(listener).start().await;
    let mut response = ResponseTemplate::new(200)
        .set_body_json(serde_json::json!({ "service": "orders", "region": region }));
    if header {
        response = response.insert_header("x-region", region);
    }
    Mock::given(method("GET"))
        .respond_with(response)
        .mount(&server)
        .await;
    Some(server)
}

pub struct Regions {
    _east: MockServer,
    _west: MockServer,
    pub port: u16,
}

/// East on 127.0.0.1:P with an `x-region` header, west on 127.0.0.2:P with the body only.
pub async fn two_regions() -> Regions {
    for _ in 0..20 {
        let east = instance(Ipv4Addr::new(127, 0, 0, 1), 0, "us-east-1", true)
            .await
            .unwrap();
        let port = east.address().port();
        if let Some(west) = instance(Ipv4Addr::new(127, 0, 0, 2), port, "us-west-2", false).await {
            return Regions {
                _east: east,
                _west: west,
                port,
            };
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

/// `m` with orders at `url` and its Regions at 127.0.0.1 (east) and 127.0.0.2 (west).
pub fn with_orders_at(mut m: Manifest, dns: Option<SocketAddr>, url: String) -> Manifest {
    m.dns_server = dns;
    let orders = m
        .apps
        .iter_mut()
        .find(|a| a.name.as_str() == "orders")
        .unwrap();
    orders.url = url;
    orders.regional_urls = [("us-east-1", 1), ("us-west-2", 2)]
        .iter()
        .map(|(r, octet)| RegionalUrl {
            region: r.parse().unwrap(),
            url: format!("http://127.0.0.{octet}"),
        })
        .collect();
    m
}
