//! What a verification found: each stage reached, how it ended and what it saw, and why a
//! verification failed. Plain data, shared by the stages that fill it in ([`crate::verify`]),
//! the errors that carry it ([`crate::error`]) and the CLI that prints it.

use std::time::Duration;

use serde::Serialize;
use topology::{AppName, Region};

/// The four stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageName {
    Quorum,
    Authoritative,
    Recursive,
    Http,
}

impl StageName {
    /// The stage's number (1 to 4) and its label, as the table shows them.
    pub fn label(self) -> &'static str {
        match self {
            Self::Quorum => "1 quorum",
            Self::Authoritative => "2 authoritative DNS",
            Self::Recursive => "3 recursive DNS",
            Self::Http => "4 GET /",
        }
    }
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    /// Nothing to ask (e.g. no authoritative server in the manifest, or the URL names an address).
    Skipped,
}

/// One stage's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub stage: StageName,
    pub outcome: Outcome,
    /// From the call to the look that passed (or to giving up), in milliseconds.
    pub elapsed_ms: Option<u64>,
    /// What the stage saw: the passing answer, or the last wrong one.
    pub detail: String,
}

/// Where traffic for one app stood at each stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub app: AppName,
    pub region: Region,
    /// Every stage reached, in order.
    pub stages: Vec<Stage>,
    /// From the call to the last stage's end, in milliseconds.
    pub elapsed_ms: u64,
    /// Looks made, over all stages.
    pub polls: u32,
}

impl Verified {
    /// Whether every stage reached passed or was skipped (and all four were reached).
    pub fn passed(&self) -> bool {
        self.stages.len() == 4 && self.stages.iter().all(|s| s.outcome != Outcome::Failed)
    }
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "verification failed at stage {} for {app}: after {:.1} s, {last} (the routing controls are changed)",
        stage.label(),
        waited.as_secs_f64()
    )]
    Stage {
        app: AppName,
        region: Region,
        stage: StageName,
        waited: Duration,
        /// What the last look saw.
        last: String,
        /// The stages reached, the failed one last.
        report: Box<Verified>,
    },
    #[error("cannot verify {app}: {message}")]
    Setup { app: AppName, message: String },
}

impl VerifyError {
    /// Whether a stage failed (exit code 5) rather than the set-up.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Stage { .. })
    }

    /// The stages reached, when a stage failed.
    pub fn report(&self) -> Option<&Verified> {
        match self {
            Self::Stage { report, .. } => Some(report),
            Self::Setup { .. } => None,
        }
    }
}
