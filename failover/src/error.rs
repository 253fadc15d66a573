//! What can go wrong, and the exit code each failure maps to (documented in `failover --help`).

use topology::{ManifestError, Region, SafetyRuleArn};

/// Exit codes of the `failover` binary.
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// Anything else: no AWS credentials, ARC or CloudWatch rejected the request as invalid,
    /// access denied, I/O.
    pub const OTHER: u8 = 1;
    /// Usage error: bad flags, unknown app or Region, unreadable or unknown manifest.
    pub const USAGE: u8 = 2;
    /// Refused by a safety rule; nothing was changed. ARC only: the health-check mechanism has
    /// no safety rules.
    pub const REFUSED: u8 = 3;
    /// No cluster endpoint reachable, or the cluster lost its quorum (ARC); the target Region's
    /// CloudWatch did not answer (health-check). The move was not made.
    pub const UNREACHABLE: u8 = 4;
    /// The change was made, but traffic did not reach the target Region in time.
    pub const VERIFY_TIMEOUT: u8 = 5;
    /// Refused by the replication gate: the target Region's copy of a table is behind; nothing
    /// was changed.
    pub const REPLICATION_BEHIND: u8 = 6;
    /// A plan's approval step was not given (no `--yes`, no `--approve STEP`, no terminal, or
    /// the person said no); the steps after it did not run.
    pub const NOT_APPROVED: u8 = 7;
    /// A plan step of its own failed: a wait or warm-up timed out, a team's command or HTTP
    /// call failed; or `plan check` found a target Region that does not answer.
    pub const STEP_FAILED: u8 = 8;
}

/// Why a failover operation did not complete.
#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    /// The request itself is wrong (unknown app or Region, empty list, ...).
    #[error("{0}")]
    Usage(String),
    /// The manifest cannot be used.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A safety rule blocked the change (ARC's ConflictException). Nothing changed.
    #[error("refused by safety rule {}: {message}", rule.as_ref().map_or("(not named by ARC)", |r| r.as_str()))]
    Refused {
        rule: Option<SafetyRuleArn>,
        message: String,
    },
    /// ARC answered with an error that retrying elsewhere would not fix.
    #[error("ARC rejected the request ({code}): {message}")]
    Rejected { code: String, message: String },
    /// No endpoint answered within the deadline, or the cluster has no quorum.
    #[error("{}", unreachable_text(.operation, .failures, *.quorum_lost))]
    Unreachable {
        operation: &'static str,
        /// One line per failed attempt: endpoint and reason.
        failures: Vec<String>,
        quorum_lost: bool,
    },
    /// A Region's CloudWatch did not answer a call the command cannot do without: the flag
    /// that moves traffic, published into the Region that stays up.
    #[error(
        "{operation} in {region}: {reason}. The move was not confirmed: retry when {region}'s CloudWatch answers (repeating a move is safe), and check `failover status`"
    )]
    RegionUnreachable {
        operation: &'static str,
        region: Region,
        reason: String,
    },
    /// No Region's CloudWatch answered: no flag could be read.
    #[error("no flag could be read, no Region's CloudWatch answered: {0}")]
    FlagsUnreadable(String),
    /// CloudWatch answered with an error that retrying would not fix.
    #[error("CloudWatch in {region} rejected {operation} ({code}): {message}")]
    CloudWatchRejected {
        operation: &'static str,
        region: Region,
        code: String,
        message: String,
    },
    /// The shift was made but traffic did not move in time.
    #[error(transparent)]
    Verify(#[from] crate::verified::VerifyError),
    /// Some batches of a split shift were applied before one failed.
    #[error(
        "{applied} of {total} batches were applied (every app in them has one Region ON), then: {source}"
    )]
    Partial {
        applied: usize,
        total: usize,
        source: Box<FailoverError>,
    },
    /// The replication gate refused: a target replica is further behind than allowed.
    #[error(
        "refused: replication behind: {} (more than --max-replication-lag {max:?}); nothing was changed. Wait for it to catch up, or pass --force",
        tables.join("; ")
    )]
    ReplicationBehind {
        /// One line per table behind: the table, its app, its Region and the lag measured.
        tables: Vec<String>,
        max: std::time::Duration,
    },
    /// The replication gate could not read a lag.
    #[error("{0}; nothing was changed (pass --force to move without the gate)")]
    Gate(String),
    /// The client could not be set up (e.g. no AWS credentials).
    #[error("{0}")]
    Setup(String),
    /// A plan run stopped, or a plan check failed, with the failing step's (or check's) code.
    #[error("{message}")]
    Plan { message: String, code: u8 },
}

