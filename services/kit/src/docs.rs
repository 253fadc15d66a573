//! The error responses of the OpenAPI document, written once: every problem a handler can
//! answer is `application/problem+json` with the `ProblemDetails` schema (which
//! [`crate::http::service_router`] adds to the document's components). List them next to an
//! operation's own responses:
//!
//! ```text
//! #[utoipa::path(post, path = "/notes", request_body = CreateNote,
//!     responses((status = 201, body = NoteBody), kit::docs::JsonBody, kit::docs::Unavailable))]
//! ```
//!
//! and, for a status whose meaning is the operation's own (a 409 for a taken email),
//! `(status = 409, description = "…", body = ProblemDetails, content_type = PROBLEM_JSON)`
//! or [`problem`].

use std::collections::BTreeMap;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

use crate::problem::PROBLEM_JSON;

/// A problem+json response described by `description`.
pub fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ProblemDetails")))
                .build(),
        )
        .build()
}

fn responses(list: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| (status.to_string(), problem(description).into()))
        .collect()
}

macro_rules! problem_responses {
    ($($(#[$doc:meta])* $name:ident { $($status:literal => $description:literal),+ $(,)? })*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $name;

            impl utoipa::IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    responses(&[$(($status, $description)),+])
                }
            }
        )*
    };
}

problem_responses! {
    /// What reading a JSON body can answer: 400, 413, 415 and 422.
    JsonBody {
        400 => "The request cannot be read: malformed JSON, or a parameter or header that does not parse (each named in `errors`)",
        413 => "The body is over 64 KiB",
        415 => "The body is not JSON (`content-type: application/json`)",
        422 => "Well-formed JSON whose fields are invalid, every one named in `errors`",
    }
    /// 400 for query parameters or headers that do not parse.
    BadParameters {
        400 => "A query parameter or header does not parse (each named in `errors`)",
    }
    /// 404 for an id that names nothing.
    NotFound {
        404 => "Nothing has this id",
    }
    /// 428 for a required `If-Match` that is missing.
    PreconditionRequired {
        428 => "`If-Match` is missing: send the version last read (its `ETag`)",
    }
    /// 503 when the store cannot be reached: retry, or fail over.
    Unavailable {
        503 => "The data store is unavailable; retry later. A write-fenced service also answers 503 (`region-fenced`, with `Retry-After`) to a write while its Region's routing control is OFF",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::IntoResponses;

    #[test]
    fn responses_are_problem_json() {
        let map = JsonBody::responses();
        assert_eq!(
            map.keys().map(String::as_str).collect::<Vec<_>>(),
            ["400", "413", "415", "422"]
        );
        let json = serde_json::to_value(&map["422"]).unwrap();
        assert_eq!(
            json["content"][PROBLEM_JSON]["schema"]["$ref"],
            "#/components/schemas/ProblemDetails"
        );
    }
}
