//! The deployment's failover data plane, whichever the mechanism: ARC's routing controls
//! ([`Client`]) or the flags in CloudWatch ([`FlagsClient`]). `status`, `shift` and `evacuate`
//! work the same on both and answer one report value each; `status` adds every app's alarms,
//! read from CloudWatch in each Region that holds them.
//!
//! Driving it from code (a test, the local world):
//!
//! ```no_run
//! # async fn demo(manifest: topology::manifest::Manifest) -> Result<(), failover::FailoverError> {
//! use failover::{ClientConfig, DataPlane, ShiftOptions};
//! let plane = DataPlane::from_manifest(&manifest, ClientConfig::default())?;
//! let status = plane.status().await?;
//! let moved = plane
//!     .shift(&["orders".parse().unwrap()], &"us-west-2".parse().unwrap(), ShiftOptions::default())
//!     .await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;

use serde::Serialize;
use topology::manifest::{AppEntry, Manifest};
use topology::{AppName, Mechanism, Region, Regions};

use crate::alarms::{AlarmStatus, Described, RegionAnswer, describe};
use crate::client::{Answer, Client, ClientConfig};
use crate::cloudwatch::CloudWatch;
use crate::error::FailoverError;
use crate::flags::{FlagShift, FlagStatus, FlagsClient, timeouts};
use crate::ops::{ControlStatus, ShiftOptions, ShiftOutcome};

/// The data plane of a deployment's mechanism, and CloudWatch for its alarms.
pub struct DataPlane {
    routing: Routing,
    cloudwatch: Arc<CloudWatch>,
}

/// The mechanism's own client (boxed: each holds a copy of the manifest).
pub enum Routing {
    Arc(Box<Client>),
    HealthCheck(Box<FlagsClient>),
}

/// One app's routing state, by mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AppRouting {
    /// Its two routing controls (ARC), primary first.
    Arc { controls: Vec<ControlStatus> },
    /// Its two flags (health-check), primary's first.
    HealthCheck { flags: Vec<FlagStatus> },
}

/// One app: where Route 53 answers, why, and its alarms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppState {
    pub app: AppName,
    #[serde(flatten)]
    pub routing: AppRouting,
    /// The Region Route 53 answers with; `None` when the flags read do not decide it.
    pub active: Option<Region>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The app's alarms in both Regions (and its health checks' in Route 53's metrics Region).
    pub alarms: Vec<AlarmStatus>,
}

/// `failover status`: every app of the deployment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentStatus {
    pub mechanism: Mechanism,
    pub regions: Regions,
    pub apps: Vec<AppState>,
    /// The cluster endpoint that answered (ARC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
    /// How each Region's CloudWatch answered (alarms; with the health-check mechanism, flags).
    pub cloudwatch: Vec<RegionAnswer>,
}

/// What a shift or evacuation did (or, with `dry_run`, would do), by mechanism.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MoveOutcome {
    Arc(ShiftOutcome),
    HealthCheck(FlagShift),
}

impl MoveOutcome {
    /// The Region moved to.
    pub fn to(&self) -> &Region {
        match self {
            Self::Arc(o) => &o.to,
            Self::HealthCheck(o) => &o.to,
        }
    }

    /// How long from now until the move takes effect, when it does not at once (a flag that
    /// can only be cleared from a coming minute); ARC's take effect at once.
    pub fn delay(&self) -> Option<std::time::Duration> {
        match self {
            Self::Arc(_) => None,
            Self::HealthCheck(o) => o.delay(std::time::SystemTime::now()),
        }
    }

    /// The apps moved.
    pub fn apps(&self) -> &[AppName] {
        match self {
            Self::Arc(o) => &o.apps,
            Self::HealthCheck(o) => &o.apps,
        }
    }
}

impl DataPlane {
    /// The data plane `manifest` names. Local manifests use fixed test credentials; AWS
    /// manifests the standard credential chain.
    pub fn from_manifest(manifest: &Manifest, config: ClientConfig) -> Result<Self, FailoverError> {
        let cloudwatch = Arc::new(CloudWatch::for_manifest(manifest, timeouts(&config)));
        Self::build(manifest, config, cloudwatch, None)
    }

    /// As [`DataPlane::from_manifest`], signing with `shared`'s credentials.
    pub fn with_sdk_config(
        manifest: &Manifest,
        config: ClientConfig,
        shared: aws_config::SdkConfig,
    ) -> Result<Self, FailoverError> {
        let cloudwatch =
            CloudWatch::for_manifest(manifest, timeouts(&config)).with_sdk_config(shared.clone());
        Self::build(manifest, config, Arc::new(cloudwatch), Some(shared))
    }

