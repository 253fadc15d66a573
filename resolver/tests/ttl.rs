//! The resolver against a real authoritative DNS server on loopback (hickory-server, UDP and
//! TCP): an answer is reused until its TTL expires, then asked again, and a change is seen only
//! after that.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Edns, Metadata, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use resolver::{ResolveError, Resolver, Upstream};
use tokio::net::{TcpListener, UdpSocket};

/// Answers `A` queries from a table, with one TTL, and counts the queries it receives.
struct Answerer {
    answers: Arc<RwLock<HashMap<String, Ipv4Addr>>>,
    queries: Arc<AtomicUsize>,
    ttl: u32,
}

#[async_trait::async_trait]
impl RequestHandler for Answerer {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        self.queries.fetch_add(1, Ordering::SeqCst);
        let edns = request.edns.as_ref().map(|req| {
            let mut edns = Edns::new();
            edns.set_max_payload(req.max_payload().max(512));
            edns
        });
        let builder = MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = true;
        let query = request.request_info().unwrap().query;
        let name = query.name().to_string().to_lowercase();
        let mut records = Vec::new();
        match self.answers.read().unwrap().get(&name) {
            Some(ip) if query.query_type() == RecordType::A => records.push(Record::from_rdata(
                Name::from(query.name()),
                self.ttl,
                RData::A(A(*ip)),
            )),
            Some(_) => {}
            None => metadata.response_code = ResponseCode::NXDomain,
        }
        let response = builder.build(metadata, records.iter(), [], [], []);
        response_handle.send_response(response).await.unwrap()
    }
}

struct Dns {
    addr: SocketAddr,
    answers: Arc<RwLock<HashMap<String, Ipv4Addr>>>,
    queries: Arc<AtomicUsize>,
    _server: Server<Answerer>,
}

impl Dns {
    async fn start(ttl: u32) -> Self {
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let answers: Arc<RwLock<HashMap<String, Ipv4Addr>>> = Arc::default();
        let queries = Arc::new(AtomicUsize::new(0));
        let mut server = Server::new(Answerer {
            answers: answers.clone(),
            queries: queries.clone(),
            ttl,
        });
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        Self {
            addr,
            answers,
            queries,
            _server: server,
        }
    }

    fn set(&self, name: &str, ip: Ipv4Addr) {
        self.answers.write().unwrap().insert(format!("{name}."), ip);
    }

    /// Queries for `A` records (the resolver may also ask for `AAAA`).
    fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn an_answer_is_reused_until_its_ttl_expires_then_asked_again() {
    let dns = Dns::start(1).await;
    let primary = Ipv4Addr::new(127, 0, 1, 2);
    let secondary = Ipv4Addr::new(127, 0, 2, 2);
    dns.set("orders.example.test", primary);
    let resolver = Resolver::new(Some(dns.addr)).unwrap();

    assert_eq!(
        resolver.resolve("orders.example.test").await.unwrap(),
        primary
    );
    let after_first = dns.queries();
    assert!(after_first >= 1);
    // The record changes, but the cached answer is still served within its TTL.
    dns.set("orders.example.test", secondary);
    for _ in 0..5 {
        assert_eq!(
            resolver.resolve("orders.example.test").await.unwrap(),
            primary
        );
    }
    assert_eq!(dns.queries(), after_first, "no query while the TTL lasts");

    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        resolver.resolve("orders.example.test").await.unwrap(),
        secondary
    );
    assert!(
        dns.queries() > after_first,
        "asked again once the TTL expired"
    );
}

#[tokio::test]
async fn unknown_names_and_dead_servers_are_errors_not_hangs() {
    let dns = Dns::start(1).await;
    let resolver = Resolver::new(Some(dns.addr)).unwrap();
    let err = resolver.resolve("nowhere.example.test").await.unwrap_err();
    assert!(matches!(err, ResolveError::Lookup { .. }), "{err}");
    assert!(err.to_string().contains("nowhere.example.test"), "{err}");

    // Nothing listens here: the lookup fails within the resolver's timeouts.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let resolver = Resolver::new(Some(silent.local_addr().unwrap())).unwrap();
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        resolver.resolve("orders.example.test"),
    )
    .await
    .expect("the lookup gives up on its own");
    assert!(outcome.is_err());
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn an_uncached_resolver_asks_on_every_lookup() {
    let dns = Dns::start(60).await;
    let primary = Ipv4Addr::new(127, 0, 1, 3);
    let secondary = Ipv4Addr::new(127, 0, 2, 3);
    dns.set("orders.example.test", primary);
    let resolver = Resolver::uncached(Upstream::Servers(vec![dns.addr])).unwrap();
    assert_eq!(
        resolver.resolve_all("orders.example.test").await.unwrap(),
        [primary]
    );
    let after_first = dns.queries();
    // A 60 s TTL, yet the change is seen at once: nothing was kept.
    dns.set("orders.example.test", secondary);
    assert_eq!(
        resolver.resolve("orders.example.test").await.unwrap(),
        secondary
    );
    assert!(dns.queries() > after_first, "asked again");
    assert_eq!(resolver.upstream().to_string(), dns.addr.to_string());
}

#[tokio::test]
async fn a_silent_server_is_passed_over_for_the_next_one() {
    let dns = Dns::start(60).await;
    let ip = Ipv4Addr::new(127, 0, 1, 4);
    dns.set("orders.example.test", ip);
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let servers = vec![silent.local_addr().unwrap(), dns.addr];
    let resolver = Resolver::uncached(Upstream::Servers(servers)).unwrap();
    let found = tokio::time::timeout(
        Duration::from_secs(8),
        resolver.resolve("orders.example.test"),
    )
    .await
    .expect("the lookup does not wait for the silent server forever");
    assert_eq!(found.unwrap(), ip);
}
