//! The open-loop schedule of each app, and the slots that bound requests in flight.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, watch};

use super::Shared;
use super::request::request;

/// The open-loop schedule of one app: request `k` is due at `origin + k / rate`, whatever
/// happened to earlier requests. The task wakes at most once per timer tick and dispatches
/// every request due by then, so high rates do not need a timer per request. The schedule
/// begins (`origin`) once the run is ready: its documents read.
pub(super) async fn schedule(
    shared: Arc<Shared>,
    app: usize,
    mut ready: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    tokio::select! {
        r = ready.wait_for(|r| *r) => if r.is_err() { return },
        _ = stop.wait_for(|s| *s) => return,
    }
    let Some(&origin) = shared.origin.get() else {
        return;
    };
    let c = &shared.config;
    let rate = u128::from(c.rate_per_app.max(1));
    let end = c.duration.map(|d| origin + d);
    // Exact: k / rate seconds, so a run of d seconds has exactly rate × d requests.
    let due_at = |k: u64| {
        let nanos = u128::from(k) * 1_000_000_000 / rate;
        origin + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
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
        if shared.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            // What is still backlogged was never sent: the stop counts it.
            break;
        }
        next = shared.apps[app]
            .pop_backlog(shared.config.request_timeout)
            .map(|due| (due, true));
    }
    drop(permit);
}
