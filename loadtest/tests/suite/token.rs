//! Tokens for the `api` app: asked of the manifest's issuer with the client-credentials grant
//! at the token endpoint its discovery document names, refusals and an unreachable issuer
//! explained, and a run's token sent on every request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use loadtest::token::{TokenError, TokenRequest, request_token};
use loadtest::{BearerToken, Run, RunConfig, Scenario};
use serde_json::json;
use tokio::net::TcpListener;
use topology::auth::ManifestAuth;

use crate::common::{Dns, FakeStore, TwoRegions, manifest};

/// The last form the token endpoint received.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A token endpoint that grants what it is asked, but refuses the scope `forbidden`; it keeps
/// the last form it received.
async fn issuer() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let token_endpoint = format!("{url}/oauth2/token");
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { Json(json!({ "token_endpoint": token_endpoint })) }),
        )
        .route(
            "/oauth2/token",
            post(
                |State(received): State<Received>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    assert_eq!(
                        headers["content-type"],
                        "application/x-www-form-urlencoded"
                    );
                    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap();
                    let scope = form
                        .iter()
                        .find(|(k, _)| k == "scope")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    *received.lock().unwrap() = form;
                    if scope.contains("forbidden") {
                        return (
                            StatusCode::BAD_REQUEST,
                            Json(json!({"error": "invalid_scope", "error_description": "not for you"})),
                        )
                            .into_response();
                    }
                    Json(json!({
                        "access_token": "header.claims.signature",
                        "token_type": "Bearer",
                        "expires_in": 60,
                        "scope": scope,
                    }))
                    .into_response()
                },
            ),
        )
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn auth(issuer: &str) -> ManifestAuth {
    ManifestAuth {
        issuer: issuer.to_owned(),
        audience: "api".into(),
        scopes: vec!["api/read".parse().unwrap(), "api/write".parse().unwrap()],
    }
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_token_is_asked_with_the_client_credentials_grant() {
    let (url, received) = issuer().await;
    let all = TokenRequest {
        scopes: vec![],
        subject: None,
        ttl: Duration::from_secs(90),
    };
    let issued = request_token(&auth(&url), &all).await.unwrap();
    assert_eq!(issued.access_token, "header.claims.signature");
    let form = received.lock().unwrap().clone();
    assert_eq!(field(&form, "grant_type"), Some("client_credentials"));
    assert_eq!(
        field(&form, "scope"),
        Some("api/read api/write"),
        "every scope the manifest lists"
    );
    assert_eq!(field(&form, "expires_in"), Some("90"));
    assert_eq!(field(&form, "client_id"), None);

    let reader = TokenRequest {
        scopes: vec!["api/read".parse().unwrap()],
        subject: Some("bob".into()),
        ttl: Duration::from_secs(60),
    };
    let issued = request_token(&auth(&url), &reader).await.unwrap();
    assert_eq!(issued.scope, "api/read");
    let form = received.lock().unwrap().clone();
    assert_eq!(field(&form, "client_id"), Some("bob"));
}

#[tokio::test]
async fn refusals_and_an_unreachable_issuer_say_what_happened() {
    let (url, _) = issuer().await;
    let forbidden = TokenRequest {
        scopes: vec!["forbidden".parse().unwrap()],
        subject: None,
        ttl: Duration::from_secs(60),
    };
    let err = request_token(&auth(&url), &forbidden).await.unwrap_err();
    assert_eq!(
        err,
        TokenError::Refused {
            error: "invalid_scope".into(),
            description: "not for you".into()
        }
    );

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let err = request_token(&auth(&gone), &forbidden).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&gone) && text.contains("cargo run -p local-world -- run"),
        "{text}"
    );
}

#[tokio::test]
async fn a_runs_token_goes_with_every_request() {
    let world = TwoRegions::start(61, FakeStore::new(Duration::ZERO, 0)).await;
    let dns = Dns::start(5).await;
    let manifest = manifest(&world, &dns, &["orders"], false);
    let config = RunConfig {
        rate_per_app: 50,
        duration: Some(Duration::from_millis(300)),
        scenario: Scenario::Probe,
        bearer_token: Some(BearerToken::new("header.claims.signature").unwrap()),
        ..RunConfig::default()
    };
    let run = Run::start(&manifest, config).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let report = run.stop().await;
    assert!(report.counts().answered > 0, "{}", report.summary_table());
    let log = world.primary.log.lock().unwrap();
    assert!(!log.is_empty());
    for (_, path, headers, _) in log.iter() {
        assert_eq!(
            headers["authorization"], "Bearer header.claims.signature",
            "{path}"
        );
    }
}
