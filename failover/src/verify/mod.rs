//! After a shift: has traffic really moved? Four stages, each timed from the call, each
//! started once the one before it passed (so each stage's time is at most the next's):
//!
//! 1. **quorum**: the new states read back from at least [`QUORUM`] cluster endpoints, each
//!    asked on its own (what ARC has committed, not what one endpoint says);
//! 2. **authoritative**: the app's hostname, asked of the zone's own servers (the manifest's
//!    `dns_server` locally, its `name_servers` on AWS), answers with the target Region's address;
//! 3. **recursive**: a caching resolver, warmed before the shift, answers so too (what clients
//!    see: it waits out the TTL of the old answer). It asks the system's name servers on AWS,
//!    locally the same local server; `--resolver` names another server;
//! 4. **http**: `GET /` to the address that resolver gave answers with the target Region's
//!    `x-region` (else the body's `region`).
//!
//! A stage that does not pass before the time is up fails, naming what it saw last (a wrong
//! answer, or a resolver that did not answer); the later stages are not reached.
//!
//! Every lookup goes through the workspace's one resolver (the `resolver` crate): caching for
//! stage 3, as the clients' resolvers do, uncached for stage 2. The results are
//! [`crate::verified`]'s types.

mod expected;
mod http;
mod lookup;
mod prepare;
mod run;

use tokio::time::Instant;
use topology::manifest::Manifest;
use topology::{AppName, Region};

use crate::client::Client;
use crate::verified::{StageName, Verified, VerifyError};
pub use prepare::{Prepared, VerifyConfig, prepare};
pub use run::QUORUM;
use run::Run;

/// Verifies `app` after a shift to `region` made at `since`: all four stages.
pub async fn verify_shift(
    client: &Client,
    prepared: &Prepared,
    region: &Region,
    since: Instant,
    config: &VerifyConfig,
) -> Result<Verified, VerifyError> {
    let mut run = Run::new(prepared, region, since, config);
    run.quorum(client).await?;
    run.traffic(client.manifest()).await
}

/// Verifies traffic for `app` (stages 2 to 4; stage 1 is skipped: no cluster is asked),
/// timed from now.
pub async fn verify(
    manifest: &Manifest,
    app: &AppName,
    region: &Region,
    config: &VerifyConfig,
) -> Result<Verified, VerifyError> {
    let since = Instant::now();
    let prepared = prepare(manifest, app, config).await?;
    let mut run = Run::new(&prepared, region, since, config);
    run.skip(StageName::Quorum, "no cluster asked".into());
    run.traffic(manifest).await
}

/// Verifies several apps at once after one shift; one result per app, in order.
pub async fn verify_all(
    client: &Client,
    prepared: &[Prepared],
    region: &Region,
    since: Instant,
    config: &VerifyConfig,
) -> Vec<Result<Verified, VerifyError>> {
    futures::future::join_all(
        prepared
            .iter()
            .map(|p| verify_shift(client, p, region, since, config)),
    )
    .await
}
