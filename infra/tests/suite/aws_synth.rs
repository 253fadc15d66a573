//! The synthesized templates: snapshots, cfn-lint (zero errors, zero warnings), and the
//! structural rules cfn-lint cannot check (failover pairs bound to the app's own routing
//! controls, explicit IAM, TLS 1.2, PITR and both replicas on every table).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use infra::aws::plan::{
    ParamValue, PhaseKind, Plan, RegionRole, StackKind, StackNames, StackPrefix, StackSpec,
};
use infra::aws::{app, arc, synth};
use serde_json::{Value, json};
use topology::Topology;

/// The default topology with two more services, one behind a two-segment route.
pub(crate) fn topology_with_two_more_apps() -> Topology {
    Topology::parse(&text_with_two_more_apps()).expect("the extended topology is valid")
}

/// [`topology_with_two_more_apps`] as text, to edit further.
pub(crate) fn text_with_two_more_apps() -> String {
    testkit::FIXTURE_TOPOLOGY.replace(
        "\"/users\" = \"users\"",
        "\"/users\" = \"users\"\n\"/inventory\" = \"inventory\"\n\"/shipping/v1\" = \"shipping\"",
    ) + r#"
[[apps]]
name = "inventory"
kind = "service"
[apps.table]
name = "inventory"
indexes = [{ name = "by-sku", partition_key = "sku" }, { name = "by-warehouse", partition_key = "warehouse", sort_key = "sku" }]

[[apps]]
name = "shipping"
kind = "service"
[apps.table]
name = "shipping"
"#
}

/// The DynamoDB client's whole-operation timeout in `kit::dynamo`, retries included.
const DYNAMODB_OPERATION_TIMEOUT_SECONDS: u64 = 12;

fn plan(topology: &Topology) -> Plan {
    synth::plan(topology, &StackPrefix::default())
}

/// The templates under `dir`, in its subfolders too.
pub(crate) fn templates(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(templates(&path));
        } else if path.to_string_lossy().ends_with(".template.json") {
            found.push(path);
        }
    }
    found
}

