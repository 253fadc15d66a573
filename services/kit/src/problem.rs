//! RFC 9457 problem details (`application/problem+json`): the one error-to-HTTP mapping.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The base of every problem `type` URI; the slug that follows is stable and documented.
/// A URI reference relative to the service (RFC 9457 §3.1.1): every service serves a page
/// for each of its types at `GET /problems/<slug>` (see [`crate::http`]).
pub const PROBLEM_TYPE_BASE: &str = "/problems/";

/// A kind of problem, documented at `/problems/<slug>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemType {
    /// The stable slug, as in [`Problem::kind`].
    pub slug: &'static str,
    /// Its title, as in the problem's `title`.
    pub title: &'static str,
    /// What it means and what a client does about it.
    pub description: &'static str,
}

/// The kinds every service can answer, from the kit's constructors.
pub const COMMON_TYPES: &[ProblemType] = &[
    ProblemType {
        slug: "bad-request",
        title: "Bad request",
        description: "The request cannot be read: its body is not JSON, or a query parameter or header does not parse. `errors` names each parameter or header. Fix the request; retrying it unchanged gets the same answer.",
    },
    ProblemType {
        slug: "unsupported-media-type",
        title: "Unsupported media type",
        description: "The body is not sent as JSON. Send it with `content-type: application/json`.",
    },
    ProblemType {
        slug: "payload-too-large",
        title: "Payload too large",
        description: "The body is over the 64 KiB limit.",
    },
    ProblemType {
        slug: "validation",
        title: "Invalid request",
        description: "The body is well-formed JSON, but some fields are missing, unknown or invalid. `errors` lists every one with its JSON path and what is wrong.",
    },
    ProblemType {
        slug: "not-found",
        title: "Not found",
        description: "Nothing has this id (or the path is not a route). An id that is not one (not a lowercase, hyphenated UUIDv7) names nothing either.",
    },
    ProblemType {
        slug: "method-not-allowed",
        title: "Method not allowed",
        description: "The resource does not accept this method; the `Allow` header lists those it does.",
    },
    ProblemType {
        slug: "conflict",
        title: "Conflict",
        description: "The resource changed while the request was processed. Read it again and retry.",
    },
    ProblemType {
        slug: "precondition-failed",
        title: "Precondition failed",
        description: "`If-Match` names a version that is not the current one: someone else changed the resource. Read it again (its `ETag`) and retry with that version.",
    },
    ProblemType {
        slug: "precondition-required",
        title: "Precondition required",
        description: "The operation changes a resource and needs `If-Match` with the version last read (its `ETag`), so that no change is made blind.",
    },
    ProblemType {
        slug: "unavailable",
        title: "Service unavailable",
        description: "The data store cannot be reached. Retry later, or in the other Region.",
    },
    ProblemType {
        slug: "region-fenced",
        title: "Region not taking writes",
        description: "This Region's routing control is OFF: traffic is moving to the other Region, and this instance refuses writes so that they cannot collide with the other Region's (global tables keep the last writer). Reads are still served. Resolve the hostname again and retry after `Retry-After` seconds: the answer then names the Region that is ON.",
    },
    ProblemType {
        slug: "internal",
        title: "Internal error",
        description: "An unexpected error; it has been logged. Retrying may help.",
    },
];

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One offending field of a request body or query string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// A JSON path into the request, such as `email` or `items[0].quantity`.
    pub field: String,
    /// What is wrong with it, in words a client developer can act on.
    pub message: String,
}

