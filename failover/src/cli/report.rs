//! What each command produced, as one value, rendered once: as text for people or as one JSON
//! document on stdout for scripts (`--json`).

use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Value, json};
use topology::Mechanism;

use super::text;
use crate::error::{FailoverError, exit};
use crate::gate::GateReport;
use crate::plan::{CheckReport, Plan, PlanReport};
use crate::plane::{DeploymentStatus, MoveOutcome};
use crate::verified::Verified;

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// The report of one command.
#[derive(Debug)]
pub enum Report {
    /// `failover status`.
    Status(DeploymentStatus),
    /// A shift or evacuation with `--dry-run`: what would be sent, and what the gate says.
    DryRun(DryRun),
    /// A shift or evacuation that moved apps (routing controls changed, or flags published).
    Moved(Moved),
    /// `plan list`.
    PlanList(PlanList),
    /// `plan check`.
    PlanCheck(CheckReport),
    /// `plan run`.
    PlanRun(PlanRun),
    /// The command failed with nothing else to report (a split shift says how far it got).
    Failed(FailoverError),
}

/// The plans of a folder, each loaded or with why not.
#[derive(Debug)]
pub struct PlanList {
    pub dir: PathBuf,
    pub entries: Vec<Result<Plan, String>>,
}

/// A plan run: its report, where it was written, and its failure.
#[derive(Debug)]
pub struct PlanRun {
    pub report: PlanReport,
    /// The JSON and Markdown files, or why they could not be written.
    pub written: Result<(PathBuf, PathBuf), String>,
    pub failure: Option<FailoverError>,
}

impl PlanRun {
    pub fn new(report: PlanReport, written: Result<(PathBuf, PathBuf), String>) -> Self {
        let failure = match (&written, &report.error) {
            (_, Some(error)) => Some(FailoverError::Plan {
                message: format!("plan `{}` stopped: {error}", report.plan),
                code: report.exit_code,
            }),
            (Err(e), None) => Some(FailoverError::Setup(e.clone())),
            (Ok(_), None) => None,
        };
        Self {
            report,
            written,
            failure,
        }
    }
}

/// What a dry run would send.
#[derive(Debug, Serialize)]
pub struct DryRun {
    pub mechanism: Mechanism,
    #[serde(flatten)]
    pub plan: MoveOutcome,
    /// The replication gate's reading; `None` when forced past a reading that failed.
    pub gate: Option<GateReport>,
    /// Whether the move would be refused (exit 6) without `--dry-run`.
    pub gate_refuses: bool,
}

/// What a move did and, with `--verify`, what each app's stages saw.
#[derive(Debug)]
pub struct Moved {
    pub mechanism: Mechanism,
    pub gate: Option<GateReport>,
    pub shift: MoveOutcome,
    /// One per app with `--verify` (those whose stages were reached), else `None`.
    pub verified: Option<Vec<Verified>>,
    /// Why the command fails although the apps moved (a verification).
    pub failure: Option<FailoverError>,
}

impl Report {
    /// The failure that ends the command, if any.
    pub fn failure(&self) -> Option<&FailoverError> {
        match self {
            Self::Failed(error) => Some(error),
            Self::Moved(moved) => moved.failure.as_ref(),
            Self::PlanRun(run) => run.failure.as_ref(),
            Self::Status(_) | Self::DryRun(_) | Self::PlanList(_) | Self::PlanCheck(_) => None,
        }
    }

    /// The binary's exit code.
    pub fn exit_code(&self) -> u8 {
        if let Self::PlanCheck(check) = self {
            return check.exit_code();
        }
        self.failure().map_or(exit::OK, FailoverError::exit_code)
    }

    /// What goes on stdout: nothing in text for a failure (it goes to stderr).
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => self.text(),
            Format::Json => {
                let doc = serde_json::to_string_pretty(&self.json()).expect("JSON values print");
                format!("{doc}\n")
            }
        }
    }

    fn text(&self) -> String {
        match self {
            Self::Status(status) => text::status(status),
            Self::DryRun(dry) => {
                let mut out = text::plan(&dry.plan, true);
                if let Some(gate) = &dry.gate {
                    out.push_str(&text::gate(gate));
                }
                out.push_str(if dry.gate_refuses {
                    "without --dry-run the gate would refuse this move (exit 6)\n"
                } else {
                    "the gate would let this move through\n"
                });
                out
            }
            Self::Moved(moved) => {
                let mut out = text::outcome(&moved.shift);
                if let Some(verified) = &moved.verified {
                    out.push_str(&text::verified(verified));
                }
                out
            }
            Self::PlanList(list) => text::plan_list(list),
            Self::PlanCheck(check) => text::plan_check(check),
            Self::PlanRun(run) => text::plan_run(run),
            Self::Failed(_) => String::new(),
        }
    }

    fn json(&self) -> Value {
        match self {
            Self::Status(status) => value(status),
            Self::DryRun(dry) => value(dry),
            Self::Moved(moved) => {
                let mut doc = json!({
                    "mechanism": moved.mechanism,
                    "gate": moved.gate,
                    "shift": moved.shift,
                });
                if let Some(verified) = &moved.verified {
                    doc["verified"] = value(verified);
                }
                if let Some(error) = &moved.failure {
                    doc["error"] = error.to_string().into();
                    doc["exit_code"] = error.exit_code().into();
                }
                doc
            }
            Self::PlanList(list) => json!({
                "dir": list.dir,
                "plans": list.entries.iter().map(|e| match e {
                    Ok(plan) => json!({ "name": plan.name, "file": plan.path, "description": plan.description, "steps": plan.steps }),
                    Err(error) => json!({ "error": error }),
                }).collect::<Vec<_>>(),
            }),
            Self::PlanCheck(check) => {
                let mut doc = value(check);
                doc["exit_code"] = check.exit_code().into();
                doc
            }
            Self::PlanRun(run) => {
                let mut doc = value(&run.report);
                match &run.written {
                    Ok((json_path, markdown)) => {
                        doc["report_files"] = json!({ "json": json_path, "markdown": markdown });
                    }
                    Err(e) => doc["report_files"] = json!({ "error": e }),
                }
                doc
            }
            Self::Failed(error) => {
                json!({ "error": error.to_string(), "exit_code": error.exit_code() })
            }
        }
    }
}

fn value<T: Serialize>(data: &T) -> Value {
    serde_json::to_value(data).expect("plain data serializes")
}
