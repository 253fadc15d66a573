//! The local world's CloudWatch: an endpoint per Region (and one for us-east-1, where Route 53
//! publishes its health checks' metrics, when it is neither Region), with
//!
//! - every app's alarms of the manifest ([`alarms`]), fed by what the world measures
//!   ([`metrics`]), in both mechanisms;
//! - in the `health-check` mechanism, every app's flags, their alarms and the Route 53
//!   `CLOUDWATCH_METRIC` health checks on them ([`flags`]), which the local Route 53 follows.
//!
//! Alarm periods run faster than on AWS by `local.alarm_period_ms /
//! (failover.health_check.alarm_period_seconds × 1000)` (with the shipped settings, a minute
//! lasts a second); the health checks read the alarms every `local.health_check_interval_ms`.

pub mod alarms;
pub mod flags;
pub mod metrics;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use local_cloudwatch::{
    AlarmRecord, Fault, HealthCheckers, LocalCloudWatch, LocalCloudWatchConfig,
    LocalCloudWatchError, RequestInterval, TimeScale,
};
use serde::Serialize;
use tokio::task::JoinHandle;
use topology::manifest::{AppAlarm, Manifest, ROUTE53_METRICS_REGION, RegionalUrl};
use topology::{AppName, Mechanism, Region, Topology};

use crate::dns::Answers;
use crate::faults::CloudWatchFault;
use crate::replication::LatencyFeed;
use flags::Flag;
use metrics::{ApiRecorder, Record, Recorded, Sources};

/// What the world's names carry where AWS's carry the stack prefix: the manifest's alarm
/// names, the flags' namespace, API and function names.
pub const PREFIX: &str = "local";

/// Why the local CloudWatch could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    #[error("{0}")]
    Settings(String),
    #[error(transparent)]
    CloudWatch(#[from] LocalCloudWatchError),
    #[error("alarm `{name}` cannot be defined: {reason}")]
    Alarm { name: String, reason: String },
}

/// How fast the local clock runs its alarm periods and health checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    /// Alarm periods last `Period × period_scale` here.
    pub period_scale: TimeScale,
    /// The flags' health checks run every `30 s × check_scale` (Route 53's standard interval,
    /// scaled): every `local.health_check_interval_ms`.
    pub check_scale: Option<TimeScale>,
}

impl Clock {
    /// The scales `topology` sets; the health checks' only in the `health-check` mechanism,
    /// where they exist.
    pub fn of(topology: &Topology) -> Result<Self, MonitoringError> {
        let aws_ms = u64::from(topology.failover.health_check.alarm_period_seconds) * 1000;
        let local_ms = topology.local.alarm_period_ms;
        let period_scale = TimeScale::new(local_ms as f64 / aws_ms as f64).map_err(|_| {
            MonitoringError::Settings(format!(
                "local.alarm_period_ms = {local_ms} is longer than \
                 failover.health_check.alarm_period_seconds ({} s): the local world runs alarm \
                 periods faster than AWS, never slower; lower it",
                aws_ms / 1000
            ))
        })?;
        let check_scale =
            match topology.failover.mechanism {
                Mechanism::Arc => None,
                Mechanism::HealthCheck => {
                    let interval = topology.local.health_check_interval_ms;
                    let standard = u64::from(RequestInterval::Standard.seconds()) * 1000;
                    Some(TimeScale::new(interval as f64 / standard as f64).map_err(|_| {
                    MonitoringError::Settings(format!(
                        "local.health_check_interval_ms = {interval}: with the health-check \
                         mechanism the health checks read the alarms every 1 to {standard} ms \
                         (Route 53 checks every 30 s at most)"
                    ))
                })?)
                }
            };
        Ok(Self {
            period_scale,
            check_scale,
        })
    }

    /// One alarm period of `seconds` on AWS, here.
    pub fn period(&self, seconds: u32) -> Duration {
        self.period_scale.duration(seconds)
    }
}

/// The endpoints: the topology's two Regions (`local.cloudwatch_first_port` and the next),
/// then us-east-1 when it is neither (the port after those, or a free one).
pub fn endpoints(topology: &Topology) -> Vec<(Region, SocketAddr)> {
    let mut endpoints = topology.local_cloudwatch_endpoints();
    let route53: Region = ROUTE53_METRICS_REGION
        .parse()
        .expect("a constant Region name");
    if !topology.regions.contains(&route53) {
        let first = topology.local.cloudwatch_first_port;
        let port = if first == 0 {
            0
        } else {
            first.checked_add(2).unwrap_or(0)
        };
        endpoints.push((route53, SocketAddr::from(([127, 0, 0, 1], port))));
    }
    endpoints
}

