//! The deploy orchestrator against moto's server: order, change sets, waiting with progress,
//! outputs wired into the next stacks' parameters (and the cluster's endpoints, read after the
//! ARC phase), a no-op re-run, a failing stack reported, reverse-order destroy, packages
//! uploaded, manifest written with the hosted zone's name servers.
//!
//! moto's CloudFormation skips the production templates' key types (ARC, global tables, API
//! Gateway domains, certificates), so these tests deploy the production *plan* (the same stack
//! names, Regions, phases and parameter wiring) with each template swapped for a small
//! stand-in of types moto implements that declares the same parameters and outputs. The
//! production templates themselves are checked by `aws_synth.rs` (cfn-lint, structure,
//! snapshots).

use std::path::Path;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig};
use aws_credential_types::Credentials;
use infra::aws::cfn::{DeployError, Orchestrator, Outputs, StackOutcome, Timing};
use infra::aws::confirm::Confirm;
use infra::aws::deploy::{self, destroy_plan, upload_packages};
use infra::aws::plan::{
    DeployInputs, ParamValue, PhaseKind, Plan, RegionRole, StackId, StackKind, StackNames,
    StackPrefix, StackSpec,
};
use infra::aws::template::{Template, get_att, pascal, reference, sub};
use infra::aws::truststore::GatewayCertificate;
use infra::aws::{app, arc, bootstrap, data, guardrails, manifest, package};
use serde_json::json;
use topology::Topology;
use topology::manifest::{ClusterEndpoint, Manifest};

use crate::aws_support::{Moto, start_moto};

pub(crate) async fn sdk(moto: &Moto) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&moto.endpoint)
        // moto answers 500 to what it does not implement; retrying would only slow failures.
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

pub(crate) fn fast() -> Timing {
    Timing {
        poll: Duration::from_millis(50),
        stack_timeout: Duration::from_secs(15),
    }
}

// ---------------------------------------------------------------- the rehearsal plan

const ACCOUNT_ARN: &str = "arn:aws:route53-recovery-control::123456789012";

fn health_check_id(app: &str, role: RegionRole) -> String {
    format!("hc-{app}-{}", role.pascal().to_lowercase())
}

/// The deploy's inputs for a rehearsal of `packages` in the zone `Z0TEST`.
pub(crate) fn rehearsal_inputs(packages: &[package::LambdaPackage]) -> DeployInputs {
    DeployInputs {
        hosted_zone_id: Some("Z0TEST".into()),
        existing_logging_roles: Default::default(),
        code_keys: package::code_keys(packages),
    }
}

/// The production plan with stand-in templates (same parameters, same output keys).
pub(crate) fn rehearsal_plan(topology: &Topology, code_keys: &DeployInputs) -> Plan {
    let mut plan = Plan::new(topology, &StackPrefix::default(), code_keys);
    for phase in &mut plan.phases {
        for spec in &mut phase.stacks {
            spec.template = stand_in(topology, spec);
        }
    }
    plan
}

fn stand_in(topology: &Topology, spec: &StackSpec) -> Template {
    let mut t = Template::new(format!("stand-in for {}", spec.id.name));
    let names = StackNames::new(topology, &StackPrefix::default());
    // Every stand-in declares the production template's parameters.
    let production = spec.template.to_json();
    for (id, p) in production["Parameters"].as_object().into_iter().flatten() {
        t.parameter(
            id,
            p["Description"].as_str().unwrap(),
            p["Default"].as_str(),
        );
    }
    match &spec.kind {
        StackKind::Bootstrap => {
            t.resource(
                "ArtifactsBucket",
                "AWS::S3::Bucket",
                json!({ "VersioningConfiguration": { "Status": "Enabled" } }),
            );
            t.output(
                bootstrap::OUTPUT_ARTIFACTS_BUCKET,
                "bucket",
                reference("ArtifactsBucket"),
            );
            t.resource("AlarmTopic", "AWS::SNS::Topic", json!({}));
            t.output(
                infra::aws::monitoring::OUTPUT_ALARM_TOPIC,
                "topic",
                reference("AlarmTopic"),
            );
        }
        StackKind::Arc(group) => {
            t.resource("Marker", "AWS::SQS::Queue", json!({}));
            if group.is_first() {
                t.output(
                    arc::OUTPUT_CLUSTER_ARN,
                    "cluster",
                    json!(format!("{ACCOUNT_ARN}:cluster/c-1")),
                );
            }
            for a in names.layout().apps(topology, *group) {
                let panel = format!("{ACCOUNT_ARN}:controlpanel/p-{}", a.name());
                t.output(&arc::output_control_panel(a), "panel", json!(panel));
                t.output(
                    &arc::output_safety_rule(a),
                    "rule",
                    json!(format!("{panel}/safetyrule/s-{}", a.name())),
                );
                for role in RegionRole::BOTH {
                    let rc = format!("{panel}/routingcontrol/rc-{}", role.pascal().to_lowercase());
                    t.output(&arc::output_routing_control(a, role), "control", json!(rc));
                    t.output(
                        &arc::output_health_check(a, role),
                        "check",
                        json!(health_check_id(a.name().as_str(), role)),
                    );
                }
            }
        }
        StackKind::Flags(role, group) => {
            // Alarms and health checks on the other Region's records (stand-ins, as for ARC).
            t.resource("Marker", "AWS::SQS::Queue", json!({}));
            let there = infra::aws::flags::other(*role);
            for a in names.layout().apps(topology, *group) {
                t.output(
                    &infra::aws::flags::output_health_check(a, there),
                    "check",
                    json!(health_check_id(a.name().as_str(), there)),
                );
            }
        }
        StackKind::Monitoring(..) => {
            t.resource("Marker", "AWS::SQS::Queue", json!({}));
        }
        StackKind::Data => {
            for a in topology.services() {
                let id = format!("{}Table", pascal(a.name().as_str()));
                t.resource(
                    &id,
                    "AWS::DynamoDB::Table",
                    json!({
                        "TableName": data::table_name(&StackPrefix::default(), a.table()),
                        "BillingMode": "PAY_PER_REQUEST",
                        "AttributeDefinitions": [ { "AttributeName": "pk", "AttributeType": "S" } ],
                        "KeySchema": [ { "AttributeName": "pk", "KeyType": "HASH" } ],
                    }),
                );
                t.output(&data::output_table_name(a.name()), "table", reference(&id));
            }
        }
        StackKind::App(name, _) => {
            t.resource("Marker", "AWS::SQS::Queue", json!({}));
            // The outputs echo the wired parameters, so the test sees what each stack got.
            t.output(
                app::OUTPUT_REGIONAL_URL,
                "url",
                sub("https://${HealthCheckId}.example/live"),
            );
            t.output("WiredHostedZone", "zone", reference(app::PARAM_HOSTED_ZONE));
            if production["Parameters"]
                .get(app::PARAM_ROUTING_CONTROL)
                .is_some()
            {
                t.output(
                    "WiredRoutingControl",
                    "control",
                    reference(app::PARAM_ROUTING_CONTROL),
                );
                t.output(
                    "WiredClusterEndpoints",
                    "endpoints",
                    reference(app::PARAM_CLUSTER_ENDPOINTS),
                );
            }
            if topology.service(name).is_some() {
                t.output("WiredBucket", "bucket", reference(app::PARAM_BUCKET));
                t.output("WiredTable", "table", reference(app::PARAM_TABLE));
                t.output("WiredCodeKey", "key", reference(app::PARAM_CODE_KEY));
                t.output(
                    "QueueArn",
                    "a GetAtt on a created resource",
                    get_att("Marker", "Arn"),
                );
            }
        }
    }
    t
}

