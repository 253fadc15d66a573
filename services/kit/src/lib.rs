//! What every service shares: Region identity, RFC 9457 errors, JSON extraction with proper
//! rejections, field validation, the item-store port with its in-memory and DynamoDB adapters,
//! the common HTTP surface (`/`, `/health`, `/openapi.json`, `/docs`, `x-region`,
//! `x-request-id`, body limit) and one entry point that serves locally or under Lambda.
//!
//! A service crate adds only its domain types, its store port and its handlers; see
//! `services/users` for the reference layout. The smallest service on the kit:
//!
//! ```
//! use std::sync::Arc;
//! use axum::extract::State;
//! use kit::{ApiResult, Problem, ServiceInfo, extract::Json, memory::MemoryTable,
//!           store::{Condition, ItemTable, StoreError}, validate::Fields};
//! use serde_json::json;
//! use utoipa_axum::{router::OpenApiRouter, routes};
//!
//! #[derive(serde::Deserialize, utoipa::ToSchema)]
//! #[serde(deny_unknown_fields)]
//! struct CreateNote { text: String }
//!
//! /// Creates a note.
//! #[utoipa::path(post, path = "/notes", request_body = CreateNote, responses((status = 201)))]
//! async fn create(State(table): State<Arc<MemoryTable>>, Json(body): Json<CreateNote>)
//!     -> ApiResult<axum::http::StatusCode> {
//!     let mut fields = Fields::new();
//!     let text = fields.check("text", if body.text.is_empty() { Err("empty") } else { Ok(body.text) });
//!     let text = fields.finish(text)?; // 422 naming `text`
//!     let item = json!({"pk": format!("NOTE#{text}"), "version": 1}).as_object().cloned().unwrap();
//!     match ItemTable::put(&*table, item, Condition::NotExists).await {
//!         Ok(()) => Ok(axum::http::StatusCode::CREATED),
//!         Err(StoreError::ConditionFailed { .. }) => Err(Problem::conflict("that note exists")),
//!         Err(other) => Err(other.into()), // 503 when the store is down
//!     }
//! }
//!
//! let region: kit::Region = "us-east-1".parse().unwrap();
//! let table = MemoryTable::new("notes", region.clone());
//! let api = OpenApiRouter::new().routes(routes!(create)).with_state(table.clone());
//! let info = ServiceInfo { name: "notes", version: "0.1.0", region };
//! let app: axum::Router = kit::http::service_router(info, table, api);
//! // main: kit::telemetry::init("notes"); kit::serve::run(app, args.listen).await
//! ```

pub mod dynamo;
pub mod extract;
pub mod gateway_only;
pub mod http;
pub mod memory;
pub mod problem;
pub mod serve;
pub mod store;
pub mod telemetry;
pub mod validate;

pub use problem::{FieldError, Problem};
pub use topology::Region;

/// The result of a handler or a domain operation seen from HTTP: errors are problems.
pub type ApiResult<T> = Result<T, Problem>;

/// Who is answering: reported by `GET /`, `GET /health` and the `x-region` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// The app's name, e.g. `users`.
    pub name: &'static str,
    /// The build's version, usually `env!("CARGO_PKG_VERSION")`.
    pub version: &'static str,
    /// The Region this instance serves.
    pub region: Region,
}
