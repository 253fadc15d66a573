//! The payments service: take a payment for an order (status `captured`), read
//! it, and refund it (only `captured` → `refunded`). Both writes are idempotent with a
//! required `Idempotency-Key`, enforced by the store in one transaction (see [`store`] and
//! [`api`] for the contract).
//!
//! Layout, as in every service: [`domain`] (types valid by construction, the payment's
//! state machine, idempotency keys and request fingerprints, and by their serde derives the
//! stored records), [`store`] (the payments in the table, over the kit's one port,
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

/// The payments service, as the binaries, Lambda and the local world see it. Its table has
/// no index: payments and idempotency records are read by key only.
pub const SERVICE: Service = Service {
    name: "payments",
    version: env!("CARGO_PKG_VERSION"),
    indexes: &[],
    router,
};

/// The whole service over `table`, answering as `region`: the payments routes inside the
/// kit's shared surface (`/`, `/health`, `/openapi.json`, `/docs`, headers, limits).
pub fn router(table: Arc<dyn ItemTable>, region: Region) -> Router {
    let routes = api::routes(store::Store::new(table.clone()), region.clone());
    kit::http::service_router_with_problems(SERVICE.info(region), table, routes, api::PROBLEMS)
}