/// One zip per service, named by content hash, as build-lambdas.sh writes them.
pub(crate) fn packages(dir: &Path, topology: &Topology) -> Vec<package::LambdaPackage> {
    for a in topology.services() {
        let bytes = format!("PK fake zip of {}", a.name()).into_bytes();
        std::fs::write(
            dir.join(format!(
                "{}-{}.zip",
                a.name(),
                package::content_hash(&bytes)
            )),
            bytes,
        )
        .unwrap();
    }
    package::find_packages(dir, topology).unwrap()
}

async fn created_at(orchestrator: &Orchestrator, id: &StackId) -> std::time::SystemTime {
    let stack = orchestrator
        .describe(id)
        .await
        .unwrap()
        .expect("the stack exists");
    let t = stack.creation_time().unwrap();
    std::time::UNIX_EPOCH + Duration::from_nanos(u64::try_from(t.as_nanos()).unwrap())
}

// ---------------------------------------------------------------- tests

/// The gateway's client certificates, one per Region, as API Gateway would list them (moto
/// implements no client certificates).
pub(crate) fn gateway_certificates(
    topology: &Topology,
) -> Vec<(topology::Region, Vec<GatewayCertificate>)> {
    topology
        .regions
        .both()
        .into_iter()
        .map(|region| {
            let id = format!("cert-{region}");
            let pem = format!("-----BEGIN CERTIFICATE-----\n{id}\n-----END CERTIFICATE-----\n");
            (
                region.clone(),
                vec![GatewayCertificate {
                    id,
                    pem,
                    created: 1,
                }],
            )
        })
        .collect()
}

