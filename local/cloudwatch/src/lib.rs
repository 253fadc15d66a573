//! A local CloudWatch: one endpoint per Region on loopback, speaking CloudWatch's own wire
//! protocols, with metrics, alarms evaluated on a scaled clock, and the Route 53
//! `CLOUDWATCH_METRIC` health checks that follow those alarms.
//!
//! It is the local world's stand-in for the "health-check" failover mechanism: per app and
//! Region, a flag metric the operator publishes with `PutMetricData` into the *other* Region,
//! an alarm there on it, and a Route 53 health check on that alarm that drives a failover
//! record. With either mechanism, it also holds every app's alarms, which the local world
//! feeds with what it measures, as the AWS services would. Clients nobody here wrote (`aws-sdk-cloudwatch` for Rust, boto3) publish and read
//! the flag against it unchanged; the local world needs no AWS account, no Docker and no
//! Python to run it.
//!
//! # What is emulated
//!
//! - **Endpoints**: one per Region ([`LocalCloudWatchConfig::endpoints`]), each with its own
//!   metrics and alarms: Regions are isolated, as in CloudWatch. Port 0 picks a free port;
//!   [`LocalCloudWatch::endpoints`] reports the bound addresses.
//! - **Wire protocols**: Smithy RPC v2 CBOR (what the Rust SDK sends: `POST
//!   /service/GraniteServiceVersion20100801/operation/<Operation>`, `smithy-protocol:
//!   rpc-v2-cbor`) and AWS JSON 1.0 (what boto3 sends: `X-Amz-Target:
//!   GraniteServiceVersion20100801.<Operation>`), gzip request bodies (the SDKs compress large
//!   PutMetricData calls). Errors come in each protocol's shape, `{"__type", "message"}` plus
//!   the `x-amzn-query-error: <Code>;Sender` header from which the SDKs make typed errors
//!   (`InvalidParameterValue`, `MissingParameter`, `InvalidParameterCombination`,
//!   `ResourceNotFound`, `InvalidNextToken`, `InvalidFormat`, `LimitExceeded`); an operation
//!   whose model lacks the code answers CloudWatch's generic `ValidationError`, as CloudWatch
//!   does. Requests must be SigV4-signed; **any credentials are accepted** (the signature is
//!   not checked).
//! - **Operations**: PutMetricData (values, values with counts, statistic sets, timestamps,
//!   dimensions, units, storage resolution), GetMetricData (`MetricStat` queries, `ScanBy`,
//!   `MaxDatapoints` with `NextToken`), GetMetricStatistics, ListMetrics, PutMetricAlarm,
//!   DescribeAlarms (by names, prefix, state, action prefix; paged), DeleteAlarms,
//!   SetAlarmState, with CloudWatch's validation of the fields they take.
//! - **Alarm evaluation** (see [`alarms`]): periods, evaluation periods, datapoints to alarm,
//!   missing-data treatment, OK / ALARM / INSUFFICIENT_DATA with CloudWatch's reasons;
//!   `SetAlarmState` holds until the next evaluation. Alarms compute the standard statistics
//!   and percentiles (`ExtendedStatistic`, `p99`) of the values published.
//! - **The clock**: [`TimeScale`], the `period_scale` knob. An alarm with `Period` P is
//!   evaluated every `P × period_scale` over periods of that length (`0.1`: a 10-second alarm
//!   period lasts one second). Datapoint timestamps are wall-clock times, never scaled.
//! - **Route 53 health checks** of type `CLOUDWATCH_METRIC` ([`health_check`]): they follow
//!   the alarm's metric data, not its state, every request interval × their own scale, with a
//!   failure threshold and `InsufficientDataHealthStatus`; an unreachable Region's endpoint is
//!   insufficient data.
//!
//! How long a published value takes to show, with `P` the alarm's period × `period_scale`
//! and `I` the health check's request interval × its scale: the alarm's state changes when the
//! period holding the datapoint ends, at most `P` later; a health check sees it at its first
//! evaluation after that, and changes after `FailureThreshold` of them: at most
//! `P + FailureThreshold × I` after the `PutMetricData`.
//! - **Faults** per endpoint ([`Fault`]): down (connections refused) and hang (requests
//!   accepted, never answered).
//! - **Observability**: [`LocalCloudWatch::snapshot`] and [`HealthCheckers::snapshot`],
//!   serializable.
//!
//! # What is not
//!
//! Every other CloudWatch operation (answered with `UnknownOperationException`); the awsQuery
//! protocol; metric math, anomaly detection, composite alarms, percentiles in queries
//! (GetMetricData, GetMetricStatistics: alarms only), other extended statistics, dashboards,
//! metric streams, entities; alarm actions (stored, never run); CloudWatch looking further back than the evaluation periods for late data; data retention tiers (each metric
//! keeps its latest [`metrics::MAX_POINTS_PER_METRIC`] datapoints). Standard-resolution data
//! is served by the minute to queries, as CloudWatch does, but alarms read every datapoint at
//! its own time.
//!
//! # Example
//!
//! ```no_run
//! use local_cloudwatch::{LocalCloudWatch, LocalCloudWatchConfig, TimeScale};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let regions = ["us-east-1".parse()?, "us-west-2".parse()?];
//! let mut config = LocalCloudWatchConfig::ephemeral(regions);
//! config.period_scale = TimeScale::new(0.1)?;
//! let cloudwatch = LocalCloudWatch::start(config).await?;
//! for endpoint in cloudwatch.endpoints() {
//!     println!("CloudWatch in {} at {}", endpoint.region, endpoint.url);
//! }
//! cloudwatch.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod alarms;
mod endpoint;
mod error;
pub mod health_check;
pub mod metrics;
pub mod model;
mod queries;
mod region;
mod snapshot;
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use topology::Region;
use topology::manifest::RegionalUrl;

