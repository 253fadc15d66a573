//! `topology.toml` as types: the domain, the two Regions, the apps, and the local world's settings.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::AuthSettings;
use crate::{AppName, DomainName, PanelName, Region};

/// Why a topology was rejected. Each message names the file and what to change.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read topology file {path}: {reason}")]
    Read {
        path: String,
        reason: std::io::Error,
    },
    #[error("invalid topology{}: {message}", at(.path))]
    Invalid {
        path: Option<String>,
        message: String,
    },
}

fn at(path: &Option<String>) -> String {
    path.as_ref()
        .map(|p| format!(" in {p}"))
        .unwrap_or_default()
}

/// The whole system, as `topology.toml` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// The public domain on AWS; each app answers at `<app>.<domain>`.
    pub domain: DomainName,
    /// The Route 53 hosted zone of `domain`, when known.
    #[serde(default, with = "empty_is_none")]
    pub hosted_zone_id: Option<String>,
    pub regions: Regions,
    /// How failover records are driven: ARC routing controls or metric health checks.
    #[serde(default)]
    pub failover: FailoverSettings,
    #[serde(default)]
    pub arc: ArcSettings,
    /// What the AWS deployment protects (optional section, safe defaults).
    #[serde(default)]
    pub aws: AwsSettings,
    /// The alarms every app gets in both Regions, and where they notify.
    #[serde(default)]
    pub alarms: AlarmSettings,
    /// Who may call the `api` app (on unless turned off explicitly).
    #[serde(default)]
    pub auth: AuthSettings,
    pub local: LocalSettings,
    pub apps: Vec<App>,
}

/// The two Regions every app is deployed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regions {
    pub primary: Region,
    pub secondary: Region,
}

impl Regions {
    /// Both Regions, primary first.
    pub fn both(&self) -> [&Region; 2] {
        [&self.primary, &self.secondary]
    }

    /// The Region that is not `region`, or `None` when `region` is neither of the two.
    pub fn other(&self, region: &Region) -> Option<&Region> {
        if *region == self.primary {
            Some(&self.secondary)
        } else if *region == self.secondary {
            Some(&self.primary)
        } else {
            None
        }
    }

    /// Whether `region` is one of the two.
    pub fn contains(&self, region: &Region) -> bool {
        self.other(region).is_some()
    }
}

/// How each app's failover records are driven (`[failover]` in the file).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverSettings {
    #[serde(default)]
    pub mechanism: Mechanism,
    /// The health checks and alarms of the `health-check` mechanism.
    #[serde(default)]
    pub health_check: HealthCheckSettings,
}

/// The failover mechanism: what the failover records' health checks follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// Route 53 ARC routing controls in a five-Region cluster, with safety rules: seconds to
    /// move, a 100 % data-plane SLA, an hourly price.
    #[default]
    Arc,
    /// Route 53 `CLOUDWATCH_METRIC` health checks on alarms on flags the operator publishes
    /// with `PutMetricData`: no cluster, tens of seconds to minutes to move, a few dollars a
    /// month.
    HealthCheck,
}

impl Mechanism {
    /// The name written in `topology.toml` and the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Arc => "arc",
            Mechanism::HealthCheck => "health-check",
        }
    }
}

impl std::fmt::Display for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The CloudWatch alarms of the `health-check` mechanism on AWS.
///
/// Route 53 follows only alarms on standard-resolution metrics, so the alarms' period is a
/// whole number of minutes, and a move takes about one period plus Route 53's reading of the
/// alarm (tens of seconds) before DNS answers with the other record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSettings {
    /// The alarms' period: a multiple of 60 seconds.
    #[serde(default = "default_alarm_period")]
    pub alarm_period_seconds: u32,
}

impl Default for HealthCheckSettings {
    fn default() -> Self {
        Self {
            alarm_period_seconds: default_alarm_period(),
        }
    }
}

fn default_alarm_period() -> u32 {
    60
}

