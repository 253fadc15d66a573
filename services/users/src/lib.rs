//! The users service (DESIGN §4): `POST /users`, `GET /users/{id}`, `GET /users`,
//! `PATCH /users/{id}` (with `If-Match`) and `DELETE /users/{id}`, with unique emails.
//!
//! Layout, the model for every service: [`domain`] (types parsed at the edge), [`store`]
//! (the port and its adapter over the kit's item store, memory or DynamoDB), `api` (the
//! handlers), and the two entry points below, which `main.rs` and the local world call.

mod api;
pub mod domain;
pub mod store;

use std::sync::Arc;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use kit::ServiceInfo;
use kit::memory::MemoryTable;
use topology::{Region, Table};

pub use api::{CreateUser, UpdateUser, UserBody, UserList};
pub use store::{DynamoUserStore, ItemUserStore, MemoryUserStore, UserStore, UserStoreError};

/// The app's name, as in `topology.toml`.
pub const NAME: &str = "users";

/// The whole service on `store`, answering as `region`.
pub fn router(store: Arc<dyn UserStore>, region: Region) -> Router {
    let info = ServiceInfo {
        name: NAME,
        version: env!("CARGO_PKG_VERSION"),
        region: region.clone(),
    };
    let health = store.clone();
    let state = api::AppState { store, region };
    let api = OpenApiRouter::new()
        .routes(routes!(api::create_user, api::list_users))
        .routes(routes!(api::get_user, api::update_user, api::delete_user))
        .with_state(state);
    kit::http::service_router(info, health, api)
}

/// The whole service on an in-memory table (the local world's and tests' set-up).
pub fn local_router(region: Region, table: Arc<MemoryTable>) -> Router {
    router(
        Arc::new(MemoryUserStore::new(table, region.clone())),
        region,
    )
}

/// The service's DynamoDB table: no index, users are read by key or scanned.
pub fn table() -> Table {
    Table {
        name: NAME.to_owned(),
        indexes: Vec::new(),
    }
}

/// The users service, as the local world and the binaries see it.
pub const SERVICE: kit::Service = kit::Service {
    name: NAME,
    version: env!("CARGO_PKG_VERSION"),
    indexes: &[],
    router: |table, region| router(Arc::new(ItemUserStore::new(table, region.clone())), region),
};
