//! Global tables in the local world: every write to one Region's table reaches the other
//! Region's table asynchronously, after a configurable lag, last writer wins — as DynamoDB
//! global tables replicate through their streams.
//!
//! One link per table and direction reads the source table's change feed into a queue; the
//! link applies each change once it is `lag` old. The lag can change at run time (the control
//! API raises it to show the consistency window), and each link's backlog (how many changes
//! wait, and since when) is observable.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kit::memory::{Change, MemoryTable};
use serde::Serialize;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use topology::Region;

/// How often a waiting link looks again at the lag, so a lowered lag takes effect promptly.
const LAG_RECHECK: Duration = Duration::from_millis(25);

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
    /// Changes the link missed because it fell more than the feed's capacity behind.
    pub lost: u64,
}

/// The whole replication state, as the control API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReplicationStatus {
    pub lag_ms: u64,
    pub pending: usize,
    pub oldest_ms: Option<u64>,
    pub links: Vec<LinkBacklog>,
}

struct Queue {
    changes: Mutex<VecDeque<(Instant, Change)>>,
    arrived: Notify,
    lost: AtomicU64,
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
    lag_ms: Arc<AtomicU64>,
    links: Vec<Link>,
}

impl Replicator {
    /// Starts replicating both ways between each pair of the same table in two Regions.
    pub fn start(pairs: &[(Arc<MemoryTable>, Arc<MemoryTable>)], lag: Duration) -> Self {
        let lag_ms = Arc::new(AtomicU64::new(millis(lag)));
        let links = pairs
            .iter()
            .flat_map(|(a, b)| [(a, b), (b, a)])
            .map(|(from, to)| Link::start(from.clone(), to.clone(), lag_ms.clone()))
            .collect();
        Self { lag_ms, links }
    }

    /// The replication lag now.
    pub fn lag(&self) -> Duration {
        Duration::from_millis(self.lag_ms.load(Ordering::Relaxed))
    }

    /// Changes the lag; pending changes are applied by the new lag.
    pub fn set_lag(&self, lag: Duration) {
        self.lag_ms.store(millis(lag), Ordering::Relaxed);
    }

    /// The backlog of every link and in total.
    pub fn status(&self) -> ReplicationStatus {
        let links: Vec<LinkBacklog> = self.links.iter().map(Link::backlog).collect();
        ReplicationStatus {
            lag_ms: self.lag_ms.load(Ordering::Relaxed),
            pending: links.iter().map(|l| l.pending).sum(),
            oldest_ms: links.iter().filter_map(|l| l.oldest_ms).max(),
            links,
        }
    }

    /// Waits until no change is pending, or `timeout` passes; returns whether it drained.
    pub async fn drained(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.status().pending == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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
    fn start(from: Arc<MemoryTable>, to: Arc<MemoryTable>, lag_ms: Arc<AtomicU64>) -> Self {
        let queue = Arc::new(Queue {
            changes: Mutex::new(VecDeque::new()),
            arrived: Notify::new(),
            lost: AtomicU64::new(0),
        });
        let receiver = tokio::spawn(receive(from.subscribe(), queue.clone()));
        let applier = tokio::spawn(apply(to.clone(), queue.clone(), lag_ms));
        Self {
            table: from.name().to_owned(),
            from: from.region().clone(),
            to: to.region().clone(),
            queue,
            tasks: [receiver, applier],
        }
    }

    fn backlog(&self) -> LinkBacklog {
        let changes = self.queue.changes.lock().unwrap_or_else(|e| e.into_inner());
        LinkBacklog {
            table: self.table.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            pending: changes.len(),
            oldest_ms: changes.front().map(|(at, _)| millis(at.elapsed())),
            lost: self.queue.lost.load(Ordering::Relaxed),
        }
    }
}

async fn receive(mut feed: broadcast::Receiver<Change>, queue: Arc<Queue>) {
    loop {
        match feed.recv().await {
            Ok(change) => {
                queue
                    .changes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_back((Instant::now(), change));
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

async fn apply(to: Arc<MemoryTable>, queue: Arc<Queue>, lag_ms: Arc<AtomicU64>) {
    loop {
        let front = queue
            .changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .front()
            .map(|(at, _)| *at);
        let Some(received) = front else {
            queue.arrived.notified().await;
            continue;
        };
        let due = received + Duration::from_millis(lag_ms.load(Ordering::Relaxed));
        let now = Instant::now();
        // A replica that is down keeps its changes waiting, as a global table's replica
        // catches up after an outage.
        if now < due || !to.is_available() {
            let wait = due
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(1), LAG_RECHECK);
            tokio::time::sleep(wait).await;
            continue;
        }
        let change = queue
            .changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
            .map(|(_, c)| c);
        if let Some(change) = change {
            to.apply_replicated(&change);
        }
    }
}
