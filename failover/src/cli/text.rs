//! The reports as text, for people: tables and sentences, one string per report part.

use std::fmt::Write;

use topology::{AppName, Mechanism, Region};

use crate::alarms::{AlarmState, AlarmStatus, RegionAnswer};
use crate::client::Answer;
use crate::flags::status::{FlagSource, FlagStatus};
use crate::flags::{FlagShift, Step, StepResult};
use crate::gate::{GateReport, seconds};
use crate::ops::ShiftOutcome;
use crate::plane::{AppRouting, AppState, DeploymentStatus, MoveOutcome};
use crate::verified::{Outcome, Verified};

/// Where every app is served and why, then its alarms in both Regions.
pub(super) fn status(status: &DeploymentStatus) -> String {
    let (p, s) = (&status.regions.primary, &status.regions.secondary);
    let width = status
        .apps
        .iter()
        .map(|a| a.app.as_str().len())
        .max()
        .unwrap_or(3)
        .max(3);
    let column = match status.mechanism {
        Mechanism::Arc => 24,
        Mechanism::HealthCheck => 30,
    };
    let pc = format!("{p} (primary)");
    let sc = format!("{s} (secondary)");
    let (pa, sa) = (format!("ALARMS {p}"), format!("ALARMS {s}"));
    let mut text = format!(
        "{:<width$}  {pc:<column$}  {sc:<column$}  {:<12}  {pa:<20}  {sa}\n",
        "APP", "SERVING"
    );
    for app in &status.apps {
        let (left, right) = match &app.routing {
            AppRouting::Arc { controls } => (
                on_off(controls[0].on).to_owned(),
                on_off(controls[1].on).to_owned(),
            ),
            AppRouting::HealthCheck { flags } => (flag_cell(&flags[0]), flag_cell(&flags[1])),
        };
        let serving = app
            .active
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), ToString::to_string);
        let mark = if app.warning.is_some() { " (!)" } else { "" };
        let _ = writeln!(
            text,
            "{:<width$}  {left:<column$}  {right:<column$}  {:<12}  {:<20}  {}",
            app.app.as_str(),
            format!("{serving}{mark}"),
            alarm_summary(app, p),
            alarm_summary(app, s)
        );
    }
    for app in &status.apps {
        if let Some(w) = &app.warning {
            let _ = writeln!(text, "warning: {}: {w}", app.app);
        }
    }
    text.push_str(&unread_flags(&status.apps));
    text.push_str(&alarm_details(&status.apps, &status.cloudwatch));
    if let Some(answer) = &status.answer {
        let _ = writeln!(text, "{}", answered(answer));
    }
    text
}

/// A flag as a cell: "in" or "OUT", its value and where it is held, and a coming value.
fn flag_cell(flag: &FlagStatus) -> String {
    let held = &flag.published_in;
    let mut cell = match (flag.out, flag.source) {
        (None, _) => format!("? ({held} did not answer)"),
        (Some(out), FlagSource::Alarm) => format!("{} (alarm in {held})", in_out(out)),
        (Some(out), FlagSource::Never) => format!("{} (never set, {held})", in_out(out)),
        (Some(out), _) => format!("{} (flag {} in {held})", in_out(out), u8::from(out)),
    };
    if let Some(then) = &flag.then {
        let _ = write!(cell, ", {} from {}", u8::from(then.out), clock(&then.at));
    }
    cell
}

fn in_out(out: bool) -> &'static str {
    if out { "OUT" } else { "in" }
}

/// `12:01:00` of an RFC 3339 time.
fn clock(rfc3339: &str) -> &str {
    rfc3339
        .split_once('T')
        .map_or(rfc3339, |(_, t)| t.trim_end_matches('Z'))
}

