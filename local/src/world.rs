//! The local world, assembled: the failover mechanism's data plane (the ARC cluster, or the
//! flags in the local CloudWatch with their alarms and health checks), the Route 53 DNS server,
//! every app in both Regions on its own loopback address, the Regions' tables with replication
//! between them, every app's alarms, and the deployment manifest that describes it all.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use aws_credential_types::Credentials;
use axum::Router;
use kit::fence::{Fence, FenceConfig, FenceSource};
use kit::memory::MemoryTable;
use local_arc::{LocalCluster, LocalClusterConfig};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_rustls::rustls::{ClientConfig, ServerConfig};
use topology::manifest::{
    AppEntry, AppRouting, ArcControls, Cluster, Environment, FLAG_METRIC_NAME, FlagMetric,
    MANIFEST_VERSION, Manifest, RegionFlags, RegionalUrl, Routing,
};
use topology::{App, AppName, Mechanism, Region, RoutingControlArn, Topology};

use super::dns::{DnsServer, FailoverAnswer, RoutingControlStates, ZoneConfig};
use super::faults::EndpointFault;
use super::instance::{BindError, Instance, InstanceStatus, loopback_alias_commands};
use super::issuer::Issuer;
use super::monitoring::metrics::ApiRecorder;
use super::monitoring::{CloudWatchState, FlagState, Monitoring, PREFIX, flags};
use super::pki::WorldPki;
use super::replication::{ReplicationStatus, Replicator};

/// The health checks of the local Route 53 read the local ARC cluster's shared state.
struct ClusterStates(Arc<LocalCluster>);

impl RoutingControlStates for ClusterStates {
    fn state(&self, arn: &RoutingControlArn) -> Option<bool> {
        self.0.routing_control_state(arn)
    }
}

/// The whole architecture, running on loopback.
pub struct World {
    topology: Topology,
    manifest: Manifest,
    /// The ARC cluster (`arc` mechanism).
    cluster: Option<Arc<LocalCluster>>,
    /// The local CloudWatch: every app's alarms, and the flags (`health-check` mechanism).
    monitoring: Monitoring,
    dns: DnsServer,
    instances: Vec<Arc<Instance>>,
    tables: BTreeMap<(AppName, Region), Arc<MemoryTable>>,
    replicator: Replicator,
    control_listener: Mutex<Option<TcpListener>>,
    /// The issuer of the `api` app's tokens (`[auth]` on).
    issuer: Option<Arc<Issuer>>,
}

/// One app in one Region, as the control API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegionalState {
    #[schema(value_type = String)]
    pub region: Region,
    #[schema(value_type = String)]
    pub address: SocketAddr,
    pub instance: InstanceStatus,
    /// Whether the app's table in this Region answers (`None` for the gateway).
    pub store_available: Option<bool>,
}

/// One routing control and its state in the cluster.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ControlState {
    #[schema(value_type = String)]
    pub region: Region,
    #[schema(value_type = String)]
    pub arn: RoutingControlArn,
    /// `true` = ON; `None` when the cluster does not know the control.
    pub on: Option<bool>,
}

/// One app: its routing controls (`arc`) or flags (`health-check`), what DNS answers now and
/// how each Region is doing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppState {
    #[schema(value_type = String)]
    pub app: AppName,
    pub hostname: String,
    /// Empty with the `health-check` mechanism.
    pub routing_controls: Vec<ControlState>,
    /// The flag that takes each Region out, primary's first; empty with ARC.
    pub flags: Vec<FlagState>,
    pub dns_answer: Option<FailoverAnswer>,
    pub regions: Vec<RegionalState>,
}

/// One ARC cluster endpoint and the fault injected into it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointState {
    pub index: usize,
    #[schema(value_type = String)]
    pub region: Region,
    pub url: String,
    /// The fault injected into it, as `POST /faults/arc/{index}` takes it: `"fault": "none"`,
    /// `"fault": "slow", "delay_ms": 500`, ...
    #[serde(flatten)]
    pub fault: EndpointFault,
}

/// The state of the whole world.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorldState {
    pub domain: String,
    /// The failover mechanism: `arc` or `health-check`.
    pub mechanism: String,
    #[schema(value_type = String)]
    pub dns_server: SocketAddr,
    pub apps: Vec<AppState>,
    /// Empty with the `health-check` mechanism.
    pub arc_endpoints: Vec<EndpointState>,
    /// The local CloudWatch: its endpoints and every app's alarms.
    pub cloudwatch: CloudWatchState,
    pub replication: ReplicationStatus,
}

