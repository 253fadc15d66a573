//! Auth at the local world's gateway, against the world's own issuer over HTTP: the gateway
//! refuses what API Gateway's JWT authorizer refuses (no token, expired, not yet valid,
//! another audience, another issuer, an unknown key, a signature by another key, `alg:
//! none`, HS256 signed with the issuer's public key) with 401 problem+json and
//! `WWW-Authenticate`; a token without the write scope reads and cannot write (403); a valid
//! token reaches the service; `local-world token` prints a token the gateway takes. The worlds
//! run on loopback networks of their own (`127.0.111` to `127.0.118`), on ports the system
//! picks.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use local_world::World;
use local_world::issuer::Issuer;
use reqwest::StatusCode;
use serde_json::{Value, json};
use topology::Topology;

use crate::common;

async fn world(network: u8, edit: impl FnOnce(String) -> String) -> World {
    let text = edit(common::on_networks(&common::topology_text(), network));
    tokio::time::timeout(
        Duration::from_secs(10),
        World::start(Topology::parse(&text).unwrap()),
    )
    .await
    .expect("the world starts within 10 s")
    .unwrap()
}

/// The gateway's instance in the primary Region.
fn gateway(world: &World) -> SocketAddr {
    let primary = &world.topology().regions.primary;
    world.instance(&common::gateway(), primary).unwrap().addr
}

