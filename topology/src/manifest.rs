//! The deployment manifest (docs/architecture.md, "The deployment manifest"): what a deploy
//! wrote down, and all the failover path needs. Written by `infra deploy` (AWS) and by the local
//! world (`local-world run` or `demo`); read by `failover` and `loadtest`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::auth::ManifestAuth;
use crate::{
    App, AppName, ClusterArn, ControlPanelArn, DomainName, Mechanism, Region, Regions,
    RoutingControlArn, SafetyRuleArn,
};

/// The manifest format this build writes. It also reads version 1 (ARC only, before the
/// `health-check` mechanism), as the ARC manifest it describes.
pub const MANIFEST_VERSION: u32 = 2;

/// Where the local world writes its manifest, relative to the working directory.
pub const LOCAL_MANIFEST_PATH: &str = ".local/deployment.json";

/// The five Regions that host an ARC cluster's endpoints.
pub const ARC_CLUSTER_REGIONS: [&str; 5] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "ap-northeast-1",
    "ap-southeast-2",
];

/// The most routing controls one `UpdateRoutingControlStates` call may change (an ARC limit).
pub const ARC_MAX_BATCH: usize = 10;

/// The IAM actions a service's table adapter needs on its table and its indexes; the AWS
/// templates grant exactly these. `TransactWriteItems` is authorized item by item, as the put,
/// delete and condition-check actions. The health check reads with `GetItem`; creating a table
/// (`CreateTable`, `DescribeTable`) is for local use only and is not granted.
pub const SERVICE_TABLE_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
    "dynamodb:Scan",
];

/// The IAM action a write-fenced service's function is granted, on its own routing control only.
pub const FENCE_ACTION: &str = "route53-recovery-cluster:GetRoutingControlState";

/// The environment variable that turns write fencing on for a service instance: the ARN of
/// the routing control of the instance's own Region.
pub const FENCE_CONTROL_ENV: &str = "FENCE_ROUTING_CONTROL_ARN";

/// The environment variable listing the ARC cluster's endpoints a fenced instance asks,
/// `region=url` separated by commas (`us-east-1=https://host1.example/v1,...`).
pub const FENCE_ENDPOINTS_ENV: &str = "FENCE_CLUSTER_ENDPOINTS";

/// The environment variable with the `Retry-After` a fenced instance sends, in seconds: the
/// DNS answers' TTL, after which a retrying client's resolver has the new answer.
pub const FENCE_RETRY_AFTER_ENV: &str = "FENCE_RETRY_AFTER_SECONDS";

/// The metric of the `health-check` mechanism: per app and Region, the flag that takes that
/// Region out of DNS (1) or leaves it in (0), published into the other Region.
pub const FLAG_METRIC_NAME: &str = "RegionOut";

/// The flag metric's dimension naming the app.
pub const FLAG_APP_DIMENSION: &str = "App";

/// The flag metric's dimension naming the Region the flag takes out.
pub const FLAG_REGION_DIMENSION: &str = "Region";

/// The IAM action a write-fenced service's function is granted in the `health-check`
/// mechanism, to read its app's flags in both Regions.
pub const FENCE_FLAG_ACTION: &str = "cloudwatch:GetMetricData";

/// The environment variable that turns write fencing on in the `health-check` mechanism: the
/// flag metric's namespace. With it, [`FENCE_FLAG_APP_ENV`] names the app.
pub const FENCE_FLAG_NAMESPACE_ENV: &str = "FENCE_FLAG_NAMESPACE";

/// The environment variable naming the app whose flags a fenced instance reads.
pub const FENCE_FLAG_APP_ENV: &str = "FENCE_FLAG_APP";

/// The environment variable naming the deployment's Regions, primary first
/// (`us-east-1,us-west-2`): a fenced instance applies Route 53's failover rules to the flags.
pub const FENCE_FLAG_REGIONS_ENV: &str = "FENCE_FLAG_REGIONS";