impl World {
    /// Starts everything `topology` describes. With ARC, the routing controls are initialized
    /// (primary ON, secondary OFF) through the data plane, as the AWS deploy initializes them;
    /// with the `health-check` mechanism no flag is published (no data keeps every record
    /// healthy: the primary answers).
    pub async fn start(topology: Topology) -> anyhow::Result<Self> {
        let mut monitoring = Monitoring::start(&topology).await.context(
            "cannot start the local CloudWatch (its ports are local.cloudwatch_first_port and the next, in topology.toml; 0 picks free ones)",
        )?;
        let (cluster, mut manifest, dns) = match topology.failover.mechanism {
            Mechanism::Arc => start_arc(&topology).await?,
            Mechanism::HealthCheck => {
                let manifest = manifest(&topology, health_check_routing(&topology, &monitoring))?;
                let zone = ZoneConfig::from_manifest(&topology, &manifest)?;
                let checkers = monitoring
                    .health_checks()
                    .context("the health-check mechanism runs health checks")?
                    .clone();
                let dns =
                    DnsServer::start_following(&zone, checkers, topology.local.dns_listen).await?;
                (None, manifest, dns)
            }
        };
        monitoring
            .define_alarms(&topology, &manifest)
            .context("cannot define the apps' alarms")?;
        manifest.dns_server = Some(dns.local_addr());
        let control_listener = TcpListener::bind(topology.local.control_listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen for the control API on {} (another `local-world run` running? change local.control_listen in topology.toml)",
                    topology.local.control_listen
                )
            })?;
        manifest.control_api = Some(format!("http://{}", control_listener.local_addr()?));
        let tables = tables(&topology);
        let pairs: Vec<_> = topology
            .services()
            .map(|app| {
                let [p, s] = topology.regions.both();
                (
                    tables[&(app.name().clone(), p.clone())].clone(),
                    tables[&(app.name().clone(), s.clone())].clone(),
                )
            })
            .collect();
        let replicator = Replicator::start(&pairs, topology.local.replication_lag());
        let door = if topology.aws.gateway_only {
            let pki = services_pki(&topology)?;
            manifest.trusted_client = Some(pki.trusted_client());
            Some(ServicesTls {
                server: pki.server_config()?,
                gateway: Arc::new(pki.gateway_client()?),
            })
        } else {
            None
        };
        let fences = fences(&topology, &manifest);
        let issuer = Issuer::start_for(&topology).await?;
        manifest.auth = issuer.as_ref().map(|i| i.manifest_entry());
        let auth = issuer
            .as_ref()
            .and_then(|i| gateway::AuthConfig::local(&topology.auth, i.url()));
        let mut recorders = BTreeMap::new();
        for app in &topology.apps {
            for region in topology.regions.both() {
                let recorder = monitoring.recorder(app.name(), region);
                recorders.insert((app.name().clone(), region.clone()), recorder);
            }
        }
        let shared = Shared {
            tables: &tables,
            dns_server: dns.local_addr(),
            door,
            auth,
            fences: &fences,
            recorders: &recorders,
        };
        let instances = start_instances(&topology, &shared).await?;
        monitoring.start_publishing(&topology, dns.answers(), replicator.latency_feed());
        Ok(Self {
            topology,
            manifest,
            cluster,
            monitoring,
            dns,
            instances,
            tables,
            replicator,
            control_listener: Mutex::new(Some(control_listener)),
            issuer,
        })
    }

    /// The issuer of the `api` app's tokens; `None` with auth off.
    pub fn issuer(&self) -> Option<&Issuer> {
        self.issuer.as_deref()
    }

    /// The manifest describing this world (`.local/deployment.json`).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The topology the world runs.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The local ARC cluster (`arc` mechanism).
    pub fn cluster(&self) -> Option<&LocalCluster> {
        self.cluster.as_deref()
    }

    /// The local CloudWatch: its endpoints, every app's alarms, the flags and their health
    /// checks (`health-check` mechanism).
    pub fn monitoring(&self) -> &Monitoring {
        &self.monitoring
    }

    /// The deployment's failover mechanism.
    pub fn mechanism(&self) -> Mechanism {
        self.manifest.mechanism()
    }

    /// The local Route 53.
    pub fn dns(&self) -> &DnsServer {
        &self.dns
    }

    /// Replication between the Regions' tables.
    pub fn replicator(&self) -> &Replicator {
        &self.replicator
    }

    /// Every app instance, apps in topology order, primary Region first.
    pub fn instances(&self) -> &[Arc<Instance>] {
        &self.instances
    }

    /// The instance of `app` in `region`.
    pub fn instance(&self, app: &AppName, region: &Region) -> Option<&Arc<Instance>> {
        self.instances
            .iter()
            .find(|i| i.app == *app && i.region == *region)
    }

    /// The table of service `app` in `region`.
    pub fn table(&self, app: &AppName, region: &Region) -> Option<&Arc<MemoryTable>> {
        self.tables.get(&(app.clone(), region.clone()))
    }

    /// Takes the control API's bound listener (once), for [`super::control::serve`].
    pub(crate) fn take_control_listener(&self) -> Option<TcpListener> {
        self.control_listener
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The state of every part, for the control API and the demo.
    pub async fn state(&self) -> WorldState {
        let mut apps = Vec::new();
        for entry in &self.manifest.apps {
            apps.push(self.app_state(entry).await);
        }
        let faults = self.cluster().map(LocalCluster::faults).unwrap_or_default();
        let arc_endpoints = self
            .manifest
            .cluster()
            .map(|c| c.endpoints.as_slice())
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(index, e)| EndpointState {
                index,
                region: e.region.clone(),
                url: e.url.clone(),
                fault: faults.get(index).copied().unwrap_or_default().into(),
            })
            .collect();
        WorldState {
            domain: self.manifest.domain.to_string(),
            mechanism: self.mechanism().as_str().to_owned(),
            dns_server: self.dns.local_addr(),
            apps,
            arc_endpoints,
            cloudwatch: self.monitoring.state(),
            replication: self.replicator.status(),
        }
    }

    async fn app_state(&self, entry: &AppEntry) -> AppState {
        let mut regions = Vec::new();
        for region in self.topology.regions.both() {
            if let Some(instance) = self.instance(&entry.name, region) {
                regions.push(RegionalState {
                    region: region.clone(),
                    address: instance.addr,
                    instance: instance.status().await,
                    store_available: self.table(&entry.name, region).map(|t| t.is_available()),
                });
            }
        }
        AppState {
            app: entry.name.clone(),
            hostname: entry.hostname.clone(),
            routing_controls: entry
                .arc()
                .map(|arc| arc.routing_controls.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|c| ControlState {
                    region: c.region.clone(),
                    arn: c.arn.clone(),
                    on: self
                        .cluster()
                        .and_then(|cluster| cluster.routing_control_state(&c.arn)),
                })
                .collect(),
            flags: self.monitoring.flag_states(&entry.name),
            dns_answer: self.dns.answer(&entry.name),
            regions,
        }
    }

    /// Stops every part.
    pub async fn shutdown(self) {
        for instance in &self.instances {
            instance.stop().await;
        }
        self.dns.shutdown().await;
        self.monitoring.shutdown().await;
        if let Some(cluster) = self.cluster.and_then(|c| Arc::try_unwrap(c).ok()) {
            cluster.shutdown().await;
        }
    }
}

