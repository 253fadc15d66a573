//! A run: one open-loop scheduler per app, one task per request, the consistency read-back
//! when that scenario runs, and the live view and report built from what they recorded.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use topology::{AppName, Region, manifest::Manifest};

use crate::client::{Client, ErrorKind, Tls};
use crate::config::{ConfigError, RunConfig, Scenario};
use crate::consistency::{ReadTarget, Tracker};
use crate::report::{
    AppReport, ErrorCounts, Latency, Mark, REPORT_SCHEMA_VERSION, Report, Second, Settings, Switch,
    secs,
};
use crate::resolve::Resolver;
use crate::scenario::{Planner, Role, Service, created_id};
use crate::stats::{AppStats, Outcome, RegionTable};
use crate::target::{AppTarget, Scheme};

/// Traffic in progress. Dropping a `Run` without [`Run::stop`] stops its schedulers but
/// produces no report.
pub struct Run {
    shared: Arc<Shared>,
    stop_tx: watch::Sender<bool>,
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
    planner: Planner,
    tracker: Option<Tracker>,
    marks: Mutex<Vec<Mark>>,
    dns_server: Option<SocketAddr>,
}

struct AppState {
    target: AppTarget,
    role: Role,
    stats: Mutex<AppStats>,
    slots: Arc<Semaphore>,
    /// Due times of requests that found every slot taken, oldest first: the next free slot
    /// takes the oldest (counted late), or counts it not sent once its time is past.
    backlog: Mutex<VecDeque<Instant>>,
    /// Per service: where the consistency scenario reads a write made through this app.
    read_targets: [Vec<ReadTarget>; 3],
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

/// What the traffic looks like right now, per app.
#[derive(Debug, Clone)]
pub struct LiveView {
    /// Time since the run started.
    pub elapsed: Duration,
    pub apps: Vec<AppLive>,
}

impl LiveView {
    /// The live state of `app`.
    pub fn app(&self, app: &AppName) -> Option<&AppLive> {
        self.apps.iter().find(|a| a.app == *app)
    }
}

/// One app's live state.
#[derive(Debug, Clone)]
pub struct AppLive {
    pub app: AppName,
    /// The Region every successful response of the last `live_window` came from; `None` while
    /// responses come from both Regions, or none succeed.
    pub current_region: Option<Region>,
    /// The Region of the latest successful response.
    pub last_region: Option<Region>,
    /// Every Region that answered successfully in the last `live_window`: two while the
    /// traffic is mixed, none while nothing succeeds.
    pub recent_regions: Vec<Region>,
    /// Requests completed in the last full second.
    pub rate: u64,
    pub requests: u64,
    pub errors: u64,
    pub late: u64,
    pub not_sent: u64,
    /// Responses over kept-alive connections to an address DNS no longer answers.
    pub stale_connection_responses: u64,
    /// Completed Region switches so far.
    pub switches: usize,
    /// The latest completed switch.
    pub last_switch: Option<LiveSwitch>,
}

/// A completed Region switch, as the live view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSwitch {
    /// The first response from `to`, since the run's start.
    pub at: Duration,
    pub from: Region,
    pub to: Region,
}