/// What the deploy does after the bootstrap phase: the packages uploaded, and the truststores
/// written to the artifacts buckets (their versions and the stages' certificates wired in).
pub(crate) async fn after_bootstrap(
    sdk: &SdkConfig,
    topology: &Topology,
    plan: &mut Plan,
    outputs: &Outputs,
    pkgs: &[package::LambdaPackage],
) {
    upload_packages(sdk, plan, outputs, pkgs).await.unwrap();
    let names = StackNames::new(topology, &StackPrefix::default());
    // The production buckets are versioned; moto's CloudFormation leaves the stand-ins' not.
    for region in topology.regions.both() {
        let bucket = &outputs[&names.bootstrap(region)][bootstrap::OUTPUT_ARTIFACTS_BUCKET];
        deploy::s3(sdk, region)
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    deploy::publish_truststores(sdk, &names, plan, outputs, &gateway_certificates(topology))
        .await
        .unwrap();
}

/// The cluster's endpoints, as ARC's control plane would list them after the ARC phase.
pub(crate) fn endpoints() -> Vec<ClusterEndpoint> {
    topology::manifest::ARC_CLUSTER_REGIONS
        .iter()
        .map(|r| ClusterEndpoint {
            region: r.parse().unwrap(),
            url: format!("https://host-{r}.example"),
        })
        .collect()
}

/// The default topology cut to the gateway and one service (fewer stacks, the same paths),
/// so that the moto tests stay fast on a busy machine.
fn gateway_and_orders() -> Topology {
    let topology = Topology::parse(&gateway_and_orders_text()).expect("the cut topology is valid");
    assert_eq!(topology.apps.len(), 2);
    topology
}

/// [`gateway_and_orders`] with write fencing on for orders: its app stacks also take their
/// routing control and the cluster's endpoints.
fn gateway_and_fenced_orders() -> Topology {
    let text = gateway_and_orders_text().replace(
        "name = \"orders\"\nkind = \"service\"\n",
        "name = \"orders\"\nkind = \"service\"\nfence_writes = true\n",
    );
    let topology = Topology::parse(&text).expect("the fenced topology is valid");
    let orders = topology.service(&"orders".parse().unwrap()).unwrap();
    assert!(orders.fence_writes());
    topology
}

pub(crate) fn gateway_and_orders_text() -> String {
    let text = testkit::FIXTURE_TOPOLOGY;
    let mut blocks = text.split("[[apps]]");
    let head = blocks.next().unwrap();
    let kept: Vec<&str> = blocks
        .filter(|b| b.contains("name = \"api\"") || b.contains("name = \"orders\""))
        .collect();
    format!("{head}[[apps]]{}", kept.join("[[apps]]"))
        .replace("\"/payments\" = \"payments\"\n", "")
        .replace("\"/users\" = \"users\"\n", "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_wires_outputs_writes_the_manifest_reruns_as_no_op_and_destroys_in_reverse() {
    let moto = start_moto();
    let sdk = sdk(&moto).await;
    let topology = gateway_and_fenced_orders();
    let dir = tempfile::tempdir().unwrap();
    let pkgs = packages(dir.path(), &topology);
    let inputs = rehearsal_inputs(&pkgs);
    let mut plan = rehearsal_plan(&topology, &inputs);
    let orchestrator = deploy::orchestrator(&sdk, &plan, Confirm::new(true), fast());
    let names = StackNames::new(&topology, &StackPrefix::default());

    // First deploy: every stack created, phase by phase; after the ARC phase, the cluster's
    // endpoints are filled in, as the deploy does once it has described the cluster.
    let mut outputs = Outputs::new();
    for index in 0..plan.phases.len() {
        let phase = &plan.phases[index];
        let outcomes = orchestrator
            .deploy_phase(phase, &mut outputs)
            .await
            .unwrap();
        assert_eq!(outcomes.len(), phase.stacks.len());
        assert!(
            outcomes.iter().all(|(_, o)| *o == StackOutcome::Created),
            "{outcomes:?}"
        );
        match phase.kind {
            PhaseKind::Bootstrap => {
                after_bootstrap(&sdk, &topology, &mut plan, &outputs, &pkgs).await
            }
            PhaseKind::Arc => plan.resolve_cluster_endpoints(&endpoints()),
            PhaseKind::Flags | PhaseKind::Data | PhaseKind::Apps | PhaseKind::Monitoring => {}
        }
    }
    // bootstrap ×2, ARC, data, apps ×4, monitoring ×2.
    assert_eq!(outputs.len(), 2 + 1 + 1 + 2 * 2 + 2);

    // Phases ran in order: each stack of a phase was created after every stack of the one before.
    let mut previous_latest = None;
    for phase in &plan.phases {
        let mut times = Vec::new();
        for spec in &phase.stacks {
            times.push(created_at(&orchestrator, &spec.id).await);
        }
        let earliest = *times.iter().min().unwrap();
        if let Some(latest) = previous_latest {
            assert!(
                earliest >= latest,
                "phase {} started before the previous one ended",
                phase.kind
            );
        }
        previous_latest = times.iter().max().copied();
    }

    // Outputs were wired into the next stacks' parameters.
    let orders = topology.app(&"orders".parse().unwrap()).unwrap();
    for role in RegionRole::BOTH {
        let region = role.of(&topology.regions);
        let stack = &outputs[&names.app(orders.name(), region)];
        let bucket = &outputs[&names.bootstrap(region)][bootstrap::OUTPUT_ARTIFACTS_BUCKET];
        assert_eq!(
            &stack["WiredBucket"], bucket,
            "this Region's artifacts bucket"
        );
        assert_eq!(stack["WiredTable"], "multi-region-api-orders");
        assert_eq!(stack["WiredHostedZone"], "Z0TEST");
        assert_eq!(stack["WiredCodeKey"], inputs.code_keys[orders.name()]);
        assert_eq!(
            stack[app::OUTPUT_REGIONAL_URL],
            format!("https://{}.example/live", health_check_id("orders", role))
        );
        assert!(
            stack["QueueArn"].starts_with("arn:aws:sqs:"),
            "{}",
            stack["QueueArn"]
        );
        // Write fencing: this Region's routing control from the ARC stack, and the endpoints.
        assert_eq!(
            stack["WiredRoutingControl"],
            outputs[&names.arc()][&arc::output_routing_control(orders, role)]
        );
        assert_eq!(
            stack["WiredClusterEndpoints"],
            app::fence_endpoints(&endpoints())
        );

        // The package is in this Region's bucket, and a second upload skips it.
        let s3 = deploy::s3(&sdk, region);
        let key = &inputs.code_keys[orders.name()];
        s3.head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("the package was uploaded");
        let again = package::upload(&s3, bucket, &pkgs[0]).await.unwrap();
        assert!(!again, "an unchanged package is not uploaded twice");
    }

    // The manifest, from the outputs and the zone's name servers.
    let name_servers = vec![
        "ns-1.awsdns-01.org".to_owned(),
        "ns-2.awsdns-02.net".to_owned(),
    ];
    let built = manifest::build(
        &topology,
        &names,
        &outputs,
        endpoints(),
        name_servers.clone(),
    )
    .unwrap();
    let path = dir.path().join("deployment.json");
    built.save(&path).unwrap();
    let read = Manifest::load(&path).unwrap();
    assert_eq!(read.environment, topology::manifest::Environment::Aws);
    assert_eq!(read.apps.len(), 2);
    let entry = read.app(orders.name()).unwrap();
    assert_eq!(entry.hostname, "orders.example.com");
    assert_eq!(entry.url, "https://orders.example.com");
    let west = &topology.regions.secondary;
    assert_eq!(
        entry.routing_control(west).unwrap().as_str(),
        format!("{ACCOUNT_ARN}:controlpanel/p-orders/routingcontrol/rc-secondary")
    );
    assert_eq!(
        entry.regional_url(west).unwrap(),
        format!(
            "https://{}.example/live",
            health_check_id("orders", RegionRole::Secondary)
        )
    );
    assert_eq!(read.cluster().unwrap().endpoints.len(), 5);
    assert_eq!(read.name_servers, name_servers);

    // A second run changes nothing and says so.
    let mut again = Outputs::new();
    for phase in &plan.phases {
        let outcomes = orchestrator.deploy_phase(phase, &mut again).await.unwrap();
        assert!(
            outcomes.iter().all(|(_, o)| *o == StackOutcome::Unchanged),
            "{outcomes:?}"
        );
    }
    assert_eq!(
        again, outputs,
        "a no-op run still reads every stack's outputs"
    );

    // Destroy: monitoring, apps, then data, then ARC, then the bootstrap stacks (buckets
    // emptied first).
    let deleted = destroy_plan(&sdk, &plan, &orchestrator).await.unwrap();
    assert_eq!(deleted.len(), 10);
    let position = |id: &StackId| deleted.iter().position(|d| d == id).unwrap();
    let apps_last = plan
        .phase(PhaseKind::Apps)
        .unwrap()
        .stacks
        .iter()
        .map(|s| position(&s.id))
        .max()
        .unwrap();
    assert!(apps_last < position(&names.data()));
    assert!(position(&names.data()) < position(&names.arc()));
    for region in topology.regions.both() {
        assert!(position(&names.arc()) < position(&names.bootstrap(region)));
    }
    for spec in plan.stacks() {
        assert!(
            orchestrator.describe(&spec.id).await.unwrap().is_none(),
            "{} still exists",
            spec.id
        );
    }
    // Destroying again finds nothing to delete.
    assert!(
        destroy_plan(&sdk, &plan, &orchestrator)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_stack_is_reported_with_its_resource_and_reason_and_stops_the_deploy() {
    let moto = start_moto();
    let sdk = sdk(&moto).await;
    let topology = gateway_and_orders();
    let dir = tempfile::tempdir().unwrap();
    let pkgs = packages(dir.path(), &topology);
    let inputs = rehearsal_inputs(&pkgs);
    let mut plan = rehearsal_plan(&topology, &inputs);
    // The data stack reads an attribute of a resource moto does not create: it fails.
    let data_phase = plan
        .phases
        .iter_mut()
        .find(|p| p.kind == PhaseKind::Data)
        .unwrap();
    let mut broken = Template::new("fails");
    broken.resource(
        "CustomDomain",
        "AWS::ApiGateway::DomainName",
        json!({ "DomainName": "orders.example.com" }),
    );
    broken.resource(
        "Bucket",
        "AWS::S3::Bucket",
        json!({
            "Tags": [ { "Key": "target", "Value": get_att("CustomDomain", "RegionalDomainName") } ]
        }),
    );
    data_phase.stacks[0].template = broken;
    let orchestrator = deploy::orchestrator(&sdk, &plan, Confirm::new(true), fast());
    let names = StackNames::new(&topology, &StackPrefix::default());

    let mut outputs = Outputs::new();
    let mut failure = None;
    for phase in &plan.phases {
        if let Err(err) = orchestrator.deploy_phase(phase, &mut outputs).await {
            failure = Some((phase.kind, err));
            break;
        }
    }
    let (phase, err) = failure.expect("the deploy fails");
    assert_eq!(phase, PhaseKind::Data);
    let text = err.to_string();
    assert!(
        text.contains(&names.data().name),
        "the message names the stack: {text}"
    );
    assert!(
        text.contains("CustomDomain"),
        "the message names the resource: {text}"
    );
    assert!(
        matches!(
            err,
            DeployError::Aws {
                operation: "ExecuteChangeSet",
                ..
            } | DeployError::StackFailed { .. }
        ),
        "{err:?}"
    );
    // The deploy stopped: no app stack was started.
    for spec in &plan.phase(PhaseKind::Apps).unwrap().stacks {
        assert!(
            orchestrator.describe(&spec.id).await.unwrap().is_none(),
            "{} was deployed",
            spec.id
        );
    }
}

#[test]
fn a_missing_output_is_named_before_anything_is_deployed() {
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let plan = Plan::new(
        &topology,
        &StackPrefix::default(),
        &DeployInputs::placeholders(&topology),
    );
    let spec = &plan.phase(PhaseKind::Apps).unwrap().stacks[0];
    let err = infra::aws::cfn::resolve_parameters(spec, &Outputs::new()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("HealthCheckId") && text.contains("multi-region-api-arc"),
        "{text}"
    );
}

/// The hosted zone and its name servers (GetHostedZone's delegation set, for the manifest) are
/// looked up with no default Region configured (Route 53 is global, but the SDK cannot sign or
/// resolve an endpoint without one).
#[tokio::test]
async fn the_hosted_zone_and_its_name_servers_are_found_without_a_default_region() {
    let moto = start_moto();
    let with_region = sdk(&moto).await;
    let zone = aws_sdk_route53::Client::new(&with_region)
        .create_hosted_zone()
        .name("example.com.")
        .caller_reference(format!("zone-{}", std::process::id()))
        .send()
        .await
        .unwrap();
    let created = zone
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/");
    let without_region = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "test",
            )),
        )
        .endpoint_url(&moto.endpoint)
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .build();
    assert!(without_region.region().is_none());
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let found = deploy::hosted_zone_id(&without_region, &topology)
        .await
        .unwrap();
    assert_eq!(found, created);

    let delegated: Vec<String> = zone
        .delegation_set()
        .expect("a public zone has a delegation set")
        .name_servers()
        .iter()
        .map(|ns| ns.trim_end_matches('.').to_owned())
        .collect();
    let servers = deploy::name_servers(&without_region, &topology, &found)
        .await
        .unwrap();
    assert!(!servers.is_empty());
    assert_eq!(servers, delegated);
    assert!(servers.iter().all(|ns| !ns.ends_with('.')), "{servers:?}");

    let err = deploy::name_servers(&without_region, &topology, "Z0NOSUCHZONE")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("route53:GetHostedZone"), "{err:#}");
}