impl HealthCheckSettings {
    fn check(&self) -> Result<(), String> {
        let period = self.alarm_period_seconds;
        if period == 0 || !period.is_multiple_of(60) || period > 3600 {
            return Err(format!(
                "failover.health_check.alarm_period_seconds = {period}: Route 53 follows only \
                 alarms on standard-resolution metrics, whose period is 60 to 3600 seconds in \
                 whole minutes"
            ));
        }
        Ok(())
    }

    /// The alarms' period.
    pub fn alarm_period(&self) -> Duration {
        Duration::from_secs(self.alarm_period_seconds.into())
    }
}

/// Route 53 ARC settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArcSettings {
    /// Reuse this cluster instead of creating one (a cluster is billed by the hour).
    #[serde(default, with = "empty_is_none")]
    pub existing_cluster_arn: Option<String>,
    /// The safety rules' wait period.
    #[serde(default = "default_wait_period_ms")]
    pub safety_rule_wait_period_ms: u64,
}

impl Default for ArcSettings {
    fn default() -> Self {
        Self {
            existing_cluster_arn: None,
            safety_rule_wait_period_ms: default_wait_period_ms(),
        }
    }
}

fn default_wait_period_ms() -> u64 {
    5000
}

/// How the AWS deployment protects the apps and their data. Both default to on; a sandbox
/// turns them off explicitly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// Service APIs accept only calls that came through the `api` gateway.
    #[serde(default = "yes")]
    pub gateway_only: bool,
    /// The tables outlive `infra destroy` (retained, with deletion protection). `false` lets
    /// a destroy delete them and their data.
    #[serde(default = "yes")]
    pub protect_data: bool,
    /// The account's Route 53 quota of health checks: 200 by default, which AWS raises on
    /// request. Every app has two (one per failover record), in either mechanism.
    #[serde(default = "default_health_check_quota")]
    pub route53_health_check_quota: u32,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            gateway_only: true,
            protect_data: true,
            route53_health_check_quota: default_health_check_quota(),
        }
    }
}

fn default_health_check_quota() -> u32 {
    crate::quota::ROUTE53_HEALTH_CHECKS_DEFAULT
}

fn yes() -> bool {
    true
}

/// The alarms of every app, in both Regions, with the thresholds an app does not set itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmSettings {
    /// An address subscribed to each Region's alarm topic; empty: no subscription.
    #[serde(default, with = "empty_is_none")]
    pub email: Option<String>,
    /// The thresholds of every app that does not set its own.
    #[serde(flatten)]
    pub thresholds: AlarmThresholds,
}

/// When an app's alarms fire. Each is judged per minute; an alarm fires when 2 of the last 3
/// minutes breach.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlarmThresholds {
    /// The API's 5xx responses, in percent of its requests.
    #[serde(default = "default_error_rate")]
    pub error_rate_percent: f64,
    /// The API's 99th-percentile latency, milliseconds.
    #[serde(default = "default_p99_latency")]
    pub p99_latency_ms: u64,
    /// A service function's errors per minute.
    #[serde(default = "default_function_errors")]
    pub function_errors: u64,
    /// A service function's throttled invocations per minute.
    #[serde(default = "default_function_throttles")]
    pub function_throttles: u64,
    /// A service table's replication latency toward the other Region, milliseconds.
    #[serde(default = "default_replication_latency")]
    pub replication_latency_ms: u64,
}

impl Default for AlarmThresholds {
    fn default() -> Self {
        Self {
            error_rate_percent: default_error_rate(),
            p99_latency_ms: default_p99_latency(),
            function_errors: default_function_errors(),
            function_throttles: default_function_throttles(),
            replication_latency_ms: default_replication_latency(),
        }
    }
}

fn default_error_rate() -> f64 {
    5.0
}
fn default_p99_latency() -> u64 {
    2000
}
fn default_function_errors() -> u64 {
    5
}
fn default_function_throttles() -> u64 {
    1
}
fn default_replication_latency() -> u64 {
    30_000
}

/// An app's own thresholds (`[apps.alarms]`): each one it sets replaces the topology's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_errors: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_throttles: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_latency_ms: Option<u64>,
}

