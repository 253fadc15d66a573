//! After a shift: has traffic really moved? Resolves the app's hostname as a client would (the
//! manifest's DNS server in the local world, the system resolver on AWS), sends `GET /` to the
//! address it got, and reads the answering Region (`x-region`, else the body's `region`),
//! until that is the target Region or the time is up.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use serde::Serialize;
use tokio::time::Instant;
use topology::manifest::Manifest;
use topology::{AppName, Region};

/// How long and how often to look.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// Give up after this long.
    pub timeout: Duration,
    /// Pause between two looks.
    pub interval: Duration,
    /// Timeout of one DNS query or HTTP request.
    pub request_timeout: Duration,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            interval: Duration::from_millis(250),
            request_timeout: Duration::from_secs(2),
        }
    }
}

/// Traffic for `app` reached `region`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub app: AppName,
    pub region: Region,
    /// From the start of verification to the first answer from `region`, in milliseconds.
    pub elapsed_ms: u64,
    pub polls: u32,
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "verification timed out: after {waited:?}, {app} still answers from {last} instead of {region} (the routing controls are changed; DNS caches may still hold the old answer)"
    )]
    Timeout {
        app: AppName,
        region: Region,
        waited: Duration,
        /// What the last look saw.
        last: String,
    },
    #[error("cannot verify {app}: {message}")]
    Setup { app: AppName, message: String },
}

impl VerifyError {
    /// Whether this is a timeout (exit code 5) rather than a setup problem.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }
}

/// Waits until `app` answers from `region`.
pub async fn verify(
    manifest: &Manifest,
    app: &AppName,
    region: &Region,
    config: &VerifyConfig,
) -> Result<Verified, VerifyError> {
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
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let started = Instant::now();
    let mut polls = 0;
    loop {
        polls += 1;
        let seen = look(manifest.dns_server, &host, port, &url, config).await;
        if seen.as_ref().is_ok_and(|r| r == region) {
            return Ok(Verified {
                app: app.clone(),
                region: region.clone(),
                elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                polls,
            });
        }
        if started.elapsed() + config.interval >= config.timeout {
            return Err(VerifyError::Timeout {
                app: app.clone(),
                region: region.clone(),
                waited: started.elapsed(),
                last: match seen {
                    Ok(r) => r.to_string(),
                    Err(e) => format!("nowhere ({e})"),
                },
            });
        }
        tokio::time::sleep(config.interval).await;
    }
}

/// Verifies several apps at once; the first failure wins.
pub async fn verify_all(
    manifest: &Manifest,
    apps: &[AppName],
    region: &Region,
    config: &VerifyConfig,
) -> Result<Vec<Verified>, VerifyError> {
    futures::future::try_join_all(apps.iter().map(|app| verify(manifest, app, region, config)))
        .await
}

/// One look: resolve, GET /, read the Region.
async fn look(
    dns: Option<SocketAddr>,
    host: &str,
    port: u16,
    url: &reqwest::Url,
    config: &VerifyConfig,
) -> Result<Region, String> {
    let ip = tokio::time::timeout(config.request_timeout, resolve(dns, host, port))
        .await
        .map_err(|_| format!("DNS lookup of {host} timed out"))??;
    // Connect to the address this lookup returned: no other cache may hide the move.
    let client = reqwest::Client::builder()
        .resolve(host, SocketAddr::new(ip, port))
        .timeout(config.request_timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("GET {url} via {ip}: {e}"))?;
    let header = response
        .headers()
        .get("x-region")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let region = match header {
        Some(r) => r,
        None => {
            let body: serde_json::Value = response
                .json()
                .await
                .map_err(|e| format!("GET {url}: no x-region header and no JSON body: {e}"))?;
            body.get("region")
                .and_then(|r| r.as_str())
                .ok_or_else(|| {
                    format!("GET {url}: no x-region header and no `region` in the body")
                })?
                .to_owned()
        }
    };
    region.parse().map_err(|e| format!("GET {url}: {e}"))
}

async fn resolve(dns: Option<SocketAddr>, host: &str, port: u16) -> Result<IpAddr, String> {
    match dns {
        Some(server) => {
            let mut ns = NameServerConfig::udp_and_tcp(server.ip());
            for connection in &mut ns.connections {
                connection.port = server.port();
            }
            // A new resolver per look: its cache must not outlive the record's TTL here.
            let resolver = TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], vec![ns]),
                TokioRuntimeProvider::default(),
            )
            .build()
            .map_err(|e| format!("resolver: {e}"))?;
            let fqdn = format!("{}.", host.trim_end_matches('.'));
            let answer = resolver
                .lookup_ip(fqdn.as_str())
                .await
                .map_err(|e| format!("DNS lookup of {host} at {server}: {e}"))?;
            answer
                .iter()
                .next()
                .ok_or_else(|| format!("DNS lookup of {host} at {server}: no address"))
        }
        None => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("DNS lookup of {host}: {e}"))?
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| format!("DNS lookup of {host}: no address")),
    }
}
