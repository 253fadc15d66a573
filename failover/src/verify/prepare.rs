//! Before the shift: each app's names, and a caching resolver that already holds the answer
//! clients hold now.

use std::net::SocketAddr;
use std::time::Duration;

use topology::AppName;
use topology::manifest::Manifest;

use super::lookup::Lookup;
use crate::verified::VerifyError;

/// How long and how often to look.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// Give up after this long, counted from the call.
    pub timeout: Duration,
    /// Pause between two looks.
    pub interval: Duration,
    /// Timeout of one DNS query, ARC read or HTTP request.
    pub request_timeout: Duration,
    /// The DNS server stage 3's caching resolver asks, instead of the default (the system's
    /// name servers on AWS, the manifest's DNS server locally).
    pub resolver: Option<SocketAddr>,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            interval: Duration::from_millis(250),
            request_timeout: Duration::from_secs(2),
            resolver: None,
        }
    }
}

/// Set up before the shift: the app's names and a recursive resolver that has already cached
/// the answer clients hold now.
pub struct Prepared {
    pub(super) app: AppName,
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
        host,
        url,
        port,
        recursive,
    })
}