impl AlarmOverrides {
    /// `base` with this app's own values in place.
    pub fn over(&self, base: AlarmThresholds) -> AlarmThresholds {
        AlarmThresholds {
            error_rate_percent: self.error_rate_percent.unwrap_or(base.error_rate_percent),
            p99_latency_ms: self.p99_latency_ms.unwrap_or(base.p99_latency_ms),
            function_errors: self.function_errors.unwrap_or(base.function_errors),
            function_throttles: self.function_throttles.unwrap_or(base.function_throttles),
            replication_latency_ms: self
                .replication_latency_ms
                .unwrap_or(base.replication_latency_ms),
        }
    }
}

impl AlarmThresholds {
    fn check(&self, whose: &str) -> Result<(), String> {
        if !(self.error_rate_percent > 0.0 && self.error_rate_percent <= 100.0) {
            return Err(format!(
                "{whose}error_rate_percent = {}: a percentage above 0 and at most 100",
                self.error_rate_percent
            ));
        }
        if self.p99_latency_ms == 0 || self.replication_latency_ms == 0 {
            return Err(format!(
                "{whose}p99_latency_ms and replication_latency_ms must be positive"
            ));
        }
        if self.function_errors == 0 || self.function_throttles == 0 {
            return Err(format!(
                "{whose}function_errors and function_throttles must be at least 1"
            ));
        }
        Ok(())
    }
}

/// How the local world lays the architecture out on loopback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSettings {
    pub domain: DomainName,
    pub app_port: u16,
    pub dns_listen: SocketAddr,
    pub ttl_seconds: u32,
    pub health_check_interval_ms: u64,
    pub control_listen: SocketAddr,
    pub arc_first_port: u16,
    pub replication_lag_ms: u64,
    /// First port of the local CloudWatch endpoints (one per Region, and one more for
    /// us-east-1 when it is neither): the apps' alarms in both mechanisms, and the flags of
    /// the `health-check` mechanism; 0 picks free ports.
    #[serde(default = "default_cloudwatch_first_port")]
    pub cloudwatch_first_port: u16,
    /// The local alarms' period, standing in for AWS's minute (the apps' alarms) and
    /// `alarm_period_seconds` (the flags' alarms); the health checks read the flags' alarms
    /// every `health_check_interval_ms`.
    #[serde(default = "default_alarm_period_ms")]
    pub alarm_period_ms: u64,
    /// Where the local world's token issuer listens (`[auth]` on); port 0, the default, picks
    /// a free one: the manifest says which.
    #[serde(default = "default_issuer_listen")]
    pub issuer_listen: SocketAddr,
    /// The first three octets of each Region's loopback network, e.g. `127.0.1`.
    pub region_networks: BTreeMap<Region, String>,
}

impl LocalSettings {
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_seconds.into())
    }
    pub fn health_check_interval(&self) -> Duration {
        Duration::from_millis(self.health_check_interval_ms)
    }
    pub fn replication_lag(&self) -> Duration {
        Duration::from_millis(self.replication_lag_ms)
    }
    pub fn alarm_period(&self) -> Duration {
        Duration::from_millis(self.alarm_period_ms)
    }
}

fn default_cloudwatch_first_port() -> u16 {
    8101
}

fn default_alarm_period_ms() -> u64 {
    1000
}

fn default_issuer_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// One app: the `api` gateway or a service. What an app is follows from its type: only a
/// gateway has routes, only a service has a table (`kind = "gateway" | "service"` in the file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum App {
    /// The shared public API: proxies path prefixes to the services' subdomains.
    Gateway(GatewayApp),
    /// A service with its own table.
    Service(ServiceApp),
}

impl App {
    /// The app's name, its subdomain label.
    pub fn name(&self) -> &AppName {
        match self {
            Self::Gateway(g) => &g.name,
            Self::Service(s) => &s.name,
        }
    }

    /// The service, when this app is one.
    pub fn as_service(&self) -> Option<&ServiceApp> {
        match self {
            Self::Service(s) => Some(s),
            Self::Gateway(_) => None,
        }
    }

    /// The gateway, when this app is one.
    pub fn as_gateway(&self) -> Option<&GatewayApp> {
        match self {
            Self::Gateway(g) => Some(g),
            Self::Service(_) => None,
        }
    }

