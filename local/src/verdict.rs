//! The demo's expectations, each a function of what the drill measured, so that a test can
//! feed it a broken world's measurements and see it fail.

use std::fmt::Write as _;
use std::time::Duration;

use loadtest::consistency::StaleWrites;
use loadtest::{ConsistencyReport, Report};
use serde::Serialize;
use topology::{AppName, Region};

use crate::measure::GateTrial;
use crate::probe::{ProbeSnapshot, Via};
use crate::replication::ReplicationStatus;
use crate::stages::{AppStages, MoveStages};

/// One expectation: what was expected, what was measured, and whether it held.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub name: String,
    pub expected: String,
    pub measured: String,
    pub held: bool,
}

/// The routes' counts for people: `orders /orders 20 sent, 20 answered`, failures with their
/// last reason. Over a window, answers can outnumber requests: some were sent before it.
pub fn routes_text(delta: &ProbeSnapshot) -> String {
    let mut out = String::new();
    for (route, c) in &delta.routes {
        if !out.is_empty() {
            out.push_str("; ");
        }
        let _ = write!(out, "{route}: {} sent, {} answered", c.sent, c.answered);
        if c.in_flight > 0 {
            let _ = write!(out, ", {} in flight", c.in_flight);
        }
        if c.failed > 0 {
            let _ = write!(out, ", {} failed", c.failed);
            if let Some(why) = &c.last_failure {
                let _ = write!(out, " ({why})");
            }
        }
    }
    out
}

/// Every route answered by its service, none failed: the steady state and a settled world.
pub fn every_route_answers(name: &str, delta: &ProbeSnapshot) -> Step {
    let held = !delta.routes.is_empty()
        && delta
            .routes
            .values()
            .all(|c| c.failed == 0 && c.answered > 0);
    Step {
        name: name.to_owned(),
        expected: format!(
            "every service route answered by its service ({} routes: direct and through the gateway), 0 failures",
            delta.routes.len()
        ),
        measured: routes_text(delta),
        held,
    }
}

/// Whether a route serves `app`'s path: the app's own subdomain, or a gateway route whose
/// prefix is `/<app>`, whichever service the gateway sends it to.
fn serves_path_of(route: &crate::probe::ProbeRoute, app: &AppName) -> bool {
    match route.via {
        Via::Direct => route.service == *app,
        Via::Gateway(_) => route.prefix == format!("/{app}"),
    }
}

