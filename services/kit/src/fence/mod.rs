//! Write fencing: an instance whose Region is not the one Route 53 answers with refuses writes.
//!
//! Global tables replicate item by item and the last writer wins, so a write that lands in
//! the Region being left, from a client still holding the old DNS answer, can silently undo a
//! write made in the new Region. With fencing on (`fence_writes = true` in topology.toml), a
//! write (`POST`, `PUT`, `PATCH`, `DELETE`) to an instance whose Region is out gets `503`
//! problem+json with `Retry-After` (the DNS TTL: by then the client's resolver has the new
//! answer); reads are always served.
//!
//! The instance reads its Region's state through the failover mechanism's own data plane, at
//! most once per [`MAX_AGE`] (concurrent writes share one read):
//! - ARC ([`FenceSource::RoutingControl`]): its own Region's routing control
//!   (`GetRoutingControlState`, its own Region's cluster endpoint first, then the others); the
//!   Region is out while the control is OFF.
//! - The health-check mechanism ([`FenceSource::Flags`]): the app's two flags (`GetMetricData`,
//!   each in the Region that holds it), to which it applies Route 53's failover rules: the
//!   primary serves while its flag is clear or the secondary's is set; otherwise the
//!   secondary. The Region is out when the other one serves.
//!
//! When the data plane does not answer, writes are let through (fail open): refusing them would
//! turn a data-plane outage into a write outage in every Region at once, while letting them
//! through only loses the fence's extra protection — DNS still sends new traffic to the Region
//! that serves. The failure is logged as a warning and retried after [`MAX_AGE`].

mod arc;
mod flags;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::sync::{Mutex, OnceCell};
use topology::manifest::{
    ClusterEndpoint, FENCE_CLOUDWATCH_ENDPOINTS_ENV, FENCE_CONTROL_ENV, FENCE_ENDPOINTS_ENV,
    FENCE_FLAG_APP_ENV, FENCE_FLAG_NAMESPACE_ENV, FENCE_FLAG_REGIONS_ENV, FENCE_RETRY_AFTER_ENV,
    RegionalUrl,
};
use topology::{AppName, Region, Regions, RoutingControlArn};

use crate::problem::Problem;

/// How long one reading of the control's state is used before the cluster is asked again.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// How long one endpoint gets to answer before the next one is asked.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);

/// How long a flag read gets: CloudWatch in the other Region is a continent away.
const FLAG_READ_TIMEOUT: Duration = Duration::from_millis(500);

/// The `Retry-After` when the environment names none: the TTL of the AWS failover records.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// What a fenced instance needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct FenceConfig {
    /// Where the instance reads whether its Region serves.
    pub source: FenceSource,
    /// Sent as `Retry-After` with a refusal: the DNS TTL.
    pub retry_after: Duration,
}

/// Where a fenced instance reads its Region's state: the mechanism's own data plane.
#[derive(Debug, Clone, PartialEq)]
pub enum FenceSource {
    /// ARC: the routing control of the instance's own Region, and the cluster's endpoints
    /// (the one in the instance's Region is asked first).
    RoutingControl {
        control: RoutingControlArn,
        endpoints: Vec<ClusterEndpoint>,
    },
    /// The health-check mechanism: the app's two flags, one in each Region.
    Flags {
        /// The flags' metric namespace.
        namespace: String,
        /// The app, the flags' `App` dimension.
        app: AppName,
        /// The deployment's Regions: Route 53's rules depend on which is primary.
        regions: Regions,
        /// CloudWatch's endpoint per Region (local world); empty on AWS, where each Region's
        /// own endpoint answers.
        endpoints: Vec<RegionalUrl>,
    },
}

