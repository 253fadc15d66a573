//! Route 53 health checks of type `CLOUDWATCH_METRIC`, as the local Route 53 polls them.
//!
//! As on AWS, such a health check follows its alarm's *metric data*, not the alarm's state:
//! at every request interval it evaluates the alarm's rule (statistic, period, evaluation
//! periods, datapoints to alarm, threshold, missing-data treatment) on the periods that just
//! ended, so `SetAlarmState` does not move it and `PutMetricData` does. An OK verdict is
//! healthy, ALARM unhealthy; INSUFFICIENT_DATA (no data, an alarm that ignores missing data
//! with none, a deleted alarm, or the Region's CloudWatch endpoint unreachable) is what
//! `InsufficientDataHealthStatus` says: healthy, unhealthy, or the last known status (healthy
//! for a new health check). The status changes after `FailureThreshold` consecutive
//! evaluations that disagree with it.
//!
//! A check never skips an alarm period: when more than one period ended since its last
//! evaluation (a request interval longer than the period, or a check that ran late), it
//! evaluates each of them in turn, each counting as one evaluation.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Serialize, Serializer};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use topology::Region;

use crate::error::LocalCloudWatchError;
use crate::model::{AlarmName, Invalid, TimeScale, Timestamp};
use crate::{LocalCloudWatch, Shared};

/// A health check's id, as the local Route 53 names it (for example after its failover
/// record): 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HealthCheckId(String);

impl HealthCheckId {
    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for HealthCheckId {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if s.is_empty() || s.chars().count() > 64 || s.chars().any(char::is_control) {
            Err(Invalid(format!(
                "health check id `{s}` must be 1 to 64 printable characters"
            )))
        } else {
            Ok(Self(s.to_owned()))
        }
    }
}

impl fmt::Display for HealthCheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for HealthCheckId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// How often Route 53 evaluates a health check: every 30 s (standard) or 10 s (fast).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestInterval {
    Fast,
    Standard,
}

impl RequestInterval {
    /// The interval in seconds (before scaling).
    pub fn seconds(self) -> u32 {
        match self {
            Self::Fast => 10,
            Self::Standard => 30,
        }
    }
}

/// How many consecutive evaluations must disagree with the status to change it: 1 to 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FailureThreshold(u8);

impl FailureThreshold {
    /// A threshold of `n`, 1 to 10 as Route 53 allows.
    pub fn new(n: u8) -> Result<Self, Invalid> {
        if (1..=10).contains(&n) {
            Ok(Self(n))
        } else {
            Err(Invalid(format!("a failure threshold is 1 to 10, not {n}")))
        }
    }

    /// The threshold.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// What a health check is when its alarm's data cannot tell OK from ALARM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum InsufficientDataHealthStatus {
    Healthy,
    Unhealthy,
    LastKnownStatus,
}

/// One `CLOUDWATCH_METRIC` health check: the alarm it follows and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCheckConfig {
    /// The Region of the alarm (and of the CloudWatch endpoint the check reads).
    pub region: Region,
    pub alarm: AlarmName,
    pub insufficient_data: InsufficientDataHealthStatus,
    pub failure_threshold: FailureThreshold,
    pub request_interval: RequestInterval,
}

impl HealthCheckConfig {
    /// Following `alarm` in `region` with Route 53's defaults (a 30-second interval, a failure
    /// threshold of 3) and the last known status on insufficient data.
    pub fn new(region: Region, alarm: AlarmName) -> Self {
        Self {
            region,
            alarm,
            insufficient_data: InsufficientDataHealthStatus::LastKnownStatus,
            failure_threshold: FailureThreshold(3),
            request_interval: RequestInterval::Standard,
        }
    }
}

/// What one evaluation of a health check saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Observation {
    /// The alarm's rule says OK.
    Ok,
    /// The alarm's rule says ALARM.
    Alarm,
    /// The data cannot tell (no data in the evaluated periods).
    InsufficientData,
    /// The alarm does not exist (any more): insufficient data.
    NoSuchAlarm,
    /// The Region's CloudWatch endpoint is down or hangs: insufficient data.
    Unreachable,
}

/// A health check's status and the evaluations that made it: the state machine, without a
/// clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    config: HealthCheckConfig,
    healthy: bool,
    /// Consecutive evaluations that disagreed with `healthy`.
    disagreeing: u8,
    last: Option<(Timestamp, Observation)>,
    changed_at: Option<Timestamp>,
}

