//! CloudWatch, Region by Region: the data plane of the `health-check` mechanism (its flags),
//! and where every deployment's alarms are read. One aws-sdk-cloudwatch client per Region
//! asked, built on first use: pointed at the manifest's endpoint for that Region (local world)
//! or the Region's own (AWS), signed for that Region, the SDK's retries off (the caller
//! decides what to retry), a short timeout per call.
//!
//! Every call is a regional data-plane call (`PutMetricData`, `GetMetricData`,
//! `DescribeAlarms`): asking a Region never depends on another Region being up.
//!
//! The local world's endpoints are in the manifest's `health-check` routing; an ARC manifest
//! has none, so they are then asked once of the local world's control API (`GET /state`, its
//! `cloudwatch.endpoints`), as the replication gate reads its lag there.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_cloudwatch as cw;
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use tokio::sync::OnceCell;
use topology::Region;
use topology::manifest::{Environment, Manifest, RegionalUrl};

use crate::client::require_credentials;
use crate::error::FailoverError;

/// How long one CloudWatch call may take. The defaults suit an incident: long enough for a
/// cold TLS connection to a Region on another continent, short enough that a Region that does
/// not answer costs one timeout, not a minute.
#[derive(Debug, Clone, Copy)]
pub struct CallTimeouts {
    /// TCP connect timeout.
    pub connect: Duration,
    /// The whole call, connect included.
    pub call: Duration,
}

impl Default for CallTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(1),
            call: Duration::from_secs(2),
        }
    }
}

