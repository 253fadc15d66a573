//! HTTP to one Region's instance of an app, by its Region-specific hostname (the manifest's
//! `regional_urls`, e.g. `orders.us-west-2.<domain>`): what warm-up, "wait until it answers"
//! and `plan check` use. It never goes through the app's failover hostname, so it reaches the
//! Region named whatever Route 53 answers now.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use resolver::Resolver;
use topology::manifest::Manifest;
use topology::{AppName, Region};

/// What one request saw.
#[derive(Debug, Clone)]
pub struct Answered {
    pub status: u16,
    pub elapsed: Duration,
}

/// Calls Region-specific hostnames, resolving them once through the zone's DNS server (the
/// manifest's `dns_server` locally, the system's name servers on AWS).
pub struct Regional {
    resolver: Resolver,
    timeout: Duration,
}

impl Regional {
    pub fn new(manifest: &Manifest, timeout: Duration) -> Result<Self, String> {
        let resolver = Resolver::new(manifest.dns_server).map_err(|e| format!("resolver: {e}"))?;
        Ok(Self { resolver, timeout })
    }

    /// A client bound to `app`'s instance in `region`, and the URL of `path` there.
    pub async fn client(
        &self,
        manifest: &Manifest,
        app: &AppName,
        region: &Region,
        path: &str,
    ) -> Result<(reqwest::Client, reqwest::Url), String> {
        let entry = manifest
            .app(app)
            .ok_or_else(|| format!("`{app}` is not in the manifest"))?;
        let base = entry.regional_url(region).ok_or_else(|| {
            format!("the manifest has no Region-specific URL of {app} in {region}")
        })?;
        let url = reqwest::Url::parse(base)
            .and_then(|u| u.join(path))
            .map_err(|e| format!("`{base}`: {e}"))?;
        let host = url
            .host_str()
            .ok_or_else(|| format!("`{base}` has no host"))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let ip = self
            .resolver
            .resolve(host)
            .await
            .map_err(|e| format!("{host} does not resolve: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .resolve(host, SocketAddr::new(ip, port))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok((client, url))
    }

    /// One `GET path` to `app` in `region`.
    pub async fn get(
        &self,
        manifest: &Manifest,
        app: &AppName,
        region: &Region,
        path: &str,
    ) -> Result<Answered, String> {
        let (client, url) = self.client(manifest, app, region, path).await?;
        send(&client, &url).await
    }
}

/// `GET url` with `client`: its status and time.
pub async fn send(client: &reqwest::Client, url: &reqwest::Url) -> Result<Answered, String> {
    let started = Instant::now();
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", root_cause(&e)))?;
    Ok(Answered {
        status: response.status().as_u16(),
        elapsed: started.elapsed(),
    })
}

/// The innermost cause: reqwest's outer message alone ("error sending request") says little.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}
