//! Global tables in the local world: every write to one Region's table reaches the other
//! Region's table asynchronously, after a configurable lag, last writer wins — as DynamoDB
//! global tables replicate through their streams.
//!
//! One link per table and direction reads the source table's change feed into a queue; the
//! link applies each change once it is `lag` old. The lag can change at run time (the control
//! API raises it to show the consistency window), and each link's backlog (how many changes
//! wait, and since when) is observable.
//!
//! A change leaves the queue only once the replica has taken it: while the replica is down the
//! link retries, as a global table's replica catches up after an outage. A change that waited
//! longer than the retention (a DynamoDB stream keeps records 24 hours), or that the link
//! missed because it fell behind the feed, is counted as lost, and [`Replicator::drained`]
//! never reports a world with a lost change as drained.
//!
//! Each link also records how long each change took to reach its replica, which the local
//! CloudWatch publishes as DynamoDB's `ReplicationLatency` ([`LatencyFeed`]).
//!
//! Each link also counts conflicts: a change applied while the replica's own change to the
//! same item is still on its way back, so both Regions wrote the item within one replication
//! window and one of the writes is silently replaced (last writer wins). DynamoDB does not
//! report these; the local world does, so the drill can show that write fencing avoids them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kit::memory::{Change, MemoryTable};
use serde::Serialize;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use topology::Region;

/// How often a waiting link looks again at the lag (so a lowered lag takes effect promptly)
/// and retries a replica that is down.
const LAG_RECHECK: Duration = Duration::from_millis(25);

/// How long a change waits for a replica that is down before it is lost: a DynamoDB stream's
/// retention.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// The backlog of one link (one table, one direction).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LinkBacklog {
    pub table: String,
    #[schema(value_type = String)]
    pub from: Region,
    #[schema(value_type = String)]
    pub to: Region,
    /// Changes received from the source and not yet applied to the replica.
    pub pending: usize,
    /// How long the oldest pending change has waited, in milliseconds.
    pub oldest_ms: Option<u64>,
    /// Changes that never reached the replica: missed because the link fell more than the
    /// feed's capacity behind, or given up after waiting longer than the retention.
    pub lost: u64,
    /// Changes applied while the replica's own change to the same item was still pending the
    /// other way: the item was written in both Regions within one replication window.
    pub conflicts: u64,
    /// Whether the link is severed (a fault: it discards what it receives, uncounted).
    pub severed: bool,
}

/// The whole replication state, as the control API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReplicationStatus {
    pub lag_ms: u64,
    pub pending: usize,
    pub oldest_ms: Option<u64>,
    /// Changes lost on every link so far.
    pub lost: u64,
    /// Conflicts on every link so far (see [`LinkBacklog::conflicts`]).
    pub conflicts: u64,
    pub links: Vec<LinkBacklog>,
}

/// The most applied changes' latencies a link keeps until they are read.
const MAX_LATENCIES: usize = 10_000;

struct Queue {
    changes: Mutex<VecDeque<(Instant, Change)>>,
    arrived: Notify,
    lost: AtomicU64,
    conflicts: AtomicU64,
    severed: AtomicBool,
    /// How long each change applied since the last read took to reach the replica, in ms.
    latencies: Mutex<Vec<f64>>,
}

