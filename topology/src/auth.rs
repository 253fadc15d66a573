//! `[auth]` in `topology.toml`: who may call the `api` app. A caller presents a JWT from a
//! trusted OIDC issuer; every gateway route needs a scope to read (`GET`, `HEAD`) and one to
//! write (every other method). The gateway's own `/` and `/health` stay open.
//!
//! On AWS the API's native JWT authorizer enforces it; in the local world the gateway checks
//! tokens the same way against the world's own issuer. Either way the verified subject and
//! issuer reach the services in [`SUBJECT_HEADER`] and [`ISSUER_HEADER`], which only the
//! gateway sets.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The header that carries the verified token's `sub` claim to the services.
pub const SUBJECT_HEADER: &str = "x-auth-subject";

/// The header that carries the verified token's `iss` claim to the services: a subject is
/// unique only within its issuer (each Region's user pool numbers its users on its own).
pub const ISSUER_HEADER: &str = "x-auth-issuer";

/// The claim each identity header carries, header first. On AWS the integration maps
/// `context.authorizer.claims.<claim>` into the header, as JSON text (a string claim keeps its
/// quotes); the local gateway sends the same text.
pub const IDENTITY_HEADERS: [(&str, &str); 2] = [(SUBJECT_HEADER, "sub"), (ISSUER_HEADER, "iss")];

/// Why an `[auth]` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "`{0}` is not a scope (expected printable ASCII without spaces or quotes, e.g. `orders/read`)"
    )]
    Scope(String),
    #[error(
        "`{0}` is not an issuer URL: API Gateway needs an absolute https URL without query or fragment, exactly as the tokens' `iss` claim writes it"
    )]
    IssuerUrl(String),
    #[error(
        "auth is on for the `api` app but [auth] lists no issuer: add the OIDC issuers whose tokens the API accepts as [[auth.issuers]] (url = the tokens' `iss`, e.g. https://cognito-idp.<region>.amazonaws.com/<user pool id>; audiences = its app client ids), or turn auth off explicitly with `enabled = false` under [auth]"
    )]
    NoIssuer,
}

/// A scope a route requires, as the token's `scope` (space-separated) or `scp` claim lists it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

impl Scope {
    /// The scope as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Scope {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
        let valid = !s.is_empty()
            && s.bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(AuthError::Scope(s.to_owned()))
        }
    }
}

/// An issuer's URL: the tokens' `iss` claim, exactly (a trailing slash counts).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IssuerUrl(String);

impl IssuerUrl {
    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the issuer publishes its OIDC discovery document.
    pub fn discovery_url(&self) -> String {
        discovery_url(&self.0)
    }
}

/// Where the issuer at `issuer` (any URL, the local world's `http` one too) publishes its
/// OIDC discovery document: `<issuer>/.well-known/openid-configuration`.
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

impl FromStr for IssuerUrl {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        let host = s.strip_prefix("https://").map(|rest| {
            let end = rest.find('/').unwrap_or(rest.len());
            &rest[..end]
        });
        let valid = host.is_some_and(|h| !h.is_empty())
            && !s.contains(['?', '#'])
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(AuthError::IssuerUrl(s.to_owned()))
        }
    }
}

macro_rules! string_serde {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(Scope);
string_serde!(IssuerUrl);

/// A signing algorithm API Gateway's JWT authorizer accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    RS256,
    RS384,
    RS512,
    ES256,
    ES384,
    ES512,
}

impl SigningAlgorithm {
    /// The name in a token's header and in the authorizer's `DefaultAlgorithms`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request does to a route, for the scope it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// `GET` and `HEAD`.
    Read,
    /// Every other method (`OPTIONS` too: it reaches the service like a write would).
    Write,
}

impl Access {
    /// The access an HTTP method needs.
    pub fn of_method(method: &str) -> Self {
        if method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD") {
            Self::Read
        } else {
            Self::Write
        }
    }
}

/// An issuer the AWS authorizer trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The tokens' `iss`, exactly.
    pub url: IssuerUrl,
    /// What its tokens' `aud` (or, without one, `client_id`) must be; empty: `[auth]`'s
    /// `audiences`. A Cognito user pool's access tokens carry its app client's id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

