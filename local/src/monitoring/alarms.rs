//! Every app's alarms, as the AWS monitoring stacks define them: the names, kinds and Regions
//! of the manifest's [`AppAlarm`]s, the thresholds of the topology (the app's own where it
//! sets them), each judged per minute (scaled locally) and firing when 2 of the last 3
//! minutes breach, missing data (no traffic) not being a breach.
//!
//! One difference: the local CloudWatch has no metric math, and AWS's error-rate alarm is
//! `100 * 5XXError / Count` in metric math. API Gateway publishes `5XXError` as 0 or 1 per
//! request, so its Average is that same share of 5xx responses: the local alarm compares the
//! Average of `5XXError` with the threshold divided by 100.

use local_cloudwatch::{
    AlarmDefinition, AlarmStatistic, ComparisonOperator, Dimensions, MetricId, Period, Statistic,
    TreatMissingData, Unit,
};
use topology::manifest::{AlarmKind, AppAlarm};
use topology::{App, Topology};

use super::metrics::{api_name, function_name};
use super::{MonitoringError, flags};

/// The period of every app alarm on AWS, in seconds (before the local scale).
const PERIOD_SECONDS: i64 = 60;
const EVALUATION_PERIODS: u32 = 3;
const DATAPOINTS_TO_ALARM: u32 = 2;

/// The definition of `alarm`, one of `app`'s in the manifest.
pub fn definition(
    topology: &Topology,
    app: &App,
    alarm: &AppAlarm,
) -> Result<AlarmDefinition, MonitoringError> {
    let invalid = |reason: String| MonitoringError::Alarm {
        name: alarm.name.clone(),
        reason,
    };
    let limits = topology.alarm_thresholds(app);
    let (metric, statistic, unit, threshold, comparison) = match alarm.kind {
        AlarmKind::ErrorRate => (
            metric(
                "AWS/ApiGateway",
                "5XXError",
                [("ApiName", api_name(app.name()))],
            ),
            Statistic::Average.into(),
            None,
            limits.error_rate_percent / 100.0,
            ComparisonOperator::GreaterThanThreshold,
        ),
        AlarmKind::Latency => (
            metric(
                "AWS/ApiGateway",
                "Latency",
                [("ApiName", api_name(app.name()))],
            ),
            AlarmStatistic::Percentile("p99".parse().expect("a valid percentile")),
            Some(Unit::Milliseconds),
            limits.p99_latency_ms as f64,
            ComparisonOperator::GreaterThanThreshold,
        ),
        // "At least N" as "more than N - 1": the thresholds are counts.
        AlarmKind::FunctionErrors => (
            metric(
                "AWS/Lambda",
                "Errors",
                [("FunctionName", function_name(app.name()))],
            ),
            Statistic::Sum.into(),
            None,
            (limits.function_errors - 1) as f64,
            ComparisonOperator::GreaterThanThreshold,
        ),
        AlarmKind::FunctionThrottles => (
            metric(
                "AWS/Lambda",
                "Throttles",
                [("FunctionName", function_name(app.name()))],
            ),
            Statistic::Sum.into(),
            None,
            (limits.function_throttles - 1) as f64,
            ComparisonOperator::GreaterThanThreshold,
        ),
        AlarmKind::ReplicationLatency => {
            let table = app
                .as_service()
                .ok_or_else(|| invalid("only a service has a table".into()))?
                .table()
                .name()
                .to_owned();
            let receiving = topology.regions.other(&alarm.about).ok_or_else(|| {
                invalid(format!("{} is not a Region of the topology", alarm.about))
            })?;
            (
                metric(
                    "AWS/DynamoDB",
                    "ReplicationLatency",
                    [
                        ("TableName", table),
                        ("ReceivingRegion", receiving.to_string()),
                    ],
                ),
                Statistic::Average.into(),
                None,
                limits.replication_latency_ms as f64,
                ComparisonOperator::GreaterThanThreshold,
            )
        }
        AlarmKind::HealthCheck => (
            metric(
                "AWS/Route53",
                "HealthCheckStatus",
                [(
                    "HealthCheckId",
                    flags::health_check_id(app.name(), &alarm.about),
                )],
            ),
            Statistic::Minimum.into(),
            None,
            1.0,
            ComparisonOperator::LessThanThreshold,
        ),
    };
    let name = alarm.name.parse().map_err(|e| invalid(format!("{e}")))?;
    let period = Period::for_alarm(PERIOD_SECONDS).expect("a minute is an alarm period");
    let mut definition = AlarmDefinition::new(
        name,
        metric,
        statistic,
        period,
        EVALUATION_PERIODS,
        comparison,
        threshold,
    );
    definition.unit = unit;
    definition.datapoints_to_alarm = Some(DATAPOINTS_TO_ALARM);
    definition.treat_missing_data = TreatMissingData::NotBreaching;
    definition.description = Some(format!(
        "{} in {}: {} (2 of the last 3 minutes)",
        app.name(),
        alarm.about,
        what(alarm.kind)
    ));
    Ok(definition)
}

