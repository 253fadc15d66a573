//! Gateway-only access in the local world: a service instance that accepts only calls which
//! came through the `api` gateway, so the gateway stays the one entry point even though every
//! service has its own hostname.
//!
//! On AWS no service code takes part: each service's custom domains require mutual TLS with the
//! gateway's API Gateway client certificate (`infra`'s truststore module), so a caller without
//! it is refused in the TLS handshake and the function never runs, and no credential sits in
//! any stage or environment variable. The local world serves plain HTTP on loopback and stands
//! in for that handshake with this layer, wrapped around an instance's whole router so that it
//! answers before any handler: the gateway adds a credential generated for the run (kept in
//! memory and in the local manifest, never in configuration) in [`X_GATEWAY_SECRET`], and any
//! other call gets `403` problem+json. The probes `/` and `/health` stay open locally (the
//! DNS health evaluation and the demo's route probe call them); on AWS the handshake admits
//! none, so they are open only through the gateway. Services run outside the local world
//! (tests, a service's own binary) check nothing.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::problem::Problem;

/// The header the gateway adds to every call it forwards to a service.
pub const X_GATEWAY_SECRET: HeaderName =
    HeaderName::from_static(topology::manifest::GATEWAY_SECRET_HEADER);

/// Paths that answer without the secret.
const OPEN_PATHS: [&str; 2] = ["/", "/health"];

/// The shared secret. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewaySecret(Arc<str>);

impl GatewaySecret {
    /// The secret, or `None` when `value` is empty or not a valid header value.
    pub fn new(value: &str) -> Option<Self> {
        let valid = !value.is_empty() && HeaderValue::from_str(value).is_ok();
        valid.then(|| Self(value.into()))
    }

    /// The value a gateway puts in [`X_GATEWAY_SECRET`].
    pub fn header_value(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&self.0).expect("checked in new");
        value.set_sensitive(true);
        value
    }

    /// Whether `presented` is the secret, in time independent of where they differ (only a
    /// different length returns early, and the length is no secret).
    fn matches(&self, presented: &[u8]) -> bool {
        bool::from(presented.ct_eq(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for GatewaySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GatewaySecret(..)")
    }
}

/// `router`, answering only calls that carry `secret` (when there is one) outside the probes.
pub fn guard(router: Router, secret: Option<GatewaySecret>) -> Router {
    match secret {
        Some(secret) => router.layer(middleware::from_fn_with_state(secret, check)),
        None => router,
    }
}

async fn check(State(secret): State<GatewaySecret>, request: Request, next: Next) -> Response {
    let presented = request.headers().get(&X_GATEWAY_SECRET);
    if OPEN_PATHS.contains(&request.uri().path())
        || presented.is_some_and(|v| secret.matches(v.as_bytes()))
    {
        return next.run(request).await;
    }
    Problem::new(
        StatusCode::FORBIDDEN,
        "gateway-only",
        "Call through the API gateway",
        "this service answers only calls that come through the api gateway; \
         send the request to the gateway's URL instead",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app(secret: Option<GatewaySecret>) -> Router {
        let router = Router::new()
            .route("/", get(|| async { "probe" }))
            .route("/health", get(|| async { "ok" }))
            .route("/orders", get(|| async { "data" }));
        guard(router, secret)
    }

    async fn status(app: &Router, path: &str, header: Option<&str>) -> StatusCode {
        let mut request = Request::get(path);
        if let Some(value) = header {
            request = request.header(X_GATEWAY_SECRET, value);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        response.status()
    }

    #[tokio::test]
    async fn only_calls_with_the_gateways_secret_reach_the_data() {
        let secret = GatewaySecret::new("s3cr3t-value").unwrap();
        let app = app(Some(secret));
        assert_eq!(
            status(&app, "/orders", Some("s3cr3t-value")).await,
            StatusCode::OK
        );
        for wrong in [None, Some("s3cr3t-valuf"), Some("s3cr3t"), Some("")] {
            assert_eq!(
                status(&app, "/orders", wrong).await,
                StatusCode::FORBIDDEN,
                "{wrong:?}"
            );
        }
        // The probes answer anyone.
        assert_eq!(status(&app, "/", None).await, StatusCode::OK);
        assert_eq!(status(&app, "/health", None).await, StatusCode::OK);
    }

    #[tokio::test]
    async fn the_refusal_is_a_problem_and_without_a_secret_nothing_is_checked() {
        let app_with = app(GatewaySecret::new("x"));
        let response = app_with
            .oneshot(Request::get("/orders").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(status(&app(None), "/orders", None).await, StatusCode::OK);
    }

    #[test]
    fn an_empty_secret_is_no_secret_and_debug_hides_it() {
        assert!(GatewaySecret::new("").is_none());
        assert!(GatewaySecret::new("bad\nvalue").is_none());
        let secret = GatewaySecret::new("hidden").unwrap();
        assert!(!format!("{secret:?}").contains("hidden"));
        assert!(secret.header_value().is_sensitive());
    }
}
