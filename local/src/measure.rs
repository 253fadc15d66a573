//! The drill's measurements on a running world, each feeding one of [`crate::verdict`]'s
//! expectations. Tests run them on deliberately broken worlds to see the verdicts fail.

use std::time::{Duration, Instant};

use anyhow::Context;
use failover::GateReport;
use loadtest::{ConsistencyReport, Report, Run, RunConfig, Scenario};
use local_cloudwatch::Timestamp;
use topology::{AppName, Mechanism, Region};

use crate::World;
use crate::moves::Mover;
use crate::replication::ReplicationStatus;

/// How a consistency run writes.
#[derive(Debug, Clone, Copy)]
pub struct Writes {
    /// Writes per second per service.
    pub rate_per_service: u32,
    pub duration: Duration,
    /// The replication lag during the run (raised to widen the consistency window).
    pub lag: Duration,
}

/// What a consistency run wrote and how replication ended.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteCheck {
    /// Where the writes went (where DNS pointed the services when they were sent).
    pub region: Region,
    /// Writes due in the run: completed, plus never sent.
    pub sent: u64,
    /// Writes that failed or were never sent.
    pub failed: u64,
    /// Of those, writes the client gave up on after its request timeout: their outcome is
    /// unknown to it (an overloaded machine), so they are explained, not acknowledged.
    pub timed_out: u64,
    /// One example message per kind of failure.
    pub failure_samples: Vec<String>,
    pub consistency: ConsistencyReport,
    /// Whether the backlog drained (nothing pending, nothing lost) within its time.
    pub drained: bool,
    pub replication: ReplicationStatus,
}

impl WriteCheck {
    /// From a consistency run's report.
    pub fn from_report(
        region: Region,
        report: &Report,
        drained: bool,
        replication: ReplicationStatus,
    ) -> Self {
        let (sent, failed, timed_out) = report.apps.iter().fold((0, 0, 0), |(s, f, t), a| {
            (
                s + a.requests + a.not_sent,
                f + a.errors.total + a.not_sent,
                t + a.errors.timeout,
            )
        });
        let failure_samples = report
            .apps
            .iter()
            .flat_map(|a| {
                a.error_samples
                    .iter()
                    .map(move |(kind, message)| format!("{} {kind}: {message}", a.app))
            })
            .collect();
        Self {
            region,
            sent,
            failed,
            timed_out,
            failure_samples,
            consistency: report.consistency().clone(),
            drained,
            replication,
        }
    }
}

/// How the DNS answer moved after a move's call (a routing-control change, or a flag).
#[derive(Debug, Clone, PartialEq)]
pub struct Propagation {
    /// Whether the first answer after the change was still the old one.
    pub first_answer_old: bool,
    /// Whether a health check could have seen the change before that first answer (then the
    /// new answer is legitimate at once): one ran after the change (ARC), or after the end of
    /// the flag's alarm period (`health-check`).
    pub checked_in_between: bool,
    /// From the change to the new answer; `None` if it never moved.
    pub moved_after: Option<Duration>,
    /// The longest propagation may take: a health-check interval, plus an alarm period with
    /// the `health-check` mechanism.
    pub interval: Duration,
    pub mechanism: Mechanism,
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
    mover: &Mover,
    app: &AppName,
    to: &Region,
) -> anyhow::Result<Propagation> {
    let dns = world.dns();
    let interval = crate::demo::propagation_bound(world);
    let called = Instant::now();
    let called_at = Timestamp::now();
    mover
        .shift(std::slice::from_ref(app), to)
        .await
        .with_context(|| format!("the shift of {app} to {to} was refused"))?;
    let answered = |dns: &crate::dns::DnsServer| dns.answer(app).map(|a| a.region);
    let first_answer_old = answered(dns).as_ref() != Some(to);
    let checked_in_between = match world.mechanism() {
        Mechanism::Arc => dns.last_health_check() > called,
        Mechanism::HealthCheck => flag_checked_since(world, app, called_at),
    };
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
        mechanism: world.mechanism(),
    })
}

