//! The flags stacks of the `health-check` mechanism, one per Region and group of apps
//! ([`super::layout`]): for each app, the alarm on
//! the flag that takes the *other* Region out, and the Route 53 `CLOUDWATCH_METRIC` health check
//! of the other Region's failover record, which follows that alarm. No ARC resource.
//!
//! Each Region holds the flag that takes the other Region out, so a move away from a Region is a
//! `PutMetricData` into the Region that stays up, and never needs the Region being left. With
//! both flags set, both records are unhealthy and Route 53 answers with the primary (its third
//! failover rule): no combination of flags leaves an app without an answer.
//!
//! The alarm keeps its state when no new data arrives (`TreatMissingData: ignore`) and the
//! health check keeps its last status (`InsufficientDataHealthStatus: LastKnownStatus`), so a
//! flag is published once per move, not every period. Route 53 follows only alarms on
//! standard-resolution metrics: the period is whole minutes.

use serde_json::json;
use topology::manifest::{FLAG_APP_DIMENSION, FLAG_METRIC_NAME, FLAG_REGION_DIMENSION};
use topology::{App, Region, Topology};

use super::layout::Group;
use super::names::{RegionRole, StackPrefix};
use super::template::{Template, pascal, reference};

/// The flags' namespace: one per deployment, so that two stack prefixes in one account never
/// read each other's flags.
pub fn namespace(prefix: &StackPrefix) -> String {
    format!("MultiRegionApi/{prefix}")
}

/// The name of the alarm on the flag that takes `app` out of `region`.
pub fn alarm_name(prefix: &StackPrefix, app: &App, region: &Region) -> String {
    format!("{prefix}-{}-{region}-out", app.name())
}

/// Output key of the health check of `app`'s record in the Region that plays `role`: the same
/// key the ARC stack uses, so app stacks wire either the same way.
pub fn output_health_check(app: &App, role: RegionRole) -> String {
    super::arc::output_health_check(app, role)
}

/// The flags template of `group`'s `apps` in the Region that plays `here`: alarms and health
/// checks for the records of the other Region.
pub fn template(
    topology: &Topology,
    prefix: &StackPrefix,
    here: RegionRole,
    apps: &[&App],
    group: Group,
) -> Template {
    let there = other(here);
    let region = here.of(&topology.regions);
    let out = there.of(&topology.regions);
    let which = if group.is_first() {
        String::new()
    } else {
        format!(" ({group} of the apps)")
    };
    let mut t = Template::new(format!(
        "Failover flags{which}: per app, the alarm on the flag that takes {out} out, and the \
         CLOUDWATCH_METRIC health check of {out}'s failover record"
    ));
    let period = topology.failover.health_check.alarm_period_seconds;
    for app in apps {
        let id = format!("{}{}", pascal(app.name().as_str()), there.pascal());
        let alarm = alarm_name(prefix, app, out);
        t.resource(
            &format!("{id}OutAlarm"),
            "AWS::CloudWatch::Alarm",
            json!({
                "AlarmName": alarm,
                "AlarmDescription": format!(
                    "{} is taken out of {out} while this flag is 1 (`failover shift`)",
                    app.name()
                ),
                "Namespace": namespace(prefix),
                "MetricName": FLAG_METRIC_NAME,
                "Dimensions": [
                    { "Name": FLAG_APP_DIMENSION, "Value": app.name().as_str() },
                    { "Name": FLAG_REGION_DIMENSION, "Value": out.as_str() },
                ],
                "Statistic": "Maximum",
                "Period": period,
                "EvaluationPeriods": 1,
                "DatapointsToAlarm": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                // A flag is published once per move: no new data keeps the state it set.
                "TreatMissingData": "ignore",
            }),
        );
        let check = format!("{id}HealthCheck");
        let resource = t.resource(
            &check,
            "AWS::Route53::HealthCheck",
            json!({
                "HealthCheckConfig": {
                    "Type": "CLOUDWATCH_METRIC",
                    "AlarmIdentifier": { "Region": region.as_str(), "Name": alarm },
                    "InsufficientDataHealthStatus": "LastKnownStatus",
                },
                "HealthCheckTags": [
                    { "Key": "Name", "Value": format!("{prefix}-{}-{out}", app.name()) }
                ],
            }),
        );
        // Route 53 refuses a health check on an alarm that does not exist yet.
        resource.insert("DependsOn".into(), format!("{id}OutAlarm").into());
        t.output(
            &output_health_check(app, there),
            &format!(
                "Health check of {}'s record in {out}, on the alarm of its flag here",
                app.name()
            ),
            reference(&check),
        );
    }
    t
}

/// The Region role that is not `role`.
pub fn other(role: RegionRole) -> RegionRole {
    match role {
        RegionRole::Primary => RegionRole::Secondary,
        RegionRole::Secondary => RegionRole::Primary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Topology {
        let text = testkit::FIXTURE_TOPOLOGY.replace(
            "[arc]\n",
            "[failover]\nmechanism = \"health-check\"\n[arc]\n",
        );
        Topology::parse(&text).unwrap()
    }

    #[test]
    fn each_region_holds_the_alarms_and_health_checks_of_the_other_regions_records() {
        let topology = topology();
        let prefix = StackPrefix::default();
        let apps: Vec<&App> = topology.apps.iter().collect();
        let t = template(
            &topology,
            &prefix,
            RegionRole::Secondary,
            &apps,
            Group::FIRST,
        )
        .to_json();
        let resources = t["Resources"].as_object().unwrap();
        let alarms: Vec<_> = resources
            .values()
            .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
            .collect();
        assert_eq!(alarms.len(), topology.apps.len());
        for alarm in &alarms {
            let p = &alarm["Properties"];
            assert_eq!(p["Dimensions"][1]["Value"], "us-east-1", "{p}");
            assert_eq!(p["Period"], 60);
            assert_eq!(p["Namespace"], "MultiRegionApi/multi-region-api");
        }
        let check = &resources["OrdersPrimaryHealthCheck"];
        assert_eq!(check["DependsOn"], "OrdersPrimaryOutAlarm");
        let config = &check["Properties"]["HealthCheckConfig"];
        assert_eq!(config["Type"], "CLOUDWATCH_METRIC");
        assert_eq!(config["AlarmIdentifier"]["Region"], "us-west-2");
        assert_eq!(
            config["AlarmIdentifier"]["Name"],
            "multi-region-api-orders-us-east-1-out"
        );
        assert_eq!(config["InsufficientDataHealthStatus"], "LastKnownStatus");
        assert!(t["Outputs"]["OrdersPrimaryHealthCheckId"].is_object());
        assert!(!t.to_string().contains("Route53RecoveryControl"));
    }
}
