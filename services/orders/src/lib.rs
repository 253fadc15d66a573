//! The orders service: place an order (its total computed, status `pending`), read it, list
//! a user's orders through the `by-user` index, and cancel a pending order.
//!
//! Layout, as in every service: [`domain`] (types valid by construction and the order's
//! state machine), [`store`] (the [`store::OrderStore`] port and its adapter over the kit's
//! item table, DynamoDB or memory), [`api`] (request/response bodies and handlers), and
//! this file, which describes the service ([`SERVICE`]). `main.rs` only calls the kit.

pub mod api;
pub mod domain;
pub mod store;

use std::sync::Arc;

use axum::Router;
use kit::store::{HealthCheck, ItemTable};
use kit::{IndexSpec, Region, Service};

pub use store::{OrderStore, OrderTable};

/// The orders service, as the binaries, Lambda and the local world see it.
pub const SERVICE: Service = Service {
    name: "orders",
    version: env!("CARGO_PKG_VERSION"),
    indexes: &[IndexSpec {
        name: "by-user",
        partition_key: store::USER_ID,
        sort_key: Some("id"),
    }],
    router: |table: Arc<dyn ItemTable>, region| router(Arc::new(OrderTable::new(table)), region),
};

/// The whole service over `store`, answering as `region`: the orders routes inside the
/// kit's shared surface (`/`, `/health`, `/openapi.json`, `/docs`, headers, limits).
pub fn router(store: Arc<dyn OrderStore>, region: Region) -> Router {
    let health: Arc<dyn HealthCheck> = store.clone();
    kit::http::service_router_with_problems(
        SERVICE.info(region.clone()),
        health,
        api::routes(store, region),
        api::PROBLEMS,
    )
}