impl Queue {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            changes: Mutex::new(VecDeque::new()),
            arrived: Notify::new(),
            lost: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
            severed: AtomicBool::new(false),
            latencies: Mutex::new(Vec::new()),
        })
    }

    /// Whether a change to `pk` waits in this queue.
    fn holds(&self, pk: &str) -> bool {
        self.lock().iter().any(|(_, change)| change.pk == pk)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Instant, Change)>> {
        self.changes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What every link shares: the lag and the retention, both changeable at run time.
struct Timing {
    lag_ms: AtomicU64,
    retention_ms: AtomicU64,
}

struct Link {
    table: String,
    from: Region,
    to: Region,
    queue: Arc<Queue>,
    tasks: [JoinHandle<()>; 2],
}

/// Replication between the two Regions' tables.
pub struct Replicator {
    timing: Arc<Timing>,
    links: Vec<Link>,
}

impl Replicator {
    /// Starts replicating both ways between each pair of the same table in two Regions.
    pub fn start(pairs: &[(Arc<MemoryTable>, Arc<MemoryTable>)], lag: Duration) -> Self {
        let timing = Arc::new(Timing {
            lag_ms: AtomicU64::new(millis(lag)),
            retention_ms: AtomicU64::new(millis(DEFAULT_RETENTION)),
        });
        let links = pairs
            .iter()
            .flat_map(|(a, b)| {
                let (there, back) = (Queue::new(), Queue::new());
                [
                    Link::start(a.clone(), b.clone(), there.clone(), back.clone(), &timing),
                    Link::start(b.clone(), a.clone(), back, there, &timing),
                ]
            })
            .collect();
        Self { timing, links }
    }

    /// The replication lag now.
    pub fn lag(&self) -> Duration {
        Duration::from_millis(self.timing.lag_ms.load(Ordering::Relaxed))
    }

    /// Changes the lag; pending changes are applied by the new lag.
    pub fn set_lag(&self, lag: Duration) {
        self.timing.lag_ms.store(millis(lag), Ordering::Relaxed);
    }

    /// How long a change waits for a replica that is down before it is counted as lost
    /// (default [`DEFAULT_RETENTION`]).
    pub fn set_retention(&self, retention: Duration) {
        self.timing
            .retention_ms
            .store(millis(retention), Ordering::Relaxed);
    }

    /// Fault injection: severs (or heals) replication from `from` to `to`, one way, for every
    /// table. A severed link discards what it receives without counting it, like a replica
    /// that silently stopped receiving: only reading the data back can tell.
    pub fn sever(&self, from: &Region, to: &Region, severed: bool) {
        for link in self.links.iter().filter(|l| l.from == *from && l.to == *to) {
            link.queue.severed.store(severed, Ordering::Relaxed);
        }
    }

    /// The backlog of every link and in total.
    pub fn status(&self) -> ReplicationStatus {
        let links: Vec<LinkBacklog> = self.links.iter().map(Link::backlog).collect();
        ReplicationStatus {
            lag_ms: self.timing.lag_ms.load(Ordering::Relaxed),
            pending: links.iter().map(|l| l.pending).sum(),
            oldest_ms: links.iter().filter_map(|l| l.oldest_ms).max(),
            lost: links.iter().map(|l| l.lost).sum(),
            conflicts: links.iter().map(|l| l.conflicts).sum(),
            links,
        }
    }

    /// A handle on every link's latencies, for the publisher of `ReplicationLatency`.
    pub fn latency_feed(&self) -> LatencyFeed {
        LatencyFeed(
            self.links
                .iter()
                .map(|l| LinkQueue {
                    table: l.table.clone(),
                    from: l.from.clone(),
                    to: l.to.clone(),
                    queue: l.queue.clone(),
                })
                .collect(),
        )
    }

    /// Waits until no change is pending, or `timeout` passes; returns whether every change
    /// reached its replica: `false` while a change is pending, and `false` for good once one
    /// is lost.
    pub async fn drained(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status();
            if status.lost > 0 {
                return false;
            }
            if status.pending == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// One link's replication latency since it was last read.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkLatency {
    pub table: String,
    pub from: Region,
    pub to: Region,
    /// In ms: each change applied since the last read, and the age of the oldest change still
    /// waiting (a replica behind or down shows while nothing reaches it).
    pub samples_ms: Vec<f64>,
}

struct LinkQueue {
    table: String,
    from: Region,
    to: Region,
    queue: Arc<Queue>,
}

/// Every link's latencies, shareable with the task that publishes them.
#[derive(Clone)]
pub struct LatencyFeed(Arc<[LinkQueue]>);

impl LatencyFeed {
    /// Each link's latencies since the last call; links with none are left out.
    pub fn take(&self) -> Vec<LinkLatency> {
        self.0
            .iter()
            .filter_map(|l| {
                let mut samples_ms = std::mem::take(
                    &mut *l.queue.latencies.lock().unwrap_or_else(|e| e.into_inner()),
                );
                if let Some((at, _)) = l.queue.lock().front() {
                    samples_ms.push(at.elapsed().as_secs_f64() * 1000.0);
                }
                (!samples_ms.is_empty()).then(|| LinkLatency {
                    table: l.table.clone(),
                    from: l.from.clone(),
                    to: l.to.clone(),
                    samples_ms,
                })
            })
            .collect()
    }
}

impl Drop for Replicator {
    fn drop(&mut self) {
        for link in &self.links {
            for task in &link.tasks {
                task.abort();
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Link {
    /// The link from `from` to `to` through `queue`; `back` is the queue of the opposite link.
    fn start(
        from: Arc<MemoryTable>,
        to: Arc<MemoryTable>,
        queue: Arc<Queue>,
        back: Arc<Queue>,
        timing: &Arc<Timing>,
    ) -> Self {
        let receiver = tokio::spawn(receive(from.subscribe(), queue.clone()));
        let applier = tokio::spawn(apply(to.clone(), queue.clone(), back, timing.clone()));
        Self {
            table: from.name().to_owned(),
            from: from.region().clone(),
            to: to.region().clone(),
            queue,
            tasks: [receiver, applier],
        }
    }

    fn backlog(&self) -> LinkBacklog {
        let changes = self.queue.lock();
        LinkBacklog {
            table: self.table.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            pending: changes.len(),
            oldest_ms: changes.front().map(|(at, _)| millis(at.elapsed())),
            lost: self.queue.lost.load(Ordering::Relaxed),
            conflicts: self.queue.conflicts.load(Ordering::Relaxed),
            severed: self.queue.severed.load(Ordering::Relaxed),
        }
    }
}

async fn receive(mut feed: broadcast::Receiver<Change>, queue: Arc<Queue>) {
    loop {
        match feed.recv().await {
            Ok(_) if queue.severed.load(Ordering::Relaxed) => {}
            Ok(change) => {
                queue.lock().push_back((Instant::now(), change));
                queue.arrived.notify_one();
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "replication fell behind the change feed");
                queue.lost.fetch_add(n, Ordering::Relaxed);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn apply(to: Arc<MemoryTable>, queue: Arc<Queue>, back: Arc<Queue>, timing: Arc<Timing>) {
    loop {
        // Only this task removes changes, so the front stays the front until it is removed.
        let front = queue.lock().front().cloned();
        let Some((received, change)) = front else {
            queue.arrived.notified().await;
            continue;
        };
        let due = received + Duration::from_millis(timing.lag_ms.load(Ordering::Relaxed));
        let now = Instant::now();
        if now < due {
            let wait = (due - now).clamp(Duration::from_millis(1), LAG_RECHECK);
            tokio::time::sleep(wait).await;
            continue;
        }
        match to.apply_replicated(&change) {
            // Applied, or superseded by a newer write: either way the replica has it.
            Ok(_) => {
                if back.holds(&change.pk) {
                    queue.conflicts.fetch_add(1, Ordering::Relaxed);
                }
                queue.lock().pop_front();
                let mut latencies = queue.latencies.lock().unwrap_or_else(|e| e.into_inner());
                if latencies.len() < MAX_LATENCIES {
                    latencies.push(received.elapsed().as_secs_f64() * 1000.0);
                }
            }
            Err(error) => {
                let retention = Duration::from_millis(timing.retention_ms.load(Ordering::Relaxed));
                if received.elapsed() > retention {
                    tracing::warn!(%error, table = %to.name(), pk = %change.pk, "a replicated change waited past the retention and is lost");
                    queue.lock().pop_front();
                    queue.lost.fetch_add(1, Ordering::Relaxed);
                } else {
                    // The replica is down: keep the change and retry, as a global table's
                    // replica catches up after an outage.
                    tokio::time::sleep(LAG_RECHECK).await;
                }
            }
        }
    }
}
