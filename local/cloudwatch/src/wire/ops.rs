//! Each operation: its input read into domain types, the Region's answer, its output as a
//! [`Doc`].

use crate::alarms::{AlarmDefinition, AlarmRecord};
use crate::error::CloudWatchError;
use crate::metrics::{Aggregate, MetricDatum, MetricFilter, Sample};
use crate::model::{
    AlarmName, AlarmState, AlarmStatistic, Dimensions, MetricId, Namespace, Percentile, Period,
    ScanBy, Statistic, StorageResolution, Timestamp,
};
use crate::queries::{GetMetricData, GetMetricStatistics, MetricDataQuery, MetricStat};
use crate::region::AlarmQuery;
use crate::{RegionSlot, Shared};

use super::Operation;
use super::codec::Doc;
use super::input::Params;

/// How far back ListMetrics' `RecentlyActive = PT3H` looks.
const RECENTLY_ACTIVE_MS: i64 = 3 * 3600 * 1000;

/// Runs `operation` on the Region of `slot`.
pub(crate) fn call(
    operation: Operation,
    input: &Params<'_>,
    shared: &Shared,
    slot: &RegionSlot,
) -> Result<Doc, CloudWatchError> {
    let now = Timestamp::now();
    match operation {
        Operation::PutMetricData => {
            let (namespace, data) = put_metric_data_input(input)?;
            if namespace.is_reserved() {
                return Err(CloudWatchError::invalid(
                    "Namespace",
                    &namespace,
                    "namespaces starting with AWS/ are reserved for AWS services",
                ));
            }
            slot.state().put_metric_data(&namespace, &data, now)?;
            Ok(Doc::map())
        }
        Operation::GetMetricData => {
            let page = slot
                .state()
                .get_metric_data(&get_metric_data_input(input)?)?;
            let results = page.results.into_iter().map(|r| {
                Doc::map()
                    .with("Id", r.id.as_str())
                    .with("Label", r.label)
                    .with("Timestamps", Doc::list(r.timestamps))
                    .with("Values", Doc::list(r.values))
                    .with("StatusCode", r.status.as_str())
                    .with("Messages", Doc::List(Vec::new()))
            });
            Ok(Doc::map()
                .with("MetricDataResults", Doc::list(results))
                .with("Messages", Doc::List(Vec::new()))
                .with_some("NextToken", page.next_token))
        }
        Operation::GetMetricStatistics => {
            let request = get_metric_statistics_input(input)?;
            let (label, points) = slot.state().get_metric_statistics(&request)?;
            let datapoints = points.into_iter().map(|p| {
                p.values
                    .into_iter()
                    .fold(Doc::map().with("Timestamp", p.timestamp), |d, (s, v)| {
                        d.with(s.as_str(), v)
                    })
                    .with("Unit", p.unit.as_str())
            });
            Ok(Doc::map()
                .with("Label", label)
                .with("Datapoints", Doc::list(datapoints)))
        }
        Operation::ListMetrics => {
            let filter = list_metrics_input(input, now)?;
            let token = input.string("NextToken")?;
            let (metrics, next) = slot.state().list_metrics(&filter, token)?;
            Ok(Doc::map()
                .with("Metrics", Doc::list(metrics.iter().map(metric_doc)))
                .with_some("NextToken", next))
        }
        Operation::PutMetricAlarm => {
            let definition = put_metric_alarm_input(input)?;
            slot.state()
                .put_metric_alarm(definition, now, shared.period_scale)?;
            shared.alarms_changed.notify_one();
            Ok(Doc::map())
        }
        Operation::DescribeAlarms => {
            let (query, metric_alarms, composite) = describe_alarms_input(input)?;
            let (records, next) = slot.state().describe_alarms(&query)?;
            let alarms: Vec<Doc> = if metric_alarms {
                records.iter().map(alarm_doc).collect()
            } else {
                Vec::new()
            };
            Ok(Doc::map()
                .with("MetricAlarms", Doc::List(alarms))
                .with_some("CompositeAlarms", composite.then(|| Doc::List(Vec::new())))
                .with_some("NextToken", next.filter(|_| metric_alarms)))
        }
        Operation::DeleteAlarms => {
            let names: Vec<AlarmName> = input.parsed_list("AlarmNames")?;
            slot.state().delete_alarms(&names)?;
            Ok(Doc::map())
        }
        Operation::SetAlarmState => {
            let name: AlarmName = input.required("AlarmName")?;
            let state: AlarmState = input.required("StateValue")?;
            let reason = input.required_string("StateReason")?.to_owned();
            let data = input.string("StateReasonData")?.map(str::to_owned);
            slot.state()
                .set_alarm_state(&name, state, reason, data, now)?;
            Ok(Doc::map())
        }
    }
}

