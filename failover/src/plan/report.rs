//! A plan run's report: every step's start, end, outcome and measurements, the recovery time
//! and the alarms of the apps it moved, read at its end, as JSON (what `--resume` reads back) and as Markdown for a person. Times are
//! milliseconds from the run's start; the start itself is wall-clock (RFC 3339).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use topology::AppName;

use crate::alarms::{AlarmState, AlarmStatus, RegionAnswer};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Every step passed.
    Succeeded,
    /// A step failed: `failed_step` names it; the steps after it did not run.
    Failed,
    /// The plan's end state already held: nothing was changed.
    AlreadyDone,
    /// `--dry-run`: nothing was changed; each step says what it would do.
    DryRun,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Succeeded,
    Failed,
    /// Passed in the run this one resumes: not done again.
    DoneBefore,
    /// `--dry-run`: what it would do is in `detail`.
    DryRun,
    /// Not reached (a step before it failed, or the end state already held).
    NotRun,
}

impl StepOutcome {
    /// Whether `--resume` skips a step that ended so.
    pub fn done(self) -> bool {
        matches!(self, Self::Succeeded | Self::DoneBefore)
    }

    /// As a person reads it.
    pub fn word(self) -> &'static str {
        match self {
            Self::Succeeded => "ok",
            Self::Failed => "FAILED",
            Self::DoneBefore => "done before",
            Self::DryRun => "dry run",
            Self::NotRun => "not run",
        }
    }
}

/// One step's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub name: String,
    pub kind: String,
    pub outcome: StepOutcome,
    /// From the run's start, in milliseconds (`None`: not run).
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    /// What happened, in a line.
    pub detail: String,
    /// What the step measured (the gate's readings, the move, the verification's stages, the
    /// warm-up's answers, ...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub measurements: serde_json::Value,
    /// Its exit code, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    /// A parallel group's steps, or a child plan's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepReport>,
}

impl StepReport {
    /// A step not run, with why.
    pub fn not_run(name: &str, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            kind: kind.to_owned(),
            outcome: StepOutcome::NotRun,
            start_ms: None,
            end_ms: None,
            detail: detail.into(),
            measurements: serde_json::Value::Null,
            exit_code: None,
            steps: Vec::new(),
        }
    }

    /// This step and its nested ones, depth first.
    pub fn flatten(&self) -> Vec<&StepReport> {
        let mut all = vec![self];
        all.extend(self.steps.iter().flat_map(StepReport::flatten));
        all
    }
}

/// The recovery time: from the run's start until traffic had moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub ms: u64,
    /// `true` when measured by verification (the first `GET /` answered from the target
    /// Region, for the last app to move); `false` when only the moves' calls were timed (no
    /// shift with `verify`, no verify step): then it is when the last move was accepted.
    pub verified: bool,
    pub detail: String,
}

/// The alarms of the apps a run moved, read once its steps had ended (as Region switch records
/// them): whether the Regions they left and reached are healthy by the team's own alarms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndAlarms {
    /// When the read started, from the run's start.
    pub read_ms: u64,
    /// Each moved app that has alarms, with them, in the order first moved.
    pub apps: Vec<AppAlarms>,
    /// How each Region's CloudWatch answered (one that did not leaves its alarms `UNKNOWN`).
    pub cloudwatch: Vec<RegionAnswer>,
}

/// One app's alarms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppAlarms {
    pub app: AppName,
    pub alarms: Vec<AlarmStatus>,
}

impl EndAlarms {
    /// How many alarms are in each state, and those in ALARM: `4 OK, 1 ALARM (api primary
    /// p99-latency)`.
    pub fn summary(&self) -> String {
        let all: Vec<(&AppName, &AlarmStatus)> = self
            .apps
            .iter()
            .flat_map(|a| a.alarms.iter().map(move |x| (&a.app, x)))
            .collect();
        let mut parts: Vec<String> = [
            AlarmState::Ok,
            AlarmState::Alarm,
            AlarmState::InsufficientData,
            AlarmState::NotFound,
            AlarmState::Unknown,
        ]
        .into_iter()
        .filter_map(|state| {
            let n = all.iter().filter(|(_, a)| a.reading.state == state).count();
            (n > 0).then(|| format!("{n} {}", state.as_str()))
        })
        .collect();
        let firing: Vec<String> = all
            .iter()
            .filter(|(_, a)| a.reading.state == AlarmState::Alarm)
            .map(|(app, a)| format!("{app} {} {}", a.about, a.kind.as_str()))
            .collect();
        if !firing.is_empty()
            && let Some(count) = parts.iter_mut().find(|p| p.ends_with(" ALARM"))
        {
            count.push_str(&format!(" ({})", firing.join(", ")));
        }
        parts.join(", ")
    }
}

