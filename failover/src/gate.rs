//! The replication gate: before an app moves, how far behind is the target Region's copy of
//! its table? Global tables replicate item by item, asynchronously; moving while the target
//! is behind serves stale items there and lets the two Regions' writes collide (last writer
//! wins). A move is refused when the lag exceeds the limit, unless forced.
//!
//! Where the reading comes from:
//! - locally, the world's control API (`GET {control_api}/state`): the link into the target
//!   Region for the app's table, its pending changes and the age of the oldest;
//! - on AWS, the table's `ReplicationLatency` metric (dimensions `TableName` and
//!   `ReceivingRegion` = the target), read with CloudWatch `GetMetricData`: a regional
//!   data-plane call. DynamoDB publishes the metric in the Region the changes come from, so
//!   that is the Region asked (and the signing Region).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use serde::{Deserialize, Serialize};
use topology::manifest::{Environment, Manifest};
use topology::{AppName, Region};

use crate::error::FailoverError;

/// The default `--max-replication-lag`: well above DynamoDB's usual lag (about a second
/// between Regions of one continent), well below what an on-call would call "behind".
pub const DEFAULT_MAX_LAG: Duration = Duration::from_secs(5);

/// How far back CloudWatch is asked: the metric arrives a minute or two late.
const METRIC_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The period of one datapoint, in seconds.
const METRIC_PERIOD_SECONDS: u64 = 60;

/// CloudWatch's awsJson1_0 target prefix.
const CLOUDWATCH_TARGET: &str = "GraniteServiceVersion20100801.GetMetricData";

/// How the gate reads.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// Refuse above this lag.
    pub max_lag: Duration,
    /// Timeout of one reading.
    pub timeout: Duration,
    /// CloudWatch's URL instead of `https://monitoring.{region}.amazonaws.com`; by default
    /// the SDKs' `AWS_ENDPOINT_URL_CLOUDWATCH`, when set (a VPC endpoint, a test server).
    pub cloudwatch_endpoint: Option<String>,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            max_lag: DEFAULT_MAX_LAG,
            timeout: Duration::from_secs(5),
            cloudwatch_endpoint: std::env::var("AWS_ENDPOINT_URL_CLOUDWATCH")
                .ok()
                .filter(|url| !url.is_empty()),
        }
    }
}

/// One app's reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    pub app: AppName,
    /// The app's table in the target Region; `None`: no table (a gateway), not gated.
    pub table: Option<String>,
    /// The Region the app moves to: the replica read.
    pub region: Region,
    /// How far behind the replica is, in milliseconds (`None` when not gated).
    pub lag_ms: Option<u64>,
    /// Changes waiting to reach the replica, when the source says (locally).
    pub pending: Option<u64>,
    /// Where the reading came from.
    pub source: String,
}

/// What the gate saw for a move.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateReport {
    pub max_lag_ms: u64,
    pub readings: Vec<Reading>,
}

impl GateReport {
    /// The readings above the limit.
    pub fn behind(&self) -> Vec<&Reading> {
        self.readings
            .iter()
            .filter(|r| r.lag_ms.is_some_and(|lag| lag > self.max_lag_ms))
            .collect()
    }

    /// The refusal for the readings above the limit, if any.
    pub fn refusal(&self) -> Option<FailoverError> {
        let behind = self.behind();
        if behind.is_empty() {
            return None;
        }
        let tables = behind
            .iter()
            .map(|r| {
                format!(
                    "table `{}` of {} in {} is {} behind",
                    r.table.as_deref().unwrap_or("?"),
                    r.app,
                    r.region,
                    seconds(r.lag_ms.unwrap_or(0))
                )
            })
            .collect();
        Some(FailoverError::ReplicationBehind {
            tables,
            max: Duration::from_millis(self.max_lag_ms),
        })
    }
}

