//! Alarms and dashboards, generated from the topology, in both Regions.
//!
//! - Each Region's bootstrap stack has the Region's alarm topic (SNS), with the optional e-mail
//!   subscription of `[alarms] email`.
//! - Each app stack has the app's alarms in its Region: the API's 5xx rate and p99 latency,
//!   and for a service its function's errors and throttles and its table's replication
//!   latency toward the other Region ([`app_alarms`]).
//! - Each Region's monitoring stacks (one per group of apps, [`super::layout`]) have a
//!   dashboard each, of the group's apps in both Regions: requests, 5xx errors, p99 latency,
//!   replication latency, the health checks of its failover records and which Region Route 53
//!   answers with. A dashboard takes at most 500 widgets; a group's has at most 125.
//! - Route 53 publishes health-check metrics only in us-east-1, so the alarms on the failover
//!   records' health checks live in the us-east-1 monitoring stacks (third stacks when us-east-1
//!   is neither Region: the first group's has a topic of its own, which the others notify). While us-east-1 is the Region in trouble those
//!   alarms and dashboard widgets are unknown; `failover status` then shows them as unknown and
//!   reads the routing state from DNS and from the routing controls or flags instead.
//!
//! Every alarm is judged per minute and fires when 2 of the last 3 minutes breach; missing data
//! (no traffic) is not a breach.

use serde_json::{Value, json};
use topology::manifest::{AlarmKind, ROUTE53_METRICS_REGION};
use topology::{AlarmThresholds, App, Region, Topology};

use super::layout::Group;
use super::names::{RegionRole, StackPrefix};
use super::template::{Template, pascal, reference, skip_checks, sub};

/// Output of the bootstrap stack: the Region's alarm topic.
pub const OUTPUT_ALARM_TOPIC: &str = "AlarmTopicArn";
/// The parameter that takes the alarm topic, in app and monitoring stacks.
pub const PARAM_ALARM_TOPIC: &str = "AlarmTopicArn";

const PERIOD_SECONDS: u32 = 60;
const EVALUATION_PERIODS: u32 = 3;
const DATAPOINTS_TO_ALARM: u32 = 2;

/// The Region of Route 53's health-check metrics.
pub fn route53_metrics_region() -> Region {
    ROUTE53_METRICS_REGION
        .parse()
        .expect("a constant Region name is valid")
}

/// The Regions that get a monitoring stack: both of the topology's, and us-east-1 for the
/// health-check alarms when it is neither.
pub fn regions(topology: &Topology) -> Vec<Region> {
    let mut regions: Vec<Region> = topology.regions.both().into_iter().cloned().collect();
    let route53 = route53_metrics_region();
    if !regions.contains(&route53) {
        regions.push(route53);
    }
    regions
}

/// The parameter of a monitoring stack that takes the id of `app`'s health check in `role`.
pub fn param_health_check(app: &App, role: RegionRole) -> String {
    format!(
        "{}{}HealthCheckId",
        pascal(app.name().as_str()),
        role.pascal()
    )
}

/// Adds the Region's alarm topic (and the e-mail subscription, when configured) to a
/// template, with its ARN as [`OUTPUT_ALARM_TOPIC`].
pub fn alarm_topic(t: &mut Template, topology: &Topology, prefix: &StackPrefix) {
    let topic = t.resource(
        "AlarmTopic",
        "AWS::SNS::Topic",
        json!({ "TopicName": format!("{prefix}-alarms"), "DisplayName": format!("{prefix} alarms") }),
    );
    skip_checks(
        topic,
        &[(
            "CKV_AWS_26",
            "alarm notifications carry no data beyond alarm names and states, and CloudWatch cannot publish to a topic encrypted with the AWS managed key",
        )],
    );
    t.resource(
        "AlarmTopicPolicy",
        "AWS::SNS::TopicPolicy",
        json!({
            "Topics": [reference("AlarmTopic")],
            "PolicyDocument": { "Version": "2012-10-17", "Statement": [ {
                "Sid": "CloudWatchAlarmsOfThisAccount", "Effect": "Allow",
                "Principal": { "Service": "cloudwatch.amazonaws.com" },
                "Action": "sns:Publish",
                "Resource": reference("AlarmTopic"),
                "Condition": { "StringEquals": { "aws:SourceAccount": sub("${AWS::AccountId}") } }
            } ] }
        }),
    );
    if let Some(email) = &topology.alarms.email {
        t.resource(
            "AlarmEmailSubscription",
            "AWS::SNS::Subscription",
            json!({ "TopicArn": reference("AlarmTopic"), "Protocol": "email", "Endpoint": email }),
        );
    }
    t.output(
        OUTPUT_ALARM_TOPIC,
        "Where this Region's alarms notify",
        reference("AlarmTopic"),
    );
}

