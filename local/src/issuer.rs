//! The local world's OIDC issuer: what a Cognito user pool (or any IdP) is to the API on
//! AWS. It signs with a key generated for this run, publishes its discovery document at
//! `/.well-known/openid-configuration` and its key set at `/.well-known/jwks.json`, and
//! issues access tokens at `/token` with the OAuth client-credentials grant. The gateway finds
//! the keys through the discovery document, as API Gateway does.
//!
//! It is a test issuer: any caller on loopback gets a token with the scopes it asks for (the
//! API's own by default), for the subject it names in `client_id`. `local-world token` and
//! `loadtest` ask it through the manifest's `auth` section; the drill and the dashboard's
//! probe mint theirs in-process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use topology::Topology;
use topology::auth::{AuthSettings, ManifestAuth, Scope, SigningAlgorithm};

use crate::World;

/// The subject of a token whose request names none.
pub const DEFAULT_SUBJECT: &str = "local-user";
/// A token's lifetime when the request sets none.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// The longest lifetime the issuer grants (a Cognito access token's longest is one day).
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// What a token is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// Its `sub` (and `client_id`).
    pub subject: String,
    /// Its `scope`.
    pub scopes: Vec<Scope>,
    /// From now to its `exp`.
    pub ttl: Duration,
}

/// An issued access token, as the token endpoint answers (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub scope: String,
}

/// Why a token was not issued, as the token endpoint answers (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    #[error("unsupported_grant_type: only `client_credentials` is issued here")]
    UnsupportedGrant,
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
}

impl IssueError {
    fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedGrant => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidRequest(_) => "invalid_request",
        }
    }
}

impl IntoResponse for IssueError {
    fn into_response(self) -> Response {
        let description = self.to_string();
        let body = json!({ "error": self.code(), "error_description": description });
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// The signing key of this run.
struct Signer {
    algorithm: Algorithm,
    key: EncodingKey,
    kid: String,
    public: Jwk,
}

impl Signer {
    /// A new key for the first of `algorithms` the issuer can sign with.
    fn generate(algorithms: &[SigningAlgorithm]) -> anyhow::Result<Self> {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::{
            ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
        };
        let Some((signing, algorithm)) = algorithms.iter().find_map(|a| match a {
            SigningAlgorithm::RS256 => Some((a, Algorithm::RS256)),
            SigningAlgorithm::RS384 => Some((a, Algorithm::RS384)),
            SigningAlgorithm::RS512 => Some((a, Algorithm::RS512)),
            SigningAlgorithm::ES256 => Some((a, Algorithm::ES256)),
            SigningAlgorithm::ES384 => Some((a, Algorithm::ES384)),
            SigningAlgorithm::ES512 => None,
        }) else {
            anyhow::bail!(
                "the local issuer signs with RS256, RS384, RS512, ES256 or ES384, and [auth] algorithms lists none of them: add one"
            );
        };
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = match signing {
            SigningAlgorithm::ES256 | SigningAlgorithm::ES384 => {
                let curve = if *signing == SigningAlgorithm::ES256 {
                    &ECDSA_P256_SHA256_FIXED_SIGNING
                } else {
                    &ECDSA_P384_SHA384_FIXED_SIGNING
                };
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(curve, &rng)
                    .map_err(|_| anyhow::anyhow!("cannot generate an EC key"))?;
                EncodingKey::from_ec_der(pkcs8.as_ref())
            }
            _ => {
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| anyhow::anyhow!("cannot generate an RSA key"))?;
                let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
                    .map_err(|_| anyhow::anyhow!("cannot encode the RSA key"))?;
                EncodingKey::from_rsa_pem(pem("PRIVATE KEY", der.as_ref()).as_bytes())
                    .context("cannot load the generated RSA key")?
            }
        };
        let kid = format!("local-{}", uuid::Uuid::now_v7().simple());
        let mut public =
            Jwk::from_encoding_key(&key, algorithm).context("cannot describe the public key")?;
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self {
            algorithm,
            key,
            kid,
            public,
        })
    }
}

