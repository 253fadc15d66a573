//! The end of the demo, for people: one table of every expectation (step, held, the number
//! that matters) with the detail of each that failed; or with `--verbose`, every expectation
//! in full, each move's time and each stage of its verification.

use std::fmt::Write as _;
use std::time::Duration;

use loadtest::Report;
use topology::{AppName, Region};

use super::drill::MarkedMove;
use crate::verdict::{self, Move, Step};

/// From the report: for each move, the time from its mark (just before the call to ARC)
/// until every response came from the new Region (the first response from it plus the mixed
/// window), with the TTL phase it came at.
pub(crate) fn move_times(report: &Report, moves: &[MarkedMove]) -> Vec<Move> {
    moves
        .iter()
        .map(|m| Move {
            seconds: moved_after(report, &m.label, &m.app, &m.to),
            app: m.app.clone(),
            after: m.label.clone(),
            phase_seconds: m.phase,
        })
        .collect()
}

fn moved_after(report: &Report, mark: &str, app: &AppName, to: &Region) -> Option<f64> {
    let mark_at = report.marks.iter().find(|m| m.label == mark)?.at_seconds;
    let switch = report
        .app(app)?
        .switches
        .iter()
        .find(|s| s.at_seconds >= mark_at && s.to == *to)?;
    Some(switch.at_seconds + switch.mixed_window_seconds - mark_at)
}

/// Every expectation in one row: its name, whether it held, and the number that matters;
/// then what each failed one expected and measured.
pub(crate) fn table(steps: &[Step]) -> String {
    let width = steps
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0)
        .max("step".len());
    let mut out = format!("\n{:<width$}  held  measured\n", "step");
    for step in steps {
        let _ = writeln!(
            out,
            "{:<width$}  {:<4}  {}",
            step.name,
            step.verdict(),
            step.summary
        );
    }
    for step in steps.iter().filter(|s| !s.held) {
        let _ = write!(
            out,
            "\nFAILED {}\n  expected: {}\n  measured: {}\n",
            step.name, step.expected, step.measured
        );
    }
    out
}

/// `17 of 18 expectations held`, and `, 1 skipped (nothing to check it on)` when one was:
/// a skipped step is counted apart, never as held.
pub(crate) fn count(steps: &[Step]) -> String {
    let checked = steps.iter().filter(|s| !s.skipped);
    let held = checked.clone().filter(|s| s.held).count();
    let mut text = format!("{held} of {} expectations held", checked.count());
    let skipped = steps.iter().filter(|s| s.skipped).count();
    if skipped > 0 {
        let _ = write!(text, ", {skipped} skipped (nothing to check it on)");
    }
    text
}

/// Every expectation in full, as `--verbose` prints it.
pub(crate) fn verdicts(steps: &[Step]) -> String {
    let mut out = String::from("\nStep                         Held  Expected / measured\n");
    for step in steps {
        let _ = writeln!(
            out,
            "{:<28} {:<5} expected: {}\n{:<34} measured: {}",
            step.name,
            step.verdict(),
            step.expected,
            "",
            step.measured
        );
    }
    out
}

/// The moves as `--verbose` prints them, next to the bound of every wait a client has.
pub(crate) fn describe_moves(moves: &[Move], bound: Duration, terms: &str) -> String {
    let mut out = format!(
        "\nTime from each call to 100 % of the app's traffic on the new Region, from the report (bound: {terms} = {:.1} s):\n",
        bound.as_secs_f64()
    );
    for m in moves {
        let measured = m
            .seconds
            .map_or_else(|| "no switch recorded".to_owned(), |t| format!("{t:.2} s"));
        let _ = writeln!(
            out,
            "  {app:<10} after `{after}` (at {phase:.2} s of the TTL cycle): {measured}",
            app = m.app.as_str(),
            after = m.after,
            phase = m.phase_seconds,
        );
    }
    let _ = writeln!(out, "  {}", verdict::move_summary(moves, bound));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, held: bool) -> Step {
        Step {
            name: name.into(),
            expected: format!("{name} expected"),
            measured: format!("{name} measured"),
            summary: format!("{name} in short"),
            skipped: false,
            held,
        }
    }

    #[test]
    fn the_table_has_a_row_per_step_and_the_detail_of_each_failure() {
        let table = table(&[step("steady state", true), step("fail back", false)]);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows[1], "step          held  measured");
        assert_eq!(rows[2], "steady state  yes   steady state in short");
        assert_eq!(rows[3], "fail back     NO    fail back in short");
        assert!(!table.contains("steady state measured"), "{table}");
        assert!(
            table.contains(
                "FAILED fail back\n  expected: fail back expected\n  measured: fail back measured"
            ),
            "{table}"
        );
    }

    #[test]
    fn a_skipped_step_is_shown_and_counted_apart_never_as_held() {
        let mut nothing = step("last writer wins", true);
        nothing.skipped = true;
        let steps = [
            step("steady state", true),
            nothing,
            step("fail back", false),
        ];
        assert_eq!(
            count(&steps),
            "1 of 2 expectations held, 1 skipped (nothing to check it on)"
        );
        assert_eq!(count(&steps[..1]), "1 of 1 expectations held");
        let table = table(&steps);
        assert!(
            table.contains("last writer wins  skip  last writer wins in short"),
            "{table}"
        );
    }
}
