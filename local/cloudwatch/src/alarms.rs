//! Metric alarms: their definition, their state, and their evaluation as CloudWatch does it.
//!
//! An alarm with period P, N evaluation periods and M datapoints to alarm is evaluated at the
//! end of each of its periods (periods last `P × scale` locally and are aligned on the epoch),
//! over the N periods that just ended: each period's statistic breaches the threshold, does
//! not, or is missing. Missing periods count as the alarm's `TreatMissingData` says:
//! `breaching` and `notBreaching` count them as such; with `missing` and `ignore` they do not
//! count, and when every period is missing the alarm goes to INSUFFICIENT_DATA (`missing`) or
//! keeps its state (`ignore`). Otherwise the alarm is in ALARM when at least M periods breach,
//! or when fewer than M periods have data and all of those breach (CloudWatch's rule for
//! partial data), and OK otherwise.
//!
//! A percentile alarm (`ExtendedStatistic`, e.g. `p99`) computes the nearest-rank percentile of
//! the values published in each period; a period holding a statistic set has no percentile and
//! counts as missing.
//!
//! Not emulated: CloudWatch looking further back than N periods for data, metric math and
//! anomaly-detection alarms, actions (they are stored, never run).

use serde::Serialize;

use crate::error::CloudWatchError;
use crate::metrics::MetricStore;
use crate::model::{
    AlarmName, AlarmState, AlarmStatistic, ComparisonOperator, MetricId, Period, TimeScale,
    Timestamp, TreatMissingData, Unit,
};

/// The longest alarm description.
const MAX_DESCRIPTION: usize = 1024;
/// The most actions per alarm state.
const MAX_ACTIONS: usize = 5;
/// The longest evaluation range: periods × evaluation periods, one day.
const MAX_RANGE_SECONDS: u64 = 24 * 3600;
/// The account the local CloudWatch pretends to live in (the same as the local ARC cluster's).
pub const ACCOUNT: &str = "123456789012";

/// A metric alarm as PutMetricAlarm defines it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmDefinition {
    pub name: AlarmName,
    pub description: Option<String>,
    pub actions_enabled: bool,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub metric: MetricId,
    /// `Statistic`, or `ExtendedStatistic` for a percentile.
    pub statistic: AlarmStatistic,
    pub period: Period,
    /// Only datapoints published with this unit count.
    pub unit: Option<Unit>,
    pub evaluation_periods: u32,
    /// M of "M out of N"; `None`: N.
    pub datapoints_to_alarm: Option<u32>,
    pub threshold: f64,
    pub comparison: ComparisonOperator,
    pub treat_missing_data: TreatMissingData,
}

impl AlarmDefinition {
    /// An alarm on `metric` with CloudWatch's defaults: no description, actions enabled but
    /// none, every evaluation period must breach, missing data as missing.
    pub fn new(
        name: AlarmName,
        metric: MetricId,
        statistic: impl Into<AlarmStatistic>,
        period: Period,
        evaluation_periods: u32,
        comparison: ComparisonOperator,
        threshold: f64,
    ) -> Self {
        Self {
            name,
            description: None,
            actions_enabled: true,
            ok_actions: Vec::new(),
            alarm_actions: Vec::new(),
            insufficient_data_actions: Vec::new(),
            metric,
            statistic: statistic.into(),
            period,
            unit: None,
            evaluation_periods,
            datapoints_to_alarm: None,
            threshold,
            comparison,
            treat_missing_data: TreatMissingData::Missing,
        }
    }

    /// M: how many of the N periods must breach.
    pub fn datapoints_to_alarm(&self) -> u32 {
        self.datapoints_to_alarm.unwrap_or(self.evaluation_periods)
    }

