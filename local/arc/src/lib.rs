//! The local ARC cluster: five endpoints on loopback speaking the routing-control data-plane
//! API over one shared state, with safety rules, a quorum, a per-endpoint request rate, and
//! faults that can be switched per endpoint at run time.
//!
//! It exists because nothing else emulates ARC (moto and LocalStack answer 500), and because
//! the failover client must be tested with the real SDK on the wire.

mod endpoint;
mod protocol;
pub mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use topology::manifest::{
    AppEntry, AppRouting, ArcControls, Cluster, ClusterEndpoint, Environment, MANIFEST_VERSION,
    Manifest, RegionalControl, RegionalUrl, Routing,
};
use topology::{
    AppName, ClusterArn, ControlPanelArn, Region, RoutingControlArn, SafetyRuleArn, Topology,
};

use endpoint::Endpoint;
use state::{ClusterState, ControlPanel, RuleConfig, SafetyRule};

pub use protocol::{ACCOUNT, MAX_BATCH};

/// What an endpoint does with requests; switch with [`LocalCluster::set_fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Answers normally.
    #[default]
    None,
    /// The listener is closed: connections are refused. Counts against the quorum.
    Down,
    /// Accepts connections and requests, and answers none until the fault is lifted. Still
    /// counts as up for the quorum (it is the network path that is broken, not the endpoint).
    Hang,
    /// Answers after this delay.
    Slow(Duration),
    /// Answers every request with a 500 InternalServerException.
    Error,
    /// Answers every request with a 429 ThrottlingException.
    Throttle,
}

/// One update call an endpoint received (UpdateRoutingControlState or -States), as logged by
/// [`LocalCluster::update_calls`]: what tests assert batch sizes and the spread over
/// endpoints with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateCall {
    /// The endpoint's index in the cluster.
    pub endpoint: usize,
    /// Routing controls in the call.
    pub controls: usize,
    pub outcome: UpdateOutcome,
    /// When the endpoint answered it.
    pub at: Instant,
}

/// How an update call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    Applied,
    /// Over the endpoint's request rate (429 ThrottlingException).
    Throttled,
    /// Any other error: a safety rule, a validation, a lost quorum, a batch over 10.
    Refused,
}

/// The most update calls the log keeps (the oldest go first): bounded in a long-running world.
const UPDATE_LOG_CAPACITY: usize = 10_000;

/// Why the local cluster could not start or change.
#[derive(Debug, thiserror::Error)]
pub enum LocalClusterError {
    #[error(
        "cannot listen on {addr} for the ARC endpoint in {region}: {reason} (is another local world or cluster running on it?)"
    )]
    Bind {
        region: Region,
        addr: SocketAddr,
        reason: std::io::Error,
    },
    #[error("the cluster has {count} endpoints, numbered from 0; there is no endpoint {index}")]
    NoSuchEndpoint { index: usize, count: usize },
    #[error("the cluster needs at least one endpoint")]
    NoEndpoints,
    #[error(
        "ports {first} and up leave no room for {count} endpoints: the first port is at most {}",
        u16::MAX as usize + 1 - count
    )]
    PortsOutOfRange { first: u16, count: usize },
}

/// Where the endpoints listen and how the cluster behaves.
#[derive(Debug, Clone)]
pub struct LocalClusterConfig {
    /// One endpoint per entry: its Region (the Region requests are signed for) and its address.
    /// Port 0 picks a free port, kept when a Down endpoint comes back.
    pub endpoints: Vec<(Region, SocketAddr)>,
    /// Mutating calls each endpoint accepts per second (ARC: about 3).
    pub mutations_per_second: f64,
    /// How long a safety rule refuses changes to its controls after it blocked one.
    pub safety_rule_wait_period: Duration,
}

impl LocalClusterConfig {
    /// The topology's endpoints (`arc_first_port`..+4) and wait period, ARC's request rate.
    pub fn from_topology(topology: &Topology) -> Self {
        Self {
            endpoints: topology.local_arc_endpoints(),
            mutations_per_second: 3.0,
            safety_rule_wait_period: Duration::from_millis(topology.arc.safety_rule_wait_period_ms),
        }
    }

    /// As [`Self::from_topology`], with every endpoint on a free port of 127.0.0.1 (tests).
    pub fn ephemeral(topology: &Topology) -> Self {
        let mut config = Self::from_topology(topology);
        for (_, addr) in &mut config.endpoints {
            *addr = SocketAddr::from(([127, 0, 0, 1], 0));
        }
        config
    }