impl HealthCheck {
    /// A new health check: healthy until its evaluations say otherwise, as on Route 53.
    pub fn new(config: HealthCheckConfig) -> Self {
        Self {
            config,
            healthy: true,
            disagreeing: 0,
            last: None,
            changed_at: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HealthCheckConfig {
        &self.config
    }

    /// Whether the health check is healthy.
    pub fn is_healthy(&self) -> bool {
        self.healthy
    }

    /// Takes one evaluation into account; answers whether the status changed.
    pub fn record(&mut self, observation: Observation, at: Timestamp) -> bool {
        self.last = Some((at, observation));
        let verdict = match observation {
            Observation::Ok => Some(true),
            Observation::Alarm => Some(false),
            Observation::InsufficientData | Observation::NoSuchAlarm | Observation::Unreachable => {
                match self.config.insufficient_data {
                    InsufficientDataHealthStatus::Healthy => Some(true),
                    InsufficientDataHealthStatus::Unhealthy => Some(false),
                    InsufficientDataHealthStatus::LastKnownStatus => None,
                }
            }
        };
        match verdict {
            Some(v) if v != self.healthy => {
                self.disagreeing += 1;
                if self.disagreeing >= self.config.failure_threshold.0 {
                    self.healthy = v;
                    self.disagreeing = 0;
                    self.changed_at = Some(at);
                    return true;
                }
            }
            // Agreeing, or keeping the last known status, breaks a run of disagreements.
            _ => self.disagreeing = 0,
        }
        false
    }

    /// The check as the snapshot shows it.
    pub fn snapshot(&self, id: &HealthCheckId) -> HealthCheckSnapshot {
        HealthCheckSnapshot {
            id: id.clone(),
            config: self.config.clone(),
            healthy: self.healthy,
            last_observation: self.last.map(|(_, o)| o),
            last_checked: self.last.map(|(t, _)| t),
            status_changed: self.changed_at,
        }
    }
}

/// A health check as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCheckSnapshot {
    pub id: HealthCheckId,
    #[serde(flatten)]
    pub config: HealthCheckConfig,
    pub healthy: bool,
    pub last_observation: Option<Observation>,
    pub last_checked: Option<Timestamp>,
    /// When the status last changed (`None`: healthy since creation).
    pub status_changed: Option<Timestamp>,
}

struct Scheduled {
    check: HealthCheck,
    due: Instant,
    /// The alarm period boundary the check last evaluated.
    seen: Option<Timestamp>,
}

struct Checkers {
    cloudwatch: Arc<Shared>,
    checks: Mutex<BTreeMap<HealthCheckId, Scheduled>>,
    interval_scale: TimeScale,
}

impl Checkers {
    fn checks(&self) -> MutexGuard<'_, BTreeMap<HealthCheckId, Scheduled>> {
        self.checks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Evaluates the checks that are due (all of them with `all`); answers when the next is.
    fn run_due(&self, all: bool) -> Option<Instant> {
        let now = Instant::now();
        let at = Timestamp::now();
        let mut checks = self.checks();
        for scheduled in checks.values_mut() {
            if all || scheduled.due <= now {
                let config = scheduled.check.config();
                let observed = self.cloudwatch.observe_periods(
                    &config.region,
                    &config.alarm,
                    scheduled.seen,
                    at,
                );
                for (boundary, observation) in observed {
                    scheduled.check.record(observation, at);
                    if observation != Observation::Unreachable
                        && observation != Observation::NoSuchAlarm
                    {
                        scheduled.seen = Some(boundary);
                    }
                }
                let interval = self
                    .interval_scale
                    .duration(scheduled.check.config().request_interval.seconds());
                scheduled.due = now + interval;
            }
        }
        checks.values().map(|s| s.due).min()
    }
}

/// The running health checks: each evaluated every request interval × scale on the local
/// CloudWatch. Stop them with [`HealthCheckers::stop`] (dropping them stops them too).
pub struct HealthCheckers {
    inner: Arc<Checkers>,
    task: JoinHandle<()>,
}

impl HealthCheckers {
    /// Starts `checks` on `cloudwatch`: each is evaluated at once, then every
    /// `request_interval × interval_scale`.
    pub fn start(
        cloudwatch: &LocalCloudWatch,
        checks: impl IntoIterator<Item = (HealthCheckId, HealthCheckConfig)>,
        interval_scale: TimeScale,
    ) -> Result<Self, LocalCloudWatchError> {
        let mut table = BTreeMap::new();
        let now = Instant::now();
        for (id, config) in checks {
            if cloudwatch.address(&config.region).is_none() {
                return Err(LocalCloudWatchError::HealthCheckRegion {
                    id: id.to_string(),
                    region: config.region,
                });
            }
            let scheduled = Scheduled {
                check: HealthCheck::new(config),
                due: now,
                seen: None,
            };
            if table.insert(id.clone(), scheduled).is_some() {
                return Err(LocalCloudWatchError::DuplicateHealthCheck(id.to_string()));
            }
        }
        let inner = Arc::new(Checkers {
            cloudwatch: cloudwatch.shared(),
            checks: Mutex::new(table),
            interval_scale,
        });
        let first = inner.run_due(true);
        let task = tokio::spawn(run(inner.clone(), first));
        Ok(Self { inner, task })
    }