#[test]
fn deploy_refuses_to_start_without_lambda_packages() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sdk = rt.block_on(
        aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .region(aws_config::Region::new("us-east-1"))
            // Nothing listens here: the deploy must fail before any AWS call.
            .endpoint_url("http://127.0.0.1:9")
            .load(),
    );
    let options = deploy::DeployOptions {
        prefix: StackPrefix::default(),
        region: None,
        lambda_dir: dir.path().to_path_buf(),
        manifest_path: dir.path().join("deployment.json"),
        confirm: Confirm::new(true),
        timing: fast(),
        execution_role: None,
        allow_another_cluster: false,
    };
    let err = rt
        .block_on(deploy::deploy(
            &Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap(),
            &sdk,
            &options,
        ))
        .unwrap_err();
    assert!(err.to_string().contains("just build-lambdas"), "{err}");
    assert!(!dir.path().join("deployment.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_scoped_deploy_touches_only_its_region_and_keeps_the_other_regions_values() {
    let moto = start_moto();
    let sdk = sdk(&moto).await;
    let topology = gateway_and_fenced_orders();
    let dir = tempfile::tempdir().unwrap();
    let pkgs = packages(dir.path(), &topology);
    let inputs = rehearsal_inputs(&pkgs);
    let names = StackNames::new(&topology, &StackPrefix::default());
    let (east, west) = (&topology.regions.primary, &topology.regions.secondary);
    let orders = topology.app(&"orders".parse().unwrap()).unwrap();
    // During the outage the hosted zone is not looked up (Route 53's API is not this Region's).
    let outage_inputs = DeployInputs {
        hosted_zone_id: None,
        ..inputs.clone()
    };
    let scoped = |region| {
        rehearsal_plan(&topology, &outage_inputs)
            .for_region(&topology, region)
            .unwrap()
    };

    // Before any full deploy, a scoped deploy has no previous values to keep: refused up
    // front, naming the stack and the parameter, and nothing is created.
    let plan = scoped(east);
    let orchestrator = deploy::orchestrator(&sdk, &plan, Confirm::new(true), fast());
    let err = orchestrator
        .check_previous_values(plan.stacks())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeployError::NoPreviousValue { stack, .. } if stack.region == *east),
        "{err}"
    );
    assert!(err.to_string().contains("without --region"), "{err}");
    for spec in plan.stacks() {
        assert!(orchestrator.describe(&spec.id).await.unwrap().is_none());
    }

    // A full deploy first, as in normal times.
    let mut full = rehearsal_plan(&topology, &inputs);
    let everywhere = deploy::orchestrator(&sdk, &full, Confirm::new(true), fast());
    let mut outputs = Outputs::new();
    for index in 0..full.phases.len() {
        let phase = &full.phases[index];
        everywhere.deploy_phase(phase, &mut outputs).await.unwrap();
        match phase.kind {
            PhaseKind::Bootstrap => {
                after_bootstrap(&sdk, &topology, &mut full, &outputs, &pkgs).await
            }
            PhaseKind::Arc => full.resolve_cluster_endpoints(&endpoints()),
            PhaseKind::Flags | PhaseKind::Data | PhaseKind::Apps | PhaseKind::Monitoring => {}
        }
    }

    // A hotfix of orders, deployed to each Region alone in turn.
    let fixed = dir.path().join("fixed");
    std::fs::create_dir(&fixed).unwrap();
    let bytes = b"PK the hotfix".to_vec();
    std::fs::write(
        fixed.join(format!("orders-{}.zip", package::content_hash(&bytes))),
        bytes,
    )
    .unwrap();
    let hotfix = package::find_packages(&fixed, &topology).unwrap();
    let outage_inputs = DeployInputs {
        code_keys: package::code_keys(&hotfix),
        ..outage_inputs
    };
    let new_key = &outage_inputs.code_keys[orders.name()];
    assert_ne!(new_key, &inputs.code_keys[orders.name()]);
    for (region, other) in [(west, east), (east, west)] {
        let plan = rehearsal_plan(&topology, &outage_inputs)
            .for_region(&topology, region)
            .unwrap();
        for spec in plan.stacks() {
            assert_eq!(spec.id.region, *region, "{} is in another Region", spec.id);
            for (key, value) in &spec.parameters {
                assert!(
                    !matches!(value, ParamValue::Output { stack, .. } if stack.region == *other),
                    "{} takes {key} from {other}",
                    spec.id
                );
            }
        }
        // Its orchestrator has a client for this Region only: a call elsewhere would fail.
        assert_eq!(deploy::regions(&plan), std::slice::from_ref(region));
        let orchestrator = deploy::orchestrator(&sdk, &plan, Confirm::new(true), fast());
        orchestrator
            .check_previous_values(plan.stacks())
            .await
            .unwrap();
        let mut scoped_outputs = Outputs::new();
        for phase in &plan.phases {
            orchestrator
                .deploy_phase(phase, &mut scoped_outputs)
                .await
                .unwrap();
            if phase.kind == PhaseKind::Bootstrap {
                upload_packages(&sdk, &plan, &scoped_outputs, &hotfix)
                    .await
                    .unwrap();
            }
        }
        let stack = &scoped_outputs[&names.app(orders.name(), region)];
        assert_eq!(&stack["WiredCodeKey"], new_key, "the hotfix is deployed");
        assert_eq!(stack["WiredHostedZone"], "Z0TEST", "the zone is kept");
        assert_eq!(stack["WiredTable"], "multi-region-api-orders");
        // The health check came from the ARC stack (in us-west-2): kept, not re-read.
        assert_eq!(
            stack[app::OUTPUT_REGIONAL_URL],
            outputs[&names.app(orders.name(), region)][app::OUTPUT_REGIONAL_URL]
        );
        // Write fencing keeps its routing control (read again only where the ARC stack is)
        // and the cluster's endpoints (ARC's control plane is not called).
        let before = &outputs[&names.app(orders.name(), region)];
        for key in ["WiredRoutingControl", "WiredClusterEndpoints"] {
            assert_eq!(stack[key], before[key], "{key} in {region}");
        }
        assert_eq!(
            stack["WiredClusterEndpoints"],
            app::fence_endpoints(&endpoints())
        );
        // The other Region's stack is untouched.
        let untouched = everywhere
            .outputs_of(&names.app(orders.name(), other))
            .await
            .unwrap();
        if region == west {
            assert_eq!(untouched["WiredCodeKey"], inputs.code_keys[orders.name()]);
        }
        let s3 = deploy::s3(&sdk, region);
        let bucket = &outputs[&names.bootstrap(region)][bootstrap::OUTPUT_ARTIFACTS_BUCKET];
        s3.head_object()
            .bucket(bucket)
            .key(new_key)
            .send()
            .await
            .expect("the hotfix is in this Region's bucket");
    }
}