    fn build(
        manifest: &Manifest,
        config: ClientConfig,
        cloudwatch: Arc<CloudWatch>,
        shared: Option<aws_config::SdkConfig>,
    ) -> Result<Self, FailoverError> {
        let routing =
            match manifest.mechanism() {
                Mechanism::Arc => {
                    let client = Client::from_manifest(manifest, config)?;
                    Routing::Arc(Box::new(match shared {
                        Some(shared) => client.with_sdk_config(shared),
                        None => client,
                    }))
                }
                Mechanism::HealthCheck => Routing::HealthCheck(Box::new(
                    FlagsClient::with_cloudwatch(manifest, config, cloudwatch.clone())?,
                )),
            };
        Ok(Self {
            routing,
            cloudwatch,
        })
    }

    /// The mechanism's own client.
    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        match &self.routing {
            Routing::Arc(c) => c.manifest(),
            Routing::HealthCheck(f) => f.manifest(),
        }
    }

    /// The deployment's mechanism.
    pub fn mechanism(&self) -> Mechanism {
        self.manifest().mechanism()
    }

    /// Every app's routing state and alarms. The alarms are read alongside, each Region within
    /// the per-call timeout: a Region that does not answer shows its alarms as unknown.
    pub async fn status(&self) -> Result<DeploymentStatus, FailoverError> {
        let manifest = self.manifest();
        let mut wanted: Vec<(Region, String)> = manifest
            .apps
            .iter()
            .flat_map(|a| a.alarms.iter().map(|x| (x.region.clone(), x.name.clone())))
            .collect();
        let (apps, answer, described) = match &self.routing {
            Routing::Arc(client) => {
                let (status, described) =
                    tokio::join!(client.status(), describe(&self.cloudwatch, &wanted));
                let status = status?;
                let apps = status
                    .apps
                    .into_iter()
                    .map(|a| AppState {
                        alarms: alarms_of(manifest, &a.app, &described),
                        app: a.app,
                        routing: AppRouting::Arc {
                            controls: a.controls,
                        },
                        active: Some(a.active),
                        warning: a.warning,
                    })
                    .collect();
                (apps, Some(status.answer), described)
            }
            Routing::HealthCheck(flags) => {
                wanted.extend(flags.flag_alarms());
                let (reads, described) =
                    tokio::join!(flags.read_all(), describe(&self.cloudwatch, &wanted));
                if let Some(error) = reads.nothing_read() {
                    return Err(error);
                }
                let apps = flags
                    .flag_status(&reads, &described)
                    .into_iter()
                    .map(|a| AppState {
                        alarms: alarms_of(manifest, &a.app, &described),
                        app: a.app,
                        routing: AppRouting::HealthCheck { flags: a.flags },
                        active: a.active,
                        warning: a.warning,
                    })
                    .collect();
                (apps, None, described)
            }
        };
        Ok(DeploymentStatus {
            mechanism: manifest.mechanism(),
            regions: manifest.regions.clone(),
            apps,
            answer,
            cloudwatch: described.regions,
        })
    }

    /// Moves `apps` to `to`, by the mechanism's rules.
    pub async fn shift(
        &self,
        apps: &[AppName],
        to: &Region,
        opts: ShiftOptions,
    ) -> Result<MoveOutcome, FailoverError> {
        match &self.routing {
            Routing::Arc(client) => client.shift(apps, to, opts).await.map(MoveOutcome::Arc),
            Routing::HealthCheck(flags) => flags
                .shift(apps, to, opts)
                .await
                .map(MoveOutcome::HealthCheck),
        }
    }

    /// Moves every app away from `from`.
    pub async fn evacuate(
        &self,
        from: &Region,
        opts: ShiftOptions,
    ) -> Result<MoveOutcome, FailoverError> {
        match &self.routing {
            Routing::Arc(client) => client.evacuate(from, opts).await.map(MoveOutcome::Arc),
            Routing::HealthCheck(flags) => flags
                .evacuate(from, opts)
                .await
                .map(MoveOutcome::HealthCheck),
        }
    }

    /// The alarms of `apps`, each app with those its manifest entry lists, read as `status`
    /// reads them; and how each Region's CloudWatch answered.
    pub async fn app_alarms(
        &self,
        apps: &[AppName],
    ) -> (Vec<(AppName, Vec<AlarmStatus>)>, Vec<RegionAnswer>) {
        let manifest = self.manifest();
        let wanted: Vec<(Region, String)> = apps
            .iter()
            .filter_map(|app| manifest.app(app))
            .flat_map(|a| a.alarms.iter().map(|x| (x.region.clone(), x.name.clone())))
            .collect();
        let described = describe(&self.cloudwatch, &wanted).await;
        let alarms = apps
            .iter()
            .map(|app| (app.clone(), alarms_of(manifest, app, &described)))
            .collect();
        (alarms, described.regions)
    }
}

fn alarms_of(manifest: &Manifest, app: &AppName, described: &Described) -> Vec<AlarmStatus> {
    manifest
        .app(app)
        .map(|entry: &AppEntry| described.of_app(entry))
        .unwrap_or_default()
}
