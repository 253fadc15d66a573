//! Alarm states, read with `DescribeAlarms` by name in the Region that holds each alarm: one
//! call per Region and 100 names, every Region at once, each within the per-call timeout. A
//! Region that does not answer leaves its alarms unknown and delays nothing else.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use aws_smithy_types::date_time::Format;
use serde::{Deserialize, Serialize};
use topology::Region;
use topology::manifest::{AlarmKind, AppEntry};

use crate::cloudwatch::{CallError, CloudWatch, classify};

/// The most alarm names one DescribeAlarms call takes (and the most records it returns).
const NAMES_PER_CALL: usize = 100;

/// An alarm's state as CloudWatch names it, or why it is not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
    /// The Region answered, without this alarm: the manifest and the deployment differ.
    NotFound,
    /// The Region did not answer.
    Unknown,
}

impl AlarmState {
    /// As CloudWatch writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
            Self::NotFound => "NOT_FOUND",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// What CloudWatch said of one alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmReading {
    pub state: AlarmState,
    /// CloudWatch's reason for the state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the state last changed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Why the state is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AlarmReading {
    fn unknown(error: String) -> Self {
        Self {
            state: AlarmState::Unknown,
            reason: None,
            updated: None,
            error: Some(error),
        }
    }

    fn not_found(region: &Region) -> Self {
        Self {
            state: AlarmState::NotFound,
            reason: None,
            updated: None,
            error: Some(format!("{region}'s CloudWatch has no alarm of this name")),
        }
    }
}

/// One alarm of an app and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmStatus {
    pub kind: AlarmKind,
    /// The Region it is about.
    pub about: Region,
    /// The Region whose CloudWatch holds it.
    pub region: Region,
    pub name: String,
    #[serde(flatten)]
    pub reading: AlarmReading,
}

/// How one Region's CloudWatch answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionAnswer {
    pub region: Region,
    /// Whether it answered every call.
    pub answered: bool,
    /// From the first call to the last answer, in milliseconds.
    pub elapsed_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The states of a set of alarms, and how each Region answered.
#[derive(Debug, Clone, Default)]
pub struct Described {
    readings: HashMap<(Region, String), AlarmReading>,
    pub regions: Vec<RegionAnswer>,
}

impl Described {
    /// Alarm `name` in `region` (unknown when it was not asked for).
    pub fn get(&self, region: &Region, name: &str) -> AlarmReading {
        self.readings
            .get(&(region.clone(), name.to_owned()))
            .cloned()
            .unwrap_or_else(|| AlarmReading::unknown("not asked".into()))
    }

    /// Every alarm of `app`, as listed in its manifest entry.
    pub fn of_app(&self, app: &AppEntry) -> Vec<AlarmStatus> {
        app.alarms
            .iter()
            .map(|a| AlarmStatus {
                kind: a.kind,
                about: a.about.clone(),
                region: a.region.clone(),
                name: a.name.clone(),
                reading: self.get(&a.region, &a.name),
            })
            .collect()
    }
}

/// The states of `wanted` (Region holding it, alarm name).
pub async fn describe(cloudwatch: &CloudWatch, wanted: &[(Region, String)]) -> Described {
    let regions: BTreeSet<&Region> = wanted.iter().map(|(r, _)| r).collect();
    let per_region = regions.into_iter().map(|region| {
        let names: BTreeSet<&str> = wanted
            .iter()
            .filter(|(r, _)| r == region)
            .map(|(_, n)| n.as_str())
            .collect();
        describe_in(cloudwatch, region, names.into_iter().collect())
    });
    let mut described = Described::default();
    for (answer, readings) in futures::future::join_all(per_region).await {
        described.regions.push(answer);
        described.readings.extend(readings);
    }
    described
}

/// `names` in `region`, 100 per call, the calls at once.
async fn describe_in(
    cloudwatch: &CloudWatch,
    region: &Region,
    names: Vec<&str>,
) -> (RegionAnswer, Vec<((Region, String), AlarmReading)>) {
    let started = Instant::now();
    let calls = names
        .chunks(NAMES_PER_CALL)
        .map(|chunk| describe_call(cloudwatch, region, chunk));
    let results = futures::future::join_all(calls).await;
    let mut error = None;
    let mut readings = Vec::with_capacity(names.len());
    for (chunk, result) in names.chunks(NAMES_PER_CALL).zip(results) {
        match result {
            Ok(found) => {
                for name in chunk {
                    let reading = found
                        .iter()
                        .find(|(n, _)| n == name)
                        .map_or_else(|| AlarmReading::not_found(region), |(_, r)| r.clone());
                    readings.push(((region.clone(), (*name).to_owned()), reading));
                }
            }
            Err(e) => {
                let text = e.to_string();
                for name in chunk {
                    readings.push((
                        (region.clone(), (*name).to_owned()),
                        AlarmReading::unknown(text.clone()),
                    ));
                }
                error.get_or_insert(text);
            }
        }
    }
    let answer = RegionAnswer {
        region: region.clone(),
        answered: error.is_none(),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error,
    };
    (answer, readings)
}

/// One DescribeAlarms call: the alarms found, by name.
async fn describe_call(
    cloudwatch: &CloudWatch,
    region: &Region,
    names: &[&str],
) -> Result<Vec<(String, AlarmReading)>, CallError> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    cloudwatch
        .call(region, |client| async move {
            let out = client
                .describe_alarms()
                .set_alarm_names(Some(names))
                .max_records(i32::try_from(NAMES_PER_CALL).unwrap_or(100))
                .send()
                .await
                .map_err(|e| classify(region, e))?;
            Ok(out.metric_alarms().iter().filter_map(reading).collect())
        })
        .await
}

fn reading(alarm: &MetricAlarm) -> Option<(String, AlarmReading)> {
    let state = match alarm.state_value()? {
        StateValue::Ok => AlarmState::Ok,
        StateValue::Alarm => AlarmState::Alarm,
        StateValue::InsufficientData => AlarmState::InsufficientData,
        _ => AlarmState::Unknown,
    };
    Some((
        alarm.alarm_name()?.to_owned(),
        AlarmReading {
            state,
            reason: alarm.state_reason().map(str::to_owned),
            updated: alarm
                .state_updated_timestamp()
                .and_then(|t| t.fmt(Format::DateTime).ok()),
            error: None,
        },
    ))
}