#[test]
fn a_region_scoped_deploy_updates_only_that_regions_urls_in_the_last_manifest() {
    let topology = gateway_and_orders();
    let names = StackNames::new(&topology, &StackPrefix::default());
    let (east, west) = (&topology.regions.primary, &topology.regions.secondary);
    let mut outputs = Outputs::new();
    let arc_outputs = outputs.entry(names.arc()).or_default();
    arc_outputs.insert(
        arc::OUTPUT_CLUSTER_ARN.into(),
        format!("{ACCOUNT_ARN}:cluster/c-1"),
    );
    for a in &topology.apps {
        let panel = format!("{ACCOUNT_ARN}:controlpanel/p-{}", a.name());
        arc_outputs.insert(arc::output_control_panel(a), panel.clone());
        arc_outputs.insert(
            arc::output_safety_rule(a),
            format!("{panel}/safetyrule/s-1"),
        );
        for role in RegionRole::BOTH {
            arc_outputs.insert(
                arc::output_routing_control(a, role),
                format!("{panel}/routingcontrol/rc-{}", role.pascal()),
            );
        }
    }
    for a in &topology.apps {
        for region in [east, west] {
            outputs
                .entry(names.app(a.name(), region))
                .or_default()
                .insert(
                    app::OUTPUT_REGIONAL_URL.into(),
                    format!("https://old-{}-{region}", a.name()),
                );
        }
    }
    let servers = vec!["ns-1.awsdns-01.org".to_owned()];
    let mut manifest =
        manifest::build(&topology, &names, &outputs, vec![], servers.clone()).unwrap();
    let mut scoped = Outputs::new();
    scoped
        .entry(names.app(&"orders".parse().unwrap(), west))
        .or_default()
        .insert(app::OUTPUT_REGIONAL_URL.into(), "https://new-orders".into());
    manifest::update_regional_urls(&mut manifest, &names, &scoped, west);
    let orders = manifest.app(&"orders".parse().unwrap()).unwrap();
    assert_eq!(orders.regional_url(west).unwrap(), "https://new-orders");
    assert_eq!(
        orders.regional_url(east).unwrap(),
        "https://old-orders-us-east-1"
    );
    let api = manifest.app(&"api".parse().unwrap()).unwrap();
    assert_eq!(api.regional_url(west).unwrap(), "https://old-api-us-west-2");
    assert_eq!(orders.regional_urls[0].region, *east, "primary first");
    // A Region-scoped deploy does not ask Route 53: the zone's name servers stay.
    assert_eq!(manifest.name_servers, servers);
}

