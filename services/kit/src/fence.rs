//! Write fencing: an instance whose Region's routing control is OFF refuses writes.
//!
//! Global tables replicate item by item and the last writer wins, so a write that lands in
//! the Region being left, from a client still holding the old DNS answer, can silently undo a
//! write made in the new Region. With fencing on (`fence_writes = true` in topology.toml), a
//! write (`POST`, `PUT`, `PATCH`, `DELETE`) to an instance whose control is OFF gets `503`
//! problem+json with `Retry-After` (the DNS TTL: by then the client's resolver has the new
//! answer); reads are always served.
//!
//! The instance asks the ARC cluster's data plane (`GetRoutingControlState`, its own
//! Region's endpoint first, then the others) at most once per [`MAX_AGE`]: concurrent writes
//! share one call. When no endpoint answers, writes are let through (fail open): refusing
//! them would turn an ARC data-plane outage into a write outage in every Region at once,
//! while letting them through only loses the fence's extra protection — DNS still sends new
//! traffic to the Region that is ON. The failure is logged and retried after [`MAX_AGE`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_route53recoverycluster as arc;
use aws_sdk_route53recoverycluster::config::retry::RetryConfig;
use aws_sdk_route53recoverycluster::config::timeout::TimeoutConfig;
use aws_sdk_route53recoverycluster::types::RoutingControlState;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::sync::{Mutex, OnceCell};
use topology::manifest::{
    ClusterEndpoint, FENCE_CONTROL_ENV, FENCE_ENDPOINTS_ENV, FENCE_RETRY_AFTER_ENV,
};
use topology::{Region, RoutingControlArn};

use crate::problem::Problem;

/// How long one reading of the control's state is used before the cluster is asked again.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// How long one endpoint gets to answer before the next one is asked.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);

/// The `Retry-After` when the environment names none: the TTL of the AWS failover records.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// What a fenced instance needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct FenceConfig {
    /// The routing control of the instance's own Region.
    pub control: RoutingControlArn,
    /// The cluster's endpoints; the one in the instance's Region is asked first.
    pub endpoints: Vec<ClusterEndpoint>,
    /// Sent as `Retry-After` with a refusal: the DNS TTL.
    pub retry_after: Duration,
}

impl FenceConfig {
    /// The configuration from [`FENCE_CONTROL_ENV`], [`FENCE_ENDPOINTS_ENV`] and
    /// [`FENCE_RETRY_AFTER_ENV`]; `Ok(None)` when fencing is off (no control named). The
    /// error names the variable that is wrong.
    pub fn from_env() -> Result<Option<Self>, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`FenceConfig::from_env`], with the variables looked up by `lookup`.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let Some(control) = var(FENCE_CONTROL_ENV) else {
            return Ok(None);
        };
        let control = control
            .trim()
            .parse()
            .map_err(|e| format!("{FENCE_CONTROL_ENV}: {e}"))?;
        let endpoints = parse_endpoints(&var(FENCE_ENDPOINTS_ENV).unwrap_or_default())
            .map_err(|e| format!("{FENCE_ENDPOINTS_ENV}: {e}"))?;
        let retry_after = match var(FENCE_RETRY_AFTER_ENV) {
            None => DEFAULT_RETRY_AFTER,
            Some(s) => s.trim().parse().map(Duration::from_secs).map_err(|_| {
                format!("{FENCE_RETRY_AFTER_ENV}: `{s}` is not a whole number of seconds")
            })?,
        };
        Ok(Some(Self {
            control,
            endpoints,
            retry_after,
        }))
    }
}

