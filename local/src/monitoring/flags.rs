//! The `health-check` mechanism's flags, alarms and health checks, defined as the AWS flags
//! stacks define them: per app and Region R, the flag "R is out" (`RegionOut{App, Region=R}`)
//! is published into the other Region, whose alarm on it (Maximum >= 1 over one period,
//! missing data ignored) is followed by the `CLOUDWATCH_METRIC` health check of R's failover
//! record (insufficient data: the last known status).
//!
//! Locally the names carry the prefix [`super::PREFIX`] where AWS's carry the stack prefix.

use local_cloudwatch::{
    AlarmDefinition, AlarmName, ComparisonOperator, Dimensions, FailureThreshold,
    HealthCheckConfig, HealthCheckId, InsufficientDataHealthStatus, MetricId, Namespace, Period,
    RequestInterval, Statistic, TreatMissingData,
};
use topology::manifest::{FLAG_APP_DIMENSION, FLAG_METRIC_NAME, FLAG_REGION_DIMENSION, RegionFlag};
use topology::{AppName, Region, Topology};

use super::{MonitoringError, PREFIX};

/// The flags' namespace: `MultiRegionApi/<prefix>`, as on AWS.
pub fn namespace() -> Namespace {
    format!("MultiRegionApi/{PREFIX}")
        .parse()
        .expect("a constant namespace is valid")
}

/// The name of the alarm on the flag that takes `app` out of `out`.
pub fn alarm_name(app: &AppName, out: &Region) -> String {
    format!("{PREFIX}-{app}-{out}-out")
}

/// The id of the health check of `app`'s failover record in `region` (both mechanisms: in
/// ARC's, the record's `RECOVERY_CONTROL` check, whose status the world publishes too).
pub fn health_check_id(app: &AppName, region: &Region) -> String {
    format!("{PREFIX}-{app}-{region}")
}

/// One flag: the one that takes `app` out of `region`.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub app: AppName,
    /// The Region it takes out.
    pub region: Region,
    /// Where it is published and its alarm evaluated: the other Region.
    pub published_in: Region,
    pub metric: MetricId,
    pub alarm: AlarmName,
    /// The health check of `region`'s record, on `alarm`.
    pub health_check: HealthCheckId,
}

impl Flag {
    /// The flag as the manifest lists it.
    pub fn manifest_entry(&self) -> RegionFlag {
        RegionFlag {
            region: self.region.clone(),
            published_in: self.published_in.clone(),
            alarm_name: self.alarm.to_string(),
            health_check_id: Some(self.health_check.to_string()),
        }
    }

    /// The alarm on the flag, with AWS's period (`failover.health_check.alarm_period_seconds`):
    /// the local CloudWatch scales it.
    pub fn alarm(&self, period_seconds: u32) -> Result<AlarmDefinition, MonitoringError> {
        let period =
            Period::for_alarm(period_seconds.into()).map_err(|e| MonitoringError::Alarm {
                name: self.alarm.to_string(),
                reason: e.to_string(),
            })?;
        let mut alarm = AlarmDefinition::new(
            self.alarm.clone(),
            self.metric.clone(),
            Statistic::Maximum,
            period,
            1,
            ComparisonOperator::GreaterThanOrEqualToThreshold,
            1.0,
        );
        alarm.description = Some(format!(
            "{} is taken out of {} while this flag is 1",
            self.app, self.region
        ));
        alarm.datapoints_to_alarm = Some(1);
        // A flag is published once per move: no new data keeps the state it set.
        alarm.treat_missing_data = TreatMissingData::Ignore;
        Ok(alarm)
    }

    /// The health check of the record, on the flag's alarm: healthy while the alarm's data
    /// says OK, the last known status when it says nothing (as `LastKnownStatus` on AWS).
    /// Route 53 changes a `CLOUDWATCH_METRIC` check's status at the first evaluation that
    /// disagrees (no failure threshold applies).
    pub fn health_check_config(&self) -> HealthCheckConfig {
        HealthCheckConfig {
            insufficient_data: InsufficientDataHealthStatus::LastKnownStatus,
            failure_threshold: FailureThreshold::new(1).expect("1 is a valid threshold"),
            request_interval: RequestInterval::Standard,
            ..HealthCheckConfig::new(self.published_in.clone(), self.alarm.clone())
        }
    }
}

/// Every app's two flags, apps in topology order, primary's flag first.
pub fn flags_of(topology: &Topology) -> Vec<Flag> {
    let regions = &topology.regions;
    topology
        .apps
        .iter()
        .flat_map(|app| {
            regions.both().into_iter().map(|region| {
                let other = regions.other(region).expect("one of the two Regions");
                flag(app.name(), region, other)
            })
        })
        .collect()
}

fn flag(app: &AppName, region: &Region, published_in: &Region) -> Flag {
    let dimensions = Dimensions::new([
        (FLAG_APP_DIMENSION, app.as_str()),
        (FLAG_REGION_DIMENSION, region.as_str()),
    ])
    .expect("app and Region names are valid dimension values");
    Flag {
        app: app.clone(),
        region: region.clone(),
        published_in: published_in.clone(),
        metric: MetricId::new(
            namespace(),
            FLAG_METRIC_NAME.parse().expect("a constant metric name"),
            dimensions,
        ),
        alarm: alarm_name(app, region)
            .parse()
            .expect("app and Region names make a valid alarm name"),
        health_check: health_check_id(app, region)
            .parse()
            .expect("app and Region names make a valid health check id"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flag_lives_in_the_other_region_with_the_alarm_infra_defines() {
        let topology = Topology::parse(testkit::FIXTURE_TOPOLOGY).unwrap();
        let flags = flags_of(&topology);
        assert_eq!(flags.len(), topology.apps.len() * 2);
        let orders = flags
            .iter()
            .find(|f| f.app.as_str() == "orders" && f.region.as_str() == "us-east-1")
            .unwrap();
        assert_eq!(orders.published_in.as_str(), "us-west-2");
        assert_eq!(orders.alarm.as_str(), "local-orders-us-east-1-out");
        assert_eq!(orders.health_check.as_str(), "local-orders-us-east-1");
        assert_eq!(
            orders.metric.to_string(),
            "MultiRegionApi/local RegionOut [App=orders, Region=us-east-1]"
        );
        let alarm = orders.alarm(60).unwrap();
        assert_eq!(alarm.threshold, 1.0);
        assert_eq!(alarm.evaluation_periods, 1);
        assert_eq!(alarm.treat_missing_data, TreatMissingData::Ignore);
        assert_eq!(alarm.period.seconds(), 60);
        let check = orders.health_check_config();
        assert_eq!(check.region.as_str(), "us-west-2");
        assert_eq!(
            check.insufficient_data,
            InsufficientDataHealthStatus::LastKnownStatus
        );
        let entry = orders.manifest_entry();
        assert_eq!(entry.alarm_name, "local-orders-us-east-1-out");
        assert_eq!(
            entry.health_check_id.as_deref(),
            Some("local-orders-us-east-1")
        );
    }
}
