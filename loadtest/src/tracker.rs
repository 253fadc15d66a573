//! The consistency scenario's memory: every acknowledged write, read back until each read
//! target has returned it, through the app's own URL (whichever Region serves it then) and
//! directly from each Region when the manifest lists Regional URLs.
//!
//! A write some target never returned by the end of the grace period is reported as pending
//! when another target did return it (it exists in some Region; its copy elsewhere had not
//! arrived, or that Region could not be read), and as lost when no target ever did. The
//! replication delay of a write in a Region other than the one that acknowledged it
//! is the time from the acknowledgement to the first read there that found it; reads repeat
//! every `read_back_interval`, so each delay is an upper bound within that interval plus one
//! read's latency.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use topology::{AppName, Region};

use crate::client::{Client, Outgoing, X_REGION};
use crate::report::{ConsistencyReport, UnfoundWrite, secs};
use crate::stats::RegionTable;
use crate::target::BaseUrl;

/// Where a write is read back from.
#[derive(Debug, Clone)]
pub(crate) struct ReadTarget {
    /// The Region index this target always reaches, or `None` for the app's failover URL.
    pub region: Option<usize>,
    /// That Region's name: a read there counts only when its `x-region` names it.
    pub expect: Option<Region>,
    pub base: BaseUrl,
}

#[derive(Debug)]
struct TrackedWrite {
    app: AppName,
    path: String,
    written_region: Option<usize>,
    acked_at: Duration,
    targets: Vec<ReadTarget>,
    found_at: Vec<Option<Duration>>,
}

impl TrackedWrite {
    fn complete(&self) -> bool {
        self.found_at.iter().all(Option::is_some)
    }

    /// How the report lists it: the read targets that never returned it.
    fn unfound(&self, regions: &RegionTable) -> UnfoundWrite {
        let name = |i: Option<usize>| i.and_then(|i| regions.get(i));
        UnfoundWrite {
            app: self.app.clone(),
            path: self.path.clone(),
            written_region: name(self.written_region),
            acknowledged_at_seconds: secs(self.acked_at),
            missing_from: self
                .targets
                .iter()
                .zip(&self.found_at)
                .filter(|(_, f)| f.is_none())
                .map(|(t, _)| name(t.region).map_or_else(|| "served".to_owned(), |r| r.to_string()))
                .collect(),
        }
    }
}

/// How many pending and lost writes the report lists one by one, each.
const MAX_LISTED: usize = 100;

/// Every acknowledged write of a run and what reading it back found.
pub(crate) struct Tracker {
    start: Instant,
    writes: Mutex<Vec<TrackedWrite>>,
    reads: AtomicU64,
}

/// How many reads run at once, and at most per round, so a slow Region cannot pile them up.
const READ_CONCURRENCY: usize = 32;
const READS_PER_ROUND: usize = 512;

impl Tracker {
    pub(crate) fn new(start: Instant) -> Self {
        Self {
            start,
            writes: Mutex::new(Vec::new()),
            reads: AtomicU64::new(0),
        }
    }

    /// Remembers an acknowledged write, read back at `path`.
    pub(crate) fn acknowledged(
        &self,
        app: &AppName,
        path: String,
        written_region: Option<usize>,
        targets: Vec<ReadTarget>,
    ) {
        let write = TrackedWrite {
            app: app.clone(),
            path,
            written_region,
            acked_at: self.start.elapsed(),
            found_at: vec![None; targets.len()],
            targets,
        };
        self.writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(write);
    }

    /// Whether every acknowledged write has been found by every target.
    pub(crate) fn all_found(&self) -> bool {
        let writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        writes.iter().all(TrackedWrite::complete)
    }

    /// Reads back every write not yet found everywhere, once.
    pub(crate) async fn check_round(&self, client: &Client, timeout: Duration) {
        let due: Vec<(usize, usize, ReadTarget, String)> = {
            let writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
            writes
                .iter()
                .enumerate()
                .flat_map(|(w, write)| {
                    write
                        .found_at
                        .iter()
                        .enumerate()
                        .filter(|(_, f)| f.is_none())
                        .map(move |(t, _)| (w, t, write.targets[t].clone(), write.path.clone()))
                })
                .take(READS_PER_ROUND)
                .collect()
        };
        let found: Vec<(usize, usize, Duration)> = futures::stream::iter(due)
            .map(|(w, t, target, path)| async move {
                let out = Outgoing::get(path);
                let read = tokio::time::timeout(timeout, client.send(&target.base, &out)).await;
                // A Regional URL answered by another Region did not find it there.
                let ok = matches!(read, Ok(Ok(r)) if r.status.is_success()
                && target.expect.as_ref().is_none_or(|region| {
                    r.headers.get(X_REGION).is_some_and(|v| v == region.as_str())
                }));
                ok.then(|| (w, t, self.start.elapsed()))
            })
            .buffer_unordered(READ_CONCURRENCY)
            .filter_map(|x| async move { x })
            .collect()
            .await;
        self.reads.fetch_add(found.len() as u64, Ordering::Relaxed);
        let mut writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        for (w, t, at) in found {
            writes[w].found_at[t].get_or_insert(at);
        }
    }

    /// Reads back until stopped (`stop` turns true), then until every write is found or
    /// `grace` has passed.
    pub(crate) async fn run(
        &self,
        client: &Client,
        interval: Duration,
        timeout: Duration,
        grace: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let stopped = tokio::select! {
                _ = tokio::time::sleep(interval) => false,
                // A bool, not the watch's guard: the guard must not live across an await.
                _ = async { stop.wait_for(|s| *s).await.is_ok() } => true,
            };
            if stopped {
                break;
            }
            self.check_round(client, timeout).await;
        }
        let deadline = Instant::now() + grace;
        while !self.all_found() && Instant::now() < deadline {
            self.check_round(client, timeout).await;
            tokio::time::sleep(interval).await;
        }
    }

    /// The scenario's report: every write not found by every read target is pending (some
    /// target found it) or lost (none did).
    pub(crate) fn report(&self, regions: &RegionTable) -> ConsistencyReport {
        let writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = ConsistencyReport {
            acknowledged: writes.len() as u64,
            reads: self.reads.load(Ordering::Relaxed),
            ..ConsistencyReport::default()
        };
        for write in writes.iter() {
            for (target, found) in write.targets.iter().zip(&write.found_at) {
                let replicated = target.region.is_some() && target.region != write.written_region;
                if let (true, Some(found)) = (replicated, found) {
                    let delay = found.saturating_sub(write.acked_at);
                    report.worst_delay = report.worst_delay.max(Some(delay));
                }
            }
            if write.complete() {
                continue;
            }
            let (count, listed) = if write.found_at.iter().any(Option::is_some) {
                (&mut report.pending, &mut report.pending_writes)
            } else {
                (&mut report.lost, &mut report.lost_writes)
            };
            *count += 1;
            if listed.len() < MAX_LISTED {
                listed.push(write.unfound(regions));
            }
        }
        report.never_found = report.pending + report.lost;
        report
    }
}