/// `region=url` pairs separated by commas, at least one, each URL http(s).
pub fn parse_endpoints(text: &str) -> Result<Vec<ClusterEndpoint>, String> {
    let endpoints = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (region, url) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not `region=url`"))?;
            let region: Region = region
                .trim()
                .parse()
                .map_err(|e| format!("`{pair}`: {e}"))?;
            let url = url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("`{url}` is not an http(s) URL"));
            }
            Ok(ClusterEndpoint {
                region,
                url: url.to_owned(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if endpoints.is_empty() {
        return Err("no cluster endpoint given (expected `region=url,...`)".into());
    }
    Ok(endpoints)
}

/// What the instance last learned about its control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    On,
    Off,
    /// No endpoint answered; writes are let through.
    Unknown(String),
}

/// How the fence signs its calls.
#[derive(Debug, Clone)]
enum Signing {
    /// The standard chain (the Lambda function's role), resolved on first use.
    Chain,
    /// Fixed credentials, for the local ARC cluster.
    Fixed(Credentials),
}

/// The fence of one instance. Cheap to share; every write asks [`Fence::reading`].
pub struct Fence {
    region: Region,
    config: FenceConfig,
    signing: Signing,
    clients: OnceCell<Vec<arc::Client>>,
    last: Mutex<Option<(Instant, Reading)>>,
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fence")
            .field("region", &self.region)
            .field("control", &self.config.control)
            .finish_non_exhaustive()
    }
}

impl Fence {
    /// A fence for an instance in `region` on AWS, signing with the standard credential chain.
    pub fn new(region: Region, config: FenceConfig) -> Arc<Self> {
        Self::build(region, config, Signing::Chain)
    }

    /// The fence the environment configures (see [`FenceConfig::from_env`]), if any. A
    /// malformed configuration is logged and fences nothing; `kit::serve::main` refuses to
    /// start with it, so only a router built outside it can get here.
    pub fn from_env(region: &Region) -> Option<Arc<Self>> {
        match FenceConfig::from_env() {
            Ok(config) => config.map(|c| Self::new(region.clone(), c)),
            Err(e) => {
                tracing::error!(error = %e, "write fencing is misconfigured; writes are not fenced");
                None
            }
        }
    }

    /// A fence signing with `credentials`, for a local ARC cluster.
    pub fn with_credentials(
        region: Region,
        config: FenceConfig,
        credentials: Credentials,
    ) -> Arc<Self> {
        Self::build(region, config, Signing::Fixed(credentials))
    }

    fn build(region: Region, mut config: FenceConfig, signing: Signing) -> Arc<Self> {
        // Nearest first: the instance's own Region's endpoint, then the rest in order.
        config.endpoints.sort_by_key(|e| e.region != region);
        Arc::new(Self {
            region,
            config,
            signing,
            clients: OnceCell::new(),
            last: Mutex::new(None),
        })
    }

    /// The control's state, read from the cluster unless the last reading is younger than
    /// [`MAX_AGE`]. Concurrent callers share one read.
    pub async fn reading(&self) -> Reading {
        let mut last = self.last.lock().await;
        if let Some((at, reading)) = last.as_ref()
            && at.elapsed() < MAX_AGE
        {
            return reading.clone();
        }
        let reading = self.ask().await;
        if let Reading::Unknown(why) = &reading {
            tracing::warn!(control = %self.config.control, %why, "cannot read the routing control; letting writes through");
        }
        *last = Some((Instant::now(), reading.clone()));
        reading
    }

    /// Asks each endpoint in turn until one answers.
    async fn ask(&self) -> Reading {
        let clients = self.clients.get_or_init(|| self.clients()).await;
        let mut failures = Vec::new();
        for (client, endpoint) in clients.iter().zip(&self.config.endpoints) {
            let call = client
                .get_routing_control_state()
                .routing_control_arn(self.config.control.as_str())
                .send();
            match tokio::time::timeout(ATTEMPT_TIMEOUT, call).await {
                Ok(Ok(out)) if out.routing_control_state() == &RoutingControlState::On => {
                    return Reading::On;
                }
                Ok(Ok(_)) => return Reading::Off,
                Ok(Err(e)) => failures.push(format!(
                    "{}: {}",
                    endpoint.region,
                    aws_smithy_types::error::display::DisplayErrorContext(e)
                )),
                Err(_) => failures.push(format!(
                    "{}: no answer within {ATTEMPT_TIMEOUT:?}",
                    endpoint.region
                )),
            }
        }
        Reading::Unknown(failures.join("; "))
    }