/// `1.234 s`.
pub fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// Reads the lag of each app's table in `to`.
pub async fn read(
    manifest: &Manifest,
    apps: &[AppName],
    to: &Region,
    config: &GateConfig,
) -> Result<GateReport, FailoverError> {
    // Built on first need: a move of apps without tables needs no source.
    let mut source: Option<Source> = None;
    let mut readings = Vec::with_capacity(apps.len());
    for app in apps {
        let entry = manifest
            .app(app)
            .ok_or_else(|| FailoverError::Usage(format!("`{app}` is not in the manifest")))?;
        let Some(table) = entry.table(to) else {
            readings.push(Reading {
                app: app.clone(),
                table: None,
                region: to.clone(),
                lag_ms: None,
                pending: None,
                source: "no table in the manifest".into(),
            });
            continue;
        };
        if source.is_none() {
            source = Some(Source::for_manifest(manifest, to, config).await?);
        }
        let source = source.as_ref().expect("just set");
        let (lag_ms, pending) = source.lag(table, to).await.map_err(|message| {
            FailoverError::Gate(format!(
                "cannot read the replication lag of table `{table}` in {to} ({}): {message}",
                source.describe()
            ))
        })?;
        readings.push(Reading {
            app: app.clone(),
            table: Some(table.to_owned()),
            region: to.clone(),
            lag_ms: Some(lag_ms),
            pending,
            source: source.describe(),
        });
    }
    Ok(GateReport {
        max_lag_ms: u64::try_from(config.max_lag.as_millis()).unwrap_or(u64::MAX),
        readings,
    })
}

/// Where readings come from.
enum Source {
    /// The local world's control API.
    ControlApi { http: reqwest::Client, url: String },
    /// CloudWatch in the Region the changes come from.
    CloudWatch(CloudWatch),
}

impl Source {
    async fn for_manifest(
        manifest: &Manifest,
        to: &Region,
        config: &GateConfig,
    ) -> Result<Self, FailoverError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| FailoverError::Setup(format!("HTTP client: {e}")))?;
        match manifest.environment {
            Environment::Local => {
                let api = manifest.control_api.as_deref().ok_or_else(|| {
                    FailoverError::Gate(
                        "the manifest names no control_api to read replication from".into(),
                    )
                })?;
                Ok(Self::ControlApi {
                    http,
                    url: format!("{}/state", api.trim_end_matches('/')),
                })
            }
            Environment::Aws => {
                let from = manifest.regions.other(to).cloned().ok_or_else(|| {
                    FailoverError::Usage(format!("`{to}` is not one of this deployment's Regions"))
                })?;
                let credentials = aws_credentials().await?;
                Ok(Self::CloudWatch(CloudWatch {
                    http,
                    credentials,
                    region: from,
                    endpoint: config.cloudwatch_endpoint.clone(),
                }))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::ControlApi { url, .. } => format!("the local world at {url}"),
            Self::CloudWatch(cw) => format!(
                "CloudWatch ReplicationLatency in {}, latest 1-minute maximum",
                cw.region
            ),
        }
    }

    /// (lag in ms, pending changes if known) of `table`'s replica in `to`.
    async fn lag(&self, table: &str, to: &Region) -> Result<(u64, Option<u64>), String> {
        match self {
            Self::ControlApi { http, url } => control_api_lag(http, url, table, to).await,
            Self::CloudWatch(cw) => cw
                .replication_latency(table, to, SystemTime::now())
                .await
                .map(|ms| (ms.unwrap_or(0), None)),
        }
    }
}

/// The part of the local world's `/state` the gate reads.
#[derive(Debug, Deserialize)]
struct WorldState {
    replication: Replication,
}

#[derive(Debug, Deserialize)]
struct Replication {
    links: Vec<Link>,
}

#[derive(Debug, Deserialize)]
struct Link {
    table: String,
    to: Region,
    pending: u64,
    oldest_ms: Option<u64>,
}

/// The age of the oldest change still waiting to reach `to`'s copy of `table` (0 if none).
async fn control_api_lag(
    http: &reqwest::Client,
    url: &str,
    table: &str,
    to: &Region,
) -> Result<(u64, Option<u64>), String> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", response.status()));
    }
    let state: WorldState = response
        .json()
        .await
        .map_err(|e| format!("GET {url}: not the world's state: {e}"))?;
    let links: Vec<&Link> = state
        .replication
        .links
        .iter()
        .filter(|l| l.table == table && l.to == *to)
        .collect();
    if links.is_empty() {
        return Err(format!("the world replicates no table `{table}` into {to}"));
    }
    let lag = links.iter().filter_map(|l| l.oldest_ms).max().unwrap_or(0);
    let pending = links.iter().map(|l| l.pending).sum();
    Ok((lag, Some(pending)))
}

/// The credentials of the standard chain, resolved once.
async fn aws_credentials() -> Result<Credentials, FailoverError> {
    use aws_credential_types::provider::ProvideCredentials;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    crate::client::require_credentials(&config).await?;
    let provider = config
        .credentials_provider()
        .ok_or_else(|| FailoverError::Setup("no AWS credentials".into()))?;
    provider
        .provide_credentials()
        .await
        .map_err(|e| FailoverError::Setup(format!("no AWS credentials: {e}")))
}

