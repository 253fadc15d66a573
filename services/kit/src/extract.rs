//! Extractors whose rejections are problems: JSON bodies (415, 413, 400, 422 with the field's
//! path), query strings and path parameters (400), and resource ids in the path (404). The
//! headers services act on have theirs in [`crate::headers`].

use axum::body::Body;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::id::{Id, Noun};
use crate::problem::{FieldError, Problem};

/// The request body limit every service applies: 64 KiB.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON request body of type `T`. Rejections: not `application/json` (or `+json`) → 415;
/// over [`BODY_LIMIT`] → 413; not JSON → 400; JSON that does not fit `T` (missing field, wrong
/// type, unknown field with `deny_unknown_fields`) → 422 naming the field's path.
///
/// It is a response too (`application/json`): serialized once, straight into one buffer
/// that a single resource fits, which the response body then owns (`axum::Json` starts
/// at 128 bytes and grows by copying).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

/// The first buffer of a JSON response: a resource of the example services fits.
const RESPONSE_CAPACITY: usize = 1024;

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut buffer = Vec::with_capacity(RESPONSE_CAPACITY);
        match serde_json::to_writer(&mut buffer, &self.0) {
            Ok(()) => {
                let mut response = Response::new(Body::from(Bytes::from(buffer)));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            Err(e) => {
                Problem::internal(format!("a response did not serialize: {e}")).into_response()
            }
        }
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let RawJson(bytes) = RawJson::from_request(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// The raw bytes of a JSON body, with the same 415/413 checks as [`Json`]: for handlers that
/// need the exact body too (e.g. to hash it for idempotency). Parse it with [`parse_json`].
#[derive(Debug, Clone)]
pub struct RawJson(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        if !is_json(req.headers()) {
            return Err(Problem::unsupported_media_type(
                "send the body as JSON with `content-type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        if bytes.len() > BODY_LIMIT {
            return Err(too_large());
        }
        Ok(RawJson(bytes))
    }
}

fn too_large() -> Problem {
    Problem::payload_too_large(format!(
        "the request body is over the limit of {BODY_LIMIT} bytes"
    ))
}

fn body_rejection(rejection: BytesRejection) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        Problem::bad_request(format!(
            "cannot read the request body: {}",
            rejection.body_text()
        ))
    }
}

/// Whether the request says its body is JSON: `application/json` or `application/<x>+json`,
/// parameters such as `charset` allowed.
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Parses a JSON document into `T`: a syntax error anywhere is a 400, checked before the
/// document meets `T`; a document that does not fit
/// `T` is a 422 whose one field error names the path (`items[0].quantity`). The document
/// must be an object: serde would otherwise accept a struct written as an array
/// (`["a@example.com", "Ada"]`), which no client means to send. (Nested structs written as
/// arrays are still accepted: serde's derive allows it and this check only sees the top.)
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    // Syntax first: a body that is not JSON at all (`{"x":`) is a 400 before any field of
    // it is judged, whatever `T` would have said about its first member.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|e| Problem::bad_request(format!("malformed JSON: {e}")))?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(Problem::validation(vec![FieldError::new(
            "$",
            "expected a JSON object",
        )]));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => value,
        Err(err) => return Err(json_problem(err)),
    };
    de.end()
        .map_err(|e| Problem::bad_request(format!("malformed JSON: {}", e)))?;
    Ok(value)
}

fn json_problem(err: serde_path_to_error::Error<serde_json::Error>) -> Problem {
    let path = err.path().to_string();
    let inner = err.into_inner();
    let message = strip_position(&inner.to_string());
    match inner.classify() {
        serde_json::error::Category::Data => {
            let field = field_path(&path, &message);
            Problem::validation(vec![FieldError::new(field, message)])
        }
        _ => Problem::bad_request(format!("malformed JSON: {inner}")),
    }
}

/// serde_json appends " at line L column C", which means nothing for a data error.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The path of the offending field. For a missing or unknown field serde's path stops at
/// the enclosing object, so the field's name (quoted in the message) is appended.
fn field_path(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let base = if path == "." { "" } else { path };
    match named {
        Some(name) if base.is_empty() => name.to_owned(),
        Some(name) if base.ends_with(name) => base.to_owned(),
        Some(name) => format!("{base}.{name}"),
        None if base.is_empty() => "$".to_owned(),
        None => base.to_owned(),
    }
}

