//! The local Route 53: an authoritative DNS server for the local domain.
//!
//! Per app it serves a failover record pair with a health check on each record, and answers by
//! the three Route 53 failover rules (docs/architecture.md):
//!
//! - primary healthy → primary;
//! - primary unhealthy and secondary healthy → secondary;
//! - secondary unhealthy → primary, whatever the primary's health.
//!
//! The health checks are of the deployment's mechanism ([`RecordHealthCheck`]):
//! - `RECOVERY_CONTROL` (ARC): each follows one routing control, read on an interval (the
//!   propagation delay of the real service) by the server's own checker ([`DnsServer::start`]);
//! - `CLOUDWATCH_METRIC` (the health-check mechanism): each follows an alarm on a flag, as the
//!   local CloudWatch's [`HealthCheckers`] evaluate them on their own schedule; answers read
//!   their status as it is ([`DnsServer::start_following`]).
//!
//! It also serves the zone's SOA and NS, a direct name per app and Region
//! (`orders.us-west-2.example.test`), NXDOMAIN for unknown names in the zone and REFUSED for
//! names outside it. Every answer carries the configured TTL, so clients cache as they would
//! against Route 53.
//!
//! With routing controls, a health-check interval of zero is a fault for tests: propagation
//! becomes instant (every answer reads the routing controls directly), which Route 53 never
//! does; the demo's propagation check must then fail.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use local_cloudwatch::{HealthCheckId, HealthCheckers};
use serde::Serialize;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use topology::manifest::Manifest;
use topology::{AppName, DomainName, Mechanism, Region, RoutingControlArn, Topology};

/// Where the health checks read routing-control states: the local ARC cluster in the world,
/// a plain map in tests.
pub trait RoutingControlStates: Send + Sync + 'static {
    /// The state of `arn` (`true` = ON), or `None` when the cluster does not know it.
    fn state(&self, arn: &RoutingControlArn) -> Option<bool>;
}

/// Why the DNS server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("`{0}` is not a valid DNS name: {1}")]
    Name(String, String),
    #[error("app `{app}` has no {what} for Region `{region}` in the topology or manifest")]
    Missing {
        app: AppName,
        region: Region,
        what: &'static str,
    },
    #[error(
        "cannot listen for DNS on {addr}: {reason} (another `local-world run` running? change local.dns_listen in topology.toml)"
    )]
    Bind {
        addr: SocketAddr,
        reason: std::io::Error,
    },
}

/// What a failover record's health check follows, by the deployment's mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordHealthCheck {
    /// `RECOVERY_CONTROL`: healthy while the ARC routing control is ON.
    RecoveryControl { routing_control: RoutingControlArn },
    /// `CLOUDWATCH_METRIC`: the local CloudWatch's health check of this id, on the alarm of
    /// the flag that takes the record's Region out.
    CloudwatchMetric {
        #[serde(serialize_with = "display")]
        id: HealthCheckId,
    },
}

fn display<S: serde::Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl RecordHealthCheck {
    /// The routing control it follows (ARC).
    pub fn routing_control(&self) -> Option<&RoutingControlArn> {
        match self {
            Self::RecoveryControl { routing_control } => Some(routing_control),
            Self::CloudwatchMetric { .. } => None,
        }
    }
}

/// One failover record's target and the health check on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordTarget {
    pub region: Region,
    pub address: Ipv4Addr,
    pub health_check: RecordHealthCheck,
}

/// The PRIMARY and SECONDARY failover records of one app's subdomain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailoverPair {
    pub app: AppName,
    pub primary: RecordTarget,
    pub secondary: RecordTarget,
}

/// What the zone serves and how its health checks run.
#[derive(Debug, Clone)]
pub struct ZoneConfig {
    pub domain: DomainName,
    pub ttl: Duration,
    pub health_check_interval: Duration,
    pub pairs: Vec<FailoverPair>,
}