pub use alarms::{ACCOUNT, AlarmDefinition, AlarmRecord};
pub use error::{CloudWatchError, LocalCloudWatchError};
pub use health_check::{
    FailureThreshold, HealthCheckConfig, HealthCheckId, HealthCheckSnapshot, HealthCheckers,
    InsufficientDataHealthStatus, Observation, RequestInterval,
};
pub use metrics::{MetricDatum, Sample};
pub use model::{
    AlarmName, AlarmState, AlarmStatistic, ComparisonOperator, Dimensions, MetricId, MetricName,
    Namespace, Percentile, Period, Statistic, StorageResolution, TimeScale, Timestamp,
    TreatMissingData, Unit,
};
pub use snapshot::{AlarmSnapshot, CloudWatchSnapshot, MetricSnapshot, RegionSnapshot};

use endpoint::Endpoint;
use region::RegionState;

/// What an endpoint does with requests; switch with [`LocalCloudWatch::set_fault`]. Faults
/// cut the network path only: the Region's alarms keep being evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Answers normally.
    #[default]
    None,
    /// The listener is closed: connections are refused.
    Down,
    /// Accepts connections and requests, and answers none until the fault is lifted.
    Hang,
}

/// Where the endpoints listen and how fast the clock runs.
#[derive(Debug, Clone)]
pub struct LocalCloudWatchConfig {
    /// One endpoint per Region, each on its own address. Port 0 picks a free port, kept when a
    /// Down endpoint comes back.
    pub endpoints: Vec<(Region, SocketAddr)>,
    /// Alarm periods last `Period × period_scale` here.
    pub period_scale: TimeScale,
}

impl LocalCloudWatchConfig {
    /// An endpoint per Region on a free port of 127.0.0.1, at AWS's pace.
    pub fn ephemeral(regions: impl IntoIterator<Item = Region>) -> Self {
        Self {
            endpoints: regions
                .into_iter()
                .map(|r| (r, SocketAddr::from(([127, 0, 0, 1], 0))))
                .collect(),
            period_scale: TimeScale::AWS,
        }
    }
}

