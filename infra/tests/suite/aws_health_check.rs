//! The `health-check` mechanism's templates: no ARC resource; per app, in each Region, the alarm
//! on the flag that takes the other Region out and the `CLOUDWATCH_METRIC` health check of the
//! other Region's record; app stacks wired to them; write fencing that reads the flags.

use infra::aws::plan::{ParamValue, Plan, RegionRole, StackKind, StackPrefix};
use infra::aws::{app, flags, synth};
use serde_json::{Value, json};
use topology::Topology;
use topology::manifest::{
    FENCE_CONTROL_ENV, FENCE_FLAG_ACTION, FENCE_FLAG_APP_ENV, FENCE_FLAG_NAMESPACE_ENV,
    FLAG_METRIC_NAME,
};

use super::aws_synth::{checkov, iam_is_explicit, lint, resources_of_type};

/// The suite's fixture topology with `mechanism = "health-check"`.
pub(crate) fn topology() -> Topology {
    let text = testkit::FIXTURE_TOPOLOGY.replace(
        "[arc]\n",
        "[failover]\nmechanism = \"health-check\"\n\n[arc]\n",
    );
    Topology::parse(&text).expect("the fixture in health-check mode is valid")
}

fn plan(topology: &Topology) -> Plan {
    synth::plan(topology, &StackPrefix::default())
}

#[test]
fn no_arc_resource_is_synthesized_and_the_templates_are_lint_clean() {
    let topology = topology();
    let dir = tempfile::tempdir().unwrap();
    let written = synth::write(&topology, &StackPrefix::default(), None, dir.path()).unwrap();
    // bootstrap ×2, flags ×2, data, apps ×8, monitoring ×2, plan.json.
    assert_eq!(written.len(), 2 + 2 + 1 + 8 + 2 + 1, "{written:?}");
    for path in &written {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            !text.contains("AWS::Route53RecoveryControl") && !text.contains("RECOVERY_CONTROL"),
            "{} has an ARC resource",
            path.display()
        );
    }
    assert!(
        plan(&topology)
            .stacks()
            .all(|s| !matches!(s.kind, StackKind::Arc(_)))
    );
    lint(dir.path());
}

#[test]
fn checkov_passes_the_health_check_templates() {
    let dir = tempfile::tempdir().unwrap();
    synth::write(&topology(), &StackPrefix::default(), None, dir.path()).unwrap();
    checkov(dir.path());
}