/// The environment variable listing the CloudWatch endpoints a fenced instance asks,
/// `region=url` separated by commas; unset on AWS, where each Region's own endpoint answers.
pub const FENCE_CLOUDWATCH_ENDPOINTS_ENV: &str = "FENCE_CLOUDWATCH_ENDPOINTS";

/// The header naming the Region that answered, on every response of every app.
pub const REGION_HEADER: &str = "x-region";

/// Why a manifest could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "cannot read manifest {path}: {reason} (start the local world first, `cargo run -p local-world -- run` or `just local`, or deploy with `infra deploy`; or pass --manifest)"
    )]
    Read {
        path: String,
        reason: std::io::Error,
    },
    #[error("cannot write manifest {path}: {reason}")]
    Write {
        path: String,
        reason: std::io::Error,
    },
    #[error("manifest {path} is not valid: {message}")]
    Invalid { path: String, message: String },
    #[error(
        "manifest {path} has manifest_version {found}, {}; this build reads versions 1 to \
         {MANIFEST_VERSION}: rebuild the tools from the same checkout that wrote it, or \
         redeploy to rewrite it",
        if *.found > u64::from(MANIFEST_VERSION) { "written by a newer version of these tools" } else { "which no version of these tools wrote" }
    )]
    UnknownVersion { path: String, found: u64 },
}

/// Which world a manifest describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Aws,
    Local,
}

/// The deployment manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub manifest_version: u32,
    pub environment: Environment,
    pub domain: DomainName,
    pub regions: Regions,
    /// How the failover records are driven, and where that mechanism's data plane answers.
    pub routing: Routing,
    pub apps: Vec<AppEntry>,
    /// The DNS server that answers for `domain` (local world); `None` on AWS: the system resolver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_server: Option<SocketAddr>,
    /// The local world's control API (state and faults), e.g. `http://127.0.0.1:8080`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_api: Option<String>,
    /// The hosted zone's own name servers (AWS), e.g. `ns-123.awsdns-45.com`: `failover --verify`
    /// asks them for the authoritative answer. Empty in older manifests and in the local world.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub name_servers: Vec<String>,
    /// The local world's client certificate for trusted internal callers (the drill's direct
    /// reads, the consistency checker), when its services admit only the gateway: they reach
    /// a service with it over TLS on the service's own port, as the gateway does with its own
    /// certificate. Never written on AWS, where the gateway's certificate is the only one a
    /// service admits and its private key stays in API Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_client: Option<TrustedClient>,
    /// The token issuer a client asks for the `api` app's tokens (the local world's own,
    /// when auth is on); `None` on AWS and with auth off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ManifestAuth>,
}

/// A client certificate of the local world's own CA, PEM-encoded, and that CA, which also
/// signed the services' server certificate. Its `Debug` leaves the private key out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedClient {
    /// The CA certificate to trust for the services' TLS.
    pub ca_pem: String,
    /// The client certificate to present.
    pub certificate_pem: String,
    /// Its private key (PKCS#8).
    pub private_key_pem: String,
}

impl std::fmt::Debug for TrustedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedClient")
            .field("certificate_pem", &self.certificate_pem)
            .finish_non_exhaustive()
    }
}

impl TrustedClient {
    /// `url` (a local service's `http://` URL) as the TLS URL a holder of this certificate
    /// uses: the same host and port, over HTTPS.
    pub fn tls_url(url: &str) -> String {
        match url.strip_prefix("http://") {
            Some(rest) => format!("https://{rest}"),
            None => url.to_owned(),
        }
    }
}

/// The failover mechanism of a deployment and where its data plane answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mechanism", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Routing {
    /// ARC routing controls in this cluster.
    Arc { cluster: Cluster },
    /// Flags in CloudWatch, followed by alarms and Route 53 health checks.
    HealthCheck { flags: FlagMetric },
}