fn unreachable_text(operation: &str, failures: &[String], quorum_lost: bool) -> String {
    let head = if quorum_lost {
        format!(
            "{operation}: the ARC cluster has lost its quorum (too many endpoints are down); nothing was changed. Retry when endpoints recover"
        )
    } else {
        format!(
            "{operation}: no ARC cluster endpoint answered before the deadline; nothing was changed. Check the network path to the endpoints, or raise --deadline"
        )
    };
    format!("{head}{}", last_error_per_endpoint(failures))
}

/// Each endpoint once, in the order they were first tried, with its last reason and how many
/// attempts it failed: a quorum loss is five lines, however long the retries went on.
fn last_error_per_endpoint(failures: &[String]) -> String {
    let mut endpoints: Vec<(&str, &str, usize)> = Vec::new();
    for failure in failures {
        let (endpoint, reason) = failure
            .split_once("): ")
            .map_or((failure.as_str(), ""), |(e, r)| (e, r));
        match endpoints.iter_mut().find(|(e, _, _)| *e == endpoint) {
            Some(seen) => {
                seen.1 = reason;
                seen.2 += 1;
            }
            None => endpoints.push((endpoint, reason, 1)),
        }
    }
    endpoints
        .iter()
        .map(|(endpoint, reason, attempts)| {
            let times = if *attempts == 1 {
                String::new()
            } else {
                format!(" ({attempts} attempts)")
            };
            if reason.is_empty() {
                format!("\n  - {endpoint}{times}")
            } else {
                format!("\n  - {endpoint}): {reason}{times}")
            }
        })
        .collect()
}

impl FailoverError {
    /// The binary's exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::Manifest(_) => exit::USAGE,
            Self::Refused { .. } => exit::REFUSED,
            Self::Unreachable { .. }
            | Self::RegionUnreachable { .. }
            | Self::FlagsUnreadable(_) => exit::UNREACHABLE,
            Self::Verify(e) if e.is_timeout() => exit::VERIFY_TIMEOUT,
            Self::ReplicationBehind { .. } => exit::REPLICATION_BEHIND,
            Self::Plan { code, .. } => *code,
            Self::Partial { source, .. } => source.exit_code(),
            Self::Verify(_)
            | Self::Rejected { .. }
            | Self::CloudWatchRejected { .. }
            | Self::Setup(_)
            | Self::Gate(_) => exit::OTHER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_endpoint_is_listed_once_with_its_last_error() {
        let failures: Vec<String> = (0..3)
            .flat_map(|round| {
                ["us-east-1 (http://a)", "us-west-2 (http://b)"]
                    .map(|e| format!("{e}: attempt {round} failed"))
            })
            .collect();
        let text = FailoverError::Unreachable {
            operation: "ListRoutingControls",
            failures,
            quorum_lost: true,
        }
        .to_string();
        assert_eq!(text.matches("us-east-1").count(), 1, "{text}");
        assert_eq!(text.matches("us-west-2").count(), 1, "{text}");
        assert!(
            text.contains("us-east-1 (http://a): attempt 2 failed (3 attempts)"),
            "{text}"
        );
        assert!(text.contains("quorum"), "{text}");
    }
}
