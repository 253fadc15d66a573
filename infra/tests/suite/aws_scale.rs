//! A topology of 100 apps: testkit's fixture at scale (the suite's four apps 25 times, 80 of
//! them in four shared control panels), in both mechanisms. Every stack is within every
//! CloudFormation limit; the groups' ARC, flags and monitoring stacks are wired to each other
//! and to the app stacks; the manifest is built from the outputs wherever they are; and a deploy
//! on moto passes the templates over the inline limit through the artifacts buckets.

use std::collections::{BTreeMap, BTreeSet};

use infra::aws::cfn::{DeployError, Orchestrator, Outputs, StackOutcome};
use infra::aws::confirm::Confirm;
use infra::aws::deploy;
use infra::aws::plan::{
    Group, ParamValue, Phase, PhaseKind, Plan, RegionRole, StackId, StackKind, StackNames,
    StackPrefix,
};
use infra::aws::template::{
    MAX_BODY_BYTES, MAX_DASHBOARD_WIDGETS, MAX_OUTPUTS, MAX_PARAMETERS, MAX_RESOURCES,
    MAX_S3_BODY_BYTES, Template,
};
use infra::aws::{arc, bootstrap, flags, manifest, monitoring, package, synth};
use serde_json::{Value, json};
use topology::Topology;
use topology::manifest::{AlarmKind, AppRouting, alarms_of};

use super::aws_deploy::{
    after_bootstrap, endpoints, fast, gateway_and_orders_text, packages, rehearsal_inputs,
    rehearsal_plan, sdk,
};
use super::aws_synth::{check_structure, lint, resources_of_type, templates};
use crate::aws_support::start_moto;

/// The 100-app fixture in `arc` mode.
pub(crate) fn hundred_apps() -> Topology {
    Topology::parse(testkit::SCALE_FIXTURE_TOPOLOGY).expect("the scale fixture is valid")
}

/// The 100-app fixture in `health-check` mode.
pub(crate) fn hundred_apps_health_check() -> Topology {
    let text = testkit::SCALE_FIXTURE_TOPOLOGY.replace(
        "[arc]\n",
        "[failover]\nmechanism = \"health-check\"\n\n[arc]\n",
    );
    Topology::parse(&text).expect("the scale fixture in health-check mode is valid")
}

fn plan(topology: &Topology) -> Plan {
    synth::region_plan(topology, &StackPrefix::default(), None).unwrap()
}

/// The widgets of every dashboard of a template, counted from its JSON.
fn dashboard_widgets(doc: &Value) -> Vec<usize> {
    resources_of_type(doc, "AWS::CloudWatch::Dashboard")
        .iter()
        .map(|(_, d)| {
            let body = d["Properties"]["DashboardBody"]["Fn::Sub"]
                .as_str()
                .unwrap();
            let body: Value = serde_json::from_str(body).unwrap();
            body["widgets"].as_array().unwrap().len()
        })
        .collect()
}

fn section_len(doc: &Value, section: &str) -> usize {
    doc.get(section)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

/// Each limit, counted from each stack's JSON (not from the template model's own counters).
#[test]
fn every_stack_of_a_hundred_apps_is_within_every_cloudformation_limit_in_both_mechanisms() {
    for (label, topology) in [
        ("arc", hundred_apps()),
        ("health-check", hundred_apps_health_check()),
    ] {
        assert_eq!(topology.apps.len(), 100);
        let plan = plan(&topology);
        let mut through_s3 = Vec::new();
        let mut most = BTreeMap::<&str, (usize, String)>::new();
        let mut note = |what: &'static str, n: usize, stack: &StackId| {
            let entry = most.entry(what).or_insert((0, String::new()));
            if n > entry.0 {
                *entry = (n, stack.to_string());
            }
        };
        for spec in plan.stacks() {
            let doc = spec.template.to_json();
            let bytes = doc.to_string().len();
            let counts = [
                ("bytes", bytes, MAX_S3_BODY_BYTES),
                ("resources", section_len(&doc, "Resources"), MAX_RESOURCES),
                (
                    "parameters",
                    section_len(&doc, "Parameters"),
                    MAX_PARAMETERS,
                ),
                ("outputs", section_len(&doc, "Outputs"), MAX_OUTPUTS),
            ];
            for (what, count, limit) in counts {
                assert!(
                    count <= limit,
                    "{label}: {} has {count} {what}, over {limit}",
                    spec.id
                );
                note(what, count, &spec.id);
            }
            for widgets in dashboard_widgets(&doc) {
                assert!(widgets <= MAX_DASHBOARD_WIDGETS, "{label}: {}", spec.id);
                note("dashboard widgets", widgets, &spec.id);
            }
            if bytes > MAX_BODY_BYTES {
                through_s3.push(spec.id.to_string());
            }
        }
        eprintln!(
            "{label}: the largest of {} stacks: {most:?}",
            plan.stacks().count()
        );
        eprintln!("{label}: over the inline limit, through S3: {through_s3:?}");
        assert!(
            !through_s3.is_empty(),
            "{label}: some templates are over the inline limit, so the S3 path is needed"
        );
        assert!(
            most["resources"].0 < MAX_RESOURCES && most["outputs"].0 < MAX_OUTPUTS,
            "{label}: {most:?}"
        );
    }
}

