//! The `health-check` mechanism's data plane: per app and Region, the flag "this Region is
//! out", a CloudWatch metric published into the *other* Region, where an alarm on it drives the
//! `CLOUDWATCH_METRIC` health check of the Region's failover record. Publishing is
//! `PutMetricData`, reading is `GetMetricData`: regional data-plane calls, each made only to the
//! Region that holds the flag, so taking a Region out never calls it.
//!
//! [`rules`] says what Route 53 answers for each combination of flags and what a move
//! publishes; [`series`] when a value is stamped so that it wins; [`moves`] runs a move;
//! [`status`] reads every flag.

pub mod moves;
pub mod rules;
pub mod series;
pub mod status;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, ScanBy,
};
use serde::Serialize;
use topology::manifest::{
    AppEntry, FLAG_APP_DIMENSION, FLAG_REGION_DIMENSION, FlagMetric, Manifest,
};
use topology::{AppName, Region};

use crate::client::ClientConfig;
use crate::cloudwatch::{CallError, CallTimeouts, CloudWatch, classify};
use crate::error::FailoverError;
pub use moves::{FlagChange, FlagShift, Step, StepResult};
pub use series::{Millis, Series, Stamp};
pub use status::{AppFlags, FlagStatus, Stamped};

/// How far back a flag is looked for: a flag is published once per move and holds until the
/// next, and CloudWatch keeps one-minute data for 15 days (older flags are read from their
/// alarms, which keep their state).
const LOOKBACK: Duration = Duration::from_secs(14 * 24 * 3600);

/// How far ahead: a clear may be stamped for a coming minute (see [`series`]).
const AHEAD: Duration = Duration::from_secs(10 * 60);

/// The most queries one GetMetricData call takes.
const QUERIES_PER_CALL: usize = 500;

/// The most datums one PutMetricData call takes.
const DATUMS_PER_CALL: usize = 1000;

/// Standard resolution: Route 53 follows only alarms on standard-resolution metrics.
const STANDARD_RESOLUTION: i32 = 60;

/// One flag: the one that takes `region` out of `app`'s answers, held in `published_in`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlagRef {
    pub app: AppName,
    pub region: Region,
    pub published_in: Region,
}

impl FlagRef {
    /// The flag of `app` that takes `region` out.
    pub fn of(app: &AppEntry, region: &Region) -> Option<Self> {
        let flag = app.flag(region)?;
        Some(Self {
            app: app.name.clone(),
            region: region.clone(),
            published_in: flag.published_in.clone(),
        })
    }
}

/// The client of the flags. Cheap to share by reference; every operation takes `&self`.
pub struct FlagsClient {
    manifest: Manifest,
    metric: FlagMetric,
    config: ClientConfig,
    cloudwatch: Arc<CloudWatch>,
}

impl FlagsClient {
    /// A client for the flags named in `manifest` (a `health-check` deployment). Local
    /// manifests use fixed test credentials; AWS manifests the standard credential chain.
    pub fn from_manifest(manifest: &Manifest, config: ClientConfig) -> Result<Self, FailoverError> {
        let cloudwatch = CloudWatch::for_manifest(manifest, timeouts(&config));
        Self::with_cloudwatch(manifest, config, Arc::new(cloudwatch))
    }

    /// As [`FlagsClient::from_manifest`], sharing `cloudwatch`'s clients.
    pub fn with_cloudwatch(
        manifest: &Manifest,
        config: ClientConfig,
        cloudwatch: Arc<CloudWatch>,
    ) -> Result<Self, FailoverError> {
        let Some(metric) = manifest.flag_metric() else {
            return Err(FailoverError::Usage(format!(
                "this deployment uses the `{}` mechanism, not the health-check flags",
                manifest.mechanism()
            )));
        };
        for endpoint in &metric.endpoints {
            if !(endpoint.url.starts_with("http://") || endpoint.url.starts_with("https://")) {
                return Err(FailoverError::Usage(format!(
                    "CloudWatch endpoint `{}` ({}) is not an http(s) URL",
                    endpoint.url, endpoint.region
                )));
            }
        }
        Ok(Self {
            manifest: manifest.clone(),
            metric: metric.clone(),
            config,
            cloudwatch,
        })
    }

    /// The manifest this client was built from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The client's settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The CloudWatch clients, per Region.
    pub fn cloudwatch(&self) -> &CloudWatch {
        &self.cloudwatch
    }

    /// The flags that take `region` out, of `apps`, in `apps`' order.
    pub fn flags_out(&self, apps: &[&AppEntry], region: &Region) -> Vec<FlagRef> {
        apps.iter().filter_map(|a| FlagRef::of(a, region)).collect()
    }

    /// `flags` (all held in `holder`) as `holder`'s CloudWatch has them: each minute's
    /// Maximum, from `LOOKBACK` (fourteen days) ago to a few minutes ahead.
    pub async fn read(
        &self,
        holder: &Region,
        flags: &[FlagRef],
        now: Millis,
    ) -> Result<Vec<Series>, CallError> {
        let mut all = Vec::with_capacity(flags.len());
        for chunk in flags.chunks(QUERIES_PER_CALL) {
            all.extend(self.read_chunk(holder, chunk, now).await?);
        }
        Ok(all)
    }