/// A Region-scoped deploy meets a change set that would change an IAM role: it refuses before
/// executing anything, names the resource, and leaves the stack and no change set behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_scoped_deploy_refuses_a_change_to_iam_and_changes_nothing() {
    use infra::aws::plan::Phase;
    let moto = start_moto();
    let sdk = sdk(&moto).await;
    let region: topology::Region = "us-west-2".parse().unwrap();
    let stack = |policy_action: &str, queue_tag: &str| {
        let mut t = Template::new("a stack with a role");
        t.resource(
            "Role",
            "AWS::IAM::Role",
            json!({
                "AssumeRolePolicyDocument": { "Version": "2012-10-17", "Statement": [ {
                    "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" },
                    "Action": "sts:AssumeRole" } ] },
                "Policies": [ { "PolicyName": "p", "PolicyDocument": { "Version": "2012-10-17",
                    "Statement": [ { "Effect": "Allow", "Action": policy_action, "Resource": "*" } ] } } ]
            }),
        );
        t.resource(
            "Queue",
            "AWS::SQS::Queue",
            json!({ "Tags": [ { "Key": "v", "Value": queue_tag } ] }),
        );
        t.output("Tag", "the queue's tag", queue_tag.into());
        Phase {
            kind: PhaseKind::Apps,
            stacks: vec![StackSpec {
                id: StackId {
                    region: region.clone(),
                    name: "hotfix-app".into(),
                },
                kind: StackKind::Data,
                template: t,
                parameters: vec![],
            }],
        }
    };
    let plan = Plan {
        phases: vec![stack("xray:PutTraceSegments", "v1")],
    };
    let everywhere = deploy::orchestrator(&sdk, &plan, Confirm::new(true), fast());
    everywhere
        .deploy_phase(&plan.phases[0], &mut Outputs::new())
        .await
        .unwrap();

    // A Region-scoped deploy may change the queue, not the role.
    let scoped = deploy::orchestrator(&sdk, &plan, Confirm::new(true), fast()).region_scoped(true);
    let changed = stack("xray:PutTelemetryRecords", "v2");
    let err = scoped
        .deploy_phase(&changed, &mut Outputs::new())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DeployError::GlobalChange(_)), "{err:?}");
    assert!(text.contains("Role (AWS::IAM::Role)"), "{text}");
    assert!(text.contains("hotfix-app"), "{text}");
    assert!(text.contains("us-east-1"), "{text}");
    let id = &changed.stacks[0].id;
    assert_eq!(
        everywhere.outputs_of(id).await.unwrap()["Tag"],
        "v1",
        "nothing was applied"
    );
    let cfn = deploy::cloudformation(&sdk, &region);
    let left = cfn
        .list_change_sets()
        .stack_name(&id.name)
        .send()
        .await
        .unwrap();
    let pending: Vec<_> = left
        .summaries()
        .iter()
        .filter(|c| {
            c.execution_status()
                != Some(&aws_sdk_cloudformation::types::ExecutionStatus::ExecuteComplete)
        })
        .collect();
    assert!(
        pending.is_empty(),
        "a change set is left to execute: {pending:?}"
    );

    // Without the role's change, the same Region-scoped deploy goes through.
    let queue_only = stack("xray:PutTraceSegments", "v2");
    scoped
        .deploy_phase(&queue_only, &mut Outputs::new())
        .await
        .unwrap();
    assert_eq!(everywhere.outputs_of(id).await.unwrap()["Tag"], "v2");
}