/// One ARC stack per group of whole control panels, each in a phase of its own; the first
/// creates the cluster and the others take it from the first's output, or all use the cluster
/// the topology names.
#[test]
fn the_arc_stacks_deploy_one_after_another_the_first_creating_the_cluster() {
    let topology = hundred_apps();
    let plan = plan(&topology);
    let names = StackNames::new(&topology, &StackPrefix::default());
    let kinds: Vec<(&str, usize)> = plan
        .phases
        .iter()
        .map(|p| (p.kind.name(), p.stacks.len()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("bootstrap", 2),
            ("arc", 1),
            ("arc", 1),
            ("arc", 1),
            ("arc", 1),
            ("arc", 1),
            ("data", 1),
            ("apps", 200),
            ("monitoring", 10),
        ]
    );
    let arc_phases: Vec<usize> = (0..plan.phases.len())
        .filter(|i| plan.phases[*i].kind == PhaseKind::Arc)
        .collect();
    assert!(plan.opens_kind(arc_phases[0]) && !plan.closes_kind(arc_phases[0]));
    assert!(!plan.opens_kind(arc_phases[4]) && plan.closes_kind(arc_phases[4]));

    let stacks: Vec<_> = arc_phases
        .iter()
        .map(|i| &plan.phases[*i].stacks[0])
        .collect();
    let ids: Vec<&str> = stacks.iter().map(|s| s.id.name.as_str()).collect();
    assert_eq!(
        ids,
        [
            "multi-region-api-arc",
            "multi-region-api-arc-2",
            "multi-region-api-arc-3",
            "multi-region-api-arc-4",
            "multi-region-api-arc-5",
        ]
    );
    for (i, spec) in stacks.iter().enumerate() {
        let doc = spec.template.to_json();
        let clusters = resources_of_type(&doc, "AWS::Route53RecoveryControl::Cluster").len();
        let panels = resources_of_type(&doc, "AWS::Route53RecoveryControl::ControlPanel");
        let controls = resources_of_type(&doc, "AWS::Route53RecoveryControl::RoutingControl");
        let rules = resources_of_type(&doc, "AWS::Route53RecoveryControl::SafetyRule");
        assert_eq!(controls.len(), 40, "{}: 20 apps", spec.id);
        assert_eq!(rules.len(), 20, "{}", spec.id);
        if i == 0 {
            assert_eq!(clusters, 1);
            assert!(spec.parameters.is_empty());
            assert_eq!(panels.len(), 20, "a panel per app");
            assert!(doc["Outputs"][arc::OUTPUT_CLUSTER_ARN].is_object());
            continue;
        }
        assert_eq!(clusters, 0, "{}: one cluster", spec.id);
        assert_eq!(
            spec.parameters,
            [(
                arc::PARAM_CLUSTER_ARN.to_owned(),
                ParamValue::Output {
                    stack: names.arc(),
                    key: arc::OUTPUT_CLUSTER_ARN.to_owned()
                }
            )]
        );
        // One shared panel, `cell-N`, holding its 20 apps' controls and rules.
        assert_eq!(panels.len(), 1, "{}", spec.id);
        let (panel_id, panel) = panels[0];
        assert_eq!(
            panel["Properties"]["Name"],
            format!("multi-region-api-cell-{i}")
        );
        assert_eq!(
            panel["Properties"]["ClusterArn"],
            json!({ "Ref": arc::PARAM_CLUSTER_ARN })
        );
        for (id, r) in controls.iter().chain(&rules) {
            assert_eq!(
                r["Properties"]["ControlPanelArn"],
                json!({ "Ref": panel_id }),
                "{}: {id}",
                spec.id
            );
        }
    }

    // A reused cluster: no cluster resource, no parameter, its ARN in every panel.
    let existing = "arn:aws:route53-recovery-control::123456789012:cluster/team";
    let text = testkit::SCALE_FIXTURE_TOPOLOGY.replace(
        "existing_cluster_arn = \"\"",
        &format!("existing_cluster_arn = \"{existing}\""),
    );
    let plan = synth::plan(&Topology::parse(&text).unwrap(), &StackPrefix::default());
    for spec in plan
        .stacks()
        .filter(|s| matches!(s.kind, StackKind::Arc(_)))
    {
        assert!(spec.parameters.is_empty(), "{}", spec.id);
        let doc = spec.template.to_json();
        assert!(resources_of_type(&doc, "AWS::Route53RecoveryControl::Cluster").is_empty());
        for (_, panel) in resources_of_type(&doc, "AWS::Route53RecoveryControl::ControlPanel") {
            assert_eq!(panel["Properties"]["ClusterArn"], existing);
        }
    }
}