/// The ARC mechanism's parts: the cluster (its routing controls initialized), the manifest
/// that names it, and the local Route 53 whose health checks read it.
async fn start_arc(
    topology: &Topology,
) -> anyhow::Result<(Option<Arc<LocalCluster>>, Manifest, DnsServer)> {
    // `arc_first_port = 0` puts each endpoint on a free port (tests, parallel worlds).
    let config = LocalClusterConfig::from_topology(topology);
    let cluster = Arc::new(
        LocalCluster::start(topology, config)
            .await
            .context("cannot start the local ARC cluster (its ports are local.arc_first_port and the four after it, in topology.toml)")?,
    );
    let manifest = manifest(topology, arc_routing(topology, &cluster)?)?;
    failover::Client::from_manifest(&manifest, failover::ClientConfig::default())
        .context("cannot create the ARC client for the local cluster")?
        .initialize()
        .await
        .context("cannot initialize the routing controls")?;
    let zone = ZoneConfig::from_manifest(topology, &manifest)?;
    let states: Arc<dyn RoutingControlStates> = Arc::new(ClusterStates(cluster.clone()));
    let dns = DnsServer::start(&zone, states, topology.local.dns_listen).await?;
    Ok((Some(cluster), manifest, dns))
}

/// How the manifest's failover records are driven: the deployment's and each app's.
struct RoutingOf {
    routing: Routing,
    apps: BTreeMap<AppName, AppRouting>,
}

/// ARC: the cluster and, per app, its control panel, routing controls and safety rule.
fn arc_routing(topology: &Topology, cluster: &LocalCluster) -> anyhow::Result<RoutingOf> {
    let mut apps = BTreeMap::new();
    for app in &topology.apps {
        let Some((control_panel_arn, routing_controls, safety_rule_arn)) =
            cluster.app_controls(app.name())
        else {
            bail!("the local ARC cluster has no controls for `{}`", app.name());
        };
        let controls = ArcControls {
            control_panel_arn,
            safety_rule_arn,
            routing_controls,
        };
        apps.insert(app.name().clone(), AppRouting::Arc(controls));
    }
    Ok(RoutingOf {
        routing: Routing::Arc {
            cluster: Cluster {
                arn: cluster.arn().clone(),
                endpoints: cluster.endpoints(),
            },
        },
        apps,
    })
}