/// A read of an id no one created, through the gateway: the service answers 404.
fn item_path() -> String {
    format!("/{}/{}", common::first(), uuid::Uuid::now_v7().hyphenated())
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// What the gateway answered: status, `WWW-Authenticate`, whether it came from upstream,
/// and the body.
struct Answer {
    status: StatusCode,
    challenge: String,
    upstream: bool,
    body: Value,
}

async fn call(
    gateway: SocketAddr,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> Answer {
    let mut request = http().request(method, format!("http://{gateway}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if path == format!("/{}", common::first()) {
        request = request.json(&json!({}));
    }
    let response = request.send().await.unwrap();
    let headers = response.headers().clone();
    Answer {
        status: response.status(),
        challenge: headers
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
        upstream: headers.contains_key(gateway::X_UPSTREAM_REGION),
        body: response.json().await.unwrap_or_default(),
    }
}

async fn read(gateway: SocketAddr, token: Option<&str>) -> Answer {
    call(gateway, reqwest::Method::GET, &item_path(), token).await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims the world's issuer would issue, changed by `edit`.
fn claims(issuer: &Issuer, edit: impl FnOnce(&mut Value)) -> Value {
    let now = now();
    let mut claims = json!({
        "iss": issuer.url(),
        "sub": "alice",
        "aud": "api",
        "scope": "api/read api/write",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    });
    edit(&mut claims);
    claims
}

/// An unsigned token (`alg: none`) naming the issuer's key.
fn unsigned(kid: &str, claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        part(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        part(claims)
    )
}

/// The issuer's published key set, over HTTP, from its discovery document.
async fn key_set(issuer: &str) -> Value {
    let discovery: Value = http()
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], issuer);
    http()
        .get(discovery["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// An HS256 token whose HMAC secret is the issuer's public key: the algorithm-confusion
/// attack on validators that take the algorithm from the token.
fn hs256_with_public_key(key: &Value, claims: &Value) -> String {
    let secret = jsonwebtoken::EncodingKey::from_secret(key.to_string().as_bytes()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = key["kid"].as_str().map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &secret).unwrap()
}

fn assert_refused(answer: &Answer, case: &str, why: &str) {
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{case}: {}",
        answer.body
    );
    assert!(!answer.upstream, "{case}: the request reached the service");
    assert!(
        answer.body["type"]
            .as_str()
            .unwrap()
            .ends_with("/invalid-token"),
        "{case}: {}",
        answer.body
    );
    assert!(
        answer
            .challenge
            .starts_with("Bearer realm=\"api\", error=\"invalid_token\""),
        "{case}: {}",
        answer.challenge
    );
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(why),
        "{case}: `{detail}` does not say `{why}`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_refuses_what_the_jwt_authorizer_refuses() {
    let world = world(111, |t| t).await;
    let gateway = gateway(&world);
    let issuer = world.issuer().expect("auth is on in the fixture");
    let keys = key_set(issuer.url()).await;
    let public = &keys["keys"][0];
    let kid = public["kid"].as_str().unwrap();

    let answer = read(gateway, None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_eq!(answer.challenge, "Bearer realm=\"api\"");
    assert!(
        answer.body["type"]
            .as_str()
            .unwrap()
            .ends_with("/missing-token")
    );
    assert!(!answer.upstream);

    let stranger = Issuer::start(
        "127.0.0.1:0".parse().unwrap(),
        &world.topology().auth,
        vec![],
    )
    .await
    .unwrap();
    let sign = |edit: fn(&mut Value)| issuer.sign(&claims(issuer, edit), None).unwrap();
    let valid = claims(issuer, |_| {});
    let cases = [
        (
            "expired",
            sign(|c| {
                c["exp"] = json!(now() - 600);
                c["iat"] = json!(now() - 900);
                c["nbf"] = json!(now() - 900);
            }),
            "expired",
        ),
        (
            "not valid yet",
            sign(|c| c["nbf"] = json!(now() + 600)),
            "not valid yet",
        ),
        (
            "issued in the future",
            sign(|c| c["iat"] = json!(now() + 600)),
            "future",
        ),
        (
            "another audience",
            sign(|c| c["aud"] = json!("another-api")),
            "not for this API",
        ),
        (
            "another issuer",
            sign(|c| c["iss"] = json!("https://idp.example.com")),
            "not trusted",
        ),
        (
            "an unknown key",
            stranger.sign(&valid, None).unwrap(),
            "has no key",
        ),
        (
            "the issuer's key id, another key's signature",
            stranger.sign(&valid, Some(kid)).unwrap(),
            "signature",
        ),
        ("alg: none", unsigned(kid, &valid), "`none` is not accepted"),
        (
            "HS256 signed with the public key",
            hs256_with_public_key(public, &valid),
            "`HS256` is not accepted",
        ),
        ("not a JWT", "not-a-jwt".to_owned(), "not a JWS"),
    ];
    for (case, token, why) in &cases {
        assert_refused(&read(gateway, Some(token)).await, case, why);
    }

    // The gateway's own routes stay open.
    for open in ["/", "/health"] {
        let answer = call(gateway, reqwest::Method::GET, open, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{open}: {}", answer.body);
    }
    world.shutdown().await;
}

/// A token from the issuer's token endpoint, as `loadtest` and `local-world token` get one.
async fn token(issuer: &str, scope: &str) -> String {
    let discovery: Value = http()
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response: Value = http()
        .post(discovery["token_endpoint"].as_str().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id=bob&scope={}",
            scope.replace(' ', "+").replace('/', "%2F")
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["token_type"], "Bearer", "{response}");
    response["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_write_scope_reads_and_cannot_write() {
    let world = world(113, |t| t).await;
    let gateway = gateway(&world);
    let issuer = world
        .manifest()
        .auth
        .clone()
        .expect("the manifest names the issuer");
    assert_eq!(issuer.issuer, world.issuer().unwrap().url());
    assert_eq!(issuer.audience, "api");
    let scopes: Vec<&str> = issuer.scopes.iter().map(|s| s.as_str()).collect();
    assert_eq!(scopes, ["api/read", "api/write"]);

    let reader = token(&issuer.issuer, "api/read").await;
    let answer = read(gateway, Some(&reader)).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    assert!(answer.upstream, "the service itself answered");

    let create = format!("/{}", common::first());
    let answer = call(gateway, reqwest::Method::POST, &create, Some(&reader)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    assert!(!answer.upstream);
    assert_eq!(
        answer.challenge,
        "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"api/write\""
    );
    assert!(
        answer.body["type"]
            .as_str()
            .unwrap()
            .ends_with("/insufficient-scope")
    );

    // The writer reaches the service, which refuses the empty body itself.
    let writer = token(&issuer.issuer, "api/write").await;
    let answer = call(gateway, reqwest::Method::POST, &create, Some(&writer)).await;
    assert!(answer.upstream, "{}", answer.body);
    assert!(answer.status.is_client_error(), "{}", answer.body);
    assert!(
        ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&answer.status),
        "{}",
        answer.body
    );
    // ... and cannot read.
    let answer = read(gateway, Some(&writer)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_off_there_is_no_issuer_and_the_gateway_lets_anyone_through() {
    let world = world(115, |t| t.replace("[auth]\n", "[auth]\nenabled = false\n")).await;
    assert!(world.issuer().is_none());
    assert_eq!(world.manifest().auth, None);
    let answer = read(gateway(&world), None).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    assert!(answer.upstream);
    world.shutdown().await;
}

/// `local-world token` with `args`, against the manifest at `manifest`.
async fn token_cli(manifest: &std::path::Path, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_local-world"))
        .arg("token")
        .arg("--manifest")
        .arg(manifest)
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_world_token_prints_a_token_for_the_running_world() {
    let world = world(117, |t| t).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("deployment.json");
    world.manifest().save(&manifest).unwrap();
    let gateway = gateway(&world);

    let out = token_cli(
        &manifest,
        &["--scope", "api/read", "--subject", "carol", "--ttl", "2m"],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap();
    let token = token.trim();
    assert_eq!(
        token.split('.').count(),
        3,
        "only the token on stdout: {token}"
    );
    let answer = read(gateway, Some(token)).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.body);
    let create = format!("/{}", common::first());
    let answer = call(gateway, reqwest::Method::POST, &create, Some(token)).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "read scope only");

    let out = token_cli(&manifest, &["--json", "--ttl", "90s"]).await;
    assert!(out.status.success(), "{out:?}");
    let issued: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        issued["scope"], "api/read api/write",
        "every scope by default"
    );
    assert_eq!(issued["expires_in"], 90);
    let token = issued["access_token"].as_str().unwrap();
    let answer = call(gateway, reqwest::Method::POST, &create, Some(token)).await;
    assert!(answer.upstream, "{}", answer.body);

    for (args, named) in [
        (vec!["--scope", "two\"words"], "--scope"),
        (vec!["--ttl", "2 days"], "--ttl"),
        (vec!["--ttl", "48h"], "invalid_request"),
    ] {
        let out = token_cli(&manifest, &args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
    let out = token_cli(&dir.path().join("missing.json"), &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("missing.json"), "{stderr}");
    world.shutdown().await;
}
