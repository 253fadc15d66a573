//! The deployment manifest (docs/architecture.md, "The deployment manifest"): what a deploy
//! wrote down, and all the failover path needs. Written by `infra deploy` (AWS) and by the local
//! world (`local-world run` or `demo`); read by `failover` and `loadtest`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{
    App, AppName, ClusterArn, ControlPanelArn, DomainName, Region, Regions, RoutingControlArn,
    SafetyRuleArn,
};

/// The manifest format this build reads and writes.
pub const MANIFEST_VERSION: u32 = 1;

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
/// delete and condition-check actions. `CreateTable` is for local use only and is not granted.
pub const SERVICE_TABLE_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:DescribeTable",
];

/// The header the `api` gateway adds to every call it forwards, carrying the deployment's
/// gateway secret; services with gateway-only access refuse calls without it.
pub const GATEWAY_SECRET_HEADER: &str = "x-gateway-secret";

/// The environment variable that gives a service instance the gateway secret to expect.
pub const GATEWAY_SECRET_ENV: &str = "GATEWAY_SECRET";

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

/// The header naming the Region that answered, on every response of every app.
pub const REGION_HEADER: &str = "x-region";

/// Why a manifest could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "cannot read manifest {path}: {reason} (run `local-world run` or `infra deploy` first, or pass --manifest)"
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
        "manifest {path} has manifest_version {found}, but this build reads version {MANIFEST_VERSION}; \
         rebuild the tools from the same checkout that wrote it, or redeploy to rewrite it"
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
    pub cluster: Cluster,
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
    /// The local world's gateway secret ([`GATEWAY_SECRET_HEADER`]), for the drill's and load
    /// tests' direct calls to services, as a trusted internal client would send it. Never
    /// written on AWS, where the secret stays in the stacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_secret: Option<String>,
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
    pub control_panel_arn: ControlPanelArn,
    pub safety_rule_arn: SafetyRuleArn,
    /// One routing control per Region.
    pub routing_controls: Vec<RegionalControl>,
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

    /// The routing control of this app in `region`.
    pub fn routing_control(&self, region: &Region) -> Option<&RoutingControlArn> {
        self.routing_controls
            .iter()
            .find(|c| c.region == *region)
            .map(|c| &c.arn)
    }

    /// The Region whose routing control is `arn`.
    pub fn region_of(&self, arn: &RoutingControlArn) -> Option<&Region> {
        self.routing_controls
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
        match value
            .get("manifest_version")
            .and_then(serde_json::Value::as_u64)
        {
            Some(v) if v == u64::from(MANIFEST_VERSION) => {}
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
        if self.cluster.endpoints.is_empty() {
            return Err("the cluster lists no endpoints".into());
        }
        for app in &self.apps {
            for region in self.regions.both() {
                if app.routing_control(region).is_none() {
                    return Err(format!(
                        "app `{}` has no routing control for `{region}`",
                        app.name
                    ));
                }
            }
            let panel = &app.control_panel_arn;
            if app
                .routing_controls
                .iter()
                .any(|c| c.arn.control_panel() != *panel)
            {
                return Err(format!(
                    "a routing control of `{}` is not in its control panel",
                    app.name
                ));
            }
        }
        Ok(())
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
        std::fs::write(&tmp, text + "\n").map_err(write)?;
        std::fs::rename(&tmp, path).map_err(write)
    }

    /// The app called `name`.
    pub fn app(&self, name: &AppName) -> Option<&AppEntry> {
        self.apps.iter().find(|a| a.name == *name)
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
            cluster: Cluster {
                arn: "arn:aws:route53-recovery-control::123456789012:cluster/c1"
                    .parse()
                    .unwrap(),
                endpoints: vec![ClusterEndpoint {
                    region: "us-east-1".parse().unwrap(),
                    url: "http://127.0.0.1:8091".into(),
                }],
            },
            apps: vec![AppEntry {
                name: "orders".parse().unwrap(),
                hostname: "orders.example.test".into(),
                url: "http://orders.example.test:8000".into(),
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
                regional_urls: vec![],
                routes: BTreeMap::new(),
                tables: vec![RegionalName {
                    region: "us-west-2".parse().unwrap(),
                    name: "orders".into(),
                }],
                dns_targets: vec![],
            }],
            dns_server: Some("127.0.0.1:8053".parse().unwrap()),
            control_api: None,
            name_servers: vec!["ns-1.awsdns-01.org".into()],
            gateway_secret: None,
        }
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

    #[test]
    fn a_missing_routing_control_is_refused() {
        let mut m = sample();
        m.apps[0].routing_controls.pop();
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