pub(crate) fn lint(dir: &Path) {
    let templates = templates(dir);
    assert!(!templates.is_empty());
    let out = testkit::cfn_lint_command()
        .args(["--format", "parseable", "--"])
        .args(&templates)
        .output()
        .expect("cfn-lint runs");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "cfn-lint found problems (exit {:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// checkov on every template under `dir`: no failing check that is not suppressed, and every
/// suppression (in the resource's `Metadata.checkov.skip`) says why.
pub(crate) fn checkov(dir: &Path) {
    let out = Command::new(testkit::checkov())
        .args(["--directory"])
        .arg(dir)
        .args([
            "--framework",
            "cloudformation",
            "--skip-download",
            "--compact",
        ])
        .args(["--quiet", "--output", "json"])
        .output()
        .expect("checkov runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov's report is not JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| format!("{} {} {}", f["check_id"], f["file_path"], f["resource"]))
        .collect();
    assert!(
        failed.is_empty(),
        "checkov failures:\n{}",
        failed.join("\n")
    );
    assert_eq!(
        report["summary"]["parsing_errors"], 0,
        "{}",
        report["summary"]
    );
    assert!(
        out.status.success(),
        "checkov exited {:?}",
        out.status.code()
    );
    let mut resources = 0;
    for path in templates(dir) {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        resources += doc["Resources"].as_object().unwrap().len();
        for (id, resource) in doc["Resources"].as_object().unwrap() {
            for skip in resource["Metadata"]["checkov"]["skip"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let reason = skip["comment"].as_str().unwrap_or_default();
                assert!(
                    reason.len() > 20,
                    "{}: {id} skips {} without a reason",
                    path.display(),
                    skip["id"]
                );
            }
        }
    }
    assert_eq!(
        report["summary"]["resource_count"],
        resources,
        "checkov checked every resource of every template under {}",
        dir.display()
    );
}

#[test]
fn every_template_passes_checkov_or_says_why_not() {
    // Every topology in one checkov run: its start-up costs as much as checking one of them.
    let dir = tempfile::tempdir().unwrap();
    for (folder, topology) in [
        (
            "default",
            Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap(),
        ),
        ("two-more-apps", topology_with_two_more_apps()),
        ("health-check", super::aws_health_check::topology()),
        ("hundred-apps", super::aws_scale::hundred_apps()),
    ] {
        let out = dir.path().join(folder);
        synth::write(&topology, &StackPrefix::default(), None, &out).unwrap();
    }
    // The 100 apps' later groups and shared panels; their app stacks are like the others.
    super::aws_scale::keep_few_app_stacks(&dir.path().join("hundred-apps"));
    checkov(dir.path());
}

#[test]
fn every_template_of_the_default_topology_matches_its_snapshot() {
    let plan = plan(&Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap());
    let names: Vec<String> = plan.stacks().map(StackSpec::file_name).collect();
    assert_eq!(names.len(), 14, "{names:?}");
    for spec in plan.stacks() {
        insta::assert_snapshot!(spec.file_name(), spec.template.to_pretty_string());
    }
    insta::assert_snapshot!(
        "plan.json",
        serde_json::to_string_pretty(&synth::describe(&plan)).unwrap()
    );
}

#[test]
fn the_default_topology_is_lint_clean() {
    let dir = tempfile::tempdir().unwrap();
    let written = synth::write(
        &Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap(),
        &StackPrefix::default(),
        None,
        dir.path(),
    )
    .unwrap();
    assert_eq!(written.len(), 15, "14 templates and plan.json");
    lint(dir.path());
}

#[test]
fn a_topology_with_two_more_apps_is_lint_clean_and_complete() {
    let topology = topology_with_two_more_apps();
    let dir = tempfile::tempdir().unwrap();
    let written = synth::write(&topology, &StackPrefix::default(), None, dir.path()).unwrap();
    assert_eq!(written.len(), 2 + 1 + 1 + 6 * 2 + 2 + 1);
    lint(dir.path());
    check_structure(&topology);
    // The two-segment route gets nested API resources ending in a proxy to the subdomain.
    let api = find(
        &plan(&topology),
        |k| matches!(k, StackKind::App(a, RegionRole::Primary) if a.as_str() == "api"),
    );
    let uri = &api["Resources"]["RouteShippingV1ProxyMethod"]["Properties"]["Integration"]["Uri"];
    assert_eq!(uri, "https://shipping.example.com/shipping/v1/{proxy}");
    assert_eq!(
        api["Resources"]["RouteShippingV1Resource"]["Properties"]["PathPart"],
        "v1"
    );
}

#[test]
fn the_default_topology_follows_the_structural_rules() {
    check_structure(&Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap());
}

pub(crate) fn check_structure(topology: &Topology) {
    let plan = plan(topology);
    for app_def in &topology.apps {
        for role in RegionRole::BOTH {
            failover_record_is_bound_to_own_routing_control(topology, &plan, app_def, role);
        }
    }
    for spec in plan.stacks() {
        let doc = spec.template.to_json();
        iam_is_explicit(&spec.id.name, &doc);
        custom_domains_use_tls_1_2(&spec.id.name, &doc);
        for (_, stage) in resources_of_type(&doc, "AWS::ApiGateway::Stage") {
            assert_eq!(
                stage["Properties"]["TracingEnabled"], true,
                "{}: X-Ray",
                spec.id
            );
        }
    }
    tables_are_replicated_and_recoverable(topology, &plan);
    functions_are_arm64_and_route_without_the_stage(topology, &plan);
    arc_resources_are_created_one_at_a_time(&plan);
}

/// The resources a resource waits for: those it refers to (`Ref`, `Fn::GetAtt`, `Fn::Sub`
/// `${Id}`) and those in its `DependsOn`.
fn direct_dependencies(doc: &Value, id: &str) -> BTreeSet<String> {
    fn walk(value: &Value, ids: &BTreeSet<&String>, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("Ref", Value::String(target)) => {
                            out.insert(target.clone());
                        }
                        ("Fn::GetAtt", Value::Array(parts)) => {
                            out.extend(parts[0].as_str().map(str::to_owned));
                        }
                        ("Fn::Sub", Value::String(text)) => {
                            for id in ids {
                                if text.contains(&format!("${{{id}}}"))
                                    || text.contains(&format!("${{{id}."))
                                {
                                    out.insert((*id).clone());
                                }
                            }
                        }
                        _ => walk(inner, ids, out),
                    }
                }
            }
            Value::Array(list) => list.iter().for_each(|v| walk(v, ids, out)),
            _ => {}
        }
    }
    let resources = doc["Resources"].as_object().unwrap();
    let ids: BTreeSet<&String> = resources.keys().collect();
    let resource = &resources[id];
    let mut out = BTreeSet::new();
    walk(&resource["Properties"], &ids, &mut out);
    match &resource["DependsOn"] {
        Value::String(d) => {
            out.insert(d.clone());
        }
        Value::Array(list) => out.extend(list.iter().map(|d| d.as_str().unwrap().to_owned())),
        _ => {}
    }
    out.retain(|d| ids.contains(d));
    out
}

/// Every resource `id` waits for, directly or not.
fn all_dependencies(doc: &Value, id: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![id.to_owned()];
    while let Some(next) = todo.pop() {
        for d in direct_dependencies(doc, &next) {
            if seen.insert(d.clone()) {
                todo.push(d);
            }
        }
    }
    seen
}

/// ARC's control plane rejects concurrent changes in a cluster with a 409 that CloudFormation
/// does not retry: of any two ARC configuration resources of a stack, one must wait for the
/// other (and each ARC stack has a phase of its own).
fn arc_resources_are_created_one_at_a_time(plan: &Plan) {
    for spec in plan
        .stacks()
        .filter(|s| matches!(s.kind, StackKind::Arc(_)))
    {
        arc_resources_of_a_stack_are_created_one_at_a_time(&spec.template.to_json());
    }
    for phase in plan.phases.iter().filter(|p| p.kind == PhaseKind::Arc) {
        assert_eq!(phase.stacks.len(), 1, "one ARC stack per phase");
    }
}

