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

/// The orders table: its name and the `by-user` index (partition `user_id`, sort `id`) that
/// `GET /orders` queries.
pub fn table_spec() -> topology::Table {
    topology::Table {
        name: NAME.to_owned(),
        indexes: vec![topology::Index {
            name: "by-user".to_owned(),
            partition_key: "user_id".to_owned(),
            sort_key: Some("id".to_owned()),
        }],
    }
}

/// The orders service, as the local world and the binaries see it.
pub const SERVICE: kit::Service = kit::Service {
    name: NAME,
    version: env!("CARGO_PKG_VERSION"),
    indexes: &[kit::IndexSpec {
        name: "by-user",
        partition_key: "user_id",
        sort_key: Some("id"),
    }],
    router: |table, region| router(Arc::new(OrderTable::new(table)), region),
};
