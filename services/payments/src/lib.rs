//! The payments service (DESIGN §4): take a payment for an order (status `captured`), read
//! it, and refund it (only `captured` → `refunded`). Both writes are idempotent with a
//! required `Idempotency-Key`, enforced by the store in one transaction (see [`store`] and
//! [`api`] for the contract).
//!
//! Layout, as in every service: [`domain`] (types valid by construction, the payment's
//! state machine, idempotency keys and request fingerprints), [`store`] (the
//! [`store::PaymentStore`] port and its adapter over the kit's item table, DynamoDB or
//! memory), [`api`] (request/response bodies and handlers), and this file, which wires them
//! into a Router. `main.rs` only parses flags and serves.

pub mod api;
pub mod domain;
pub mod store;

use std::sync::Arc;

use axum::Router;
use kit::memory::MemoryTable;
use kit::store::HealthCheck;
use kit::{Region, ServiceInfo};

pub use store::{PaymentStore, PaymentTable};

/// The app's name, as in topology.toml.
pub const NAME: &str = "payments";

/// The whole service over `store`, answering as `region`: the payments routes inside the
/// kit's shared surface (`/`, `/health`, `/openapi.json`, `/docs`, headers, limits).
pub fn router(store: Arc<dyn PaymentStore>, region: Region) -> Router {
    let info = ServiceInfo {
        name: NAME,
        version: env!("CARGO_PKG_VERSION"),
        region: region.clone(),
    };
    let health: Arc<dyn HealthCheck> = store.clone();
    kit::http::service_router(info, health, api::routes(store, region))
}

/// The service over an in-memory table (the local world, tests).
pub fn local_router(region: Region, table: Arc<MemoryTable>) -> Router {
    router(Arc::new(PaymentTable::new(table)), region)
}

/// The payments table. It has no index: payments and idempotency records are read by key only.
pub fn table_spec() -> topology::Table {
    topology::Table {
        name: NAME.to_owned(),
        indexes: Vec::new(),
    }
}

/// The payments service, as the local world and the binaries see it.
pub const SERVICE: kit::Service = kit::Service {
    name: NAME,
    version: env!("CARGO_PKG_VERSION"),
    indexes: &[],
    router: |table, region| router(Arc::new(PaymentTable::new(table)), region),
};
