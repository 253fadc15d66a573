//! Expectations of the writes: none lost, concurrent updates converging on the last writer,
//! the replication gate refusing then allowing a move, and write fencing against a client
//! holding the old answer.

use std::fmt::Write as _;

use loadtest::consistency::{ConsistencyCheck, LastWriterWins, StaleWrites};
use topology::Region;

use super::{Step, first_line};
use crate::measure::{GateTrial, WriteCheck};

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
    let mut summary = format!(
        "{} of {} writes read back in both Regions",
        c.acknowledged.saturating_sub(c.never_found),
        check.sent
    );
    if check.replication.lost > 0 {
        let _ = write!(summary, ", {} changes lost", check.replication.lost);
    } else if !check.drained {
        summary.push_str(", backlog not drained");
    }
    Step {
        name: format!("no write lost ({})", check.region),
        expected: format!(
            "every write in {} acknowledged (a timeout is explained, at most 1 in 20) and read back from both Regions; nothing pending or lost",
            check.region
        ),
        measured,
        summary,
        skipped: false,
        held: check.sent > 0
            && c.acknowledged + check.timed_out == check.sent
            && check.failed == check.timed_out
            && check.timed_out <= check.sent / 20
            && c.never_found == 0
            && check.drained
            && check.replication.lost == 0,
    }
}

/// What [`last_writer_wins`] expects, with a write fence in `fenced_in` or none.
pub fn last_writer_wins_expected(fenced_in: Option<&Region>) -> String {
    match fenced_in {
        Some(region) => format!(
            "3 writes in the primary read back from both Regions; of concurrent updates from both Regions, the one sent to {region} (control OFF) refused by the write fence, the other winning in both"
        ),
        None => "3 writes in the primary read back from both Regions; concurrent updates from both Regions converge on one item".to_owned(),
    }
}

/// One item updated from both Regions at once, after writes in the primary: every write read
/// back from both Regions, and the concurrent updates converging on one item. With a write
/// fence, the update sent to `fenced_in` (its control OFF) is refused and the other wins.
/// `conflicts`: items replication saw written in both Regions within one window, for people.
pub fn last_writer_wins(
    check: &ConsistencyCheck,
    fenced_in: Option<&Region>,
    conflicts: u64,
) -> Step {
    let summary = match &check.last_writer_wins {
        LastWriterWins::Done {
            writes,
            winner,
            converged_after_seconds,
            ..
        } => {
            let winner = winner.as_ref().map_or("no Region", Region::as_str);
            let fenced = if writes.iter().any(|w| w.fenced) {
                ", the other fenced"
            } else {
                ""
            };
            match converged_after_seconds {
                Some(s) => format!("{winner} won{fenced}, converged in {s:.2} s"),
                None => format!("{winner} won{fenced}, NOT converged"),
            }
        }
        LastWriterWins::Skipped { reason } => format!("skipped: {reason}"),
        LastWriterWins::Failed { reason } => format!("failed: {reason}"),
    };
    Step {
        name: format!("last writer wins ({})", check.app),
        expected: last_writer_wins_expected(fenced_in),
        measured: format!(
            "{}\n  replication saw {conflicts} item(s) written in both Regions within one replication window",
            check.summary()
        ),
        summary: first_line(&summary),
        skipped: matches!(check.last_writer_wins, LastWriterWins::Skipped { .. }),
        held: check.passed(),
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
        summary: match (&trial.refused, trial.allowed_lag_ms) {
            (Some((_, behind)), Some(lag)) => format!(
                "refused {:.1} s behind, allowed {:.1} s behind",
                *behind as f64 / 1000.0,
                lag as f64 / 1000.0
            ),
            (None, _) => "never refused".into(),
            (Some(_), None) => "never allowed".into(),
        },
        skipped: false,
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
        summary: format!(
            "{} refused, {} retried, {} of {} read back, {conflicts} conflicts",
            writes.refused, writes.retried, writes.verified, writes.sent
        ),
        skipped: false,
        held: writes.refused > 0
            && writes.retried > 0
            && writes.none_lost()
            && writes.acknowledged_in.get(to).copied().unwrap_or(0) >= writes.retried
            && conflicts == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::ReplicationStatus;
    use loadtest::ConsistencyReport;
    use std::time::Duration;

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
                unread: 0,
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