/// Where the `health-check` mechanism's flags live: one metric, dimensioned by app and Region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagMetric {
    /// The metric's namespace: one per deployment (it carries the stack prefix), so that two
    /// deployments in one account never read each other's flags.
    pub namespace: String,
    /// The metric's name, [`FLAG_METRIC_NAME`].
    pub metric_name: String,
    /// CloudWatch's endpoint per Region in the local world; empty on AWS, where each Region's
    /// own endpoint answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<RegionalUrl>,
}

impl FlagMetric {
    /// The endpoint to use in `region`, when the manifest names one (local world).
    pub fn endpoint(&self, region: &Region) -> Option<&str> {
        self.endpoints
            .iter()
            .find(|e| e.region == *region)
            .map(|e| e.url.as_str())
    }
}

/// The ARC cluster and its Regional endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub arn: ClusterArn,
    pub endpoints: Vec<ClusterEndpoint>,
}

/// One of the cluster's endpoints; requests to it are signed for its Region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterEndpoint {
    pub region: Region,
    pub url: String,
}

/// One app as deployed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppEntry {
    pub name: AppName,
    /// `orders.example.com`: the name clients resolve.
    pub hostname: String,
    /// The base URL clients use, e.g. `https://orders.example.com` or `http://orders.example.test:8000`.
    pub url: String,
    /// What drives the app's failover records.
    pub routing: AppRouting,
    /// A URL that reaches the app's instance in one Region directly, bypassing failover.
    pub regional_urls: Vec<RegionalUrl>,
    /// A gateway app's routes: path prefix (`/orders`) → the app it proxies to; empty for a
    /// service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, AppName>,
    /// A service's table, per Region (the replication gate reads each replica's lag). Empty
    /// for a gateway and in older manifests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<RegionalName>,
    /// Per Region, the name the app's failover record points to (on AWS the custom domain's
    /// Regional target): what the app's hostname resolves to while that Region serves.
    /// Empty in older manifests and in the local world, whose Regional URLs name the hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_targets: Vec<RegionalName>,
    /// The app's alarms in both Regions (and its health checks' in Route 53's metrics
    /// Region); empty in older manifests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AppAlarm>,
    /// The app's own names admit only the `api` gateway's client certificate (mutual TLS in
    /// the handshake: an AWS service with `aws.gateway_only`), so nobody else can `GET /` on
    /// them; `false` in older manifests and in the local world, whose services also answer
    /// `GET /` and `GET /health` over plain HTTP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_certificate_required: bool,
}

/// The Region whose CloudWatch has Route 53's health-check metrics, and so the alarms on them.
pub const ROUTE53_METRICS_REGION: &str = "us-east-1";

/// One alarm of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppAlarm {
    /// What it watches.
    pub kind: AlarmKind,
    /// The Region it is about: where the API, function or table is, or whose failover record
    /// the health check belongs to.
    pub about: Region,
    /// The Region whose CloudWatch holds it: `about`, except for health checks, whose metrics
    /// only [`ROUTE53_METRICS_REGION`] has.
    pub region: Region,
    pub name: String,
}

/// What an app's alarm watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlarmKind {
    /// The API's 5xx responses, in percent of its requests.
    ErrorRate,
    /// The API's 99th-percentile latency.
    Latency,
    /// A service function's errors.
    FunctionErrors,
    /// A service function's throttled invocations.
    FunctionThrottles,
    /// A service table's replication latency toward the other Region.
    ReplicationLatency,
    /// The health check of the app's failover record in `about`.
    HealthCheck,
}

