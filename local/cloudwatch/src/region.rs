//! One Region's CloudWatch: its metrics and its alarms, and every operation on them. Both
//! the wire protocols and the in-process API come here, so they share one set of rules.

use std::collections::BTreeMap;

use topology::Region;

use crate::alarms::{self, AlarmDefinition, AlarmRecord, Evaluation};
use crate::error::CloudWatchError;
use crate::metrics::{MetricDatum, MetricFilter, MetricStore};
use crate::model::{AlarmName, AlarmState, MetricId, Namespace, TimeScale, Timestamp};
use crate::queries::{
    self, GetMetricData, GetMetricStatistics, MetricDataPage, StatisticsDatapoint,
};

/// The most alarms a Region holds here (CloudWatch's own quota is higher; this one bounds
/// memory).
pub const MAX_ALARMS: usize = 10_000;
/// DescribeAlarms' default page size.
const DEFAULT_RECORDS: usize = 50;
/// What DescribeAlarms' `NextToken` starts with: the last alarm name returned follows.
const ALARM_TOKEN_PREFIX: &str = "local-cloudwatch-after:";
/// How many missed period boundaries an alarm is evaluated at when the evaluator is late.
const MAX_CATCH_UP: i64 = 10;
/// The longest SetAlarmState reason.
const MAX_REASON: usize = 1023;
/// The longest SetAlarmState reason data.
const MAX_REASON_DATA: usize = 4000;

/// Which alarms DescribeAlarms returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmQuery {
    /// Only these (at most 100); empty: any.
    pub names: Vec<AlarmName>,
    /// Only names starting with this.
    pub name_prefix: Option<String>,
    pub state: Option<AlarmState>,
    /// Only alarms with an action starting with this.
    pub action_prefix: Option<String>,
    /// 1 to 100; `None`: 50.
    pub max_records: Option<usize>,
    pub next_token: Option<String>,
}

/// A Region's metrics and alarms.
#[derive(Debug)]
pub(crate) struct RegionState {
    region: Region,
    pub(crate) metrics: MetricStore,
    pub(crate) alarms: BTreeMap<AlarmName, AlarmRecord>,
}

impl RegionState {
    pub(crate) fn new(region: Region) -> Self {
        Self {
            region,
            metrics: MetricStore::default(),
            alarms: BTreeMap::new(),
        }
    }

    pub(crate) fn put_metric_data(
        &mut self,
        namespace: &Namespace,
        data: &[MetricDatum],
        now: Timestamp,
    ) -> Result<(), CloudWatchError> {
        self.metrics.put(namespace, data, now)
    }

    pub(crate) fn get_metric_data(
        &self,
        request: &GetMetricData,
    ) -> Result<MetricDataPage, CloudWatchError> {
        queries::get_metric_data(&self.metrics, request)
    }

    pub(crate) fn get_metric_statistics(
        &self,
        request: &GetMetricStatistics,
    ) -> Result<(String, Vec<StatisticsDatapoint>), CloudWatchError> {
        queries::get_metric_statistics(&self.metrics, request)
    }

    pub(crate) fn list_metrics(
        &self,
        filter: &MetricFilter,
        next_token: Option<&str>,
    ) -> Result<(Vec<MetricId>, Option<String>), CloudWatchError> {
        queries::list_metrics(&self.metrics, filter, next_token)
    }

    /// Creates the alarm (INSUFFICIENT_DATA, evaluated at the end of the current period) or
    /// replaces its definition (its state stays).
    pub(crate) fn put_metric_alarm(
        &mut self,
        definition: AlarmDefinition,
        now: Timestamp,
        scale: TimeScale,
    ) -> Result<(), CloudWatchError> {
        definition.check()?;
        if let Some(existing) = self.alarms.get_mut(&definition.name) {
            existing.update(definition, now, scale);
            return Ok(());
        }
        if self.alarms.len() >= MAX_ALARMS {
            return Err(CloudWatchError::LimitExceeded(format!(
                "The maximum number of alarms ({MAX_ALARMS}) has been reached in {}.",
                self.region
            )));
        }
        let arn = alarms::alarm_arn(&self.region, &definition.name);
        self.alarms.insert(
            definition.name.clone(),
            AlarmRecord::new(definition, arn, now, scale),
        );
        Ok(())
    }

