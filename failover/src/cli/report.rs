//! What each command produced, as one value, rendered once: as text for people or as one JSON
//! document on stdout for scripts (`--json`).

use serde::Serialize;
use serde_json::{Value, json};
use topology::Mechanism;

use super::text;
use crate::error::{FailoverError, exit};
use crate::gate::GateReport;
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
    /// The command failed with nothing else to report (a split shift says how far it got).
    Failed(FailoverError),
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
            Self::Status(_) | Self::DryRun(_) => None,
        }
    }

    /// The binary's exit code.
    pub fn exit_code(&self) -> u8 {
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
            Self::Failed(error) => {
                json!({ "error": error.to_string(), "exit_code": error.exit_code() })
            }
        }
    }
}

fn value<T: Serialize>(data: &T) -> Value {
    serde_json::to_value(data).expect("plain data serializes")
}