    /// The same endpoints on ports `first` to `first + n - 1` of their addresses, or each on a
    /// free port when `first` is 0. A port past 65535 is an error naming the first port.
    pub fn with_first_port(mut self, first: u16) -> Result<Self, LocalClusterError> {
        let count = self.endpoints.len();
        for (i, (_, addr)) in self.endpoints.iter_mut().enumerate() {
            let port = if first == 0 {
                Some(0)
            } else {
                u16::try_from(i).ok().and_then(|i| first.checked_add(i))
            };
            addr.set_port(port.ok_or(LocalClusterError::PortsOutOfRange { first, count })?);
        }
        Ok(self)
    }
}

/// The state shared by every endpoint.
pub(crate) struct Shared {
    state: Mutex<ClusterState>,
    faults: Mutex<Vec<Fault>>,
    buckets: Mutex<Vec<Bucket>>,
    mutations_per_second: f64,
    updates: Mutex<std::collections::VecDeque<UpdateCall>>,
}

/// A token bucket: ARC's per-endpoint rate of mutating calls.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, ClusterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn faults_guard(&self) -> MutexGuard<'_, Vec<Fault>> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn fault(&self, index: usize) -> Fault {
        self.faults_guard().get(index).copied().unwrap_or_default()
    }

    pub(crate) fn down_count(&self) -> usize {
        self.faults_guard()
            .iter()
            .filter(|f| **f == Fault::Down)
            .count()
    }

    /// Updates fail once this many endpoints are down (no majority left).
    pub(crate) fn quorum_loss_at(&self) -> usize {
        let n = self.faults_guard().len();
        n - (n / 2 + 1) + 1
    }

    pub(crate) fn record(&self, call: UpdateCall) {
        let mut log = self.updates.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() == UPDATE_LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(call);
    }

    pub(crate) fn take_mutation_token(&self, index: usize) -> bool {
        let rate = self.mutations_per_second;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bucket) = buckets.get_mut(index) else {
            return false;
        };
        let now = Instant::now();
        let refill = now.duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(rate.max(1.0));
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One app's ARC resources: its control panel, a routing control per Region, its safety rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppControls {
    pub app: AppName,
    pub control_panel: ControlPanelArn,
    pub routing_controls: Vec<RegionalControl>,
    pub safety_rule: SafetyRuleArn,
}

/// The running local cluster. Stop it with [`LocalCluster::shutdown`]; dropping it also stops
/// the endpoints (without waiting).
pub struct LocalCluster {
    arn: ClusterArn,
    shared: Arc<Shared>,
    endpoints: Vec<Endpoint>,
    apps: Vec<AppControls>,
    /// Serializes fault changes, which close and reopen listeners.
    fault_lock: tokio::sync::Mutex<()>,
}