/// A plan run's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanReport {
    pub plan: String,
    pub description: String,
    /// The plan's file.
    pub file: PathBuf,
    pub mechanism: String,
    /// Wall-clock start (RFC 3339); every `*_ms` counts from it.
    pub started_at: String,
    pub outcome: RunOutcome,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    pub exit_code: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The report this run resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<PathBuf>,
    pub recovery: Option<Recovery>,
    pub steps: Vec<StepReport>,
    /// The alarms of the apps the run moved, at its end; `None` when it moved none that has
    /// alarms in the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<EndAlarms>,
}

impl PlanReport {
    /// Reads a report written by an earlier run (for `--resume`).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--resume {}: cannot read it: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| {
            format!(
                "--resume {}: not a plan run's JSON report: {e}",
                path.display()
            )
        })
    }

    /// Every step, nested ones included.
    pub fn all_steps(&self) -> Vec<&StepReport> {
        self.steps.iter().flat_map(StepReport::flatten).collect()
    }

    /// The step named `name`, wherever it is.
    pub fn step(&self, name: &str) -> Option<&StepReport> {
        self.all_steps().into_iter().find(|s| s.name == name)
    }

    /// Writes `<dir>/<plan>-<start>.json` and `.md`; returns both paths. Each file is written
    /// whole to a temporary name, then renamed: a reader never sees half a report.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the report folder {}: {e}", dir.display()))?;
        let stamp: String = self
            .started_at
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let base = dir.join(format!("{}-{stamp}", self.plan));
        let json = base.with_extension("json");
        let markdown = base.with_extension("md");
        let doc = serde_json::to_string_pretty(self).expect("a report serializes");
        write_whole(&json, &doc)?;
        write_whole(&markdown, &self.markdown())?;
        Ok((json, markdown))
    }

    /// The report for a person.
    pub fn markdown(&self) -> String {
        let mut out = format!("# Plan `{}`: {}\n\n", self.plan, self.headline());
        if !self.description.is_empty() {
            let _ = writeln!(out, "{}\n", self.description);
        }
        let _ = writeln!(out, "- file: `{}`", self.file.display());
        let _ = writeln!(out, "- mechanism: {}", self.mechanism);
        let _ = writeln!(out, "- started: {}", self.started_at);
        let _ = writeln!(out, "- took: {}", seconds(self.duration_ms));
        if let Some(resumed) = &self.resumed_from {
            let _ = writeln!(out, "- resumed from: `{}`", resumed.display());
        }
        match &self.recovery {
            Some(r) => {
                let _ = writeln!(out, "- recovery time: **{}** ({})", seconds(r.ms), r.detail);
            }
            None => out.push_str("- recovery time: no traffic moved\n"),
        }
        if let Some(error) = &self.error {
            let _ = writeln!(out, "- error (exit {}): {error}", self.exit_code);
        }
        out.push_str(
            "\n| step | kind | start | end | outcome | detail |\n|---|---|---|---|---|---|\n",
        );
        for step in &self.steps {
            table_rows(&mut out, step, 0);
        }
        if let Some(alarms) = &self.alarms {
            alarm_rows(&mut out, alarms);
        }
        out
    }

    /// One line: how the run ended.
    pub fn headline(&self) -> String {
        match self.outcome {
            RunOutcome::Succeeded => "succeeded".into(),
            RunOutcome::Failed => format!(
                "failed at step `{}` (exit {})",
                self.failed_step.as_deref().unwrap_or("?"),
                self.exit_code
            ),
            RunOutcome::AlreadyDone => "its end state already held; nothing was changed".into(),
            RunOutcome::DryRun => "dry run; nothing was changed".into(),
        }
    }
}

fn table_rows(out: &mut String, step: &StepReport, depth: usize) {
    let at = |ms: Option<u64>| ms.map_or_else(|| "-".to_owned(), seconds);
    let _ = writeln!(
        out,
        "| {}{} | {} | {} | {} | {} | {} |",
        "↳ ".repeat(depth),
        step.name,
        step.kind,
        at(step.start_ms),
        at(step.end_ms),
        step.outcome.word(),
        step.detail.replace('|', "\\|").replace('\n', " ")
    );
    for child in &step.steps {
        table_rows(out, child, depth + 1);
    }
}

