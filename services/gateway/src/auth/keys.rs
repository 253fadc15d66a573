//! Each trusted issuer's signing keys, found as API Gateway finds them: the OIDC discovery
//! document's `jwks_uri`, then the key set. Keys are cached for [`KeyPolicy::max_age`]; a
//! token signed with a key the cache does not know fetches the set again, at most once per
//! [`KeyPolicy::refresh_interval`], so rotation needs no restart and a flood of made-up key
//! ids costs the issuer one request per interval.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use serde::Deserialize;
use tokio::sync::Mutex;

/// How long fetched keys are trusted, and how often an unknown key id may fetch them again.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    /// After this, the next token fetches the set again (API Gateway: up to 1 hour).
    pub max_age: Duration,
    /// The least time between two fetches for one issuer.
    pub refresh_interval: Duration,
    /// How long one fetch (discovery document and key set) may take.
    pub timeout: Duration,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(3600),
            refresh_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(3),
        }
    }
}

/// A verification key and the algorithm its JWK names, if it names one.
#[derive(Clone)]
pub(crate) struct VerifyingKey {
    pub(crate) key: DecodingKey,
    pub(crate) algorithm: Option<KeyAlgorithm>,
}

/// Why an issuer's keys could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot read the signing keys of {issuer}: {reason}")]
pub struct KeyError {
    pub issuer: String,
    pub reason: String,
}

#[derive(Default)]
struct IssuerKeys {
    keys: HashMap<String, VerifyingKey>,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

/// The keys of every trusted issuer.
pub(crate) struct KeyCache {
    http: reqwest::Client,
    policy: KeyPolicy,
    issuers: HashMap<String, Mutex<IssuerKeys>>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl KeyCache {
    /// A cache for `issuers`, empty until the first token of each.
    pub(crate) fn new<'a>(issuers: impl IntoIterator<Item = &'a str>, policy: KeyPolicy) -> Self {
        let http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .build()
            .unwrap_or_default();
        Self {
            http,
            policy,
            issuers: issuers
                .into_iter()
                .map(|i| (i.to_owned(), Mutex::default()))
                .collect(),
        }
    }

    /// The key `kid` of `issuer` (a trusted one), fetching the set when it is due or the id
    /// is new and the last fetch is at least an interval old. `Ok(None)`: the issuer has no
    /// such key. `Err`: the keys cannot be read and none that would do is cached.
    pub(crate) async fn key(
        &self,
        issuer: &str,
        kid: &str,
    ) -> Result<Option<VerifyingKey>, KeyError> {
        let Some(entry) = self.issuers.get(issuer) else {
            return Ok(None);
        };
        // Held across the fetch: concurrent tokens of one issuer wait for one fetch.
        let mut entry = entry.lock().await;
        let known = entry.keys.contains_key(kid);
        let due = entry
            .fetched
            .is_none_or(|at| at.elapsed() >= self.policy.max_age);
        let may_fetch = entry
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.policy.refresh_interval);
        if (due || !known) && may_fetch {
            entry.last_attempt = Some(Instant::now());
            match self.fetch(issuer).await {
                Ok(keys) => {
                    entry.keys = keys;
                    entry.fetched = Some(Instant::now());
                    entry.last_error = None;
                }
                Err(reason) => {
                    tracing::warn!(issuer, %reason, "cannot refresh the issuer's keys");
                    entry.last_error = Some(reason);
                }
            }
        }
        match (entry.keys.get(kid), &entry.last_error) {
            (Some(key), _) => Ok(Some(key.clone())),
            (None, Some(reason)) => Err(KeyError {
                issuer: issuer.to_owned(),
                reason: reason.clone(),
            }),
            (None, None) => Ok(None),
        }
    }

    async fn fetch(&self, issuer: &str) -> Result<HashMap<String, VerifyingKey>, String> {
        let url = topology::auth::discovery_url(issuer);
        let discovery: Discovery = self.get_json(&url).await?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it came from.
        if discovery.issuer != issuer {
            return Err(format!(
                "its discovery document names the issuer `{}`",
                discovery.issuer
            ));
        }
        let set: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        Ok(set.keys.iter().filter_map(verifying_key).collect())
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url} answered {}", response.status()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not the expected JSON: {e}"))
    }
}

/// A signing key of the set, by its id; keys for encryption, without an id, or of a type
/// the gateway cannot verify with are left out.
fn verifying_key(jwk: &Jwk) -> Option<(String, VerifyingKey)> {
    let kid = jwk.common.key_id.clone()?;
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some((
        kid,
        VerifyingKey {
            key,
            algorithm: jwk.common.key_algorithm,
        },
    ))
}
