//! The local world, assembled: the ARC cluster, the Route 53 DNS server, every app in both
//! Regions on its own loopback address, the Regions' tables with replication between them,
//! and the deployment manifest that describes it all.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use aws_credential_types::Credentials;
use axum::Router;
use kit::fence::{Fence, FenceConfig, FenceSource};
use kit::gateway_only::GatewaySecret;
use kit::memory::MemoryTable;
use local_arc::{LocalCluster, LocalClusterConfig};
use rand::Rng;
use serde::Serialize;
use tokio::net::TcpListener;
use topology::manifest::{
    AppEntry, AppRouting, ArcControls, Cluster, Environment, MANIFEST_VERSION, Manifest,
    RegionalUrl, Routing,
};
use topology::{App, AppName, Region, RoutingControlArn, Topology};

use super::dns::{DnsServer, FailoverAnswer, RoutingControlStates, ZoneConfig};
use super::faults::EndpointFault;
use super::instance::{BindError, Instance, InstanceStatus, loopback_alias_commands};
use super::issuer::Issuer;
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
    cluster: Arc<LocalCluster>,
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

/// One app: its routing controls, what DNS answers now and how each Region is doing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppState {
    #[schema(value_type = String)]
    pub app: AppName,
    pub hostname: String,
    pub routing_controls: Vec<ControlState>,
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
    #[schema(value_type = String)]
    pub dns_server: SocketAddr,
    pub apps: Vec<AppState>,
    pub arc_endpoints: Vec<EndpointState>,
    pub replication: ReplicationStatus,
}