    async fn clients(&self) -> Vec<arc::Client> {
        let base = match &self.signing {
            Signing::Chain => arc::config::Builder::from(
                &aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await,
            ),
            Signing::Fixed(credentials) => arc::Config::builder()
                .behavior_version(arc::config::BehaviorVersion::latest())
                .credentials_provider(credentials.clone()),
        };
        self.config
            .endpoints
            .iter()
            .map(|endpoint| {
                let config = base
                    .clone()
                    .region(arc::config::Region::new(endpoint.region.to_string()))
                    .endpoint_url(endpoint.url.trim_end_matches('/'))
                    .retry_config(RetryConfig::disabled())
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(ATTEMPT_TIMEOUT)
                            .operation_timeout(ATTEMPT_TIMEOUT)
                            .build(),
                    )
                    .build();
                arc::Client::from_conf(config)
            })
            .collect()
    }

    /// The refusal of a write.
    fn refusal(&self) -> Response {
        let mut response = Problem::region_fenced(format!(
            "the routing control of {} is OFF: traffic is leaving this Region; resolve the \
             hostname again and retry",
            self.region
        ))
        .into_response();
        let seconds = self.config.retry_after.as_secs().max(1);
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        // Who refused, also when the fence wraps a router from outside its `x-region` layer.
        if let Ok(region) = HeaderValue::from_str(self.region.as_str()) {
            headers.insert(crate::X_REGION, region);
        }
        response
    }
}

/// `router`, refusing writes while `fence` reads its control OFF (when there is a fence).
pub fn guard(router: Router, fence: Option<Arc<Fence>>) -> Router {
    match fence {
        Some(fence) => router.layer(middleware::from_fn_with_state(fence, check)),
        None => router,
    }
}

/// Whether `method` changes something.
fn is_write(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

async fn check(State(fence): State<Arc<Fence>>, request: Request, next: Next) -> Response {
    if is_write(request.method()) && fence.reading().await == Reading::Off {
        return fence.refusal();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_region_url_pairs() {
        let parsed =
            parse_endpoints("us-east-1=https://a.example/v1, us-west-2=http://127.0.0.1:9/")
                .unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].region.as_str(), "us-west-2");
        assert_eq!(parsed[1].url, "http://127.0.0.1:9/");
        for bad in [
            "",
            "us-east-1",
            "mars=https://a",
            "us-east-1=ftp://a",
            "us-east-1=",
        ] {
            assert!(parse_endpoints(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_config_comes_from_three_variables_and_names_the_wrong_one() {
        let control =
            "arn:aws:route53-recovery-control::111122223333:controlpanel/abc/routingcontrol/def";
        let from = |pairs: &[(&str, &str)]| {
            let vars: std::collections::HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            FenceConfig::from_vars(|name| vars.get(name).cloned())
        };
        assert_eq!(from(&[]), Ok(None));
        let config = from(&[
            (FENCE_CONTROL_ENV, control),
            (FENCE_ENDPOINTS_ENV, "us-east-1=https://a.example/v1"),
            (FENCE_RETRY_AFTER_ENV, "5"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.control.as_str(), control);
        assert_eq!(config.retry_after, Duration::from_secs(5));
        let err = from(&[(FENCE_CONTROL_ENV, control)]).unwrap_err();
        assert!(err.starts_with(FENCE_ENDPOINTS_ENV), "{err}");
        let err = from(&[(FENCE_CONTROL_ENV, "arn:nope")]).unwrap_err();
        assert!(err.starts_with(FENCE_CONTROL_ENV), "{err}");
        let err = from(&[
            (FENCE_CONTROL_ENV, control),
            (FENCE_ENDPOINTS_ENV, "us-east-1=https://a.example/v1"),
            (FENCE_RETRY_AFTER_ENV, "soon"),
        ])
        .unwrap_err();
        assert!(err.starts_with(FENCE_RETRY_AFTER_ENV), "{err}");
    }

    #[test]
    fn only_changes_are_writes() {
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(is_write(&m), "{m}");
        }
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(!is_write(&m), "{m}");
        }
    }
}