/// `down` stopped in one Region, nothing shifted: only `/<down>`, direct and through the
/// gateway, fails; every other route still answers, and the apps' own probes (`others`:
/// loadtest errors of every other app) see no error.
pub fn contained(down: &AppName, delta: &ProbeSnapshot, others: u64) -> Step {
    let mut affected_fail = false;
    let mut others_fine = true;
    let mut affected_routes = 0;
    for (route, c) in &delta.routes {
        if serves_path_of(route, down) {
            affected_routes += 1;
            affected_fail |= c.failed > 0;
        } else {
            others_fine &= c.failed == 0 && c.answered > 0;
        }
    }
    Step {
        name: "outage stays contained".into(),
        expected: format!(
            "only /{down} fails (direct and through the gateway, {affected_routes} routes); every other route answers; 0 errors for the other apps"
        ),
        measured: format!("{}; {others} errors for the other apps", routes_text(delta)),
        held: affected_routes > 0 && affected_fail && others_fine && others == 0,
    }
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

/// Every write was acknowledged and is found, from both Regions, once the backlog drained;
/// no change is pending or lost. The one failure it explains is a timeout (the client does
/// not know the outcome), and only for at most 1 write in 20: more means something is wrong.
pub fn no_write_lost(check: &WriteCheck) -> Step {
    let c = &check.consistency;
    let lost: Vec<String> = c
        .lost_writes
        .iter()
        .chain(&c.pending_writes)
        .take(3)
        .map(|w| format!("{} (missing in {})", w.path, w.missing_from.join(", ")))
        .collect();
    let measured = format!(
        "{} writes sent, {} acknowledged, {} failed ({} timed out){}, {} read back, {} never found{}; worst replication delay {}; backlog {} ({} pending, {} lost)",
        check.sent,
        c.acknowledged,
        check.failed,
        check.timed_out,
        if check.failure_samples.is_empty() {
            String::new()
        } else {
            format!(" e.g. {}", check.failure_samples.join("; "))
        },
        c.reads,
        c.never_found,
        if lost.is_empty() {
            String::new()
        } else {
            format!(" e.g. {}", lost.join("; "))
        },
        c.worst_delay
            .map_or_else(|| "-".to_owned(), |d| format!("{} ms", d.as_millis())),
        if check.drained {
            "drained"
        } else {
            "NOT drained"
        },
        check.replication.pending,
        check.replication.lost,
    );
    Step {
        name: format!("no write lost ({})", check.region),
        expected: format!(
            "every write in {} acknowledged (a timeout is explained, at most 1 in 20) and read back from both Regions; nothing pending or lost",
            check.region
        ),
        measured,
        held: check.sent > 0
            && c.acknowledged + check.timed_out == check.sent
            && check.failed == check.timed_out
            && check.timed_out <= check.sent / 20
            && c.never_found == 0
            && check.drained
            && check.replication.lost == 0,
    }
}

/// The replication gate refused a move while the target's replica was behind, and allowed
/// it once replication caught up; the writes made meanwhile were all read back.
pub fn gate_refuses_then_allows(trial: &GateTrial) -> Step {
    let limit = trial.max_lag.as_secs_f64();
    let refused = match &trial.refused {
        Some((message, lag)) => {
            format!(
                "while {:.1} s behind, the gate said \"{message}\"",
                *lag as f64 / 1000.0
            )
        }
        None => "NOT refused while replication was held".into(),
    };
    let allowed = match trial.allowed_lag_ms {
        Some(lag) => format!(
            "allowed once caught up ({:.1} s behind)",
            lag as f64 / 1000.0
        ),
        None => "NOT allowed after replication caught up".into(),
    };
    let writes = if trial.writes_intact {
        "the 3 writes read back from both Regions"
    } else {
        "the writes were NOT all read back from both Regions"
    };
    Step {
        name: format!("replication gate ({})", trial.app),
        expected: format!(
            "a move of {} to {} refused while its replica is more than {limit:.1} s behind, allowed once caught up",
            trial.app, trial.to
        ),
        measured: format!("{refused}; {allowed}; {writes}"),
        held: trial.refused.is_some() && trial.allowed_lag_ms.is_some() && trial.writes_intact,
    }
}

/// A client still holding the old DNS answer wrote through a move of a write-fenced app: the
/// Region left refused its writes, they were retried into the new Region, none was lost and
/// no item was written in both Regions within one replication window.
pub fn fenced_writes_land_once(writes: &StaleWrites, to: &Region, conflicts: u64) -> Step {
    Step {
        name: format!("write fencing ({})", writes.app),
        expected: format!(
            "writes sent to {} (the old answer) after the move refused (503 region-fenced) and retried into {to}; 0 acknowledged writes lost; 0 items written in both Regions within one replication window",
            writes.from
        ),
        measured: format!(
            "{}; {conflicts} written in both Regions within one replication window",
            writes.summary()
        ),
        held: writes.refused > 0
            && writes.retried > 0
            && writes.none_lost()
            && writes.acknowledged_in.get(to).copied().unwrap_or(0) >= writes.retried
            && conflicts == 0,
    }
}

/// Every move was verified at all four stages, each reached no earlier than the one before.
pub fn stages_in_order(moves: &[MoveStages]) -> Step {
    let apps: Vec<&AppStages> = moves.iter().flat_map(|m| &m.apps).collect();
    let failed: Vec<String> = moves
        .iter()
        .flat_map(|m| m.apps.iter().map(move |a| (m, a)))
        .filter(|(_, a)| !a.in_order())
        .map(|(m, a)| {
            format!(
                "{} ({}): {}",
                m.label,
                a.app,
                a.error.as_deref().unwrap_or("stages out of order")
            )
        })
        .collect();
    let slowest = apps
        .iter()
        .filter_map(|a| a.stages.last()?.elapsed_ms)
        .max();
    Step {
        name: "staged verification".into(),
        expected: "every move seen at each stage in turn: a quorum of cluster endpoints, the authoritative DNS answer, a recursive resolver's answer, GET / from the target Region".into(),
        measured: format!(
            "{} moves, {} app moves verified at all four stages{}{}",
            moves.len(),
            apps.len() - failed.len(),
            slowest.map_or_else(String::new, |ms| format!(", the slowest reached GET / {:.2} s after its call", ms as f64 / 1000.0)),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; failed: {}", failed.join("; "))
            }
        ),
        held: !apps.is_empty() && failed.is_empty(),
    }
}