/// Whether one of `app`'s flag health checks evaluated after the end of the alarm period
/// holding `called`: the first moment a flag published at `called` can show in DNS.
fn flag_checked_since(world: &World, app: &AppName, called: Timestamp) -> bool {
    let monitoring = world.monitoring();
    let period = monitoring
        .clock()
        .period(world.topology().failover.health_check.alarm_period_seconds);
    let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX).max(1);
    let boundary = called.floor_to(period_ms).plus_millis(period_ms);
    let Some(checkers) = monitoring.health_checks() else {
        return false;
    };
    monitoring.flags_of(app).iter().any(|flag| {
        checkers
            .status(&flag.health_check)
            .and_then(|s| s.last_checked)
            .is_some_and(|checked| checked >= boundary)
    })
}

/// What the replication gate said while the target's replica was held behind, then once it
/// caught up.
#[derive(Debug, Clone, PartialEq)]
pub struct GateTrial {
    pub app: AppName,
    pub to: Region,
    pub max_lag: Duration,
    /// The refusal while behind (`failover`'s message) and the lag it read, in ms.
    pub refused: Option<(String, u64)>,
    /// The lag the gate read once replication caught up, when it allowed the move.
    pub allowed_lag_ms: Option<u64>,
    /// The writes made while replication was held, read back from both Regions.
    pub writes_intact: bool,
}

/// Holds replication into `to` behind (the lag raised to three times `max_lag`) while
/// `app` takes writes in the other Region, and asks `failover`'s replication gate about a
/// move of `app` to `to`: refused while behind; then the lag returns to normal and the gate
/// is asked again until it allows the move.
pub async fn replication_gate(
    world: &World,
    app: &AppName,
    to: &Region,
    max_lag: Duration,
) -> anyhow::Result<GateTrial> {
    let manifest = world.manifest();
    let from = manifest
        .regions
        .other(to)
        .context("the target is not a Region of the world")?
        .clone();
    let gate = failover::gate::GateConfig {
        max_lag,
        ..failover::gate::GateConfig::default()
    };
    let replicator = world.replicator();
    let normal = replicator.lag();
    let held = max_lag * 3;
    replicator.set_lag(held);
    let mut config = loadtest::consistency::CheckConfig::new(app.clone(), from, 3);
    config.last_writer_wins = false;
    config.replication_deadline = held + Duration::from_secs(5);
    let writes = {
        let manifest = manifest.clone();
        tokio::spawn(async move { loadtest::consistency::check(&manifest, &config).await })
    };
    let apps = std::slice::from_ref(app);
    let gate = &gate;
    let ask = |until: fn(&GateReport) -> bool, within: Duration| async move {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let report = failover::gate::read(manifest, apps, to, gate).await?;
            if until(&report) {
                return Ok(Some(report));
            }
        }
        Ok::<_, failover::FailoverError>(None)
    };
    let lag = |report: &GateReport| report.readings.iter().filter_map(|r| r.lag_ms).max();
    let refused = ask(|r| r.refusal().is_some(), held).await;
    // Back to normal whatever the gate said, so a failed reading leaves no held replication.
    replicator.set_lag(normal);
    let refused = refused?.and_then(|report| {
        let message = report.refusal()?.to_string();
        Some((message, lag(&report).unwrap_or(0)))
    });
    let allowed_lag_ms = ask(|r| r.refusal().is_none(), held + Duration::from_secs(2))
        .await?
        .map(|report| lag(&report).unwrap_or(0));
    let writes_intact = matches!(writes.await, Ok(Ok(check)) if check.passed());
    Ok(GateTrial {
        app: app.clone(),
        to: to.clone(),
        max_lag,
        refused,
        allowed_lag_ms,
        writes_intact,
    })
}

/// Conflicts so far on the links of `app`'s table (see `LinkBacklog::conflicts`).
pub fn conflicts(world: &World, app: &AppName) -> u64 {
    let Some(service) = world.topology().service(app) else {
        return 0;
    };
    world
        .replicator()
        .status()
        .links
        .iter()
        .filter(|l| l.table == service.table().name())
        .map(|l| l.conflicts)
        .sum()
}
