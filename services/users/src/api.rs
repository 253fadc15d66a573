//! The HTTP API: request and response bodies, handlers, and the store-error mapping.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use kit::ApiResult;
use kit::extract::{Json, Path, Query};
use kit::problem::{FieldError, Problem, ProblemDetails};
use kit::validate::Fields;
use topology::Region;

use crate::domain::{DomainError, Email, User, UserChange, UserId, UserName, Version};
use crate::store::{UserStore, UserStoreError};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn UserStore>,
    /// New users are stamped with this Region.
    pub region: Region,
}

/// The body of `POST /users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Unique across users, case-insensitively.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// 1 to 100 characters.
    #[schema(example = "Ada Lovelace")]
    pub name: String,
}

/// The body of `PATCH /users/{id}`: the fields to change (at least one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub email: Option<String>,
    pub name: Option<String>,
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    /// A UUIDv7.
    pub id: String,
    pub email: String,
    pub name: String,
    /// Increases with every change; send it back in `If-Match`.
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The Region that last wrote the user.
    pub region: String,
}

impl From<&User> for UserBody {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.as_str().to_owned(),
            name: u.name.as_str().to_owned(),
            version: u.version.get(),
            created_at: u.created_at,
            updated_at: u.updated_at,
            region: u.region.as_str().to_owned(),
        }
    }
}

/// One page of `GET /users`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserBody>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The query of `GET /users`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (opaque).
    pub cursor: Option<String>,
}

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

/// Creates a user.
#[utoipa::path(
    post, path = "/users", tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created; `Location` and `ETag` headers set", body = UserBody),
        (status = 400, description = "Malformed JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The email is already registered", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, all listed", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    Json(body): Json<CreateUser>,
) -> ApiResult<Response> {
    let mut fields = Fields::new();
    let email = fields.check("email", Email::parse(&body.email));
    let name = fields.check("name", UserName::parse(&body.name));
    let (email, name) = fields.finish(email.zip(name))?;
    let user = User::new(email, name, state.region.clone(), Utc::now());
    state.store.create(&user).await.map_err(problem)?;
    let location = format!("/users/{}", user.id);
    let mut response = with_etag(StatusCode::CREATED, &user);
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// Reads a user.
#[utoipa::path(
    get, path = "/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user; `ETag` is its version", body = UserBody),
        (status = 404, description = "No such user", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    match state.store.get(id).await.map_err(problem)? {
        Some(user) => Ok(with_etag(StatusCode::OK, &user)),
        None => Err(not_found(id)),
    }
}

/// Lists users, a page at a time.
#[utoipa::path(
    get, path = "/users", tag = "users",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 400, description = "Unreadable query string", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "`limit` or `cursor` invalid", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<UserList>> {
    let mut fields = Fields::new();
    let limit = fields.check("limit", page_limit(query.limit));
    let cursor = fields.check_optional("cursor", query.cursor.as_deref().map(UserId::parse));
    let (limit, cursor) = fields.finish(limit.zip(cursor))?;
    let page = state.store.list(limit, cursor).await.map_err(problem)?;
    Ok(axum::Json(UserList {
        items: page.users.iter().map(UserBody::from).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

fn page_limit(limit: Option<u32>) -> Result<usize, String> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n as usize),
        _ => Err(format!("must be between 1 and {MAX_LIMIT}")),
    }
}

/// Changes a user's email and/or name. Requires `If-Match: "<version>"` (the `ETag` of the
/// last read): a missing `If-Match` is 428, a stale one 412, so no update is ever lost.
#[utoipa::path(
    patch, path = "/users/{id}", tag = "users",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("If-Match" = String, Header, description = "The version last read, e.g. `\"3\"`"),
    ),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The changed user; `ETag` is its new version", body = UserBody),
        (status = 400, description = "Malformed JSON or `If-Match`", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The new email is already registered, or a concurrent change", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` is not the current version", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 428, description = "`If-Match` is missing", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<UpdateUser>,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    let expected = if_match(&headers)?.ok_or_else(|| {
        Problem::precondition_required(
            "send `If-Match` with the user's current version (its ETag) to change it",
        )
    })?;
    let change = parse_change(body)?;
    let user = state
        .store
        .update(id, expected, change)
        .await
        .map_err(problem)?;
    Ok(with_etag(StatusCode::OK, &user))
}

fn parse_change(body: UpdateUser) -> ApiResult<UserChange> {
    let mut fields = Fields::new();
    let email = fields.check_optional("email", body.email.as_deref().map(Email::parse));
    let name = fields.check_optional("name", body.name.as_deref().map(UserName::parse));
    let (email, name) = fields.finish(email.zip(name))?;
    let change = UserChange { email, name };
    if change.is_empty() {
        return Err(Problem::validation(vec![FieldError::new(
            "$",
            "set at least one of `email` and `name`",
        )]));
    }
    Ok(change)
}

/// Deletes a user and frees its email. `If-Match` is optional here: when sent, a stale
/// version is 412.
#[utoipa::path(
    delete, path = "/users/{id}", tag = "users",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("If-Match" = Option<String>, Header, description = "Delete only at this version"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` is not the current version", body = ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub async fn delete_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    let expected = if_match(&headers)?;
    state.store.delete(id, expected).await.map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// An id in a path: one that cannot be a user id names no user, hence 404.
fn parse_id(raw: &str) -> ApiResult<UserId> {
    UserId::parse(raw).map_err(|_| Problem::not_found(format!("no user has id `{raw}`")))
}

fn not_found(id: UserId) -> Problem {
    Problem::not_found(format!("no user has id {id}"))
}

fn if_match(headers: &HeaderMap) -> ApiResult<Option<Version>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let parsed = value
        .to_str()
        .map_err(|_| DomainError::Version)
        .and_then(Version::parse_if_match);
    parsed
        .map(Some)
        .map_err(|e| Problem::bad_request(format!("`If-Match` {e}")))
}

fn with_etag(status: StatusCode, user: &User) -> Response {
    let mut response = (status, axum::Json(UserBody::from(user))).into_response();
    if let Ok(v) = HeaderValue::from_str(&user.version.etag()) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// The store's answers as problems: the only place users' errors meet HTTP.
fn problem(err: UserStoreError) -> Problem {
    match err {
        UserStoreError::NotFound(id) => not_found(id),
        UserStoreError::EmailTaken => {
            Problem::conflict("a user with this email already exists").with_kind("duplicate-email")
        }
        UserStoreError::VersionMismatch { expected, current } => Problem::precondition_failed(
            format!("`If-Match` is {expected} but the user is at version {current}; read it again"),
        ),
        UserStoreError::Concurrent => Problem::conflict(
            "the user changed while this request was processed; read it again and retry",
        ),
        UserStoreError::Store(e) => e.into(),
    }
}
