//! The gateway's token checks against a real issuer over HTTP (discovery document and key set,
//! keys that rotate): a passing token reaches the service with its subject and issuer, in
//! place of any a client sent; keys are fetched once, an unknown key id fetches them again
//! at most once per interval; an unreachable issuer is 503 unless its keys are cached.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use gateway::AuthConfig;
use gateway::auth::{KeyPolicy, TrustedIssuer};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use topology::auth::{AuthSettings, SigningAlgorithm};

use crate::common::{Dns, client, gateway_with, header, upstream};

/// One signing key of the test issuer.
struct Key {
    kid: String,
    encoding: EncodingKey,
    public: Jwk,
}

impl Key {
    fn new(kid: &str) -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        let mut public = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        public.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            encoding,
            public,
        }
    }
}

/// An OIDC issuer over HTTP whose published keys the test changes, counting key-set fetches.
struct Issuer {
    url: String,
    published: Arc<Mutex<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
    server: JoinHandle<()>,
}

#[derive(Clone)]
struct Published {
    url: String,
    keys: Arc<Mutex<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
}

impl Issuer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Published {
            url: url.clone(),
            keys: Arc::default(),
            fetches: Arc::default(),
        };
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(|State(s): State<Published>| async move {
                    Json(json!({ "issuer": s.url, "jwks_uri": format!("{}/keys", s.url) }))
                }),
            )
            .route(
                "/keys",
                get(|State(s): State<Published>| async move {
                    s.fetches.fetch_add(1, Ordering::SeqCst);
                    let keys = s.keys.lock().unwrap().clone();
                    Json(JwkSet { keys })
                }),
            )
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url,
            published: state.keys,
            fetches: state.fetches,
            server,
        }
    }

    fn publish(&self, key: &Key) {
        self.published.lock().unwrap().push(key.public.clone());
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// A token of this issuer for `sub` with `scope`, signed by `key`.
    fn token(&self, key: &Key, sub: &str, scope: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = json!({
            "iss": self.url, "sub": sub, "aud": "api", "scope": scope,
            "iat": now, "exp": now + 300,
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
    }
}

fn config(issuer: &str, refresh_interval: Duration) -> AuthConfig {
    AuthConfig {
        issuers: vec![TrustedIssuer {
            url: issuer.to_owned(),
            audiences: vec!["api".into()],
        }],
        algorithms: vec![SigningAlgorithm::ES256],
        settings: AuthSettings::default(),
        keys: KeyPolicy {
            refresh_interval,
            timeout: Duration::from_secs(1),
            ..KeyPolicy::default()
        },
    }
}

/// A gateway routing `/orders` to an echoing upstream, checking tokens against `auth`.
async fn setup(network_host: u8, auth: Option<AuthConfig>) -> String {
    let dns = Dns::start(5).await;
    let ip = Ipv4Addr::new(127, 0, 9, network_host);
    let echo = upstream(SocketAddr::new(ip.into(), 0), "us-west-2").await;
    dns.set("orders.example.test", ip);
    gateway_with(&dns, echo.port(), Duration::from_secs(5), auth).await
}

async fn get_orders(base: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client()
        .get(format!("{base}/orders/1"))
        .header("x-auth-subject", "\"mallory\"");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_valid_token_reaches_the_service_with_its_subject_and_issuer() {
    let issuer = Issuer::start().await;
    let key = Key::new("k1");
    issuer.publish(&key);
    let base = setup(31, Some(config(&issuer.url, Duration::from_secs(10)))).await;

    let (status, body) = get_orders(&base, Some(&issuer.token(&key, "alice", "api/read"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["subject"], "\"alice\"",
        "JSON text, as API Gateway maps claims"
    );
    assert_eq!(body["issuer"], format!("\"{}\"", issuer.url));

    // Non-ASCII claims travel escaped, as API Gateway writes them.
    let (status, body) = get_orders(&base, Some(&issuer.token(&key, "José", "api/read"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subject"], "\"Jos\\u00E9\"");

    // The gateway's own routes need no token.
    let health = client().get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let page = client()
        .get(format!("{base}/problems/insufficient-scope"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the problem types are documented");
}

#[tokio::test]
async fn without_auth_a_client_cannot_pose_as_a_subject() {
    let base = setup(32, None).await;
    let (status, body) = get_orders(&base, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["subject"],
        Value::Null,
        "the gateway strips it: {body}"
    );
}

#[tokio::test]
async fn keys_are_fetched_once_and_an_unknown_key_fetches_them_at_most_once_per_interval() {
    let issuer = Issuer::start().await;
    let old = Key::new("old");
    issuer.publish(&old);
    // Long enough that five requests fit within it on a loaded machine.
    let interval = Duration::from_secs(2);
    let base = setup(33, Some(config(&issuer.url, interval))).await;

    for _ in 0..3 {
        let (status, body) =
            get_orders(&base, Some(&issuer.token(&old, "alice", "api/read"))).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(issuer.fetches(), 1, "one fetch, then the cache");

    // Rotation: the issuer publishes a new key and signs with it.
    tokio::time::sleep(interval).await;
    let new = Key::new("new");
    issuer.publish(&new);
    let (status, body) = get_orders(&base, Some(&issuer.token(&new, "alice", "api/read"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(issuer.fetches(), 2, "the new key id fetched the set again");

    // A key the issuer never published: refused, fetching again only once the interval is over.
    let forged = issuer.token(&Key::new("forged"), "alice", "api/read");
    for _ in 0..5 {
        let (status, body) = get_orders(&base, Some(&forged)).await;
        assert_eq!(status, 401, "{body}");
    }
    assert_eq!(
        issuer.fetches(),
        2,
        "within the interval nothing is fetched"
    );
    tokio::time::sleep(interval).await;
    for _ in 0..5 {
        let (status, _) = get_orders(&base, Some(&forged)).await;
        assert_eq!(status, 401);
    }
    assert_eq!(issuer.fetches(), 3, "once per interval");
}

#[tokio::test]
async fn an_unreachable_issuer_is_503_unless_its_keys_are_cached() {
    let issuer = Issuer::start().await;
    let key = Key::new("k1");
    issuer.publish(&key);
    let base = setup(34, Some(config(&issuer.url, Duration::from_millis(1)))).await;
    let token = issuer.token(&key, "alice", "api/read");
    assert_eq!(get_orders(&base, Some(&token)).await.0, 200);
    issuer.server.abort();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        get_orders(&base, Some(&token)).await.0,
        200,
        "the cached key still verifies"
    );

    // A gateway that has never read the (now gone) issuer's keys.
    let cold = setup(35, Some(config(&issuer.url, Duration::from_millis(1)))).await;
    let response = client()
        .get(format!("{cold}/orders/1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        header(response.headers(), "content-type"),
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .ends_with("/issuer-unavailable"),
        "{body}"
    );
}