impl AlarmKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [AlarmKind; 6] = [
        AlarmKind::ErrorRate,
        AlarmKind::Latency,
        AlarmKind::FunctionErrors,
        AlarmKind::FunctionThrottles,
        AlarmKind::ReplicationLatency,
        AlarmKind::HealthCheck,
    ];

    /// The kind as written in names and the manifest (`error-rate`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::ErrorRate => "error-rate",
            AlarmKind::Latency => "latency",
            AlarmKind::FunctionErrors => "function-errors",
            AlarmKind::FunctionThrottles => "function-throttles",
            AlarmKind::ReplicationLatency => "replication-latency",
            AlarmKind::HealthCheck => "health-check",
        }
    }

    /// Whether an app of this shape has this alarm: functions and tables are services' only.
    pub fn applies_to(self, app: &App) -> bool {
        match self {
            AlarmKind::FunctionErrors
            | AlarmKind::FunctionThrottles
            | AlarmKind::ReplicationLatency => app.as_service().is_some(),
            AlarmKind::ErrorRate | AlarmKind::Latency | AlarmKind::HealthCheck => true,
        }
    }

    /// The alarm's name: `<prefix>-<app>-<about>-<kind>`, the same on AWS and locally.
    pub fn alarm_name(self, prefix: &str, app: &AppName, about: &Region) -> String {
        format!("{prefix}-{app}-{about}-{}", self.as_str())
    }
}

impl std::fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every alarm of `app` in `regions`, named under `prefix`: what a deployment's manifest lists.
pub fn alarms_of(app: &App, regions: &Regions, prefix: &str) -> Vec<AppAlarm> {
    let route53: Region = ROUTE53_METRICS_REGION
        .parse()
        .expect("a constant Region name is valid");
    let mut alarms = Vec::new();
    for about in regions.both() {
        for kind in AlarmKind::ALL.into_iter().filter(|k| k.applies_to(app)) {
            let region = if kind == AlarmKind::HealthCheck {
                route53.clone()
            } else {
                about.clone()
            };
            alarms.push(AppAlarm {
                kind,
                about: about.clone(),
                region,
                name: kind.alarm_name(prefix, app.name(), about),
            });
        }
    }
    alarms
}

/// What drives one app's failover records, by mechanism.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mechanism", rename_all = "kebab-case")]
pub enum AppRouting {
    Arc(ArcControls),
    HealthCheck(RegionFlags),
}

/// An app's ARC resources: its control panel, one routing control per Region, the safety rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArcControls {
    pub control_panel_arn: ControlPanelArn,
    pub safety_rule_arn: SafetyRuleArn,
    /// One routing control per Region.
    pub routing_controls: Vec<RegionalControl>,
}

/// An app's flags in the `health-check` mechanism: one per Region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionFlags {
    pub flags: Vec<RegionFlag>,
}

/// The flag that takes one Region of an app out of DNS.
///
/// It is published into, and its alarm lives in, the other Region: taking a Region out never
/// needs a call into it. The record of `region` is unhealthy while the flag is 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionFlag {
    /// The Region this flag takes out.
    pub region: Region,
    /// Where the flag is published and its alarm evaluated: the other Region.
    pub published_in: Region,
    /// The alarm on the flag, which the health check of `region`'s record follows.
    pub alarm_name: String,
    /// The Route 53 health check of `region`'s record (AWS; the local world's own id locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
}

/// The routing control for one Region of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionalControl {
    pub region: Region,
    pub arn: RoutingControlArn,
}

/// The direct URL of one Region's instance of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionalUrl {
    pub region: Region,
    pub url: String,
}

/// A name (of a table, of a DNS target) in one Region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionalName {
    pub region: Region,
    pub name: String,
}

/// A service's table in each Region (a global table has the same name in every Region); none
/// for a gateway.
pub fn tables_of(app: &App, regions: &Regions) -> Vec<RegionalName> {
    let Some(service) = app.as_service() else {
        return Vec::new();
    };
    regions
        .both()
        .into_iter()
        .map(|region| RegionalName {
            region: region.clone(),
            name: service.table().name().to_owned(),
        })
        .collect()
}

/// The name listed for `region`, if any.
fn in_region<'a>(names: &'a [RegionalName], region: &Region) -> Option<&'a str> {
    names
        .iter()
        .find(|n| n.region == *region)
        .map(|n| n.name.as_str())
}

impl AppEntry {
    /// This app's table in `region` (`None` for a gateway, or when the manifest predates it).
    pub fn table(&self, region: &Region) -> Option<&str> {
        in_region(&self.tables, region)
    }

