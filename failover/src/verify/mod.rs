//! After a shift: has traffic really moved? Stages, each timed from the call, each started once
//! the one before it passed (so each stage's time is at most the next's). First the
//! mechanism's own:
//!
//! - ARC, **quorum**: the new states read back from at least [`QUORUM`] cluster endpoints,
//!   each asked on its own (what ARC has committed, not what one endpoint says);
//! - health-check: **flag read-back** (both flags, each from the Region that holds it),
//!   **alarm** (the flags' alarms, `DescribeAlarms` in each Region) and **health check**
//!   (Route 53's `HealthCheckStatus` metric of both records, in us-east-1), each passing when
//!   Route 53's failover rules applied to what it read answer the target Region;
//!
//! then, for both:
//!
//! - **authoritative**: the app's hostname, asked of the zone's own servers (the manifest's
//!   `dns_server` locally, its `name_servers` on AWS), answers with the target Region's address;
//! - **recursive**: a caching resolver, warmed before the shift, answers so too (what clients
//!   see: it waits out the TTL of the old answer). It asks the system's name servers on AWS,
//!   locally the same local server; `--resolver` names another server;
//! - **http**: `GET /` to the address that resolver gave answers with the target Region's
//!   `x-region` (else the body's `region`).
//!
//! A stage that does not pass before its time is up fails, naming what it saw last (a wrong
//! answer, or a resolver that did not answer); the later stages are not reached. A stage that
//! reads a Region's CloudWatch is *unknown* instead when that Region does not answer (and the
//! other Region's answer does not decide alone), and the next stage goes on: DNS and HTTP are
//! the proof. Each stage's deadline fits the mechanism ([`stage_budget`]).
//!
//! Every lookup goes through the workspace's one resolver (the `resolver` crate): caching for
//! stage 3, as the clients' resolvers do, uncached for stage 2. The results are
//! [`crate::verified`]'s types.

mod expected;
mod flags;
mod http;
mod lookup;
mod prepare;
mod run;

use tokio::time::Instant;
use topology::manifest::Manifest;
use topology::{AppName, Region};

use crate::client::Client;
use crate::plane::{DataPlane, Routing};
use crate::verified::{StageName, Verified, VerifyError};
pub use prepare::{Prepared, VerifyConfig, default_timeout, prepare, stage_budget};
use run::Run;
pub use run::{QUORUM, UNANSWERED_LOOKS};

/// Verifies `app` after a move to `region` made at `since`, over whichever mechanism `plane`
/// drives: every stage.
pub async fn verify_move(
    plane: &DataPlane,
    prepared: &Prepared,
    region: &Region,
    since: Instant,
    config: &VerifyConfig,
) -> Result<Verified, VerifyError> {
    let mut run = Run::new(prepared, region, since, config);
    match plane.routing() {
        Routing::Arc(client) => run.quorum(client).await?,
        Routing::HealthCheck(flags) => run.flags(flags).await?,
    }
    run.traffic(plane.manifest()).await
}

/// Verifies several apps at once after one move; one result per app, in order.
pub async fn verify_moves(
    plane: &DataPlane,
    prepared: &[Prepared],
    region: &Region,
    since: Instant,
    config: &VerifyConfig,
) -> Vec<Result<Verified, VerifyError>> {
    futures::future::join_all(
        prepared
            .iter()
            .map(|p| verify_move(plane, p, region, since, config)),
    )
    .await
}

/// Verifies `app` after an ARC shift to `region` made at `since`: all four stages.
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

/// Verifies traffic for `app` (the DNS and HTTP stages; the mechanism's own are skipped: no
/// data plane is asked), timed from now.
pub async fn verify(
    manifest: &Manifest,
    app: &AppName,
    region: &Region,
    config: &VerifyConfig,
) -> Result<Verified, VerifyError> {
    let since = Instant::now();
    let prepared = prepare(manifest, app, config).await?;
    let mut run = Run::new(&prepared, region, since, config);
    for stage in StageName::of(manifest.mechanism()) {
        if matches!(
            stage,
            StageName::Quorum | StageName::Flags | StageName::Alarm | StageName::HealthCheck
        ) {
            run.skip(*stage, "no data plane asked".into());
        }
    }
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