impl FenceConfig {
    /// The configuration from the environment: [`FENCE_CONTROL_ENV`] and
    /// [`FENCE_ENDPOINTS_ENV`] (ARC), or [`FENCE_FLAG_NAMESPACE_ENV`], [`FENCE_FLAG_APP_ENV`],
    /// [`FENCE_FLAG_REGIONS_ENV`] and optionally [`FENCE_CLOUDWATCH_ENDPOINTS_ENV`] (the
    /// health-check mechanism), with [`FENCE_RETRY_AFTER_ENV`]; `Ok(None)` when fencing is off
    /// (neither a control nor a namespace named). The error names the variable that is wrong.
    pub fn from_env() -> Result<Option<Self>, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`FenceConfig::from_env`], with the variables looked up by `lookup`.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let var = |name: &str| crate::unless_blank(lookup(name));
        let source = match (var(FENCE_CONTROL_ENV), var(FENCE_FLAG_NAMESPACE_ENV)) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{FENCE_CONTROL_ENV} and {FENCE_FLAG_NAMESPACE_ENV} are both set: a \
                     deployment has one failover mechanism"
                ));
            }
            (Some(control), None) => FenceSource::RoutingControl {
                control: control
                    .trim()
                    .parse()
                    .map_err(|e| format!("{FENCE_CONTROL_ENV}: {e}"))?,
                endpoints: parse_endpoints(&var(FENCE_ENDPOINTS_ENV).unwrap_or_default())
                    .map_err(|e| format!("{FENCE_ENDPOINTS_ENV}: {e}"))?,
            },
            (None, Some(namespace)) => FenceSource::Flags {
                namespace: namespace.trim().to_owned(),
                app: var(FENCE_FLAG_APP_ENV)
                    .ok_or_else(|| format!("{FENCE_FLAG_APP_ENV}: not set"))?
                    .trim()
                    .parse()
                    .map_err(|e| format!("{FENCE_FLAG_APP_ENV}: {e}"))?,
                regions: parse_regions(&var(FENCE_FLAG_REGIONS_ENV).unwrap_or_default())
                    .map_err(|e| format!("{FENCE_FLAG_REGIONS_ENV}: {e}"))?,
                endpoints: match var(FENCE_CLOUDWATCH_ENDPOINTS_ENV) {
                    None => Vec::new(),
                    Some(text) => parse_endpoints(&text)
                        .map_err(|e| format!("{FENCE_CLOUDWATCH_ENDPOINTS_ENV}: {e}"))?
                        .into_iter()
                        .map(|e| RegionalUrl {
                            region: e.region,
                            url: e.url,
                        })
                        .collect(),
                },
            },
        };
        let retry_after = match var(FENCE_RETRY_AFTER_ENV) {
            None => DEFAULT_RETRY_AFTER,
            Some(s) => s.trim().parse().map(Duration::from_secs).map_err(|_| {
                format!("{FENCE_RETRY_AFTER_ENV}: `{s}` is not a whole number of seconds")
            })?,
        };
        Ok(Some(Self {
            source,
            retry_after,
        }))
    }
}

/// `primary,secondary`: two different Regions.
fn parse_regions(text: &str) -> Result<Regions, String> {
    let names: Vec<&str> = text.split(',').map(str::trim).collect();
    let [primary, secondary] = names.as_slice() else {
        return Err(format!("`{text}` is not `primary,secondary`"));
    };
    let regions = Regions {
        primary: primary.parse().map_err(|e| format!("{e}"))?,
        secondary: secondary.parse().map_err(|e| format!("{e}"))?,
    };
    if regions.primary == regions.secondary {
        return Err(format!("`{text}` names one Region twice"));
    }
    Ok(regions)
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

/// What the instance last learned about its Region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// The Region serves: writes are taken.
    On,
    /// The Region is out: writes are refused.
    Off,
    /// The data plane did not answer; writes are let through.
    Unknown(String),
}

/// How the fence signs its calls.
#[derive(Debug, Clone)]
enum Signing {
    /// The standard chain (the Lambda function's role), resolved on first use.
    Chain,
    /// Fixed credentials, for the local world's emulators.
    Fixed(Credentials),
}

impl Signing {
    /// The shared SDK configuration the readers' clients start from.
    async fn sdk_config(&self) -> aws_types::SdkConfig {
        match self {
            Signing::Chain => crate::aws::Settings::default().load().await,
            Signing::Fixed(credentials) => {
                crate::aws::Settings {
                    credentials: Some(credentials.clone()),
                    region: Some(aws_types::region::Region::new("us-east-1")),
                    ..Default::default()
                }
                .load()
                .await
            }
        }
    }
}

/// The data-plane reader of one source, made on first use.
enum Reader {
    RoutingControl(arc::ControlReader),
    Flags(flags::FlagReader),
}

/// The fence of one instance. Cheap to share; every write asks [`Fence::reading`].
pub struct Fence {
    region: Region,
    config: FenceConfig,
    signing: Signing,
    reader: OnceCell<Reader>,
    last: Mutex<Option<(Instant, Reading)>>,
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fence")
            .field("region", &self.region)
            .field("source", &self.config.source)
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

    /// A fence signing with `credentials`, for the local world's emulators.
    pub fn with_credentials(
        region: Region,
        config: FenceConfig,
        credentials: Credentials,
    ) -> Arc<Self> {
        Self::build(region, config, Signing::Fixed(credentials))
    }