/// One Region: its state, its endpoint's fault and counters.
pub(crate) struct RegionSlot {
    pub(crate) region: Region,
    state: Mutex<RegionState>,
    fault: Mutex<Fault>,
    pub(crate) counters: wire::Counters,
}

impl RegionSlot {
    pub(crate) fn state(&self) -> MutexGuard<'_, RegionState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn fault(&self) -> Fault {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }
}

/// The state shared by the endpoints, the evaluator and the health checks.
pub(crate) struct Shared {
    pub(crate) regions: Vec<RegionSlot>,
    pub(crate) period_scale: TimeScale,
    /// Wakes the evaluator when an alarm is created or redefined.
    pub(crate) alarms_changed: Notify,
}

impl Shared {
    fn slot(&self, region: &Region) -> Result<&RegionSlot, LocalCloudWatchError> {
        self.regions
            .iter()
            .find(|s| s.region == *region)
            .ok_or_else(|| LocalCloudWatchError::NoSuchRegion(region.clone()))
    }

    /// What a health check on `alarm` in `region` sees at `at`.
    pub(crate) fn observe(&self, region: &Region, alarm: &AlarmName, at: Timestamp) -> Observation {
        self.observe_periods(region, alarm, None, at)
            .pop()
            .map_or(Observation::NoSuchAlarm, |(_, o)| o)
    }

    /// What a health check on `alarm` in `region` sees at `at`, at every boundary of the
    /// alarm's periods after `seen` (the last one it evaluated), oldest first: a check whose
    /// interval is longer than the period, or that runs late, misses no period (at most
    /// [`MAX_CATCH_UP`] of them; older ones cannot outweigh the newer). When no period ended
    /// since `seen` (or without `seen`), the latest boundary alone. An unreachable endpoint or
    /// a missing alarm is one observation, at `at`.
    pub(crate) fn observe_periods(
        &self,
        region: &Region,
        alarm: &AlarmName,
        seen: Option<Timestamp>,
        at: Timestamp,
    ) -> Vec<(Timestamp, Observation)> {
        let Ok(slot) = self.slot(region) else {
            return vec![(at, Observation::Unreachable)];
        };
        if slot.fault() != Fault::None {
            return vec![(at, Observation::Unreachable)];
        }
        let state = slot.state();
        let Some(length) = state.period_millis(alarm, self.period_scale) else {
            return vec![(at, Observation::NoSuchAlarm)];
        };
        let last = at.floor_to(length).millis();
        let oldest = last - (MAX_CATCH_UP - 1) * length;
        let first = seen.map_or(last, |s| (s.millis() + length).clamp(oldest, last));
        (0..)
            .map(|i| first + i * length)
            .take_while(|b| *b <= last)
            .filter_map(|b| {
                let boundary = Timestamp::from_millis(b);
                let evaluation = state.evaluate_alarm_data(alarm, boundary, self.period_scale)?;
                Some((boundary, observation(&evaluation.decision)))
            })
            .collect()
    }

    /// Evaluates the due alarms of every Region; answers when the next is due.
    fn evaluate_due(&self) -> Option<i64> {
        let now = Timestamp::now();
        self.regions
            .iter()
            .filter_map(|slot| slot.state().evaluate_due(now, self.period_scale))
            .min()
    }
}

/// The most alarm periods a health check evaluates at once after missing some.
const MAX_CATCH_UP: i64 = 10;

/// A health check's reading of an alarm's verdict on its data.
fn observation(decision: &alarms::Decision) -> Observation {
    match decision {
        alarms::Decision::State(AlarmState::Ok) => Observation::Ok,
        alarms::Decision::State(AlarmState::Alarm) => Observation::Alarm,
        alarms::Decision::State(AlarmState::InsufficientData) | alarms::Decision::Keep => {
            Observation::InsufficientData
        }
    }
}