impl ZoneConfig {
    /// The zone of the local world: every app of `topology`, with the health checks of the
    /// manifest's mechanism: on the routing controls it lists for the app (ARC), or the
    /// health checks of its flags (the health-check mechanism).
    pub fn from_manifest(topology: &Topology, manifest: &Manifest) -> Result<Self, DnsError> {
        let target = |app: &AppName, region: &Region| -> Result<RecordTarget, DnsError> {
            let missing = |what| DnsError::Missing {
                app: app.clone(),
                region: region.clone(),
                what,
            };
            let address = topology
                .local_address(app, region)
                .ok_or_else(|| missing("loopback address"))?;
            let entry = manifest.app(app).ok_or_else(|| missing("manifest entry"))?;
            let health_check = match manifest.mechanism() {
                Mechanism::Arc => RecordHealthCheck::RecoveryControl {
                    routing_control: entry
                        .routing_control(region)
                        .ok_or_else(|| missing("routing control"))?
                        .clone(),
                },
                Mechanism::HealthCheck => RecordHealthCheck::CloudwatchMetric {
                    id: entry
                        .flag(region)
                        .and_then(|f| f.health_check_id.as_deref())
                        .and_then(|id| id.parse().ok())
                        .ok_or_else(|| missing("flag health check"))?,
                },
            };
            Ok(RecordTarget {
                region: region.clone(),
                address,
                health_check,
            })
        };
        let regions = &topology.regions;
        let pairs = topology
            .apps
            .iter()
            .map(|app| {
                Ok(FailoverPair {
                    app: app.name().clone(),
                    primary: target(app.name(), &regions.primary)?,
                    secondary: target(app.name(), &regions.secondary)?,
                })
            })
            .collect::<Result<_, DnsError>>()?;
        Ok(Self {
            domain: topology.local.domain.clone(),
            ttl: topology.local.ttl(),
            health_check_interval: topology.local.health_check_interval(),
            pairs,
        })
    }
}

/// The current answer for one app's subdomain and the health it was chosen from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FailoverAnswer {
    #[schema(value_type = String)]
    pub region: Region,
    #[schema(value_type = String)]
    pub address: Ipv4Addr,
    pub primary_healthy: bool,
    pub secondary_healthy: bool,
}

/// The three Route 53 failover rules: which record answers, given the two health states.
/// `true` means the primary record.
pub fn answers_primary(primary_healthy: bool, secondary_healthy: bool) -> bool {
    primary_healthy || !secondary_healthy
}

/// The last evaluated health check of each routing control.
type HealthTable = BTreeMap<RoutingControlArn, bool>;

/// Where answers read the records' health.
enum Health {
    /// Routing controls, as the server's own checker last read them; with `instant`, as
    /// they are (a zero interval: a fault for tests).
    Controls {
        table: Arc<RwLock<HealthTable>>,
        instant: Option<Arc<dyn RoutingControlStates>>,
    },
    /// The local CloudWatch's health checks, as they last evaluated.
    Checkers(Arc<HealthCheckers>),
}

impl Health {
    /// Whether `check` is healthy now; a check nobody evaluated is unhealthy.
    fn healthy(&self, check: &RecordHealthCheck) -> bool {
        match (self, check) {
            (
                Self::Controls { table, instant },
                RecordHealthCheck::RecoveryControl { routing_control },
            ) => {
                let live = instant.as_ref().and_then(|s| s.state(routing_control));
                live.or_else(|| {
                    let table = table.read().unwrap_or_else(|e| e.into_inner());
                    table.get(routing_control).copied()
                })
                .unwrap_or(false)
            }
            (Self::Checkers(checkers), RecordHealthCheck::CloudwatchMetric { id }) => {
                checkers.is_healthy(id).unwrap_or(false)
            }
            _ => false,
        }
    }
}