/// `der` in PEM armour with `label`.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

/// The claims of an access token, shaped like a Cognito access token's.
#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    scope: String,
    token_use: &'static str,
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: String,
}

/// The issuer of a running world.
pub struct Issuer {
    url: String,
    audience: String,
    /// What a token request names no scope gets: every scope the `api` app's routes need.
    api_scopes: Vec<Scope>,
    signer: Signer,
    server: JoinHandle<()>,
}

impl Issuer {
    /// Binds `listen`, generates this run's key for `settings`' algorithms, and serves.
    /// `api_scopes` are every scope the gateway's routes need.
    pub async fn start(
        listen: SocketAddr,
        settings: &AuthSettings,
        api_scopes: Vec<Scope>,
    ) -> anyhow::Result<Arc<Self>> {
        let listener = TcpListener::bind(listen).await.with_context(|| {
            format!("cannot listen for the token issuer on {listen} (change local.issuer_listen in topology.toml)")
        })?;
        let url = format!("http://{}", listener.local_addr()?);
        let signer = Signer::generate(&settings.algorithms)?;
        let audience = settings
            .audiences
            .first()
            .cloned()
            .context("[auth] audiences is empty")?;
        let issuer = Arc::new_cyclic(|me: &std::sync::Weak<Self>| {
            let app = routes(me.clone());
            let server = tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, app).await {
                    tracing::warn!(%error, "the token issuer stopped");
                }
            });
            Self {
                url,
                audience,
                api_scopes,
                signer,
                server,
            }
        });
        Ok(issuer)
    }

    /// The issuer of a world running `topology`, when its `[auth]` is on, listening on
    /// `local.issuer_listen`, granting by default every scope of the gateways' routes.
    pub async fn start_for(topology: &Topology) -> anyhow::Result<Option<Arc<Self>>> {
        if !topology.auth.enabled {
            return Ok(None);
        }
        let prefixes = topology.gateways().flat_map(|g| g.routes().keys());
        let scopes = topology.auth.all_scopes(prefixes);
        let issuer = Self::start(topology.local.issuer_listen, &topology.auth, scopes).await?;
        Ok(Some(issuer))
    }

    /// Its URL: its tokens' `iss`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The signing algorithm of this run's key.
    pub fn algorithm(&self) -> Algorithm {
        self.signer.algorithm
    }

    /// What the manifest says of it.
    pub fn manifest_entry(&self) -> ManifestAuth {
        ManifestAuth {
            issuer: self.url.clone(),
            audience: self.audience.clone(),
            scopes: self.api_scopes.clone(),
        }
    }

    /// A signed access token for `request`.
    pub fn mint(&self, request: &TokenRequest) -> Result<IssuedToken, IssueError> {
        if request.ttl.is_zero() || request.ttl > MAX_TTL {
            return Err(IssueError::InvalidRequest(format!(
                "a token lives 1 s to {} s",
                MAX_TTL.as_secs()
            )));
        }
        if request.subject.is_empty() || request.subject.len() > 256 {
            return Err(IssueError::InvalidRequest(
                "`client_id` (the subject) must be 1 to 256 characters".into(),
            ));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let scope = request
            .scopes
            .iter()
            .map(Scope::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let claims = AccessClaims {
            iss: &self.url,
            sub: &request.subject,
            aud: &self.audience,
            client_id: &request.subject,
            scope: scope.clone(),
            token_use: "access",
            iat: now,
            nbf: now,
            exp: now + request.ttl.as_secs(),
            jti: uuid::Uuid::now_v7().to_string(),
        };
        let mut header = Header::new(self.signer.algorithm);
        header.kid = Some(self.signer.kid.clone());
        let access_token = jsonwebtoken::encode(&header, &claims, &self.signer.key)
            .map_err(|e| IssueError::InvalidRequest(format!("cannot sign: {e}")))?;
        Ok(IssuedToken {
            access_token,
            token_type: "Bearer".into(),
            expires_in: request.ttl.as_secs(),
            scope,
        })
    }

    /// `claims` signed with this run's key, under the key id `kid` (its own by default):
    /// tokens the issuer would never issue (expired, for another audience, under another
    /// key's id), for tests of the gateway's checks.
    pub fn sign(
        &self,
        claims: &serde_json::Value,
        kid: Option<&str>,
    ) -> Result<String, IssueError> {
        let mut header = Header::new(self.signer.algorithm);
        header.kid = Some(kid.unwrap_or(&self.signer.kid).to_owned());
        jsonwebtoken::encode(&header, claims, &self.signer.key)
            .map_err(|e| IssueError::InvalidRequest(format!("cannot sign: {e}")))
    }

    /// A token with every scope of the `api` app, for the world's own clients.
    pub fn api_token(&self, subject: &str, ttl: Duration) -> Option<String> {
        let request = TokenRequest {
            subject: subject.to_owned(),
            scopes: self.api_scopes.clone(),
            ttl,
        };
        self.mint(&request).ok().map(|t| t.access_token)
    }

    fn discovery(&self) -> serde_json::Value {
        json!({
            "issuer": self.url,
            "jwks_uri": format!("{}/.well-known/jwks.json", self.url),
            "token_endpoint": format!("{}/token", self.url),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [format!("{:?}", self.signer.algorithm)],
            "scopes_supported": self.api_scopes,
        })
    }

    fn key_set(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.signer.public.clone()],
        }
    }

    /// A token request's form fields, as the token endpoint reads them.
    fn request_of(&self, form: &TokenForm) -> Result<TokenRequest, IssueError> {
        if form.grant_type != "client_credentials" {
            return Err(IssueError::UnsupportedGrant);
        }
        let scopes = match &form.scope {
            None => self.api_scopes.clone(),
            Some(text) => text
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse().map_err(|e: topology::auth::AuthError| {
                        IssueError::InvalidScope(e.to_string())
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(TokenRequest {
            subject: form
                .client_id
                .clone()
                .unwrap_or_else(|| DEFAULT_SUBJECT.into()),
            scopes,
            ttl: form.expires_in.map_or(DEFAULT_TTL, Duration::from_secs),
        })
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The token endpoint's form (`application/x-www-form-urlencoded`). `expires_in` is this
/// issuer's own: how long the token should live, in seconds.
#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: String,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

type Shared = std::sync::Weak<Issuer>;

fn routes(issuer: Shared) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/token", post(token))
        .with_state(issuer)
}

fn gone() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "the issuer is stopping").into_response()
}

async fn discovery(State(issuer): State<Shared>) -> Response {
    issuer
        .upgrade()
        .map_or_else(gone, |i| Json(i.discovery()).into_response())
}

async fn jwks(State(issuer): State<Shared>) -> Response {
    issuer
        .upgrade()
        .map_or_else(gone, |i| Json(i.key_set()).into_response())
}

async fn token(State(issuer): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(issuer) = issuer.upgrade() else {
        return gone();
    };
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        return IssueError::InvalidRequest(
            "send the request as `application/x-www-form-urlencoded`".into(),
        )
        .into_response();
    }
    let form: TokenForm = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(e) => return IssueError::InvalidRequest(e.to_string()).into_response(),
    };
    let issued = issuer
        .request_of(&form)
        .and_then(|request| issuer.mint(&request));
    match issued {
        // RFC 6749 §5.1: token responses are not cached.
        Ok(token) => ([(header::CACHE_CONTROL, "no-store")], Json(token)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Options of `local-world token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The manifest of the running world (it names the issuer).
    #[arg(long, default_value = topology::manifest::LOCAL_MANIFEST_PATH)]
    pub manifest: std::path::PathBuf,
    /// A scope the token carries (repeatable; spaces or commas separate several, e.g.
    /// `--scope api/read`); default: every scope the `api` app's routes need.
    #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// Its subject (`sub`), as the services see it in `x-auth-subject`.
    #[arg(long, default_value = DEFAULT_SUBJECT)]
    pub subject: String,
    /// How long it lives, e.g. 15m, 1h (at most 24h).
    #[arg(long, default_value = "1h", value_parser = ttl)]
    pub ttl: Duration,
    /// Print the token endpoint's whole answer as JSON, not the token alone.
    #[arg(long)]
    pub json: bool,
}

fn ttl(text: &str) -> Result<Duration, String> {
    loadtest::parse_duration(text).map_err(|e| e.to_string())
}

/// `local-world token`: asks the running world's issuer (as the manifest names it) for a
/// token and prints it, alone on stdout (`TOKEN=$(local-world token)`) or as JSON.
pub async fn print_token(args: TokenArgs) -> anyhow::Result<()> {
    let manifest = topology::Manifest::load(&args.manifest)?;
    let Some(auth) = &manifest.auth else {
        anyhow::bail!(
            "the world of {} runs without auth ([auth] enabled = false in its topology): its API needs no token",
            args.manifest.display()
        );
    };
    let scopes = args
        .scopes
        .iter()
        .flat_map(|s| s.split(' '))
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Scope>()
                .map_err(|e| anyhow::anyhow!("--scope: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let request = loadtest::token::TokenRequest {
        scopes,
        subject: Some(args.subject.clone()),
        ttl: args.ttl,
    };
    let issued = loadtest::token::request_token(auth, &request).await?;
    if args.json {
        println!(
            "{}",
            json!({
                "access_token": issued.access_token,
                "token_type": issued.token_type,
                "expires_in": issued.expires_in,
                "scope": issued.scope,
            })
        );
    } else {
        println!("{}", issued.access_token);
    }
    Ok(())
}

impl World {
    /// A token with every scope of the `api` app, for the world's own clients (the drill's
    /// traffic and probe, the dashboard's probe); `None` with auth off.
    pub fn api_token(&self, ttl: Duration) -> Option<String> {
        self.issuer()?.api_token("local-world", ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn issuer(algorithms: &[SigningAlgorithm]) -> Arc<Issuer> {
        let settings = AuthSettings {
            algorithms: algorithms.to_vec(),
            ..AuthSettings::default()
        };
        Issuer::start(
            "127.0.0.1:0".parse().unwrap(),
            &settings,
            vec!["api/read".parse().unwrap(), "api/write".parse().unwrap()],
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn it_signs_with_the_first_algorithm_it_can() {
        assert_eq!(
            issuer(&[SigningAlgorithm::ES512, SigningAlgorithm::ES256])
                .await
                .algorithm(),
            Algorithm::ES256
        );
        assert_eq!(
            issuer(&[SigningAlgorithm::RS256]).await.algorithm(),
            Algorithm::RS256
        );
        let settings = AuthSettings {
            algorithms: vec![SigningAlgorithm::ES512],
            ..AuthSettings::default()
        };
        let err = Issuer::start("127.0.0.1:0".parse().unwrap(), &settings, vec![])
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("add one"), "{err}");
    }

    #[tokio::test]
    async fn tokens_carry_the_request_and_verify_with_the_published_key() {
        let issuer = issuer(&[SigningAlgorithm::RS256]).await;
        let token = issuer
            .mint(&TokenRequest {
                subject: "alice".into(),
                scopes: vec!["api/read".parse().unwrap()],
                ttl: Duration::from_secs(60),
            })
            .unwrap();
        assert_eq!(token.scope, "api/read");
        let key = jsonwebtoken::DecodingKey::from_jwk(&issuer.key_set().keys[0]).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&["api"]);
        validation.set_issuer(&[issuer.url()]);
        let claims: serde_json::Value =
            jsonwebtoken::decode(&token.access_token, &key, &validation)
                .unwrap()
                .claims;
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["client_id"], "alice");
        assert_eq!(claims["scope"], "api/read");
        let header = jsonwebtoken::decode_header(&token.access_token).unwrap();
        assert_eq!(header.kid, issuer.key_set().keys[0].common.key_id);
        assert!(
            issuer
                .mint(&TokenRequest {
                    subject: "alice".into(),
                    scopes: vec![],
                    ttl: MAX_TTL + Duration::from_secs(1),
                })
                .is_err()
        );
    }
}