/// CloudWatch `GetMetricData` over awsJson1_0, signed with SigV4: enough for one metric,
/// without the CloudWatch SDK.
pub struct CloudWatch {
    pub http: reqwest::Client,
    pub credentials: Credentials,
    /// The Region asked, and signed for.
    pub region: Region,
    /// A URL instead of `https://monitoring.{region}.amazonaws.com`.
    pub endpoint: Option<String>,
}

impl CloudWatch {
    /// The latest 1-minute maximum of `ReplicationLatency` of `table` into `receiving`, in
    /// milliseconds; `None` when there is no datapoint (nothing replicated in the window).
    pub async fn replication_latency(
        &self,
        table: &str,
        receiving: &Region,
        now: SystemTime,
    ) -> Result<Option<u64>, String> {
        let end = now
            .duration_since(UNIX_EPOCH)
            .map_err(|e| format!("clock: {e}"))?
            .as_secs();
        let body = serde_json::json!({
            "MetricDataQueries": [{
                "Id": "lag",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/DynamoDB",
                        "MetricName": "ReplicationLatency",
                        "Dimensions": [
                            { "Name": "TableName", "Value": table },
                            { "Name": "ReceivingRegion", "Value": receiving.as_str() }
                        ]
                    },
                    "Period": METRIC_PERIOD_SECONDS,
                    "Stat": "Maximum"
                },
                "ReturnData": true
            }],
            "StartTime": end.saturating_sub(METRIC_WINDOW.as_secs()),
            "EndTime": end,
            "ScanBy": "TimestampDescending"
        })
        .to_string();
        let url = self
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://monitoring.{}.amazonaws.com/", self.region));
        let headers = self.sign(&url, &body, now)?;
        let mut request = self.http.post(&url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("CloudWatch answered HTTP {status}: {text}"));
        }
        latest_value(&text)
    }

    /// The request's headers, the SigV4 signature included.
    fn sign(
        &self,
        url: &str,
        body: &str,
        now: SystemTime,
    ) -> Result<Vec<(String, String)>, String> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let host = reqwest::Url::parse(url)
            .map_err(|e| format!("bad CloudWatch URL {url}: {e}"))?
            .host_str()
            .map(|h| h.to_owned())
            .ok_or_else(|| format!("CloudWatch URL {url} has no host"))?;
        let mut headers = vec![
            (
                "content-type".to_owned(),
                "application/x-amz-json-1.0".to_owned(),
            ),
            ("x-amz-target".to_owned(), CLOUDWATCH_TARGET.to_owned()),
        ];
        let identity = self.credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region.as_str())
            .name("monitoring")
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing: {e}"))?
            .into();
        let mut signed_headers = headers.clone();
        signed_headers.push(("host".to_owned(), host));
        let signable = SignableRequest::new(
            "POST",
            url,
            signed_headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| format!("signing: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();
        let (added, _) = instructions.into_parts();
        headers.extend(
            added
                .into_iter()
                .map(|h| (h.name().to_owned(), h.value().to_owned())),
        );
        Ok(headers)
    }
}

/// The first (latest) value of the `lag` query in a GetMetricData answer.
fn latest_value(text: &str) -> Result<Option<u64>, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        metric_data_results: Vec<Result_>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Result_ {
        id: String,
        #[serde(default)]
        values: Vec<f64>,
    }
    let answer: Answer = serde_json::from_str(text)
        .map_err(|e| format!("not a GetMetricData answer: {e}: {text}"))?;
    let lag = answer
        .metric_data_results
        .into_iter()
        .find(|r| r.id == "lag")
        .ok_or("the answer has no result for the query")?;
    Ok(lag.values.first().map(|ms| ms.max(0.0).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_value_is_read() {
        let text = r#"{"MetricDataResults":[{"Id":"lag","Label":"ReplicationLatency","Timestamps":[1700000060,1700000000],"Values":[812.4,95.0],"StatusCode":"Complete"}],"Messages":[]}"#;
        assert_eq!(latest_value(text), Ok(Some(812)));
        let empty = r#"{"MetricDataResults":[{"Id":"lag","Timestamps":[],"Values":[],"StatusCode":"Complete"}]}"#;
        assert_eq!(latest_value(empty), Ok(None));
        assert!(latest_value("<html>").is_err());
    }
}