/// Adds `app`'s alarms in the Region that plays `role` to its app stack: they name the
/// stack's own API, function and table, and notify the topic in [`PARAM_ALARM_TOPIC`].
pub fn app_alarms(
    t: &mut Template,
    topology: &Topology,
    prefix: &StackPrefix,
    app: &App,
    role: RegionRole,
) {
    t.parameter(
        PARAM_ALARM_TOPIC,
        "This Region's alarm topic (bootstrap stack)",
        None,
    );
    let region = role.of(&topology.regions);
    let limits = topology.alarm_thresholds(app);
    for kind in AlarmKind::ALL
        .into_iter()
        .filter(|k| k.applies_to(app) && *k != AlarmKind::HealthCheck)
    {
        let name = kind.alarm_name(prefix.as_str(), app.name(), region);
        let mut properties = alarm_metric(kind, topology, prefix, app, region, &limits);
        properties["AlarmName"] = name.into();
        properties["AlarmDescription"] = description(kind, app, region).into();
        notify(&mut properties, reference(PARAM_ALARM_TOPIC));
        t.resource(
            &format!("{}Alarm", pascal(kind.as_str())),
            "AWS::CloudWatch::Alarm",
            properties,
        );
    }
}

fn description(kind: AlarmKind, app: &App, region: &Region) -> String {
    let what = match kind {
        AlarmKind::ErrorRate => "the API's 5xx responses exceed their share of requests",
        AlarmKind::Latency => "the API's p99 latency exceeds its threshold",
        AlarmKind::FunctionErrors => "the function's errors exceed their threshold",
        AlarmKind::FunctionThrottles => "the function is throttled",
        AlarmKind::ReplicationLatency => "the table's replication toward the other Region lags",
        AlarmKind::HealthCheck => "the failover record's health check is unhealthy",
    };
    format!(
        "{} in {region}: {what} (2 of the last 3 minutes)",
        app.name()
    )
}

fn notify(properties: &mut Value, topic: Value) {
    properties["AlarmActions"] = json!([topic.clone()]);
    properties["OKActions"] = json!([topic]);
    properties["EvaluationPeriods"] = EVALUATION_PERIODS.into();
    properties["DatapointsToAlarm"] = DATAPOINTS_TO_ALARM.into();
    properties["TreatMissingData"] = "notBreaching".into();
}

/// The metric (or metric math) and threshold of one of an app stack's alarms.
fn alarm_metric(
    kind: AlarmKind,
    topology: &Topology,
    prefix: &StackPrefix,
    app: &App,
    region: &Region,
    limits: &AlarmThresholds,
) -> Value {
    let api = json!([{ "Name": "ApiName", "Value": api_name(prefix, app) }]);
    let simple = |namespace: &str, metric: &str, dimensions: Value, statistic: &str, threshold| {
        json!({
            "Namespace": namespace, "MetricName": metric, "Dimensions": dimensions,
            "Statistic": statistic, "Period": PERIOD_SECONDS,
            "Threshold": threshold, "ComparisonOperator": "GreaterThanThreshold",
        })
    };
    match kind {
        AlarmKind::ErrorRate => {
            let stat = |id: &str, metric: &str| {
                json!({ "Id": id, "ReturnData": false, "MetricStat": {
                    "Metric": { "Namespace": "AWS/ApiGateway", "MetricName": metric, "Dimensions": api },
                    "Period": PERIOD_SECONDS, "Stat": "Sum" } })
            };
            json!({
                "Metrics": [
                    stat("errors", "5XXError"),
                    stat("requests", "Count"),
                    { "Id": "rate", "Label": "5xx, % of requests", "ReturnData": true,
                      "Expression": "IF(requests > 0, 100 * errors / requests, 0)" },
                ],
                "Threshold": limits.error_rate_percent,
                "ComparisonOperator": "GreaterThanThreshold",
            })
        }
        AlarmKind::Latency => json!({
            "Namespace": "AWS/ApiGateway", "MetricName": "Latency", "Dimensions": api,
            "ExtendedStatistic": "p99", "Period": PERIOD_SECONDS, "Unit": "Milliseconds",
            "Threshold": limits.p99_latency_ms, "ComparisonOperator": "GreaterThanThreshold",
        }),
        AlarmKind::FunctionErrors => simple(
            "AWS/Lambda",
            "Errors",
            json!([{ "Name": "FunctionName", "Value": reference("Function") }]),
            "Sum",
            // "At least N" as "more than N - 1": the threshold is a count of errors.
            json!(limits.function_errors - 1),
        ),
        AlarmKind::FunctionThrottles => simple(
            "AWS/Lambda",
            "Throttles",
            json!([{ "Name": "FunctionName", "Value": reference("Function") }]),
            "Sum",
            json!(limits.function_throttles - 1),
        ),
        AlarmKind::ReplicationLatency => {
            let other = topology
                .regions
                .other(region)
                .expect("an app stack is in one of the two Regions");
            simple(
                "AWS/DynamoDB",
                "ReplicationLatency",
                json!([
                    { "Name": "TableName", "Value": reference(super::app::PARAM_TABLE) },
                    { "Name": "ReceivingRegion", "Value": other.as_str() },
                ]),
                "Average",
                json!(limits.replication_latency_ms),
            )
        }
        AlarmKind::HealthCheck => unreachable!("health-check alarms live in us-east-1"),
    }
}