    /// Whether health check `id` is healthy; `None` when there is no such check.
    pub fn is_healthy(&self, id: &HealthCheckId) -> Option<bool> {
        self.inner.checks().get(id).map(|s| s.check.is_healthy())
    }

    /// Health check `id` as the snapshot shows it.
    pub fn status(&self, id: &HealthCheckId) -> Option<HealthCheckSnapshot> {
        self.inner.checks().get(id).map(|s| s.check.snapshot(id))
    }

    /// Every health check, by id.
    pub fn snapshot(&self) -> Vec<HealthCheckSnapshot> {
        self.inner
            .checks()
            .iter()
            .map(|(id, s)| s.check.snapshot(id))
            .collect()
    }

    /// Evaluates every health check now, out of schedule (each then waits a full interval).
    pub fn check_now(&self) {
        self.inner.run_due(true);
    }

    /// Stops evaluating.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for HealthCheckers {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(checkers: Arc<Checkers>, mut next: Option<Instant>) {
    loop {
        // Without checks there is nothing to wait for; an hour is as good as forever.
        let wake = next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::time::sleep_until(wake).await;
        next = checkers.run_due(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(insufficient: InsufficientDataHealthStatus, threshold: u8) -> HealthCheck {
        HealthCheck::new(HealthCheckConfig {
            insufficient_data: insufficient,
            failure_threshold: FailureThreshold::new(threshold).unwrap(),
            ..HealthCheckConfig::new("us-west-2".parse().unwrap(), "a".parse().unwrap())
        })
    }

    const T: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    #[test]
    fn last_known_status_keeps_the_status_when_data_stops() {
        let mut c = check(InsufficientDataHealthStatus::LastKnownStatus, 1);
        assert!(c.is_healthy(), "new checks start healthy");
        assert!(!c.record(Observation::InsufficientData, T));
        assert!(c.is_healthy(), "no last status: healthy");
        assert!(c.record(Observation::Alarm, T));
        assert!(!c.is_healthy());
        for o in [
            Observation::InsufficientData,
            Observation::Unreachable,
            Observation::NoSuchAlarm,
        ] {
            c.record(o, T);
            assert!(!c.is_healthy(), "{o:?} keeps the last status");
        }
        assert!(c.record(Observation::Ok, T));
        assert!(c.is_healthy());
    }

    #[test]
    fn insufficient_data_can_mean_healthy_or_unhealthy() {
        let mut healthy = check(InsufficientDataHealthStatus::Healthy, 1);
        healthy.record(Observation::Alarm, T);
        healthy.record(Observation::Unreachable, T);
        assert!(healthy.is_healthy());
        let mut unhealthy = check(InsufficientDataHealthStatus::Unhealthy, 1);
        unhealthy.record(Observation::InsufficientData, T);
        assert!(!unhealthy.is_healthy());
    }

    #[test]
    fn the_failure_threshold_counts_consecutive_disagreements() {
        let mut c = check(InsufficientDataHealthStatus::LastKnownStatus, 3);
        c.record(Observation::Alarm, T);
        c.record(Observation::Alarm, T);
        c.record(Observation::Ok, T);
        c.record(Observation::Alarm, T);
        c.record(Observation::Alarm, T);
        assert!(c.is_healthy(), "the run was broken");
        assert!(c.record(Observation::Alarm, T));
        assert!(!c.is_healthy());
        let snap = c.snapshot(&"orders-primary".parse().unwrap());
        assert_eq!(snap.last_observation, Some(Observation::Alarm));
        assert_eq!(snap.status_changed, Some(T));
    }

    #[test]
    fn ids_and_thresholds_are_checked() {
        assert!("".parse::<HealthCheckId>().is_err());
        assert!("x".repeat(65).parse::<HealthCheckId>().is_err());
        assert!(FailureThreshold::new(0).is_err());
        assert!(FailureThreshold::new(11).is_err());
        assert_eq!(RequestInterval::Fast.seconds(), 10);
    }
}
