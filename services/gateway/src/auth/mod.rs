//! Token checks at the gateway, made as API Gateway's JWT authorizer for REST APIs makes them,
//! so that the local world refuses what AWS refuses:
//!
//! 1. the token is read from `Authorization` (`Bearer <token>`, or the bare token);
//! 2. its header's `alg` must be one the topology accepts (never `none`, never an HMAC
//!    algorithm: the issuers publish public keys) and it must name its key (`kid`);
//! 3. its `iss` must be a trusted issuer, whose key `kid` verifies the signature; the key's
//!    own `alg`, when its JWK has one, must be the token's;
//! 4. `exp` must be ahead, `nbf` and `iat` behind, each within [`CLOCK_SKEW`];
//! 5. `aud` (or, when the token has none, `client_id`) must be an audience of that issuer;
//! 6. for the route and method, the token's `scope` (or `scp`) must hold one of the scopes
//!    the topology asks for.
//!
//! A missing or bad token is `401` with `WWW-Authenticate: Bearer ...` (RFC 6750); a good
//! token without the scope is `403`. Both are problem+json. A passing token's `sub` and `iss`
//! travel to the service in the identity headers ([`topology::auth::IDENTITY_HEADERS`]), as
//! JSON text, replacing whatever a client sent in them.

mod claims;
mod keys;

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::KeyAlgorithm;
use jsonwebtoken::{Algorithm, Validation};
use kit::Problem;
use kit::problem::ProblemType;
use topology::auth::{Access, AuthSettings, IDENTITY_HEADERS, Scope, SigningAlgorithm};

pub use keys::{KeyError, KeyPolicy};

use self::claims::Claims;
use self::keys::KeyCache;

/// The leeway on `exp`, `nbf` and `iat` for clocks that disagree a little. API Gateway's
/// guide does not give its figure for REST JWT authorizers; a minute is what common
/// validators (Envoy's `jwt_authn`, the jsonwebtoken crate) allow by default.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The problem types an authorizer answers with, for the gateway's `/problems/<slug>` pages.
pub const PROBLEM_TYPES: &[ProblemType] = &[
    ProblemType {
        slug: "missing-token",
        title: "Token required",
        description: "The route needs a bearer token: send `Authorization: Bearer <token>` with an access token from one of the API's issuers (in the local world, `local-world token`).",
    },
    ProblemType {
        slug: "invalid-token",
        title: "Invalid token",
        description: "The token was refused: `detail` and the `WWW-Authenticate` header say why (expired, not yet valid, another issuer or audience, an unknown key, an algorithm the API does not accept, a signature that does not verify). Get a new token.",
    },
    ProblemType {
        slug: "insufficient-scope",
        title: "Insufficient scope",
        description: "The token is valid but carries none of the scopes this route needs for this method; the `WWW-Authenticate` header lists them. Reads (GET, HEAD) and writes (every other method) need different scopes.",
    },
    ProblemType {
        slug: "issuer-unavailable",
        title: "Issuer unavailable",
        description: "The gateway cannot read the signing keys of the token's issuer and has none cached that would do. Retry later.",
    },
];

/// An issuer whose tokens the gateway accepts, and the audiences they may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// The tokens' `iss`, exactly.
    pub url: String,
    pub audiences: Vec<String>,
}

/// What the gateway checks tokens against.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub issuers: Vec<TrustedIssuer>,
    pub algorithms: Vec<SigningAlgorithm>,
    /// The topology's `[auth]`: the scopes of each route.
    pub settings: AuthSettings,
    pub keys: KeyPolicy,
}

impl AuthConfig {
    /// The local world's checks: the topology's algorithms, audiences and scopes, with the
    /// world's own issuer at `issuer` in place of the AWS issuers. `None` with auth off.
    pub fn local(settings: &AuthSettings, issuer: &str) -> Option<Self> {
        settings.enabled.then(|| Self {
            issuers: vec![TrustedIssuer {
                url: issuer.to_owned(),
                audiences: settings.audiences.clone(),
            }],
            algorithms: settings.algorithms.clone(),
            settings: settings.clone(),
            keys: KeyPolicy::default(),
        })
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("the route needs a bearer token in `Authorization`")]
    MissingToken,
    #[error("{0}")]
    InvalidToken(String),
    #[error("the token carries none of the scopes this route needs for {access}: {}", list(.required))]
    InsufficientScope {
        access: &'static str,
        required: Vec<Scope>,
    },
    #[error("{0}")]
    IssuerUnavailable(String),
}