    /// The name the app's hostname resolves through while `region` serves, if recorded.
    pub fn dns_target(&self, region: &Region) -> Option<&str> {
        in_region(&self.dns_targets, region)
    }

    /// The app's ARC resources (`arc` mechanism).
    pub fn arc(&self) -> Option<&ArcControls> {
        match &self.routing {
            AppRouting::Arc(arc) => Some(arc),
            AppRouting::HealthCheck(_) => None,
        }
    }

    /// The app's flags (`health-check` mechanism).
    pub fn flags(&self) -> Option<&[RegionFlag]> {
        match &self.routing {
            AppRouting::HealthCheck(f) => Some(&f.flags),
            AppRouting::Arc(_) => None,
        }
    }

    /// The flag that takes `region` out (`health-check` mechanism).
    pub fn flag(&self, region: &Region) -> Option<&RegionFlag> {
        self.flags()?.iter().find(|f| f.region == *region)
    }

    /// The routing control of this app in `region` (`arc` mechanism).
    pub fn routing_control(&self, region: &Region) -> Option<&RoutingControlArn> {
        self.arc()?
            .routing_controls
            .iter()
            .find(|c| c.region == *region)
            .map(|c| &c.arn)
    }

    /// The Region whose routing control is `arn` (`arc` mechanism).
    pub fn region_of(&self, arn: &RoutingControlArn) -> Option<&Region> {
        self.arc()?
            .routing_controls
            .iter()
            .find(|c| c.arn == *arn)
            .map(|c| &c.region)
    }

    /// The URL that reaches this app's instance in `region` directly.
    pub fn regional_url(&self, region: &Region) -> Option<&str> {
        self.regional_urls
            .iter()
            .find(|u| u.region == *region)
            .map(|u| u.url.as_str())
    }
}