/// The structural rules of the default topology hold for every one of the 100 apps: each
/// failover record bound to its own routing control in its group's ARC stack, each safety
/// rule over its app's own two controls, the ARC resources of each stack in one chain.
#[test]
fn the_hundred_apps_follow_the_structural_rules() {
    check_structure(&hundred_apps());
}

/// In `health-check` mode, flags stacks per Region and group, in one phase; each record's
/// health check comes from the other Region's flags stack of the app's group.
#[test]
fn the_flags_stacks_hold_a_group_each_and_the_app_stacks_read_their_groups() {
    let topology = hundred_apps_health_check();
    let plan = plan(&topology);
    let names = StackNames::new(&topology, &StackPrefix::default());
    let flags_phase = plan.phase(PhaseKind::Flags).unwrap();
    assert_eq!(flags_phase.stacks.len(), 10);
    assert!(plan.phase(PhaseKind::Arc).is_none());
    for spec in &flags_phase.stacks {
        let StackKind::Flags(role, group) = spec.kind else {
            panic!("{}", spec.id)
        };
        assert_eq!(spec.id, names.flags(role.of(&topology.regions), group));
        let doc = spec.template.to_json();
        assert_eq!(
            resources_of_type(&doc, "AWS::Route53::HealthCheck").len(),
            names.layout().apps(&topology, group).len()
        );
    }
    for spec in plan.stacks() {
        let StackKind::App(app, role) = &spec.kind else {
            continue;
        };
        let other = flags::other(*role).of(&topology.regions);
        let wired = spec
            .parameters
            .iter()
            .find(|(k, _)| k == infra::aws::app::PARAM_HEALTH_CHECK)
            .map(|(_, v)| v.clone());
        assert_eq!(
            wired,
            Some(ParamValue::Output {
                stack: names.flags_of(other, app),
                key: flags::output_health_check(topology.app(app).unwrap(), *role),
            }),
            "{}",
            spec.id
        );
    }
}