fn alarm_rows(out: &mut String, alarms: &EndAlarms) {
    let _ = writeln!(
        out,
        "\n## Alarms at the end (read at {}): {}\n\n| app | alarm | about | held in | state | since | reason |\n|---|---|---|---|---|---|---|",
        seconds(alarms.read_ms),
        alarms.summary()
    );
    for app in &alarms.apps {
        for alarm in &app.alarms {
            let r = &alarm.reading;
            let _ = writeln!(
                out,
                "| {} | {} (`{}`) | {} | {} | {} | {} | {} |",
                app.app,
                alarm.kind.as_str(),
                alarm.name,
                alarm.about,
                alarm.region,
                r.state.as_str(),
                r.updated.as_deref().unwrap_or("-"),
                r.reason
                    .as_deref()
                    .or(r.error.as_deref())
                    .unwrap_or("")
                    .replace('|', "\\|")
                    .replace('\n', " ")
            );
        }
    }
    for region in alarms.cloudwatch.iter().filter(|r| !r.answered) {
        let _ = writeln!(
            out,
            "\nCloudWatch in {} did not answer: {}",
            region.region,
            region.error.as_deref().unwrap_or("no answer")
        );
    }
}

/// `1.234 s`.
pub fn seconds(ms: u64) -> String {
    format!("{:.3} s", ms as f64 / 1000.0)
}

fn write_whole(path: &Path, text: &str) -> Result<(), String> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use topology::Region;
    use topology::manifest::AlarmKind;

    use super::*;
    use crate::alarms::AlarmReading;

    fn alarm(kind: AlarmKind, about: &str, state: AlarmState) -> AlarmStatus {
        let about: Region = about.parse().unwrap();
        AlarmStatus {
            kind,
            region: about.clone(),
            name: format!("mra-orders-{about}-{}", kind.as_str()),
            about,
            reading: AlarmReading {
                state,
                reason: Some("Threshold Crossed: 1 | 2 datapoints".into()),
                updated: None,
                error: None,
            },
        }
    }

    fn report(alarms: Option<EndAlarms>) -> PlanReport {
        PlanReport {
            plan: "move".into(),
            description: String::new(),
            file: "plans/move.toml".into(),
            mechanism: "arc".into(),
            started_at: "2026-12-07T13:00:00Z".into(),
            outcome: RunOutcome::Succeeded,
            duration_ms: 1500,
            failed_step: None,
            exit_code: 0,
            error: None,
            resumed_from: None,
            recovery: None,
            steps: Vec::new(),
            alarms,
        }
    }

    #[test]
    fn end_alarms_count_each_state_and_name_those_firing() {
        let alarms = EndAlarms {
            read_ms: 1200,
            apps: vec![AppAlarms {
                app: "orders".parse().unwrap(),
                alarms: vec![
                    alarm(AlarmKind::ErrorRate, "us-east-1", AlarmState::Alarm),
                    alarm(AlarmKind::ErrorRate, "us-west-2", AlarmState::Ok),
                    alarm(AlarmKind::Latency, "us-west-2", AlarmState::Ok),
                    alarm(AlarmKind::Latency, "us-east-1", AlarmState::Unknown),
                ],
            }],
            cloudwatch: vec![RegionAnswer {
                region: "us-east-1".parse().unwrap(),
                answered: false,
                elapsed_ms: 2000,
                error: Some("timed out".into()),
            }],
        };
        assert_eq!(
            alarms.summary(),
            "2 OK, 1 ALARM (orders us-east-1 error-rate), 1 UNKNOWN"
        );
        let markdown = report(Some(alarms)).markdown();
        assert!(
            markdown.contains("## Alarms at the end (read at 1.200 s): 2 OK, 1 ALARM"),
            "{markdown}"
        );
        // One row per alarm; a `|` in CloudWatch's reason does not split the row.
        assert!(
            markdown.contains("| orders | error-rate (`mra-orders-us-east-1-error-rate`) | us-east-1 | us-east-1 | ALARM | - | Threshold Crossed: 1 \\| 2 datapoints |"),
            "{markdown}"
        );
        assert_eq!(markdown.matches("| orders |").count(), 4, "{markdown}");
        assert!(
            markdown.contains("CloudWatch in us-east-1 did not answer: timed out"),
            "{markdown}"
        );
    }

    #[test]
    fn a_report_without_alarms_has_no_alarm_section_and_no_json_key() {
        let report = report(None);
        assert!(!report.markdown().contains("Alarms at the end"));
        let json = serde_json::to_value(&report).unwrap();
        assert!(json.get("alarms").is_none(), "{json}");
        // A report written before alarms were recorded still loads (for `--resume`).
        let back: PlanReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }
}