fn metric_doc(id: &MetricId) -> Doc {
    Doc::map()
        .with("Namespace", id.namespace.as_str())
        .with("MetricName", id.name.as_str())
        .with("Dimensions", dimensions_doc(&id.dimensions))
}

fn dimensions_doc(dimensions: &Dimensions) -> Doc {
    Doc::list(
        dimensions
            .iter()
            .map(|(n, v)| Doc::map().with("Name", n).with("Value", v)),
    )
}

fn alarm_doc(record: &AlarmRecord) -> Doc {
    let d = &record.definition;
    let strings = |v: &[String]| Doc::list(v.iter().map(String::as_str));
    Doc::map()
        .with("AlarmName", d.name.as_str())
        .with("AlarmArn", record.arn.as_str())
        .with_some("AlarmDescription", d.description.as_deref())
        .with(
            "AlarmConfigurationUpdatedTimestamp",
            record.configuration_updated,
        )
        .with("ActionsEnabled", d.actions_enabled)
        .with("OKActions", strings(&d.ok_actions))
        .with("AlarmActions", strings(&d.alarm_actions))
        .with(
            "InsufficientDataActions",
            strings(&d.insufficient_data_actions),
        )
        .with("StateValue", record.state.as_str())
        .with("StateReason", record.reason.as_str())
        .with_some("StateReasonData", record.reason_data.as_deref())
        .with("StateUpdatedTimestamp", record.state_updated)
        .with("MetricName", d.metric.name.as_str())
        .with("Namespace", d.metric.namespace.as_str())
        .with_some("Statistic", standard(d.statistic).map(Statistic::as_str))
        .with_some("ExtendedStatistic", percentile(d.statistic))
        .with("Dimensions", dimensions_doc(&d.metric.dimensions))
        .with("Period", d.period.seconds())
        .with_some("Unit", d.unit.map(|u| u.as_str()))
        .with("EvaluationPeriods", d.evaluation_periods)
        .with_some("DatapointsToAlarm", d.datapoints_to_alarm)
        .with("Threshold", d.threshold)
        .with("ComparisonOperator", d.comparison.as_str())
        .with("TreatMissingData", d.treat_missing_data.as_str())
        .with("StateTransitionedTimestamp", record.state_transitioned)
}

fn standard(statistic: AlarmStatistic) -> Option<Statistic> {
    match statistic {
        AlarmStatistic::Standard(s) => Some(s),
        AlarmStatistic::Percentile(_) => None,
    }
}

fn percentile(statistic: AlarmStatistic) -> Option<String> {
    match statistic {
        AlarmStatistic::Percentile(p) => Some(p.to_string()),
        AlarmStatistic::Standard(_) => None,
    }
}

/// A metric named by `Namespace`, `MetricName` and `Dimensions` members of `p`.
fn metric(p: &Params<'_>) -> Result<MetricId, CloudWatchError> {
    Ok(MetricId::new(
        p.required::<Namespace>("Namespace")?,
        p.required("MetricName")?,
        p.dimensions("Dimensions")?,
    ))
}