/// The world's CloudWatch, its alarms, its flags and health checks, and the publisher of what
/// the world measures.
pub struct Monitoring {
    cloudwatch: Arc<LocalCloudWatch>,
    clock: Clock,
    mechanism: Mechanism,
    /// Every app's flags (`health-check` mechanism; empty with ARC).
    flags: Vec<Flag>,
    checkers: Option<Arc<HealthCheckers>>,
    /// Every app's alarms, as the manifest lists them.
    alarms: Vec<(AppName, AppAlarm)>,
    recorders: BTreeMap<(AppName, Region), Arc<ApiRecorder>>,
    publisher: Publisher,
}

/// The publishing task, stopped when dropped.
#[derive(Default)]
struct Publisher(Mutex<Option<JoinHandle<()>>>);

impl Publisher {
    fn replace(&self, task: JoinHandle<()>) {
        let old = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task);
        if let Some(old) = old {
            old.abort();
        }
    }

    fn stop(&self) {
        if let Some(task) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Monitoring {
    /// Starts the endpoints; in the `health-check` mechanism also defines every flag's alarm
    /// and starts their health checks.
    pub async fn start(topology: &Topology) -> Result<Self, MonitoringError> {
        let clock = Clock::of(topology)?;
        let config = LocalCloudWatchConfig {
            endpoints: endpoints(topology),
            period_scale: clock.period_scale,
        };
        let cloudwatch = Arc::new(LocalCloudWatch::start(config).await?);
        let mechanism = topology.failover.mechanism;
        let (flags, checkers) = match (mechanism, clock.check_scale) {
            (Mechanism::HealthCheck, Some(check_scale)) => {
                let flags = flags::flags_of(topology);
                let period = topology.failover.health_check.alarm_period_seconds;
                for flag in &flags {
                    cloudwatch.put_metric_alarm(&flag.published_in, flag.alarm(period)?)?;
                }
                let checks = flags
                    .iter()
                    .map(|f| (f.health_check.clone(), f.health_check_config()));
                let checkers = HealthCheckers::start(&cloudwatch, checks, check_scale)?;
                (flags, Some(Arc::new(checkers)))
            }
            _ => (Vec::new(), None),
        };
        Ok(Self {
            cloudwatch,
            clock,
            mechanism,
            flags,
            checkers,
            alarms: Vec::new(),
            recorders: BTreeMap::new(),
            publisher: Publisher::default(),
        })
    }

    /// The local CloudWatch.
    pub fn cloudwatch(&self) -> &LocalCloudWatch {
        &self.cloudwatch
    }

    /// The clock's scales.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The flags' health checks (`health-check` mechanism).
    pub fn health_checks(&self) -> Option<&Arc<HealthCheckers>> {
        self.checkers.as_ref()
    }

    /// Every endpoint, as the manifest lists them.
    pub fn endpoints(&self) -> Vec<RegionalUrl> {
        self.cloudwatch.endpoints()
    }

    /// `app`'s flags (`health-check` mechanism): the one that takes the primary out first.
    pub fn flags_of(&self, app: &AppName) -> Vec<&Flag> {
        self.flags.iter().filter(|f| f.app == *app).collect()
    }

    /// Defines every app's alarms of `manifest` in the Region that holds each.
    pub fn define_alarms(
        &mut self,
        topology: &Topology,
        manifest: &Manifest,
    ) -> Result<(), MonitoringError> {
        for entry in &manifest.apps {
            let Some(app) = topology.app(&entry.name) else {
                continue;
            };
            for alarm in &entry.alarms {
                let definition = alarms::definition(topology, app, alarm)?;
                self.cloudwatch
                    .put_metric_alarm(&alarm.region, definition)?;
                self.alarms.push((entry.name.clone(), alarm.clone()));
            }
        }
        Ok(())
    }

    /// The recorder of `app`'s instance in `region`, made on first call.
    pub fn recorder(&mut self, app: &AppName, region: &Region) -> Arc<ApiRecorder> {
        self.recorders
            .entry((app.clone(), region.clone()))
            .or_default()
            .clone()
    }

    /// Starts publishing what the instances, the replication links and the local Route 53
    /// measure, a quarter of an alarm period apart.
    pub fn start_publishing(&self, topology: &Topology, dns: Answers, replication: LatencyFeed) {
        let instances = self
            .recorders
            .iter()
            .map(|((app, region), recorder)| Recorded {
                app: app.clone(),
                region: region.clone(),
                service: topology.service(app).is_some(),
                recorder: recorder.clone(),
            })
            .collect();
        let [primary, secondary] = topology.regions.both();
        let records = topology
            .apps
            .iter()
            .map(|app| Record {
                app: app.name().clone(),
                primary: flags::health_check_id(app.name(), primary),
                secondary: flags::health_check_id(app.name(), secondary),
            })
            .collect();
        let sources = Sources {
            instances,
            replication,
            dns,
            records,
        };
        let every =
            (self.clock.period(60) / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
        let task = tokio::spawn(metrics::publish(self.cloudwatch.clone(), sources, every));
        self.publisher.replace(task);
    }

    /// Changes what `region`'s endpoint does (the Region's alarms keep being evaluated).
    pub async fn set_fault(&self, region: &Region, fault: Fault) -> Result<(), MonitoringError> {
        Ok(self.cloudwatch.set_fault(region, fault).await?)
    }

    /// The state of every endpoint and alarm.
    pub fn state(&self) -> CloudWatchState {
        let endpoints = self
            .cloudwatch
            .endpoints()
            .into_iter()
            .map(|e| CloudWatchEndpointState {
                fault: self.cloudwatch.fault(&e.region).unwrap_or_default().into(),
                region: e.region,
                url: e.url,
            })
            .collect();
        let alarms = self
            .alarms
            .iter()
            .map(|(app, a)| {
                let record = a
                    .name
                    .parse()
                    .ok()
                    .and_then(|name| self.cloudwatch.alarm(&a.region, &name));
                AlarmStatus::new(app, a, record.as_ref())
            })
            .collect();
        CloudWatchState {
            mechanism: self.mechanism.as_str().to_owned(),
            period_scale: self.clock.period_scale.factor(),
            endpoints,
            alarms,
        }
    }

    /// `app`'s flags as they stand: each one's latest value, its alarm and its health check.
    pub fn flag_states(&self, app: &AppName) -> Vec<FlagState> {
        self.flags_of(app)
            .into_iter()
            .map(|flag| {
                let latest = self.cloudwatch.latest(&flag.published_in, &flag.metric);
                let alarm = self.cloudwatch.alarm(&flag.published_in, &flag.alarm);
                let check = self
                    .checkers
                    .as_ref()
                    .and_then(|c| c.status(&flag.health_check));
                FlagState {
                    region: flag.region.clone(),
                    published_in: flag.published_in.clone(),
                    value: latest.map(|l| l.stats.maximum),
                    published_at: latest.map(|l| l.timestamp.to_string()),
                    alarm_name: flag.alarm.to_string(),
                    alarm_state: alarm.map(|a| a.state.as_str().to_owned()),
                    health_check_id: flag.health_check.to_string(),
                    healthy: check.as_ref().map(|c| c.healthy),
                    last_observation: check
                        .and_then(|c| c.last_observation)
                        .map(|o| format!("{o:?}")),
                }
            })
            .collect()
    }

    /// Stops publishing, the health checks and the endpoints.
    pub async fn shutdown(self) {
        self.publisher.stop();
        drop(self.checkers);
        if let Ok(cloudwatch) = Arc::try_unwrap(self.cloudwatch) {
            cloudwatch.shutdown().await;
        }
    }
}

/// The local CloudWatch, as the control API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CloudWatchState {
    /// The failover mechanism: `arc` or `health-check`.
    pub mechanism: String,
    /// How much shorter alarm periods are here than on AWS.
    pub period_scale: f64,
    pub endpoints: Vec<CloudWatchEndpointState>,
    /// Every app's alarms, in manifest order.
    pub alarms: Vec<AlarmStatus>,
}

/// One Region's CloudWatch endpoint and the fault injected into it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CloudWatchEndpointState {
    #[schema(value_type = String)]
    pub region: Region,
    pub url: String,
    /// As `POST /faults/cloudwatch/{region}` takes it.
    #[serde(flatten)]
    pub fault: CloudWatchFault,
}