    /// The thresholds this app sets itself (`[apps.alarms]`).
    pub fn alarm_overrides(&self) -> &AlarmOverrides {
        match self {
            Self::Gateway(g) => &g.alarms,
            Self::Service(s) => &s.alarms,
        }
    }

    /// The ARC control panel this app shares with others (`control_panel = "…"`); `None`: a
    /// panel of its own.
    pub fn control_panel(&self) -> Option<&PanelName> {
        match self {
            Self::Gateway(g) => g.control_panel.as_ref(),
            Self::Service(s) => s.control_panel.as_ref(),
        }
    }
}

/// A gateway app: path prefix (`/orders`) → the service it proxies to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayApp {
    name: AppName,
    #[serde(default)]
    routes: BTreeMap<String, AppName>,
    #[serde(default)]
    alarms: AlarmOverrides,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    control_panel: Option<PanelName>,
}

impl GatewayApp {
    pub fn name(&self) -> &AppName {
        &self.name
    }

    /// Path prefix → the service it proxies to, in prefix order.
    pub fn routes(&self) -> &BTreeMap<String, AppName> {
        &self.routes
    }
}

/// A service app and its DynamoDB global table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceApp {
    name: AppName,
    /// The service (crate) the app runs, when not the one of its own name: several apps may
    /// run one implementation, each with its own table, Region instances and failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    service: Option<AppName>,
    table: Table,
    #[serde(default)]
    fence_writes: bool,
    #[serde(default)]
    alarms: AlarmOverrides,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    control_panel: Option<PanelName>,
}

impl ServiceApp {
    pub fn name(&self) -> &AppName {
        &self.name
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The service the app runs: `service = "orders"` in the file, else the app's own name.
    pub fn service(&self) -> &AppName {
        self.service.as_ref().unwrap_or(&self.name)
    }

    /// Whether an instance whose Region's routing control is OFF refuses writes (503 with
    /// `Retry-After`), so that a client still holding the old DNS answer cannot write into
    /// the Region being left: `fence_writes = true` in the file.
    pub fn fence_writes(&self) -> bool {
        self.fence_writes
    }

    /// The Cargo features its build needs beyond the crate's own: the kit's write fence
    /// when it fences writes. Leaving out what a service does not use keeps its Lambda
    /// package small, and a small package starts fast in the Region it fails over to.
    pub fn build_features(&self) -> &'static [&'static str] {
        if self.fence_writes {
            &["kit/fence"]
        } else {
            &[]
        }
    }
}

/// A service's DynamoDB table. The partition key is always the string attribute `pk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub name: String,
    #[serde(default)]
    pub indexes: Vec<Index>,
}

impl Table {
    /// The table's name as written in the topology (deploys may prefix it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its global secondary indexes.
    pub fn indexes(&self) -> &[Index] {
        &self.indexes
    }
}

/// A global secondary index (string keys, all attributes projected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub name: String,
    pub partition_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_key: Option<String>,
}

impl Index {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn partition_key(&self) -> &str {
        &self.partition_key
    }
    pub fn sort_key(&self) -> Option<&str> {
        self.sort_key.as_deref()
    }
}