    /// CloudWatch's checks across fields (the fields themselves are valid by their types).
    pub(crate) fn check(&self) -> Result<(), CloudWatchError> {
        let invalid = |m: String| Err(CloudWatchError::Validation(m));
        if self.evaluation_periods == 0 {
            return invalid("The parameter EvaluationPeriods must be at least 1.".into());
        }
        let range = u64::from(self.period.seconds()) * u64::from(self.evaluation_periods);
        if range > MAX_RANGE_SECONDS {
            return invalid(format!(
                "Period ({}) multiplied by EvaluationPeriods ({}) must not exceed one day ({MAX_RANGE_SECONDS} seconds).",
                self.period.seconds(),
                self.evaluation_periods
            ));
        }
        if let Some(m) = self.datapoints_to_alarm
            && (m == 0 || m > self.evaluation_periods)
        {
            return invalid(format!(
                "DatapointsToAlarm ({m}) must be between 1 and EvaluationPeriods ({}).",
                self.evaluation_periods
            ));
        }
        if !self.threshold.is_finite() {
            return invalid(format!(
                "The parameter Threshold ({}) must be a finite number.",
                self.threshold
            ));
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
        {
            return invalid(format!(
                "The parameter AlarmDescription must be at most {MAX_DESCRIPTION} characters long."
            ));
        }
        for (name, actions) in [
            ("OKActions", &self.ok_actions),
            ("AlarmActions", &self.alarm_actions),
            ("InsufficientDataActions", &self.insufficient_data_actions),
        ] {
            if actions.len() > MAX_ACTIONS {
                return invalid(format!(
                    "The collection {name} must not have more than {MAX_ACTIONS} members."
                ));
            }
            if let Some(bad) = actions.iter().find(|a| !a.starts_with("arn:")) {
                return invalid(format!(
                    "Invalid action `{bad}` in {name}: actions are ARNs."
                ));
            }
        }
        Ok(())
    }
}

/// What a period holds, judged against the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodVerdict {
    Breaching,
    NotBreaching,
    Missing,
}

/// What the periods decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go to (or stay in) this state.
    State(AlarmState),
    /// Keep the current state (`ignore`, every period missing).
    Keep,
}

/// The decision for periods judged `verdicts`, M = `datapoints_to_alarm`.
pub fn decide(
    verdicts: &[PeriodVerdict],
    datapoints_to_alarm: u32,
    treat: TreatMissingData,
) -> Decision {
    let counted: Vec<PeriodVerdict> = verdicts
        .iter()
        .map(|v| match (v, treat) {
            (PeriodVerdict::Missing, TreatMissingData::Breaching) => PeriodVerdict::Breaching,
            (PeriodVerdict::Missing, TreatMissingData::NotBreaching) => PeriodVerdict::NotBreaching,
            (v, _) => *v,
        })
        .collect();
    let breaching = counted
        .iter()
        .filter(|v| **v == PeriodVerdict::Breaching)
        .count();
    let present = counted
        .iter()
        .filter(|v| **v != PeriodVerdict::Missing)
        .count();
    if present == 0 {
        return match treat {
            TreatMissingData::Ignore => Decision::Keep,
            _ => Decision::State(AlarmState::InsufficientData),
        };
    }
    let m = usize::try_from(datapoints_to_alarm).unwrap_or(usize::MAX);
    let alarm = breaching >= m || (present < m && breaching == present);
    Decision::State(if alarm {
        AlarmState::Alarm
    } else {
        AlarmState::Ok
    })
}

/// One period's statistic, as an evaluation saw it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EvaluatedPeriod {
    /// The period's start.
    pub start: Timestamp,
    /// Its statistic; `None` when it had no data.
    pub value: Option<f64>,
}

/// The outcome of evaluating an alarm's rule on its metric data at one period boundary.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub decision: Decision,
    /// The periods, newest first.
    pub periods: Vec<EvaluatedPeriod>,
    /// The boundary: the end of the newest period.
    pub at: Timestamp,
}

/// Evaluates `alarm` on `metrics` over the periods that ended at the last boundary at or
/// before `now`, each period lasting `period × scale`.
pub(crate) fn evaluate(
    alarm: &AlarmDefinition,
    metrics: &MetricStore,
    now: Timestamp,
    scale: TimeScale,
) -> Evaluation {
    let length = scale.millis(alarm.period.seconds());
    let boundary = now.floor_to(length);
    let periods: Vec<EvaluatedPeriod> = (0..i64::from(alarm.evaluation_periods))
        .map(|i| {
            let end = boundary.plus_millis(-i * length);
            let start = end.plus_millis(-length);
            let value = match alarm.statistic {
                AlarmStatistic::Standard(statistic) => metrics
                    .window(&alarm.metric, start, end, alarm.unit)
                    .map(|a| a.value(statistic)),
                AlarmStatistic::Percentile(p) => {
                    metrics.window_percentile(&alarm.metric, start, end, alarm.unit, p)
                }
            };
            EvaluatedPeriod { start, value }
        })
        .collect();
    let verdicts: Vec<PeriodVerdict> = periods
        .iter()
        .map(|p| match p.value {
            None => PeriodVerdict::Missing,
            Some(v) if alarm.comparison.breaches(v, alarm.threshold) => PeriodVerdict::Breaching,
            Some(_) => PeriodVerdict::NotBreaching,
        })
        .collect();
    Evaluation {
        decision: decide(
            &verdicts,
            alarm.datapoints_to_alarm(),
            alarm.treat_missing_data,
        ),
        periods,
        at: boundary,
    }
}

