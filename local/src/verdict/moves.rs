//! Expectations of the moves: DNS propagating a change as Route 53 does, every move verified
//! stage by stage, and the move times within the bound of every wait a client has.

use std::time::Duration;

use serde::Serialize;
use topology::{AppName, Mechanism};

use super::Step;
use crate::measure::Propagation;
use crate::stages::{AppStages, MoveStages};

/// Every move was verified at all four stages, each reached no earlier than the one before.
pub fn stages_in_order(moves: &[MoveStages], mechanism: Mechanism) -> Step {
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
    let verified = apps.len() - failed.len();
    Step {
        name: "staged verification".into(),
        expected: format!(
            "every move seen at each stage in turn: {}, the authoritative DNS answer, a recursive resolver's answer, GET / from the target Region",
            match mechanism {
                Mechanism::Arc => "a quorum of cluster endpoints",
                Mechanism::HealthCheck => "the flags' alarms",
            }
        ),
        measured: format!(
            "{} moves, {} app moves verified at all four stages{}{}",
            moves.len(),
            verified,
            slowest.map_or_else(String::new, |ms| format!(
                ", the slowest reached GET / {:.2} s after its call",
                ms as f64 / 1000.0
            )),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; failed: {}", failed.join("; "))
            }
        ),
        summary: format!(
            "{verified} of {} app moves{}",
            apps.len(),
            slowest.map_or_else(String::new, |ms| format!(
                ", GET / within {:.2} s",
                ms as f64 / 1000.0
            ))
        ),
        skipped: false,
        held: !apps.is_empty() && failed.is_empty(),
    }
}

/// Route 53 propagates a change through its health checks: the old answer is served until
/// the next check (with the `health-check` mechanism, until a check after the flag's alarm
/// period ends), and the new one within a check interval (plus an alarm period).
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
    let summary = p.moved_after.map_or_else(
        || "the answer never moved".to_owned(),
        |d| format!("new answer after {} ms", d.as_millis()),
    );
    Step {
        name: "DNS propagation".into(),
        expected: format!(
            "the old answer until {}, the new one within {} ms",
            match p.mechanism {
                Mechanism::Arc => "the next health check",
                Mechanism::HealthCheck =>
                    "a health check reads the flag's alarm after its period ends",
            },
            (p.interval + slack).as_millis()
        ),
        measured,
        summary,
        skipped: false,
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
pub fn move_distribution(moves: &[Move], bound: Duration, terms: &str) -> Step {
    let all_measured = !moves.is_empty() && moves.iter().all(|m| m.seconds.is_some());
    let held = all_measured
        && median_and_worst(moves).is_some_and(|(_, worst)| worst <= bound.as_secs_f64());
    Step {
        name: "move times".into(),
        expected: format!(
            "every move, at any phase of the TTL cycle, within {:.2} s ({terms})",
            bound.as_secs_f64()
        ),
        measured: move_summary(moves, bound),
        summary: median_and_worst(moves).map_or_else(
            || "none measured".to_owned(),
            |(median, worst)| format!("median {median:.2} s, worst {worst:.2} s"),
        ),
        skipped: false,
        held,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_move_distribution_holds_only_within_the_bound() {
        let m = |seconds| Move {
            app: "orders".parse().unwrap(),
            after: "shift".into(),
            seconds,
            phase_seconds: 0.0,
        };
        let bound = Duration::from_secs(2);
        let terms = "TTL + health-check interval + connection age";
        let moves = vec![m(Some(1.0)), m(Some(1.5)), m(Some(0.5))];
        assert!(move_distribution(&moves, bound, terms).held);
        assert!(move_summary(&moves, bound).contains("median 1.00 s, worst 1.50 s"));
        assert!(!move_distribution(&[m(Some(1.0)), m(Some(2.5))], bound, terms).held);
        assert!(!move_distribution(&[m(Some(1.0)), m(None)], bound, terms).held);
        assert!(!move_distribution(&[], bound, terms).held);
    }

    #[test]
    fn instant_propagation_fails() {
        let route53 = Propagation {
            first_answer_old: true,
            checked_in_between: false,
            moved_after: Some(Duration::from_millis(700)),
            interval: Duration::from_secs(1),
            mechanism: Mechanism::Arc,
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
}