/// Answers DNS queries for the zone from the health table the checker keeps current.
struct ZoneAnswerer {
    origin: LowerName,
    ns_name: Name,
    ns_address: Ipv4Addr,
    ttl: u32,
    /// `<app>.<domain>` → its failover pair.
    failover: BTreeMap<LowerName, FailoverPair>,
    /// `<app>.<region>.<domain>` → the instance's address.
    direct: BTreeMap<LowerName, Ipv4Addr>,
    /// `<region>.<domain>`: names that exist only because names below them do.
    empty_non_terminals: Vec<LowerName>,
    health: Health,
    /// Queries received, whatever their name or answer.
    queries: AtomicU64,
}

fn dns_name(text: &str) -> Result<Name, DnsError> {
    let mut name =
        Name::from_ascii(text).map_err(|e| DnsError::Name(text.to_owned(), e.to_string()))?;
    name.set_fqdn(true);
    Ok(name)
}

impl ZoneAnswerer {
    fn new(config: &ZoneConfig, ns_address: Ipv4Addr, health: Health) -> Result<Self, DnsError> {
        let domain = config.domain.as_str();
        let mut failover = BTreeMap::new();
        let mut direct = BTreeMap::new();
        let mut empty_non_terminals = Vec::new();
        for pair in &config.pairs {
            let name = dns_name(&format!("{}.{domain}", pair.app))?;
            failover.insert(LowerName::new(&name), pair.clone());
            for target in [&pair.primary, &pair.secondary] {
                let name = dns_name(&format!("{}.{}.{domain}", pair.app, target.region))?;
                direct.insert(LowerName::new(&name), target.address);
                let region = LowerName::new(&dns_name(&format!("{}.{domain}", target.region))?);
                if !empty_non_terminals.contains(&region) {
                    empty_non_terminals.push(region);
                }
            }
        }
        Ok(Self {
            origin: LowerName::new(&dns_name(domain)?),
            ns_name: dns_name(&format!("ns.{domain}"))?,
            ns_address,
            ttl: u32::try_from(config.ttl.as_secs()).unwrap_or(u32::MAX),
            failover,
            direct,
            empty_non_terminals,
            health,
            queries: AtomicU64::new(0),
        })
    }

    /// The current failover answer for `pair`, by the Route 53 rules.
    fn failover_answer(&self, pair: &FailoverPair) -> FailoverAnswer {
        let (primary_healthy, secondary_healthy) = (
            self.health.healthy(&pair.primary.health_check),
            self.health.healthy(&pair.secondary.health_check),
        );
        let target = if answers_primary(primary_healthy, secondary_healthy) {
            &pair.primary
        } else {
            &pair.secondary
        };
        FailoverAnswer {
            region: target.region.clone(),
            address: target.address,
            primary_healthy,
            secondary_healthy,
        }
    }

    fn soa(&self) -> Record {
        let origin = Name::from(&self.origin);
        let hostmaster = dns_name(&format!("hostmaster.{}", self.origin))
            .unwrap_or_else(|_| self.ns_name.clone());
        // The SOA minimum is the negative-caching TTL: keep it as short as the answers'.
        let soa = SOA::new(
            self.ns_name.clone(),
            hostmaster,
            1,
            3600,
            600,
            86400,
            self.ttl,
        );
        Record::from_rdata(origin, self.ttl, RData::SOA(soa))
    }

