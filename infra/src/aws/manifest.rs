//! The deployment manifest (docs/architecture.md) from the stacks' outputs (each app's from the
//! ARC or flags stack of its group), the cluster's endpoints and the hosted zone's name servers.

use topology::manifest::{
    AppEntry, AppRouting, ArcControls, Cluster, ClusterEndpoint, Environment, FLAG_METRIC_NAME,
    FlagMetric, MANIFEST_VERSION, Manifest, RegionFlag, RegionFlags, RegionalControl, RegionalName,
    RegionalUrl, Routing,
};
use topology::{App, Mechanism, Topology};

use super::cfn::Outputs;
use super::plan::{RegionRole, StackId, StackNames};
use super::{app, arc, flags};

/// Why the manifest could not be built from the outputs.
#[derive(Debug, thiserror::Error)]
pub enum ManifestBuildError {
    #[error("stack {stack} has no output `{key}`; deploy it again (`infra deploy`)")]
    MissingOutput { stack: StackId, key: String },
    #[error("output `{key}` of stack {stack} is not valid: {message}")]
    Invalid {
        stack: StackId,
        key: String,
        message: String,
    },
}

/// Builds the manifest. App stacks that are not deployed yet (as right after the ARC stack,
/// when the routing controls are initialized) leave the apps' Regional URLs empty.
/// `endpoints` are the ARC cluster's (empty with the `health-check` mechanism); `name_servers`
/// are the hosted zone's own (its delegation set), for `failover --verify`.
pub fn build(
    topology: &Topology,
    names: &StackNames,
    outputs: &Outputs,
    endpoints: Vec<ClusterEndpoint>,
    name_servers: Vec<String>,
) -> Result<Manifest, ManifestBuildError> {
    let routing = match topology.failover.mechanism {
        Mechanism::Arc => {
            let arc = names.arc();
            let read = |key: &str| read_output(outputs, &arc, key);
            Routing::Arc {
                cluster: Cluster {
                    arn: parse(
                        &arc,
                        arc::OUTPUT_CLUSTER_ARN,
                        read(arc::OUTPUT_CLUSTER_ARN)?,
                    )?,
                    endpoints,
                },
            }
        }
        Mechanism::HealthCheck => Routing::HealthCheck {
            flags: FlagMetric {
                namespace: flags::namespace(names.prefix()),
                metric_name: FLAG_METRIC_NAME.into(),
                endpoints: Vec::new(),
            },
        },
    };
    let apps = topology
        .apps
        .iter()
        .map(|app_def| app_entry(topology, names, outputs, app_def))
        .collect::<Result<_, _>>()?;
    Ok(Manifest {
        manifest_version: MANIFEST_VERSION,
        environment: Environment::Aws,
        domain: topology.domain.clone(),
        regions: topology.regions.clone(),
        routing,
        apps,
        dns_server: None,
        control_api: None,
        name_servers,
        trusted_client: None,
        auth: None,
    })
}

/// Sets, in `manifest`, the Regional URL of each app deployed in `region` to the one in
/// `outputs` (after a Region-scoped deploy); apps without outputs keep theirs.
pub fn update_regional_urls(
    manifest: &mut Manifest,
    names: &StackNames,
    outputs: &Outputs,
    region: &topology::Region,
) {
    for entry in &mut manifest.apps {
        let stack = names.app(&entry.name, region);
        let Some(url) = outputs
            .get(&stack)
            .and_then(|o| o.get(app::OUTPUT_REGIONAL_URL))
        else {
            continue;
        };
        entry.regional_urls.retain(|u| u.region != *region);
        entry.regional_urls.push(RegionalUrl {
            region: region.clone(),
            url: url.clone(),
        });
        entry.regional_urls.sort_by(|a, b| {
            let rank = |r: &topology::Region| manifest.regions.primary != *r;
            rank(&a.region).cmp(&rank(&b.region))
        });
    }
}

fn app_entry(
    topology: &Topology,
    names: &StackNames,
    outputs: &Outputs,
    app_def: &App,
) -> Result<AppEntry, ManifestBuildError> {
    let hostname = topology.domain.subdomain(app_def.name().as_str());
    let mut regional_urls = Vec::new();
    let mut dns_targets = Vec::new();
    for role in RegionRole::BOTH {
        let region = role.of(&topology.regions).clone();
        let stack = names.app(app_def.name(), &region);
        if let Some(url) = outputs
            .get(&stack)
            .and_then(|o| o.get(app::OUTPUT_REGIONAL_URL))
        {
            regional_urls.push(RegionalUrl {
                region: region.clone(),
                url: url.clone(),
            });
        }
        if let Some(name) = outputs
            .get(&stack)
            .and_then(|o| o.get(app::OUTPUT_REGIONAL_DOMAIN))
        {
            dns_targets.push(RegionalName {
                region,
                name: name.clone(),
            });
        }
    }
    Ok(AppEntry {
        client_certificate_required: app_def.as_service().is_some() && topology.aws.gateway_only,
        routes: app_def
            .as_gateway()
            .map(|g| g.routes().clone())
            .unwrap_or_default(),
        name: app_def.name().clone(),
        url: format!("https://{hostname}"),
        hostname,
        routing: app_routing(topology, names, outputs, app_def)?,
        regional_urls,
        tables: topology::manifest::tables_of(app_def, &topology.regions),
        dns_targets,
        alarms: topology::manifest::alarms_of(app_def, &topology.regions, names.prefix().as_str()),
    })
}