impl World {
    /// Starts everything `topology` describes, with the routing controls initialized (primary
    /// ON, secondary OFF) through the data plane, as the AWS deploy initializes them.
    pub async fn start(topology: Topology) -> anyhow::Result<Self> {
        // `arc_first_port = 0` puts each endpoint on a free port (tests, parallel worlds).
        let config = LocalClusterConfig::from_topology(&topology);
        let cluster = Arc::new(
            LocalCluster::start(&topology, config)
                .await
                .context("cannot start the local ARC cluster (its ports are local.arc_first_port and the four after it, in topology.toml)")?,
        );
        let mut manifest = manifest(&topology, &cluster)?;
        failover::Client::from_manifest(&manifest, failover::ClientConfig::default())
            .context("cannot create the ARC client for the local cluster")?
            .initialize()
            .await
            .context("cannot initialize the routing controls")?;
        let zone = ZoneConfig::from_manifest(&topology, &manifest)?;
        let states: Arc<dyn RoutingControlStates> = Arc::new(ClusterStates(cluster.clone()));
        let dns = DnsServer::start(&zone, states, topology.local.dns_listen).await?;
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
        manifest.gateway_secret = topology.aws.gateway_only.then(generate_secret);
        let secret = manifest
            .gateway_secret
            .as_deref()
            .and_then(GatewaySecret::new);
        let fences = fences(&topology, &manifest);
        let issuer = Issuer::start_for(&topology).await?;
        manifest.auth = issuer.as_ref().map(|i| i.manifest_entry());
        let auth = issuer
            .as_ref()
            .and_then(|i| gateway::AuthConfig::local(&topology.auth, i.url()));
        let guards = Guards { secret, auth };
        let instances =
            start_instances(&topology, &tables, dns.local_addr(), &guards, &fences).await?;
        Ok(Self {
            topology,
            manifest,
            cluster,
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

    /// The local ARC cluster.
    pub fn cluster(&self) -> &LocalCluster {
        &self.cluster
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
        let faults = self.cluster.faults();
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
            dns_server: self.dns.local_addr(),
            apps,
            arc_endpoints,
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
                    on: self.cluster.routing_control_state(&c.arn),
                })
                .collect(),
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
        if let Ok(cluster) = Arc::try_unwrap(self.cluster) {
            cluster.shutdown().await;
        }
    }
}

/// The manifest of the local world: the local domain, the cluster, per app its controls and
/// URLs (`http://orders.example.test:8000`, and per Region `http://orders.us-west-2.example.test:8000`).
fn manifest(topology: &Topology, cluster: &LocalCluster) -> anyhow::Result<Manifest> {
    let domain = &topology.local.domain;
    let port = topology.local.app_port;
    let apps = topology
        .apps
        .iter()
        .map(|app| {
            let Some((control_panel_arn, routing_controls, safety_rule_arn)) =
                cluster.app_controls(app.name())
            else {
                bail!("the local ARC cluster has no controls for `{}`", app.name());
            };
            Ok(AppEntry {
                routes: app
                    .as_gateway()
                    .map(|g| g.routes().clone())
                    .unwrap_or_default(),
                name: app.name().clone(),
                hostname: format!("{}.{domain}", app.name()),
                url: format!("http://{}.{domain}:{port}", app.name()),
                routing: AppRouting::Arc(ArcControls {
                    control_panel_arn,
                    safety_rule_arn,
                    routing_controls,
                }),
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
                alarms: topology::manifest::alarms_of(app, &topology.regions, "local"),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Manifest {
        manifest_version: MANIFEST_VERSION,
        environment: Environment::Local,
        domain: domain.clone(),
        regions: topology.regions.clone(),
        routing: Routing::Arc {
            cluster: Cluster {
                arn: cluster.arn().clone(),
                endpoints: cluster.endpoints(),
            },
        },
        apps,
        dns_server: None,
        control_api: None,
        name_servers: Vec::new(),
        gateway_secret: None,
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
/// AWS, asking the local ARC cluster's endpoints for the instance's own Region's control.
fn fences(topology: &Topology, manifest: &Manifest) -> BTreeMap<(AppName, Region), Arc<Fence>> {
    // The local cluster checks that calls are signed, not by whom.
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
            let Some(control) = entry.routing_control(region) else {
                continue;
            };
            let config = FenceConfig {
                source: FenceSource::RoutingControl {
                    control: control.clone(),
                    endpoints: manifest
                        .cluster()
                        .map(|c| c.endpoints.clone())
                        .unwrap_or_default(),
                },
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

/// A new gateway secret for one run of the world, as the AWS deploy generates one per stack.
/// Alphanumeric, so always a valid header value.
fn generate_secret() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

/// What guards the apps: the gateway secret (the gateway sends it, services demand it, as on
/// AWS with `aws.gateway_only`) and the gateway's token checks (`[auth]`).
struct Guards {
    secret: Option<GatewaySecret>,
    auth: Option<gateway::AuthConfig>,
}

/// The router of `app` in `region`, guarded by `guards`.
fn app_router(
    topology: &Topology,
    app: &App,
    region: &Region,
    tables: &BTreeMap<(AppName, Region), Arc<MemoryTable>>,
    dns_server: SocketAddr,
    guards: &Guards,
    fence: Option<Arc<Fence>>,
) -> anyhow::Result<Router> {
    match app {
        App::Gateway(gateway) => {
            let mut config = gateway::GatewayConfig::local(
                topology,
                gateway.name(),
                region.clone(),
                dns_server,
            )?;
            config.gateway_secret = guards.secret.clone();
            config.auth = guards.auth.clone();
            Ok(gateway::router(config))
        }
        App::Service(service) => {
            let table = tables[&(service.name().clone(), region.clone())].clone();
            let implementation = crate::services::implementing(service)?;
            let router = (implementation.router)(table, region.clone());
            let router = kit::fence::guard(router, fence);
            Ok(kit::gateway_only::guard(router, guards.secret.clone()))
        }
    }
}

async fn start_instances(
    topology: &Topology,
    tables: &BTreeMap<(AppName, Region), Arc<MemoryTable>>,
    dns_server: SocketAddr,
    guards: &Guards,
    fences: &BTreeMap<(AppName, Region), Arc<Fence>>,
) -> anyhow::Result<Vec<Arc<Instance>>> {
    let mut instances = Vec::new();
    let mut missing: Vec<IpAddr> = Vec::new();
    for app in &topology.apps {
        for region in topology.regions.both() {
            let ip = topology
                .local_address(app.name(), region)
                .with_context(|| format!("no loopback address for `{}` in {region}", app.name()))?;
            let addr = SocketAddr::new(ip.into(), topology.local.app_port);
            let fence = fences.get(&(app.name().clone(), region.clone())).cloned();
            let router = app_router(topology, app, region, tables, dns_server, guards, fence)?;
            match Instance::start(app.name().clone(), region.clone(), addr, router).await {
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