fn arc_resources_of_a_stack_are_created_one_at_a_time(doc: &Value) {
    let arc: Vec<&String> = doc["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| {
            r["Type"]
                .as_str()
                .unwrap()
                .starts_with("AWS::Route53RecoveryControl::")
        })
        .map(|(id, _)| id)
        .collect();
    let before: Vec<BTreeSet<String>> = arc.iter().map(|id| all_dependencies(doc, id)).collect();
    for (i, a) in arc.iter().enumerate() {
        for (j, b) in arc.iter().enumerate().skip(i + 1) {
            assert!(
                before[i].contains(*b) || before[j].contains(*a),
                "ARC resources {a} and {b} would be created concurrently"
            );
        }
    }
}

fn find(plan: &Plan, kind: impl Fn(&StackKind) -> bool) -> Value {
    plan.stacks()
        .find(|s| kind(&s.kind))
        .map(|s| s.template.to_json())
        .expect("the stack is in the plan")
}

pub(crate) fn resources_of_type<'d>(doc: &'d Value, kind: &str) -> Vec<(&'d String, &'d Value)> {
    doc["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

/// The app stack's failover record carries the health check the plan wires from the ARC
/// stack; that health check is RECOVERY_CONTROL on the routing control of this app's own
/// control panel, for this Region.
fn failover_record_is_bound_to_own_routing_control(
    topology: &Topology,
    plan: &Plan,
    app_def: &topology::App,
    role: RegionRole,
) {
    let region = role.of(&topology.regions);
    let spec = plan
        .stacks()
        .find(|s| s.kind == StackKind::App(app_def.name().clone(), role))
        .expect("an app stack per app and Region");
    assert_eq!(&spec.id.region, region);
    let doc = spec.template.to_json();
    let records: Vec<_> = resources_of_type(&doc, "AWS::Route53::RecordSet")
        .into_iter()
        .filter(|(_, r)| r["Properties"].get("Failover").is_some())
        .collect();
    assert_eq!(records.len(), 1, "{}: one failover record", spec.id);
    let record = &records[0].1["Properties"];
    assert_eq!(record["Failover"], role.failover());
    assert_eq!(
        record["Name"],
        format!("{}.{}.", app_def.name(), topology.domain)
    );
    assert_eq!(
        record["SetIdentifier"],
        format!("{}-{region}", app_def.name())
    );
    assert_eq!(record["AliasTarget"]["EvaluateTargetHealth"], true);
    assert_eq!(
        record["HealthCheckId"],
        serde_json::json!({ "Ref": app::PARAM_HEALTH_CHECK })
    );

    // The parameter is wired to the health check output of this app and role of the ARC
    // stack of the app's group.
    let wired = spec
        .parameters
        .iter()
        .find(|(k, _)| k == app::PARAM_HEALTH_CHECK)
        .map(|(_, v)| v.clone());
    let Some(ParamValue::Output { stack, key }) = wired else {
        panic!("{}: HealthCheckId is not wired from an output", spec.id)
    };
    let arc_spec = plan.stacks().find(|s| s.id == stack).unwrap();
    let names = StackNames::new(topology, &StackPrefix::default());
    let group = names.layout().group_of(app_def.name());
    assert_eq!(arc_spec.kind, StackKind::Arc(group), "{}", spec.id);
    assert_eq!(stack, names.arc_of(app_def.name()));
    let arc_doc = arc_spec.template.to_json();
    let check_id = arc_doc["Outputs"][&key]["Value"]["Ref"]
        .as_str()
        .expect("a health check output");
    let check = &arc_doc["Resources"][check_id]["Properties"]["HealthCheckConfig"];
    assert_eq!(check["Type"], "RECOVERY_CONTROL", "{key}");
    let control_id = check["RoutingControlArn"]["Ref"].as_str().unwrap();
    let control = &arc_doc["Resources"][control_id];
    assert_eq!(
        control["Type"],
        "AWS::Route53RecoveryControl::RoutingControl"
    );
    assert!(
        control["Properties"]["Name"]
            .as_str()
            .unwrap()
            .ends_with(&format!("-{}-{region}", app_def.name()))
    );
    let panel_id = control["Properties"]["ControlPanelArn"]["Ref"]
        .as_str()
        .unwrap();
    assert_eq!(
        arc_doc["Outputs"][arc::output_control_panel(app_def)]["Value"]["Ref"],
        panel_id,
        "{}'s routing control is in its own control panel",
        app_def.name()
    );
    // The safety rule of that panel asserts at least one of the app's two controls is ON.
    let rule_id = arc_doc["Outputs"][arc::output_safety_rule(app_def)]["Value"]["Ref"]
        .as_str()
        .unwrap();
    let rule = &arc_doc["Resources"][rule_id]["Properties"];
    assert_eq!(rule["ControlPanelArn"]["Ref"], panel_id);
    assert_eq!(rule["RuleConfig"]["Type"], "ATLEAST");
    assert_eq!(rule["RuleConfig"]["Threshold"], 1);
    let asserted = &rule["AssertionRule"]["AssertedControls"];
    let own: Vec<Value> = RegionRole::BOTH
        .iter()
        .map(|r| arc_doc["Outputs"][arc::output_routing_control(app_def, *r)]["Value"].clone())
        .collect();
    assert_eq!(
        asserted,
        &Value::Array(own),
        "{}'s own two controls",
        app_def.name()
    );
}

/// Every policy statement names its actions (no `*` in any action) and its resources.
pub(crate) fn iam_is_explicit(stack: &str, doc: &Value) {
    let mut statements = Vec::new();
    for (_, role) in resources_of_type(doc, "AWS::IAM::Role") {
        for policy in role["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
        {
            statements.extend(
                policy["PolicyDocument"]["Statement"]
                    .as_array()
                    .unwrap()
                    .iter(),
            );
        }
        assert!(
            role["Properties"].get("ManagedPolicyArns").is_none(),
            "{stack}: managed policies hide their actions"
        );
    }
    for (_, policy) in resources_of_type(doc, "AWS::S3::BucketPolicy") {
        statements.extend(
            policy["Properties"]["PolicyDocument"]["Statement"]
                .as_array()
                .unwrap()
                .iter(),
        );
    }
    for statement in statements {
        let actions: Vec<&str> = match &statement["Action"] {
            Value::String(a) => vec![a.as_str()],
            Value::Array(list) => list.iter().map(|a| a.as_str().unwrap()).collect(),
            other => panic!("{stack}: action {other} is not explicit"),
        };
        // Only actions that support no resource-level permission may name every resource.
        let resource_less = [
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "cloudwatch:GetMetricData",
        ];
        let on_every_resource_is_the_only_way = actions.iter().all(|a| resource_less.contains(a));
        for action in actions {
            // Denying every action (as for insecure transport) is the strict side of a wildcard.
            if statement["Effect"] != "Deny" {
                assert!(!action.contains('*'), "{stack}: wildcard action {action}");
            }
            assert!(
                action.contains(':'),
                "{stack}: action {action} names no service"
            );
        }
        assert!(statement.get("NotAction").is_none(), "{stack}: NotAction");
        if !on_every_resource_is_the_only_way {
            assert_ne!(
                statement["Resource"], "*",
                "{stack}: a statement on every resource"
            );
        }
        assert!(
            !statement["Resource"].is_null(),
            "{stack}: a statement without resources"
        );
    }
}

fn custom_domains_use_tls_1_2(stack: &str, doc: &Value) {
    for (_, domain) in resources_of_type(doc, "AWS::ApiGateway::DomainName") {
        assert_eq!(domain["Properties"]["SecurityPolicy"], "TLS_1_2", "{stack}");
        assert_eq!(
            domain["Properties"]["EndpointConfiguration"]["Types"],
            serde_json::json!(["REGIONAL"])
        );
    }
}

fn tables_are_replicated_and_recoverable(topology: &Topology, plan: &Plan) {
    let doc = find(plan, |k| *k == StackKind::Data);
    let tables = resources_of_type(&doc, "AWS::DynamoDB::GlobalTable");
    assert_eq!(tables.len(), topology.services().count());
    let both: BTreeSet<&str> = topology.regions.both().iter().map(|r| r.as_str()).collect();
    for (id, table) in tables {
        let p = &table["Properties"];
        let replicas = p["Replicas"].as_array().unwrap();
        let regions: BTreeSet<&str> = replicas
            .iter()
            .map(|r| r["Region"].as_str().unwrap())
            .collect();
        assert_eq!(regions, both, "{id}: a replica in each Region");
        for replica in replicas {
            assert_eq!(
                replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true,
                "{id}"
            );
        }
        assert_eq!(p["BillingMode"], "PAY_PER_REQUEST", "{id}");
        assert_eq!(
            p["StreamSpecification"]["StreamViewType"], "NEW_AND_OLD_IMAGES",
            "{id}"
        );
        assert_eq!(p["SSESpecification"]["SSEEnabled"], true, "{id}");
    }
    for app_def in topology.services() {
        let table = app_def.table();
        let id = format!(
            "{}Table",
            infra::aws::template::pascal(app_def.name().as_str())
        );
        let indexes: Vec<&str> = doc["Resources"][&id]["Properties"]["GlobalSecondaryIndexes"]
            .as_array()
            .map(|l| l.iter().map(|i| i["IndexName"].as_str().unwrap()).collect())
            .unwrap_or_default();
        let expected: Vec<&str> = table.indexes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(indexes, expected, "{id}");
    }
}

/// Each service's function: arm64 on provided.al2023, its role limited to its own table and
/// GSIs, and lambda_http told to ignore the stage so both URLs route alike.
fn functions_are_arm64_and_route_without_the_stage(topology: &Topology, plan: &Plan) {
    for spec in plan.stacks() {
        let StackKind::App(name, _) = &spec.kind else {
            continue;
        };
        let app_def = topology.app(name).unwrap();
        let doc = spec.template.to_json();
        let functions = resources_of_type(&doc, "AWS::Lambda::Function");
        let Some(service) = app_def.as_service() else {
            assert!(functions.is_empty(), "the gateway runs no function");
            continue;
        };
        let f = &functions[0].1["Properties"];
        assert_eq!(f["Runtime"], "provided.al2023");
        assert_eq!(f["Architectures"], serde_json::json!(["arm64"]));
        assert_eq!(f["TracingConfig"]["Mode"], "Active", "{}: X-Ray", spec.id);
        assert_eq!(
            f["Environment"]["Variables"]["AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH"],
            "true"
        );
        let table_param = spec
            .parameters
            .iter()
            .find(|(k, _)| k == app::PARAM_TABLE)
            .unwrap();
        // A deterministic name, the one the data stack gives the table: no Region's app
        // stack waits for the data stack's Region.
        let data = find(plan, |k| *k == StackKind::Data);
        let table_id = format!("{}Table", infra::aws::template::pascal(name.as_str()));
        let created = &data["Resources"][&table_id]["Properties"]["TableName"];
        assert_eq!(
            table_param.1,
            ParamValue::Literal(created.as_str().unwrap().to_owned()),
            "{}",
            spec.id
        );
        assert!(
            f["Timeout"].as_u64().unwrap() > DYNAMODB_OPERATION_TIMEOUT_SECONDS,
            "{}: the function times out before the DynamoDB client gives up, so callers get \
             API Gateway's 502 instead of the service's 503",
            spec.id
        );
        let role = resources_of_type(&doc, "AWS::IAM::Role")[0].1;
        let statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap();
        let data = statements.iter().find(|s| s["Sid"] == "OwnTable").unwrap();
        let indexes = &service.table().indexes;
        assert_eq!(
            data["Resource"].as_array().unwrap().len(),
            1 + indexes.len()
        );
        for resource in data["Resource"].as_array().unwrap() {
            let arn = resource["Fn::Sub"].as_str().unwrap();
            assert!(arn.contains(":table/${TableName}"), "{arn}");
        }
    }
}

fn with_prefix(prefix: &str) -> StackPrefix {
    prefix.parse().unwrap()
}

#[test]
fn table_names_carry_the_stack_prefix_in_the_data_stack_and_the_app_stacks() {
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let plan = synth::plan(&topology, &with_prefix("shop-staging"));
    let data = find(&plan, |k| *k == StackKind::Data);
    let names: BTreeSet<&str> = resources_of_type(&data, "AWS::DynamoDB::GlobalTable")
        .iter()
        .map(|(_, t)| t["Properties"]["TableName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "shop-staging-orders",
            "shop-staging-payments",
            "shop-staging-users"
        ])
    );
    for spec in plan.stacks() {
        for (key, value) in &spec.parameters {
            if key == app::PARAM_TABLE {
                let ParamValue::Literal(name) = value else {
                    panic!("{}: {value:?}", spec.id)
                };
                assert!(names.contains(name.as_str()), "{}: {name}", spec.id);
            }
        }
    }
}

#[test]
fn arc_names_over_64_characters_are_refused_at_synth_naming_the_resource() {
    let app = "a".repeat(32);
    let text = testkit::FIXTURE_TOPOLOGY.to_owned()
        + &format!(
            "\n[[apps]]\nname = \"{app}\"\nkind = \"service\"\n[apps.table]\nname = \"tbl\"\n"
        );
    let topology = Topology::parse(&text).unwrap();
    let prefix = with_prefix(&"p".repeat(40));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cfn");
    let err = synth::write(&topology, &prefix, None, &out)
        .unwrap_err()
        .to_string();
    let names_one = [
        "control panel of `",
        "routing control of `",
        "safety rule of `",
    ]
    .iter()
    .any(|what| err.contains(what));
    assert!(names_one && err.contains("limit of 64"), "{err}");
    assert!(!out.exists(), "nothing is written");
    // A 28-character app name under the default prefix fits.
    let text = text.replace(&app, &"a".repeat(28));
    let topology = Topology::parse(&text).unwrap();
    synth::write(&topology, &StackPrefix::default(), None, &out).unwrap();
    let arc = find(&plan(&topology), |k| matches!(k, StackKind::Arc(_)));
    for (id, r) in arc["Resources"].as_object().unwrap() {
        if let Some(name) = r["Properties"]["Name"].as_str() {
            assert!(name.len() <= 64, "{id}: {name}");
        }
    }
}

#[test]
fn the_account_wide_api_gateway_logging_setting_outlives_a_destroy() {
    let plan = plan(&Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap());
    let bootstrap = find(&plan, |k| *k == StackKind::Bootstrap);
    for id in ["ApiGatewayAccount", "ApiGatewayCloudWatchRole"] {
        let r = &bootstrap["Resources"][id];
        assert_eq!(r["DeletionPolicy"], "Retain", "{id}");
        assert_eq!(r["UpdateReplacePolicy"], "Retain", "{id}");
    }
}

#[test]
fn data_is_protected_by_default_and_a_sandbox_opts_out_explicitly() {
    let check = |topology: &Topology, policy: &str, protection: bool| {
        let data = find(&plan(topology), |k| *k == StackKind::Data);
        for (id, table) in resources_of_type(&data, "AWS::DynamoDB::GlobalTable") {
            assert_eq!(table["DeletionPolicy"], policy, "{id}");
            assert_eq!(table["UpdateReplacePolicy"], policy, "{id}");
            for replica in table["Properties"]["Replicas"].as_array().unwrap() {
                assert_eq!(replica["DeletionProtectionEnabled"], protection, "{id}");
            }
        }
    };
    check(
        &Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap(),
        "Retain",
        true,
    );
    let sandbox = Topology::parse(
        &testkit::FIXTURE_TOPOLOGY.replace("[local]\n", "[aws]\nprotect_data = false\n\n[local]\n"),
    )
    .unwrap();
    check(&sandbox, "Delete", false);
}

#[test]
fn insecure_transport_is_denied_for_every_s3_action_and_the_zone_id_needs_no_route_53_call() {
    let plan = plan(&Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap());
    let bootstrap = find(&plan, |k| *k == StackKind::Bootstrap);
    let statement = &bootstrap["Resources"]["ArtifactsBucketPolicy"]["Properties"]["PolicyDocument"]
        ["Statement"][0];
    assert_eq!(statement["Sid"], "DenyInsecureTransport");
    assert_eq!(statement["Action"], "s3:*");
    for spec in plan.stacks() {
        if let StackKind::App(..) = spec.kind {
            let doc = spec.template.to_json();
            // A plain string with a pattern: an AWS-specific parameter type is checked
            // through Route 53's API (us-east-1) before CloudFormation creates anything.
            let zone = &doc["Parameters"][app::PARAM_HOSTED_ZONE];
            assert_eq!(zone["Type"], "String", "{}", spec.id);
            assert_eq!(
                zone["AllowedPattern"],
                app::HOSTED_ZONE_PATTERN,
                "{}",
                spec.id
            );
        }
    }
}

/// Every API answers only on its custom domains (TLS 1.2): the failover name and the Region's
/// own name, each with an alias record; the execute-api endpoint (TLS 1.0) is off.
#[test]
fn every_api_is_reached_only_through_its_tls_1_2_custom_domains() {
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let plan = plan(&topology);
    let mut apis = 0;
    for spec in plan.stacks() {
        let StackKind::App(name, role) = &spec.kind else {
            continue;
        };
        let doc = spec.template.to_json();
        for (_, api) in resources_of_type(&doc, "AWS::ApiGateway::RestApi") {
            assert_eq!(
                api["Properties"]["DisableExecuteApiEndpoint"], true,
                "{}",
                spec.id
            );
            apis += 1;
        }
        let region = role.of(&topology.regions);
        let regional = format!("{name}.{region}.{}", topology.domain);
        let domains: Vec<&str> = resources_of_type(&doc, "AWS::ApiGateway::DomainName")
            .iter()
            .map(|(_, d)| {
                assert_eq!(d["Properties"]["SecurityPolicy"], "TLS_1_2");
                d["Properties"]["DomainName"].as_str().unwrap()
            })
            .collect();
        assert_eq!(
            domains,
            [format!("{name}.{}", topology.domain), regional.clone()],
            "{}",
            spec.id
        );
        let plain: Vec<_> = resources_of_type(&doc, "AWS::Route53::RecordSet")
            .into_iter()
            .filter(|(_, r)| r["Properties"].get("Failover").is_none())
            .collect();
        assert_eq!(plain.len(), 1, "{}", spec.id);
        assert_eq!(plain[0].1["Properties"]["Name"], format!("{regional}."));
        let certificate = &doc["Resources"]["Certificate"]["Properties"];
        assert_eq!(certificate["SubjectAlternativeNames"][0], regional);
        assert_eq!(
            doc["Outputs"][app::OUTPUT_REGIONAL_URL]["Value"],
            format!("https://{regional}")
        );
        assert!(!doc.to_string().contains("execute-api.${AWS::Region}"));
    }
    assert_eq!(apis, 2 * topology.apps.len());
}

#[test]
fn a_region_scoped_synth_writes_only_that_regions_stacks_and_reads_nothing_from_the_other() {
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let west = &topology.regions.secondary;
    let written = synth::write(&topology, &StackPrefix::default(), Some(west), dir.path()).unwrap();
    // bootstrap, ARC (us-west-2 is ARC's Region), the four apps and monitoring, plus plan.json.
    assert_eq!(written.len(), 1 + 1 + 4 + 1 + 1, "{written:?}");
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).unwrap())
            .unwrap();
    let text = plan.to_string();
    assert!(!text.contains("us-east-1"), "{text}");
    assert!(!text.contains("-data"), "{text}");
    for phase in plan["phases"].as_array().unwrap() {
        for stack in phase["stacks"].as_array().unwrap() {
            assert_eq!(stack["region"], "us-west-2");
        }
    }
    lint(dir.path());

    // The primary's: its app stacks keep the health checks (made by the ARC stack in
    // us-west-2) and the zone (not looked up) they have; the fenced service also keeps its
    // routing control's ARN (ARC stack) and the cluster's endpoints (ARC's control plane).
    let east = &topology.regions.primary;
    let plan = synth::region_plan(&topology, &StackPrefix::default(), Some(east)).unwrap();
    let mut kept = 0;
    for spec in plan.stacks() {
        assert_eq!(&spec.id.region, east);
        for (key, value) in &spec.parameters {
            match value {
                ParamValue::Output { stack, .. } => assert_eq!(&stack.region, east, "{key}"),
                ParamValue::Previous => kept += 1,
                ParamValue::Literal(_) => {}
                ParamValue::ClusterEndpoints
                | ParamValue::GatewayClientCertificate
                | ParamValue::TruststoreVersion => {
                    panic!("{}: {key} is read at deploy", spec.id)
                }
            }
        }
    }
    assert_eq!(
        kept,
        4 * 2 + 4 + 2 + 4 * 2,
        "HealthCheckId and HostedZoneId of each app stack, the gateway's client certificate \
         and the services' truststore version (kept: a new truststore needs the other Region's \
         certificates), RoutingControlArn and ClusterEndpoints of payments, and the monitoring \
         stack's two health checks per app"
    );
    let err = synth::region_plan(
        &topology,
        &StackPrefix::default(),
        Some(&"eu-west-1".parse().unwrap()),
    )
    .unwrap_err();
    assert!(err.contains("--region eu-west-1"), "{err}");
}

