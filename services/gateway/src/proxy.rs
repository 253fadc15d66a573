//! The HTTP reverse proxy: each request goes to its route's upstream, resolved through DNS
//! per request (cached for the answer's TTL), with the full path and query kept.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kit::Problem;
use kit::gateway_only::{GatewaySecret, X_GATEWAY_SECRET};

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
    client: Client<HttpConnector, Body>,
    resolver: UpstreamResolver,
    timeout: Duration,
    gateway_secret: Option<GatewaySecret>,
}

impl Proxy {
    /// A proxy resolving through `resolver`, giving each upstream `timeout` to answer.
    pub fn new(resolver: UpstreamResolver, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
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
            gateway_secret: None,
        }
    }

    /// The proxy, adding `secret` as `x-gateway-secret` to every call it forwards.
    pub fn with_gateway_secret(mut self, secret: Option<GatewaySecret>) -> Self {
        self.gateway_secret = secret;
        self
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
        parts.uri = Uri::try_from(format!("http://{addr}{path}")).map_err(|e| {
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
        // `insert` replaces whatever a client sent: only the gateway vouches for a call.
        if let Some(secret) = &self.gateway_secret {
            parts
                .headers
                .insert(X_GATEWAY_SECRET, secret.header_value());
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