/// How the DNS answer moved after a routing-control change.
#[derive(Debug, Clone, PartialEq)]
pub struct Propagation {
    /// Whether the first answer after the change was still the old one.
    pub first_answer_old: bool,
    /// Whether a health check ran between the change and that first answer (then the new
    /// answer is legitimate at once).
    pub checked_in_between: bool,
    /// From the change to the new answer; `None` if it never moved.
    pub moved_after: Option<Duration>,
    pub interval: Duration,
}

/// Route 53 propagates a change through its health checks: the old answer is served until
/// the next check, and the new one within a check interval.
pub fn propagates_like_route53(p: &Propagation) -> Step {
    let slack = Duration::from_millis(150);
    let measured = format!(
        "first answer after the change: {}{}; new answer after {}",
        if p.first_answer_old { "old" } else { "new" },
        if p.checked_in_between && !p.first_answer_old {
            " (a health check ran in between)"
        } else {
            ""
        },
        p.moved_after
            .map_or_else(|| "never".to_owned(), |d| format!("{} ms", d.as_millis())),
    );
    Step {
        name: "DNS propagation".into(),
        expected: format!(
            "the old answer until the next health check, the new one within {} ms",
            (p.interval + slack).as_millis()
        ),
        measured,
        held: (p.first_answer_old || p.checked_in_between)
            && p.moved_after.is_some_and(|d| d <= p.interval + slack),
    }
}

/// How long one move took, from its mark to 100 % of the app's traffic on the new Region
/// (from the report), and where in the clients' TTL cycle it came.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Move {
    pub app: AppName,
    /// The mark it follows, e.g. `shift orders -> us-west-2`.
    pub after: String,
    /// `None` when no switch to the target Region was recorded after the mark.
    pub seconds: Option<f64>,
    /// Seconds into the clients' TTL cycle (counted from the run's start) at the call.
    pub phase_seconds: f64,
}

/// The median and the worst of the measured moves, in seconds (`None` without any).
fn median_and_worst(moves: &[Move]) -> Option<(f64, f64)> {
    let mut seconds: Vec<f64> = moves.iter().filter_map(|m| m.seconds).collect();
    seconds.sort_by(f64::total_cmp);
    let worst = *seconds.last()?;
    let mid = seconds.len() / 2;
    let median = if seconds.len().is_multiple_of(2) {
        (seconds[mid - 1] + seconds[mid]) / 2.0
    } else {
        seconds[mid]
    };
    Some((median, worst))
}

/// The moves in one line: how many, median, worst, against the bound.
pub fn move_summary(moves: &[Move], bound: Duration) -> String {
    let measured = moves.iter().filter(|m| m.seconds.is_some()).count();
    match median_and_worst(moves) {
        Some((median, worst)) => format!(
            "{measured} of {} moves measured: median {median:.2} s, worst {worst:.2} s (bound {:.2} s)",
            moves.len(),
            bound.as_secs_f64()
        ),
        None => format!("none of {} moves measured", moves.len()),
    }
}

