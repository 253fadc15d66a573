//! What every service shares: Region identity, RFC 9457 errors, JSON extraction with proper
//! rejections, field validation, the item-store port with its in-memory and DynamoDB adapters,
//! the common HTTP surface (`/`, `/health`, `/openapi.json`, `/docs`, `x-region`,
//! `x-request-id`, body limit) and one entry point that serves locally or under Lambda.
//!
//! A service crate adds only its domain types, its store port and its handlers; see
//! `services/users` for the reference layout.

pub mod dynamo;
pub mod extract;
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