fn not_emulated(p: &Params<'_>, name: &str, what: &str) -> Result<(), CloudWatchError> {
    if p.has(name) {
        return Err(CloudWatchError::InvalidParameterValue(format!(
            "The parameter {} is not supported: {what} are not emulated by the local CloudWatch.",
            p.path(name)
        )));
    }
    Ok(())
}

fn put_metric_data_input(p: &Params<'_>) -> Result<(Namespace, Vec<MetricDatum>), CloudWatchError> {
    let namespace: Namespace = p.required("Namespace")?;
    not_emulated(p, "EntityMetricData", "entities")?;
    if !p.has("MetricData") {
        return Err(CloudWatchError::missing("MetricData"));
    }
    let data = p
        .list("MetricData")?
        .iter()
        .map(datum)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((namespace, data))
}

fn datum(p: &Params<'_>) -> Result<MetricDatum, CloudWatchError> {
    let value = p.number("Value")?;
    let values = p.numbers("Values")?;
    let counts = p.numbers("Counts")?;
    let statistics = p.structure("StatisticValues")?;
    let given = [value.is_some(), values.is_some(), statistics.is_some()];
    let sample = match (value, values, statistics) {
        _ if given.iter().filter(|g| **g).count() > 1 => {
            return Err(CloudWatchError::InvalidParameterCombination(format!(
                "The parameters {}, {} and {} are mutually exclusive: give one.",
                p.path("Value"),
                p.path("Values"),
                p.path("StatisticValues")
            )));
        }
        (Some(v), None, None) => Sample::Value(v),
        (None, Some(values), None) => Sample::Values(with_counts(p, values, counts.as_deref())?),
        (None, None, Some(s)) => Sample::Statistics(Aggregate {
            sample_count: s.required_number("SampleCount")?,
            sum: s.required_number("Sum")?,
            minimum: s.required_number("Minimum")?,
            maximum: s.required_number("Maximum")?,
        }),
        _ => {
            return Err(CloudWatchError::InvalidParameterCombination(format!(
                "One of the parameters {}, {} or {} must be specified.",
                p.path("Value"),
                p.path("Values"),
                p.path("StatisticValues")
            )));
        }
    };
    if counts.is_some() && !matches!(sample, Sample::Values(_)) {
        return Err(CloudWatchError::InvalidParameterCombination(format!(
            "The parameter {} requires {}.",
            p.path("Counts"),
            p.path("Values")
        )));
    }
    let resolution = match p.integer("StorageResolution")? {
        None => StorageResolution::Standard,
        Some(s) => StorageResolution::from_seconds(s)
            .map_err(|e| CloudWatchError::invalid(&p.path("StorageResolution"), s, &e.0))?,
    };
    Ok(MetricDatum {
        name: p.required("MetricName")?,
        dimensions: p.dimensions("Dimensions")?,
        timestamp: p.timestamp("Timestamp")?,
        sample,
        unit: p.parsed("Unit")?,
        resolution,
    })
}

fn with_counts(
    p: &Params<'_>,
    values: Vec<f64>,
    counts: Option<&[f64]>,
) -> Result<Vec<(f64, f64)>, CloudWatchError> {
    match counts {
        None => Ok(values.into_iter().map(|v| (v, 1.0)).collect()),
        Some(counts) if counts.len() == values.len() => {
            Ok(values.into_iter().zip(counts.iter().copied()).collect())
        }
        Some(counts) => Err(CloudWatchError::InvalidParameterValue(format!(
            "The parameters {} ({} members) and {} ({} members) must have as many members.",
            p.path("Values"),
            values.len(),
            p.path("Counts"),
            counts.len()
        ))),
    }
}

