//! The users service: `POST /users`, `GET /users/{id}`, `GET /users`, `PATCH /users/{id}`
//! (with `If-Match`) and `DELETE /users/{id}`, with unique emails.
//!
//! Layout, as in every service: [`domain`] (types parsed at the edge), [`store`] (the port
//! and its adapter over the kit's item store, memory or DynamoDB), `api` (the handlers), and
//! this file, which describes the service ([`SERVICE`]). `main.rs` only calls the kit.

mod api;
pub mod domain;
pub mod store;

use std::sync::Arc;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kit::store::ItemTable;
use kit::{Region, Service};

pub use api::{CreateUser, UpdateUser, UserBody, UserList};
pub use store::{ItemUserStore, MemoryUserStore, UserStore, UserStoreError};

/// The users service, as the binaries, Lambda and the local world see it. Its table has no
/// index: listings scan the `USER#` items.
pub const SERVICE: Service = Service {
    name: "users",
    version: env!("CARGO_PKG_VERSION"),
    indexes: &[],
    router: |table: Arc<dyn ItemTable>, region: Region| {
        router(Arc::new(ItemUserStore::new(table, region.clone())), region)
    },
};

/// The whole service on `store`, answering as `region`.
pub fn router(store: Arc<dyn UserStore>, region: Region) -> Router {
    let health = store.clone();
    let info = SERVICE.info(region.clone());
    let state = api::AppState { store, region };
    let api = OpenApiRouter::new()
        .routes(routes!(api::create_user, api::list_users))
        .routes(routes!(api::get_user, api::update_user, api::delete_user))
        .with_state(state);
    kit::http::service_router_with_problems(info, health, api, crate::api::PROBLEMS)
}