    /// The alarms `query` selects, by name, and the token of the next page.
    pub(crate) fn describe_alarms(
        &self,
        query: &AlarmQuery,
    ) -> Result<(Vec<AlarmRecord>, Option<String>), CloudWatchError> {
        if !query.names.is_empty() && query.name_prefix.is_some() {
            return Err(CloudWatchError::Validation(
                "AlarmNames and AlarmNamePrefix cannot be used together.".into(),
            ));
        }
        if query.names.len() > 100 {
            return Err(CloudWatchError::Validation(
                "The collection AlarmNames must not have more than 100 members.".into(),
            ));
        }
        let page = match query.max_records {
            None => DEFAULT_RECORDS,
            Some(n @ 1..=100) => n,
            Some(n) => {
                return Err(CloudWatchError::Validation(format!(
                    "The parameter MaxRecords must be between 1 and 100, not {n}."
                )));
            }
        };
        let after = match query.next_token.as_deref() {
            None => None,
            Some(token) => Some(token.strip_prefix(ALARM_TOKEN_PREFIX).ok_or_else(|| {
                CloudWatchError::InvalidNextToken(format!("The NextToken `{token}` is not valid."))
            })?),
        };
        let mut matching = self
            .alarms
            .values()
            .filter(|a| after.is_none_or(|last| a.definition.name.as_str() > last))
            .filter(|a| query.names.is_empty() || query.names.contains(&a.definition.name))
            .filter(|a| {
                query
                    .name_prefix
                    .as_deref()
                    .is_none_or(|p| a.definition.name.as_str().starts_with(p))
            })
            .filter(|a| query.state.is_none_or(|s| s == a.state))
            .filter(|a| {
                query.action_prefix.as_deref().is_none_or(|p| {
                    let d = &a.definition;
                    d.ok_actions
                        .iter()
                        .chain(&d.alarm_actions)
                        .chain(&d.insufficient_data_actions)
                        .any(|action| action.starts_with(p))
                })
            });
        let records: Vec<AlarmRecord> = matching.by_ref().take(page).cloned().collect();
        let next = match (matching.next(), records.last()) {
            (Some(_), Some(last)) => Some(format!("{ALARM_TOKEN_PREFIX}{}", last.definition.name)),
            _ => None,
        };
        Ok((records, next))
    }

    /// Deletes every named alarm, or none when one of them does not exist.
    pub(crate) fn delete_alarms(&mut self, names: &[AlarmName]) -> Result<(), CloudWatchError> {
        if names.is_empty() {
            return Err(CloudWatchError::missing("AlarmNames"));
        }
        if names.len() > 100 {
            return Err(CloudWatchError::Validation(
                "The collection AlarmNames must not have more than 100 members.".into(),
            ));
        }
        if let Some(missing) = names.iter().find(|n| !self.alarms.contains_key(*n)) {
            return Err(not_found(missing));
        }
        for name in names {
            self.alarms.remove(name);
        }
        Ok(())
    }

    /// Sets an alarm's state until its next evaluation.
    pub(crate) fn set_alarm_state(
        &mut self,
        name: &AlarmName,
        state: AlarmState,
        reason: String,
        reason_data: Option<String>,
        now: Timestamp,
    ) -> Result<(), CloudWatchError> {
        if reason.chars().count() > MAX_REASON {
            return Err(CloudWatchError::Validation(format!(
                "The parameter StateReason must be at most {MAX_REASON} characters long."
            )));
        }
        if let Some(data) = &reason_data {
            if data.chars().count() > MAX_REASON_DATA {
                return Err(CloudWatchError::Validation(format!(
                    "The parameter StateReasonData must be at most {MAX_REASON_DATA} characters long."
                )));
            }
            if serde_json::from_str::<serde_json::Value>(data).is_err() {
                return Err(CloudWatchError::InvalidFormat(
                    "The parameter StateReasonData must be JSON.".into(),
                ));
            }
        }
        let alarm = self.alarms.get_mut(name).ok_or_else(|| not_found(name))?;
        alarm.set_state(state, reason, reason_data, now);
        Ok(())
    }