/// An alarm and its state, as DescribeAlarms reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmRecord {
    pub definition: AlarmDefinition,
    pub arn: String,
    pub state: AlarmState,
    pub reason: String,
    /// JSON, as CloudWatch gives it (the evaluated datapoints), or what SetAlarmState was given.
    pub reason_data: Option<String>,
    /// When the state or its reason last changed.
    pub state_updated: Timestamp,
    /// When the state last changed.
    pub state_transitioned: Timestamp,
    pub configuration_updated: Timestamp,
    /// When the evaluator next looks at it (ms since the epoch).
    #[serde(skip)]
    pub(crate) next_evaluation: i64,
}

impl AlarmRecord {
    /// A new alarm: INSUFFICIENT_DATA until its first evaluation, at the end of the current
    /// period.
    pub(crate) fn new(
        definition: AlarmDefinition,
        arn: String,
        now: Timestamp,
        scale: TimeScale,
    ) -> Self {
        let next = next_boundary(&definition, now, scale);
        Self {
            definition,
            arn,
            state: AlarmState::InsufficientData,
            reason: "Unchecked: Initial alarm creation".into(),
            reason_data: None,
            state_updated: now,
            state_transitioned: now,
            configuration_updated: now,
            next_evaluation: next,
        }
    }

    /// Replaces the definition; the state is left as it is, as CloudWatch does.
    pub(crate) fn update(&mut self, definition: AlarmDefinition, now: Timestamp, scale: TimeScale) {
        self.next_evaluation = next_boundary(&definition, now, scale);
        self.definition = definition;
        self.configuration_updated = now;
    }

    /// Sets the state by hand (SetAlarmState): it holds until the next evaluation.
    pub(crate) fn set_state(
        &mut self,
        state: AlarmState,
        reason: String,
        data: Option<String>,
        now: Timestamp,
    ) {
        if state != self.state {
            self.state_transitioned = now;
        }
        self.state = state;
        self.reason = reason;
        self.reason_data = data;
        self.state_updated = now;
    }

    /// Applies an evaluation: a change of state is a transition with CloudWatch's reason;
    /// the same state stays as it is (reason and timestamps included).
    pub(crate) fn apply(&mut self, evaluation: &Evaluation, now: Timestamp) {
        let Decision::State(state) = evaluation.decision else {
            return;
        };
        if state == self.state {
            return;
        }
        let reason = reason(&self.definition, evaluation, state);
        let data = reason_data(&self.definition, evaluation, now);
        self.set_state(state, reason, Some(data), now);
    }
}

/// The end of the period holding `now`: when an alarm defined now is first evaluated.
fn next_boundary(definition: &AlarmDefinition, now: Timestamp, scale: TimeScale) -> i64 {
    let length = scale.millis(definition.period.seconds());
    now.floor_to(length).millis() + length
}