/// With `aws.gateway_only` (the default) the gateway's stage presents its Region's client
/// certificate (a parameter the deploy fills in) and both custom domains of every service
/// require mutual TLS against the truststore in that Region's artifacts bucket, at the version
/// the deploy wrote; without it, none of that exists. Either way no template holds a secret:
/// no dynamic reference and no credential-like value in any stage or environment variable.
#[test]
fn services_accept_only_the_gateways_calls_unless_the_topology_opts_out() {
    let check = |topology: &Topology, on: bool| {
        let plan = plan(topology);
        for spec in plan.stacks() {
            let doc = spec.template.to_json();
            let text = doc.to_string();
            assert!(
                !text.contains("{{resolve:"),
                "{}: a dynamic reference",
                spec.id
            );
            assert!(
                resources_of_type(&doc, "AWS::SecretsManager::Secret").is_empty(),
                "{}",
                spec.id
            );
            for (id, stage) in resources_of_type(&doc, "AWS::ApiGateway::Stage") {
                assert!(
                    stage["Properties"].get("Variables").is_none(),
                    "{}: {id}",
                    spec.id
                );
            }
            for (id, f) in resources_of_type(&doc, "AWS::Lambda::Function") {
                let vars = f["Properties"]["Environment"]["Variables"]
                    .as_object()
                    .unwrap();
                for name in vars.keys() {
                    let lower = name.to_ascii_lowercase();
                    assert!(
                        !["secret", "password", "token", "key"]
                            .iter()
                            .any(|w| lower.contains(w)),
                        "{}: {id} has {name}",
                        spec.id
                    );
                }
            }
            let wired = |key: &str| {
                spec.parameters
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            };
            match &spec.kind {
                StackKind::App(name, _) if topology.app(name).unwrap().as_gateway().is_some() => {
                    let stage = &doc["Resources"]["Stage"]["Properties"];
                    let proxies: Vec<_> = resources_of_type(&doc, "AWS::ApiGateway::Method")
                        .into_iter()
                        .filter(|(_, m)| m["Properties"]["Integration"]["Type"] == "HTTP_PROXY")
                        .collect();
                    assert!(!proxies.is_empty());
                    for (id, m) in proxies {
                        let uri = m["Properties"]["Integration"]["Uri"].as_str().unwrap();
                        assert!(uri.starts_with("https://"), "{}: {id}: {uri}", spec.id);
                    }
                    if on {
                        assert_eq!(
                            stage["ClientCertificateId"],
                            json!({ "Ref": app::PARAM_CLIENT_CERTIFICATE })
                        );
                        assert_eq!(
                            wired(app::PARAM_CLIENT_CERTIFICATE),
                            Some(ParamValue::GatewayClientCertificate)
                        );
                    } else {
                        assert!(stage.get("ClientCertificateId").is_none());
                        assert_eq!(wired(app::PARAM_CLIENT_CERTIFICATE), None);
                    }
                }
                StackKind::App(..) => {
                    for id in ["CustomDomain", "RegionalCustomDomain"] {
                        let domain = &doc["Resources"][id]["Properties"];
                        let mtls = &domain["MutualTlsAuthentication"];
                        if on {
                            assert_eq!(
                                mtls["TruststoreUri"],
                                json!({ "Fn::Sub": format!("s3://${{{}}}/{}", app::PARAM_BUCKET, infra::aws::truststore::TRUSTSTORE_KEY) }),
                                "{}: {id}",
                                spec.id
                            );
                            assert_eq!(
                                mtls["TruststoreVersion"],
                                json!({ "Ref": app::PARAM_TRUSTSTORE_VERSION })
                            );
                            assert_eq!(domain["SecurityPolicy"], "TLS_1_2");
                        } else {
                            assert!(mtls.is_null(), "{}: {id}", spec.id);
                        }
                    }
                    assert_eq!(
                        wired(app::PARAM_TRUSTSTORE_VERSION),
                        on.then_some(ParamValue::TruststoreVersion),
                        "{}",
                        spec.id
                    );
                }
                _ => {}
            }
        }
    };
    check(&Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap(), true);
    let open = Topology::parse(
        &testkit::FIXTURE_TOPOLOGY.replace("[local]\n", "[aws]\ngateway_only = false\n\n[local]\n"),
    )
    .unwrap();
    check(&open, false);
    let dir = tempfile::tempdir().unwrap();
    synth::write(&open, &StackPrefix::default(), None, dir.path()).unwrap();
    lint(dir.path());
}