/// The health-check mechanism: the flags' metric and where CloudWatch answers (every
/// endpoint, us-east-1's included), and per app its two flags.
fn health_check_routing(topology: &Topology, monitoring: &Monitoring) -> RoutingOf {
    let apps = topology
        .apps
        .iter()
        .map(|app| {
            let flags = monitoring
                .flags_of(app.name())
                .into_iter()
                .map(flags::Flag::manifest_entry)
                .collect();
            (
                app.name().clone(),
                AppRouting::HealthCheck(RegionFlags { flags }),
            )
        })
        .collect();
    RoutingOf {
        routing: Routing::HealthCheck {
            flags: FlagMetric {
                namespace: flags::namespace().to_string(),
                metric_name: FLAG_METRIC_NAME.to_owned(),
                endpoints: monitoring.endpoints(),
            },
        },
        apps,
    }
}

/// The manifest of the local world: the local domain, the mechanism's routing, per app its
/// URLs (`http://orders.example.test:8000`, and per Region
/// `http://orders.us-west-2.example.test:8000`), tables and alarms.
fn manifest(topology: &Topology, mut routing: RoutingOf) -> anyhow::Result<Manifest> {
    let domain = &topology.local.domain;
    let port = topology.local.app_port;
    let apps = topology
        .apps
        .iter()
        .map(|app| {
            let app_routing = routing
                .apps
                .remove(app.name())
                .with_context(|| format!("no routing for `{}`", app.name()))?;
            Ok(AppEntry {
                // Locally `/` and `/health` also answer plain HTTP without the certificate
                // (`door`), so `failover --verify` and the probes may call them.
                client_certificate_required: false,
                routes: app
                    .as_gateway()
                    .map(|g| g.routes().clone())
                    .unwrap_or_default(),
                name: app.name().clone(),
                hostname: format!("{}.{domain}", app.name()),
                url: format!("http://{}.{domain}:{port}", app.name()),
                routing: app_routing,
                regional_urls: topology
                    .regions
                    .both()
                    .into_iter()
                    .map(|region| RegionalUrl {
                        region: region.clone(),
                        url: format!("http://{}.{region}.{domain}:{port}", app.name()),
                    })
                    .collect(),
                tables: topology::manifest::tables_of(app, &topology.regions),
                dns_targets: Vec::new(),
                alarms: topology::manifest::alarms_of(app, &topology.regions, PREFIX),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Manifest {
        manifest_version: MANIFEST_VERSION,
        environment: Environment::Local,
        domain: domain.clone(),
        regions: topology.regions.clone(),
        routing: routing.routing,
        apps,
        dns_server: None,
        control_api: None,
        name_servers: Vec::new(),
        trusted_client: None,
        auth: None,
    })
}

fn tables(topology: &Topology) -> BTreeMap<(AppName, Region), Arc<MemoryTable>> {
    let mut tables = BTreeMap::new();
    for app in topology.services() {
        for region in topology.regions.both() {
            tables.insert(
                (app.name().clone(), region.clone()),
                MemoryTable::new(&app.table().name, region.clone()),
            );
        }
    }
    tables
}

/// The write fence of every instance of a service with `fence_writes`: the same code as on
/// AWS, reading the mechanism's own data plane: the local ARC cluster's endpoints for the
/// instance's own Region's control, or the local CloudWatch's for the app's two flags.
fn fences(topology: &Topology, manifest: &Manifest) -> BTreeMap<(AppName, Region), Arc<Fence>> {
    // The local emulators check that calls are signed, not by whom.
    let credentials = Credentials::new(
        "AKIDLOCALFENCE",
        "local-fence-secret",
        None,
        None,
        "local-world",
    );
    let mut fences = BTreeMap::new();
    for service in topology.services().filter(|s| s.fence_writes()) {
        let Some(entry) = manifest.app(service.name()) else {
            continue;
        };
        for region in topology.regions.both() {
            let Some(source) = fence_source(manifest, entry, region) else {
                continue;
            };
            let config = FenceConfig {
                source,
                retry_after: topology.local.ttl(),
            };
            fences.insert(
                (service.name().clone(), region.clone()),
                Fence::with_credentials(region.clone(), config, credentials.clone()),
            );
        }
    }
    fences
}

/// Where the fence of `entry`'s instance in `region` reads whether its Region serves.
fn fence_source(manifest: &Manifest, entry: &AppEntry, region: &Region) -> Option<FenceSource> {
    match &manifest.routing {
        Routing::Arc { cluster } => Some(FenceSource::RoutingControl {
            control: entry.routing_control(region)?.clone(),
            endpoints: cluster.endpoints.clone(),
        }),
        Routing::HealthCheck { flags } => Some(FenceSource::Flags {
            namespace: flags.namespace.clone(),
            app: entry.name.clone(),
            regions: manifest.regions.clone(),
            endpoints: flags.endpoints.clone(),
        }),
    }
}

/// The run's CA and its certificates for the services' mutual TLS: the server certificate
/// names every service's hostnames and loopback addresses (the gateway connects to the
/// address its DNS answer gave).
fn services_pki(topology: &Topology) -> anyhow::Result<WorldPki> {
    let domain = &topology.local.domain;
    let mut names = Vec::new();
    let mut addresses = Vec::new();
    for service in topology.services() {
        names.push(format!("{}.{domain}", service.name()));
        for region in topology.regions.both() {
            names.push(format!("{}.{region}.{domain}", service.name()));
            addresses.extend(
                topology
                    .local_address(service.name(), region)
                    .map(IpAddr::V4),
            );
        }
    }
    WorldPki::generate(names, &addresses).context("cannot make the local CA's certificates")
}

/// The services' TLS when they admit only the gateway.
struct ServicesTls {
    server: Arc<ServerConfig>,
    gateway: Arc<ClientConfig>,
}

/// What every instance's router is built from.
struct Shared<'a> {
    tables: &'a BTreeMap<(AppName, Region), Arc<MemoryTable>>,
    dns_server: SocketAddr,
    door: Option<ServicesTls>,
    /// The gateway's token checks (`[auth]`).
    auth: Option<gateway::AuthConfig>,
    fences: &'a BTreeMap<(AppName, Region), Arc<Fence>>,
    recorders: &'a BTreeMap<(AppName, Region), Arc<ApiRecorder>>,
}

/// The router of `app` in `region`; with the services' TLS, the gateway presents its
/// certificate and services demand it, as on AWS with `aws.gateway_only`.
fn app_router(
    topology: &Topology,
    app: &App,
    region: &Region,
    shared: &Shared<'_>,
) -> anyhow::Result<Router> {
    match app {
        App::Gateway(gateway) => {
            let mut config = gateway::GatewayConfig::local(
                topology,
                gateway.name(),
                region.clone(),
                shared.dns_server,
            )?;
            config.upstream_tls = shared.door.as_ref().map(|d| d.gateway.clone());
            config.auth = shared.auth.clone();
            Ok(gateway::router(config))
        }
        App::Service(service) => {
            let key = (service.name().clone(), region.clone());
            let table = shared.tables[&key].clone();
            let implementation = crate::services::implementing(service)?;
            let router = (implementation.router)(table, region.clone());
            let router = kit::fence::guard(router, shared.fences.get(&key).cloned());
            Ok(match shared.door {
                Some(_) => crate::door::guard(router),
                None => router,
            })
        }
    }
}

async fn start_instances(
    topology: &Topology,
    shared: &Shared<'_>,
) -> anyhow::Result<Vec<Arc<Instance>>> {
    let mut instances = Vec::new();
    let mut missing: Vec<IpAddr> = Vec::new();
    for app in &topology.apps {
        for region in topology.regions.both() {
            let ip = topology
                .local_address(app.name(), region)
                .with_context(|| format!("no loopback address for `{}` in {region}", app.name()))?;
            let addr = SocketAddr::new(ip.into(), topology.local.app_port);
            let router = app_router(topology, app, region, shared)?;
            let recorder = shared
                .recorders
                .get(&(app.name().clone(), region.clone()))
                .cloned();
            let started = Instance::start_measured(
                app.name().clone(),
                region.clone(),
                addr,
                router,
                recorder,
                app.as_service()
                    .and(shared.door.as_ref())
                    .map(|d| d.server.clone()),
            )
            .await;
            match started {
                Ok(instance) => instances.push(instance),
                Err(BindError::AddressMissing { .. }) => missing.push(addr.ip()),
                Err(other) => return Err(other.into()),
            }
        }
    }
    if !missing.is_empty() {
        bail!(
            "these loopback addresses do not exist on this machine (macOS has only 127.0.0.1); add them with:\n{}",
            loopback_alias_commands(&missing)
        );
    }
    Ok(instances)
}