/// One of an app's alarms and its state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlarmStatus {
    #[schema(value_type = String)]
    pub app: AppName,
    /// `error-rate`, `latency`, `function-errors`, `function-throttles`,
    /// `replication-latency`, `health-check`.
    pub kind: String,
    /// The Region it is about.
    #[schema(value_type = String)]
    pub about: Region,
    /// The Region whose CloudWatch holds it.
    #[schema(value_type = String)]
    pub region: Region,
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`; `None` if the alarm is missing.
    pub state: Option<String>,
    pub reason: Option<String>,
    /// When the state last changed (RFC 3339).
    pub since: Option<String>,
}

impl AlarmStatus {
    fn new(app: &AppName, alarm: &AppAlarm, record: Option<&AlarmRecord>) -> Self {
        Self {
            app: app.clone(),
            kind: alarm.kind.as_str().to_owned(),
            about: alarm.about.clone(),
            region: alarm.region.clone(),
            name: alarm.name.clone(),
            state: record.map(|r| r.state.as_str().to_owned()),
            reason: record.map(|r| r.reason.clone()),
            since: record.map(|r| r.state_transitioned.to_string()),
        }
    }
}

/// One flag of an app (`health-check` mechanism) as it stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlagState {
    /// The Region the flag takes out.
    #[schema(value_type = String)]
    pub region: Region,
    /// Where it lives: the other Region.
    #[schema(value_type = String)]
    pub published_in: Region,
    /// Its latest value (1: out, 0: in); `None` while never published.
    pub value: Option<f64>,
    /// When that value was published (RFC 3339).
    pub published_at: Option<String>,
    pub alarm_name: String,
    /// The alarm's state: `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub alarm_state: Option<String>,
    /// The health check of the Region's failover record, on that alarm.
    pub health_check_id: String,
    pub healthy: Option<bool>,
    /// What the health check last saw of the alarm's data: `Ok`, `Alarm`,
    /// `InsufficientData`, `NoSuchAlarm` or `Unreachable`.
    pub last_observation: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(edit: impl FnOnce(String) -> String) -> Topology {
        Topology::parse(&edit(testkit::FIXTURE_TOPOLOGY.to_owned())).unwrap()
    }

    fn health_check(text: String) -> String {
        text.replace(
            "[arc]\n",
            "[failover]\nmechanism = \"health-check\"\n\n[arc]\n",
        )
    }

    #[test]
    fn the_clock_scales_aws_periods_to_the_local_settings() {
        let clock = Clock::of(&topology(health_check)).unwrap();
        assert_eq!(
            clock.period(60),
            Duration::from_secs(1),
            "60 s lasts 1000 ms"
        );
        let checks = clock.check_scale.expect("the flags' health checks");
        assert_eq!(checks.duration(30), Duration::from_secs(1), "every 1000 ms");
        assert_eq!(
            Clock::of(&topology(|t| t)).unwrap().check_scale,
            None,
            "ARC"
        );

        let slower = topology(|t| {
            health_check(t).replace(
                "replication_lag_ms = 250\n",
                "replication_lag_ms = 250\nalarm_period_ms = 90000\n",
            )
        });
        let err = Clock::of(&slower).unwrap_err().to_string();
        assert!(err.contains("local.alarm_period_ms = 90000"), "{err}");
        let rare = topology(|t| {
            health_check(t).replace(
                "health_check_interval_ms = 1000",
                "health_check_interval_ms = 45000",
            )
        });
        let err = Clock::of(&rare).unwrap_err().to_string();
        assert!(
            err.contains("local.health_check_interval_ms = 45000"),
            "{err}"
        );
    }

    #[test]
    fn us_east_1_gets_an_endpoint_of_its_own_when_it_is_neither_region() {
        let both = endpoints(&topology(|t| t));
        let regions: Vec<&str> = both.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(regions, ["us-east-1", "us-west-2"]);
        assert_eq!(both[1].1.port(), 8102);
        let elsewhere = topology(|t| {
            t.replace("primary = \"us-east-1\"", "primary = \"eu-west-1\"")
                .replace("us-east-1 = \"127.0.1\"", "eu-west-1 = \"127.0.1\"")
        });
        let three = endpoints(&elsewhere);
        let regions: Vec<&str> = three.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(regions, ["eu-west-1", "us-west-2", "us-east-1"]);
        assert_eq!(three[2].1.port(), 8103, "the port after the Regions'");
    }
}
