//! What the dashboard and the control API show of the local CloudWatch: per Region, its
//! endpoint, every metric's latest datapoint and every alarm's state.

use serde::Serialize;
use topology::Region;

use crate::Fault;
use crate::alarms::AlarmRecord;
use crate::metrics::Latest;
use crate::model::{
    AlarmName, AlarmState, AlarmStatistic, ComparisonOperator, MetricId, Timestamp,
    TreatMissingData,
};

/// Every Region's CloudWatch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudWatchSnapshot {
    /// The factor alarm periods are scaled by.
    pub period_scale: f64,
    pub regions: Vec<RegionSnapshot>,
}

/// One Region's CloudWatch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionSnapshot {
    pub region: Region,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub fault: Fault,
    pub requests: u64,
    /// Requests whose body came gzip-compressed.
    pub gzip_requests: u64,
    /// Requests answered with an error.
    pub error_responses: u64,
    pub metrics: Vec<MetricSnapshot>,
    pub alarms: Vec<AlarmSnapshot>,
}

/// A metric and its latest datapoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSnapshot {
    #[serde(flatten)]
    pub metric: MetricId,
    pub latest: Option<Latest>,
}

/// An alarm, its rule and its state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmSnapshot {
    pub name: AlarmName,
    pub arn: String,
    pub state: AlarmState,
    pub reason: String,
    pub state_updated: Timestamp,
    pub metric: MetricId,
    /// A statistic (`Maximum`) or a percentile (`p99`).
    pub statistic: AlarmStatistic,
    /// Seconds, before scaling.
    pub period: u32,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
    pub comparison: ComparisonOperator,
    pub threshold: f64,
    pub treat_missing_data: TreatMissingData,
}

impl From<&AlarmRecord> for AlarmSnapshot {
    fn from(record: &AlarmRecord) -> Self {
        let d = &record.definition;
        Self {
            name: d.name.clone(),
            arn: record.arn.clone(),
            state: record.state,
            reason: record.reason.clone(),
            state_updated: record.state_updated,
            metric: d.metric.clone(),
            statistic: d.statistic,
            period: d.period.seconds(),
            evaluation_periods: d.evaluation_periods,
            datapoints_to_alarm: d.datapoints_to_alarm(),
            comparison: d.comparison,
            threshold: d.threshold,
            treat_missing_data: d.treat_missing_data,
        }
    }
}