/// A query string of type `T`; a query that does not fit is a 400 problem.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|r: QueryRejection| {
                Problem::bad_request(format!("invalid query string: {}", r.body_text()))
            })
    }
}

/// Path parameters of type `T`; parameters that do not fit are a 400 problem. Services that
/// parse ids into domain types usually take `Path<String>` and answer 404 for a malformed id.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|r: PathRejection| {
                Problem::bad_request(format!("invalid path: {}", r.body_text()))
            })
    }
}

/// The id of a `K` in the path (the route's one parameter, e.g. `/orders/{id}`). An id that
/// does not parse names no `K`, so it is a 404 like an unknown one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathId<K>(pub Id<K>);

impl<K: Noun + 'static, S: Send + Sync> FromRequestParts<S> for PathId<K> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        // The router's own (percent-decoded) captures, read in place: `Path<String>` would
        // copy the value and run a deserializer for one string.
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|r| Problem::bad_request(format!("invalid path: {}", r.body_text())))?;
        let mut values = params.iter().map(|(_, value)| value);
        let (Some(raw), None) = (values.next(), values.next()) else {
            // Not one parameter (a route bug): `Path` says what is wrong.
            let Path(raw) = Path::<String>::from_request_parts(parts, state).await?;
            return Id::parse(&raw)
                .map(PathId)
                .map_err(|_| crate::id::not_found::<K>(&raw));
        };
        Id::parse(raw)
            .map(PathId)
            .map_err(|_| crate::id::not_found::<K>(&raw))
    }
}

impl<K: Noun> utoipa::IntoParams for PathId<K> {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        vec![
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(utoipa::openapi::Required::True)
                .description(Some(format!("The {}'s id", K::NOUN)))
                .schema(Some(crate::id::schema()))
                .build(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        user: String,
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        sku: String,
        quantity: u32,
    }

    fn field_of(body: &str) -> (StatusCode, String) {
        let problem = parse_json::<Order>(body.as_bytes()).unwrap_err();
        let field = problem
            .errors
            .first()
            .map(|e| e.field.clone())
            .unwrap_or_default();
        (problem.status, field)
    }

    #[test]
    fn data_errors_name_the_field_path() {
        let cases = [
            (r#"{"items": []}"#, "user"),
            (r#"{"user": 1, "items": []}"#, "user"),
            (
                r#"{"user": "a", "items": [{"sku": "x", "quantity": -1}]}"#,
                "items[0].quantity",
            ),
            (
                r#"{"user": "a", "items": [{"sku": "x"}]}"#,
                "items[0].quantity",
            ),
            (r#"{"user": "a", "items": [], "extra": 1}"#, "extra"),
            (
                r#"{"user": "a", "items": [{"sku": "x", "quantity": 1, "z": 0}]}"#,
                "items[0].z",
            ),
            (r#"[1]"#, "$"),
            ("1", "$"),
        ];
        for (body, field) in cases {
            assert_eq!(
                field_of(body),
                (StatusCode::UNPROCESSABLE_ENTITY, field.to_owned()),
                "{body}"
            );
        }
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        for body in [
            r#"{"user": "#,
            r#"{"x":"#,
            r#"{"user": "a", "items": [], "extra": "#,
            "",
            "nul",
            r#"{"user": "a", "items": []} trailing"#,
        ] {
            let problem = parse_json::<Order>(body.as_bytes()).unwrap_err();
            assert_eq!(problem.status, StatusCode::BAD_REQUEST, "{body}");
        }
    }

    #[test]
    fn json_content_types() {
        let check = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            is_json(&h)
        };
        assert!(check("application/json"));
        assert!(check("Application/JSON; charset=utf-8"));
        assert!(check("application/merge-patch+json"));
        assert!(!check("text/plain"));
        assert!(!check("application/jsonp"));
        assert!(!check("application/+json"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
