//! The HTTP reverse proxy: each request goes to its route's upstream, resolved through DNS
//! per request (cached for the answer's TTL), with the full path and query kept.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri, header};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kit::Problem;

use crate::resolve::UpstreamResolver;
use crate::routes::Route;

/// The header that carries the upstream's own `x-region` back to the client, next to the
/// gateway's `x-region`.
pub const X_UPSTREAM_REGION: &str = "x-upstream-region";

/// Headers that belong to one hop and are never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Why an upstream call failed, as the client will see it.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot resolve the upstream: {0}")]
    Resolve(String),
    #[error("cannot connect to {upstream} ({addr}): {reason}")]
    Connect {
        upstream: String,
        addr: SocketAddr,
        reason: String,
    },
    #[error("{upstream} ({addr}) sent no response within {timeout:?}")]
    Timeout {
        upstream: String,
        addr: SocketAddr,
        timeout: Duration,
    },
    #[error("{upstream} ({addr}) sent a bad response: {reason}")]
    BadResponse {
        upstream: String,
        addr: SocketAddr,
        reason: String,
    },
}

impl From<UpstreamError> for Problem {
    fn from(error: UpstreamError) -> Self {
        let (status, kind, title) = match &error {
            UpstreamError::Resolve(_) => (
                StatusCode::BAD_GATEWAY,
                "upstream-unresolvable",
                "Upstream not resolvable",
            ),
            UpstreamError::Connect { .. } => (
                StatusCode::BAD_GATEWAY,
                "upstream-unreachable",
                "Upstream unreachable",
            ),
            UpstreamError::Timeout { .. } => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream-timeout",
                "Upstream timed out",
            ),
            UpstreamError::BadResponse { .. } => (
                StatusCode::BAD_GATEWAY,
                "bad-upstream-response",
                "Bad upstream response",
            ),
        };
        Problem::new(status, kind, title, error.to_string())
    }
}

/// Forwards requests to upstreams.
#[derive(Clone)]
pub struct Proxy {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    resolver: UpstreamResolver,
    timeout: Duration,
    scheme: &'static str,
}

impl Proxy {
    /// A proxy resolving through `resolver`, giving each upstream `timeout` to answer; with
    /// `tls`, upstreams are called over HTTPS with it (and its client certificate), else
    /// over plain HTTP.
    pub fn new(
        resolver: UpstreamResolver,
        timeout: Duration,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        // `enforce_http` is off so the HTTPS connector can hand it `https` URIs.
        http.enforce_http(false);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let connector = match tls {
            Some(config) => {
                // The connector sets ALPN itself (HTTP/1.1), and insists on doing so.
                let mut config = Arc::unwrap_or_clone(config);
                config.alpn_protocols.clear();
                HttpsConnectorBuilder::new().with_tls_config(config)
            }
            // Never used for `https`: the URIs say `http`.
            None => HttpsConnectorBuilder::new().with_tls_config(no_tls()),
        }
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
        // Connections are pooled per resolved address (the URI carries the IP), so when the
        // DNS answer moves, new requests open connections to the new Region while the old
        // pool simply idles out, as a remote client's would.
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self {
            client,
            resolver,
            timeout,
            scheme,
        }
    }

    /// Sends `request` to `route`'s upstream and returns its response, with the upstream's
    /// `x-region` renamed to `x-upstream-region`.
    pub async fn forward(
        &self,
        route: &Route,
        request: Request<Body>,
    ) -> Result<Response<Body>, UpstreamError> {
        let upstream = &route.upstream;
        let ip: IpAddr = self
            .resolver
            .resolve(&upstream.host)
            .await
            .map_err(|e| UpstreamError::Resolve(e.to_string()))?;
        let addr = SocketAddr::new(ip, upstream.port);
        let host = format!("{}:{}", upstream.host, upstream.port);
        let (mut parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        // The URI names the address, so the TLS handshake checks the certificate's IP name.
        parts.uri = Uri::try_from(format!("{}://{addr}{path}", self.scheme)).map_err(|e| {
            UpstreamError::BadResponse {
                upstream: host.clone(),
                addr,
                reason: format!("cannot build the upstream URI: {e}"),
            }
        })?;
        let original_host = parts.headers.get(header::HOST).cloned();
        strip_hop_by_hop(&mut parts.headers);
        if let Ok(value) = HeaderValue::from_str(&host) {
            parts.headers.insert(header::HOST, value);
        }
        if let Some(value) = original_host {
            parts.headers.insert("x-forwarded-host", value);
        }
        let call = self.client.request(Request::from_parts(parts, body));
        let response = match tokio::time::timeout(self.timeout, call).await {
            Err(_) => {
                return Err(UpstreamError::Timeout {
                    upstream: host,
                    addr,
                    timeout: self.timeout,
                });
            }
            Ok(Err(e)) if e.is_connect() => {
                return Err(UpstreamError::Connect {
                    upstream: host,
                    addr,
                    reason: error_chain(&e),
                });
            }
            Ok(Err(e)) => {
                return Err(UpstreamError::BadResponse {
                    upstream: host,
                    addr,
                    reason: error_chain(&e),
                });
            }
            Ok(Ok(response)) => response,
        };
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        if let Some(region) = parts.headers.remove(kit::X_REGION) {
            parts
                .headers
                .insert(HeaderName::from_static(X_UPSTREAM_REGION), region);
        }
        Ok(Response::from_parts(parts, Body::new(body)))
    }
}

/// A TLS configuration that trusts nothing, for a proxy whose URIs are all `http`.
fn no_tls() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default protocol versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The error and its causes, for a detail a person can act on ("connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
