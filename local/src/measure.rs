//! The drill's measurements on a running world, each feeding one of [`crate::verdict`]'s
//! expectations. Tests run them on deliberately broken worlds to see the verdicts fail.

use std::time::{Duration, Instant};

use anyhow::Context;
use failover::{Client, ShiftOptions};
use loadtest::{Run, RunConfig, Scenario};
use topology::{AppName, Region};

use crate::World;
use crate::verdict::{Propagation, WriteCheck};

/// How a consistency run writes.
#[derive(Debug, Clone, Copy)]
pub struct Writes {
    /// Writes per second per service.
    pub rate_per_service: u32,
    pub duration: Duration,
    /// The replication lag during the run (raised to widen the consistency window).
    pub lag: Duration,
}

/// Writes to every service through its subdomain (so in the Region DNS answers now,
/// `region`), reads each write back from both Regions, then waits for replication to drain.
pub async fn writes(world: &World, region: Region, writes: Writes) -> anyhow::Result<WriteCheck> {
    let replicator = world.replicator();
    let normal = replicator.lag();
    replicator.set_lag(writes.lag);
    let config = RunConfig {
        apps: world
            .topology()
            .services()
            .map(|a| a.name().clone())
            .collect(),
        rate_per_app: writes.rate_per_service,
        duration: Some(writes.duration),
        scenario: Scenario::Consistency,
        ..RunConfig::default()
    };
    let run =
        Run::start(world.manifest(), config).context("cannot start the consistency scenario")?;
    tokio::time::sleep(writes.duration).await;
    let drained = replicator
        .drained(writes.lag * 4 + Duration::from_secs(2))
        .await;
    let report = run.stop().await;
    replicator.set_lag(normal);
    Ok(WriteCheck::from_report(
        region,
        &report,
        drained,
        replicator.status(),
    ))
}

/// Shifts `app` to `to` and watches its DNS answer from the moment the call returns: was the
/// first answer still the old one, and when did the new one appear.
pub async fn shift_propagation(
    world: &World,
    client: &Client,
    app: &AppName,
    to: &Region,
) -> anyhow::Result<Propagation> {
    let dns = world.dns();
    let interval = world.topology().local.health_check_interval();
    let called = Instant::now();
    client
        .shift(std::slice::from_ref(app), to, ShiftOptions::default())
        .await
        .with_context(|| format!("the shift of {app} to {to} was refused"))?;
    let answered = |dns: &crate::dns::DnsServer| dns.answer(app).map(|a| a.region);
    let first_answer_old = answered(dns).as_ref() != Some(to);
    let checked_in_between = dns.last_health_check() > called;
    let returned = Instant::now();
    let mut moved_after = None;
    while returned.elapsed() < interval * 3 + Duration::from_secs(1) {
        if answered(dns).as_ref() == Some(to) {
            moved_after = Some(returned.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(Propagation {
        first_answer_old,
        checked_in_between,
        moved_after,
        interval,
    })
}
