//! A consistency check of one service across both Regions, for drills such as `local-world demo`.
//!
//! Given the manifest and an app, [`check`]:
//! 1. writes N items in a chosen Region, sending each create to that Region's own instance
//!    (the app's Regional URL), never through failover DNS;
//! 2. reads each item back from both Regions' instances until the body carries every field
//!    written and `x-region` names the Region read, within the replication deadline;
//! 3. requires every write acknowledged and every acknowledged write found, or lists each
//!    failure with its reason;
//! 4. probes last-writer-wins: one item updated from both Regions at once (within one
//!    replication window), then reports which write won (by the item's `updated_at` and
//!    `region` as the service returns them) and whether both Regions converged to one item.
//!
//! The operations come from the service's own OpenAPI document, as for the scenarios: no
//! service is known here by name.
//!
//! `config` holds what is asked, `setup` what the first write needs, `probe` the writes and
//! read-backs, `lww` the last-writer-wins probe, `findings` what they found, and `stale` a
//! client that keeps writing to the Region its app leaves.

mod config;
mod findings;
mod lww;
mod probe;
mod setup;
mod stale;

use topology::manifest::Manifest;

pub use config::{CheckConfig, CheckError};
pub use findings::{ConsistencyCheck, Failure, LastWriterWins, LwwWrite, Step};
pub use lww::is_fenced;
use setup::Setup;
pub use stale::{StaleClientConfig, StaleWrites, stale_client_writes};

/// Runs the check. Must be called inside a Tokio runtime.
pub async fn check(
    manifest: &Manifest,
    config: &CheckConfig,
) -> Result<ConsistencyCheck, CheckError> {
    let setup = Setup::new(manifest, config).await?;
    Ok(setup.probe(config).run().await)
}
