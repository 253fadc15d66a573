//! What every service shares: Region identity, RFC 9457 errors and their OpenAPI
//! documentation, JSON, query, header and path-id extraction with proper rejections, field
//! validation, JSON bodies written without serde's per-byte work, the shared value types
//! (ids, money, timestamps, display names, paging), the item-store port
//! with its in-memory and DynamoDB adapters and item codecs, the common HTTP surface (`/`,
//! `/health`, `/openapi.json`, `/docs`, `x-region`, `x-request-id`, body limit) and one entry
//! point that serves locally or under Lambda.
//!
//! A service crate adds only its domain types, its store over [`store::ItemTable`] (the one
//! port: records mapped by [`codec`], rules as write conditions) and its routes, and
//! describes itself with one [`Service`] value. The smallest service on the kit:
//!
//! ```
//! use std::sync::Arc;
//! use axum::{extract::State, http::StatusCode};
//! use kit::{ApiResult, Problem, Region, Service, extract::Json,
//!           store::{Condition, ItemTable, StoreError}, validate::Fields};
//! use utoipa_axum::{router::OpenApiRouter, routes};
//!
//! #[derive(serde::Deserialize, utoipa::ToSchema)]
//! #[serde(deny_unknown_fields)]
//! struct CreateNote { text: String }
//!
//! /// A note as stored: its fields are the item's attributes.
//! #[derive(serde::Serialize)]
//! struct Note { text: String, version: u64 }
//!
//! /// Creates a note.
//! #[utoipa::path(post, path = "/notes", request_body = CreateNote,
//!     responses((status = 201), kit::docs::JsonBody, kit::docs::Unavailable))]
//! async fn create(State(table): State<Arc<dyn ItemTable>>, Json(body): Json<CreateNote>)
//!     -> ApiResult<StatusCode> {
//!     let mut fields = Fields::new();
//!     let text = fields.check("text", if body.text.is_empty() { Err("empty") } else { Ok(body.text) });
//!     let text = fields.finish(text)?; // 422 naming `text`
//!     let item = kit::codec::to_item(format!("NOTE#{text}"), &Note { text, version: 1 })?;
//!     match table.put(item, Condition::NotExists).await {
//!         Ok(()) => Ok(StatusCode::CREATED),
//!         Err(StoreError::ConditionFailed { .. }) => Err(Problem::conflict("that note exists")),
//!         Err(other) => Err(other.into()), // 503 when the store is down
//!     }
//! }
//!
//! fn router(table: Arc<dyn ItemTable>, region: Region) -> axum::Router {
//!     let api = OpenApiRouter::new().routes(routes!(create)).with_state(table.clone());
//!     kit::http::service_router(NOTES.info(region), table, api)
//! }
//!
//! /// The notes service.
//! pub const NOTES: Service = Service {
//!     name: "notes", version: "0.1.0", indexes: &[], router,
//! };
//! // main.rs: fn main() -> anyhow::Result<()> { kit::serve::main(&notes::NOTES) }
//!
//! let region: Region = "us-east-1".parse().unwrap();
//! let app: axum::Router = (NOTES.router)(kit::memory::MemoryTable::new("notes", region.clone()), region);
//! ```

pub mod aws;
pub mod codec;
pub mod docs;
pub mod dynamo;
pub mod edge;
pub mod extract;
#[cfg(feature = "fence")]
pub mod fence;
pub mod headers;
pub mod http;
pub mod id;
pub mod json;
pub mod memory;
pub mod money;
pub mod name;
pub mod paging;
pub mod problem;
pub mod serve;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod validate;

use std::borrow::Cow;
use std::sync::Arc;

pub use http::X_REGION;
pub use problem::{FieldError, Problem};
pub use topology::Region;

/// `value`, unless blank: every setting the kit reads from the environment counts a variable
/// set to nothing (or to spaces) as unset.
pub(crate) fn unless_blank(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// The environment variable `name`, unless unset or blank.
pub(crate) fn env_var(name: &str) -> Option<String> {
    unless_blank(std::env::var(name).ok())
}

/// The result of a handler or a domain operation seen from HTTP: errors are problems.
pub type ApiResult<T> = Result<T, Problem>;

/// What a service is: everything the local world, the binaries and Lambda need.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// The app's name in topology.toml, e.g. "orders".
    pub name: &'static str,
    /// The crate's version, env!("CARGO_PKG_VERSION").
    pub version: &'static str,
    /// The secondary indexes of its table that it queries (the table's partition key is
    /// always `pk`).
    pub indexes: &'static [IndexSpec],
    /// The whole service (the kit's shared surface included) over its table, answering
    /// as `region`.
    pub router: fn(Arc<dyn store::ItemTable>, Region) -> axum::Router,
}

impl Service {
    /// Who answers, for the shared surface (`GET /`, `x-region`).
    pub fn info(&self, region: Region) -> ServiceInfo {
        ServiceInfo {
            name: Cow::Borrowed(self.name),
            version: self.version,
            region,
        }
    }
}

/// A global secondary index of a service's table: string keys, all attributes projected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    /// The index's name, e.g. `by-user`.
    pub name: &'static str,
    /// Its partition key attribute, e.g. `user_id`: what `ItemTable::query` matches on.
    pub partition_key: &'static str,
    /// Its sort key attribute, if any.
    pub sort_key: Option<&'static str>,
}

/// Who is answering: reported by `GET /`, `GET /health` and the `x-region` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// The app's name, e.g. `users`.
    pub name: Cow<'static, str>,
    /// The build's version, usually `env!("CARGO_PKG_VERSION")`.
    pub version: &'static str,
    /// The Region this instance serves.
    pub region: Region,
}
