//! Every app's two flags as read, and what Route 53 therefore answers: which flag is set where,
//! which could not be read, and states that are not one of the two canonical ones.

use serde::Serialize;
use topology::manifest::AppEntry;
use topology::{AppName, Region};

use super::rules::{answer, warning};
use super::series::{Millis, Series};
use super::{FlagRef, FlagsClient, rfc3339};
use crate::alarms::{AlarmReading, AlarmState, Described};
use crate::cloudwatch::CallError;
use crate::error::FailoverError;

/// A value stamped for a coming minute, and when it takes effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stamped {
    pub out: bool,
    /// RFC 3339.
    pub at: String,
}

/// Where a flag's value was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagSource {
    /// The metric's latest value.
    Metric,
    /// The metric holds no value in the window read; its alarm, which keeps its state, says.
    Alarm,
    /// Never published (and its alarm has no data): clear, as the health check starts.
    Never,
    /// Not read: the Region holding it did not answer.
    Unread,
}

/// One flag as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagStatus {
    /// The Region this flag takes out.
    pub region: Region,
    /// The Region that holds it.
    pub published_in: Region,
    /// Whether it is set now; `None` when it could not be read.
    pub out: Option<bool>,
    pub source: FlagSource,
    /// The minute its value was published in (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// A value already stamped for a coming minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub then: Option<Stamped>,
    /// The alarm on the flag, which the record's health check follows.
    pub alarm_name: String,
    pub alarm: AlarmReading,
    /// Why the flag could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One app's flags (the primary's first) and where Route 53 answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppFlags {
    pub app: AppName,
    pub flags: Vec<FlagStatus>,
    /// The Region Route 53 answers with; `None` when the flags read do not decide it.
    pub active: Option<Region>,
    /// Set for a state that is not one of the two canonical ones, or not fully known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The flags held in one Region (in the manifest's app order), and their series or why that
/// Region did not answer.
type Held = (Region, Vec<FlagRef>, Result<Vec<Series>, CallError>);

/// Every flag, read from the Region that holds it.
pub struct FlagReads {
    pub now: Millis,
    held: Vec<Held>,
}

impl FlagsClient {
    /// Reads every app's flags, both Regions at once.
    pub async fn read_all(&self) -> FlagReads {
        let now = super::now_millis();
        let apps: Vec<&AppEntry> = self.manifest.apps.iter().collect();
        let regions = self.manifest.regions.both();
        let reads = regions.iter().map(|holder| {
            let out = self.manifest.regions.other(holder).expect("one of the two");
            let flags = self.flags_out(&apps, out);
            async move {
                let series = self.read(holder, &flags, now).await;
                ((*holder).clone(), flags, series)
            }
        });
        FlagReads {
            now,
            held: futures::future::join_all(reads).await,
        }
    }

    /// The names of the flags' alarms, each with the Region that holds it.
    pub fn flag_alarms(&self) -> Vec<(Region, String)> {
        self.manifest
            .apps
            .iter()
            .filter_map(|a| a.flags())
            .flatten()
            .map(|f| (f.published_in.clone(), f.alarm_name.clone()))
            .collect()
    }

    /// Every app's flags, from `reads` and the flags' alarms in `alarms`.
    pub fn flag_status(&self, reads: &FlagReads, alarms: &Described) -> Vec<AppFlags> {
        let regions = &self.manifest.regions;
        self.manifest
            .apps
            .iter()
            .map(|app| {
                let flags: Vec<FlagStatus> = regions
                    .both()
                    .into_iter()
                    .map(|region| reads.flag(app, region, alarms))
                    .collect();
                let (p, s) = (flags[0].out, flags[1].out);
                AppFlags {
                    app: app.name.clone(),
                    active: answer(regions, p, s).cloned(),
                    warning: warning(regions, p, s),
                    flags,
                }
            })
            .collect()
    }
}

impl FlagReads {
    /// The error when nothing at all could be read: no credentials (exit 1), or no Region
    /// asked answered (exit 4).
    pub fn nothing_read(&self) -> Option<FailoverError> {
        let asked: Vec<&Result<Vec<Series>, CallError>> = self
            .held
            .iter()
            .filter(|(_, flags, _)| !flags.is_empty())
            .map(|(_, _, read)| read)
            .collect();
        let errors: Vec<&CallError> = asked.iter().filter_map(|r| r.as_ref().err()).collect();
        if asked.is_empty() || errors.len() < asked.len() {
            return None;
        }
        if let Some(CallError::Setup(why)) =
            errors.iter().find(|e| matches!(e, CallError::Setup(_)))
        {
            return Some(FailoverError::Setup(why.clone()));
        }
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Some(FailoverError::FlagsUnreadable(text.join("; ")))
    }

    /// The flag of `app` that takes `region` out.
    fn flag(&self, app: &AppEntry, region: &Region, alarms: &Described) -> FlagStatus {
        let declared = app.flag(region).expect("the manifest was checked at load");
        let holder = &declared.published_in;
        let alarm = alarms.get(holder, &declared.alarm_name);
        let mut status = FlagStatus {
            region: region.clone(),
            published_in: holder.clone(),
            out: None,
            source: FlagSource::Unread,
            since: None,
            then: None,
            alarm_name: declared.alarm_name.clone(),
            alarm: alarm.clone(),
            error: None,
        };
        let found = self
            .held
            .iter()
            .find(|(h, _, _)| h == holder)
            .and_then(|(_, flags, read)| {
                let index = flags.iter().position(|f| f.app == app.name)?;
                Some(read.as_ref().map(|series| &series[index]))
            });
        match found {
            None => status.error = Some("not read".into()),
            Some(Err(e)) => status.error = Some(e.to_string()),
            Some(Ok(series)) => match series.at(self.now) {
                Some((minute, out)) => {
                    status.out = Some(out);
                    status.source = FlagSource::Metric;
                    status.since = Some(rfc3339(minute));
                    status.then = series.next(self.now).map(|(at, out)| Stamped {
                        out,
                        at: rfc3339(at),
                    });
                }
                // Published longer ago than the window read: the alarm kept its state.
                None => match alarm.state {
                    AlarmState::Alarm | AlarmState::Ok => {
                        status.out = Some(alarm.state == AlarmState::Alarm);
                        status.source = FlagSource::Alarm;
                    }
                    AlarmState::InsufficientData | AlarmState::NotFound => {
                        status.out = Some(false);
                        status.source = FlagSource::Never;
                    }
                    AlarmState::Unknown => {
                        status.error = Some(format!(
                            "no value in the last 14 days and its alarm could not be read: {}",
                            alarm.error.as_deref().unwrap_or("no answer")
                        ));
                    }
                },
            },
        }
        status
    }
}