impl FieldError {
    /// A field error from anything printable.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error as a client sees it. Build one with the constructors; `kind` is a stable slug
/// that becomes the problem's `type` URI, so clients can branch on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    /// Stable slug, serialized as `type: PROBLEM_TYPE_BASE + kind`.
    pub kind: &'static str,
    /// Short, constant per kind.
    pub title: &'static str,
    /// This occurrence, in words.
    pub detail: String,
    /// For validation problems: every offending field.
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// A problem with any status; prefer the named constructors.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            title,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// Replaces the slug, for a service-specific kind (`duplicate-email`) of a common status.
    pub fn with_kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }

    /// 400: the request cannot be read at all (e.g. malformed JSON).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// 400: query parameters (or headers) that do not parse; lists every one. The same
    /// status and `type` as any other request that cannot be read.
    pub fn invalid_parameters(errors: Vec<FieldError>) -> Self {
        Self {
            detail: summary(&errors),
            errors,
            ..Self::bad_request("")
        }
    }

    /// 415: the body is not JSON.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        )
    }

    /// 413: the body is over the limit.
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            detail,
        )
    }

    /// 422: well-formed, but some fields are invalid; lists them all.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self {
            detail: summary(&errors),
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
                "",
            )
        }
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 405.
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            detail,
        )
    }

    /// 409: the request conflicts with the resource's current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// 412: an `If-Match` (or similar) precondition does not hold.
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "Precondition failed",
            detail,
        )
    }

    /// 428: a required `If-Match` is missing.
    pub fn precondition_required(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "Precondition required",
            detail,
        )
    }

    /// 503: a dependency (the store) is down; the client may retry or fail over.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
    }

    /// 503 from the write fence: this Region's routing control is OFF (see `kit::fence`).
    pub fn region_fenced(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "region-fenced",
            "Region not taking writes",
            detail,
        )
    }

    /// 500. `detail` is logged, never sent: internals stay internal.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "An unexpected error occurred; it has been logged.",
        )
    }

    /// The `type` URI.
    pub fn type_uri(&self) -> String {
        format!("{PROBLEM_TYPE_BASE}{}", self.kind)
    }
}

/// One field's error in words, or how many fields are wrong.
fn summary(errors: &[FieldError]) -> String {
    match errors {
        [one] => format!("`{}`: {}", one.field, one.message),
        many => format!("{} fields are invalid", many.len()),
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.title,
            self.detail
        )
    }
}

impl std::error::Error for Problem {}

/// The wire shape of a problem (borrowed, so responding copies nothing twice).
#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

/// The OpenAPI schema of every error response (`application/problem+json`), for
/// `#[utoipa::path(responses(...))]`. Only documentation: responses are built from [`Problem`].
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProblemDetails {
    /// A stable URI per kind of problem, relative to the service: `/problems/<slug>`, a page
    /// that says what it means.
    #[serde(rename = "type")]
    pub kind: String,
    /// Constant per kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// This occurrence.
    pub detail: String,
    /// Present on validation problems (422) and unreadable parameters (400): every
    /// offending field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = ProblemBody {
            kind: self.type_uri(),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_constructor_kind_is_documented() {
        let kinds = [
            Problem::bad_request("").kind,
            Problem::unsupported_media_type("").kind,
            Problem::payload_too_large("").kind,
            Problem::validation(vec![]).kind,
            Problem::not_found("").kind,
            Problem::method_not_allowed("").kind,
            Problem::conflict("").kind,
            Problem::precondition_failed("").kind,
            Problem::precondition_required("").kind,
            Problem::unavailable("").kind,
            Problem::region_fenced("").kind,
            Problem::internal("").kind,
        ];
        let documented: Vec<_> = COMMON_TYPES.iter().map(|t| t.slug).collect();
        assert_eq!(kinds.to_vec(), documented);
    }

    use super::*;
    use axum::body::to_bytes;

    async fn body_of(problem: Problem) -> (StatusCode, String, serde_json::Value) {
        let response = problem.into_response();
        let status = response.status();
        let ct = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, ct, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn validation_lists_every_field() {
        let (status, ct, body) = body_of(Problem::validation(vec![
            FieldError::new("email", "not an email"),
            FieldError::new("items[0].quantity", "must be positive"),
        ]))
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(ct, PROBLEM_JSON);
        assert_eq!(body["type"], "/problems/validation");
        assert_eq!(body["status"], 422);
        assert_eq!(body["errors"][1]["field"], "items[0].quantity");
    }

    #[tokio::test]
    async fn internal_never_leaks_the_detail() {
        let (status, _, body) = body_of(Problem::internal("password=hunter2")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("hunter2"));
        assert!(body.get("errors").is_none());
    }

    #[tokio::test]
    async fn with_kind_changes_only_the_type() {
        let (status, _, body) =
            body_of(Problem::conflict("taken").with_kind("duplicate-email")).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["type"], "/problems/duplicate-email");
        assert_eq!(body["detail"], "taken");
    }
}
