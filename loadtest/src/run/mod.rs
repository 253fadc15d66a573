//! A run: one open-loop scheduler per app (`schedule`), one task per request (`request`), the
//! consistency read-back when that scenario runs, and the live view (`live`) and report
//! (`collect`) built from what they recorded.
//!
//! Scenarios other than the probe start by reading each service's OpenAPI document
//! ([`crate::discover`]); each app's schedule begins once that is done.

mod collect;
mod live;
mod request;
mod schedule;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use resolver::Resolver;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use topology::manifest::Manifest;

use crate::client::{Client, Tls};
use crate::config::{RunConfig, Scenario};
use crate::discover::Discovery;
use crate::error::ConfigError;
use crate::report::{Mark, Report, secs};
use crate::scenario::Planner;
use crate::stats::{AppStats, RegionTable};
use crate::target::{AppTarget, Scheme};
use crate::tracker::Tracker;

pub use live::{AppLive, LiveSwitch, LiveView};

/// Traffic in progress. Dropping a `Run` without [`Run::stop`] stops its schedulers but
/// produces no report.
pub struct Run {
    shared: Arc<Shared>,
    stop_tx: watch::Sender<bool>,
    ready: watch::Receiver<bool>,
    schedulers: Vec<JoinHandle<()>>,
    checker: Option<JoinHandle<()>>,
}

struct Shared {
    config: RunConfig,
    start: Instant,
    started_unix_ms: u64,
    apps: Vec<AppState>,
    regions: RegionTable,
    client: Client,
    /// Set once the services' documents are read (at once for the probe).
    planner: OnceLock<Planner>,
    /// When the schedules began: the start, or the end of discovery.
    origin: OnceLock<Instant>,
    tracker: Option<Tracker>,
    marks: Mutex<Vec<Mark>>,
    dns_server: Option<SocketAddr>,
    /// Set by [`Run::stop`]: no backlogged request starts any more.
    stopping: AtomicBool,
}

struct AppState {
    target: AppTarget,
    /// Requests sent (started); those not completed yet are in flight.
    sent: AtomicU64,
    stats: Mutex<AppStats>,
    slots: Arc<Semaphore>,
    /// Due times of requests that found every slot taken, oldest first: the next free slot
    /// takes the oldest (counted late), or counts it not sent once its time is past.
    backlog: Mutex<VecDeque<Instant>>,
}

impl AppState {
    fn stats(&self) -> MutexGuard<'_, AppStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn backlog(&self) -> MutexGuard<'_, VecDeque<Instant>> {
        self.backlog.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The oldest backlogged due time still within the request timeout; older ones are
    /// counted as not sent.
    fn pop_backlog(&self, timeout: Duration) -> Option<Instant> {
        let now = Instant::now();
        let mut expired = 0;
        let next = {
            let mut backlog = self.backlog();
            loop {
                match backlog.pop_front() {
                    Some(due) if due + timeout < now => expired += 1,
                    other => break other,
                }
            }
        };
        if expired > 0 {
            self.stats().not_sent += expired;
        }
        next
    }
}

impl Run {
    /// Starts traffic to the manifest's apps. Must be called inside a Tokio runtime; returns
    /// at once, the traffic runs on spawned tasks.
    pub fn start(manifest: &Manifest, config: RunConfig) -> Result<Run, ConfigError> {
        config.check()?;
        tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let targets = targets(manifest, &config)?;
        let resolver = Resolver::new(manifest.dns_server)?;
        let tls = tls(manifest, &config, &targets)?;
        let client = Client::new(
            resolver,
            config.connection_reuse,
            config.max_connection_age,
            tls,
        )
        .with_bearer_token(config.bearer_token.as_ref());
        let start = Instant::now();
        let apps = targets
            .iter()
            .cloned()
            .map(|target| AppState {
                sent: AtomicU64::new(0),
                stats: Mutex::new(AppStats::new()),
                slots: Arc::new(Semaphore::new(config.max_in_flight)),
                backlog: Mutex::new(VecDeque::new()),
                target,
            })
            .collect();
        let shared = Arc::new(Shared {
            tracker: (config.scenario == Scenario::Consistency).then(|| Tracker::new(start)),
            planner: OnceLock::new(),
            origin: OnceLock::new(),
            regions: RegionTable::new(manifest.regions.both().into_iter().cloned()),
            started_unix_ms: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            dns_server: manifest.dns_server,
            marks: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            config,
            start,
            apps,
            client,
        });
        let (ready_tx, ready) = watch::channel(false);
        let discovery = {
            let (shared, manifest) = (shared.clone(), manifest.clone());
            async move {
                let planner = Discovery {
                    manifest: &manifest,
                    targets: &targets,
                    client: &shared.client,
                    timeout: shared.config.request_timeout,
                }
                .planner(shared.config.scenario)
                .await;
                let _ = shared.planner.set(planner);
                let _ = shared.origin.set(Instant::now());
                let _ = ready_tx.send(true);
            }
        };
        if shared.config.scenario == Scenario::Probe {
            // Nothing to read first: the schedule starts with the run.
            let _ = shared.origin.set(start);
        }
        tokio::spawn(discovery);
        let (stop_tx, stop_rx) = watch::channel(false);
        let schedulers = (0..shared.apps.len())
            .map(|i| {
                tokio::spawn(schedule::schedule(
                    shared.clone(),
                    i,
                    ready.clone(),
                    stop_rx.clone(),
                ))
            })
            .collect();
        let checker = shared.tracker.is_some().then(|| {
            let shared = shared.clone();
            tokio::spawn(async move {
                if let Some(tracker) = &shared.tracker {
                    let c = &shared.config;
                    tracker
                        .run(
                            &shared.client,
                            c.read_back_interval,
                            c.request_timeout,
                            c.consistency_grace,
                            stop_rx,
                        )
                        .await;
                }
            })
        });
        Ok(Run {
            shared,
            stop_tx,
            ready,
            schedulers,
            checker,
        })
    }