/// API Gateway's CloudWatch Logs role is one setting per account and Region: a deploy reuses
/// another team's role instead of overwriting it, and manages its own.
#[tokio::test]
async fn an_accounts_api_gateway_logging_role_set_by_someone_else_is_reused() {
    use infra::aws::guardrails::existing_logging_roles;
    let moto = start_moto();
    let sdk = sdk(&moto).await;
    let prefix = StackPrefix::default();
    let (east, west): (topology::Region, topology::Region) =
        ("us-east-1".parse().unwrap(), "us-west-2".parse().unwrap());
    let regions = [east.clone(), west.clone()];
    assert!(
        existing_logging_roles(&sdk, &regions, &prefix)
            .await
            .unwrap()
            .is_empty(),
        "nothing set: the bootstrap stacks create their own"
    );
    let set = |region: &topology::Region, arn: String| {
        let conf = aws_sdk_apigateway::config::Builder::from(&sdk)
            .region(aws_sdk_apigateway::config::Region::new(region.to_string()))
            .build();
        async move {
            aws_sdk_apigateway::Client::from_conf(conf)
                .update_account()
                .patch_operations(
                    aws_sdk_apigateway::types::PatchOperation::builder()
                        .op(aws_sdk_apigateway::types::Op::Replace)
                        .path("/cloudwatchRoleArn")
                        .value(arn)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
    };
    let theirs = "arn:aws:iam::123456789012:role/apigw-logs".to_owned();
    set(&east, theirs.clone()).await;
    set(
        &west,
        format!("arn:aws:iam::123456789012:role{}logs", prefix.iam_path()),
    )
    .await;
    let roles = existing_logging_roles(&sdk, &regions, &prefix)
        .await
        .unwrap();
    assert_eq!(roles.get(&east), Some(&theirs));
    assert_eq!(
        roles.get(&west),
        None,
        "this deployment's own role stays managed"
    );
    // The bootstrap stack then takes it and creates neither role nor setting.
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let inputs = DeployInputs {
        existing_logging_roles: roles,
        ..DeployInputs::placeholders(&topology)
    };
    let plan = Plan::new(&topology, &prefix, &inputs);
    let bootstrap = |region: &topology::Region| {
        plan.stacks()
            .find(|s| s.kind == StackKind::Bootstrap && s.id.region == *region)
            .unwrap()
    };
    let wired = |region: &topology::Region| {
        bootstrap(region)
            .parameters
            .iter()
            .find(|(k, _)| k == bootstrap::PARAM_EXISTING_LOGGING_ROLE)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(wired(&east), Some(ParamValue::Literal(theirs)));
    assert_eq!(wired(&west), Some(ParamValue::Literal(String::new())));
    let doc = bootstrap(&east).template.to_json();
    for id in ["ApiGatewayAccount", "ApiGatewayCloudWatchRole"] {
        assert_eq!(
            doc["Resources"][id]["Condition"], "CreateLoggingRole",
            "{id}"
        );
    }
}

/// Deploys every phase of `plan` as `infra deploy` does (packages and truststores after the
/// bootstrap phase, the cluster's endpoints after the ARC phase); returns the outputs and each
/// stack's outcome.
async fn deploy_all(
    sdk: &SdkConfig,
    topology: &Topology,
    plan: &mut Plan,
    orchestrator: &Orchestrator,
    pkgs: &[package::LambdaPackage],
) -> (Outputs, Vec<StackOutcome>) {
    let mut outputs = Outputs::new();
    let mut outcomes = Vec::new();
    for index in 0..plan.phases.len() {
        let done = orchestrator
            .deploy_phase(&plan.phases[index], &mut outputs)
            .await
            .unwrap();
        outcomes.extend(done.into_iter().map(|(_, o)| o));
        match plan.phases[index].kind {
            PhaseKind::Bootstrap => after_bootstrap(sdk, topology, plan, &outputs, pkgs).await,
            PhaseKind::Arc => plan.resolve_cluster_endpoints(&endpoints()),
            _ => {}
        }
    }
    (outputs, outcomes)
}

/// The truststore in `region`'s artifacts bucket, and its current S3 version.
async fn truststore_of(
    sdk: &SdkConfig,
    topology: &Topology,
    outputs: &Outputs,
    region: &topology::Region,
) -> (String, String) {
    let names = StackNames::new(topology, &StackPrefix::default());
    let bucket = &outputs[&names.bootstrap(region)][bootstrap::OUTPUT_ARTIFACTS_BUCKET];
    let object = deploy::s3(sdk, region)
        .get_object()
        .bucket(bucket)
        .key(infra::aws::truststore::TRUSTSTORE_KEY)
        .send()
        .await
        .unwrap();
    let version = object.version_id().unwrap().to_owned();
    let body = object.body.collect().await.unwrap().into_bytes();
    (String::from_utf8(body.to_vec()).unwrap(), version)
}

/// A destroy leaves nothing behind that blocks a new deploy of the same prefix: the buckets
/// (packages, templates and every truststore version) are emptied and deleted, the stacks are
/// gone, and the second deploy creates every stack again, with a new truststore holding both
/// Regions' gateway certificates. A re-run writes no new truststore version. (The data here
/// may go: `aws.protect_data = false`; protected tables are retained on purpose, see
/// docs/deploy.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_then_deploy_of_the_same_prefix_succeeds() {
    let moto = start_moto();
    let sdk = sdk(&moto).await;
    let topology = Topology::parse(
        &gateway_and_orders_text().replace("[local]\n", "[aws]\nprotect_data = false\n\n[local]\n"),
    )
    .unwrap();
    assert!(topology.aws.gateway_only && !topology.aws.protect_data);
    let dir = tempfile::tempdir().unwrap();
    let pkgs = packages(dir.path(), &topology);
    let inputs = rehearsal_inputs(&pkgs);
    let primary = topology.regions.primary.clone();

    let mut plan = rehearsal_plan(&topology, &inputs);
    let orchestrator = deploy::orchestrator(&sdk, &plan, Confirm::new(true), fast());
    let (first, outcomes) = deploy_all(&sdk, &topology, &mut plan, &orchestrator, &pkgs).await;
    assert!(outcomes.iter().all(|o| *o == StackOutcome::Created));
    let (store, version) = truststore_of(&sdk, &topology, &first, &primary).await;
    for (_, certificates) in gateway_certificates(&topology) {
        assert!(store.contains(certificates[0].pem.trim()), "{store}");
    }
    // A re-run publishes the same truststore: no new S3 version, so no domain update.
    let mut rerun = rehearsal_plan(&topology, &inputs);
    let (again, outcomes) = deploy_all(&sdk, &topology, &mut rerun, &orchestrator, &pkgs).await;
    assert!(
        outcomes.iter().all(|o| *o == StackOutcome::Unchanged),
        "{outcomes:?}"
    );
    assert_eq!(
        truststore_of(&sdk, &topology, &again, &primary).await.1,
        version
    );

    let deleted = destroy_plan(&sdk, &plan, &orchestrator).await.unwrap();
    assert_eq!(deleted.len(), plan.stacks().count());
    for spec in plan.stacks() {
        assert!(
            orchestrator.describe(&spec.id).await.unwrap().is_none(),
            "{}",
            spec.id
        );
    }
    let s3 = deploy::s3(&sdk, &primary);
    let names = StackNames::new(&topology, &StackPrefix::default());
    let old_bucket = &first[&names.bootstrap(&primary)][bootstrap::OUTPUT_ARTIFACTS_BUCKET];
    assert!(
        s3.head_bucket().bucket(old_bucket).send().await.is_err(),
        "bucket deleted"
    );

    // The same prefix again, from scratch.
    let mut plan = rehearsal_plan(&topology, &inputs);
    let (second, outcomes) = deploy_all(&sdk, &topology, &mut plan, &orchestrator, &pkgs).await;
    assert_eq!(outcomes.len(), plan.stacks().count());
    assert!(
        outcomes.iter().all(|o| *o == StackOutcome::Created),
        "{outcomes:?}"
    );
    let (store_again, _) = truststore_of(&sdk, &topology, &second, &primary).await;
    assert_eq!(store_again, store);
    let orders = names.app(&"orders".parse().unwrap(), &primary);
    assert!(second[&orders].contains_key("WiredTable"));
}

/// A destroy with `protect_data` (the default) keeps the tables; a later deploy of the same
/// prefix would fail on their names in its data phase, after the bootstrap stacks. The
/// guardrail refuses it before any change, naming the tables; a fresh account passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_over_tables_kept_by_an_earlier_destroy_is_refused_before_any_change() {
    let moto = start_moto();
    let sdk = sdk(&moto).await;
    let topology = Topology::parse(&gateway_and_orders_text()).unwrap();
    assert!(topology.aws.protect_data);
    let dir = tempfile::tempdir().unwrap();
    let pkgs = packages(dir.path(), &topology);
    let inputs = rehearsal_inputs(&pkgs);
    let plan = rehearsal_plan(&topology, &inputs);
    let orchestrator = deploy::orchestrator(&sdk, &plan, Confirm::new(true), fast());
    let prefix = StackPrefix::default();
    let names = StackNames::new(&topology, &prefix);
    let check =
        || guardrails::check_retained_tables(&sdk, &topology, &orchestrator, &names, &prefix);
    check().await.expect("nothing kept in a fresh account");

    // What a destroy with protect_data leaves: the table, outside any stack.
    let orders = topology.services().next().unwrap();
    let kept = data::table_name(&prefix, orders.table());
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .region(aws_sdk_dynamodb::config::Region::new(
            topology.regions.primary.to_string(),
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
        .create_table()
        .table_name(&kept)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .attribute_definitions(
            aws_sdk_dynamodb::types::AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(aws_sdk_dynamodb::types::ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            aws_sdk_dynamodb::types::KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(aws_sdk_dynamodb::types::KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let refused = check().await.unwrap_err().to_string();
    assert!(refused.contains(&kept), "{refused}");
    assert!(refused.contains("--stack-prefix"), "{refused}");
    for spec in plan.stacks() {
        assert!(
            orchestrator.describe(&spec.id).await.unwrap().is_none(),
            "{} exists",
            spec.id
        );
    }
}