fn get_metric_data_input(p: &Params<'_>) -> Result<GetMetricData, CloudWatchError> {
    if !p.has("MetricDataQueries") {
        return Err(CloudWatchError::missing("MetricDataQueries"));
    }
    let queries = p
        .list("MetricDataQueries")?
        .iter()
        .map(|q| {
            if q.has("Expression") {
                return Err(CloudWatchError::Validation(format!(
                    "The parameter {} is not supported: metric math expressions are not emulated by the local CloudWatch; use MetricStat.",
                    q.path("Expression")
                )));
            }
            let stat = q.required_structure("MetricStat")?;
            Ok(MetricDataQuery {
                id: q.required("Id")?,
                label: q.string("Label")?.map(str::to_owned),
                return_data: q.boolean("ReturnData")?.unwrap_or(true),
                stat: MetricStat {
                    metric: metric(&stat.required_structure("Metric")?)?,
                    period: period(&stat, "Period", Period::for_query)?,
                    stat: statistic(&stat, "Stat")?,
                    unit: stat.parsed("Unit")?,
                },
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let max = p.integer("MaxDatapoints")?;
    Ok(GetMetricData {
        queries,
        start: p.required_timestamp("StartTime")?,
        end: p.required_timestamp("EndTime")?,
        scan_by: p
            .parsed::<ScanBy>("ScanBy")?
            .unwrap_or(ScanBy::TimestampDescending),
        max_datapoints: max
            .map(|m| {
                usize::try_from(m).map_err(|_| {
                    CloudWatchError::invalid("MaxDatapoints", m, "it must be at least 1")
                })
            })
            .transpose()?,
        next_token: p.string("NextToken")?.map(str::to_owned),
    })
}

fn period(
    p: &Params<'_>,
    name: &str,
    parse: fn(i64) -> Result<Period, crate::model::Invalid>,
) -> Result<Period, CloudWatchError> {
    let seconds = p.required_integer(name)?;
    parse(seconds).map_err(|e| CloudWatchError::invalid(&p.path(name), seconds, &e.0))
}

fn statistic(p: &Params<'_>, name: &str) -> Result<Statistic, CloudWatchError> {
    let stat = p.required_string(name)?;
    stat.parse().map_err(|e: crate::model::Invalid| {
        CloudWatchError::invalid(
            &p.path(name),
            stat,
            &format!(
                "{} (percentiles and other extended statistics are not emulated)",
                e.0
            ),
        )
    })
}

fn get_metric_statistics_input(p: &Params<'_>) -> Result<GetMetricStatistics, CloudWatchError> {
    not_emulated(p, "ExtendedStatistics", "extended statistics (percentiles)")?;
    Ok(GetMetricStatistics {
        metric: metric(p)?,
        start: p.required_timestamp("StartTime")?,
        end: p.required_timestamp("EndTime")?,
        period: period(p, "Period", Period::for_query)?,
        statistics: p.parsed_list("Statistics")?,
        unit: p.parsed("Unit")?,
    })
}

fn list_metrics_input(p: &Params<'_>, now: Timestamp) -> Result<MetricFilter, CloudWatchError> {
    let dimensions = p
        .list("Dimensions")?
        .iter()
        .map(|d| {
            Ok((
                d.required_string("Name")?.to_owned(),
                d.string("Value")?.map(str::to_owned),
            ))
        })
        .collect::<Result<Vec<_>, CloudWatchError>>()?;
    let received_since = match p.string("RecentlyActive")? {
        None => None,
        Some("PT3H") => Some(now.plus_millis(-RECENTLY_ACTIVE_MS)),
        Some(other) => {
            return Err(CloudWatchError::invalid(
                "RecentlyActive",
                other,
                "the only value is PT3H",
            ));
        }
    };
    Ok(MetricFilter {
        namespace: p.parsed("Namespace")?,
        name: p.parsed("MetricName")?,
        dimensions,
        received_since,
    })
}

fn put_metric_alarm_input(p: &Params<'_>) -> Result<AlarmDefinition, CloudWatchError> {
    not_emulated(p, "Metrics", "metric math alarms")?;
    not_emulated(p, "ThresholdMetricId", "anomaly detection alarms")?;
    let evaluation_periods = p.required_integer("EvaluationPeriods")?;
    let positive = |name: &str, n: i64| {
        u32::try_from(n)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| CloudWatchError::invalid(name, n, "it must be at least 1"))
    };
    let datapoints_to_alarm = p
        .integer("DatapointsToAlarm")?
        .map(|n| positive("DatapointsToAlarm", n))
        .transpose()?;
    let mut definition = AlarmDefinition::new(
        p.required("AlarmName")?,
        metric(p)?,
        alarm_statistic(p)?,
        period(p, "Period", Period::for_alarm)?,
        positive("EvaluationPeriods", evaluation_periods)?,
        p.required("ComparisonOperator")?,
        p.required_number("Threshold")?,
    );
    definition.description = p.string("AlarmDescription")?.map(str::to_owned);
    definition.actions_enabled = p.boolean("ActionsEnabled")?.unwrap_or(true);
    let owned = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect::<Vec<_>>();
    definition.ok_actions = owned(p.strings("OKActions")?);
    definition.alarm_actions = owned(p.strings("AlarmActions")?);
    definition.insufficient_data_actions = owned(p.strings("InsufficientDataActions")?);
    definition.unit = p.parsed("Unit")?;
    definition.datapoints_to_alarm = datapoints_to_alarm;
    if let Some(treat) = p.parsed("TreatMissingData")? {
        definition.treat_missing_data = treat;
    }
    Ok(definition)
}

/// `Statistic` or `ExtendedStatistic` (a percentile): exactly one of them.
fn alarm_statistic(p: &Params<'_>) -> Result<AlarmStatistic, CloudWatchError> {
    match (p.has("Statistic"), p.has("ExtendedStatistic")) {
        (true, true) => Err(CloudWatchError::InvalidParameterCombination(
            "The parameters Statistic and ExtendedStatistic cannot be used together.".into(),
        )),
        (false, false) => Err(CloudWatchError::missing("Statistic")),
        (true, false) => statistic(p, "Statistic").map(AlarmStatistic::from),
        (false, true) => {
            let text = p.required_string("ExtendedStatistic")?;
            let percentile: Percentile = text.parse().map_err(|e: crate::model::Invalid| {
                CloudWatchError::invalid(
                    &p.path("ExtendedStatistic"),
                    text,
                    &format!(
                        "{} (trimmed means and the other extended statistics are not emulated)",
                        e.0
                    ),
                )
            })?;
            Ok(percentile.into())
        }
    }
}

/// The query, whether metric alarms are wanted, whether composite ones are.
fn describe_alarms_input(p: &Params<'_>) -> Result<(AlarmQuery, bool, bool), CloudWatchError> {
    let types = p.strings("AlarmTypes")?;
    if let Some(bad) = types
        .iter()
        .find(|t| !["MetricAlarm", "CompositeAlarm"].contains(t))
    {
        return Err(CloudWatchError::Validation(format!(
            "The value {bad} for parameter AlarmTypes is invalid: it must be MetricAlarm or CompositeAlarm."
        )));
    }
    let metric_alarms = types.is_empty() || types.contains(&"MetricAlarm");
    let composite = types.contains(&"CompositeAlarm");
    let max_records = p
        .integer("MaxRecords")?
        .map(|n| {
            usize::try_from(n).map_err(|_| {
                CloudWatchError::invalid("MaxRecords", n, "it must be between 1 and 100")
            })
        })
        .transpose()?;
    let query = AlarmQuery {
        names: p.parsed_list("AlarmNames")?,
        name_prefix: p.string("AlarmNamePrefix")?.map(str::to_owned),
        state: p.parsed("StateValue")?,
        action_prefix: p.string("ActionPrefix")?.map(str::to_owned),
        max_records,
        next_token: p.string("NextToken")?.map(str::to_owned),
    };
    Ok((query, metric_alarms, composite))
}