fn what(kind: AlarmKind) -> &'static str {
    match kind {
        AlarmKind::ErrorRate => "the API's 5xx responses exceed their share of requests",
        AlarmKind::Latency => "the API's p99 latency exceeds its threshold",
        AlarmKind::FunctionErrors => "the function's errors exceed their threshold",
        AlarmKind::FunctionThrottles => "the function is throttled",
        AlarmKind::ReplicationLatency => "the table's replication toward the other Region lags",
        AlarmKind::HealthCheck => "the failover record's health check is unhealthy",
    }
}

fn metric<const N: usize>(
    namespace: &str,
    name: &str,
    dimensions: [(&str, String); N],
) -> MetricId {
    MetricId::new(
        namespace.parse().expect("a constant namespace"),
        name.parse().expect("a constant metric name"),
        Dimensions::new(dimensions).expect("names and values of the topology are valid"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use topology::manifest::alarms_of;

    #[test]
    fn every_alarm_of_the_manifest_has_its_metric_and_threshold() {
        let text = testkit::FIXTURE_TOPOLOGY.replace(
            "[[apps]]\nname = \"orders\"\nkind = \"service\"\n",
            "[[apps]]\nname = \"orders\"\nkind = \"service\"\n[apps.alarms]\np99_latency_ms = 750\n",
        );
        let topology = Topology::parse(&text).unwrap();
        let orders = topology.app(&"orders".parse().unwrap()).unwrap();
        let alarms = alarms_of(orders, &topology.regions, super::super::PREFIX);
        assert_eq!(alarms.len(), 12, "six kinds in two Regions");
        for alarm in &alarms {
            let d = definition(&topology, orders, alarm).unwrap();
            assert_eq!(d.name.as_str(), alarm.name);
            assert_eq!((d.evaluation_periods, d.datapoints_to_alarm()), (3, 2));
            assert_eq!(d.period.seconds(), 60);
            assert_eq!(d.treat_missing_data, TreatMissingData::NotBreaching);
        }
        let find = |kind: AlarmKind| {
            let a = alarms
                .iter()
                .find(|a| a.kind == kind && a.about.as_str() == "us-east-1")
                .unwrap();
            definition(&topology, orders, a).unwrap()
        };
        let latency = find(AlarmKind::Latency);
        assert_eq!(latency.threshold, 750.0, "the app's own threshold");
        assert_eq!(latency.statistic.to_string(), "p99");
        assert_eq!(latency.unit, Some(Unit::Milliseconds));
        let errors = find(AlarmKind::ErrorRate);
        assert_eq!(errors.threshold, 0.05, "5 % as a share");
        assert_eq!(
            errors.metric.to_string(),
            "AWS/ApiGateway 5XXError [ApiName=local-orders]"
        );
        let lag = find(AlarmKind::ReplicationLatency);
        assert_eq!(
            lag.metric.dimensions.get("ReceivingRegion"),
            Some("us-west-2")
        );
        assert_eq!(find(AlarmKind::FunctionErrors).threshold, 4.0);
        let health = find(AlarmKind::HealthCheck);
        assert_eq!(
            health.metric.to_string(),
            "AWS/Route53 HealthCheckStatus [HealthCheckId=local-orders-us-east-1]"
        );
        assert_eq!(health.comparison, ComparisonOperator::LessThanThreshold);
    }
}