/// The running local CloudWatch. Stop it with [`LocalCloudWatch::shutdown`]; dropping it
/// also stops the endpoints and the evaluator (without waiting).
pub struct LocalCloudWatch {
    shared: Arc<Shared>,
    endpoints: Vec<Endpoint>,
    evaluator: JoinHandle<()>,
    /// Serializes fault changes, which close and reopen listeners.
    fault_lock: tokio::sync::Mutex<()>,
}

impl LocalCloudWatch {
    /// Starts an endpoint per configured Region and the alarm evaluator.
    pub async fn start(config: LocalCloudWatchConfig) -> Result<Self, LocalCloudWatchError> {
        if config.endpoints.is_empty() {
            return Err(LocalCloudWatchError::NoRegions);
        }
        let mut regions: Vec<RegionSlot> = Vec::with_capacity(config.endpoints.len());
        for (region, _) in &config.endpoints {
            if regions.iter().any(|s| s.region == *region) {
                return Err(LocalCloudWatchError::DuplicateRegion(region.clone()));
            }
            regions.push(RegionSlot {
                region: region.clone(),
                state: Mutex::new(RegionState::new(region.clone())),
                fault: Mutex::new(Fault::None),
                counters: wire::Counters::default(),
            });
        }
        let shared = Arc::new(Shared {
            regions,
            period_scale: config.period_scale,
            alarms_changed: Notify::new(),
        });
        let mut endpoints = Vec::with_capacity(config.endpoints.len());
        for (index, (region, addr)) in config.endpoints.iter().enumerate() {
            endpoints.push(Endpoint::start(shared.clone(), index, region.clone(), *addr).await?);
        }
        let evaluator = tokio::spawn(evaluate(shared.clone()));
        Ok(Self {
            shared,
            endpoints,
            evaluator,
            fault_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// The alarm clock's scale.
    pub fn period_scale(&self) -> TimeScale {
        self.shared.period_scale
    }

    /// Every Region's endpoint, `http://127.0.0.1:<port>`, in the configured order.
    pub fn endpoints(&self) -> Vec<RegionalUrl> {
        self.endpoints
            .iter()
            .map(|e| RegionalUrl {
                region: e.region.clone(),
                url: format!("http://{}", e.addr),
            })
            .collect()
    }

    /// The URL of `region`'s endpoint.
    pub fn url(&self, region: &Region) -> Option<String> {
        self.address(region).map(|a| format!("http://{a}"))
    }

    /// The bound address of `region`'s endpoint.
    pub fn address(&self, region: &Region) -> Option<SocketAddr> {
        self.endpoints
            .iter()
            .find(|e| e.region == *region)
            .map(|e| e.addr)
    }

    /// The fault of `region`'s endpoint.
    pub fn fault(&self, region: &Region) -> Option<Fault> {
        self.shared.slot(region).ok().map(RegionSlot::fault)
    }

    /// Changes what `region`'s endpoint does. `Down` closes its listener (connections are
    /// refused and open ones are cut); leaving `Down` listens again on the same address.
    pub async fn set_fault(
        &self,
        region: &Region,
        fault: Fault,
    ) -> Result<(), LocalCloudWatchError> {
        let _serial = self.fault_lock.lock().await;
        let index = self
            .endpoints
            .iter()
            .position(|e| e.region == *region)
            .ok_or_else(|| LocalCloudWatchError::NoSuchRegion(region.clone()))?;
        let (endpoint, slot) = (&self.endpoints[index], &self.shared.regions[index]);
        let before = slot.fault();
        if fault == Fault::Down && before != Fault::Down {
            endpoint.close().await;
        }
        slot.set_fault(fault);
        if fault != Fault::Down && before == Fault::Down {
            endpoint.reopen(self.shared.clone(), index).await?;
        }
        Ok(())
    }

    /// Publishes `data` into `namespace` in `region`, in process: what an AWS service does,
    /// so `AWS/` namespaces are allowed here (the wire refuses them, as CloudWatch does).
    pub fn put_metric_data(
        &self,
        region: &Region,
        namespace: &Namespace,
        data: &[MetricDatum],
    ) -> Result<(), LocalCloudWatchError> {
        let slot = self.shared.slot(region)?;
        slot.state()
            .put_metric_data(namespace, data, Timestamp::now())?;
        Ok(())
    }

    /// Creates or redefines an alarm in `region`, in process (what a deploy's template does
    /// on AWS).
    pub fn put_metric_alarm(
        &self,
        region: &Region,
        definition: AlarmDefinition,
    ) -> Result<(), LocalCloudWatchError> {
        let slot = self.shared.slot(region)?;
        slot.state()
            .put_metric_alarm(definition, Timestamp::now(), self.shared.period_scale)?;
        self.shared.alarms_changed.notify_one();
        Ok(())
    }

    /// Sets an alarm's state until its next evaluation, in process.
    pub fn set_alarm_state(
        &self,
        region: &Region,
        alarm: &AlarmName,
        state: AlarmState,
        reason: &str,
    ) -> Result<(), LocalCloudWatchError> {
        let slot = self.shared.slot(region)?;
        slot.state()
            .set_alarm_state(alarm, state, reason.to_owned(), None, Timestamp::now())?;
        Ok(())
    }

    /// Alarm `name` in `region`, with its state.
    pub fn alarm(&self, region: &Region, name: &AlarmName) -> Option<AlarmRecord> {
        let slot = self.shared.slot(region).ok()?;
        let state = slot.state();
        state.alarms.get(name).cloned()
    }

    /// The latest datapoint of `metric` in `region` (by its timestamp), if it has any.
    pub fn latest(&self, region: &Region, metric: &MetricId) -> Option<metrics::Latest> {
        let slot = self.shared.slot(region).ok()?;
        let state = slot.state();
        state.metrics.latest_of(metric)
    }

    /// What a `CLOUDWATCH_METRIC` health check on `alarm` in `region` would see now.
    pub fn observe(&self, region: &Region, alarm: &AlarmName) -> Observation {
        self.shared.observe(region, alarm, Timestamp::now())
    }

    /// Every Region's endpoint, metrics with their latest datapoint, and alarms with their
    /// state.
    pub fn snapshot(&self) -> CloudWatchSnapshot {
        let regions = self
            .shared
            .regions
            .iter()
            .zip(&self.endpoints)
            .map(|(slot, endpoint)| {
                let state = slot.state();
                let count =
                    |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
                RegionSnapshot {
                    region: slot.region.clone(),
                    url: format!("http://{}", endpoint.addr),
                    fault: slot.fault(),
                    requests: count(&slot.counters.requests),
                    gzip_requests: count(&slot.counters.gzip),
                    error_responses: count(&slot.counters.errors),
                    metrics: state
                        .metrics
                        .latest()
                        .map(|(metric, latest)| MetricSnapshot {
                            metric: metric.clone(),
                            latest,
                        })
                        .collect(),
                    alarms: state.alarms.values().map(AlarmSnapshot::from).collect(),
                }
            })
            .collect();
        CloudWatchSnapshot {
            period_scale: self.shared.period_scale.factor(),
            regions,
        }
    }

    /// Stops the evaluator and every endpoint, and waits until their listeners are closed.
    pub async fn shutdown(self) {
        self.evaluator.abort();
        for endpoint in &self.endpoints {
            endpoint.close().await;
        }
    }
}

impl Drop for LocalCloudWatch {
    fn drop(&mut self) {
        self.evaluator.abort();
    }
}

/// The alarm evaluator: sleeps until the next alarm is due or an alarm changes.
async fn evaluate(shared: Arc<Shared>) {
    loop {
        let next = shared.evaluate_due();
        let now = Timestamp::now().millis();
        // Without alarms there is nothing to wait for but a new one.
        let wait = next.map_or(Duration::from_secs(3600), |due| {
            Duration::from_millis(due.saturating_sub(now).max(1).unsigned_abs())
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shared.alarms_changed.notified() => {}
        }
    }
}
