//! The reports as text, for people: tables and sentences, one string per report part.

use std::fmt::Write;

use topology::{AppName, Regions};

use crate::client::Answer;
use crate::gate::{GateReport, seconds};
use crate::ops::{ShiftOutcome, Status};
use crate::verified::{Outcome, Verified};

/// Both routing controls of every app and the Region Route 53 answers with.
pub(super) fn status(status: &Status, regions: &Regions) -> String {
    let (p, s) = (&regions.primary, &regions.secondary);
    let width = status
        .apps
        .iter()
        .map(|a| a.app.as_str().len())
        .max()
        .unwrap_or(3)
        .max(3);
    let pc = format!("{p} (primary)");
    let sc = format!("{s} (secondary)");
    let mut text = format!("{:<width$}  {pc:<24}  {sc:<24}  SERVING\n", "APP");
    for app in &status.apps {
        let _ = writeln!(
            text,
            "{:<width$}  {:<24}  {:<24}  {}{}",
            app.app.as_str(),
            on_off(app.controls[0].on),
            on_off(app.controls[1].on),
            app.active,
            if app.warning.is_some() { "  (!)" } else { "" }
        );
    }
    for app in &status.apps {
        if let Some(w) = &app.warning {
            let _ = writeln!(text, "warning: {}: {w}", app.app);
        }
    }
    let _ = writeln!(text, "{}", answered(&status.answer));
    text
}

/// The batches of a plan, introduced by `verb` ("About to send", "dry run: ... Would send").
pub(super) fn plan(plan: &ShiftOutcome, verb: &str) -> String {
    let n = plan.batches.len();
    let mut text = format!(
        "{verb} {n} UpdateRoutingControlStates batch{} to move {} to {}:\n",
        if n == 1 { "" } else { "es" },
        names(&plan.apps),
        plan.to
    );
    if n > 1 {
        text.push_str("  (split: ARC takes at most 10 routing controls per batch; each batch leaves every app in it with one Region ON)\n");
    }
    for (i, batch) in plan.batches.iter().enumerate() {
        let _ = writeln!(text, "  batch {}:", i + 1);
        for c in &batch.changes {
            let _ = writeln!(
                text,
                "    {:<10} {:<15} {:<3}  {}",
                c.app.as_str(),
                c.region.as_str(),
                on_off(c.on),
                c.routing_control
            );
        }
    }
    if !plan.overridden.is_empty() {
        text.push_str("  overriding safety rules (break glass):\n");
        for r in &plan.overridden {
            let _ = writeln!(text, "    {r}");
        }
    }
    text
}

/// The controls a shift set, who applied each batch, and where the apps are routed now.
pub(super) fn outcome(outcome: &ShiftOutcome) -> String {
    let mut text = format!("{:<10}  {:<15}  STATE\n", "APP", "REGION");
    for batch in &outcome.batches {
        for c in &batch.changes {
            let _ = writeln!(
                text,
                "{:<10}  {:<15}  {}",
                c.app.as_str(),
                c.region.as_str(),
                on_off(c.on)
            );
        }
    }
    for (i, batch) in outcome.batches.iter().enumerate() {
        if let Some(a) = &batch.answer {
            let _ = writeln!(
                text,
                "batch {}/{}: {}",
                i + 1,
                outcome.batches.len(),
                answered(a)
            );
        }
    }
    let _ = writeln!(
        text,
        "done: {} now routed to {} (Route 53 follows within its health-check interval plus the record TTL)",
        names(&outcome.apps),
        outcome.to
    );
    text
}

/// The replication gate's readings.
pub(super) fn gate(gate: &GateReport) -> String {
    let mut text = format!(
        "replication gate (refuses above {}):\n",
        seconds(gate.max_lag_ms)
    );
    for r in &gate.readings {
        let verdict = match r.lag_ms {
            None => "not gated".to_owned(),
            Some(lag) if lag > gate.max_lag_ms => format!("BEHIND {}", seconds(lag)),
            Some(lag) => format!("ok, {} behind", seconds(lag)),
        };
        let pending = r
            .pending
            .map_or_else(String::new, |p| format!(", {p} pending"));
        let _ = writeln!(
            text,
            "  {:<10} {:<15} {:<16} {verdict}{pending}  ({})",
            r.app.as_str(),
            r.region.as_str(),
            r.table.as_deref().unwrap_or("-"),
            r.source
        );
    }
    text
}

/// The stages of each app as a table: time from the call, outcome, what was seen.
pub(super) fn verified(verified: &[Verified]) -> String {
    let mut text = format!(
        "{:<10}  {:<21}  {:>8}  {:<7}  SEEN\n",
        "APP", "STAGE", "T+", "RESULT"
    );
    for v in verified {
        for stage in &v.stages {
            let at = stage.elapsed_ms.map_or_else(|| "-".to_owned(), seconds);
            let outcome = match stage.outcome {
                Outcome::Passed => "ok",
                Outcome::Failed => "FAILED",
                Outcome::Skipped => "skipped",
            };
            let _ = writeln!(
                text,
                "{:<10}  {:<21}  {at:>8}  {outcome:<7}  {}",
                v.app.as_str(),
                stage.stage.label(),
                stage.detail
            );
        }
        if v.passed() {
            let _ = writeln!(
                text,
                "verified: {} answers from {} after {} ({} look{})",
                v.app,
                v.region,
                seconds(v.elapsed_ms),
                v.polls,
                if v.polls == 1 { "" } else { "s" }
            );
        }
    }
    text
}

fn on_off(on: bool) -> &'static str {
    if on { "ON" } else { "OFF" }
}

fn answered(answer: &Answer) -> String {
    format!(
        "answered by {} ({}) after {} attempt{}, {} ms",
        answer.endpoint.region,
        answer.endpoint.url,
        answer.attempts,
        if answer.attempts == 1 { "" } else { "s" },
        answer.elapsed_ms
    )
}

fn names(apps: &[AppName]) -> String {
    apps.iter()
        .map(AppName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
