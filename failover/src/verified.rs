//! What a verification found: each stage reached, how it ended and what it saw, and why a
//! verification failed. Plain data, shared by the stages that fill it in ([`mod@crate::verify`]),
//! the errors that carry it ([`crate::error`]) and the CLI that prints it.

use std::time::Duration;

use serde::Serialize;
use topology::{AppName, Mechanism, Region};

/// The stages: the mechanism's own (ARC's quorum; the health-check mechanism's flag, alarm and
/// health check), then DNS and HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageName {
    Quorum,
    Flags,
    Alarm,
    HealthCheck,
    Authoritative,
    Recursive,
    Http,
}

impl StageName {
    /// The stages of `mechanism`, in order.
    pub fn of(mechanism: Mechanism) -> &'static [StageName] {
        match mechanism {
            Mechanism::Arc => &[
                Self::Quorum,
                Self::Authoritative,
                Self::Recursive,
                Self::Http,
            ],
            Mechanism::HealthCheck => &[
                Self::Flags,
                Self::Alarm,
                Self::HealthCheck,
                Self::Authoritative,
                Self::Recursive,
                Self::Http,
            ],
        }
    }

    /// What the stage looks at.
    pub fn name(self) -> &'static str {
        match self {
            Self::Quorum => "quorum",
            Self::Flags => "flag read-back",
            Self::Alarm => "alarm",
            Self::HealthCheck => "health check",
            Self::Authoritative => "authoritative DNS",
            Self::Recursive => "recursive DNS",
            Self::Http => "GET /",
        }
    }

    /// The stage's number with `mechanism` (from 1) and its name, as the table shows them.
    pub fn label(self, mechanism: Mechanism) -> String {
        let number = Self::of(mechanism)
            .iter()
            .position(|s| *s == self)
            .map_or(0, |i| i + 1);
        format!("{number} {}", self.name())
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
    /// The Region asked did not answer: neither passed nor failed. The later stages decide.
    Unknown,
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
    /// The deployment's mechanism: which stages there are.
    pub mechanism: Mechanism,
    /// Every stage reached, in order.
    pub stages: Vec<Stage>,
    /// From the call to the last stage's end, in milliseconds.
    pub elapsed_ms: u64,
    /// Looks made, over all stages.
    pub polls: u32,
}

impl Verified {
    /// Whether every stage of the mechanism was reached and none failed.
    pub fn passed(&self) -> bool {
        self.stages.len() == StageName::of(self.mechanism).len()
            && self.stages.iter().all(|s| s.outcome != Outcome::Failed)
    }
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(
        "verification failed at stage {} for {app}: after {:.1} s, {last} ({})",
        stage.label(*mechanism),
        waited.as_secs_f64(),
        match mechanism {
            Mechanism::Arc => "the routing controls are changed",
            Mechanism::HealthCheck => "the flags are published",
        }
    )]
    Stage {
        app: AppName,
        region: Region,
        mechanism: Mechanism,
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