/// Why one call to one Region's CloudWatch did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The Region did not answer usefully: refused, timed out, 5xx, throttled, garbage.
    /// Worth another try, and what "unreachable" means for that Region.
    Unanswered(String),
    /// CloudWatch answered no: invalid request, access denied. Another try says the same.
    Rejected { code: String, message: String },
    /// No client could be made: no endpoint for the Region, or no credentials.
    Setup(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unanswered(why) | Self::Setup(why) => f.write_str(why),
            Self::Rejected { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

impl CallError {
    /// Whether the Region did not answer (as opposed to answering no).
    pub fn is_unanswered(&self) -> bool {
        matches!(self, Self::Unanswered(_))
    }
}

/// One aws-sdk-cloudwatch client per Region, made on first use.
pub struct CloudWatch {
    environment: Environment,
    /// The local world's endpoint per Region, from the manifest; empty on AWS and in an ARC
    /// manifest.
    endpoints: Vec<RegionalUrl>,
    /// The local world's control API, which lists its endpoints when the manifest does not.
    control_api: Option<String>,
    /// The local endpoints, once known.
    local: OnceCell<Result<Vec<RegionalUrl>, String>>,
    timeouts: CallTimeouts,
    /// Credentials and settings chosen by the caller, instead of the manifest's default.
    shared: Option<aws_config::SdkConfig>,
    /// The AWS base config, resolved (credentials checked) once; `None` locally.
    base: OnceCell<Option<aws_config::SdkConfig>>,
    clients: Mutex<HashMap<Region, cw::Client>>,
}

impl CloudWatch {
    /// CloudWatch as `manifest` reaches it: the local world's endpoints (in its `health-check`
    /// routing) with fixed test credentials, or each Region's own endpoint with the standard
    /// credential chain.
    pub fn for_manifest(manifest: &Manifest, timeouts: CallTimeouts) -> Self {
        Self {
            environment: manifest.environment,
            endpoints: manifest
                .flag_metric()
                .map(|f| f.endpoints.clone())
                .unwrap_or_default(),
            control_api: manifest.control_api.clone(),
            local: OnceCell::new(),
            timeouts,
            shared: None,
            base: OnceCell::new(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Signs with `shared`'s credentials instead of the manifest's default.
    pub fn with_sdk_config(mut self, shared: aws_config::SdkConfig) -> Self {
        self.shared = Some(shared);
        self
    }

    /// The per-call timeouts.
    pub fn timeouts(&self) -> CallTimeouts {
        self.timeouts
    }

    /// The client for `region`'s CloudWatch.
    pub async fn client(&self, region: &Region) -> Result<cw::Client, CallError> {
        if let Some(client) = self.lock().get(region) {
            return Ok(client.clone());
        }
        let base = self.base().await?;
        let mut builder = match &base {
            Some(shared) => cw::config::Builder::from(shared),
            None => {
                let endpoints = self.local_endpoints().await.map_err(CallError::Setup)?;
                let url = endpoints
                    .iter()
                    .find(|e| e.region == *region)
                    .ok_or_else(|| {
                        CallError::Setup(format!("the local world has no CloudWatch for {region}"))
                    })?;
                cw::Config::builder()
                    .behavior_version(cw::config::BehaviorVersion::latest())
                    .credentials_provider(Credentials::new(
                        "AKIDLOCALCLOUDWATCH",
                        "local-cloudwatch-secret",
                        None,
                        None,
                        "failover-local",
                    ))
                    .endpoint_url(url.url.trim_end_matches('/'))
            }
        };
        builder = builder
            .region(cw::config::Region::new(region.to_string()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.timeouts.connect)
                    .operation_attempt_timeout(self.timeouts.call)
                    .operation_timeout(self.timeouts.call)
                    .build(),
            );
        let client = cw::Client::from_conf(builder.build());
        self.lock().insert(region.clone(), client.clone());
        Ok(client)
    }

    /// Runs `call` against `region`'s CloudWatch within the call timeout.
    pub async fn call<T, F, Fut>(&self, region: &Region, call: F) -> Result<T, CallError>
    where
        F: FnOnce(cw::Client) -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let client = self.client(region).await?;
        let limit = self.timeouts.call;
        tokio::time::timeout(limit, call(client))
            .await
            .unwrap_or_else(|_| {
                Err(CallError::Unanswered(format!(
                    "{region}'s CloudWatch did not answer within {limit:?}"
                )))
            })
    }

    /// The local world's endpoints: the manifest's, else its control API's.
    async fn local_endpoints(&self) -> Result<&Vec<RegionalUrl>, String> {
        self.local
            .get_or_init(|| async {
                if !self.endpoints.is_empty() {
                    return Ok(self.endpoints.clone());
                }
                let api = self.control_api.as_deref().ok_or(
                    "the manifest names no local CloudWatch endpoint and no control API to ask",
                )?;
                control_api_endpoints(api, self.timeouts.call).await
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn base(&self) -> Result<Option<aws_config::SdkConfig>, CallError> {
        self.base
            .get_or_try_init(|| async {
                let config = match (&self.shared, self.environment) {
                    (Some(shared), _) => shared.clone(),
                    (None, Environment::Local) => return Ok(None),
                    (None, Environment::Aws) => {
                        aws_config::defaults(aws_config::BehaviorVersion::latest())
                            .load()
                            .await
                    }
                };
                require_credentials(&config)
                    .await
                    .map_err(|e| CallError::Setup(e.to_string()))?;
                Ok(Some(config))
            })
            .await
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Region, cw::Client>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The CloudWatch endpoints the local world's control API lists (`GET {api}/state`).
async fn control_api_endpoints(api: &str, timeout: Duration) -> Result<Vec<RegionalUrl>, String> {
    #[derive(serde::Deserialize)]
    struct State {
        cloudwatch: Listed,
    }
    #[derive(serde::Deserialize)]
    struct Listed {
        endpoints: Vec<Endpoint>,
    }
    /// One endpoint as the control API lists it (with its fault, not read here).
    #[derive(serde::Deserialize)]
    struct Endpoint {
        region: Region,
        url: String,
    }
    let url = format!("{}/state", api.trim_end_matches('/'));
    let asked = |e: reqwest::Error| format!("GET {url} (the local world's CloudWatch): {e}");
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let state: State = http
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(asked)?
        .json()
        .await
        .map_err(asked)?;
    Ok(state
        .cloudwatch
        .endpoints
        .into_iter()
        .map(|e| RegionalUrl {
            region: e.region,
            url: e.url,
        })
        .collect())
}

/// Sorts an SDK failure into "did not answer" and "answered no", naming the Region.
pub fn classify<E>(region: &Region, error: SdkError<E, cw::config::http::HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    match &error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let code = err.code().unwrap_or("Unknown").to_owned();
            let message = err.message().unwrap_or_default().to_owned();
            let retryable = status.is_some_and(|s| s >= 500 || s == 429)
                || code == "Unknown"
                || code.contains("Throttl")
                || code == "InternalServiceFault"
                || code == "ServiceUnavailable";
            if retryable {
                CallError::Unanswered(format!(
                    "{region}'s CloudWatch answered HTTP {}: {code} {message}",
                    status.unwrap_or(0)
                ))
            } else {
                CallError::Rejected { code, message }
            }
        }
        SdkError::ConstructionFailure(_) => CallError::Setup(crate::client::describe(&error)),
        _ => CallError::Unanswered(format!(
            "{region}'s CloudWatch did not answer: {}",
            crate::client::describe(&error)
        )),
    }
}

impl CallError {
    /// The failover error for a required call into `region` that failed (`operation` names it).
    pub fn into_failover(self, operation: &'static str, region: &Region) -> FailoverError {
        match self {
            Self::Unanswered(reason) => FailoverError::RegionUnreachable {
                operation,
                region: region.clone(),
                reason,
            },
            Self::Rejected { code, message } => FailoverError::CloudWatchRejected {
                operation,
                region: region.clone(),
                code,
                message,
            },
            Self::Setup(message) => FailoverError::Setup(message),
        }
    }
}