impl Topology {
    /// Reads and checks a topology file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TopologyError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|reason| TopologyError::Read {
            path: shown.clone(),
            reason,
        })?;
        Self::parse(&text).map_err(|e| match e {
            TopologyError::Invalid { message, .. } => TopologyError::Invalid {
                path: Some(shown),
                message,
            },
            other => other,
        })
    }

    /// Parses and checks a topology document.
    pub fn parse(text: &str) -> Result<Self, TopologyError> {
        let topology: Topology = toml::from_str(text).map_err(|e| TopologyError::Invalid {
            path: None,
            message: e.to_string(),
        })?;
        topology.check().map_err(|message| TopologyError::Invalid {
            path: None,
            message,
        })?;
        Ok(topology)
    }

    fn check(&self) -> Result<(), String> {
        if self.regions.primary == self.regions.secondary {
            return Err("regions.primary and regions.secondary must differ".into());
        }
        let mut names = BTreeSet::new();
        for app in &self.apps {
            if !names.insert(app.name()) {
                return Err(format!("app `{}` is listed twice", app.name()));
            }
        }
        if self.apps.is_empty() {
            return Err("list at least one app under [[apps]]".into());
        }
        for gateway in self.gateways() {
            self.check_routes(gateway)?;
        }
        let mut tables = BTreeMap::new();
        for service in self.services() {
            check_table(service)?;
            if let Some(other) = tables.insert(service.table.name(), service.name()) {
                return Err(format!(
                    "apps `{other}` and `{}` both name the table `{}`: each app needs a table of its own (its own global table, replicas and permissions)",
                    service.name(),
                    service.table.name()
                ));
            }
        }
        self.failover.health_check.check()?;
        self.auth
            .check(self.gateways().flat_map(|g| g.routes().keys()))?;
        crate::panels::check_names(self)?;
        crate::quota::check(self)?;
        self.alarms.thresholds.check("alarms.")?;
        for app in &self.apps {
            self.alarm_thresholds(app)
                .check(&format!("the alarms of `{}`: ", app.name()))?;
        }
        self.check_local()
    }

    fn check_routes(&self, gateway: &GatewayApp) -> Result<(), String> {
        for (prefix, target) in &gateway.routes {
            let valid = prefix.starts_with('/')
                && prefix.len() > 1
                && !prefix.ends_with('/')
                && prefix[1..].split('/').all(|s| !s.is_empty());
            if !valid {
                return Err(format!(
                    "route `{prefix}` of `{}` must look like `/orders`",
                    gateway.name
                ));
            }
            if self.service(target).is_none() {
                return Err(format!(
                    "route `{prefix}` of `{}` points to `{target}`, which is not a service in [[apps]]",
                    gateway.name
                ));
            }
        }
        Ok(())
    }

    fn check_local(&self) -> Result<(), String> {
        let local = &self.local;
        for region in self.regions.both() {
            let Some(network) = local.region_networks.get(region) else {
                let named: Vec<String> = local
                    .region_networks
                    .keys()
                    .map(|r| format!("`{r}`"))
                    .collect();
                return Err(format!(
                    "local.region_networks needs an entry for `{region}`, a Region of [regions] (it names {}): add one, or check the Region's spelling",
                    if named.is_empty() {
                        "none".to_owned()
                    } else {
                        named.join(", ")
                    }
                ));
            };
            let octets: Vec<&str> = network.split('.').collect();
            if octets.len() != 3
                || octets[0] != "127"
                || octets.iter().any(|o| o.parse::<u8>().is_err())
            {
                return Err(format!(
                    "local.region_networks.{region} = `{network}`: expect three octets in 127.0.0.0/8, e.g. `127.0.1`"
                ));
            }
        }
        let mut networks: Vec<&String> = local.region_networks.values().collect();
        networks.dedup();
        if networks.len() != local.region_networks.len() {
            return Err("each Region needs its own local.region_networks entry".into());
        }
        if local.ttl_seconds == 0 || local.health_check_interval_ms == 0 {
            return Err(
                "local.ttl_seconds and local.health_check_interval_ms must be positive".into(),
            );
        }
        if self.apps.len() > 250 {
            return Err("the local world has room for 250 apps".into());
        }
        if local.arc_first_port > u16::MAX - 4 {
            return Err("local.arc_first_port leaves no room for five endpoints".into());
        }
        if local.cloudwatch_first_port == u16::MAX {
            return Err("local.cloudwatch_first_port leaves no room for two endpoints".into());
        }
        if local.alarm_period_ms == 0 {
            return Err("local.alarm_period_ms must be positive".into());
        }
        Ok(())
    }

    /// The alarm thresholds of `app`: its own where it sets them, else the topology's.
    pub fn alarm_thresholds(&self, app: &App) -> AlarmThresholds {
        app.alarm_overrides().over(self.alarms.thresholds)
    }

    /// The app called `name`.
    pub fn app(&self, name: &AppName) -> Option<&App> {
        self.apps.iter().find(|a| a.name() == name)
    }

    /// The service called `name`.
    pub fn service(&self, name: &AppName) -> Option<&ServiceApp> {
        self.app(name).and_then(App::as_service)
    }

    /// The services (apps with a table), in file order.
    pub fn services(&self) -> impl Iterator<Item = &ServiceApp> {
        self.apps.iter().filter_map(App::as_service)
    }

    /// The gateways (apps with routes), in file order.
    pub fn gateways(&self) -> impl Iterator<Item = &GatewayApp> {
        self.apps.iter().filter_map(App::as_gateway)
    }

    /// The loopback address of `app`'s instance in `region` in the local world.
    pub fn local_address(&self, app: &AppName, region: &Region) -> Option<Ipv4Addr> {
        let index = self.apps.iter().position(|a| a.name() == app)?;
        let network = self.local.region_networks.get(region)?;
        format!("{network}.{}", index + 1).parse().ok()
    }

    /// The local world's CloudWatch endpoints (`health-check` mechanism), primary Region
    /// first: ports `cloudwatch_first_port` and the next, or free ports when it is 0.
    pub fn local_cloudwatch_endpoints(&self) -> Vec<(Region, SocketAddr)> {
        let first = self.local.cloudwatch_first_port;
        self.regions
            .both()
            .into_iter()
            .zip(0u16..)
            .map(|(region, i)| {
                let port = if first == 0 { 0 } else { first + i };
                (region.clone(), SocketAddr::from(([127, 0, 0, 1], port)))
            })
            .collect()
    }

    /// The local world's ARC cluster endpoints, one per ARC Region: ports `arc_first_port`
    /// to `arc_first_port + 4`, or each on port 0 (a free port) when `arc_first_port` is 0.
    pub fn local_arc_endpoints(&self) -> Vec<(Region, SocketAddr)> {
        let first = self.local.arc_first_port;
        crate::manifest::ARC_CLUSTER_REGIONS
            .iter()
            .zip(0u16..)
            .map(|(region, i)| {
                let port = if first == 0 { 0 } else { first + i };
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                (
                    region.parse().expect("constant Region names are valid"),
                    addr,
                )
            })
            .collect()
    }
}

