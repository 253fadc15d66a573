//! Alarms and dashboards: every app's alarms in both Regions, the health checks' alarms in
//! us-east-1, a dashboard per Region, each alarm under the name the manifest lists.

use std::collections::BTreeSet;

use infra::aws::plan::{StackKind, StackPrefix};
use infra::aws::{monitoring, synth};
use serde_json::Value;
use topology::Topology;
use topology::manifest::{AlarmKind, alarms_of};

use super::aws_synth::resources_of_type;

fn fixtures() -> Vec<(&'static str, Topology)> {
    let extended = testkit::FIXTURE_TOPOLOGY.to_owned()
        + "\n[[apps]]\nname = \"inventory\"\nkind = \"service\"\n[apps.alarms]\np99_latency_ms = 750\n[apps.table]\nname = \"inventory\"\n";
    vec![
        (
            "fixture",
            Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap(),
        ),
        (
            "fixture with inventory",
            Topology::parse(&extended).unwrap(),
        ),
        ("health-check", super::aws_health_check::topology()),
    ]
}

/// Every alarm in the synthesized templates, by name, with the Region of its stack.
fn synthesized_alarms(topology: &Topology) -> Vec<(String, String, Value)> {
    let plan = synth::plan(topology, &StackPrefix::default());
    let mut found = Vec::new();
    for spec in plan.stacks() {
        if matches!(spec.kind, StackKind::Flags(..)) {
            continue; // the health-check mechanism's own alarms, not monitoring's
        }
        let doc = spec.template.to_json();
        for (_, alarm) in resources_of_type(&doc, "AWS::CloudWatch::Alarm") {
            let name = alarm["Properties"]["AlarmName"]
                .as_str()
                .unwrap()
                .to_owned();
            found.push((
                name,
                spec.id.region.to_string(),
                alarm["Properties"].clone(),
            ));
        }
    }
    found
}

#[test]
fn every_app_has_its_alarms_in_both_regions_under_the_manifests_names() {
    for (label, topology) in fixtures() {
        let alarms = synthesized_alarms(&topology);
        let services = topology.services().count();
        let gateways = topology.apps.len() - services;
        // Per Region: 5 per service, 2 per gateway; in us-east-1, a health-check alarm per record.
        let expected = 2 * (5 * services + 2 * gateways) + 2 * topology.apps.len();
        assert_eq!(alarms.len(), expected, "{label}");
        let synthesized: BTreeSet<(String, String)> = alarms
            .iter()
            .map(|(name, region, _)| (name.clone(), region.clone()))
            .collect();
        assert_eq!(synthesized.len(), expected, "{label}: names are unique");
        let listed: BTreeSet<(String, String)> = topology
            .apps
            .iter()
            .flat_map(|app| alarms_of(app, &topology.regions, StackPrefix::default().as_str()))
            .map(|a| (a.name, a.region.to_string()))
            .collect();
        assert_eq!(
            synthesized, listed,
            "{label}: the manifest lists what is deployed"
        );
        for (name, _, properties) in &alarms {
            let actions = &properties["AlarmActions"];
            assert_eq!(
                actions.as_array().map(Vec::len),
                Some(1),
                "{label}: {name} notifies"
            );
            assert_eq!(properties["DatapointsToAlarm"], 2, "{name}");
            assert_eq!(properties["EvaluationPeriods"], 3, "{name}");
        }
        let health: Vec<_> = alarms
            .iter()
            .filter(|(name, _, _)| name.ends_with(AlarmKind::HealthCheck.as_str()))
            .collect();
        assert_eq!(health.len(), 2 * topology.apps.len(), "{label}");
        assert!(health.iter().all(|(_, region, _)| region == "us-east-1"));
    }
}

#[test]
fn an_apps_own_threshold_replaces_the_topologys() {
    let (_, topology) = fixtures().swap_remove(1);
    let latency = |app: &str| -> Vec<f64> {
        synthesized_alarms(&topology)
            .iter()
            .filter(|(name, _, _)| {
                name.contains(&format!("-{app}-"))
                    && name.ends_with("-latency")
                    && !name.ends_with("replication-latency")
            })
            .map(|(_, _, p)| p["Threshold"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(latency("inventory"), [750.0, 750.0]);
    assert_eq!(latency("orders"), [2000.0, 2000.0]);
}

#[test]
fn each_region_has_a_dashboard_of_every_app_and_a_topic() {
    for (label, topology) in fixtures() {
        let plan = synth::plan(&topology, &StackPrefix::default());
        let mut dashboards = 0;
        let mut topics = 0;
        for spec in plan.stacks() {
            let doc = spec.template.to_json();
            topics += resources_of_type(&doc, "AWS::SNS::Topic").len();
            for (_, dashboard) in resources_of_type(&doc, "AWS::CloudWatch::Dashboard") {
                dashboards += 1;
                let body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
                    .as_str()
                    .unwrap();
                let body: Value = serde_json::from_str(body).unwrap();
                let titles: Vec<&str> = body["widgets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| w["properties"]["title"].as_str().unwrap())
                    .collect();
                for app in &topology.apps {
                    for what in [
                        "requests by Region",
                        "5xx errors",
                        "p99 latency",
                        "health checks and routing",
                    ] {
                        let title = format!("{}: {what}", app.name());
                        assert!(
                            titles.iter().any(|t| t.starts_with(&title)),
                            "{label}: {title}"
                        );
                    }
                    let replication = format!("{}: replication latency", app.name());
                    assert_eq!(
                        titles.iter().any(|t| t.starts_with(&replication)),
                        app.as_service().is_some(),
                        "{label}: {replication}"
                    );
                }
            }
        }
        assert_eq!(dashboards, 2, "{label}: one per Region");
        assert_eq!(topics, 2, "{label}: one per Region");
    }
    // With neither Region us-east-1, a third stack there holds the health checks' alarms and
    // a topic of its own.
    let text = testkit::FIXTURE_TOPOLOGY
        .replace("primary = \"us-east-1\"", "primary = \"eu-west-1\"")
        .replace("us-east-1 = \"127.0.1\"", "eu-west-1 = \"127.0.1\"");
    let topology = Topology::parse(&text).unwrap();
    let regions: Vec<String> = monitoring::regions(&topology)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(regions, ["eu-west-1", "us-west-2", "us-east-1"]);
}
