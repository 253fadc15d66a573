//! `verify`: real DNS over UDP (a small authoritative responder whose answer the test flips)
//! and real HTTP to two loopback "Regions" on the same port, as in the local world.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use failover::{FailoverError, VerifyConfig, exit, verify};
use hickory_resolver::proto::op::{Message, MessageType};
use hickory_resolver::proto::rr::rdata::A;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use local_arc::manifest_for;
use topology::manifest::Manifest;
use topology::{AppName, Region, Topology};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Answers every A query with 127.0.0.<last octet>, TTL 0.
async fn dns_server(last_octet: Arc<AtomicU8>) -> SocketAddr {
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
                    let ip = Ipv4Addr::new(127, 0, 0, last_octet.load(Ordering::SeqCst));
                    response.add_answer(Record::from_rdata(q.name().clone(), 0, RData::A(A(ip))));
                }
            }
            let _ = socket.send_to(&response.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

/// An app instance on `ip:port` that says which Region it is in (header, or body only).
async fn instance(ip: Ipv4Addr, port: u16, region: &str, header: bool) -> Option<MockServer> {
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

struct Regions {
    _east: MockServer,
    _west: MockServer,
    port: u16,
}

/// East on 127.0.0.1:P with an `x-region` header, west on 127.0.0.2:P with the body only.
async fn two_regions() -> Regions {
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

fn manifest(dns: Option<SocketAddr>, url: String) -> Manifest {
    let mut m = manifest_for(&Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap(), vec![]);
    m.dns_server = dns;
    let orders = m
        .apps
        .iter_mut()
        .find(|a| a.name.as_str() == "orders")
        .unwrap();
    orders.url = url;
    m
}

fn orders() -> AppName {
    "orders".parse().unwrap()
}

fn region(r: &str) -> Region {
    r.parse().unwrap()
}

fn quick(timeout: Duration) -> VerifyConfig {
    VerifyConfig {
        timeout,
        interval: Duration::from_millis(100),
        request_timeout: Duration::from_secs(1),
    }
}

#[tokio::test]
async fn waits_until_dns_and_the_app_show_the_target_region() {
    let regions = two_regions().await;
    let octet = Arc::new(AtomicU8::new(1));
    let dns = dns_server(octet.clone()).await;
    let m = manifest(
        Some(dns),
        format!("http://orders.example.test:{}", regions.port),
    );

    let east = verify(
        &m,
        &orders(),
        &region("us-east-1"),
        &quick(Duration::from_secs(3)),
    )
    .await
    .unwrap();
    assert_eq!(east.polls, 1);

    let flip = octet.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        flip.store(2, Ordering::SeqCst);
    });
    let west = verify(
        &m,
        &orders(),
        &region("us-west-2"),
        &quick(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert!(west.elapsed_ms >= 500, "{west:?}");
    assert!(west.polls > 1, "{west:?}");
}

#[tokio::test]
async fn gives_up_with_exit_5_when_traffic_does_not_move() {
    let regions = two_regions().await;
    let dns = dns_server(Arc::new(AtomicU8::new(1))).await;
    let m = manifest(
        Some(dns),
        format!("http://orders.example.test:{}", regions.port),
    );
    let started = std::time::Instant::now();
    let err = verify(
        &m,
        &orders(),
        &region("us-west-2"),
        &quick(Duration::from_millis(800)),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.is_timeout());
    assert!(
        err.to_string().contains("us-east-1"),
        "says where it still answers: {err}"
    );
    assert_eq!(FailoverError::from(err).exit_code(), exit::VERIFY_TIMEOUT);
}

#[tokio::test]
async fn without_a_dns_server_the_system_resolver_is_used() {
    let regions = two_regions().await;
    let m = manifest(None, format!("http://127.0.0.1:{}", regions.port));
    let ok = verify(
        &m,
        &orders(),
        &region("us-east-1"),
        &quick(Duration::from_secs(3)),
    )
    .await
    .unwrap();
    assert_eq!(ok.region, region("us-east-1"));
}
