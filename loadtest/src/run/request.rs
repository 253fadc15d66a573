//! One request: planned from the app's operations, sent under the request timeout, recorded,
//! and its answer given back to the planner (created ids, new versions) and the tracker.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::client::ErrorKind;
use crate::stats::Outcome;
use crate::tracker::ReadTarget;

use super::Shared;

pub(super) async fn request(shared: &Shared, app: usize, due: Instant, late: bool) {
    let Some(planner) = shared.planner.get() else {
        // Schedules begin only once the planner is set.
        return;
    };
    let a = &shared.apps[app];
    let c = &shared.config;
    let planned = planner.plan(app);
    a.sent.fetch_add(1, Ordering::Relaxed);
    let sent = tokio::time::timeout(
        c.request_timeout,
        shared.client.send(&a.target.base, &planned.out),
    )
    .await;
    let now = shared.start.elapsed();
    let due = due - shared.start;
    let response = match sent {
        Ok(Ok(response)) => response,
        failed => {
            let (kind, detail) = match failed {
                Ok(Err(error)) => (error.kind, error.detail),
                _ => (
                    ErrorKind::Timeout,
                    format!("no complete response within {:?}", c.request_timeout),
                ),
            };
            let outcome = Outcome::Failed {
                kind,
                detail: &detail,
            };
            let mut stats = a.stats();
            stats.late += u64::from(late);
            stats.record(due, now, outcome, c.live_window);
            drop(stats);
            planner.finish(planned, None);
            return;
        }
    };
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
    let answer = response
        .status
        .is_success()
        .then_some((&response.headers, &response.body[..]));
    let Some(created) = planner.finish(planned, answer) else {
        return;
    };
    if let (Some(tracker), Some(path)) = (&shared.tracker, created.path) {
        let mut targets = vec![ReadTarget {
            region: None,
            expect: None,
            base: a.target.base.clone(),
        }];
        targets.extend(planner.pools[created.pool].regional.iter().cloned());
        tracker.acknowledged(&a.target.app, path, region, targets);
    }
}