    /// The records answering `name`/`rtype`, or the response code when there are none.
    fn lookup(&self, name: &LowerName, rtype: RecordType) -> Lookup {
        if !self.origin.zone_of(name) {
            return Lookup::Refused;
        }
        let owner = Name::from(name);
        let a = |ip: Ipv4Addr| Record::from_rdata(owner.clone(), self.ttl, RData::A(A(ip)));
        let wants = |t: RecordType| rtype == t || rtype == RecordType::ANY;
        if *name == self.origin {
            let mut records = Vec::new();
            if wants(RecordType::SOA) {
                records.push(self.soa());
            }
            if wants(RecordType::NS) {
                let ns = RData::NS(NS(self.ns_name.clone()));
                records.push(Record::from_rdata(owner.clone(), self.ttl, ns));
            }
            return Lookup::Records(records);
        }
        let address = if let Some(pair) = self.failover.get(name) {
            Some(self.failover_answer(pair).address)
        } else if let Some(address) = self.direct.get(name) {
            Some(*address)
        } else if *name == LowerName::new(&self.ns_name) {
            Some(self.ns_address)
        } else if self.empty_non_terminals.contains(name) {
            None
        } else {
            return Lookup::NxDomain;
        };
        match address {
            Some(ip) if wants(RecordType::A) => Lookup::Records(vec![a(ip)]),
            _ => Lookup::Records(Vec::new()),
        }
    }
}

enum Lookup {
    Records(Vec<Record>),
    NxDomain,
    Refused,
}

/// The hickory request handler: a shared [`ZoneAnswerer`].
struct Handler(Arc<ZoneAnswerer>);

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        self.0.respond(request, response_handle).await
    }
}

impl ZoneAnswerer {
    async fn respond<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let edns = request.edns.as_ref().map(|req| {
            let mut edns = Edns::new();
            edns.set_max_payload(req.max_payload().max(512));
            edns
        });
        let builder = MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let query = match request.request_info() {
            Ok(info)
                if request.metadata.message_type == MessageType::Query
                    && request.metadata.op_code == OpCode::Query =>
            {
                info.query
            }
            Ok(_) => {
                metadata.response_code = ResponseCode::NotImp;
                return send(&mut response_handle, builder.build_no_records(metadata)).await;
            }
            Err(_) => {
                metadata.response_code = ResponseCode::FormErr;
                return send(&mut response_handle, builder.build_no_records(metadata)).await;
            }
        };
        let (answers, soa) = match self.lookup(query.name(), query.query_type()) {
            Lookup::Refused => {
                metadata.response_code = ResponseCode::Refused;
                return send(&mut response_handle, builder.build_no_records(metadata)).await;
            }
            Lookup::NxDomain => {
                metadata.response_code = ResponseCode::NXDomain;
                (Vec::new(), vec![self.soa()])
            }
            // NODATA: the name exists but has no record of that type.
            Lookup::Records(records) if records.is_empty() => (records, vec![self.soa()]),
            Lookup::Records(records) => (records, Vec::new()),
        };
        metadata.authoritative = true;
        let response = builder.build(metadata, answers.iter(), [], soa.iter(), []);
        send(&mut response_handle, response).await
    }
}

async fn send<'a, R: ResponseHandler>(
    handle: &mut R,
    response: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
) -> ResponseInfo {
    let metadata = *response.metadata();
    match handle.send_response(response).await {
        Ok(info) => info,
        Err(error) => {
            tracing::warn!(%error, "failed to send a DNS response");
            let mut failed = metadata;
            failed.response_code = ResponseCode::ServFail;
            ResponseInfo::from(hickory_proto::op::Header {
                metadata: failed,
                counts: Default::default(),
            })
        }
    }
}

/// The running DNS server and its health checker.
pub struct DnsServer {
    addr: SocketAddr,
    server: Server<Handler>,
    answerer: Arc<ZoneAnswerer>,
    /// When the health checks last read the routing controls.
    last_check: Arc<Mutex<Instant>>,
    checker: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Binds UDP and TCP on `listen` (port 0: any free port, the same for both), evaluates every
    /// health check once, and starts serving. The health checks then run every
    /// `config.health_check_interval`; an interval of zero makes propagation instant (a fault
    /// for tests, see the module's docs).
    pub async fn start(
        config: &ZoneConfig,
        states: Arc<dyn RoutingControlStates>,
        listen: SocketAddr,
    ) -> Result<Self, DnsError> {
        let table = Arc::new(RwLock::new(HealthTable::new()));
        let controls: Vec<RoutingControlArn> = config
            .pairs
            .iter()
            .flat_map(|p| [&p.primary, &p.secondary])
            .filter_map(|t| t.health_check.routing_control().cloned())
            .collect();
        evaluate_health_checks(&controls, states.as_ref(), &table);
        let last_check = Arc::new(Mutex::new(Instant::now()));
        let interval = config.health_check_interval;
        let (checker, instant) = if interval.is_zero() {
            (None, Some(states))
        } else {
            let checks = HealthChecks {
                controls,
                states,
                health: table.clone(),
                last_check: last_check.clone(),
            };
            (Some(tokio::spawn(checks.run(interval))), None)
        };
        let health = Health::Controls { table, instant };
        Self::serve(config, health, listen, last_check, checker).await
    }

