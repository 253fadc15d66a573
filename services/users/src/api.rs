//! The users HTTP API: request and response bodies, their parsing into domain types, the
//! handlers, each annotated for the OpenAPI document, and the store-error mapping.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kit::ApiResult;
use kit::docs::{BadParameters, JsonBody, NotFound, PreconditionRequired, Unavailable};
use kit::extract::{Json, PathId, Query};
use kit::headers::{IfMatch, RequiredIfMatch};
use kit::paging::{self, PageQuery};
use kit::problem::{FieldError, PROBLEM_JSON, Problem, ProblemDetails, ProblemType};
use kit::time::Timestamp;
use kit::validate::Fields;
use topology::Region;

use crate::domain::{Email, User, UserChange, UserId, UserName};
use crate::store::{Store, UserStoreError};

/// A create or change to an email another user has.
const DUPLICATE_EMAIL: ProblemType = ProblemType {
    slug: "duplicate-email",
    title: "Conflict",
    description: "Another user has this email address (emails are unique, ignoring case).",
};

/// The problem types the users service answers with, besides the kit's.
pub const PROBLEMS: &[ProblemType] = &[DUPLICATE_EMAIL];

/// What the handlers share.
struct AppState {
    store: Store,
    /// New users are stamped with this Region.
    region: Region,
}

type AppStateRef = State<Arc<AppState>>;

/// The users routes, with their OpenAPI description, ready for `kit::http::service_router`.
pub fn routes(store: Store, region: Region) -> OpenApiRouter {
    let state = Arc::new(AppState { store, region });
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user, delete_user))
        .with_state(state)
}

/// The schema of `email`: [`Email::PATTERN`] and `format: email`, which the service checks
/// as they say.
fn email_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .description(Some(
            "Unique across users, ignoring case (stored lowercased); a dot-atom local part, \
             `@`, a domain of DNS labels",
        ))
        .min_length(Some(3))
        .max_length(Some(Email::MAX_LEN))
        .pattern(Some(Email::PATTERN))
        .examples(["ada@example.com"])
        .build()
}

/// The body of `POST /users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Unique across users, ignoring case.
    #[schema(schema_with = email_schema)]
    pub email: String,
    /// The user's display name.
    #[schema(schema_with = kit::name::schema)]
    pub name: String,
}

/// The body of `PATCH /users/{id}`: the fields to change (at least one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateUser {
    /// As in `POST /users`. Omit a field to keep it; `null` is refused (a user always has
    /// both).
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = email_schema)]
    pub email: Option<String>,
    /// As in `POST /users`.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = kit::name::schema)]
    pub name: Option<String>,
}

/// A field that, when sent, is a string: `null` is a 422 naming it rather than "absent".
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

/// A user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub id: UserId,
    pub email: String,
    pub name: String,
    /// Increases with every change; send it back in `If-Match`.
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The Region that last wrote the user.
    pub region: String,
}

impl From<&User> for UserBody {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
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

/// Creates a user.
#[utoipa::path(
    post, path = "/users", tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created; `Location` and `ETag` headers set", body = UserBody),
        (status = 409, description = "The email is already registered", body = ProblemDetails, content_type = PROBLEM_JSON),
        JsonBody, Unavailable,
    )
)]
async fn create_user(
    State(state): AppStateRef,
    Json(body): Json<CreateUser>,
) -> ApiResult<Response> {
    let mut fields = Fields::new();
    let email = fields.check("email", Email::parse(&body.email));
    let name = fields.check("name", UserName::parse(&body.name));
    let (email, name) = fields.finish(email.zip(name))?;
    let user = User::new(email, name, state.region.clone(), Timestamp::now());
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
    params(PathId<User>),
    responses(
        (status = 200, description = "The user; `ETag` is its version", body = UserBody),
        NotFound, Unavailable,
    )
)]
async fn get_user(State(state): AppStateRef, PathId(id): PathId<User>) -> ApiResult<Response> {
    match state.store.get(id).await.map_err(problem)? {
        Some(user) => Ok(with_etag(StatusCode::OK, &user)),
        None => Err(not_found(id)),
    }
}

/// Lists users, a page at a time.
#[utoipa::path(
    get, path = "/users", tag = "users",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        BadParameters, Unavailable,
    )
)]
async fn list_users(
    State(state): AppStateRef,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<UserList>> {
    let (limit, after) = query.parse::<UserId>()?;
    let page = state
        .store
        .list(limit.get(), after)
        .await
        .map_err(problem)?;
    Ok(Json(UserList {
        items: page.users.iter().map(UserBody::from).collect(),
        next_cursor: page.next.map(|id| paging::encode(&id)),
    }))
}

/// Changes a user's email and/or name. Requires `If-Match: "<version>"` (the `ETag` of the
/// last read): a missing `If-Match` is 428, a stale one 412, so no update is ever lost.
#[utoipa::path(
    patch, path = "/users/{id}", tag = "users",
    params(PathId<User>, RequiredIfMatch),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The changed user; `ETag` is its new version", body = UserBody),
        (status = 409, description = "The new email is already registered, or a concurrent change", body = ProblemDetails, content_type = PROBLEM_JSON),
        (status = 412, description = "`If-Match` is not the current version", body = ProblemDetails, content_type = PROBLEM_JSON),
        JsonBody, NotFound, PreconditionRequired, Unavailable,
    )
)]
async fn update_user(
    State(state): AppStateRef,
    PathId(id): PathId<User>,
    RequiredIfMatch(expected): RequiredIfMatch,
    Json(body): Json<UpdateUser>,
) -> ApiResult<Response> {
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
    params(PathId<User>, IfMatch),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "A concurrent change", body = ProblemDetails, content_type = PROBLEM_JSON),
        (status = 412, description = "`If-Match` is not the current version", body = ProblemDetails, content_type = PROBLEM_JSON),
        BadParameters, NotFound, Unavailable,
    )
)]
async fn delete_user(
    State(state): AppStateRef,
    PathId(id): PathId<User>,
    IfMatch(expected): IfMatch,
) -> ApiResult<StatusCode> {
    state.store.delete(id, expected).await.map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}

fn not_found(id: UserId) -> Problem {
    kit::id::not_found::<User>(&id)
}

fn with_etag(status: StatusCode, user: &User) -> Response {
    let mut response = (status, Json(UserBody::from(user))).into_response();
    if let Ok(v) = HeaderValue::from_str(&user.version.etag()) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// The store's answers as problems: the only place users' errors meet HTTP.
fn problem(err: UserStoreError) -> Problem {
    match err {
        UserStoreError::NotFound(id) => not_found(id),
        UserStoreError::EmailTaken => Problem::conflict("a user with this email already exists")
            .with_kind(DUPLICATE_EMAIL.slug),
        UserStoreError::VersionMismatch { expected, current } => Problem::precondition_failed(
            format!("`If-Match` is {expected} but the user is at version {current}; read it again"),
        ),
        UserStoreError::Concurrent => Problem::conflict(
            "the user changed while this request was processed; read it again and retry",
        ),
        UserStoreError::Store(e) => e.into(),
    }
}
