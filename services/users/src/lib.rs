//! The users service: `POST /users`, `GET /users/{id}`, `GET /users`, `PATCH /users/{id}`
//! (with `If-Match`) and `DELETE /users/{id}`, with unique emails.
//!
//! Layout, as in every service: [`domain`] (types parsed at the edge, and by their serde
//! derives the stored record), [`store`] (the users in the table, over the kit's one port,
//! `kit::store::ItemTable`, DynamoDB or memory: every rule a write condition), [`api`]
//! (request/response bodies and handlers), and this file, which describes the service
//! ([`SERVICE`]). `main.rs` only calls the kit.

pub mod api;
pub mod domain;
pub mod store;

use std::sync::Arc;

use axum::Router;
use kit::store::ItemTable;
use kit::{Region, Service};

/// The users service, as the binaries, Lambda and the local world see it. Its table has no
/// index: listings scan the `USER#` items.
pub const SERVICE: Service = Service {
    name: "users",
    version: env!("CARGO_PKG_VERSION"),
    indexes: &[],
    router,
};

/// The whole service over `table`, answering as `region`: the users routes inside the
/// kit's shared surface (`/`, `/health`, `/openapi.json`, `/docs`, headers, limits).
pub fn router(table: Arc<dyn ItemTable>, region: Region) -> Router {
    let store = store::Store::new(table.clone(), region.clone());
    let routes = api::routes(store, region.clone());
    kit::http::service_router_with_problems(SERVICE.info(region), table, routes, api::PROBLEMS)
}