    /// As [`DnsServer::start`], with `CLOUDWATCH_METRIC` health checks: answers read the
    /// status `checkers` last evaluated, on their own schedule.
    pub async fn start_following(
        config: &ZoneConfig,
        checkers: Arc<HealthCheckers>,
        listen: SocketAddr,
    ) -> Result<Self, DnsError> {
        let last_check = Arc::new(Mutex::new(Instant::now()));
        Self::serve(config, Health::Checkers(checkers), listen, last_check, None).await
    }

    async fn serve(
        config: &ZoneConfig,
        health: Health,
        listen: SocketAddr,
        last_check: Arc<Mutex<Instant>>,
        checker: Option<JoinHandle<()>>,
    ) -> Result<Self, DnsError> {
        let (udp, tcp) = bind_pair(listen).await?;
        let addr = udp.local_addr().map_err(|reason| DnsError::Bind {
            addr: listen,
            reason,
        })?;
        let ns_address = match addr.ip() {
            std::net::IpAddr::V4(ip) => ip,
            std::net::IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
        };
        let answerer = Arc::new(ZoneAnswerer::new(config, ns_address, health)?);
        let mut server = Server::new(Handler(answerer.clone()));
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(10), 64);
        Ok(Self {
            addr,
            server,
            answerer,
            last_check,
            checker,
        })
    }

    /// How many queries the server has received (every name, type and transport).
    pub fn queries(&self) -> u64 {
        self.answerer.queries.load(Ordering::Relaxed)
    }

    /// When the health checks last read the routing controls: a DNS answer can reflect a
    /// routing-control change only from the next check on (unless propagation is instant).
    /// With `CLOUDWATCH_METRIC` checks, when the server started: their own status says when
    /// each was last evaluated.
    pub fn last_health_check(&self) -> Instant {
        *self.last_check.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether answers follow the routing controls at once (a zero health-check interval).
    pub fn propagation_is_instant(&self) -> bool {
        matches!(
            self.answerer.health,
            Health::Controls {
                instant: Some(_),
                ..
            }
        )
    }

    /// A handle on the answers, for whoever publishes the health checks' status while the
    /// server runs.
    pub fn answers(&self) -> Answers {
        Answers(self.answerer.clone())
    }

    /// The address the server answers on (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What `<app>.<domain>` answers now, or `None` for an app the zone does not serve.
    pub fn answer(&self, app: &AppName) -> Option<FailoverAnswer> {
        self.answers().answer(app)
    }

    /// Stops serving and stops the health checks.
    pub async fn shutdown(mut self) {
        if let Some(checker) = &self.checker {
            checker.abort();
        }
        if let Err(error) = self.server.shutdown_gracefully().await {
            tracing::debug!(%error, "DNS server shut down with an error");
        }
    }
}

/// The answers of a running server, shareable.
#[derive(Clone)]
pub struct Answers(Arc<ZoneAnswerer>);

impl Answers {
    /// What `<app>.<domain>` answers now, or `None` for an app the zone does not serve.
    pub fn answer(&self, app: &AppName) -> Option<FailoverAnswer> {
        let name = dns_name(&format!("{app}.{}", self.0.origin)).ok()?;
        let pair = self.0.failover.get(&LowerName::new(&name))?;
        Some(self.0.failover_answer(pair))
    }
}