    async fn read_chunk(
        &self,
        holder: &Region,
        flags: &[FlagRef],
        now: Millis,
    ) -> Result<Vec<Series>, CallError> {
        let queries: Vec<MetricDataQuery> = flags
            .iter()
            .enumerate()
            .map(|(i, flag)| {
                MetricDataQuery::builder()
                    .id(format!("f{i}"))
                    .metric_stat(
                        MetricStat::builder()
                            .metric(self.metric_of(flag))
                            .period(STANDARD_RESOLUTION)
                            .stat("Maximum")
                            .build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let start = series::minute_of(now - millis(LOOKBACK));
        let end = series::minute_of(now + millis(AHEAD));
        let mut points: Vec<Vec<(Millis, f64)>> = vec![Vec::new(); flags.len()];
        let mut token: Option<String> = None;
        loop {
            let (queries, token_now) = (queries.clone(), token.clone());
            let page = self
                .cloudwatch
                .call(holder, |client| async move {
                    client
                        .get_metric_data()
                        .set_metric_data_queries(Some(queries))
                        .start_time(DateTime::from_millis(start))
                        .end_time(DateTime::from_millis(end))
                        .scan_by(ScanBy::TimestampDescending)
                        .set_next_token(token_now)
                        .send()
                        .await
                        .map_err(|e| classify(holder, e))
                })
                .await?;
            for result in page.metric_data_results() {
                let index = result
                    .id()
                    .and_then(|id| id.strip_prefix('f'))
                    .and_then(|i| i.parse::<usize>().ok())
                    .filter(|i| *i < flags.len())
                    .ok_or_else(|| {
                        CallError::Unanswered(format!(
                            "{holder}'s CloudWatch answered a query that was not asked"
                        ))
                    })?;
                let times = result
                    .timestamps()
                    .iter()
                    .filter_map(|t| t.to_millis().ok());
                points[index].extend(times.zip(result.values().iter().copied()));
            }
            match page.next_token() {
                Some(next) if token.as_deref() != Some(next) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(points.into_iter().map(Series::from_points).collect())
    }

    /// Publishes `values` (flag, set or clear, when) into `into`, once; standard resolution.
    pub async fn publish(
        &self,
        into: &Region,
        values: &[(FlagRef, bool, Stamp)],
    ) -> Result<(), CallError> {
        let datums: Vec<MetricDatum> = values
            .iter()
            .map(|(flag, out, stamp)| {
                let at = match stamp {
                    Stamp::Now => None,
                    Stamp::At(at) => Some(DateTime::from_millis(*at)),
                };
                MetricDatum::builder()
                    .metric_name(&self.metric.metric_name)
                    .set_dimensions(Some(dimensions(flag)))
                    .value(if *out { 1.0 } else { 0.0 })
                    .set_timestamp(at)
                    .storage_resolution(STANDARD_RESOLUTION)
                    .build()
            })
            .collect();
        for chunk in datums.chunks(DATUMS_PER_CALL) {
            let chunk = chunk.to_vec();
            let namespace = self.metric.namespace.clone();
            self.cloudwatch
                .call(into, |client| async move {
                    client
                        .put_metric_data()
                        .namespace(namespace)
                        .set_metric_data(Some(chunk))
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| classify(into, e))
                })
                .await?;
        }
        Ok(())
    }

    /// As [`FlagsClient::publish`], tried again while `into` does not answer, until the
    /// client's deadline: for the step a move cannot do without.
    pub async fn publish_required(
        &self,
        into: &Region,
        values: &[(FlagRef, bool, Stamp)],
    ) -> Result<u32, CallError> {
        let deadline = tokio::time::Instant::now() + self.config.deadline;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.publish(into, values).await {
                Ok(()) => return Ok(attempts),
                Err(e) if e.is_unanswered() => {
                    let pause = Duration::from_millis(100 * u64::from(attempts.min(5)));
                    if tokio::time::Instant::now() + pause + self.config.connect_timeout >= deadline
                    {
                        return Err(e);
                    }
                    tracing::debug!(region = %into, error = %e, "PutMetricData failed, trying again");
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn metric_of(&self, flag: &FlagRef) -> Metric {
        Metric::builder()
            .namespace(&self.metric.namespace)
            .metric_name(&self.metric.metric_name)
            .set_dimensions(Some(dimensions(flag)))
            .build()
    }
}

/// The per-call timeouts of a client configuration: its connect and attempt timeouts.
pub fn timeouts(config: &ClientConfig) -> CallTimeouts {
    CallTimeouts {
        connect: config.connect_timeout,
        call: config.attempt_timeout,
    }
}

fn dimensions(flag: &FlagRef) -> Vec<Dimension> {
    vec![
        Dimension::builder()
            .name(FLAG_APP_DIMENSION)
            .value(flag.app.as_str())
            .build(),
        Dimension::builder()
            .name(FLAG_REGION_DIMENSION)
            .value(flag.region.as_str())
            .build(),
    ]
}

/// Now, in milliseconds since the epoch.
pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn millis(d: Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A time as RFC 3339, for reports.
pub fn rfc3339(at: Millis) -> String {
    DateTime::from_millis(at)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| at.to_string())
}
