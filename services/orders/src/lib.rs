//! The orders service (DESIGN §4): place an order (its total computed, status `pending`),
//! read it, list a user's orders through the `by-user` index, and cancel a pending order.
//!
//! Layout, as in every service: [`domain`] (types valid by construction and the order's
//! state machine), [`store`] (the [`store::OrderStore`] port and its adapter over the kit's
//! item table, DynamoDB or memory), [`api`] (request/response bodies and handlers), and
//! this file, which wires them into a Router. `main.rs` only parses flags and serves.

pub mod api;
pub mod domain;
pub mod store;

use std::sync::Arc;

use axum::Router;
use kit::memory::MemoryTable;
use kit::store::HealthCheck;
use kit::{Region, ServiceInfo};

pub use store::{OrderStore, OrderTable};

/// The app's name, as in topology.toml.
pub const NAME: &str = "orders";

/// The whole service over `store`, answering as `region`: the orders routes inside the
/// kit's shared surface (`/`, `/health`, `/openapi.json`, `/docs`, headers, limits).
pub fn router(store: Arc<dyn OrderStore>, region: Region) -> Router {
    let info = ServiceInfo {
        name: NAME,
        version: env!("CARGO_PKG_VERSION"),
        region: region.clone(),
    };
    let health: Arc<dyn HealthCheck> = store.clone();
    kit::http::service_router(info, health, api::routes(store, region))
}

/// The service over an in-memory table (the local world, tests, benchmarks).
pub fn local_router(region: Region, table: Arc<MemoryTable>) -> Router {
    router(Arc::new(OrderTable::new(table)), region)
}

/// The orders table as topology.toml (compiled in) describes it: its name and the
/// `by-user` index (partition `user_id`, sort `id`) that `GET /orders` queries.
pub fn table_spec() -> topology::Table {
    let name: topology::AppName = NAME.parse().expect("`orders` is an app name");
    topology::Topology::example()
        .app(&name)
        .and_then(|app| app.table.clone())
        .expect("topology.toml describes the orders table")
}