/// Each app is on one dashboard per Region (of at most 125 widgets), its health checks'
/// alarms in us-east-1, under the names the manifest lists.
#[test]
fn each_app_is_on_one_dashboard_per_region_and_its_alarms_are_where_the_manifest_says() {
    let topology = hundred_apps();
    let plan = plan(&topology);
    let mut dashboards: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut alarms = BTreeSet::new();
    for spec in plan.stacks() {
        let doc = spec.template.to_json();
        for (_, dashboard) in resources_of_type(&doc, "AWS::CloudWatch::Dashboard") {
            let name = dashboard["Properties"]["DashboardName"].as_str().unwrap();
            let body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
                .as_str()
                .unwrap();
            let body: Value = serde_json::from_str(body).unwrap();
            let apps: BTreeSet<String> = body["widgets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| {
                    let title = w["properties"]["title"].as_str().unwrap();
                    title.split(':').next().unwrap().to_owned()
                })
                .collect();
            dashboards.insert(name.to_owned(), apps.into_iter().collect());
        }
        for (_, alarm) in resources_of_type(&doc, "AWS::CloudWatch::Alarm") {
            let name = alarm["Properties"]["AlarmName"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(
                alarms.insert((name.clone(), spec.id.region.to_string())),
                "{name} twice"
            );
        }
    }
    assert_eq!(dashboards.len(), 10, "{:?}", dashboards.keys());
    assert!(dashboards.contains_key("multi-region-api-us-east-1"));
    assert!(dashboards.contains_key("multi-region-api-us-west-2-5"));
    for region in topology.regions.both() {
        let mut seen: Vec<&String> = dashboards
            .iter()
            .filter(|(name, _)| name.contains(region.as_str()))
            .flat_map(|(_, apps)| apps)
            .collect();
        seen.sort();
        let mut all: Vec<String> = topology.apps.iter().map(|a| a.name().to_string()).collect();
        all.sort();
        assert_eq!(seen, all.iter().collect::<Vec<_>>(), "{region}: once each");
    }
    let listed: BTreeSet<(String, String)> = topology
        .apps
        .iter()
        .flat_map(|app| alarms_of(app, &topology.regions, StackPrefix::default().as_str()))
        .map(|a| (a.name, a.region.to_string()))
        .collect();
    assert_eq!(alarms, listed, "the manifest lists what is deployed");
    let health = alarms
        .iter()
        .filter(|(name, _)| name.ends_with(AlarmKind::HealthCheck.as_str()))
        .count();
    assert_eq!(health, 200);
}

/// With us-east-1 neither Region, its monitoring stacks hold the health checks' alarms: the
/// first group's creates the topic, the others notify it, in a second phase.
#[test]
fn later_monitoring_stacks_in_us_east_1_notify_the_first_ones_topic_when_it_is_neither_region() {
    let text = testkit::SCALE_FIXTURE_TOPOLOGY
        .replace("primary = \"us-east-1\"", "primary = \"eu-west-1\"")
        .replace("us-east-1 = \"127.0.1\"", "eu-west-1 = \"127.0.1\"");
    let topology = Topology::parse(&text).unwrap();
    let plan = plan(&topology);
    let names = StackNames::new(&topology, &StackPrefix::default());
    let east: topology::Region = "us-east-1".parse().unwrap();
    let phases: Vec<&Phase> = plan
        .phases
        .iter()
        .filter(|p| p.kind == PhaseKind::Monitoring)
        .collect();
    assert_eq!(phases.len(), 2);
    assert_eq!(phases[0].stacks.len(), 2 * 5 + 1);
    let first = names.monitoring(&east, Group::FIRST);
    assert!(phases[0].stacks.iter().any(|s| s.id == first));
    assert_eq!(phases[1].stacks.len(), 4);
    let mut topics = 0;
    for spec in plan.stacks().filter(|s| s.id.region == east) {
        let doc = spec.template.to_json();
        topics += resources_of_type(&doc, "AWS::SNS::Topic").len();
        if spec.id == first {
            assert!(doc["Outputs"][monitoring::OUTPUT_ALARM_TOPIC].is_object());
            continue;
        }
        assert!(
            phases[1].stacks.iter().any(|s| s.id == spec.id),
            "{}",
            spec.id
        );
        let topic = spec
            .parameters
            .iter()
            .find(|(k, _)| k == monitoring::PARAM_ALARM_TOPIC)
            .map(|(_, v)| v.clone());
        assert_eq!(
            topic,
            Some(ParamValue::Output {
                stack: first.clone(),
                key: monitoring::OUTPUT_ALARM_TOPIC.to_owned()
            })
        );
    }
    assert_eq!(topics, 1, "one topic in us-east-1");
}

