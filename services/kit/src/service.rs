//! The service descriptor: what a service is, for everything outside its crate.

use std::sync::Arc;

use axum::Router;

use crate::Region;
use crate::store::ItemTable;

/// What a service is: everything the local world, the binaries and Lambda need. Each service
/// crate exports one (`SERVICE`); nothing outside the crate matches on its name.
pub struct Service {
    /// The app's name in topology.toml, e.g. `orders`.
    pub name: &'static str,
    /// The crate's version, `env!("CARGO_PKG_VERSION")`.
    pub version: &'static str,
    /// The secondary indexes of its table that it queries (the partition key is always `pk`).
    pub indexes: &'static [IndexSpec],
    /// The whole service (the kit's shared surface included) over its table, answering as
    /// `region`.
    pub router: fn(Arc<dyn ItemTable>, Region) -> Router,
}

/// A global secondary index a service queries (string keys, all attributes projected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: Option<&'static str>,
}