fn check_table(service: &ServiceApp) -> Result<(), String> {
    let name = &service.table.name;
    let valid = (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !valid {
        return Err(format!(
            "table name `{name}` of `{}` is not a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, `-`, `_`, `.`)",
            service.name
        ));
    }
    Ok(())
}

mod empty_is_none {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_deref().unwrap_or(""))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let s = String::deserialize(d)?;
        Ok(if s.trim().is_empty() { None } else { Some(s) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Topology {
        Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap()
    }

    fn with(edit: impl Fn(String) -> String) -> Result<Topology, TopologyError> {
        Topology::parse(&edit(testkit::FIXTURE_TOPOLOGY.to_owned()))
    }

    #[test]
    fn arc_endpoints_take_consecutive_ports_or_free_ones() {
        let ports = |t: Topology| -> Vec<u16> {
            t.local_arc_endpoints()
                .iter()
                .map(|(_, a)| a.port())
                .collect()
        };
        assert_eq!(ports(fixture()), [8091, 8092, 8093, 8094, 8095]);
        let free = with(|s| s.replace("arc_first_port = 8091", "arc_first_port = 0")).unwrap();
        assert_eq!(ports(free), [0; 5]);
    }

    #[test]
    fn aws_protections_default_to_on_and_can_be_turned_off() {
        let t = fixture();
        assert!(t.aws.gateway_only && t.aws.protect_data);
        assert_eq!(t.aws.route53_health_check_quota, 200);
        let sandbox = with(|s| {
            s.replace(
                "[local]\n",
                "[aws]\ngateway_only = false\nprotect_data = false\n\n[local]\n",
            )
        })
        .unwrap();
        assert!(!sandbox.aws.gateway_only && !sandbox.aws.protect_data);
        assert!(with(|s| s.replace("[local]\n", "[aws]\nprotect = false\n[local]\n")).is_err());
    }

    #[test]
    fn the_mechanism_defaults_to_arc_and_health_check_settings_are_checked() {
        let t = fixture();
        assert_eq!(t.failover.mechanism, Mechanism::Arc);
        let hc = |extra: &str| {
            with(|s| {
                s.replace(
                    "[arc]\n",
                    &format!("[failover]\nmechanism = \"health-check\"\n{extra}\n[arc]\n"),
                )
            })
        };
        let t = hc("").unwrap();
        assert_eq!(t.failover.mechanism, Mechanism::HealthCheck);
        assert_eq!(
            t.failover.health_check.alarm_period(),
            Duration::from_secs(60)
        );
        let t = hc("[failover.health_check]\nalarm_period_seconds = 120\n").unwrap();
        assert_eq!(t.failover.health_check.alarm_period_seconds, 120);
        for bad in [0, 10, 90, 7200] {
            let err = hc(&format!(
                "[failover.health_check]\nalarm_period_seconds = {bad}\n"
            ))
            .unwrap_err();
            assert!(
                err.to_string().contains("standard-resolution"),
                "{bad}: {err}"
            );
        }
        let err =
            with(|s| s.replace("[arc]\n", "[failover]\nmechanism = \"dns\"\n[arc]\n")).unwrap_err();
        assert!(err.to_string().contains("health-check"), "{err}");
    }

    #[test]
    fn alarm_thresholds_default_and_an_app_overrides_its_own() {
        let t = fixture();
        let orders = t.app(&"orders".parse().unwrap()).unwrap();
        assert_eq!(t.alarm_thresholds(orders), AlarmThresholds::default());
        let t = with(|s| {
            s.replace(
                "[local]\n",
                "[alarms]\nemail = \"oncall@example.com\"\np99_latency_ms = 900\n\n[local]\n",
            )
            .replace(
                "name = \"orders\"\nkind = \"service\"\n",
                "name = \"orders\"\nkind = \"service\"\n[apps.alarms]\nerror_rate_percent = 1.5\n",
            )
        })
        .unwrap();
        assert_eq!(t.alarms.email.as_deref(), Some("oncall@example.com"));
        let orders = t.alarm_thresholds(t.app(&"orders".parse().unwrap()).unwrap());
        assert_eq!(orders.error_rate_percent, 1.5);
        assert_eq!(
            orders.p99_latency_ms, 900,
            "the topology's value where the app sets none"
        );
        let users = t.alarm_thresholds(t.app(&"users".parse().unwrap()).unwrap());
        assert_eq!(users.error_rate_percent, 5.0);
        let err = with(|s| s.replace("[local]\n", "[alarms]\nerror_rate_percent = 0\n[local]\n"))
            .unwrap_err();
        assert!(err.to_string().contains("error_rate_percent"), "{err}");
        let err = with(|s| s.replace("[local]\n", "[alarms]\nfunction_errorz = 3\n[local]\n"))
            .unwrap_err();
        assert!(err.to_string().contains("function_errorz"), "{err}");
    }

    #[test]
    fn local_cloudwatch_endpoints_are_one_per_region() {
        let t = fixture();
        let endpoints = t.local_cloudwatch_endpoints();
        assert_eq!(endpoints.len(), 2);
        assert_eq!(endpoints[0].0, t.regions.primary);
        assert_eq!(endpoints[1].1.port(), endpoints[0].1.port() + 1);
    }

    #[test]
    fn write_fencing_is_per_service_and_off_unless_asked() {
        let fenced = |t: &Topology| -> Vec<String> {
            t.services()
                .filter(|s| s.fence_writes())
                .map(|s| s.name().to_string())
                .collect()
        };
        assert_eq!(fenced(&fixture()), ["payments"]);
        let none = with(|s| s.replace("fence_writes = true\n", "")).unwrap();
        assert!(fenced(&none).is_empty());
        let typo = with(|s| s.replace("fence_writes = true", "fence_writes = \"yes\""));
        assert!(typo.is_err(), "a non-boolean fence_writes is refused");
        let on_gateway = with(|s| {
            s.replace(
                "kind = \"gateway\"\n",
                "kind = \"gateway\"\nfence_writes = true\n",
            )
        });
        assert!(on_gateway.is_err(), "only services fence writes");
    }

    #[test]
    fn the_workspace_topology_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../topology.toml");
        Topology::load(path).unwrap();
    }

    #[test]
    fn the_fixture_is_laid_out_on_loopback() {
        let t = fixture();
        assert_eq!(t.regions.primary.as_str(), "us-east-1");
        assert_eq!(t.apps.len(), 4);
        assert_eq!(t.services().count(), 3);
        let orders: AppName = "orders".parse().unwrap();
        assert_eq!(
            t.local_address(&orders, &t.regions.secondary),
            Some(Ipv4Addr::new(127, 0, 2, 2))
        );
        assert_eq!(t.local_arc_endpoints().len(), 5);
    }

    #[test]
    fn same_regions_are_rejected() {
        let err = with(|s| s.replace("secondary = \"us-west-2\"", "secondary = \"us-east-1\""))
            .unwrap_err();
        assert!(err.to_string().contains("must differ"), "{err}");
    }

    #[test]
    fn routes_to_unknown_apps_are_rejected() {
        let err =
            with(|s| s.replace("\"/users\" = \"users\"", "\"/users\" = \"people\"")).unwrap_err();
        assert!(err.to_string().contains("people"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_names_are_rejected() {
        assert!(with(|s| s.replace("hosted_zone_id", "hosted_zone")).is_err());
        let err =
            with(|s| s.replace("primary = \"us-east-1\"", "primary = \"mars-1\"")).unwrap_err();
        assert!(err.to_string().contains("mars-1"), "{err}");
    }

    #[test]
    fn a_misspelt_region_is_named_with_the_regions_the_networks_list() {
        let err = with(|s| s.replace("secondary = \"us-west-2\"", "secondary = \"us-wset-2\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("needs an entry for `us-wset-2`")
                && err.contains("`us-west-2`")
                && err.contains("spelling"),
            "{err}"
        );
    }

    #[test]
    fn two_apps_on_one_table_are_rejected_naming_both() {
        let err = with(|s| {
            s + "\n[[apps]]\nname = \"carts\"\nkind = \"service\"\nservice = \"orders\"\n[apps.table]\nname = \"orders\"\n"
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`orders` and `carts` both name the table `orders`"),
            "{err}"
        );
        let long = "a".repeat(33);
        let err = with(|s| s.replace("name = \"users\"", &format!("name = \"{long}\"")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 32 characters"), "{err}");
    }

    #[test]
    fn duplicate_apps_are_rejected() {
        let err = with(|s| {
            s + "\n[[apps]]\nname = \"users\"\nkind = \"service\"\n[apps.table]\nname = \"u2\"\n"
        })
        .unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    #[test]
    fn an_app_is_a_gateway_or_a_service_by_its_shape() {
        let t = fixture();
        let api: AppName = "api".parse().unwrap();
        assert_eq!(t.gateways().count(), 1);
        assert_eq!(t.gateways().next().unwrap().routes().len(), 3);
        assert!(t.service(&api).is_none());
        let err = with(|s| {
            s.replace(
                "name = \"users\"\nkind = \"service\"\n[apps.table]\nname = \"users\"",
                "name = \"users\"\nkind = \"service\"",
            )
        })
        .unwrap_err();
        assert!(err.to_string().contains("table"), "{err}");
        let err = with(|s| {
            s.replacen(
                "kind = \"gateway\"",
                "kind = \"gateway\"\n[apps.table]\nname = \"gw\"",
                1,
            )
        })
        .unwrap_err();
        assert!(err.to_string().contains("table"), "{err}");
        let err = with(|s| {
            s.replace(
                "[apps.table]\nname = \"users\"",
                "[apps.table]\nname = \"u\"",
            )
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("not a DynamoDB table name"),
            "{err}"
        );
    }

    #[test]
    fn load_names_the_file() {
        let err = Topology::load("/nonexistent/topology.toml").unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/topology.toml"),
            "{err}"
        );
    }
}