/// The REST API's name, as the app stack sets it: API Gateway's metrics carry it.
pub fn api_name(prefix: &StackPrefix, app: &App) -> String {
    format!("{prefix}-{}", app.name())
}

/// Whether the monitoring stack of `group` in `region` notifies a topic it creates (the first
/// group's in us-east-1 when us-east-1 is neither of the topology's Regions), one it takes as
/// [`PARAM_ALARM_TOPIC`], or none (no health-check alarms there).
pub fn alarm_topic_of(topology: &Topology, region: &Region, group: Group) -> TopicSource {
    if *region != route53_metrics_region() {
        TopicSource::NoAlarms
    } else if topology.regions.contains(region) {
        TopicSource::Bootstrap
    } else if group.is_first() {
        TopicSource::Own
    } else {
        TopicSource::FirstMonitoringStack
    }
}

/// Where a monitoring stack's health-check alarms notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicSource {
    /// No health-check alarms in this Region.
    NoAlarms,
    /// The Region's bootstrap stack's topic, as [`PARAM_ALARM_TOPIC`].
    Bootstrap,
    /// A topic of its own, output as [`OUTPUT_ALARM_TOPIC`].
    Own,
    /// The first group's monitoring stack's topic in this Region, as [`PARAM_ALARM_TOPIC`].
    FirstMonitoringStack,
}

/// The monitoring stack of `group`'s `apps` in `region`: the dashboard (in the topology's
/// Regions), and in us-east-1 the alarms on the failover records' health checks.
pub fn template(
    topology: &Topology,
    prefix: &StackPrefix,
    region: &Region,
    apps: &[&App],
    group: Group,
) -> Template {
    let in_topology = topology.regions.contains(region);
    let with_health_alarms = *region == route53_metrics_region();
    let contents = match (in_topology, with_health_alarms) {
        (true, true) => {
            "Monitoring: the dashboard, and the alarms on the failover records' health checks (Route 53's metrics are in us-east-1)"
        }
        (true, false) => "Monitoring: the dashboard of every app in both Regions",
        (false, _) => {
            "Monitoring: the alarms on the failover records' health checks (Route 53's metrics are in us-east-1)"
        }
    };
    let mut t = Template::new(if group.is_first() {
        contents.to_owned()
    } else {
        format!("{contents} ({group} of the apps)")
    });
    for app in apps {
        for role in RegionRole::BOTH {
            t.parameter(
                &param_health_check(app, role),
                &format!(
                    "The health check of {}'s failover record in {}",
                    app.name(),
                    role.of(&topology.regions)
                ),
                None,
            );
        }
    }
    if in_topology {
        dashboard(&mut t, topology, prefix, region, apps, group);
    }
    let topic = match alarm_topic_of(topology, region, group) {
        TopicSource::NoAlarms => None,
        TopicSource::Bootstrap => {
            t.parameter(
                PARAM_ALARM_TOPIC,
                "This Region's alarm topic (bootstrap stack)",
                None,
            );
            Some(reference(PARAM_ALARM_TOPIC))
        }
        TopicSource::FirstMonitoringStack => {
            t.parameter(
                PARAM_ALARM_TOPIC,
                "This Region's alarm topic (the first monitoring stack's)",
                None,
            );
            Some(reference(PARAM_ALARM_TOPIC))
        }
        TopicSource::Own => {
            alarm_topic(&mut t, topology, prefix);
            Some(reference("AlarmTopic"))
        }
    };
    if let Some(topic) = topic {
        health_check_alarms(&mut t, topology, prefix, apps, &topic);
    }
    t
}

