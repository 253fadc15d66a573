//! The `api` app: one public base URL whose path prefixes (its routes in the topology, such
//! as `/orders`) are proxied to the services' own subdomains, so each service fails over on its own while a
//! consumer keeps one URL.
//!
//! On AWS the infra crate renders the same [`RoutingTable`] as API Gateway HTTP proxy
//! integrations; in the local world this crate runs it as an HTTP reverse proxy that resolves
//! every upstream through the local Route 53, caching each answer for its TTL, exactly as a
//! remote client would. The upstream's `x-region` comes back as `x-upstream-region`, next to
//! the gateway's own `x-region`.
//!
//! With `[auth]` on, every routed request needs a bearer token, checked as API Gateway's JWT
//! authorizer checks it ([`auth`]); `/`, `/health` and the documentation stay open.

pub mod auth;
pub mod proxy;
pub mod resolve;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use kit::http::service_router_with_problems;
use kit::store::{HealthCheck, StoreError};
use kit::{Problem, ServiceInfo};
use topology::auth::Access;
use topology::{AppName, Region, Topology};
use utoipa_axum::router::OpenApiRouter;

pub use auth::{AuthConfig, Authorizer, Denied, Principal};
pub use proxy::{Proxy, UpstreamError, X_UPSTREAM_REGION};
pub use resolve::{ResolveError, UpstreamResolver};
pub use routes::{Route, RoutesError, RoutingTable, Upstream};

/// How long an upstream has to start answering before the gateway answers 504.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a gateway could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Routes(#[from] RoutesError),
    #[error(transparent)]
    Resolver(#[from] ResolveError),
}

/// Everything one gateway instance needs.
#[derive(Clone)]
pub struct GatewayConfig {
    /// The gateway's app name (`api`).
    pub app: AppName,
    /// The Region this instance serves, reported in `x-region`.
    pub region: Region,
    pub table: RoutingTable,
    pub resolver: UpstreamResolver,
    pub upstream_timeout: Duration,
    /// HTTPS to the upstreams with this client configuration (its client certificate is
    /// what services that admit only the gateway check); `None` calls them over plain HTTP.
    pub upstream_tls: Option<Arc<rustls::ClientConfig>>,
    /// The token checks of every routed request; `None` (auth off) lets anyone through.
    pub auth: Option<AuthConfig>,
}

impl GatewayConfig {
    /// The gateway `app` of the local world in `region`: upstreams are the services'
    /// subdomains of the local domain on the local app port, resolved through `dns_server`.
    pub fn local(
        topology: &Topology,
        app: &AppName,
        region: Region,
        dns_server: SocketAddr,
    ) -> Result<Self, ConfigError> {
        let local = &topology.local;
        let table = RoutingTable::from_topology(topology, app, &local.domain, local.app_port)?;
        Ok(Self {
            app: app.clone(),
            region,
            table,
            resolver: UpstreamResolver::new(Some(dns_server))?,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            upstream_tls: None,
            auth: None,
        })
    }
}

struct Gateway {
    app: AppName,
    table: RoutingTable,
    proxy: Proxy,
    auth: Option<Authorizer>,
}

/// The gateway has no store: it is healthy whenever it serves. Its upstreams have health
/// checks of their own (the routing controls).
struct AlwaysHealthy;

#[async_trait::async_trait]
impl HealthCheck for AlwaysHealthy {
    async fn check(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The gateway as an axum router: kit's common surface (`GET /`, `GET /health`,
/// `/openapi.json`, `x-region`, `x-request-id`, problem+json for unknown routes) and every
/// routed prefix (`/orders`, `/orders/...`) proxied with any method, once its token passes.
pub fn router(config: GatewayConfig) -> Router {
    let info = ServiceInfo {
        name: config.app.to_string().into(),
        version: env!("CARGO_PKG_VERSION"),
        region: config.region.clone(),
    };
    let proxy = Proxy::new(
        config.resolver.clone(),
        config.upstream_timeout,
        config.upstream_tls.clone(),
    );
    let state = Arc::new(Gateway {
        app: config.app.clone(),
        table: config.table.clone(),
        proxy,
        auth: config.auth.clone().map(Authorizer::new),
    });
    let mut api = OpenApiRouter::new();
    for route in config.table.routes() {
        api = api
            .route(&route.prefix, any(forward))
            .route(&format!("{}/{{*rest}}", route.prefix), any(forward));
    }
    service_router_with_problems(
        info,
        Arc::new(AlwaysHealthy),
        api.with_state(state),
        auth::PROBLEM_TYPES,
    )
}

async fn forward(State(gateway): State<Arc<Gateway>>, mut request: Request<Body>) -> Response {
    let path = request.uri().path().to_owned();
    let Some(route) = gateway.table.route(&path) else {
        return Problem::not_found(format!("no route for `{path}`")).into_response();
    };
    auth::strip_identity(request.headers_mut());
    if let Some(authorizer) = &gateway.auth {
        let access = Access::of_method(request.method().as_str());
        match authorizer
            .authorize(request.headers(), &route.prefix, access)
            .await
        {
            Ok(principal) => principal.apply(request.headers_mut()),
            Err(denied) => return denied.into_response(gateway.app.as_str()),
        }
    }
    match gateway.proxy.forward(route, request).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(%error, route = %route.prefix, "upstream call failed");
            Problem::from(error).into_response()
        }
    }
}