/// The flags that could not be read, one line per Region that did not answer.
fn unread_flags(apps: &[AppState]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for app in apps {
        let AppRouting::HealthCheck { flags } = &app.routing else {
            continue;
        };
        for flag in flags.iter().filter(|f| f.out.is_none()) {
            let line = format!(
                "could not read the flags held in {}: {}",
                flag.published_in,
                flag.error.as_deref().unwrap_or("no answer")
            );
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    lines.into_iter().map(|l| l + "\n").collect()
}

/// The alarms of `app` about `region`, in a few words.
fn alarm_summary(app: &AppState, region: &Region) -> String {
    let mine: Vec<&AlarmStatus> = app.alarms.iter().filter(|a| a.about == *region).collect();
    if mine.is_empty() {
        return "-".into();
    }
    let firing: Vec<&str> = mine
        .iter()
        .filter(|a| a.reading.state == AlarmState::Alarm)
        .map(|a| a.kind.as_str())
        .collect();
    if !firing.is_empty() {
        return format!("ALARM: {}", firing.join(","));
    }
    let count = |state: AlarmState| mine.iter().filter(|a| a.reading.state == state).count();
    let parts: Vec<String> = [
        (AlarmState::Ok, "OK"),
        (AlarmState::InsufficientData, "no data"),
        (AlarmState::NotFound, "missing"),
        (AlarmState::Unknown, "unknown"),
    ]
    .into_iter()
    .map(|(state, word)| (count(state), word))
    .filter(|(n, _)| *n > 0)
    .map(|(n, word)| format!("{word} {n}"))
    .collect();
    parts.join(", ")
}

/// The alarms in ALARM or missing, with CloudWatch's reason; the Regions that did not answer.
fn alarm_details(apps: &[AppState], regions: &[RegionAnswer]) -> String {
    let mut text = String::new();
    for app in apps {
        for alarm in &app.alarms {
            let r = &alarm.reading;
            match r.state {
                AlarmState::Alarm => {
                    let _ = writeln!(
                        text,
                        "alarm: {} {} {} ({}, in {}) since {}: {}",
                        app.app,
                        alarm.about,
                        alarm.kind,
                        alarm.name,
                        alarm.region,
                        r.updated.as_deref().unwrap_or("?"),
                        r.reason.as_deref().unwrap_or("")
                    );
                }
                AlarmState::NotFound => {
                    let _ = writeln!(
                        text,
                        "alarm missing: {} ({}): not in {}'s CloudWatch; does the manifest match the deployment?",
                        alarm.name, app.app, alarm.region
                    );
                }
                _ => {}
            }
        }
    }
    for region in regions.iter().filter(|r| !r.answered) {
        let _ = writeln!(
            text,
            "alarms in {} unknown: {}",
            region.region,
            region.error.as_deref().unwrap_or("no answer")
        );
    }
    text
}

/// What a move sends, for a dry run (`dry`) or the confirmation prompt.
pub(super) fn plan(plan: &MoveOutcome, dry: bool) -> String {
    match plan {
        MoveOutcome::Arc(plan) => arc_plan(
            plan,
            if dry {
                "dry run: nothing sent. Would send"
            } else {
                "About to send"
            },
        ),
        MoveOutcome::HealthCheck(plan) => {
            let verb = if dry {
                "dry run: nothing sent. Would publish"
            } else {
                "About to publish"
            };
            let mut text = format!(
                "{verb}, to move {} to {} (health-check mechanism):\n",
                names(&plan.apps),
                plan.to
            );
            for step in &plan.steps {
                text.push_str(&step_line(step));
            }
            text
        }
    }
}

/// The batches of an ARC plan, introduced by `verb`.
fn arc_plan(plan: &ShiftOutcome, verb: &str) -> String {
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

/// One step of a flag move: what it publishes where, and how it ended.
fn step_line(step: &Step) -> String {
    let role = match step.step {
        1 => "required",
        2 => "best effort",
        _ => "once step 2 is published",
    };
    let Some(first) = step.flags.first() else {
        return String::new();
    };
    let apps: Vec<&AppName> = step.flags.iter().map(|f| &f.app).collect();
    let mut line = format!(
        "  step {} ({role}): into {}, the flag \"{} is out\" = {} for {}",
        step.step,
        step.into,
        first.region,
        u8::from(first.out),
        names_of(&apps)
    );
    match &step.result {
        StepResult::Planned => {}
        StepResult::Published {
            elapsed_ms,
            attempts,
        } => {
            let _ = write!(line, ": published in {elapsed_ms} ms");
            if *attempts > 1 {
                let _ = write!(line, " ({attempts} attempts)");
            }
            if let Some(at) = step.flags.iter().find_map(|f| f.takes_effect.as_deref()) {
                let _ = write!(line, ", in effect from {}", clock(at));
            }
        }
        StepResult::Skipped { reason } => {
            let _ = write!(line, ": skipped: {reason}");
        }
        StepResult::Failed { reason } => {
            let _ = write!(line, ": FAILED: {reason}");
        }
    }
    line + "\n"
}

/// What a move did, where the apps are routed now, and what to know.
pub(super) fn outcome(outcome: &MoveOutcome) -> String {
    match outcome {
        MoveOutcome::Arc(outcome) => arc_outcome(outcome),
        MoveOutcome::HealthCheck(outcome) => flag_outcome(outcome),
    }
}

/// The controls a shift set, who applied each batch, and where the apps are routed now.
fn arc_outcome(outcome: &ShiftOutcome) -> String {
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

/// The steps of a flag move, each app's flags afterwards, the warnings.
fn flag_outcome(outcome: &FlagShift) -> String {
    let mut text = String::new();
    for step in &outcome.steps {
        text.push_str(&step_line(step));
    }
    if let Some(first) = outcome.after.first() {
        let regions: Vec<&Region> = first.out.iter().map(|(r, _)| r).collect();
        let _ = writeln!(
            text,
            "{:<10}  {:<16}  {:<16}  SERVING",
            "APP",
            format!("{} out", regions[0]),
            format!("{} out", regions.get(1).map_or("", |r| r.as_str()))
        );
    }
    for app in &outcome.after {
        let flag = |i: usize| match app.out.get(i).and_then(|(_, v)| *v) {
            Some(v) => u8::from(v).to_string(),
            None => "? (no answer)".to_owned(),
        };
        let serving = app
            .serving
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), ToString::to_string);
        let _ = writeln!(
            text,
            "{:<10}  {:<16}  {:<16}  {serving}",
            app.app.as_str(),
            flag(0),
            flag(1)
        );
    }
    for warning in &outcome.warnings {
        let _ = writeln!(text, "warning: {warning}");
    }
    let moved: Vec<&AppName> = outcome
        .after
        .iter()
        .filter(|a| a.serving.as_ref() == Some(&outcome.to))
        .map(|a| &a.app)
        .collect();
    if !moved.is_empty() {
        let _ = writeln!(
            text,
            "done: {} now routed to {} (Route 53 follows once the flag's alarm has evaluated its period and the health check has read it, plus the record TTL: minutes on AWS, seconds in the local world)",
            names_of(&moved),
            outcome.to
        );
    }
    let unsure: Vec<&AppName> = outcome
        .after
        .iter()
        .filter(|a| a.serving.as_ref() != Some(&outcome.to))
        .map(|a| &a.app)
        .collect();
    if !unsure.is_empty() {
        let _ = writeln!(
            text,
            "not known to be routed to {}: {} (see the warnings; `failover status` shows the flags)",
            outcome.to,
            names_of(&unsure)
        );
    }
    text
}

/// The replication gate's readings.
/// The line before a move is sent: a cluster that has lost its quorum is retried until
/// `--deadline`, and the person waiting should know what for.
pub(super) fn sending(mechanism: Mechanism, apps: &[AppName], to: &Region) -> String {
    let apps: Vec<&str> = apps.iter().map(AppName::as_str).collect();
    let via = match mechanism {
        Mechanism::Arc => "the ARC cluster's endpoints",
        Mechanism::HealthCheck => "the flags, into CloudWatch",
    };
    format!(
        "moving {} to {to} through {via} (retried until --deadline while they do not answer) ...\n",
        apps.join(", ")
    )
}

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
                Outcome::Unknown => "unknown",
            };
            let _ = writeln!(
                text,
                "{:<10}  {:<21}  {at:>8}  {outcome:<7}  {}",
                v.app.as_str(),
                stage.stage.label(v.mechanism),
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

fn names_of(apps: &[&AppName]) -> String {
    apps.iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `plan list`.
pub(super) fn plan_list(list: &super::report::PlanList) -> String {
    if list.entries.is_empty() {
        return format!(
            "no plans in {} (a plan is a TOML file there; see `failover plan --help`)\n",
            list.dir.display()
        );
    }
    let mut out = String::new();
    for entry in &list.entries {
        match entry {
            Ok(plan) => {
                let steps: Vec<String> = plan
                    .steps
                    .iter()
                    .map(|s| format!("{} ({})", s.name, s.kind.word()))
                    .collect();
                let _ = writeln!(out, "{}  {}", plan.name, plan.description);
                let _ = writeln!(out, "    {}", steps.join(" -> "));
            }
            Err(error) => {
                let _ = writeln!(out, "BROKEN  {error}");
            }
        }
    }
    out
}

/// `plan check`.
pub(super) fn plan_check(check: &crate::plan::CheckReport) -> String {
    use crate::plan::CheckOutcome;
    let mut out = format!("plan `{}`:\n", check.plan);
    for c in &check.checks {
        let mark = match c.outcome {
            CheckOutcome::Passed => "ok     ",
            CheckOutcome::Failed => "FAILED ",
            CheckOutcome::Partial => "partial",
        };
        let _ = writeln!(out, "  {mark} {}: {}", c.name, c.detail);
    }
    let code = check.exit_code();
    if code == 0 {
        out.push_str("it can run now\n");
    } else {
        let _ = writeln!(out, "it cannot run now (exit {code})");
    }
    out
}

/// `plan run`: how it ended, each step, the report's files.
pub(super) fn plan_run(run: &super::report::PlanRun) -> String {
    let report = &run.report;
    let mut out = format!("plan `{}`: {}\n", report.plan, report.headline());
    for step in report.all_steps() {
        let at = match (step.start_ms, step.end_ms) {
            (Some(s), Some(e)) => format!(
                "{:>8}-{:<8}",
                format!("{:.3}s", s as f64 / 1e3),
                format!("{:.3}s", e as f64 / 1e3)
            ),
            _ => format!("{:>17}", "-"),
        };
        let _ = writeln!(
            out,
            "  {at} {:<10} {:<8} {}: {}",
            step.outcome.word(),
            step.kind,
            step.name,
            step.detail
        );
    }
    if let Some(recovery) = &report.recovery {
        let _ = writeln!(
            out,
            "recovery time: {:.3} s ({})",
            recovery.ms as f64 / 1e3,
            recovery.detail
        );
    }
    if let Some(alarms) = &report.alarms {
        let _ = writeln!(out, "alarms at the end: {}", alarms.summary());
    }
    match &run.written {
        Ok((json, markdown)) => {
            let _ = writeln!(out, "report: {} and {}", json.display(), markdown.display());
        }
        Err(e) => {
            let _ = writeln!(out, "report not written: {e}");
        }
    }
    out
}