/// A route's own scopes (`[auth.routes."/payments"]`); each it leaves out is `[auth]`'s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteScopes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_scopes: Option<Vec<Scope>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_scopes: Option<Vec<Scope>>,
}

/// `[auth]`: on unless a topology turns it off explicitly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// `false` leaves every route of the `api` app open to anyone.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What a token's `aud` (or `client_id`) must be, for every issuer that lists none of its
    /// own, and for the local world's issuer (its tokens carry the first).
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
    /// The signing algorithms accepted from every issuer.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<SigningAlgorithm>,
    /// The issuers the AWS authorizer trusts. The local world runs its own instead.
    #[serde(default)]
    pub issuers: Vec<TrustedIssuer>,
    /// The scopes a read needs on every route that sets none; a token needs any one of them,
    /// none at all when empty.
    #[serde(default = "default_read_scopes")]
    pub read_scopes: Vec<Scope>,
    /// The scopes a write needs on every route that sets none.
    #[serde(default = "default_write_scopes")]
    pub write_scopes: Vec<Scope>,
    /// Per gateway route prefix, its own scopes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, RouteScopes>,
}

fn yes() -> bool {
    true
}

fn default_audiences() -> Vec<String> {
    vec!["api".to_owned()]
}

fn default_algorithms() -> Vec<SigningAlgorithm> {
    vec![SigningAlgorithm::RS256]
}

fn default_read_scopes() -> Vec<Scope> {
    vec![Scope("api/read".to_owned())]
}

fn default_write_scopes() -> Vec<Scope> {
    vec![Scope("api/write".to_owned())]
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            audiences: default_audiences(),
            algorithms: default_algorithms(),
            issuers: Vec::new(),
            read_scopes: default_read_scopes(),
            write_scopes: default_write_scopes(),
            routes: BTreeMap::new(),
        }
    }
}

impl AuthSettings {
    /// Checks the settings against the gateway routes they may name.
    pub(crate) fn check<'a>(&self, routes: impl Iterator<Item = &'a String>) -> Result<(), String> {
        let routes: Vec<&String> = routes.collect();
        if let Some(prefix) = self.routes.keys().find(|p| !routes.contains(p)) {
            return Err(format!(
                "[auth.routes.\"{prefix}\"] names no route of a gateway in [[apps]]"
            ));
        }
        if self.algorithms.is_empty() {
            return Err("auth.algorithms must list at least one algorithm".into());
        }
        if self.audiences.iter().any(|a| a.trim().is_empty()) || self.audiences.is_empty() {
            return Err(
                "auth.audiences must list at least one audience, none of them empty".into(),
            );
        }
        let mut seen = Vec::new();
        for issuer in &self.issuers {
            if seen.contains(&&issuer.url) {
                return Err(format!("auth.issuers lists `{}` twice", issuer.url));
            }
            seen.push(&issuer.url);
            if issuer.audiences.iter().any(|a| a.trim().is_empty()) {
                return Err(format!("an audience of issuer `{}` is empty", issuer.url));
            }
        }
        Ok(())
    }

    /// The issuers the AWS authorizer trusts, each with the audiences it accepts from it;
    /// refuses, saying what to set, when auth is on and there is none. Empty when auth is off.
    pub fn aws_issuers(&self) -> Result<Vec<(&IssuerUrl, &[String])>, AuthError> {
        if !self.enabled {
            return Ok(Vec::new());
        }
        if self.issuers.is_empty() {
            return Err(AuthError::NoIssuer);
        }
        Ok(self
            .issuers
            .iter()
            .map(|i| (&i.url, self.audiences_of(i)))
            .collect())
    }

    /// The audiences `issuer`'s tokens may carry.
    pub fn audiences_of<'a>(&'a self, issuer: &'a TrustedIssuer) -> &'a [String] {
        if issuer.audiences.is_empty() {
            &self.audiences
        } else {
            &issuer.audiences
        }
    }

    /// The scopes `access` needs on the route `prefix`; any one of them passes, and an empty
    /// list asks only for a valid token.
    pub fn scopes(&self, prefix: &str, access: Access) -> &[Scope] {
        let own = self.routes.get(prefix);
        match access {
            Access::Read => own
                .and_then(|r| r.read_scopes.as_deref())
                .unwrap_or(&self.read_scopes),
            Access::Write => own
                .and_then(|r| r.write_scopes.as_deref())
                .unwrap_or(&self.write_scopes),
        }
    }

    /// Every scope some access to one of `prefixes` needs: what a client asks for to use the
    /// whole API (the local world's load generator and drill).
    pub fn all_scopes<'a>(&self, prefixes: impl IntoIterator<Item = &'a String>) -> Vec<Scope> {
        let mut all: Vec<Scope> = Vec::new();
        for prefix in prefixes {
            for access in [Access::Read, Access::Write] {
                all.extend(self.scopes(prefix, access).iter().cloned());
            }
        }
        all.extend(self.read_scopes.iter().cloned());
        all.extend(self.write_scopes.iter().cloned());
        all.sort();
        all.dedup();
        all
    }
}