    fn build(region: Region, mut config: FenceConfig, signing: Signing) -> Arc<Self> {
        if let FenceSource::RoutingControl { endpoints, .. } = &mut config.source {
            // Nearest first: the instance's own Region's endpoint, then the rest in order.
            endpoints.sort_by_key(|e| e.region != region);
        }
        Arc::new(Self {
            region,
            config,
            signing,
            reader: OnceCell::new(),
            last: Mutex::new(None),
        })
    }

    /// Whether this instance's Region serves, read from the data plane unless the last reading
    /// is younger than [`MAX_AGE`]. Concurrent callers share one read.
    pub async fn reading(&self) -> Reading {
        let mut last = self.last.lock().await;
        if let Some((at, reading)) = last.as_ref()
            && at.elapsed() < MAX_AGE
        {
            return reading.clone();
        }
        let reading = self.ask().await;
        if let Reading::Unknown(why) = &reading {
            tracing::warn!(region = %self.region, %why, "cannot read whether this Region serves; letting writes through");
        }
        *last = Some((Instant::now(), reading.clone()));
        reading
    }

    async fn ask(&self) -> Reading {
        let reader = self
            .reader
            .get_or_init(|| async {
                let sdk = self.signing.sdk_config().await;
                match &self.config.source {
                    FenceSource::RoutingControl { endpoints, .. } => {
                        Reader::RoutingControl(arc::ControlReader::new(&sdk, endpoints))
                    }
                    FenceSource::Flags {
                        regions, endpoints, ..
                    } => Reader::Flags(flags::FlagReader::new(&sdk, regions, endpoints)),
                }
            })
            .await;
        match (reader, &self.config.source) {
            (Reader::RoutingControl(r), FenceSource::RoutingControl { control, .. }) => {
                r.read(control).await
            }
            (
                Reader::Flags(r),
                FenceSource::Flags {
                    namespace,
                    app,
                    regions,
                    ..
                },
            ) => r.read(namespace, app, regions, &self.region).await,
            _ => unreachable!("the reader is made from the source"),
        }
    }

    /// The refusal of a write.
    fn refusal(&self) -> Response {
        let mut response = Problem::region_fenced(format!(
            "{} does not serve this app now (traffic goes to the other Region); resolve the \
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
        let FenceSource::RoutingControl { control: read, .. } = &config.source else {
            panic!("an ARC configuration: {config:?}")
        };
        assert_eq!(read.as_str(), control);
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
    fn the_flags_config_names_the_app_the_regions_and_optional_endpoints() {
        let from = |pairs: &[(&str, &str)]| {
            let vars: std::collections::HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            FenceConfig::from_vars(|name| vars.get(name).cloned())
        };
        let base = [
            (FENCE_FLAG_NAMESPACE_ENV, "MultiRegionApi/test"),
            (FENCE_FLAG_APP_ENV, "payments"),
            (FENCE_FLAG_REGIONS_ENV, "us-east-1,us-west-2"),
        ];
        let config = from(&base).unwrap().unwrap();
        let FenceSource::Flags {
            namespace,
            app,
            regions,
            endpoints,
        } = &config.source
        else {
            panic!("a flags configuration: {config:?}")
        };
        assert_eq!(namespace, "MultiRegionApi/test");
        assert_eq!(app.as_str(), "payments");
        assert_eq!(regions.secondary.as_str(), "us-west-2");
        assert!(endpoints.is_empty(), "AWS: each Region's own endpoint");
        let mut local = base.to_vec();
        local.push((
            FENCE_CLOUDWATCH_ENDPOINTS_ENV,
            "us-east-1=http://127.0.0.1:8101,us-west-2=http://127.0.0.1:8102",
        ));
        let FenceSource::Flags { endpoints, .. } = from(&local).unwrap().unwrap().source else {
            unreachable!()
        };
        assert_eq!(endpoints[1].url, "http://127.0.0.1:8102");
        let err = from(&base[..2]).unwrap_err();
        assert!(err.starts_with(FENCE_FLAG_REGIONS_ENV), "{err}");
        let mut twice = base.to_vec();
        twice[2].1 = "us-east-1,us-east-1";
        assert!(from(&twice).unwrap_err().contains("twice"));
        let mut both = base.to_vec();
        both.push((
            FENCE_CONTROL_ENV,
            "arn:aws:route53-recovery-control::111122223333:controlpanel/abc/routingcontrol/def",
        ));
        assert!(from(&both).unwrap_err().contains("one failover mechanism"));
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
