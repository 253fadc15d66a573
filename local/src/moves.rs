//! A move of apps between Regions by the deployment's mechanism, for the drill and the
//! dashboard ([`Mover`]): the `failover` library's ARC client, or the `health-check`
//! mechanism's flags published with the AWS SDK for CloudWatch ([`FlagClient`]), as an
//! operator's tool publishes them.
//!
//! [`FlagClient`] stands in until the `failover` library drives the flags itself; the drill and
//! the dashboard then call that instead, and this client goes.
//!
//! # The move rules of the flags
//!
//! Moving apps to Region R, away from L (each flag lives in the Region it does not take out):
//! 1. into R, the Region that stays: "L is out" = 1 for each app. The move fails when R's
//!    CloudWatch does not take it.
//! 2. into L: "R is out" = 0, so that an earlier move's flag no longer holds R out. Best
//!    effort: L may be unreachable (often the reason to move), and the flag matters only when
//!    an earlier move set it; a failure is reported with the outcome as a warning.
//!
//! Route 53 then answers R (R's record healthy, L's not); with both flags set it answers the
//! primary (its third rule), so a move to the primary never depends on the secondary's
//! CloudWatch. A move to the secondary does, once, when an earlier move to the primary set
//! "secondary is out" and the primary's CloudWatch has been unreachable since: the warning
//! says so.

use std::time::Duration;

use aws_sdk_cloudwatch as cloudwatch;
use cloudwatch::config::retry::RetryConfig;
use cloudwatch::config::timeout::TimeoutConfig;
use cloudwatch::error::{ProvideErrorMetadata, SdkError};
use cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StateValue};
use failover::{FailoverError, ShiftOptions, ShiftOutcome};
use topology::manifest::{FLAG_APP_DIMENSION, FLAG_REGION_DIMENSION, Manifest};
use topology::{AppName, Region};

/// How long one CloudWatch call may take: a Region that does not answer must not stall a move.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a move was not made.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// ARC refused it, or could not be reached (the `failover` library's own error).
    #[error(transparent)]
    Failover(#[from] FailoverError),
    /// Bad input: an unknown app or Region, or a manifest this client cannot drive.
    #[error("{0}")]
    Usage(String),
    /// The Region that stays did not take the flags: nothing moves.
    #[error("the flags were not published in {region}: {reason}")]
    Unpublished { region: Region, reason: String },
}

/// What a move did.
#[derive(Debug, Clone, PartialEq)]
pub struct Moved {
    pub apps: Vec<AppName>,
    pub to: Region,
    /// How it was made, in words.
    pub how: String,
    /// What did not go through and may matter (a flag not cleared in the Region left).
    pub warnings: Vec<String>,
}

/// Moves apps by the deployment's mechanism.
pub enum Mover {
    Arc(Box<failover::Client>),
    Flags(Box<FlagClient>),
}

impl Mover {
    /// The mover of `manifest`'s mechanism.
    pub fn from_manifest(manifest: &Manifest) -> Result<Self, MoveError> {
        match manifest.cluster() {
            Some(_) => Ok(Self::Arc(Box::new(failover::Client::from_manifest(
                manifest,
                failover::ClientConfig::default(),
            )?))),
            None => Ok(Self::Flags(Box::new(FlagClient::from_manifest(manifest)?))),
        }
    }

    /// The ARC client (`arc` mechanism).
    pub fn arc(&self) -> Option<&failover::Client> {
        match self {
            Self::Arc(client) => Some(client),
            Self::Flags(_) => None,
        }
    }

    /// The flags' client (`health-check` mechanism).
    pub fn flags(&self) -> Option<&FlagClient> {
        match self {
            Self::Flags(client) => Some(client),
            Self::Arc(_) => None,
        }
    }

    /// Moves `apps` to `to`.
    pub async fn shift(&self, apps: &[AppName], to: &Region) -> Result<Moved, MoveError> {
        match self {
            Self::Arc(client) => {
                let outcome = client.shift(apps, to, ShiftOptions::default()).await?;
                Ok(arc_moved(&outcome))
            }
            Self::Flags(client) => client.shift(apps, to).await,
        }
    }

