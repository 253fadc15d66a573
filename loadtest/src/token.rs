//! Bearer tokens for the `api` app's routes: one given by hand (`--token`), or one asked of
//! the token issuer the manifest names (`auth`, the local world's own), with the OAuth
//! client-credentials grant at the token endpoint its discovery document gives.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use serde::Deserialize;
use topology::auth::{ManifestAuth, Scope};

/// A bearer token, sent as `Authorization: Bearer <token>` on every request of a run. Its
/// `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(Arc<str>);

impl BearerToken {
    /// The token, when it can travel in a header.
    pub fn new(token: &str) -> Result<Self, TokenError> {
        let token = token.trim();
        if token.is_empty() || HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
            return Err(TokenError::Malformed);
        }
        Ok(Self(token.into()))
    }

    /// The token itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `Authorization` header's value.
    pub(crate) fn header_value(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0))
            .expect("checked in BearerToken::new");
        value.set_sensitive(true);
        value
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

/// What a token is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// Its scopes; empty: every scope the manifest lists.
    pub scopes: Vec<Scope>,
    /// Its subject, sent as `client_id`; `None`: the issuer's default.
    pub subject: Option<String>,
    /// How long it lives.
    pub ttl: Duration,
}

/// What the token endpoint answered (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IssuedToken {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(default)]
    pub scope: String,
}

/// Why no token was had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is empty or cannot be sent in a header")]
    Malformed,
    #[error(
        "cannot reach the token issuer at {url}: {reason} (is the local world running? `cargo run -p local-world -- run`)"
    )]
    Unreachable { url: String, reason: String },
    #[error("the token issuer's answer at {url} is not what OpenID Connect says: {reason}")]
    Unexpected { url: String, reason: String },
    #[error("the token issuer refused: {error}: {description}")]
    Refused { error: String, description: String },
}

#[derive(Deserialize)]
struct Discovery {
    token_endpoint: String,
}

#[derive(Deserialize)]
struct Refusal {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// A token from the issuer `auth` names.
pub async fn request_token(
    auth: &ManifestAuth,
    request: &TokenRequest,
) -> Result<IssuedToken, TokenError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| TokenError::Unreachable {
            url: auth.issuer.clone(),
            reason: e.to_string(),
        })?;
    let discovery_url = topology::auth::discovery_url(&auth.issuer);
    let (status, body) = send(http.get(&discovery_url), &discovery_url).await?;
    let discovery: Discovery = parse(status, &body, &discovery_url)?;
    let scopes = if request.scopes.is_empty() {
        &auth.scopes
    } else {
        &request.scopes
    };
    let mut form = vec![
        ("grant_type", "client_credentials".to_owned()),
        (
            "scope",
            scopes
                .iter()
                .map(Scope::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("expires_in", request.ttl.as_secs().to_string()),
    ];
    if let Some(subject) = &request.subject {
        form.push(("client_id", subject.clone()));
    }
    let body = serde_urlencoded::to_string(&form).map_err(|e| TokenError::Unexpected {
        url: discovery.token_endpoint.clone(),
        reason: e.to_string(),
    })?;
    let post = http
        .post(&discovery.token_endpoint)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body);
    let (status, body) = send(post, &discovery.token_endpoint).await?;
    if status.is_client_error()
        && let Ok(refusal) = serde_json::from_slice::<Refusal>(&body)
    {
        return Err(TokenError::Refused {
            error: refusal.error,
            description: refusal.error_description,
        });
    }
    parse(status, &body, &discovery.token_endpoint)
}

async fn send(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<(reqwest::StatusCode, bytes::Bytes), TokenError> {
    let unreachable = |e: reqwest::Error| TokenError::Unreachable {
        url: url.to_owned(),
        reason: e.to_string(),
    };
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let body = response.bytes().await.map_err(unreachable)?;
    Ok((status, body))
}

fn parse<T: serde::de::DeserializeOwned>(
    status: reqwest::StatusCode,
    body: &[u8],
    url: &str,
) -> Result<T, TokenError> {
    let unexpected = |reason: String| TokenError::Unexpected {
        url: url.to_owned(),
        reason,
    };
    if !status.is_success() {
        return Err(unexpected(format!("it answered {status}")));
    }
    serde_json::from_slice(body).map_err(|e| unexpected(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_must_fit_a_header_and_hides_in_debug() {
        let token = BearerToken::new(" abc.def.ghi ").unwrap();
        assert_eq!(token.as_str(), "abc.def.ghi");
        assert_eq!(token.header_value(), "Bearer abc.def.ghi");
        assert_eq!(format!("{token:?}"), "BearerToken(..)");
        assert_eq!(BearerToken::new("  "), Err(TokenError::Malformed));
        assert_eq!(BearerToken::new("a\nb"), Err(TokenError::Malformed));
    }
}