fn health_check_alarms(
    t: &mut Template,
    topology: &Topology,
    prefix: &StackPrefix,
    apps: &[&App],
    topic: &Value,
) {
    for app in apps {
        for role in RegionRole::BOTH {
            let about = role.of(&topology.regions);
            let mut properties = json!({
                "AlarmName": AlarmKind::HealthCheck.alarm_name(prefix.as_str(), app.name(), about),
                "AlarmDescription": description(AlarmKind::HealthCheck, app, about),
                "Namespace": "AWS/Route53", "MetricName": "HealthCheckStatus",
                "Dimensions": [{ "Name": "HealthCheckId", "Value": reference(&param_health_check(app, role)) }],
                "Statistic": "Minimum", "Period": PERIOD_SECONDS,
                "Threshold": 1, "ComparisonOperator": "LessThanThreshold",
            });
            notify(&mut properties, topic.clone());
            t.resource(
                &format!(
                    "{}{}HealthCheckAlarm",
                    pascal(app.name().as_str()),
                    role.pascal()
                ),
                "AWS::CloudWatch::Alarm",
                properties,
            );
        }
    }
}

/// One dashboard per Region and group, of the group's apps in both Regions, so that either
/// Region's console shows the whole picture (each metric names its own Region).
fn dashboard(
    t: &mut Template,
    topology: &Topology,
    prefix: &StackPrefix,
    region: &Region,
    apps: &[&App],
    group: Group,
) {
    let regions = topology.regions.both();
    let route53 = route53_metrics_region();
    let mut widgets = Vec::new();
    let width = 6;
    for (row, app) in apps.iter().enumerate() {
        let y = row * 6;
        let api = api_name(prefix, app);
        let per_region = |metric: &str, stat: &str| -> Vec<Value> {
            regions
                .iter()
                .map(|r| {
                    json!(["AWS/ApiGateway", metric, "ApiName", api, { "region": r.as_str(), "stat": stat, "label": r.as_str() }])
                })
                .collect()
        };
        let mut row_widgets = vec![
            metric_widget(
                &format!("{}: requests by Region", app.name()),
                per_region("Count", "Sum"),
                region,
            ),
            metric_widget(
                &format!("{}: 5xx errors", app.name()),
                per_region("5XXError", "Sum"),
                region,
            ),
            metric_widget(
                &format!("{}: p99 latency (ms)", app.name()),
                per_region("Latency", "p99"),
                region,
            ),
        ];
        if let Some(service) = app.as_service() {
            let table = super::data::table_name(prefix, service.table());
            let lag = regions
                .iter()
                .map(|from| {
                    let to = topology.regions.other(from).expect("one of the two");
                    json!(["AWS/DynamoDB", "ReplicationLatency", "TableName", table, "ReceivingRegion", to.as_str(),
                        { "region": from.as_str(), "stat": "Average", "label": format!("{from} → {to}") }])
                })
                .collect();
            row_widgets.push(metric_widget(
                &format!("{}: replication latency (ms)", app.name()),
                lag,
                region,
            ));
        }
        // Health checks (1 healthy, 0 not) and the answer Route 53 gives by its failover rules:
        // the primary while its check is healthy or the secondary's is not, else the secondary.
        let check = |role: RegionRole, id: &str, visible: bool| {
            json!(["AWS/Route53", "HealthCheckStatus", "HealthCheckId", format!("${{{}}}", param_health_check(app, role)),
                { "region": route53.as_str(), "stat": "Minimum", "id": id, "visible": visible,
                  "label": format!("{} record healthy", role.of(&topology.regions)) }])
        };
        row_widgets.push(metric_widget(
            &format!("{}: health checks and routing", app.name()),
            vec![
                check(RegionRole::Primary, "p", true),
                check(RegionRole::Secondary, "s", true),
                json!([{ "expression": "IF(p == 1 OR s == 0, 1, 2)",
                    "label": format!("answered: 1 = {}, 2 = {}", topology.regions.primary, topology.regions.secondary),
                    "region": route53.as_str() }]),
            ],
            region,
        ));
        for (column, mut widget) in row_widgets.into_iter().enumerate() {
            widget["x"] = (column * width).into();
            widget["y"] = y.into();
            widgets.push(widget);
        }
    }
    let body = json!({ "widgets": widgets }).to_string();
    t.resource(
        "Dashboard",
        "AWS::CloudWatch::Dashboard",
        json!({
            "DashboardName": format!("{prefix}-{region}{}", group.suffix()),
            // The health check ids come in as parameters.
            "DashboardBody": { "Fn::Sub": body },
        }),
    );
}

fn metric_widget(title: &str, metrics: Vec<Value>, region: &Region) -> Value {
    json!({
        "type": "metric", "width": 6, "height": 6,
        "properties": {
            "title": title, "metrics": metrics, "view": "timeSeries",
            "period": PERIOD_SECONDS, "region": region.as_str(),
        }
    })
}