/// A write-fenced service's function, in each Region, is told its own Region's routing
/// control, the cluster's endpoints and the `Retry-After` to send (the failover records' TTL),
/// and may read that one control's state and nothing else of ARC; an unfenced service gets
/// neither the variables nor the permission.
#[test]
fn a_fenced_service_reads_only_its_own_regions_routing_control() {
    use topology::manifest::{
        FENCE_ACTION, FENCE_CONTROL_ENV, FENCE_ENDPOINTS_ENV, FENCE_RETRY_AFTER_ENV,
    };
    let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
    let plan = plan(&topology);
    let names = StackNames::new(&topology, &StackPrefix::default());
    let arc_doc = find(&plan, |k| matches!(k, StackKind::Arc(_)));
    let fence_envs = [
        FENCE_CONTROL_ENV,
        FENCE_ENDPOINTS_ENV,
        FENCE_RETRY_AFTER_ENV,
    ];
    let fenced: Vec<&str> = topology
        .services()
        .filter(|s| s.fence_writes())
        .map(|s| s.name().as_str())
        .collect();
    assert_eq!(fenced, ["payments"], "the fixture fences payments only");
    let mut checked = 0;
    for spec in plan.stacks() {
        let StackKind::App(name, role) = &spec.kind else {
            continue;
        };
        let app_def = topology.app(name).unwrap();
        let Some(service) = app_def.as_service() else {
            continue;
        };
        let doc = spec.template.to_json();
        let env = &doc["Resources"]["Function"]["Properties"]["Environment"]["Variables"];
        let role_doc = resources_of_type(&doc, "AWS::IAM::Role")[0].1;
        let statements = role_doc["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap();
        let arc_statements: Vec<&Value> = statements
            .iter()
            .filter(|s| s["Action"].to_string().contains("route53-recovery"))
            .collect();
        let wired = |key: &str| {
            spec.parameters
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        if !service.fence_writes() {
            for var in fence_envs {
                assert!(env.get(var).is_none(), "{}: {var}", spec.id);
            }
            assert!(arc_statements.is_empty(), "{}: {arc_statements:?}", spec.id);
            for key in [app::PARAM_ROUTING_CONTROL, app::PARAM_CLUSTER_ENDPOINTS] {
                assert!(doc["Parameters"].get(key).is_none(), "{}: {key}", spec.id);
                assert_eq!(wired(key), None, "{}: {key}", spec.id);
            }
            continue;
        }
        checked += 1;
        let region = role.of(&topology.regions);
        assert_eq!(
            env[FENCE_CONTROL_ENV],
            serde_json::json!({ "Ref": app::PARAM_ROUTING_CONTROL }),
            "{}",
            spec.id
        );
        assert_eq!(
            env[FENCE_ENDPOINTS_ENV],
            serde_json::json!({ "Ref": app::PARAM_CLUSTER_ENDPOINTS }),
            "{}",
            spec.id
        );
        // The failover record is an alias (no TTL of its own): Route 53 answers it with 60 s.
        let record = &resources_of_type(&doc, "AWS::Route53::RecordSet")[0].1["Properties"];
        assert!(
            record.get("TTL").is_none() && record.get("AliasTarget").is_some(),
            "{}",
            spec.id
        );
        assert_eq!(app::FAILOVER_RECORD_TTL_SECONDS, 60);
        assert_eq!(env[FENCE_RETRY_AFTER_ENV], "60", "{}", spec.id);

        // Exactly one statement: exactly the fencing action, on exactly this Region's control.
        assert_eq!(arc_statements.len(), 1, "{}: {arc_statements:?}", spec.id);
        let statement = arc_statements[0];
        assert_eq!(statement["Effect"], "Allow");
        assert_eq!(statement["Action"], FENCE_ACTION, "{}", spec.id);
        assert_eq!(
            statement["Resource"],
            serde_json::json!({ "Ref": app::PARAM_ROUTING_CONTROL }),
            "{}",
            spec.id
        );
        assert!(statement.get("Condition").is_none());

        // The parameter is this app's routing control in this Region, from the ARC stack.
        let Some(ParamValue::Output { stack, key }) = wired(app::PARAM_ROUTING_CONTROL) else {
            panic!("{}: RoutingControlArn is not an ARC output", spec.id)
        };
        assert_eq!(stack, names.arc());
        assert_eq!(stack, names.arc_of(name), "one group: the first ARC stack");
        assert_eq!(key, arc::output_routing_control(app_def, *role));
        let control_id = arc_doc["Outputs"][&key]["Value"]["Ref"].as_str().unwrap();
        let control = &arc_doc["Resources"][control_id];
        assert_eq!(
            control["Type"],
            "AWS::Route53RecoveryControl::RoutingControl"
        );
        let control_name = control["Properties"]["Name"].as_str().unwrap();
        assert!(
            control_name.ends_with(&format!("-{name}-{region}")),
            "{}: {control_name} is not this Region's control",
            spec.id
        );
        let other = if *role == RegionRole::Primary {
            RegionRole::Secondary
        } else {
            RegionRole::Primary
        };
        assert_ne!(key, arc::output_routing_control(app_def, other));
        assert_eq!(
            wired(app::PARAM_CLUSTER_ENDPOINTS),
            Some(ParamValue::ClusterEndpoints),
            "{}: the endpoints are read at deploy",
            spec.id
        );
    }
    assert_eq!(checked, 2, "payments in both Regions");

    // plan.json says where the endpoints come from.
    let described = synth::describe(&plan).to_string();
    assert!(described.contains("read_at_deploy"), "{described}");
}
