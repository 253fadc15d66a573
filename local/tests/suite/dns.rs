//! The local Route 53 over real UDP and TCP: the failover rules, TTLs, negative answers and the
//! propagation of a routing-control change.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common;
use gateway::UpstreamResolver;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::ResolverOpts;
use local_world::dns::{
    DnsServer, FailoverPair, RecordHealthCheck, RecordTarget, RoutingControlStates, ZoneConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use topology::{AppName, RoutingControlArn, Topology};

/// Routing-control states the test sets directly, standing in for the ARC cluster.
#[derive(Default)]
struct States(Mutex<HashMap<RoutingControlArn, bool>>);

impl States {
    fn set(&self, arn: &RoutingControlArn, on: bool) {
        self.0.lock().unwrap().insert(arn.clone(), on);
    }
}

impl RoutingControlStates for States {
    fn state(&self, arn: &RoutingControlArn) -> Option<bool> {
        self.0.lock().unwrap().get(arn).copied()
    }
}

fn control(app: &AppName, n: u8) -> RoutingControlArn {
    format!(
        "arn:aws:route53-recovery-control::123456789012:controlpanel/{app}/routingcontrol/rc{n}"
    )
    .parse()
    .unwrap()
}

fn zone(topology: &Topology, interval: Duration, ttl: Duration) -> ZoneConfig {
    let regions = &topology.regions;
    let target = |app: &AppName, region: &topology::Region, n| RecordTarget {
        region: region.clone(),
        address: topology.local_address(app, region).unwrap(),
        health_check: RecordHealthCheck::RecoveryControl {
            routing_control: control(app, n),
        },
    };
    ZoneConfig {
        domain: topology.local.domain.clone(),
        ttl,
        health_check_interval: interval,
        pairs: topology
            .apps
            .iter()
            .map(|a| FailoverPair {
                app: a.name().clone(),
                primary: target(a.name(), &regions.primary, 1),
                secondary: target(a.name(), &regions.secondary, 2),
            })
            .collect(),
    }
}

struct Fixture {
    topology: Topology,
    states: Arc<States>,
    server: DnsServer,
    orders: AppName,
}

impl Fixture {
    async fn start(primary_on: bool, secondary_on: bool, interval: Duration) -> Self {
        Self::start_with_ttl(primary_on, secondary_on, interval, Duration::from_secs(5)).await
    }

    async fn start_with_ttl(
        primary_on: bool,
        secondary_on: bool,
        interval: Duration,
        ttl: Duration,
    ) -> Self {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        // Services by position: the first one plays the shifted app.
        let orders = topology.services().next().unwrap().name().clone();
        let states = Arc::new(States::default());
        for app in &topology.apps {
            states.set(&control(app.name(), 1), true);
            states.set(&control(app.name(), 2), false);
        }
        states.set(&control(&orders, 1), primary_on);
        states.set(&control(&orders, 2), secondary_on);
        let server = DnsServer::start(
            &zone(&topology, interval, ttl),
            states.clone(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        Self {
            topology,
            states,
            server,
            orders,
        }
    }

    /// `<app>.<domain>.`, the failover record's name.
    fn name(&self, app: &AppName) -> String {
        format!("{app}.{}.", self.topology.local.domain)
    }

    fn address(&self, app: &AppName, primary: bool) -> Ipv4Addr {
        let r = &self.topology.regions;
        let region = if primary { &r.primary } else { &r.secondary };
        self.topology.local_address(app, region).unwrap()
    }
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Udp,
    Tcp,
}

/// One query over a raw socket, so the test sees the exact response (flags, codes, sections).
async fn query(server: SocketAddr, transport: Transport, name: &str, rtype: RecordType) -> Message {
    let mut message = Message::new(4242, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let bytes = message.to_vec().unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), async {
        match transport {
            Transport::Udp => {
                let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
                socket.send_to(&bytes, server).await.unwrap();
                let mut buffer = vec![0; 4096];
                let (n, _) = socket.recv_from(&mut buffer).await.unwrap();
                buffer.truncate(n);
                buffer
            }
            Transport::Tcp => {
                let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
                let length = u16::try_from(bytes.len()).unwrap().to_be_bytes();
                stream.write_all(&length).await.unwrap();
                stream.write_all(&bytes).await.unwrap();
                let n = stream.read_u16().await.unwrap();
                let mut buffer = vec![0; usize::from(n)];
                stream.read_exact(&mut buffer).await.unwrap();
                buffer
            }
        }
    })
    .await
    .expect("the DNS server answers within 5 s");
    let response = Message::from_vec(&response).unwrap();
    assert_eq!(response.metadata.id, 4242);
    response
}

fn a_records(message: &Message) -> Vec<(Ipv4Addr, u32)> {
    message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some((a.0, r.ttl)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn failover_answers_follow_the_three_route53_rules_over_udp_and_tcp() {
    // (primary ON, secondary ON) → which record answers.
    let cases = [
        (true, true, true),
        (true, false, true),
        (false, true, false),
        (false, false, true),
    ];
    for (primary_on, secondary_on, answers_primary) in cases {
        let f = Fixture::start(primary_on, secondary_on, Duration::from_secs(1)).await;
        let expected = f.address(&f.orders, answers_primary);
        for transport in [Transport::Udp, Transport::Tcp] {
            let response = query(
                f.server.local_addr(),
                transport,
                &f.name(&f.orders),
                RecordType::A,
            )
            .await;
            let case = format!("primary {primary_on}, secondary {secondary_on}, {transport:?}");
            assert_eq!(
                response.metadata.response_code,
                ResponseCode::NoError,
                "{case}"
            );
            assert!(response.metadata.authoritative, "{case}");
            assert_eq!(a_records(&response), vec![(expected, 5)], "{case}");
        }
        let answer = f.server.answer(&f.orders).unwrap();
        assert_eq!(answer.address, expected);
        assert_eq!(answer.primary_healthy, primary_on);
        assert_eq!(answer.secondary_healthy, secondary_on);
        f.server.shutdown().await;
    }
}

#[tokio::test]
async fn direct_names_ttl_soa_ns_and_negative_answers() {
    let f = Fixture::start(true, false, Duration::from_secs(1)).await;
    let addr = f.server.local_addr();

    let direct = query(
        addr,
        Transport::Udp,
        &format!(
            "{}.us-west-2.example.test.",
            f.orders.as_str().to_uppercase()
        ),
        RecordType::A,
    )
    .await;
    assert_eq!(a_records(&direct), vec![(f.address(&f.orders, false), 5)]);

    let soa = query(addr, Transport::Tcp, "example.test.", RecordType::SOA).await;
    let RData::SOA(record) = &soa.answers[0].data else {
        panic!("expected an SOA, got {:?}", soa.answers);
    };
    assert_eq!(record.minimum, 5, "negative answers are cached for the TTL");
    let ns = query(addr, Transport::Udp, "example.test.", RecordType::NS).await;
    assert!(matches!(&ns.answers[0].data, RData::NS(n) if n.0.to_ascii() == "ns.example.test."));

    let unknown = query(
        addr,
        Transport::Udp,
        "inventory.example.test.",
        RecordType::A,
    )
    .await;
    assert_eq!(unknown.metadata.response_code, ResponseCode::NXDomain);
    assert!(unknown.answers.is_empty());
    assert_eq!(
        unknown.authorities.len(),
        1,
        "NXDOMAIN carries the zone's SOA"
    );

    let nodata = query(addr, Transport::Tcp, &f.name(&f.orders), RecordType::AAAA).await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());

    let region = query(
        addr,
        Transport::Udp,
        "us-east-1.example.test.",
        RecordType::A,
    )
    .await;
    assert_eq!(
        region.metadata.response_code,
        ResponseCode::NoError,
        "an empty non-terminal exists"
    );

    let outside = query(
        addr,
        Transport::Udp,
        &format!("{}.example.com.", f.orders),
        RecordType::A,
    )
    .await;
    assert_eq!(outside.metadata.response_code, ResponseCode::Refused);
    f.server.shutdown().await;
}

fn resolver(server: SocketAddr, tcp: bool) -> TokioResolver {
    let mut options = ResolverOpts::default();
    options.cache_size = 0;
    options.timeout = Duration::from_secs(2);
    options.attempts = 1;
    common::resolver(server, tcp, options)
}

#[tokio::test]
async fn a_stock_resolver_sees_the_ttl_and_nxdomain() {
    let f = Fixture::start(true, false, Duration::from_secs(1)).await;
    for tcp in [false, true] {
        let resolver = resolver(f.server.local_addr(), tcp);
        let lookup = resolver.lookup_ip(f.name(&f.orders)).await.unwrap();
        let ips: Vec<IpAddr> = lookup.iter().collect();
        assert_eq!(ips, vec![IpAddr::V4(f.address(&f.orders, true))]);
        let ttl = lookup.valid_until() - Instant::now();
        assert!(
            ttl > Duration::from_secs(4) && ttl <= Duration::from_secs(5),
            "valid for {ttl:?}"
        );
        let err = resolver
            .lookup_ip("nobody.example.test.")
            .await
            .unwrap_err();
        assert!(err.is_nx_domain(), "{err}");
    }
    f.server.shutdown().await;
}

#[tokio::test]
async fn a_routing_control_change_shows_within_one_check_interval() {
    let interval = Duration::from_millis(300);
    let f = Fixture::start(true, false, interval).await;
    let secondary = f.address(&f.orders, false);
    // A planned shift: secondary ON, primary OFF (ARC applies both at once).
    f.states.set(&control(&f.orders, 2), true);
    f.states.set(&control(&f.orders, 1), false);
    let changed = Instant::now();
    let moved = loop {
        let response = query(
            f.server.local_addr(),
            Transport::Udp,
            &f.name(&f.orders),
            RecordType::A,
        )
        .await;
        if a_records(&response) == vec![(secondary, 5)] {
            break changed.elapsed();
        }
        assert!(changed.elapsed() < interval * 3, "the answer never moved");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        moved <= interval + Duration::from_millis(100),
        "moved after {moved:?}"
    );
    // The other apps stay put.
    let users = f.topology.services().last().unwrap().name().clone();
    let response = query(
        f.server.local_addr(),
        Transport::Tcp,
        &f.name(&users),
        RecordType::A,
    )
    .await;
    assert_eq!(a_records(&response), vec![(f.address(&users, true), 5)]);
    f.server.shutdown().await;
}

/// Waits until the server's health checks have just run, so that a change made now is the
/// furthest it can be from the next check.
async fn just_after_a_health_check(server: &DnsServer) -> Instant {
    let last = server.last_health_check();
    let started = Instant::now();
    loop {
        let now = server.last_health_check();
        if now != last {
            return now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no health check ran"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn just_after_a_change_the_old_answer_is_still_served() {
    let interval = Duration::from_millis(400);
    let f = Fixture::start(true, false, interval).await;
    let (primary, secondary) = (f.address(&f.orders, true), f.address(&f.orders, false));
    let checked = just_after_a_health_check(&f.server).await;
    // A planned shift, made just after a check: propagation waits for the next one.
    f.states.set(&control(&f.orders, 2), true);
    f.states.set(&control(&f.orders, 1), false);
    let changed = Instant::now();
    let name = f.name(&f.orders);
    let mut old_answers = 0;
    let moved = loop {
        let response = query(f.server.local_addr(), Transport::Udp, &name, RecordType::A).await;
        if a_records(&response) == vec![(secondary, 5)] {
            break changed.elapsed();
        }
        assert_eq!(a_records(&response), vec![(primary, 5)]);
        old_answers += 1;
        assert!(changed.elapsed() < interval * 3, "the answer never moved");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!("{old_answers} old answers, moved {moved:?} after the change");
    assert!(
        old_answers >= 1,
        "the first answer after the change is the old one"
    );
    // It moved at the next check, not before: at least most of an interval after the last.
    let since_check = checked.elapsed() - changed.elapsed() + moved;
    assert!(
        since_check >= interval - Duration::from_millis(50),
        "moved {since_check:?} after the last check, the interval is {interval:?}"
    );
    assert!(
        moved <= interval + Duration::from_millis(100),
        "moved after {moved:?}"
    );
    assert_eq!(f.server.answer(&f.orders).unwrap().address, secondary);
    assert!(!f.server.propagation_is_instant());
    f.server.shutdown().await;
}

#[tokio::test]
async fn a_zero_check_interval_makes_propagation_instant() {
    // A fault for tests: the demo's propagation check must catch it.
    let f = Fixture::start(true, false, Duration::ZERO).await;
    assert!(f.server.propagation_is_instant());
    f.states.set(&control(&f.orders, 2), true);
    f.states.set(&control(&f.orders, 1), false);
    let name = f.name(&f.orders);
    let response = query(f.server.local_addr(), Transport::Udp, &name, RecordType::A).await;
    assert_eq!(a_records(&response), vec![(f.address(&f.orders, false), 5)]);
    f.server.shutdown().await;
}

#[tokio::test]
async fn a_cached_answer_is_reused_until_its_ttl_expires() {
    let ttl = Duration::from_secs(1);
    let interval = Duration::from_millis(100);
    let f = Fixture::start_with_ttl(true, false, interval, ttl).await;
    let (primary, secondary) = (f.address(&f.orders, true), f.address(&f.orders, false));
    // The project's TTL-caching resolver, the one the gateway uses for its upstreams.
    let resolver = UpstreamResolver::new(Some(f.server.local_addr())).unwrap();
    let host = format!("{}.{}", f.orders, f.topology.local.domain);
    let before = f.server.queries();
    assert_eq!(resolver.resolve(&host).await.unwrap(), IpAddr::V4(primary));
    let first = Instant::now();
    // One lookup asks for A and AAAA records (the zone has none of the latter).
    let per_lookup = f.server.queries() - before;
    assert!(per_lookup >= 1, "the first lookup asks the server");

    // The answer moves on the server, but the cache keeps the old one for its TTL.
    f.states.set(&control(&f.orders, 2), true);
    f.states.set(&control(&f.orders, 1), false);
    tokio::time::sleep(interval * 3).await;
    assert_eq!(f.server.answer(&f.orders).unwrap().address, secondary);
    let mut cached = 0;
    while first.elapsed() < ttl - Duration::from_millis(200) {
        assert_eq!(
            resolver.resolve(&host).await.unwrap(),
            IpAddr::V4(primary),
            "a cached answer is used until its TTL expires"
        );
        cached += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cached >= 5, "{cached}");
    assert_eq!(
        f.server.queries() - before,
        per_lookup,
        "{cached} lookups within the TTL sent no query"
    );

    // Once it expires, the next lookup asks again and sees the new answer.
    tokio::time::sleep(
        (first + ttl + Duration::from_millis(100)).saturating_duration_since(Instant::now()),
    )
    .await;
    assert_eq!(
        resolver.resolve(&host).await.unwrap(),
        IpAddr::V4(secondary)
    );
    assert!(
        f.server.queries() - before > per_lookup,
        "the server is asked again after the TTL"
    );
    f.server.shutdown().await;
}
