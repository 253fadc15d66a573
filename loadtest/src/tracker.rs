//! The consistency scenario's memory: every acknowledged write, read back until each read
//! target has returned it, through the app's own URL (whichever Region serves it then) and
//! directly from each Region when the manifest lists Regional URLs.
//!
//! A write some target never returned by the end of the grace period is reported as pending
//! when another target did return it (it exists in some Region; its copy elsewhere had not
//! arrived, or that Region could not be read), as lost when every target was read and none
//! returned it, and as unread when none returned it and some target was never read (the
//! read-back fell behind the writes). Each round reads the least-read targets first, so a
//! write that never arrives somewhere does not keep the reads from the ones after it. The
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

/// One read target of a write: when it first returned the write, and how often it was asked.
#[derive(Debug)]
struct Lookup {
    target: ReadTarget,
    found_at: Option<Duration>,
    attempts: u32,
}

#[derive(Debug)]
struct TrackedWrite {
    app: AppName,
    path: String,
    written_region: Option<usize>,
    acked_at: Duration,
    lookups: Vec<Lookup>,
}

impl TrackedWrite {
    fn complete(&self) -> bool {
        self.lookups.iter().all(|l| l.found_at.is_some())
    }

    /// Not found everywhere: pending (some target found it), lost (every target was read and
    /// none found it), or unread (none found it, and some target was never read); `None` when
    /// found everywhere.
    fn outcome(&self) -> Option<Unfound> {
        if self.complete() {
            None
        } else if self.lookups.iter().any(|l| l.found_at.is_some()) {
            Some(Unfound::Pending)
        } else if self.lookups.iter().all(|l| l.attempts > 0) {
            Some(Unfound::Lost)
        } else {
            Some(Unfound::Unread)
        }
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
                .lookups
                .iter()
                .filter(|l| l.found_at.is_none())
                .map(|l| {
                    name(l.target.region).map_or_else(|| "served".to_owned(), |r| r.to_string())
                })
                .collect(),
        }
    }
}

/// How many pending and lost writes the report lists one by one, each.
const MAX_LISTED: usize = 100;

/// What became of a write some target never returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unfound {
    Pending,
    Lost,
    Unread,
}

/// The reads of one round, at most `limit`: the (write, target) pairs not found yet, those read
/// least often first (then oldest first), so every write gets its turn.
fn due_reads(writes: &[TrackedWrite], limit: usize) -> Vec<(usize, usize)> {
    let mut due: Vec<(u32, usize, usize)> = writes
        .iter()
        .enumerate()
        .flat_map(|(w, write)| {
            write
                .lookups
                .iter()
                .enumerate()
                .filter(|(_, l)| l.found_at.is_none())
                .map(move |(t, l)| (l.attempts, w, t))
        })
        .collect();
    // Stable, so equally read pairs keep the writes' order.
    due.sort_by_key(|&(attempts, _, _)| attempts);
    due.into_iter()
        .take(limit)
        .map(|(_, w, t)| (w, t))
        .collect()
}

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
            lookups: targets
                .into_iter()
                .map(|target| Lookup {
                    target,
                    found_at: None,
                    attempts: 0,
                })
                .collect(),
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
            let mut writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
            due_reads(&writes, READS_PER_ROUND)
                .into_iter()
                .map(|(w, t)| {
                    // Counted when chosen: a read that times out was still made.
                    let write = &mut writes[w];
                    let lookup = &mut write.lookups[t];
                    lookup.attempts += 1;
                    (w, t, lookup.target.clone(), write.path.clone())
                })
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
            writes[w].lookups[t].found_at.get_or_insert(at);
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
    /// target found it), lost (every target was read, none found it) or unread.
    pub(crate) fn report(&self, regions: &RegionTable) -> ConsistencyReport {
        let writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        let mut report = ConsistencyReport {
            acknowledged: writes.len() as u64,
            reads: self.reads.load(Ordering::Relaxed),
            ..ConsistencyReport::default()
        };
        for write in writes.iter() {
            for lookup in &write.lookups {
                let region = lookup.target.region;
                let replicated = region.is_some() && region != write.written_region;
                if let (true, Some(found)) = (replicated, lookup.found_at) {
                    let delay = found.saturating_sub(write.acked_at);
                    report.worst_delay = report.worst_delay.max(Some(delay));
                }
            }
            let (count, listed) = match write.outcome() {
                None => continue,
                Some(Unfound::Pending) => (&mut report.pending, Some(&mut report.pending_writes)),
                Some(Unfound::Lost) => (&mut report.lost, Some(&mut report.lost_writes)),
                Some(Unfound::Unread) => (&mut report.unread, None),
            };
            *count += 1;
            if let Some(listed) = listed.filter(|l| l.len() < MAX_LISTED) {
                listed.push(write.unfound(regions));
            }
        }
        report.never_found = report.pending + report.lost + report.unread;
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write to `orders` with a read target per entry of `found`: target `t` found it when
    /// `found[t]`, and was asked `attempts[t]` times.
    fn write(found: &[bool], attempts: &[u32]) -> TrackedWrite {
        let target = ReadTarget {
            region: None,
            expect: None,
            base: BaseUrl::parse("http://127.0.0.1:1").unwrap(),
        };
        TrackedWrite {
            app: "orders".parse().unwrap(),
            path: "/orders/1".to_owned(),
            written_region: Some(0),
            acked_at: Duration::ZERO,
            lookups: found
                .iter()
                .zip(attempts)
                .map(|(&found, &attempts)| Lookup {
                    target: target.clone(),
                    found_at: found.then_some(Duration::ZERO),
                    attempts,
                })
                .collect(),
        }
    }

    #[test]
    fn a_write_is_lost_only_when_every_target_was_read() {
        // (found by each target, reads of each target, outcome)
        let cases: [(&[bool], &[u32], Option<Unfound>); 5] = [
            (&[true, true], &[1, 1], None),
            (&[true, false], &[1, 9], Some(Unfound::Pending)),
            (&[false, false], &[3, 1], Some(Unfound::Lost)),
            (&[false, false], &[3, 0], Some(Unfound::Unread)),
            (&[false, false], &[0, 0], Some(Unfound::Unread)),
        ];
        for (found, reads, outcome) in cases {
            assert_eq!(
                write(found, reads).outcome(),
                outcome,
                "{found:?} {reads:?}"
            );
        }
    }

    #[test]
    fn a_round_reads_the_least_read_first_so_a_write_that_never_arrives_starves_none() {
        // Three early writes whose second target never finds them, read many times already,
        // then two writes not read yet.
        let mut writes: Vec<TrackedWrite> =
            (0..3).map(|_| write(&[true, false], &[1, 7])).collect();
        writes.push(write(&[false, false], &[0, 0]));
        writes.push(write(&[false, true], &[0, 1]));
        assert_eq!(due_reads(&writes, 3), [(3, 0), (3, 1), (4, 0)]);
        // With room for all, the often-read come last, oldest first.
        assert_eq!(
            due_reads(&writes, 10),
            [(3, 0), (3, 1), (4, 0), (0, 1), (1, 1), (2, 1)]
        );
        // Equally read: the writes' order.
        let even: Vec<TrackedWrite> = (0..3).map(|_| write(&[false], &[2])).collect();
        assert_eq!(due_reads(&even, 2), [(0, 0), (1, 0)]);
    }
}