/// Binds a UDP socket and a TCP listener on the same address. With port 0, the TCP port is
/// the one the system gave the UDP socket; if another process holds it on TCP, try again.
async fn bind_pair(listen: SocketAddr) -> Result<(UdpSocket, TcpListener), DnsError> {
    let bind_error = |reason| DnsError::Bind {
        addr: listen,
        reason,
    };
    let mut attempts = if listen.port() == 0 { 10 } else { 1 };
    loop {
        attempts -= 1;
        let udp = UdpSocket::bind(listen).await.map_err(bind_error)?;
        let addr = udp.local_addr().map_err(bind_error)?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(_) if attempts > 0 => continue,
            Err(source) => return Err(bind_error(source)),
        }
    }
}

fn evaluate_health_checks(
    controls: &[RoutingControlArn],
    states: &dyn RoutingControlStates,
    health: &RwLock<HealthTable>,
) {
    let fresh: Vec<(RoutingControlArn, bool)> = controls
        .iter()
        .filter_map(|arn| states.state(arn).map(|on| (arn.clone(), on)))
        .collect();
    // A control the cluster cannot tell about keeps its last status, as a Route 53 health
    // check does when it cannot be evaluated.
    let mut table = health.write().unwrap_or_else(|e| e.into_inner());
    table.extend(fresh);
}

/// The health checks of every record: they read the routing controls on an interval.
struct HealthChecks {
    controls: Vec<RoutingControlArn>,
    states: Arc<dyn RoutingControlStates>,
    health: Arc<RwLock<HealthTable>>,
    last_check: Arc<Mutex<Instant>>,
}

impl HealthChecks {
    async fn run(self, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            // Stamped before reading: a check stamped before a change cannot have seen it.
            *self.last_check.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
            evaluate_health_checks(&self.controls, self.states.as_ref(), &self.health);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::manifest::AppRouting;

    #[test]
    fn the_three_route53_rules() {
        assert!(answers_primary(true, true));
        assert!(answers_primary(true, false));
        assert!(!answers_primary(false, true));
        // Secondary unhealthy: the primary answers whatever its own health.
        assert!(answers_primary(false, false));
    }

    fn manifest(topology: &Topology) -> Manifest {
        let endpoint = topology::manifest::ClusterEndpoint {
            region: "us-east-1".parse().unwrap(),
            url: "http://127.0.0.1:1".into(),
        };
        local_arc::manifest_for(topology, vec![endpoint])
    }

    #[test]
    fn the_zone_pairs_each_app_with_its_addresses_and_controls() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let manifest = manifest(&topology);
        let zone = ZoneConfig::from_manifest(&topology, &manifest).unwrap();
        assert_eq!(zone.pairs.len(), topology.apps.len());
        let orders = zone
            .pairs
            .iter()
            .find(|p| p.app.as_str() == "orders")
            .unwrap();
        assert_eq!(orders.primary.address, Ipv4Addr::new(127, 0, 1, 2));
        assert_eq!(orders.secondary.address, Ipv4Addr::new(127, 0, 2, 2));
        let entry = manifest.app(&orders.app).unwrap();
        assert_eq!(
            orders.secondary.health_check.routing_control(),
            entry.routing_control(&topology.regions.secondary)
        );
        assert_eq!(zone.ttl, Duration::from_secs(5));
    }

    #[test]
    fn a_missing_routing_control_is_named() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let mut manifest = manifest(&topology);
        let AppRouting::Arc(arc) = &mut manifest.apps[1].routing else {
            unreachable!("the local ARC manifest")
        };
        arc.routing_controls.pop();
        let err = ZoneConfig::from_manifest(&topology, &manifest).unwrap_err();
        assert_eq!(
            err.to_string(),
            "app `orders` has no routing control for Region `us-west-2` in the topology or manifest"
        );
    }
}