/// The app's ARC resources, or its flags, from the routing stacks' outputs.
fn app_routing(
    topology: &Topology,
    names: &StackNames,
    outputs: &Outputs,
    app_def: &App,
) -> Result<AppRouting, ManifestBuildError> {
    match topology.failover.mechanism {
        Mechanism::Arc => {
            let arc = names.arc_of(app_def.name());
            let routing_controls = RegionRole::BOTH
                .into_iter()
                .map(|role| {
                    Ok(RegionalControl {
                        region: role.of(&topology.regions).clone(),
                        arn: arc_output(
                            outputs,
                            &arc,
                            &arc::output_routing_control(app_def, role),
                        )?,
                    })
                })
                .collect::<Result<_, ManifestBuildError>>()?;
            Ok(AppRouting::Arc(ArcControls {
                control_panel_arn: arc_output(outputs, &arc, &arc::output_control_panel(app_def))?,
                safety_rule_arn: arc_output(outputs, &arc, &arc::output_safety_rule(app_def))?,
                routing_controls,
            }))
        }
        Mechanism::HealthCheck => {
            let flags = RegionRole::BOTH
                .into_iter()
                .map(|role| {
                    let region = role.of(&topology.regions).clone();
                    let published_in = flags::other(role).of(&topology.regions).clone();
                    let stack = names.flags_of(&published_in, app_def.name());
                    let key = flags::output_health_check(app_def, role);
                    Ok(RegionFlag {
                        alarm_name: flags::alarm_name(names.prefix(), app_def, &region),
                        health_check_id: Some(read_output(outputs, &stack, &key)?.to_owned()),
                        region,
                        published_in,
                    })
                })
                .collect::<Result<_, ManifestBuildError>>()?;
            Ok(AppRouting::HealthCheck(RegionFlags { flags }))
        }
    }
}

fn arc_output<T>(outputs: &Outputs, arc: &StackId, key: &str) -> Result<T, ManifestBuildError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    parse(arc, key, read_output(outputs, arc, key)?)
}

fn read_output<'o>(
    outputs: &'o Outputs,
    stack: &StackId,
    key: &str,
) -> Result<&'o str, ManifestBuildError> {
    outputs
        .get(stack)
        .and_then(|o| o.get(key))
        .map(String::as_str)
        .ok_or_else(|| ManifestBuildError::MissingOutput {
            stack: stack.clone(),
            key: key.to_owned(),
        })
}

fn parse<T>(stack: &StackId, key: &str, value: &str) -> Result<T, ManifestBuildError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e: T::Err| ManifestBuildError::Invalid {
            stack: stack.clone(),
            key: key.to_owned(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::plan::StackPrefix;

    #[test]
    fn the_manifest_lists_the_zones_name_servers_and_the_arc_outputs() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let names = StackNames::new(&topology, &StackPrefix::default());
        let account = "arn:aws:route53-recovery-control::123456789012";
        let mut outputs = Outputs::new();
        let arc_outputs = outputs.entry(names.arc()).or_default();
        arc_outputs.insert(
            arc::OUTPUT_CLUSTER_ARN.into(),
            format!("{account}:cluster/c-1"),
        );
        for a in &topology.apps {
            let panel = format!("{account}:controlpanel/p-{}", a.name());
            arc_outputs.insert(arc::output_control_panel(a), panel.clone());
            arc_outputs.insert(arc::output_safety_rule(a), format!("{panel}/safetyrule/s"));
            for role in RegionRole::BOTH {
                arc_outputs.insert(
                    arc::output_routing_control(a, role),
                    format!("{panel}/routingcontrol/rc-{}", role.pascal()),
                );
            }
        }
        let servers = vec![
            "ns-1.awsdns-01.org".to_owned(),
            "ns-2.awsdns-02.co.uk".to_owned(),
        ];
        let endpoints = vec![ClusterEndpoint {
            region: "us-east-1".parse().unwrap(),
            url: "https://host1.example/v1".into(),
        }];
        let manifest = build(&topology, &names, &outputs, endpoints, servers.clone()).unwrap();
        assert_eq!(manifest.name_servers, servers);
        assert_eq!(manifest.environment, Environment::Aws);
        assert_eq!(manifest.apps.len(), topology.apps.len());
        // What it writes, `failover` reads back.
        let text = serde_json::to_string(&manifest).unwrap();
        let read = Manifest::parse(&text, "deployment.json").unwrap();
        assert_eq!(read.name_servers, servers);
    }

    #[test]
    fn a_missing_or_malformed_output_is_named() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let names = StackNames::new(&topology, &StackPrefix::default());
        let err = build(&topology, &names, &Outputs::new(), vec![], vec![]).unwrap_err();
        assert!(err.to_string().contains("ClusterArn"), "{err}");

        let mut outputs = Outputs::new();
        let arc_outputs = outputs.entry(names.arc()).or_default();
        arc_outputs.insert(
            arc::OUTPUT_CLUSTER_ARN.into(),
            "arn:aws:s3:::not-a-cluster".into(),
        );
        let err = build(&topology, &names, &outputs, vec![], vec![]).unwrap_err();
        assert!(matches!(err, ManifestBuildError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("cluster ARN"), "{err}");
    }
}
