//! Before the shift: each app's names, and a caching resolver that already holds the answer
//! clients hold now.

use std::net::SocketAddr;
use std::time::Duration;

use topology::manifest::{Environment, Manifest};
use topology::{AppName, Mechanism};

use super::lookup::Lookup;
use crate::verified::{StageName, VerifyError};

/// How long and how often to look.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// Give up after this long, counted from the call. Each stage also has a deadline of its
    /// own that fits the mechanism ([`stage_budget`]); this caps them all.
    pub timeout: Duration,
    /// Pause between two looks.
    pub interval: Duration,
    /// Timeout of one DNS query, ARC read or HTTP request.
    pub request_timeout: Duration,
    /// The DNS server stage 3's caching resolver asks, instead of the default (the system's
    /// name servers on AWS, the manifest's DNS server locally).
    pub resolver: Option<SocketAddr>,
    /// How long after the call the move takes effect, when not at once (a flag cleared from
    /// the start of a coming minute): every deadline starts that much later.
    pub not_before: Duration,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            interval: Duration::from_millis(250),
            request_timeout: Duration::from_secs(2),
            resolver: None,
            not_before: Duration::ZERO,
        }
    }
}

impl VerifyConfig {
    /// The defaults, with the time allowed for the deployment's mechanism ([`default_timeout`]).
    pub fn for_manifest(manifest: &Manifest) -> Self {
        Self {
            timeout: default_timeout(manifest),
            ..Self::default()
        }
    }
}

/// How long a verification may take by default: two minutes with ARC (seconds to move); with
/// the health-check mechanism ten minutes on AWS (a one-minute alarm period, CloudWatch's
/// evaluation delay, Route 53 following the alarm, then the TTL) and under a minute in the
/// local world, whose alarms and health checks run on a scaled clock.
pub fn default_timeout(manifest: &Manifest) -> Duration {
    match (manifest.mechanism(), manifest.environment) {
        (Mechanism::Arc, _) => Duration::from_secs(120),
        (Mechanism::HealthCheck, Environment::Aws) => Duration::from_secs(600),
        (Mechanism::HealthCheck, Environment::Local) => Duration::from_secs(45),
    }
}

/// How long after the call `stage` may pass, for the deployment's mechanism; `None`: only the
/// overall timeout applies (ARC, whose stages all follow within seconds).
///
/// With the health-check mechanism on AWS: a flag reads back within seconds to a minute
/// (CloudWatch's ingestion); its alarm evaluates the minute when it ends, plus CloudWatch's
/// evaluation delay; Route 53 follows the alarm's data and reports `HealthCheckStatus` by the
/// minute; then DNS as with ARC, with a 60 s TTL. In the local world the same steps take
/// seconds (alarm periods and health-check intervals of a second, a 5 s TTL by default).
pub fn stage_budget(
    mechanism: Mechanism,
    environment: Environment,
    stage: StageName,
) -> Option<Duration> {
    let seconds = match (mechanism, environment, stage) {
        (Mechanism::Arc, _, _) => return None,
        (Mechanism::HealthCheck, Environment::Aws, stage) => match stage {
            StageName::Flags => 60,
            StageName::Alarm => 240,
            StageName::HealthCheck => 360,
            StageName::Authoritative => 420,
            StageName::Recursive | StageName::Quorum => 480,
            StageName::Http => 540,
        },
        (Mechanism::HealthCheck, Environment::Local, stage) => match stage {
            StageName::Flags => 5,
            StageName::Alarm => 15,
            StageName::HealthCheck => 20,
            StageName::Authoritative => 25,
            StageName::Recursive | StageName::Quorum => 35,
            StageName::Http => 40,
        },
    };
    Some(Duration::from_secs(seconds))
}

/// Set up before the shift: the app's names and a recursive resolver that has already cached
/// the answer clients hold now.
pub struct Prepared {
    pub(super) app: AppName,
    pub(super) mechanism: Mechanism,
    pub(super) environment: Environment,
    pub(super) host: String,
    pub(super) url: reqwest::Url,
    pub(super) port: u16,
    pub(super) recursive: Lookup,
}

/// Prepares verification of `app` (call it before the shift, so the cache holds the old answer).
pub async fn prepare(
    manifest: &Manifest,
    app: &AppName,
    config: &VerifyConfig,
) -> Result<Prepared, VerifyError> {
    let setup = |message: String| VerifyError::Setup {
        app: app.clone(),
        message,
    };
    let entry = manifest
        .app(app)
        .ok_or_else(|| setup(format!("`{app}` is not in the manifest")))?;
    let url = reqwest::Url::parse(&entry.url)
        .map_err(|e| setup(format!("bad URL {}: {e}", entry.url)))?;
    let host = url
        .host_str()
        .ok_or_else(|| setup(format!("URL {} has no host", entry.url)))?
        .trim_matches(['[', ']'])
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let recursive = Lookup::recursive(config.resolver, manifest).map_err(setup)?;
    // Warm the cache; an error here is no reason to stop (stage 3 reports what it sees).
    let _ = tokio::time::timeout(config.request_timeout, recursive.resolve(&host)).await;
    Ok(Prepared {
        app: app.clone(),
        mechanism: manifest.mechanism(),
        environment: manifest.environment,
        host,
        url,
        port,
        recursive,
    })
}