/// The manifest reads each app's routing controls, panel and rule (or flags' health checks)
/// from the stack of its group.
#[test]
fn the_manifest_reads_each_apps_routing_from_the_stack_of_its_group() {
    let account = "arn:aws:route53-recovery-control::123456789012";
    let topology = hundred_apps();
    let names = StackNames::new(&topology, &StackPrefix::default());
    let mut outputs = Outputs::new();
    outputs.entry(names.arc()).or_default().insert(
        arc::OUTPUT_CLUSTER_ARN.into(),
        format!("{account}:cluster/c-1"),
    );
    for a in &topology.apps {
        let stack = names.arc_of(a.name());
        let panel = format!("{account}:controlpanel/{}", stack.name);
        let of_stack = outputs.entry(stack.clone()).or_default();
        of_stack.insert(arc::output_control_panel(a), panel.clone());
        of_stack.insert(
            arc::output_safety_rule(a),
            format!("{panel}/safetyrule/{}", a.name()),
        );
        for role in RegionRole::BOTH {
            of_stack.insert(
                arc::output_routing_control(a, role),
                format!("{panel}/routingcontrol/{}-{}", a.name(), role.pascal()),
            );
        }
    }
    let built = manifest::build(&topology, &names, &outputs, endpoints(), vec![]).unwrap();
    assert_eq!(built.apps.len(), 100);
    for entry in &built.apps {
        let AppRouting::Arc(controls) = &entry.routing else {
            panic!("{}: ARC", entry.name)
        };
        let stack = names.arc_of(&entry.name);
        assert!(
            controls.control_panel_arn.as_str().ends_with(&stack.name),
            "{}",
            entry.name
        );
        let west = entry.routing_control(&topology.regions.secondary).unwrap();
        assert!(
            west.as_str()
                .ends_with(&format!("/{}-Secondary", entry.name))
        );
    }
    let orders_7 = built.app(&"orders-7".parse().unwrap()).unwrap();
    let AppRouting::Arc(controls) = &orders_7.routing else {
        panic!("ARC")
    };
    assert!(
        controls
            .control_panel_arn
            .as_str()
            .ends_with("multi-region-api-arc-2")
    );

    // health-check mode: each flag's health check from the other Region's flags stack of the
    // app's group.
    let topology = hundred_apps_health_check();
    let names = StackNames::new(&topology, &StackPrefix::default());
    let mut outputs = Outputs::new();
    for a in &topology.apps {
        for role in RegionRole::BOTH {
            let held_in = flags::other(role).of(&topology.regions);
            let stack = names.flags_of(held_in, a.name());
            outputs.entry(stack.clone()).or_default().insert(
                flags::output_health_check(a, role),
                format!("{}/{}", stack.name, a.name()),
            );
        }
    }
    let built = manifest::build(&topology, &names, &outputs, vec![], vec![]).unwrap();
    let users_25 = built.app(&"users-25".parse().unwrap()).unwrap();
    let AppRouting::HealthCheck(flags) = &users_25.routing else {
        panic!("flags")
    };
    assert!(
        flags
            .flags
            .iter()
            .all(|f| f.health_check_id.as_deref() == Some("multi-region-api-flags-5/users-25")),
        "{flags:?}"
    );
}

/// A Region-scoped plan of the 100 apps: us-west-2's has the ARC stacks, one per phase, wired
/// within the Region; us-east-1's has none, and keeps the values it cannot read.
#[test]
fn a_region_scoped_plan_of_a_hundred_apps_reads_only_its_regions_outputs() {
    let topology = hundred_apps();
    for region in topology.regions.both() {
        let plan = synth::region_plan(&topology, &StackPrefix::default(), Some(region)).unwrap();
        let arc_phases = plan
            .phases
            .iter()
            .filter(|p| p.kind == PhaseKind::Arc)
            .count();
        assert_eq!(
            arc_phases,
            if region.as_str() == "us-west-2" { 5 } else { 0 }
        );
        for spec in plan.stacks() {
            assert_eq!(&spec.id.region, region);
            for (key, value) in &spec.parameters {
                if let ParamValue::Output { stack, .. } = value {
                    assert_eq!(&stack.region, region, "{}: {key}", spec.id);
                }
            }
        }
    }
}