/// Where a deployment's token issuer is, as its manifest says (`auth`): the local world's own
/// issuer. A client asks it for a token for `audience` with the scopes it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestAuth {
    /// The issuer's URL (its tokens' `iss`); its discovery document names its token endpoint.
    pub issuer: String,
    /// The audience its tokens carry.
    pub audience: String,
    /// Every scope the `api` app's routes need: what a client asks for to use all of it.
    pub scopes: Vec<Scope>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(s: &str) -> Scope {
        s.parse().unwrap()
    }

    #[test]
    fn scopes_are_rfc_6749_scope_tokens() {
        for good in [
            "api/read",
            "orders:write",
            "https://api.example.com/read",
            "a",
        ] {
            assert_eq!(scope(good).as_str(), good);
        }
        for bad in ["", "two words", "quote\"d", "back\\slash", "tab\t", "é"] {
            assert_eq!(
                bad.parse::<Scope>().unwrap_err(),
                AuthError::Scope(bad.into())
            );
        }
    }

    #[test]
    fn issuer_urls_are_absolute_https_without_query_or_fragment() {
        let url: IssuerUrl = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC"
            .parse()
            .unwrap();
        assert_eq!(
            url.discovery_url(),
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC/.well-known/openid-configuration"
        );
        let slash: IssuerUrl = "https://idp.example.com/".parse().unwrap();
        assert_eq!(slash.as_str(), "https://idp.example.com/", "kept exactly");
        assert_eq!(
            slash.discovery_url(),
            "https://idp.example.com/.well-known/openid-configuration"
        );
        for bad in [
            "http://idp.example.com",
            "idp.example.com",
            "https://",
            "https:///path",
            "https://idp.example.com/?tenant=1",
            "https://idp.example.com/#x",
            "https://idp example.com",
        ] {
            let err = bad.parse::<IssuerUrl>().unwrap_err();
            assert!(err.to_string().contains("https"), "{bad}: {err}");
        }
    }

    #[test]
    fn reads_are_get_and_head_and_everything_else_writes() {
        for read in ["GET", "HEAD", "get"] {
            assert_eq!(Access::of_method(read), Access::Read, "{read}");
        }
        for write in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
            assert_eq!(Access::of_method(write), Access::Write, "{write}");
        }
    }

    #[test]
    fn a_route_sets_its_own_scopes_and_falls_back_to_the_defaults() {
        let mut auth = AuthSettings::default();
        auth.routes.insert(
            "/payments".into(),
            RouteScopes {
                read_scopes: None,
                write_scopes: Some(vec![scope("payments/write"), scope("payments:write")]),
            },
        );
        assert_eq!(auth.scopes("/orders", Access::Read), [scope("api/read")]);
        assert_eq!(auth.scopes("/payments", Access::Read), [scope("api/read")]);
        assert_eq!(
            auth.scopes("/payments", Access::Write),
            [scope("payments/write"), scope("payments:write")]
        );
        let all = auth.all_scopes([&"/orders".to_owned(), &"/payments".to_owned()]);
        assert_eq!(
            all,
            [
                scope("api/read"),
                scope("api/write"),
                scope("payments/write"),
                scope("payments:write")
            ]
        );
    }

    #[test]
    fn aws_needs_an_issuer_while_auth_is_on() {
        let mut auth = AuthSettings::default();
        let err = auth.aws_issuers().unwrap_err();
        assert_eq!(err, AuthError::NoIssuer);
        assert!(err.to_string().contains("[[auth.issuers]]"), "{err}");
        assert!(err.to_string().contains("enabled = false"), "{err}");
        auth.enabled = false;
        assert!(auth.aws_issuers().unwrap().is_empty());
        auth.enabled = true;
        auth.issuers = vec![
            TrustedIssuer {
                url: "https://a.example.com".parse().unwrap(),
                audiences: vec![],
            },
            TrustedIssuer {
                url: "https://b.example.com".parse().unwrap(),
                audiences: vec!["client-b".into()],
            },
        ];
        let issuers = auth.aws_issuers().unwrap();
        assert_eq!(issuers[0].1, ["api"], "the default audiences");
        assert_eq!(issuers[1].1, ["client-b"], "its own");
    }

    fn topology(edit: impl Fn(String) -> String) -> Result<crate::Topology, crate::TopologyError> {
        crate::Topology::parse(&edit(testkit::FIXTURE_TOPOLOGY.to_owned()))
    }

    /// The fixture's [auth] section replaced by `section`.
    fn with_auth(section: &str) -> Result<crate::Topology, crate::TopologyError> {
        topology(|s| {
            let start = s.find("[auth]\n").unwrap();
            let end = s.find("# The local world").unwrap();
            format!("{}{section}\n{}", &s[..start], &s[end..])
        })
    }

    #[test]
    fn the_fixture_trusts_one_pool_per_region() {
        let t = topology(|s| s).unwrap();
        assert!(t.auth.enabled);
        let issuers = t.auth.aws_issuers().unwrap();
        assert_eq!(issuers.len(), 2);
        assert!(issuers[0].0.as_str().contains("us-east-1"));
        assert_eq!(issuers[1].1, ["client-west"]);
        assert_eq!(
            t.auth.algorithms,
            [SigningAlgorithm::RS256, SigningAlgorithm::ES256]
        );
    }

    #[test]
    fn auth_is_on_without_a_section_and_off_only_when_said() {
        let absent = with_auth("").unwrap();
        assert_eq!(absent.auth, AuthSettings::default());
        assert!(absent.auth.enabled);
        assert_eq!(absent.auth.aws_issuers().unwrap_err(), AuthError::NoIssuer);
        let off = with_auth("[auth]\nenabled = false\n").unwrap();
        assert!(!off.auth.enabled);
        assert!(off.auth.aws_issuers().unwrap().is_empty());
    }

    #[test]
    fn route_scopes_name_gateway_routes() {
        let t = with_auth(
            "[auth]\n[auth.routes.\"/payments\"]\nwrite_scopes = [\"payments/write\"]\nread_scopes = []\n",
        )
        .unwrap();
        assert_eq!(
            t.auth.scopes("/payments", Access::Write),
            [scope("payments/write")]
        );
        assert!(t.auth.scopes("/payments", Access::Read).is_empty());
        let err =
            with_auth("[auth]\n[auth.routes.\"/paymentz\"]\nread_scopes = [\"x\"]\n").unwrap_err();
        assert!(err.to_string().contains("/paymentz"), "{err}");
    }

    #[test]
    fn bad_values_are_refused_naming_them() {
        for (section, named) in [
            ("[auth]\nalgorithms = [\"HS256\"]\n", "HS256"),
            ("[auth]\nalgorithms = []\n", "algorithms"),
            ("[auth]\naudiences = []\n", "audiences"),
            ("[auth]\nread_scopes = [\"two words\"]\n", "two words"),
            ("[auth]\nenabeld = true\n", "enabeld"),
            (
                "[auth]\n[[auth.issuers]]\nurl = \"http://idp.example.com\"\n",
                "http://idp.example.com",
            ),
            (
                "[auth]\n[[auth.issuers]]\nurl = \"https://a.example.com\"\n[[auth.issuers]]\nurl = \"https://a.example.com\"\n",
                "twice",
            ),
        ] {
            let err = with_auth(section).unwrap_err();
            assert!(err.to_string().contains(named), "{section}: {err}");
        }
    }
}
