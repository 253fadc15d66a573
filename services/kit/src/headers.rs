//! The request headers services act on, parsed by extractors so handlers never read a
//! `HeaderMap`: `If-Match` (optimistic concurrency on a [`Version`]) and `Idempotency-Key`
//! (retries that cannot apply a write twice). Each extractor documents its header for the
//! OpenAPI document (`params(IfMatch)`) with the format it enforces.
//!
//! Statuses: a header that is present but does not parse is 400; a required `If-Match` that
//! is missing is 428 (RFC 6585). A missing `Idempotency-Key` is 400, as the IETF httpapi
//! draft "The Idempotency-Key HTTP Header Field" says (and a key reused with another
//! payload 422, which the service decides, since only it knows what was sent first).

use std::fmt;
use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::{HeaderName, header, request::Parts};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Required, Schema};

use crate::problem::Problem;

/// The request header naming an idempotency key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The response header marking a replayed response.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// A value that is not a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be a positive integer version, as in `If-Match: \"3\"`")]
pub struct VersionError;

/// A resource's version, for optimistic concurrency: 1 when created, +1 on every change.
/// Sent as the `ETag` (`"3"`) and expected back in `If-Match`; stored as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Version(u64);

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Version::new(u64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Version {
    /// The version of a new resource.
    pub const FIRST: Version = Version(1);

    /// The pattern `If-Match` values have, for OpenAPI documents.
    pub const IF_MATCH_PATTERN: &'static str = r#"^(W/)?("[1-9][0-9]{0,18}"|[1-9][0-9]{0,18})$"#;

    /// The longest `If-Match` value the pattern allows: `W/"` and 19 digits and `"`.
    pub const IF_MATCH_MAX_LEN: usize = 23;

    /// A version from its number; 0 is not a version.
    pub fn new(n: u64) -> Result<Self, VersionError> {
        if n == 0 {
            Err(VersionError)
        } else {
            Ok(Self(n))
        }
    }

    /// Parses an `If-Match` value: `3`, `"3"` or `W/"3"` (one entity tag, no `*`).
    pub fn parse_if_match(s: &str) -> Result<Self, VersionError> {
        let s = s.trim();
        let s = s.strip_prefix("W/").unwrap_or(s);
        let s = s
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(s);
        let n = s.parse::<u64>().map_err(|_| VersionError)?;
        Self::new(n)
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The version after a change; saturates (2^64 changes do not happen).
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }

    /// The strong entity tag: `"3"`.
    pub fn etag(self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The raw value of header `name`, if sent; a value that is not visible ASCII is a 400.
fn header_str<'a>(
    parts: &'a Parts,
    name: &HeaderName,
    rule: &str,
) -> Result<Option<&'a str>, Problem> {
    parts
        .headers
        .get(name)
        .map(|v| v.to_str().map_err(|_| bad_header(name, rule)))
        .transpose()
}

/// The header names as documents spell them: problems name headers this way.
const HEADER_IF_MATCH: &str = "If-Match";
const HEADER_IDEMPOTENCY_KEY: &str = "Idempotency-Key";

fn bad_header(name: &HeaderName, rule: &str) -> Problem {
    let spelled = if name == header::IF_MATCH {
        HEADER_IF_MATCH
    } else {
        HEADER_IDEMPOTENCY_KEY
    };
    Problem::invalid_parameters(vec![crate::FieldError::new(spelled, rule)])
}

/// An optional `If-Match: "<version>"`: `IfMatch(None)` when absent; a value that is not
/// one version is a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfMatch(pub Option<Version>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let rule = VersionError.to_string();
        match header_str(parts, &header::IF_MATCH, &rule)? {
            None => Ok(Self(None)),
            Some(raw) => Version::parse_if_match(raw)
                .map(|v| Self(Some(v)))
                .map_err(|_| bad_header(&header::IF_MATCH, &rule)),
        }
    }
}

/// A required `If-Match: "<version>"`: missing is a 428, so no update is made blind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequiredIfMatch(pub Version);

impl<S: Send + Sync> FromRequestParts<S> for RequiredIfMatch {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match IfMatch::from_request_parts(parts, state).await? {
            IfMatch(Some(version)) => Ok(Self(version)),
            IfMatch(None) => Err(Problem::precondition_required(
                "send `If-Match` with the resource's current version (its ETag) to change it",
            )),
        }
    }
}

/// The `Idempotency-Key` a client sends so that retrying a request cannot apply it twice:
/// 1 to [`IdempotencyKey::MAX_LEN`] visible ASCII characters. As an extractor it is
/// required: missing or unusable is a 400 naming the header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// A value that is not an idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "must be 1 to {max} visible ASCII characters (a UUID is a good choice)",
    max = IdempotencyKey::MAX_LEN
)]
pub struct IdempotencyKeyError;

impl IdempotencyKey {
    /// The longest key accepted.
    pub const MAX_LEN: usize = 255;

    /// The pattern keys have, for OpenAPI documents.
    pub const PATTERN: &'static str = "^[!-~]{1,255}$";

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IdempotencyKey {
    type Err = IdempotencyKeyError;

    /// Visible ASCII only (no spaces or control characters), so a key is the same bytes
    /// in a header, a log line and a store key.
    fn from_str(s: &str) -> Result<Self, IdempotencyKeyError> {
        let ok =
            !s.is_empty() && s.len() <= Self::MAX_LEN && s.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdempotencyKeyError)
        }
    }
}