    /// Evaluates every alarm at each of its period boundaries that has passed, in order, so
    /// that an evaluator woken late misses no period (at most [`MAX_CATCH_UP`] of them: older
    /// ones could not change the outcome); answers when the next one is due (ms since the
    /// epoch), if there is an alarm.
    pub(crate) fn evaluate_due(&mut self, now: Timestamp, scale: TimeScale) -> Option<i64> {
        let metrics = &self.metrics;
        for alarm in self.alarms.values_mut() {
            let length = scale.millis(alarm.definition.period.seconds());
            let last = now.floor_to(length).millis();
            let mut boundary = alarm.next_evaluation.max(last - MAX_CATCH_UP * length);
            while boundary <= now.millis() {
                let at = Timestamp::from_millis(boundary);
                let evaluation = alarms::evaluate(&alarm.definition, metrics, at, scale);
                alarm.apply(&evaluation, at);
                boundary = evaluation.at.millis() + length;
            }
            alarm.next_evaluation = boundary;
        }
        self.alarms.values().map(|a| a.next_evaluation).min()
    }

    /// The length of alarm `name`'s period on the scaled clock, in ms.
    pub(crate) fn period_millis(&self, name: &AlarmName, scale: TimeScale) -> Option<i64> {
        let alarm = self.alarms.get(name)?;
        Some(scale.millis(alarm.definition.period.seconds()))
    }

    /// What alarm `name`'s rule makes of its metric data now (a health check's view, which
    /// ignores the alarm's state), or `None` when there is no such alarm.
    pub(crate) fn evaluate_alarm_data(
        &self,
        name: &AlarmName,
        now: Timestamp,
        scale: TimeScale,
    ) -> Option<Evaluation> {
        let alarm = self.alarms.get(name)?;
        Some(alarms::evaluate(
            &alarm.definition,
            &self.metrics,
            now,
            scale,
        ))
    }
}