impl LocalCluster {
    /// Creates per app a control panel, a routing control per Region (OFF, as ARC creates
    /// them) and an assertion rule (ATLEAST 1 of the two ON), then starts the endpoints.
    pub async fn start(
        topology: &Topology,
        config: LocalClusterConfig,
    ) -> Result<Self, LocalClusterError> {
        if config.endpoints.is_empty() {
            return Err(LocalClusterError::NoEndpoints);
        }
        let apps: Vec<AppControls> = topology
            .apps
            .iter()
            .map(|app| app_controls(app.name(), topology))
            .collect();
        let mut state = ClusterState::default();
        for app in &apps {
            register(&mut state, app, config.safety_rule_wait_period);
        }
        let n = config.endpoints.len();
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            faults: Mutex::new(vec![Fault::None; n]),
            buckets: Mutex::new(vec![
                Bucket {
                    tokens: config.mutations_per_second.max(1.0),
                    at: Instant::now(),
                };
                n
            ]),
            mutations_per_second: config.mutations_per_second,
            updates: Mutex::default(),
        });
        let mut endpoints = Vec::with_capacity(n);
        for (index, (region, addr)) in config.endpoints.iter().enumerate() {
            endpoints.push(Endpoint::start(shared.clone(), index, region.clone(), *addr).await?);
        }
        Ok(Self {
            arn: cluster_arn(),
            shared,
            endpoints,
            apps,
            fault_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The cluster's ARN.
    pub fn arn(&self) -> &ClusterArn {
        &self.arn
    }

    /// The endpoints as the manifest lists them (Region, `http://127.0.0.1:port`).
    pub fn endpoints(&self) -> Vec<ClusterEndpoint> {
        self.endpoints
            .iter()
            .map(|e| ClusterEndpoint {
                region: e.region.clone(),
                url: format!("http://{}", e.addr),
            })
            .collect()
    }

    /// The address of every endpoint, in order.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.endpoints.iter().map(|e| e.addr).collect()
    }

    /// The ARC resources of `app`: control panel, routing control per Region, safety rule.
    pub fn app_controls(
        &self,
        app: &AppName,
    ) -> Option<(ControlPanelArn, Vec<RegionalControl>, SafetyRuleArn)> {
        self.app(app).map(|a| {
            (
                a.control_panel.clone(),
                a.routing_controls.clone(),
                a.safety_rule.clone(),
            )
        })
    }

    /// The ARC resources of `app`, as a struct.
    pub fn app(&self, app: &AppName) -> Option<&AppControls> {
        self.apps.iter().find(|a| a.app == *app)
    }

    /// Whether a routing control is ON, read in process (the local health checks poll this).
    pub fn routing_control_state(&self, arn: &RoutingControlArn) -> Option<bool> {
        self.shared.state().control(arn).map(|c| c.on)
    }

    /// The update calls received so far (the latest 10,000), oldest first.
    pub fn update_calls(&self) -> Vec<UpdateCall> {
        let log = self
            .shared
            .updates
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        log.iter().copied().collect()
    }

    /// Forgets the update calls logged so far.
    pub fn clear_update_calls(&self) {
        self.shared
            .updates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The fault of every endpoint, in order.
    pub fn faults(&self) -> Vec<Fault> {
        self.shared.faults_guard().clone()
    }

    /// Changes what endpoint `index` does. `Down` closes its listener (connections are refused
    /// and open ones are cut); leaving `Down` listens again on the same address.
    pub async fn set_fault(&self, index: usize, fault: Fault) -> Result<(), LocalClusterError> {
        let _serial = self.fault_lock.lock().await;
        let endpoint = self
            .endpoints
            .get(index)
            .ok_or(LocalClusterError::NoSuchEndpoint {
                index,
                count: self.endpoints.len(),
            })?;
        let before = self.shared.fault(index);
        if fault == Fault::Down && before != Fault::Down {
            endpoint.go_down().await;
        }
        self.shared.faults_guard()[index] = fault;
        if fault != Fault::Down && before == Fault::Down {
            endpoint.reopen(self.shared.clone(), index).await?;
        }
        Ok(())
    }

    /// The manifest of a world made of this cluster alone: see [`manifest_for`].
    pub fn manifest(&self, topology: &Topology) -> Manifest {
        manifest_for(topology, self.endpoints())
    }

    /// Stops every endpoint and waits until their listeners are closed.
    pub async fn shutdown(self) {
        for endpoint in &self.endpoints {
            endpoint.close().await;
        }
    }
}

/// The cluster's ARN (the same on every run).
fn cluster_arn() -> ClusterArn {
    format!(
        "arn:aws:route53-recovery-control::{ACCOUNT}:cluster/{}",
        id("cluster", 32)
    )
    .parse()
    .expect("a well-formed cluster ARN")
}

/// The manifest of a local cluster with these endpoints: the topology's local domain, its apps
/// with the cluster's deterministic ARNs, their direct loopback URLs, no DNS server (`local-world
/// run` writes the full one). Also useful to point a client at other servers in tests.
pub fn manifest_for(topology: &Topology, endpoints: Vec<ClusterEndpoint>) -> Manifest {
    let domain = &topology.local.domain;
    let port = topology.local.app_port;
    let apps = topology
        .apps
        .iter()
        .map(|app| {
            let a = app_controls(app.name(), topology);
            AppEntry {
                client_certificate_required: false,
                routes: app
                    .as_gateway()
                    .map(|g| g.routes().clone())
                    .unwrap_or_default(),
                hostname: format!("{}.{domain}", a.app),
                url: format!("http://{}.{domain}:{port}", a.app),
                routing: AppRouting::Arc(ArcControls {
                    control_panel_arn: a.control_panel.clone(),
                    safety_rule_arn: a.safety_rule.clone(),
                    routing_controls: a.routing_controls.clone(),
                }),
                regional_urls: topology
                    .regions
                    .both()
                    .into_iter()
                    .filter_map(|region| {
                        let ip = topology.local_address(&a.app, region)?;
                        Some(RegionalUrl {
                            region: region.clone(),
                            url: format!("http://{ip}:{port}"),
                        })
                    })
                    .collect(),
                tables: Vec::new(),
                dns_targets: Vec::new(),
                alarms: Vec::new(),
                name: a.app,
            }
        })
        .collect();
    Manifest {
        manifest_version: MANIFEST_VERSION,
        environment: Environment::Local,
        domain: domain.clone(),
        regions: topology.regions.clone(),
        routing: Routing::Arc {
            cluster: Cluster {
                arn: cluster_arn(),
                endpoints,
            },
        },
        apps,
        dns_server: None,
        control_api: None,
        name_servers: Vec::new(),
        trusted_client: None,
        auth: None,
    }
}

/// A deterministic id of `len` hex digits for `seed`: manifests stay the same across runs.
fn id(seed: &str, len: usize) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    hex::encode(digest)[..len].to_owned()
}