impl serde::Serialize for IdempotencyKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for IdempotencyKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        key.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let rule = IdempotencyKeyError.to_string();
        let Some(raw) = header_str(parts, &IDEMPOTENCY_KEY, &rule)? else {
            return Err(Problem::invalid_parameters(vec![crate::FieldError::new(
                HEADER_IDEMPOTENCY_KEY,
                "is required: send a unique value per operation, the same again when \
                 retrying it (a UUID is a good choice)",
            )]));
        };
        raw.parse().map_err(|_| bad_header(&IDEMPOTENCY_KEY, &rule))
    }
}

/// A header's parameter: a string matching `pattern`, at most `max_length` characters.
fn header_parameter(
    name: &str,
    required: bool,
    (pattern, max_length): (&str, usize),
    description: &str,
) -> Parameter {
    let schema: RefOr<Schema> = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .min_length(Some(1))
        .max_length(Some(max_length))
        .into();
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

impl utoipa::IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![header_parameter(
            HEADER_IF_MATCH,
            false,
            (Version::IF_MATCH_PATTERN, Version::IF_MATCH_MAX_LEN),
            "Apply only at this version (the ETag last read), e.g. `\"3\"`",
        )]
    }
}

impl utoipa::IntoParams for RequiredIfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![header_parameter(
            HEADER_IF_MATCH,
            true,
            (Version::IF_MATCH_PATTERN, Version::IF_MATCH_MAX_LEN),
            "The version last read (its ETag), e.g. `\"3\"`; missing is 428, stale is 412",
        )]
    }
}

impl utoipa::IntoParams for IdempotencyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![header_parameter(
            HEADER_IDEMPOTENCY_KEY,
            true,
            (IdempotencyKey::PATTERN, IdempotencyKey::MAX_LEN),
            "One per operation, sent again unchanged on retries; missing or unusable is 400",
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, Request, StatusCode};

    #[test]
    fn versions_and_if_match() {
        assert_eq!(Version::parse_if_match("3").unwrap().get(), 3);
        assert_eq!(Version::parse_if_match("\"3\"").unwrap().get(), 3);
        assert_eq!(Version::parse_if_match("W/\"3\"").unwrap().get(), 3);
        for bad in [
            "",
            "0",
            "\"0\"",
            "*",
            "-1",
            "abc",
            "\"3",
            "1.5",
            "99999999999999999999",
        ] {
            assert_eq!(Version::parse_if_match(bad), Err(VersionError), "{bad:?}");
        }
        assert_eq!(Version::FIRST.next().etag(), "\"2\"");
        assert_eq!(Version::new(u64::MAX).unwrap().next().get(), u64::MAX);
    }

    #[test]
    fn idempotency_keys() {
        for good in [
            "a",
            "0190b7a4-5f7e-7c3a-9d2e-3f4a5b6c7d8e",
            &"k".repeat(IdempotencyKey::MAX_LEN),
            "~!#",
        ] {
            assert_eq!(good.parse::<IdempotencyKey>().unwrap().as_str(), good);
        }
        for bad in [
            "",
            "has space",
            "tab\t",
            "é",
            &"k".repeat(IdempotencyKey::MAX_LEN + 1),
        ] {
            assert_eq!(
                bad.parse::<IdempotencyKey>(),
                Err(IdempotencyKeyError),
                "{bad:?}"
            );
        }
    }

    async fn extract<T: FromRequestParts<(), Rejection = Problem>>(
        header: Option<(HeaderName, HeaderValue)>,
    ) -> Result<T, Problem> {
        let mut request = Request::get("/");
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let (mut parts, ()) = request.body(()).unwrap().into_parts();
        T::from_request_parts(&mut parts, &()).await
    }

    fn status<T>(result: Result<T, Problem>) -> StatusCode {
        result.err().map_or(StatusCode::OK, |p| p.status)
    }

    #[tokio::test]
    async fn idempotency_key_headers() {
        let key = |v: HeaderValue| Some((IDEMPOTENCY_KEY, v));
        let missing = extract::<IdempotencyKey>(None).await.unwrap_err();
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
        assert_eq!(missing.errors[0].field, "Idempotency-Key");
        for bad in [
            HeaderValue::from_static("has space"),
            HeaderValue::from_bytes(b"\xff").unwrap(),
        ] {
            let problem = extract::<IdempotencyKey>(key(bad)).await.unwrap_err();
            assert_eq!(problem.status, StatusCode::BAD_REQUEST);
            assert_eq!(problem.errors[0].field, "Idempotency-Key");
        }
        let ok = extract::<IdempotencyKey>(key(HeaderValue::from_static("key-1"))).await;
        assert_eq!(ok.unwrap().as_str(), "key-1");
    }

    #[tokio::test]
    async fn if_match_headers() {
        let if_match = |v: &'static str| Some((header::IF_MATCH, HeaderValue::from_static(v)));
        assert_eq!(extract::<IfMatch>(None).await.unwrap(), IfMatch(None));
        assert_eq!(
            extract::<IfMatch>(if_match("\"2\"")).await.unwrap(),
            IfMatch(Some(Version::new(2).unwrap()))
        );
        assert_eq!(
            status(extract::<IfMatch>(if_match("*")).await),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(extract::<RequiredIfMatch>(None).await),
            StatusCode::PRECONDITION_REQUIRED
        );
        assert_eq!(
            status(extract::<RequiredIfMatch>(if_match("0")).await),
            StatusCode::BAD_REQUEST
        );
    }
}