    /// Moves every app away from `from`.
    pub async fn evacuate(&self, from: &Region) -> Result<Moved, MoveError> {
        match self {
            Self::Arc(client) => {
                let outcome = client.evacuate(from, ShiftOptions::default()).await?;
                Ok(arc_moved(&outcome))
            }
            Self::Flags(client) => {
                let to = client
                    .manifest
                    .regions
                    .other(from)
                    .ok_or_else(|| MoveError::Usage(format!("no Region `{from}` here")))?
                    .clone();
                let apps: Vec<AppName> = client
                    .manifest
                    .apps
                    .iter()
                    .map(|a| a.name.clone())
                    .collect();
                client.shift(&apps, &to).await
            }
        }
    }
}

fn arc_moved(outcome: &ShiftOutcome) -> Moved {
    let via: Vec<String> = outcome
        .batches
        .iter()
        .filter_map(|b| b.answer.as_ref())
        .map(|a| {
            format!(
                "ARC endpoint {} answered after {} attempt(s), {} ms",
                a.endpoint.region, a.attempts, a.elapsed_ms
            )
        })
        .collect();
    Moved {
        apps: outcome.apps.clone(),
        to: outcome.to.clone(),
        how: via.join("; "),
        warnings: Vec::new(),
    }
}

/// Publishes and reads the `health-check` mechanism's flags with the AWS SDK, against the
/// CloudWatch endpoints the manifest names (the local world's; any credentials do there).
pub struct FlagClient {
    manifest: Manifest,
    namespace: String,
    metric: String,
    clients: Vec<(Region, cloudwatch::Client)>,
}