impl Manifest {
    /// Reads a manifest, refusing a version this build does not know.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ManifestError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|reason| ManifestError::Read {
            path: shown.clone(),
            reason,
        })?;
        Self::parse(&text, &shown)
    }

    /// Parses a manifest document; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ManifestError> {
        let invalid = |message: String| ManifestError::Invalid {
            path: origin.to_owned(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut value = value;
        match value
            .get("manifest_version")
            .and_then(serde_json::Value::as_u64)
        {
            Some(v) if v == u64::from(MANIFEST_VERSION) => {}
            Some(1) => upgrade_v1(&mut value),
            Some(found) => {
                return Err(ManifestError::UnknownVersion {
                    path: origin.to_owned(),
                    found,
                });
            }
            None => return Err(invalid("it has no numeric `manifest_version`".into())),
        }
        let manifest: Manifest =
            serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
        manifest.check().map_err(invalid)?;
        Ok(manifest)
    }

    fn check(&self) -> Result<(), String> {
        if let Routing::Arc { cluster } = &self.routing
            && cluster.endpoints.is_empty()
        {
            return Err("the cluster lists no endpoints".into());
        }
        for app in &self.apps {
            match (&self.routing, &app.routing) {
                (Routing::Arc { .. }, AppRouting::Arc(arc)) => self.check_arc(app, arc)?,
                (Routing::HealthCheck { .. }, AppRouting::HealthCheck(_)) => {
                    self.check_flags(app)?
                }
                (routing, _) => {
                    return Err(format!(
                        "app `{}` is not routed by the deployment's mechanism, `{}`",
                        app.name,
                        routing.mechanism()
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_arc(&self, app: &AppEntry, arc: &ArcControls) -> Result<(), String> {
        for region in self.regions.both() {
            if app.routing_control(region).is_none() {
                return Err(format!(
                    "app `{}` has no routing control for `{region}`",
                    app.name
                ));
            }
        }
        let panel = &arc.control_panel_arn;
        if arc
            .routing_controls
            .iter()
            .any(|c| c.arn.control_panel() != *panel)
        {
            return Err(format!(
                "a routing control of `{}` is not in its control panel",
                app.name
            ));
        }
        Ok(())
    }

    fn check_flags(&self, app: &AppEntry) -> Result<(), String> {
        for region in self.regions.both() {
            let Some(flag) = app.flag(region) else {
                return Err(format!("app `{}` has no flag for `{region}`", app.name));
            };
            if Some(&flag.published_in) != self.regions.other(region) {
                return Err(format!(
                    "the flag of `{}` for `{region}` must be published in the other Region, not `{}`",
                    app.name, flag.published_in
                ));
            }
        }
        Ok(())
    }

    /// The deployment's failover mechanism.
    pub fn mechanism(&self) -> Mechanism {
        self.routing.mechanism()
    }

    /// The ARC cluster (`arc` mechanism).
    pub fn cluster(&self) -> Option<&Cluster> {
        match &self.routing {
            Routing::Arc { cluster } => Some(cluster),
            Routing::HealthCheck { .. } => None,
        }
    }

    /// The ARC cluster, to change (`arc` mechanism).
    pub fn cluster_mut(&mut self) -> Option<&mut Cluster> {
        match &mut self.routing {
            Routing::Arc { cluster } => Some(cluster),
            Routing::HealthCheck { .. } => None,
        }
    }

    /// Where the flags live (`health-check` mechanism).
    pub fn flag_metric(&self) -> Option<&FlagMetric> {
        match &self.routing {
            Routing::HealthCheck { flags } => Some(flags),
            Routing::Arc { .. } => None,
        }
    }

    /// Writes the manifest atomically (temporary file, then rename), creating its folder.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ManifestError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let write = |reason| ManifestError::Write {
            path: shown.clone(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write)?;
        }
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).expect("a manifest always serializes");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        // A trusted client's private key is for the owner's eyes only.
        #[cfg(unix)]
        if self.trusted_client.is_some() {
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        }
        // A leftover from an interrupted save would keep its own mode.
        let _ = std::fs::remove_file(&tmp);
        let mut file = options.open(&tmp).map_err(write)?;
        std::io::Write::write_all(&mut file, (text + "\n").as_bytes()).map_err(write)?;
        std::fs::rename(&tmp, path).map_err(write)
    }

    /// The app called `name`.
    pub fn app(&self, name: &AppName) -> Option<&AppEntry> {
        self.apps.iter().find(|a| a.name == *name)
    }
}

impl Routing {
    /// The mechanism this routing belongs to.
    pub fn mechanism(&self) -> Mechanism {
        match self {
            Routing::Arc { .. } => Mechanism::Arc,
            Routing::HealthCheck { .. } => Mechanism::HealthCheck,
        }
    }
}

/// Rewrites a version 1 manifest (ARC only: `cluster` at the top, each app's ARC resources
/// beside its name) as version 2, so that a deployment made before the `health-check`
/// mechanism keeps working without a redeploy.
fn upgrade_v1(value: &mut serde_json::Value) {
    let Some(top) = value.as_object_mut() else {
        return;
    };
    top.insert("manifest_version".into(), MANIFEST_VERSION.into());
    if let Some(cluster) = top.remove("cluster") {
        top.insert(
            "routing".into(),
            serde_json::json!({ "mechanism": "arc", "cluster": cluster }),
        );
    }
    let apps = top
        .get_mut("apps")
        .and_then(serde_json::Value::as_array_mut);
    for app in apps.into_iter().flatten() {
        let Some(app) = app.as_object_mut() else {
            continue;
        };
        let mut routing = serde_json::Map::new();
        routing.insert("mechanism".into(), "arc".into());
        for key in ["control_panel_arn", "safety_rule_arn", "routing_controls"] {
            if let Some(v) = app.remove(key) {
                routing.insert(key.into(), v);
            }
        }
        app.insert("routing".into(), routing.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Manifest {
        let panel = "arn:aws:route53-recovery-control::123456789012:controlpanel/p1";
        Manifest {
            manifest_version: MANIFEST_VERSION,
            environment: Environment::Local,
            domain: "example.test".parse().unwrap(),
            regions: Regions {
                primary: "us-east-1".parse().unwrap(),
                secondary: "us-west-2".parse().unwrap(),
            },
            routing: Routing::Arc {
                cluster: Cluster {
                    arn: "arn:aws:route53-recovery-control::123456789012:cluster/c1"
                        .parse()
                        .unwrap(),
                    endpoints: vec![ClusterEndpoint {
                        region: "us-east-1".parse().unwrap(),
                        url: "http://127.0.0.1:8091".into(),
                    }],
                },
            },
            apps: vec![AppEntry {
                client_certificate_required: false,
                name: "orders".parse().unwrap(),
                hostname: "orders.example.test".into(),
                url: "http://orders.example.test:8000".into(),
                routing: AppRouting::Arc(ArcControls {
                    control_panel_arn: panel.parse().unwrap(),
                    safety_rule_arn: format!("{panel}/safetyrule/s1").parse().unwrap(),
                    routing_controls: ["us-east-1", "us-west-2"]
                        .iter()
                        .enumerate()
                        .map(|(i, r)| RegionalControl {
                            region: r.parse().unwrap(),
                            arn: format!("{panel}/routingcontrol/rc{i}").parse().unwrap(),
                        })
                        .collect(),
                }),
                regional_urls: vec![],
                routes: BTreeMap::new(),
                tables: vec![RegionalName {
                    region: "us-west-2".parse().unwrap(),
                    name: "orders".into(),
                }],
                dns_targets: vec![],
                alarms: vec![],
            }],
            dns_server: Some("127.0.0.1:8053".parse().unwrap()),
            control_api: None,
            name_servers: vec!["ns-1.awsdns-01.org".into()],
            trusted_client: None,
            auth: Some(ManifestAuth {
                issuer: "http://127.0.0.1:8090".into(),
                audience: "api".into(),
                scopes: vec!["api/read".parse().unwrap()],
            }),
        }
    }

    #[test]
    fn a_trusted_client_round_trips_and_its_debug_hides_the_key() {
        let mut manifest = sample();
        manifest.trusted_client = Some(TrustedClient {
            ca_pem: "CA".into(),
            certificate_pem: "CERT".into(),
            private_key_pem: "PRIVATE".into(),
        });
        let json = serde_json::to_string(&manifest).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), manifest);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deployment.json");
        manifest.save(&path).unwrap();
        assert_eq!(Manifest::load(&path).unwrap(), manifest);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}: the key is readable by others");
        }
        let debug = format!("{:?}", manifest.trusted_client.unwrap());
        assert!(
            debug.contains("CERT") && !debug.contains("PRIVATE"),
            "{debug}"
        );
        assert_eq!(
            TrustedClient::tls_url("http://orders.example.test:8000"),
            "https://orders.example.test:8000"
        );
        assert_eq!(TrustedClient::tls_url("https://x"), "https://x");
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/deployment.json");
        sample().save(&path).unwrap();
        assert_eq!(Manifest::load(&path).unwrap(), sample());
    }

    #[test]
    fn unknown_version_is_refused_clearly() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["manifest_version"] = 7.into();
        let err = Manifest::parse(&v.to_string(), "m.json").unwrap_err();
        assert!(matches!(
            err,
            ManifestError::UnknownVersion { found: 7, .. }
        ));
        assert!(err.to_string().contains("manifest_version 7"), "{err}");
    }

    fn health_check_sample() -> Manifest {
        let mut m = sample();
        m.routing = Routing::HealthCheck {
            flags: FlagMetric {
                namespace: "MultiRegionApi/local".into(),
                metric_name: FLAG_METRIC_NAME.into(),
                endpoints: vec![],
            },
        };
        let flag = |region: &str, published_in: &str| RegionFlag {
            region: region.parse().unwrap(),
            published_in: published_in.parse().unwrap(),
            alarm_name: format!("orders-{region}-out"),
            health_check_id: None,
        };
        m.apps[0].routing = AppRouting::HealthCheck(RegionFlags {
            flags: vec![
                flag("us-east-1", "us-west-2"),
                flag("us-west-2", "us-east-1"),
            ],
        });
        m
    }

    #[test]
    fn a_health_check_manifest_round_trips_and_names_its_flags() {
        let m = health_check_sample();
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains(r#""mechanism":"health-check""#), "{text}");
        let back = Manifest::parse(&text, "m.json").unwrap();
        assert_eq!(back, m);
        assert_eq!(back.mechanism(), Mechanism::HealthCheck);
        assert!(back.cluster().is_none());
        let east: Region = "us-east-1".parse().unwrap();
        let app = &back.apps[0];
        assert_eq!(app.flag(&east).unwrap().published_in.as_str(), "us-west-2");
        assert!(app.routing_control(&east).is_none());
    }

    #[test]
    fn a_flag_must_live_in_the_other_region() {
        let mut m = health_check_sample();
        let AppRouting::HealthCheck(f) = &mut m.apps[0].routing else {
            unreachable!()
        };
        f.flags[0].published_in = "us-east-1".parse().unwrap();
        let err = Manifest::parse(&serde_json::to_string(&m).unwrap(), "m.json").unwrap_err();
        assert!(err.to_string().contains("other Region"), "{err}");
        let mut m = health_check_sample();
        m.routing = sample().routing;
        let err = Manifest::parse(&serde_json::to_string(&m).unwrap(), "m.json").unwrap_err();
        assert!(err.to_string().contains("mechanism"), "{err}");
    }

    #[test]
    fn a_version_1_manifest_reads_as_the_arc_deployment_it_describes() {
        let mut v = serde_json::to_value(sample()).unwrap();
        let routing = v.as_object_mut().unwrap().remove("routing").unwrap();
        v["cluster"] = routing["cluster"].clone();
        let app = v["apps"][0].as_object_mut().unwrap();
        let arc = app.remove("routing").unwrap();
        for key in ["control_panel_arn", "safety_rule_arn", "routing_controls"] {
            app.insert(key.into(), arc[key].clone());
        }
        v["manifest_version"] = 1.into();
        assert_eq!(
            Manifest::parse(&v.to_string(), "v1.json").unwrap(),
            sample()
        );
    }

    #[test]
    fn a_newer_version_says_so() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["manifest_version"] = (MANIFEST_VERSION + 1).into();
        let err = Manifest::parse(&v.to_string(), "m.json").unwrap_err();
        assert!(err.to_string().contains("newer version"), "{err}");
    }

    #[test]
    fn a_missing_routing_control_is_refused() {
        let mut m = sample();
        let AppRouting::Arc(arc) = &mut m.apps[0].routing else {
            unreachable!("the sample is an ARC deployment")
        };
        arc.routing_controls.pop();
        let err = Manifest::parse(&serde_json::to_string(&m).unwrap(), "m.json").unwrap_err();
        assert!(err.to_string().contains("us-west-2"), "{err}");
    }

    #[test]
    fn a_manifest_without_the_optional_fields_still_loads() {
        let mut v = serde_json::to_value(sample()).unwrap();
        for key in ["name_servers", "dns_server"] {
            v.as_object_mut().unwrap().remove(key);
        }
        for key in ["tables", "dns_targets"] {
            v["apps"][0].as_object_mut().unwrap().remove(key);
        }
        let m = Manifest::parse(&v.to_string(), "old.json").unwrap();
        assert!(m.name_servers.is_empty());
        assert_eq!(m.apps[0].table(&"us-west-2".parse().unwrap()), None);
    }

    #[test]
    fn lookups_by_region() {
        let m = sample();
        let app = m.app(&"orders".parse().unwrap()).unwrap();
        let west: Region = "us-west-2".parse().unwrap();
        let arn = app.routing_control(&west).unwrap();
        assert_eq!(app.region_of(arn), Some(&west));
        assert_eq!(app.table(&west), Some("orders"));
        assert_eq!(app.table(&"us-east-1".parse().unwrap()), None);
    }
}