/// Every move, at whatever phase of the TTL cycle it came, within the bound of every wait.
pub fn move_distribution(moves: &[Move], bound: Duration) -> Step {
    let all_measured = !moves.is_empty() && moves.iter().all(|m| m.seconds.is_some());
    let held = all_measured
        && median_and_worst(moves).is_some_and(|(_, worst)| worst <= bound.as_secs_f64());
    Step {
        name: "move times".into(),
        expected: format!(
            "every move, at any phase of the TTL cycle, within {:.2} s (TTL + health-check interval + connection age)",
            bound.as_secs_f64()
        ),
        measured: move_summary(moves, bound),
        held,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{ProbeRoute, RouteCounts};

    fn route(service: &str, via: Via, prefix: &str) -> ProbeRoute {
        ProbeRoute {
            service: service.parse().unwrap(),
            via,
            prefix: prefix.into(),
            host: "h".into(),
        }
    }

    fn counts(answered: u64, failed: u64) -> RouteCounts {
        RouteCounts {
            sent: answered + failed,
            answered,
            failed,
            ..RouteCounts::default()
        }
    }

    fn snapshot(rows: Vec<(ProbeRoute, RouteCounts)>) -> ProbeSnapshot {
        ProbeSnapshot {
            routes: rows.into_iter().collect(),
        }
    }

    fn api() -> Via {
        Via::Gateway("api".parse().unwrap())
    }

    #[test]
    fn containment_holds_only_when_just_the_stopped_apps_paths_fail() {
        let down: AppName = "payments".parse().unwrap();
        let healthy = snapshot(vec![
            (route("orders", Via::Direct, "/orders"), counts(10, 0)),
            (route("orders", api(), "/orders"), counts(10, 0)),
            (route("payments", Via::Direct, "/payments"), counts(0, 10)),
            (route("payments", api(), "/payments"), counts(0, 10)),
        ]);
        assert!(contained(&down, &healthy, 0).held);
        assert!(!contained(&down, &healthy, 1).held, "another app's error");
        // The gateway sends /orders to payments: /orders fails with it.
        let misrouted = snapshot(vec![
            (route("orders", Via::Direct, "/orders"), counts(10, 0)),
            (route("payments", api(), "/orders"), counts(0, 10)),
            (route("payments", Via::Direct, "/payments"), counts(0, 10)),
            (route("payments", api(), "/payments"), counts(0, 10)),
        ]);
        assert!(!contained(&down, &misrouted, 0).held);
        // Nothing failed: the outage was not seen at all.
        let unseen = snapshot(vec![
            (route("orders", Via::Direct, "/orders"), counts(10, 0)),
            (route("payments", Via::Direct, "/payments"), counts(10, 0)),
        ]);
        assert!(!contained(&down, &unseen, 0).held);
    }

    fn writes(sent: u64, acknowledged: u64, failed: u64, timed_out: u64) -> WriteCheck {
        WriteCheck {
            region: "us-east-1".parse().unwrap(),
            sent,
            failed,
            timed_out,
            failure_samples: Vec::new(),
            consistency: ConsistencyReport {
                acknowledged,
                never_found: 0,
                reads: acknowledged * 3,
                worst_delay: None,
                pending: 0,
                lost: 0,
                pending_writes: Vec::new(),
                lost_writes: Vec::new(),
            },
            drained: true,
            replication: ReplicationStatus {
                lag_ms: 0,
                pending: 0,
                oldest_ms: None,
                lost: 0,
                conflicts: 0,
                links: Vec::new(),
            },
        }
    }

    #[test]
    fn every_write_must_be_acknowledged_found_and_replicated() {
        assert!(no_write_lost(&writes(180, 180, 0, 0)).held);
        assert!(!no_write_lost(&writes(0, 0, 0, 0)).held, "nothing written");
        assert!(!no_write_lost(&writes(180, 1, 179, 0)).held, "1 of 180");
        assert!(!no_write_lost(&writes(180, 179, 1, 0)).held, "a 5xx");
        assert!(
            no_write_lost(&writes(180, 179, 1, 1)).held,
            "an explained timeout"
        );
        assert!(
            !no_write_lost(&writes(180, 160, 20, 20)).held,
            "too many timeouts"
        );
        let mut missing = writes(180, 180, 0, 0);
        missing.consistency.never_found = 1;
        assert!(!no_write_lost(&missing).held);
        let mut lost = writes(180, 180, 0, 0);
        lost.replication.lost = 1;
        assert!(!no_write_lost(&lost).held);
        let mut pending = writes(180, 180, 0, 0);
        pending.drained = false;
        assert!(!no_write_lost(&pending).held);
    }

    #[test]
    fn every_route_must_answer() {
        let ok = snapshot(vec![(route("orders", api(), "/orders"), counts(3, 0))]);
        assert!(every_route_answers("steady", &ok).held);
        let silent = snapshot(vec![(route("orders", api(), "/orders"), counts(0, 0))]);
        assert!(!every_route_answers("steady", &silent).held);
        assert!(!every_route_answers("steady", &ProbeSnapshot::default()).held);
    }

    #[test]
    fn the_move_distribution_holds_only_within_the_bound() {
        let m = |seconds| Move {
            app: "orders".parse().unwrap(),
            after: "shift".into(),
            seconds,
            phase_seconds: 0.0,
        };
        let bound = Duration::from_secs(2);
        let moves = vec![m(Some(1.0)), m(Some(1.5)), m(Some(0.5))];
        assert!(move_distribution(&moves, bound).held);
        assert!(move_summary(&moves, bound).contains("median 1.00 s, worst 1.50 s"));
        assert!(!move_distribution(&[m(Some(1.0)), m(Some(2.5))], bound).held);
        assert!(!move_distribution(&[m(Some(1.0)), m(None)], bound).held);
        assert!(!move_distribution(&[], bound).held);
    }

    #[test]
    fn instant_propagation_fails() {
        let route53 = Propagation {
            first_answer_old: true,
            checked_in_between: false,
            moved_after: Some(Duration::from_millis(700)),
            interval: Duration::from_secs(1),
        };
        assert!(propagates_like_route53(&route53).held);
        let instant = Propagation {
            first_answer_old: false,
            ..route53.clone()
        };
        assert!(!propagates_like_route53(&instant).held);
        let slow = Propagation {
            moved_after: Some(Duration::from_secs(2)),
            ..route53
        };
        assert!(!propagates_like_route53(&slow).held);
    }

    fn trial() -> GateTrial {
        GateTrial {
            app: "orders".parse().unwrap(),
            to: "us-west-2".parse().unwrap(),
            max_lag: Duration::from_secs(1),
            refused: Some(("refused: replication behind".into(), 1_100)),
            allowed_lag_ms: Some(0),
            writes_intact: true,
        }
    }

    #[test]
    fn the_gate_must_refuse_while_behind_allow_once_caught_up_and_lose_nothing() {
        assert!(gate_refuses_then_allows(&trial()).held);
        let never_refused = GateTrial {
            refused: None,
            ..trial()
        };
        let never_allowed = GateTrial {
            allowed_lag_ms: None,
            ..trial()
        };
        let lost = GateTrial {
            writes_intact: false,
            ..trial()
        };
        for broken in [never_refused, never_allowed, lost] {
            let step = gate_refuses_then_allows(&broken);
            assert!(!step.held, "{}", step.measured);
        }
    }

    fn stale() -> StaleWrites {
        let east: Region = "us-east-1".parse().unwrap();
        StaleWrites {
            app: "payments".parse().unwrap(),
            from: "us-west-2".parse().unwrap(),
            sent: 20,
            acknowledged: 20,
            acknowledged_in: [(east, 20)].into_iter().collect(),
            refused: 1,
            retried: 1,
            verified: 20,
            failures: Vec::new(),
        }
    }

    #[test]
    fn fenced_writes_must_be_refused_retried_kept_and_never_written_twice() {
        let east: Region = "us-east-1".parse().unwrap();
        assert!(fenced_writes_land_once(&stale(), &east, 0).held);
        assert!(
            !fenced_writes_land_once(&stale(), &east, 1).held,
            "a conflict"
        );
        let unfenced = StaleWrites {
            refused: 0,
            retried: 0,
            ..stale()
        };
        let lost = StaleWrites {
            verified: 19,
            ..stale()
        };
        let unacknowledged = StaleWrites {
            acknowledged: 19,
            ..stale()
        };
        for broken in [unfenced, lost, unacknowledged] {
            let step = fenced_writes_land_once(&broken, &east, 0);
            assert!(!step.held, "{}", step.measured);
        }
    }
}