    /// Marks an event on the timeline, e.g. `shift orders -> us-west-2`.
    pub fn mark(&self, label: impl Into<String>) {
        let at = secs(self.shared.start.elapsed());
        let mut marks = self.shared.marks.lock().unwrap_or_else(|e| e.into_inner());
        marks.push(Mark {
            at_seconds: at,
            label: label.into(),
        });
    }

    /// Time since traffic started.
    pub fn elapsed(&self) -> Duration {
        self.shared.start.elapsed()
    }

    /// Whether the schedule has ended (a run with a duration ends on its own).
    pub fn schedule_finished(&self) -> bool {
        self.schedulers.iter().all(JoinHandle::is_finished)
    }

    /// Waits until the services' documents are read and each app's schedule has begun (at
    /// once for the probe).
    pub async fn ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// Waits for the run's duration to pass (at once if it has none), then stops it.
    pub async fn wait(self) -> Report {
        if let Some(d) = self.shared.config.duration {
            self.ready().await;
            let origin = self.shared.origin.get().copied();
            let origin = origin.unwrap_or(self.shared.start);
            tokio::time::sleep_until((origin + d).into()).await;
        }
        self.stop().await
    }

    /// Stops sending, waits for requests in flight (up to `stop_grace`; each is bounded by
    /// the request timeout) and, in the consistency scenario, for the read-back grace period;
    /// then reports. Requests still waiting for a slot are counted not sent, those still in
    /// flight `in_flight_at_end`.
    pub async fn stop(mut self) -> Report {
        let stopped = Instant::now();
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = self.stop_tx.send(true);
        for scheduler in self.schedulers.drain(..) {
            let _ = scheduler.await;
        }
        // Scheduled time: from the schedules' start (after discovery) to the stop.
        let scheduled = self
            .shared
            .origin
            .get()
            .map_or(Duration::ZERO, |o| stopped.saturating_duration_since(*o));
        let traffic = match self.shared.config.duration {
            Some(d) => d.min(scheduled),
            None => scheduled,
        };
        self.drain().await;
        if let Some(checker) = self.checker.take() {
            let _ = checker.await;
        }
        self.report(traffic)
    }

    async fn drain(&self) {
        let c = &self.shared.config;
        let permits = u32::try_from(c.max_in_flight).unwrap_or(u32::MAX);
        let all_back = async {
            for app in &self.shared.apps {
                let _ = app.slots.acquire_many(permits).await;
            }
        };
        if tokio::time::timeout(c.stop_grace, all_back).await.is_err() {
            tracing::warn!(
                "requests still in flight {:?} after the stop; counted as in flight at the end",
                c.stop_grace
            );
        }
        for app in &self.shared.apps {
            let left = std::mem::take(&mut *app.backlog());
            app.stats().not_sent += left.len() as u64;
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.stop_tx.send(true);
    }
}

/// The targets of the configured apps (every app of the manifest when none is named).
/// The apps to load: those named, else every app a client can reach (on AWS a service with
/// gateway-only access admits only the `api` gateway's client certificate: its traffic goes
/// through `api`).
fn targets(manifest: &Manifest, config: &RunConfig) -> Result<Vec<AppTarget>, ConfigError> {
    let entries: Vec<_> = if config.apps.is_empty() {
        manifest
            .apps
            .iter()
            .filter(|a| !a.client_certificate_required)
            .collect()
    } else {
        config
            .apps
            .iter()
            .map(|name| {
                manifest.app(name).ok_or_else(|| {
                    let known: Vec<&str> = manifest.apps.iter().map(|a| a.name.as_str()).collect();
                    ConfigError::UnknownApp(name.clone(), known.join(", "))
                })
            })
            .collect::<Result<_, _>>()?
    };
    if let Some(closed) = entries.iter().find(|a| a.client_certificate_required) {
        return Err(ConfigError::Invalid(format!(
            "`{}` admits only the api gateway's client certificate (gateway-only access): load \
             it through the gateway's app instead",
            closed.name
        )));
    }
    if entries.is_empty() {
        return Err(ConfigError::Invalid("the manifest lists no apps".into()));
    }
    let targets = entries
        .into_iter()
        .map(|entry| AppTarget::from_entry(manifest, entry))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(targets)
}

/// TLS settings when some URL is `https` (AWS, or a local world's services that admit only
/// certified callers), else none.
fn tls(
    manifest: &Manifest,
    config: &RunConfig,
    targets: &[AppTarget],
) -> Result<Option<Tls>, ConfigError> {
    let https = targets.iter().any(|t| {
        t.base.scheme == Scheme::Https || t.regional.iter().any(|(_, b)| b.scheme == Scheme::Https)
    });
    // With a trusted client certificate, a gateway's plan reads its services' documents
    // over TLS even when only the gateway is loaded.
    if !https && manifest.trusted_client.is_none() {
        return Ok(None);
    }
    Tls::trusting(
        &config.extra_root_certificates,
        manifest.trusted_client.as_ref(),
    )
    .map(Some)
}