fn list(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(Scope::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Denied {
    /// The answer: problem+json, with `WWW-Authenticate` for `realm` on 401 and 403.
    pub fn into_response(self, realm: &str) -> Response {
        let (status, kind, challenge) = match &self {
            Denied::MissingToken => (
                StatusCode::UNAUTHORIZED,
                PROBLEM_TYPES[0],
                Some(format!("Bearer realm=\"{realm}\"")),
            ),
            Denied::InvalidToken(why) => (
                StatusCode::UNAUTHORIZED,
                PROBLEM_TYPES[1],
                Some(format!(
                    "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{}\"",
                    quotable(why)
                )),
            ),
            Denied::InsufficientScope { required, .. } => (
                StatusCode::FORBIDDEN,
                PROBLEM_TYPES[2],
                Some(format!(
                    "Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{}\"",
                    list(required)
                )),
            ),
            Denied::IssuerUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, PROBLEM_TYPES[3], None)
            }
        };
        let mut response =
            Problem::new(status, kind.slug, kind.title, self.to_string()).into_response();
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// `text` fit for a quoted-string: printable ASCII, without quotes or backslashes.
fn quotable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect()
}

/// Who the token says the caller is: the identity headers to send to the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Principal {
    /// The identity header `name`'s value, as sent on (JSON text).
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v)
    }

    /// Puts the identity headers into `headers`, replacing any a client sent.
    pub fn apply(&self, headers: &mut HeaderMap) {
        strip_identity(headers);
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// Removes the identity headers: only the gateway may set them.
pub fn strip_identity(headers: &mut HeaderMap) {
    for (name, _) in IDENTITY_HEADERS {
        headers.remove(name);
    }
}

/// Checks tokens for one gateway.
pub struct Authorizer {
    config: AuthConfig,
    keys: KeyCache,
}

impl Authorizer {
    pub fn new(config: AuthConfig) -> Self {
        let keys = KeyCache::new(config.issuers.iter().map(|i| i.url.as_str()), config.keys);
        Self { config, keys }
    }

    /// Whether the request may `access` the route `prefix`, and as whom.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        prefix: &str,
        access: Access,
    ) -> Result<Principal, Denied> {
        let token = token(headers)?;
        let claims = self.verify(token).await?;
        let required = self.config.settings.scopes(prefix, access);
        let held = claims.scopes();
        if !required.is_empty() && !required.iter().any(|s| held.contains(&s.as_str())) {
            return Err(Denied::InsufficientScope {
                access: match access {
                    Access::Read => "reads",
                    Access::Write => "writes",
                },
                required: required.to_vec(),
            });
        }
        Ok(principal(&claims))
    }

    /// The token's claims, once its algorithm, issuer, key, signature, times and audience
    /// all pass.
    async fn verify(&self, token: &str) -> Result<Claims, Denied> {
        let invalid = |why: String| Denied::InvalidToken(why);
        let (header, iss) = claims::peek(token).map_err(invalid)?;
        let algorithm = self.algorithm(&header.alg)?;
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token's header names no key (`kid`)".into()))?;
        let iss = iss.ok_or_else(|| invalid("the token names no issuer (`iss`)".into()))?;
        let issuer = self
            .config
            .issuers
            .iter()
            .find(|i| i.url == iss)
            .ok_or_else(|| invalid(format!("the issuer `{iss}` is not trusted")))?;
        let key = self
            .keys
            .key(&issuer.url, &kid)
            .await
            .map_err(|e| Denied::IssuerUnavailable(e.to_string()))?
            .ok_or_else(|| invalid(format!("the issuer `{iss}` has no key `{kid}`")))?;
        if key
            .algorithm
            .is_some_and(|a| a != KeyAlgorithm::from(algorithm))
        {
            return Err(invalid(format!("the key `{kid}` is not for {algorithm:?}")));
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = CLOCK_SKEW.as_secs();
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_issuer(&[&issuer.url]);
        validation.required_spec_claims = HashSet::from(["exp".to_owned(), "iss".to_owned()]);
        let claims: Claims = jsonwebtoken::decode(token, &key.key, &validation)
            .map_err(|e| invalid(refusal(e.kind())))?
            .claims;
        if claims
            .issued_at()
            .is_some_and(|iat| iat > now() + CLOCK_SKEW.as_secs_f64())
        {
            return Err(invalid("the token was issued in the future (`iat`)".into()));
        }
        if !claims.has_audience(&issuer.audiences) {
            return Err(invalid(
                "the token is not for this API: its `aud` (or `client_id`) is none of the audiences accepted from its issuer".into(),
            ));
        }
        Ok(claims)
    }

    /// The algorithm `alg` names, when the topology accepts it.
    fn algorithm(&self, alg: &str) -> Result<Algorithm, Denied> {
        let accepted = self.config.algorithms.iter().find(|a| a.as_str() == alg);
        let Some(accepted) = accepted else {
            let names: Vec<&str> = self.config.algorithms.iter().map(|a| a.as_str()).collect();
            return Err(Denied::InvalidToken(format!(
                "the token's algorithm `{alg}` is not accepted (accepted: {})",
                names.join(", ")
            )));
        };
        match accepted {
            SigningAlgorithm::RS256 => Ok(Algorithm::RS256),
            SigningAlgorithm::RS384 => Ok(Algorithm::RS384),
            SigningAlgorithm::RS512 => Ok(Algorithm::RS512),
            SigningAlgorithm::ES256 => Ok(Algorithm::ES256),
            SigningAlgorithm::ES384 => Ok(Algorithm::ES384),
            // API Gateway accepts ES512; the JWT library of the local gateway cannot verify it.
            SigningAlgorithm::ES512 => Err(Denied::InvalidToken(
                "ES512 tokens are accepted on AWS but cannot be verified by the local gateway"
                    .into(),
            )),
        }
    }
}

/// The token of the request's `Authorization` header.
fn token(headers: &HeaderMap) -> Result<&str, Denied> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Denied::MissingToken);
    };
    let value = value.to_str().map_err(|_| {
        Denied::InvalidToken("the `Authorization` header is not readable text".into())
    })?;
    claims::bearer_token(value).ok_or(Denied::MissingToken)
}