/// Each app's record in Region R carries a `CLOUDWATCH_METRIC` health check that follows the
/// alarm, in the other Region, on the flag `RegionOut{App, Region=R}`: taking R out is a
/// `PutMetricData` into the Region that stays up.
#[test]
fn each_record_follows_the_flag_that_takes_its_region_out_held_in_the_other_region() {
    let topology = topology();
    let plan = plan(&topology);
    let prefix = StackPrefix::default();
    let mut records = 0;
    for spec in plan.stacks() {
        let StackKind::App(name, role) = &spec.kind else {
            continue;
        };
        let app_def = topology.app(name).unwrap();
        let region = role.of(&topology.regions);
        let other = topology.regions.other(region).unwrap();
        let Some((_, ParamValue::Output { stack, key })) = spec
            .parameters
            .iter()
            .find(|(k, _)| k == app::PARAM_HEALTH_CHECK)
        else {
            panic!("{}: the health check is not wired from an output", spec.id)
        };
        assert_eq!(
            stack.region, *other,
            "{}: held in the other Region",
            spec.id
        );
        let flags_spec = plan.stacks().find(|s| s.id == *stack).unwrap();
        assert!(
            matches!(flags_spec.kind, StackKind::Flags(r, _) if r == flags::other(*role)),
            "{}",
            flags_spec.id
        );
        let doc = flags_spec.template.to_json();
        let check_id = doc["Outputs"][key]["Value"]["Ref"].as_str().unwrap();
        let config = &doc["Resources"][check_id]["Properties"]["HealthCheckConfig"];
        assert_eq!(config["Type"], "CLOUDWATCH_METRIC");
        assert_eq!(config["AlarmIdentifier"]["Region"], other.as_str());
        assert_eq!(config["InsufficientDataHealthStatus"], "LastKnownStatus");
        let alarm_name = config["AlarmIdentifier"]["Name"].as_str().unwrap();
        assert_eq!(alarm_name, flags::alarm_name(&prefix, app_def, region));
        let (_, alarm) = resources_of_type(&doc, "AWS::CloudWatch::Alarm")
            .into_iter()
            .find(|(_, a)| a["Properties"]["AlarmName"] == alarm_name)
            .expect("the alarm is in the same stack, in the other Region");
        let alarm = &alarm["Properties"];
        assert_eq!(alarm["Namespace"], flags::namespace(&prefix));
        assert_eq!(alarm["MetricName"], FLAG_METRIC_NAME);
        assert_eq!(
            alarm["Dimensions"],
            json!([
                { "Name": "App", "Value": name.as_str() },
                { "Name": "Region", "Value": region.as_str() },
            ])
        );
        assert_eq!(alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
        assert_eq!(alarm["Threshold"], 1);
        assert_eq!(alarm["TreatMissingData"], "ignore");
        assert_eq!(
            alarm["Period"], 60,
            "standard resolution: Route 53 needs it"
        );
        records += 1;
    }
    assert_eq!(records, topology.apps.len() * 2);
    for spec in plan.stacks() {
        iam_is_explicit(&spec.id.name, &spec.template.to_json());
    }
}

/// The write fence reads the app's flags through CloudWatch (both Regions), with the one
/// read action; no ARC variable or permission is left.
#[test]
fn a_fenced_service_reads_its_flags_and_nothing_of_arc() {
    let topology = topology();
    let plan = plan(&topology);
    let mut fenced = 0;
    for spec in plan.stacks() {
        let StackKind::App(name, _) = &spec.kind else {
            continue;
        };
        let Some(service) = topology.service(name) else {
            continue;
        };
        let doc = spec.template.to_json();
        let env = &doc["Resources"]["Function"]["Properties"]["Environment"]["Variables"];
        assert!(env.get(FENCE_CONTROL_ENV).is_none(), "{}", spec.id);
        assert!(!doc.to_string().contains("route53-recovery"), "{}", spec.id);
        let statements: Vec<Value> = resources_of_type(&doc, "AWS::IAM::Role")[0].1["Properties"]
            ["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .clone();
        let reads: Vec<&Value> = statements
            .iter()
            .filter(|s| s["Action"] == FENCE_FLAG_ACTION)
            .collect();
        if !service.fence_writes() {
            assert!(env.get(FENCE_FLAG_NAMESPACE_ENV).is_none(), "{}", spec.id);
            assert!(reads.is_empty(), "{}", spec.id);
            continue;
        }
        fenced += 1;
        assert_eq!(
            env[FENCE_FLAG_NAMESPACE_ENV],
            flags::namespace(&StackPrefix::default())
        );
        assert_eq!(env[FENCE_FLAG_APP_ENV], name.as_str());
        assert_eq!(reads.len(), 1, "{}", spec.id);
    }
    assert_eq!(fenced, 2, "payments in both Regions");
}

/// A Region-scoped synth keeps the other Region's health check ids as they are.
#[test]
fn a_region_scoped_plan_reads_nothing_from_the_other_regions_flags_stack() {
    let topology = topology();
    let region = topology.regions.secondary.clone();
    let plan = synth::region_plan(&topology, &StackPrefix::default(), Some(&region)).unwrap();
    assert!(plan.stacks().all(|s| s.id.region == region));
    let flags_stacks = plan
        .stacks()
        .filter(|s| matches!(s.kind, StackKind::Flags(RegionRole::Secondary, _)))
        .count();
    assert_eq!(flags_stacks, 1);
    for spec in plan.stacks() {
        for (key, value) in &spec.parameters {
            if let ParamValue::Output { stack, .. } = value {
                assert_eq!(stack.region, region, "{}: {key}", spec.id);
            }
        }
    }
}
