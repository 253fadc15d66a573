//! The orders service: place an order (its total computed, status `pending`), read it, list
//! a user's orders through the `by-user` index, and cancel a pending order.
//!
//! Layout, as in every service: [`domain`] (types valid by construction, the order's state
//! machine, and by their serde derives the stored record), [`store`] (the orders in the
//! table, over the kit's one port, `kit::store::ItemTable`, DynamoDB or memory: every rule a
//! write condition), [`api`] (request/response bodies and handlers), and this file, which
//! describes the service ([`SERVICE`]). `main.rs` only calls the kit.

pub mod api;
pub mod domain;
pub mod store;

use std::sync::Arc;

use axum::Router;
use kit::store::ItemTable;
use kit::{IndexSpec, Region, Service};

/// The orders service, as the binaries, Lambda and the local world see it.
pub const SERVICE: Service = Service {
    name: "orders",
    version: env!("CARGO_PKG_VERSION"),
    indexes: &[IndexSpec {
        name: "by-user",
        partition_key: store::USER_ID,
        sort_key: Some("id"),
    }],
    router,
};

/// The whole service over `table`, answering as `region`: the orders routes inside the
/// kit's shared surface (`/`, `/health`, `/openapi.json`, `/docs`, headers, limits).
pub fn router(table: Arc<dyn ItemTable>, region: Region) -> Router {
    let routes = api::routes(store::Store::new(table.clone()), region.clone());
    kit::http::service_router_with_problems(SERVICE.info(region), table, routes, api::PROBLEMS)
}