impl FlagClient {
    /// A client for `manifest`'s flags; it must name a CloudWatch endpoint in both Regions.
    pub fn from_manifest(manifest: &Manifest) -> Result<Self, MoveError> {
        let flags = manifest.flag_metric().ok_or_else(|| {
            MoveError::Usage(format!(
                "this deployment uses the `{}` mechanism, not flags",
                manifest.mechanism()
            ))
        })?;
        let credentials = cloudwatch::config::Credentials::new(
            "AKIDLOCALFLAGS",
            "local-flags-secret",
            None,
            None,
            "local-world",
        );
        let clients = manifest
            .regions
            .both()
            .into_iter()
            .map(|region| {
                let url = flags.endpoint(region).ok_or_else(|| {
                    MoveError::Usage(format!(
                        "the manifest names no CloudWatch endpoint in {region} (this client drives the local world's flags; on AWS use `failover`)"
                    ))
                })?;
                let config = cloudwatch::Config::builder()
                    .behavior_version(cloudwatch::config::BehaviorVersion::latest())
                    .credentials_provider(credentials.clone())
                    .region(cloudwatch::config::Region::new(region.to_string()))
                    .endpoint_url(url.trim_end_matches('/'))
                    .retry_config(RetryConfig::disabled())
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(Duration::from_millis(500))
                            .operation_timeout(CALL_TIMEOUT)
                            .build(),
                    )
                    .build();
                Ok((region.clone(), cloudwatch::Client::from_conf(config)))
            })
            .collect::<Result<_, MoveError>>()?;
        Ok(Self {
            manifest: manifest.clone(),
            namespace: flags.namespace.clone(),
            metric: flags.metric_name.clone(),
            clients,
        })
    }

    fn client(&self, region: &Region) -> Result<&cloudwatch::Client, MoveError> {
        self.clients
            .iter()
            .find(|(r, _)| r == region)
            .map(|(_, c)| c)
            .ok_or_else(|| MoveError::Usage(format!("no Region `{region}` here")))
    }

    fn other(&self, region: &Region) -> Result<&Region, MoveError> {
        self.manifest
            .regions
            .other(region)
            .ok_or_else(|| MoveError::Usage(format!("no Region `{region}` here")))
    }

    fn check_apps(&self, apps: &[AppName]) -> Result<(), MoveError> {
        match apps.iter().find(|a| self.manifest.app(a).is_none()) {
            Some(app) => Err(MoveError::Usage(format!("no app `{app}` here"))),
            None => Ok(()),
        }
    }

    /// Moves `apps` to `to` by the move rules (see the module's docs).
    pub async fn shift(&self, apps: &[AppName], to: &Region) -> Result<Moved, MoveError> {
        self.check_apps(apps)?;
        let left = self.other(to)?.clone();
        let out: Vec<(AppName, Region, f64)> = apps
            .iter()
            .map(|a| (a.clone(), left.clone(), 1.0))
            .collect();
        self.publish(to, &out)
            .await
            .map_err(|reason| MoveError::Unpublished {
                region: to.clone(),
                reason,
            })?;
        let back_in: Vec<(AppName, Region, f64)> =
            apps.iter().map(|a| (a.clone(), to.clone(), 0.0)).collect();
        let warnings = match self.publish(&left, &back_in).await {
            Ok(()) => Vec::new(),
            Err(reason) => vec![format!(
                "\"{to} is out\" was not cleared in {left} ({reason}); it matters only if an earlier move set it"
            )],
        };
        Ok(Moved {
            apps: apps.to_vec(),
            to: to.clone(),
            how: format!("\"{left} is out\" = 1 published in {to}"),
            warnings,
        })
    }

    /// Publishes one flag: `app`'s "`region` is out" = `out`, in the other Region, as an
    /// operator would with any SDK.
    pub async fn set(&self, app: &AppName, region: &Region, out: bool) -> Result<(), MoveError> {
        self.check_apps(std::slice::from_ref(app))?;
        let holder = self.other(region)?.clone();
        let value = if out { 1.0 } else { 0.0 };
        self.publish(&holder, &[(app.clone(), region.clone(), value)])
            .await
            .map_err(|reason| MoveError::Unpublished {
                region: holder,
                reason,
            })
    }

    /// One PutMetricData into `holder`: each (app, Region it takes out, value).
    async fn publish(
        &self,
        holder: &Region,
        flags: &[(AppName, Region, f64)],
    ) -> Result<(), String> {
        let data = flags
            .iter()
            .map(|(app, out, value)| {
                MetricDatum::builder()
                    .metric_name(&self.metric)
                    .dimensions(dimension(FLAG_APP_DIMENSION, app.as_str()))
                    .dimensions(dimension(FLAG_REGION_DIMENSION, out.as_str()))
                    .value(*value)
                    .unit(StandardUnit::None)
                    // Route 53 follows alarms on standard-resolution metrics only.
                    .storage_resolution(60)
                    .build()
            })
            .collect();
        let call = self
            .client(holder)
            .map_err(|e| e.to_string())?
            .put_metric_data()
            .namespace(&self.namespace)
            .set_metric_data(Some(data))
            .send();
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(brief(&e)),
            Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
        }
    }

    /// Whether the alarm on `app`'s flag that takes `region` out is in ALARM, read with
    /// DescribeAlarms where the flag lives.
    pub async fn in_alarm(&self, app: &AppName, region: &Region) -> Result<bool, String> {
        let flag = self
            .manifest
            .app(app)
            .and_then(|a| a.flag(region))
            .ok_or_else(|| format!("no flag of `{app}` for {region} in the manifest"))?;
        let call = self
            .client(&flag.published_in)
            .map_err(|e| e.to_string())?
            .describe_alarms()
            .alarm_names(&flag.alarm_name)
            .send();
        let answer = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(brief(&e)),
            Err(_) => return Err(format!("no answer within {CALL_TIMEOUT:?}")),
        };
        let alarm = answer
            .metric_alarms()
            .first()
            .ok_or_else(|| format!("no alarm `{}` in {}", flag.alarm_name, flag.published_in))?;
        Ok(alarm.state_value() == Some(&StateValue::Alarm))
    }
}

/// What went wrong with a call, in a few words: the service's own code and message, or what
/// stopped it reaching the service.
fn brief<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(e) => format!(
            "{}: {}",
            e.err().code().unwrap_or("error"),
            e.err().message().unwrap_or_default()
        ),
        SdkError::DispatchFailure(_) => "cannot connect".to_owned(),
        SdkError::TimeoutError(_) => format!("no answer within {CALL_TIMEOUT:?}"),
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    }
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}