fn not_found(name: &AlarmName) -> CloudWatchError {
    CloudWatchError::ResourceNotFound(format!("Alarm {name} does not exist."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricDatum;
    use crate::model::{ComparisonOperator, Dimensions, Period, Statistic};

    fn alarm(name: &str) -> AlarmDefinition {
        AlarmDefinition::new(
            name.parse().unwrap(),
            MetricId::new(
                "MultiRegionApi/Failover".parse().unwrap(),
                "RegionOut".parse().unwrap(),
                Dimensions::none(),
            ),
            Statistic::Maximum,
            Period::for_alarm(10).unwrap(),
            1,
            ComparisonOperator::GreaterThanOrEqualToThreshold,
            1.0,
        )
    }

    fn region() -> RegionState {
        RegionState::new("us-east-1".parse().unwrap())
    }

    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    #[test]
    fn describe_filters_and_pages_by_name() {
        let mut r = region();
        for name in ["b-out", "a-out", "c-other"] {
            r.put_metric_alarm(alarm(name), NOW, TimeScale::AWS)
                .unwrap();
        }
        r.set_alarm_state(
            &"c-other".parse().unwrap(),
            AlarmState::Alarm,
            "test".into(),
            None,
            NOW,
        )
        .unwrap();
        let by_state = AlarmQuery {
            state: Some(AlarmState::Alarm),
            ..AlarmQuery::default()
        };
        let (found, _) = r.describe_alarms(&by_state).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].arn,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:c-other"
        );

        let mut paged = AlarmQuery {
            max_records: Some(2),
            ..AlarmQuery::default()
        };
        let (first, token) = r.describe_alarms(&paged).unwrap();
        assert_eq!(
            first
                .iter()
                .map(|a| a.definition.name.as_str())
                .collect::<Vec<_>>(),
            ["a-out", "b-out"]
        );
        paged.next_token = token;
        let (second, token) = r.describe_alarms(&paged).unwrap();
        assert_eq!(second.len(), 1);
        assert!(token.is_none());

        let both = AlarmQuery {
            names: vec!["a-out".parse().unwrap()],
            name_prefix: Some("a".into()),
            ..AlarmQuery::default()
        };
        assert_eq!(
            r.describe_alarms(&both).unwrap_err().code(),
            "ValidationError"
        );
    }

    #[test]
    fn delete_is_all_or_nothing() {
        let mut r = region();
        r.put_metric_alarm(alarm("a"), NOW, TimeScale::AWS).unwrap();
        let names = ["a".parse().unwrap(), "missing".parse().unwrap()];
        let err = r.delete_alarms(&names).unwrap_err();
        assert_eq!(err.code(), "ResourceNotFound");
        assert_eq!(r.alarms.len(), 1, "nothing deleted");
        r.delete_alarms(&names[..1]).unwrap();
        assert!(r.alarms.is_empty());
    }

    #[test]
    fn set_state_holds_until_the_next_evaluation() {
        let mut r = region();
        r.put_metric_alarm(alarm("a"), NOW, TimeScale::AWS).unwrap();
        let name: AlarmName = "a".parse().unwrap();
        let err = r
            .set_alarm_state(
                &name,
                AlarmState::Alarm,
                "x".into(),
                Some("{not json".into()),
                NOW,
            )
            .unwrap_err();
        assert_eq!(err.code(), "InvalidFormat");
        r.set_alarm_state(
            &name,
            AlarmState::Alarm,
            "drill".into(),
            Some("{}".into()),
            NOW,
        )
        .unwrap();
        assert_eq!(r.alarms[&name].state, AlarmState::Alarm);
        assert_eq!(
            r.evaluate_due(NOW.plus_millis(5_000), TimeScale::AWS),
            Some(NOW.millis() + 10_000)
        );
        assert_eq!(r.alarms[&name].state, AlarmState::Alarm, "not due yet");
        r.evaluate_due(NOW.plus_millis(10_000), TimeScale::AWS);
        assert_eq!(
            r.alarms[&name].state,
            AlarmState::InsufficientData,
            "no data: back to the data's verdict"
        );
        assert!(r.alarms[&name].reason.starts_with("Insufficient Data"));
    }

    #[test]
    fn a_late_evaluator_misses_no_period() {
        let mut r = region();
        let name: AlarmName = "a".parse().unwrap();
        r.put_metric_alarm(alarm("a"), NOW, TimeScale::AWS).unwrap();
        let datum = MetricDatum {
            timestamp: Some(NOW.plus_millis(2_000)),
            ..MetricDatum::value("RegionOut".parse().unwrap(), Dimensions::none(), 1.0)
        };
        r.put_metric_data(&"MultiRegionApi/Failover".parse().unwrap(), &[datum], NOW)
            .unwrap();
        // Woken 25 s late: the boundaries at +10 s (ALARM) and +20 s (no data) are both seen.
        let next = r.evaluate_due(NOW.plus_millis(25_000), TimeScale::AWS);
        assert_eq!(next, Some(NOW.millis() + 30_000));
        let record = &r.alarms[&name];
        // Skipping to +20 s would have left the initial state untouched ("Unchecked: ...");
        // this is a transition back from the ALARM of +10 s.
        assert_eq!(record.state, AlarmState::InsufficientData);
        assert!(
            record.reason.starts_with("Insufficient Data"),
            "{}",
            record.reason
        );
        assert_eq!(
            record.state_updated,
            NOW.plus_millis(20_000),
            "stamped at its boundary"
        );
        let before: serde_json::Value =
            serde_json::from_str(record.reason_data.as_deref().unwrap()).unwrap();
        assert_eq!(before["recentDatapoints"], serde_json::json!([]));
    }

    #[test]
    fn updating_an_alarm_keeps_its_state() {
        let mut r = region();
        let name: AlarmName = "a".parse().unwrap();
        r.put_metric_alarm(alarm("a"), NOW, TimeScale::AWS).unwrap();
        r.set_alarm_state(&name, AlarmState::Ok, "x".into(), None, NOW)
            .unwrap();
        let mut changed = alarm("a");
        changed.threshold = 5.0;
        r.put_metric_alarm(changed, NOW.plus_millis(1), TimeScale::AWS)
            .unwrap();
        assert_eq!(r.alarms[&name].state, AlarmState::Ok);
        assert_eq!(r.alarms[&name].definition.threshold, 5.0);
        assert_eq!(r.alarms[&name].configuration_updated, NOW.plus_millis(1));
    }
}
