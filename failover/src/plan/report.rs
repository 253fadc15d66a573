//! A plan run's report: every step's start, end, outcome and measurements, and the recovery
//! time, as JSON (what `--resume` reads back) and as Markdown for a person. Times are
//! milliseconds from the run's start; the start itself is wall-clock (RFC 3339).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