/// CloudWatch's state reason for a transition.
fn reason(alarm: &AlarmDefinition, evaluation: &Evaluation, state: AlarmState) -> String {
    let n = evaluation.periods.len();
    let present: Vec<String> = evaluation
        .periods
        .iter()
        .filter_map(|p| p.value.map(|v| format!("{v:?} ({})", p.start)))
        .collect();
    let plural = |k: usize| if k == 1 { "datapoint" } else { "datapoints" };
    match state {
        AlarmState::InsufficientData => format!(
            "Insufficient Data: {n} {} {} unknown.",
            plural(n),
            if n == 1 { "was" } else { "were" }
        ),
        AlarmState::Alarm | AlarmState::Ok => {
            let judged = |p: &&EvaluatedPeriod| {
                p.value.is_some_and(|v| {
                    alarm.comparison.breaches(v, alarm.threshold) == (state == AlarmState::Alarm)
                })
            };
            let k = evaluation.periods.iter().filter(judged).count();
            let verb = if state == AlarmState::Alarm {
                "was"
            } else {
                "was not"
            };
            format!(
                "Threshold Crossed: {k} out of the last {n} {} [{}] {verb} {} the threshold ({:?}) (minimum {} {} for {} transition).",
                plural(n),
                present.join(", "),
                alarm.comparison.phrase(),
                alarm.threshold,
                alarm.datapoints_to_alarm(),
                plural(alarm.datapoints_to_alarm() as usize),
                if state == AlarmState::Alarm {
                    "OK -> ALARM"
                } else {
                    "ALARM -> OK"
                },
            )
        }
    }
}

/// CloudWatch's `StateReasonData` for a transition.
fn reason_data(alarm: &AlarmDefinition, evaluation: &Evaluation, now: Timestamp) -> String {
    let oldest = evaluation.periods.last().map_or(evaluation.at, |p| p.start);
    let recent: Vec<f64> = evaluation.periods.iter().filter_map(|p| p.value).collect();
    let evaluated: Vec<serde_json::Value> = evaluation
        .periods
        .iter()
        .filter_map(|p| {
            p.value
                .map(|v| serde_json::json!({ "timestamp": p.start, "value": v }))
        })
        .collect();
    serde_json::json!({
        "version": "1.0",
        "queryDate": now,
        "startDate": oldest,
        "statistic": alarm.statistic,
        "period": alarm.period.seconds(),
        "recentDatapoints": recent,
        "threshold": alarm.threshold,
        "evaluatedDatapoints": evaluated,
    })
    .to_string()
}

/// The ARN of alarm `name` in `region`.
pub(crate) fn alarm_arn(region: &topology::Region, name: &AlarmName) -> String {
    format!("arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{name}")
}

#[cfg(test)]
mod tests {
    use super::PeriodVerdict::{Breaching as X, Missing as M, NotBreaching as O};
    use super::*;
    use crate::metrics::MetricDatum;
    use crate::model::{Dimensions, Statistic};

    fn state(s: AlarmState) -> Decision {
        Decision::State(s)
    }

    /// CloudWatch's documented table for 3 datapoints to alarm out of 5 periods.
    #[test]
    fn missing_data_as_cloudwatch_documents_it() {
        use AlarmState::{Alarm, InsufficientData, Ok};
        use TreatMissingData as T;
        let rows: [(&[PeriodVerdict], [Decision; 4]); 5] = [
            (
                &[O, O, O, O, O],
                [state(Ok), state(Ok), state(Ok), state(Ok)],
            ),
            (
                &[O, M, X, M, X],
                [state(Ok), state(Ok), state(Alarm), state(Ok)],
            ),
            (
                &[M, M, M, M, M],
                [
                    state(InsufficientData),
                    Decision::Keep,
                    state(Alarm),
                    state(Ok),
                ],
            ),
            (
                &[O, X, X, M, X],
                [state(Alarm), state(Alarm), state(Alarm), state(Alarm)],
            ),
            (
                &[M, M, X, M, M],
                [state(Alarm), state(Alarm), state(Alarm), state(Ok)],
            ),
        ];
        for (verdicts, expected) in rows {
            for (treat, want) in [T::Missing, T::Ignore, T::Breaching, T::NotBreaching]
                .into_iter()
                .zip(expected)
            {
                assert_eq!(
                    decide(verdicts, 3, treat),
                    want,
                    "{verdicts:?} treated as {treat}"
                );
            }
        }
    }

    #[test]
    fn one_of_one_follows_the_last_period() {
        assert_eq!(
            decide(&[X], 1, TreatMissingData::Missing),
            state(AlarmState::Alarm)
        );
        assert_eq!(
            decide(&[O], 1, TreatMissingData::Missing),
            state(AlarmState::Ok)
        );
        assert_eq!(
            decide(&[M], 1, TreatMissingData::Missing),
            state(AlarmState::InsufficientData)
        );
    }