impl Run {
    /// Starts traffic to the manifest's apps. Must be called inside a Tokio runtime; returns
    /// at once, the traffic runs on spawned tasks.
    pub fn start(manifest: &Manifest, config: RunConfig) -> Result<Run, ConfigError> {
        config.check()?;
        tokio::runtime::Handle::try_current().map_err(|_| ConfigError::NoRuntime)?;
        let targets = targets(manifest, &config)?;
        let resolver = Resolver::new(manifest.dns_server)?;
        let tls = tls(&config, &targets)?;
        let client = Client::new(
            resolver,
            config.connection_reuse,
            config.max_connection_age,
            tls,
        );
        let start = Instant::now();
        let apps = targets
            .into_iter()
            .map(|target| AppState {
                role: Role::of(&target.app),
                read_targets: read_targets(manifest, &target),
                stats: Mutex::new(AppStats::new()),
                slots: Arc::new(Semaphore::new(config.max_in_flight)),
                backlog: Mutex::new(VecDeque::new()),
                target,
            })
            .collect();
        let shared = Arc::new(Shared {
            tracker: (config.scenario == Scenario::Consistency).then(|| Tracker::new(start)),
            planner: Planner::new(config.scenario),
            regions: RegionTable::new(manifest.regions.both().into_iter().cloned()),
            started_unix_ms: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            dns_server: manifest.dns_server,
            marks: Mutex::new(Vec::new()),
            config,
            start,
            apps,
            client,
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let schedulers = (0..shared.apps.len())
            .map(|i| tokio::spawn(schedule(shared.clone(), i, stop_rx.clone())))
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

    /// What the traffic looks like now.
    pub fn live(&self) -> LiveView {
        let now = self.shared.start.elapsed();
        let window = self.shared.config.live_window;
        let name = |i: Option<usize>| i.and_then(|i| self.shared.regions.get(i));
        let apps = self
            .shared
            .apps
            .iter()
            .map(|a| {
                let s = a.stats();
                AppLive {
                    app: a.target.app.clone(),
                    current_region: name(s.current_region(now, window)),
                    last_region: name(s.last_region),
                    recent_regions: s
                        .recent_regions(now, window)
                        .into_iter()
                        .filter_map(|i| self.shared.regions.get(i))
                        .collect(),
                    rate: s.recent_rate(now),
                    requests: s.requests,
                    errors: s.error_total(),
                    late: s.late,
                    not_sent: s.not_sent,
                    stale_connection_responses: s.stale_connection,
                    switches: s.switches.done.len(),
                    last_switch: s.switches.done.last().and_then(|w| {
                        Some(LiveSwitch {
                            at: w.at,
                            from: name(Some(w.from))?,
                            to: name(Some(w.to))?,
                        })
                    }),
                }
            })
            .collect();
        LiveView { elapsed: now, apps }
    }

    /// Whether the schedule has ended (a run with a duration ends on its own).
    pub fn schedule_finished(&self) -> bool {
        self.schedulers.iter().all(JoinHandle::is_finished)
    }

    /// Waits for the run's duration to pass (at once if it has none), then stops it.
    pub async fn wait(self) -> Report {
        if let Some(d) = self.shared.config.duration {
            tokio::time::sleep_until((self.shared.start + d).into()).await;
        }
        self.stop().await
    }

    /// Stops sending, waits for requests in flight (each bounded by the request timeout) and,
    /// in the consistency scenario, for the read-back grace period; then reports.
    pub async fn stop(mut self) -> Report {
        let stopped = self.shared.start.elapsed();
        let _ = self.stop_tx.send(true);
        for scheduler in self.schedulers.drain(..) {
            let _ = scheduler.await;
        }
        let traffic = match self.shared.config.duration {
            Some(d) => d.min(stopped),
            None => stopped,
        };
        self.drain().await;
        if let Some(checker) = self.checker.take() {
            let _ = checker.await;
        }
        self.report(traffic)
    }

    async fn drain(&self) {
        let c = &self.shared.config;
        let limit = c.request_timeout * 2 + Duration::from_secs(1);
        let permits = u32::try_from(c.max_in_flight).unwrap_or(u32::MAX);
        let all_back = async {
            for app in &self.shared.apps {
                let _ = app.slots.acquire_many(permits).await;
            }
        };
        if tokio::time::timeout(limit, all_back).await.is_err() {
            tracing::warn!("requests still in flight after {limit:?}; reporting without them");
        }
        for app in &self.shared.apps {
            let left = std::mem::take(&mut *app.backlog());
            app.stats().not_sent += left.len() as u64;
        }
    }

    fn report(&self, traffic: Duration) -> Report {
        let s = &self.shared;
        let c = &s.config;
        let apps = s
            .apps
            .iter()
            .map(|a| app_report(a, &s.regions, c))
            .collect();
        Report {
            schema_version: REPORT_SCHEMA_VERSION,
            scenario: c.scenario,
            started_at_unix_ms: s.started_unix_ms,
            duration_seconds: secs(traffic),
            settings: Settings {
                rate_per_app: c.rate_per_app,
                max_in_flight: c.max_in_flight,
                request_timeout_seconds: secs(c.request_timeout),
                max_connection_age_seconds: secs(c.max_connection_age),
                connection_reuse: c.connection_reuse,
                live_window_seconds: secs(c.live_window),
                dns_server: s.dns_server.map(|a| a.to_string()),
            },
            regions: s.regions.all(),
            connections_opened: s.client.connections_opened(),
            apps,
            marks: s.marks.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            consistency: s
                .tracker
                .as_ref()
                .map(|t| t.report(&s.regions))
                .unwrap_or_default(),
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.stop_tx.send(true);
    }
}

/// The targets of the configured apps (every app of the manifest when none is named).
fn targets(manifest: &Manifest, config: &RunConfig) -> Result<Vec<AppTarget>, ConfigError> {
    let entries: Vec<_> = if config.apps.is_empty() {
        manifest.apps.iter().collect()
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
    if entries.is_empty() {
        return Err(ConfigError::Invalid("the manifest lists no apps".into()));
    }
    let targets = entries
        .into_iter()
        .map(AppTarget::from_entry)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(targets)
}

/// TLS settings when some URL is `https` (AWS), else none: the local world is plain HTTP.
fn tls(config: &RunConfig, targets: &[AppTarget]) -> Result<Option<Tls>, ConfigError> {
    let https = targets.iter().any(|t| {
        t.base.scheme == Scheme::Https || t.regional.iter().any(|(_, b)| b.scheme == Scheme::Https)
    });
    if !https {
        return Ok(None);
    }
    let pems = config
        .extra_root_certificates
        .iter()
        .map(|path| {
            std::fs::read(path).map_err(|reason| ConfigError::CaFile {
                path: path.display().to_string(),
                reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Tls::new(&pems).map(Some).map_err(ConfigError::Tls)
}

/// Where writes of each service made through `target` are read back: the app's own URL
/// (whichever Region serves it), plus each Region's direct URL of the service's app.
fn read_targets(manifest: &Manifest, target: &AppTarget) -> [Vec<ReadTarget>; 3] {
    let regions: Vec<&Region> = manifest.regions.both().into();
    Service::ALL.map(|service| {
        let mut list = vec![ReadTarget {
            region: None,
            base: target.base.clone(),
        }];
        let owner = manifest
            .apps
            .iter()
            .find(|a| a.name.as_str() == service.app_name())
            .and_then(|entry| AppTarget::from_entry(entry).ok());
        if let Some(owner) = owner {
            for (region, base) in owner.regional {
                let index = regions.iter().position(|r| **r == region);
                list.push(ReadTarget {
                    region: index,
                    base,
                });
            }
        }
        list
    })
}

/// The open-loop schedule of one app: request `k` is due at `start + k / rate`, whatever
/// happened to earlier requests. The task wakes at most once per timer tick and dispatches
/// every request due by then, so high rates do not need a timer per request.
async fn schedule(shared: Arc<Shared>, app: usize, mut stop: watch::Receiver<bool>) {
    let c = &shared.config;
    let rate = u128::from(c.rate_per_app.max(1));
    let end = c.duration.map(|d| shared.start + d);
    // Exact: k / rate seconds, so a run of d seconds has exactly rate × d requests.
    let due_at = |k: u64| {
        let nanos = u128::from(k) * 1_000_000_000 / rate;
        shared.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    };
    let mut k: u64 = 0;
    loop {
        let next = due_at(k);
        if end.is_some_and(|e| next >= e) || *stop.borrow() {
            break;
        }
        if next > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(next.into()) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        let now = Instant::now();
        let mut batch = Batch {
            // Older requests first: while some wait, new ones queue behind them.
            queueing: !start_backlogged(&shared, app),
            ..Batch::default()
        };
        while due_at(k) <= now && end.is_none_or(|e| due_at(k) < e) {
            dispatch(&shared, app, due_at(k), &mut batch);
            k += 1;
        }
        batch.flush(&shared, app);
    }
}

/// Starts backlogged requests while slots are free; whether the backlog is now empty.
fn start_backlogged(shared: &Arc<Shared>, app: usize) -> bool {
    let a = &shared.apps[app];
    loop {
        if a.backlog().is_empty() {
            return true;
        }
        let Ok(permit) = a.slots.clone().try_acquire_owned() else {
            return false;
        };
        match a.pop_backlog(shared.config.request_timeout) {
            Some(due) => {
                tokio::spawn(serve(shared.clone(), app, due, true, permit));
            }
            None => return true,
        }
    }
}

/// Counts of one scheduler wake-up, recorded under one lock rather than one per request.
#[derive(Default)]
struct Batch {
    /// (second of the run, requests due in it)
    due: Vec<(Duration, u64)>,
    /// Due times that found no free slot.
    backlog: Vec<Instant>,
    /// Requests are waiting already: new ones go behind them.
    queueing: bool,
}

impl Batch {
    fn due(&mut self, at: Duration) {
        match self.due.last_mut() {
            Some((second, n)) if second.as_secs() == at.as_secs() => *n += 1,
            _ => self.due.push((at, 1)),
        }
    }

    fn flush(self, shared: &Shared, app: usize) {
        let a = &shared.apps[app];
        if !self.backlog.is_empty() {
            a.backlog().extend(self.backlog);
        }
        if !self.due.is_empty() {
            let mut stats = a.stats();
            for (at, n) in self.due {
                stats.record_due(at, n);
            }
        }
    }
}

fn dispatch(shared: &Arc<Shared>, app: usize, due: Instant, batch: &mut Batch) {
    batch.due(due - shared.start);
    if !batch.queueing {
        if let Ok(permit) = shared.apps[app].slots.clone().try_acquire_owned() {
            tokio::spawn(serve(shared.clone(), app, due, false, permit));
            return;
        }
        batch.queueing = true;
    }
    batch.backlog.push(due);
}

/// Holds one in-flight slot: sends the request due at `due`, then the oldest backlogged ones
/// until the backlog is empty. Under overload this is a worker loop with no task spawn per
/// request; otherwise it sends one request and ends.
async fn serve(
    shared: Arc<Shared>,
    app: usize,
    due: Instant,
    late: bool,
    permit: OwnedSemaphorePermit,
) {
    let mut next = Some((due, late));
    while let Some((due, late)) = next {
        request(&shared, app, due, late).await;
        next = shared.apps[app]
            .pop_backlog(shared.config.request_timeout)
            .map(|due| (due, true));
    }
    drop(permit);
}

async fn request(shared: &Shared, app: usize, due: Instant, late: bool) {
    let a = &shared.apps[app];
    let c = &shared.config;
    let planned = shared.planner.plan(a.role);
    let sent = tokio::time::timeout(
        c.request_timeout,
        shared.client.send(&a.target.base, &planned.out),
    )
    .await;
    let now = shared.start.elapsed();
    let due = due - shared.start;
    match sent {
        Ok(Ok(response)) => {
            let region = response
                .region
                .as_ref()
                .and_then(|v| shared.regions.index(v));
            let outcome = Outcome::Response {
                status: response.status,
                region,
                stale: response.stale,
            };
            let mut stats = a.stats();
            stats.late += u64::from(late);
            stats.record(due, now, outcome, c.live_window);
            drop(stats);
            if let (true, Some(service)) = (response.status.is_success(), planned.write)
                && let Some(id) = created_id(&response.body)
            {
                if let Some(tracker) = &shared.tracker {
                    let targets = a.read_targets[service as usize].clone();
                    tracker.acknowledged(&a.target.app, service, &id, region, targets);
                }
                shared.planner.remember(service, id);
            }
        }
        Ok(Err(error)) => {
            let outcome = Outcome::Failed {
                kind: error.kind,
                detail: &error.detail,
            };
            let mut stats = a.stats();
            stats.late += u64::from(late);
            stats.record(due, now, outcome, c.live_window);
        }
        Err(_) => {
            let detail = format!("no complete response within {:?}", c.request_timeout);
            let outcome = Outcome::Failed {
                kind: ErrorKind::Timeout,
                detail: &detail,
            };
            let mut stats = a.stats();
            stats.late += u64::from(late);
            stats.record(due, now, outcome, c.live_window);
        }
    }
}

fn app_report(app: &AppState, regions: &RegionTable, config: &RunConfig) -> AppReport {
    let s = app.stats();
    let region_name = |i: usize| {
        regions
            .get(i)
            .map_or_else(|| format!("#{i}"), |r| r.to_string())
    };
    let by_region = |counts: &[u64]| -> BTreeMap<String, u64> {
        counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (region_name(i), *n))
            .collect()
    };
    let mut switches = s.switches.clone();
    switches.finish();
    let h = &s.latency_us;
    let ms = |us: u64| (us as f64 / 10.0).round() / 100.0;
    let latency = if h.is_empty() {
        Latency::default()
    } else {
        Latency {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            mean: (h.mean() / 10.0).round() / 100.0,
        }
    };
    let _ = config;
    AppReport {
        app: app.target.app.clone(),
        url: app.target.url.clone(),
        requests: s.requests,
        successes: s.successes,
        late: s.late,
        not_sent: s.not_sent,
        errors: ErrorCounts::from_array(s.errors),
        error_samples: s
            .sample_errors
            .iter()
            .map(|(k, d)| (k.as_str().to_owned(), d.clone()))
            .collect(),
        latency_ms: latency,
        responses_by_region: by_region(&s.by_region),
        unattributed: s.unattributed,
        stale_connection_responses: s.stale_connection,
        switches: switches
            .done
            .iter()
            .filter_map(|w| {
                Some(Switch {
                    at_seconds: secs(w.at),
                    from: regions.get(w.from)?,
                    to: regions.get(w.to)?,
                    mixed_window_seconds: secs(w.mixed_window),
                })
            })
            .collect(),
        flaps: switches.flaps,
        seconds: s
            .seconds
            .iter()
            .enumerate()
            .map(|(i, b)| Second {
                second: i as u64,
                sent: b.sent,
                completed: b.completed,
                by_region: by_region(&b.by_region),
                errors: b.errors,
            })
            .collect(),
    }
}