/// Why jsonwebtoken refused a token, in the words of the `WWW-Authenticate` description.
fn refusal(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => "the token has expired (`exp`)".into(),
        K::ImmatureSignature => "the token is not valid yet (`nbf`)".into(),
        K::InvalidSignature => "the token's signature does not verify".into(),
        K::InvalidIssuer => "the token's issuer is not trusted".into(),
        K::InvalidAlgorithm | K::InvalidKeyFormat => {
            "the token's algorithm does not fit its key".into()
        }
        K::MissingRequiredClaim(claim) => format!("the token has no `{claim}`"),
        K::InvalidClaimFormat(claim) => format!("the token's `{claim}` is not valid"),
        other => format!("the token cannot be read ({other:?})"),
    }
}

/// The identity headers of verified `claims`.
fn principal(claims: &Claims) -> Principal {
    let headers = IDENTITY_HEADERS
        .iter()
        .filter_map(|(header, claim)| {
            let value = match *claim {
                "sub" => claims.sub.as_ref(),
                _ => claims.iss.as_ref(),
            }?;
            let value = HeaderValue::from_str(&claims::json_text(value)).ok()?;
            Some((HeaderName::from_static(header), value))
        })
        .collect();
    Principal { headers }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_their_challenge() {
        let response = Denied::MissingToken.into_response("api");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"api\""
        );
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );

        let response =
            Denied::InvalidToken("the \"token\" has expired\n".into()).into_response("api");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the 'token' has expired?\""
        );

        let response = Denied::InsufficientScope {
            access: "writes",
            required: vec![
                "api/write".parse().unwrap(),
                "orders/write".parse().unwrap(),
            ],
        }
        .into_response("api");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"api/write orders/write\""
        );

        let response = Denied::IssuerUnavailable("down".into()).into_response("api");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!response.headers().contains_key("www-authenticate"));
    }

    #[test]
    fn the_local_checks_follow_the_topology_with_the_worlds_issuer() {
        let mut settings = AuthSettings::default();
        let config = AuthConfig::local(&settings, "http://127.0.0.1:8090").unwrap();
        assert_eq!(config.issuers[0].url, "http://127.0.0.1:8090");
        assert_eq!(config.issuers[0].audiences, ["api"]);
        settings.enabled = false;
        assert!(AuthConfig::local(&settings, "http://127.0.0.1:8090").is_none());
    }

    #[test]
    fn a_principal_replaces_identity_headers_a_client_sent() {
        let claims: Claims =
            serde_json::from_value(serde_json::json!({"sub": "alice", "iss": "https://idp"}))
                .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-auth-subject", HeaderValue::from_static("\"mallory\""));
        principal(&claims).apply(&mut headers);
        assert_eq!(headers["x-auth-subject"], "\"alice\"");
        assert_eq!(headers["x-auth-issuer"], "\"https://idp\"");

        let anonymous: Claims = serde_json::from_value(serde_json::json!({})).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-auth-subject", HeaderValue::from_static("\"mallory\""));
        principal(&anonymous).apply(&mut headers);
        assert!(!headers.contains_key("x-auth-subject"));
    }
}