/// cfn-lint on the new kinds of stack (later groups' ARC, flags and monitoring stacks, the
/// us-east-1 monitoring stacks of a topology without it) and a few app stacks, in both
/// mechanisms; app stacks are the same at any scale, and lint takes a second per template.
#[test]
fn the_hundred_app_templates_are_lint_clean() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = testkit::SCALE_FIXTURE_TOPOLOGY
        .replace("primary = \"us-east-1\"", "primary = \"eu-west-1\"")
        .replace("us-east-1 = \"127.0.1\"", "eu-west-1 = \"127.0.1\"");
    for (folder, topology) in [
        ("arc", hundred_apps()),
        ("health-check", hundred_apps_health_check()),
        ("eu-west-1", Topology::parse(&elsewhere).unwrap()),
    ] {
        let out = dir.path().join(folder);
        synth::write(&topology, &StackPrefix::default(), None, &out).unwrap();
        keep_few_app_stacks(&out);
    }
    lint(dir.path());
}

/// Removes the app stacks' templates under `dir` but those of the first and seventh copies.
pub(crate) fn keep_few_app_stacks(dir: &std::path::Path) {
    let kept = ["api", "orders", "payments", "users", "api-7", "payments-7"];
    for path in templates(dir) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("multi-region-api-app-") else {
            continue;
        };
        let app = rest.split('.').next().unwrap();
        if !kept.contains(&app) {
            std::fs::remove_file(&path).unwrap();
        }
    }
}

/// Pads a stand-in template over the inline limit (moto does not check the size).
fn padded(mut template: Template) -> Template {
    template.resource(
        "Padding",
        "AWS::SQS::Queue",
        json!({ "Tags": [ { "Key": "padding", "Value": "x".repeat(MAX_BODY_BYTES) } ] }),
    );
    template
}

/// A deploy on moto where the ARC stack (in us-west-2, which has no artifacts bucket when it
/// is neither Region), the data stack (us-east-1) and an app stack (eu-west-1) are over the
/// inline limit: each template goes to its Region's bucket or the primary's, and
/// CloudFormation creates the stack from it; the small ones stay inline. Without buckets, a
/// large template is refused before anything is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_over_the_inline_limit_are_deployed_through_the_artifacts_buckets() {
    let moto = start_moto();
    let sdk = sdk(&moto).await;
    let text = gateway_and_orders_text()
        .replace("secondary = \"us-west-2\"", "secondary = \"eu-west-1\"")
        .replace("us-west-2 = \"127.0.2\"", "eu-west-1 = \"127.0.2\"");
    let topology = Topology::parse(&text).unwrap();
    let names = StackNames::new(&topology, &StackPrefix::default());
    let (east, west): (topology::Region, topology::Region) =
        ("us-east-1".parse().unwrap(), "eu-west-1".parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let pkgs = packages(dir.path(), &topology);
    let inputs = rehearsal_inputs(&pkgs);
    let mut plan = rehearsal_plan(&topology, &inputs);
    let large = [
        names.arc(),
        names.data(),
        names.app(&"api".parse().unwrap(), &west),
    ];
    for spec in plan.phases.iter_mut().flat_map(|p| &mut p.stacks) {
        if large.contains(&spec.id) {
            spec.template = padded(spec.template.clone());
        }
    }
    let orchestrator = deploy::orchestrator(&sdk, &plan, Confirm::new(true), fast());
    let mut outputs = Outputs::new();
    for index in 0..plan.phases.len() {
        let outcomes = orchestrator
            .deploy_phase(&plan.phases[index], &mut outputs)
            .await
            .unwrap();
        assert!(outcomes.iter().all(|(_, o)| *o == StackOutcome::Created));
        match plan.phases[index].kind {
            PhaseKind::Bootstrap => {
                after_bootstrap(&sdk, &topology, &mut plan, &outputs, &pkgs).await
            }
            PhaseKind::Arc => plan.resolve_cluster_endpoints(&endpoints()),
            _ => {}
        }
    }
    let bucket = |region: &topology::Region| {
        outputs[&names.bootstrap(region)][bootstrap::OUTPUT_ARTIFACTS_BUCKET].clone()
    };
    let uploaded = |region: topology::Region| {
        let s3 = deploy::s3(&sdk, &region);
        let bucket = bucket(&region);
        async move {
            s3.list_objects_v2()
                .bucket(bucket)
                .prefix("templates/")
                .send()
                .await
                .unwrap()
                .contents()
                .iter()
                .map(|o| o.key().unwrap().to_owned())
                .collect::<BTreeSet<String>>()
        }
    };
    let key = |id: &StackId| {
        let spec = plan.stacks().find(|s| s.id == *id).unwrap();
        package::template_key(&id.name, &spec.template.to_body())
    };
    // us-west-2 has no bucket: the ARC stack's template went to the primary's.
    assert_eq!(
        uploaded(east.clone()).await,
        BTreeSet::from([key(&names.arc()), key(&names.data())])
    );
    assert_eq!(
        uploaded(west.clone()).await,
        BTreeSet::from([key(&large[2])])
    );
    for id in &large {
        // CloudFormation has the template it read from S3, and the stack its outputs.
        let cfn = deploy::cloudformation(&sdk, &id.region);
        let got = cfn
            .get_template()
            .stack_name(&id.name)
            .send()
            .await
            .unwrap();
        let body: Value = serde_json::from_str(got.template_body().unwrap()).unwrap();
        assert_eq!(
            body["Resources"]["Padding"]["Properties"]["Tags"][0]["Value"]
                .as_str()
                .map(str::len),
            Some(MAX_BODY_BYTES),
            "{id}"
        );
        assert!(outputs.contains_key(id), "{id}");
    }
    let arc_outputs = &outputs[&names.arc()];
    assert!(arc_outputs.contains_key(arc::OUTPUT_CLUSTER_ARN));

    // Without an artifacts bucket, a large template is refused, naming the stack.
    let id = StackId {
        region: east.clone(),
        name: "too-large-inline".into(),
    };
    let phase = Phase {
        kind: PhaseKind::Data,
        stacks: vec![infra::aws::plan::StackSpec {
            id: id.clone(),
            kind: StackKind::Data,
            template: padded(Template::new("large")),
            parameters: vec![],
        }],
    };
    let bare = Orchestrator::new(
        BTreeMap::from([(east.clone(), deploy::cloudformation(&sdk, &east))]),
        Confirm::new(true),
        fast(),
    );
    let err = bare
        .deploy_phase(&phase, &mut Outputs::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeployError::NoTemplateBucket { stack, .. } if *stack == id),
        "{err}"
    );
    assert!(err.to_string().contains("bootstrap stacks first"), "{err}");
    assert!(bare.describe(&id).await.unwrap().is_none());
}