fn app_controls(app: &AppName, topology: &Topology) -> AppControls {
    let panel = format!(
        "arn:aws:route53-recovery-control::{ACCOUNT}:controlpanel/{}",
        id(&format!("controlpanel/{app}"), 32)
    );
    let routing_controls = topology
        .regions
        .both()
        .into_iter()
        .map(|region| RegionalControl {
            region: region.clone(),
            arn: format!(
                "{panel}/routingcontrol/{}",
                id(&format!("routingcontrol/{app}/{region}"), 16)
            )
            .parse()
            .expect("a well-formed routing control ARN"),
        })
        .collect();
    AppControls {
        app: app.clone(),
        control_panel: panel.parse().expect("a well-formed control panel ARN"),
        routing_controls,
        safety_rule: format!(
            "{panel}/safetyrule/{}",
            id(&format!("safetyrule/{app}"), 16)
        )
        .parse()
        .expect("a well-formed safety rule ARN"),
    }
}

fn register(state: &mut ClusterState, app: &AppControls, wait_period: Duration) {
    state.add_panel(ControlPanel {
        arn: app.control_panel.clone(),
        name: format!("{}-panel", app.app),
    });
    for control in &app.routing_controls {
        state.add_control(
            control.arn.clone(),
            format!("{}-{}", app.app, control.region),
        );
    }
    state.add_rule(SafetyRule::Assertion {
        arn: app.safety_rule.clone(),
        asserted: app.routing_controls.iter().map(|c| c.arn.clone()).collect(),
        config: RuleConfig::at_least(1),
        wait_period,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_move_to_consecutive_ports_or_free_ones() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let ports = |config: LocalClusterConfig| -> Vec<u16> {
            config.endpoints.iter().map(|(_, a)| a.port()).collect()
        };
        let config = LocalClusterConfig::from_topology(&topology);
        assert_eq!(ports(config.clone()), [8091, 8092, 8093, 8094, 8095]);
        let moved = config.clone().with_first_port(8191).unwrap();
        assert_eq!(ports(moved.clone()), [8191, 8192, 8193, 8194, 8195]);
        assert!(moved.endpoints.iter().all(|(_, a)| a.ip().is_loopback()));
        assert_eq!(ports(config.clone().with_first_port(0).unwrap()), [0; 5]);
        assert!(config.clone().with_first_port(65531).is_ok());
        let error = config.with_first_port(65532).unwrap_err();
        assert!(error.to_string().contains("at most 65531"), "{error}");
    }

    #[tokio::test]
    async fn a_down_endpoint_refuses_connections_and_keeps_its_port() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let config = LocalClusterConfig::from_topology(&topology)
            .with_first_port(0)
            .unwrap();
        let cluster = LocalCluster::start(&topology, config).await.unwrap();
        let addr: SocketAddr = cluster.endpoints()[0]
            .url
            .trim_start_matches("http://")
            .parse()
            .unwrap();
        cluster.set_fault(0, Fault::Down).await.unwrap();
        let refused = tokio::net::TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        // No other server can take the port while it is down (a concurrent test's cluster has
        // the same ARNs, and would answer for this one).
        assert!(tokio::net::TcpListener::bind(addr).await.is_err());
        cluster.set_fault(0, Fault::None).await.unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
        cluster.shutdown().await;
    }

    #[test]
    fn arns_are_stable_and_distinct_per_app() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let orders: AppName = "orders".parse().unwrap();
        let users: AppName = "users".parse().unwrap();
        let a = app_controls(&orders, &topology);
        assert_eq!(a, app_controls(&orders, &topology));
        let b = app_controls(&users, &topology);
        assert_ne!(a.control_panel, b.control_panel);
        assert_eq!(a.routing_controls.len(), 2);
        for c in &a.routing_controls {
            assert_eq!(c.arn.control_panel(), a.control_panel);
        }
        assert!(a.safety_rule.as_str().starts_with(a.control_panel.as_str()));
    }
}