    fn flag_alarm() -> AlarmDefinition {
        AlarmDefinition::new(
            "orders-us-east-1-out".parse().unwrap(),
            MetricId::new(
                "MultiRegionApi/Failover".parse().unwrap(),
                "RegionOut".parse().unwrap(),
                Dimensions::new([("App", "orders"), ("Region", "us-east-1")]).unwrap(),
            ),
            Statistic::Maximum,
            Period::for_alarm(10).unwrap(),
            1,
            ComparisonOperator::GreaterThanOrEqualToThreshold,
            1.0,
        )
    }

    #[test]
    fn evaluation_reads_the_periods_that_just_ended_on_the_scaled_clock() {
        let alarm = flag_alarm();
        let scale = TimeScale::new(0.1).unwrap(); // 10 s periods last 1 s
        let mut metrics = MetricStore::default();
        let t0 = 1_800_000_000_000_i64; // a period boundary
        let mut datum = MetricDatum::value(
            alarm.metric.name.clone(),
            alarm.metric.dimensions.clone(),
            1.0,
        );
        datum.timestamp = Some(Timestamp::from_millis(t0 + 300));
        metrics
            .put(
                &alarm.metric.namespace,
                &[datum],
                Timestamp::from_millis(t0 + 300),
            )
            .unwrap();
        let during = evaluate(&alarm, &metrics, Timestamp::from_millis(t0 + 900), scale);
        assert_eq!(
            during.decision,
            state(AlarmState::InsufficientData),
            "the period has not ended"
        );
        let after = evaluate(&alarm, &metrics, Timestamp::from_millis(t0 + 1000), scale);
        assert_eq!(after.decision, state(AlarmState::Alarm));
        assert_eq!(after.periods[0].value, Some(1.0));
        let later = evaluate(&alarm, &metrics, Timestamp::from_millis(t0 + 2000), scale);
        assert_eq!(
            later.decision,
            state(AlarmState::InsufficientData),
            "no new data"
        );
    }

    #[test]
    fn transitions_carry_cloudwatch_reasons_and_same_state_changes_nothing() {
        let alarm = flag_alarm();
        let now = Timestamp::from_millis(1_800_000_000_000);
        let mut record = AlarmRecord::new(alarm.clone(), "arn".into(), now, TimeScale::AWS);
        assert_eq!(record.state, AlarmState::InsufficientData);
        assert_eq!(record.next_evaluation, now.millis() + 10_000);
        let breached = Evaluation {
            decision: state(AlarmState::Alarm),
            periods: vec![EvaluatedPeriod {
                start: now,
                value: Some(1.0),
            }],
            at: now.plus_millis(10_000),
        };
        let later = now.plus_millis(10_000);
        record.apply(&breached, later);
        assert_eq!(record.state, AlarmState::Alarm);
        assert!(
            record
                .reason
                .starts_with("Threshold Crossed: 1 out of the last 1 datapoint [1.0 ("),
            "{}",
            record.reason
        );
        assert!(
            record
                .reason
                .contains("greater than or equal to the threshold (1.0)")
        );
        let data: serde_json::Value =
            serde_json::from_str(record.reason_data.as_deref().unwrap()).unwrap();
        assert_eq!(data["recentDatapoints"], serde_json::json!([1.0]));
        assert_eq!(data["statistic"], "Maximum");
        assert_eq!(record.state_transitioned, later);

        record.apply(&breached, later.plus_millis(10_000));
        assert_eq!(
            record.state_updated, later,
            "no transition, nothing updated"
        );
    }

    #[test]
    fn cross_field_checks() {
        let mut alarm = flag_alarm();
        assert!(alarm.check().is_ok());
        alarm.datapoints_to_alarm = Some(2);
        assert!(
            alarm
                .check()
                .unwrap_err()
                .message()
                .contains("DatapointsToAlarm")
        );
        alarm.datapoints_to_alarm = None;
        alarm.evaluation_periods = 8641;
        assert!(alarm.check().unwrap_err().message().contains("one day"));
        alarm.evaluation_periods = 1;
        alarm.alarm_actions = vec!["not-an-arn".into()];
        assert_eq!(alarm.check().unwrap_err().code(), "ValidationError");
    }
}