fn infra(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("infra runs")
}

/// `infra synth` and `infra pipeline-template` on the 100-app file, as a user runs them (the
/// pipeline's template is over the inline limit too, so the printed command names a bucket);
/// a topology over a quota is refused, naming the quota and the file, and nothing is written.
#[test]
fn the_cli_synthesizes_a_hundred_apps_and_refuses_a_topology_over_a_quota() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("topology.toml");
    std::fs::write(&config, testkit::SCALE_FIXTURE_TOPOLOGY).unwrap();
    let config = config.to_str().unwrap();
    let out_dir = dir.path().join("cfn");
    let out = infra(&[
        "synth",
        "--config",
        config,
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("218 templates written"), "{stdout}");
    assert!(
        out_dir
            .join("multi-region-api-arc-5.us-west-2.template.json")
            .exists()
    );

    let pipeline_dir = dir.path().join("pipeline");
    let out = infra(&[
        "pipeline-template",
        "--config",
        config,
        "--repo",
        "octo-org/shop",
        "--out",
        pipeline_dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("--s3-bucket <a bucket of yours in us-east-1"),
        "{stdout}"
    );

    let over = dir.path().join("over.toml");
    std::fs::write(
        &over,
        format!(
            "{}\n[[apps]]\nname = \"extra\"\nkind = \"service\"\n[apps.table]\nname = \"extra\"\n",
            testkit::SCALE_FIXTURE_TOPOLOGY
        ),
    )
    .unwrap();
    let refused_dir = dir.path().join("refused");
    let out = infra(&[
        "synth",
        "--config",
        over.to_str().unwrap(),
        "--out",
        refused_dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(over.to_str().unwrap()), "{stderr}");
    assert!(
        stderr.contains("over the account's quota of 200 health checks")
            && stderr.contains("aws.route53_health_check_quota"),
        "{stderr}"
    );
    assert!(!refused_dir.exists(), "nothing is written");
}
