//! What a check found: every failed write and read-back with its reason, the last-writer-wins
//! probe's outcome, and the verdict ([`ConsistencyCheck::passed`]).

use serde::{Deserialize, Serialize};
use topology::{AppName, Region};

/// Which step of the check failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "step", content = "region")]
pub enum Step {
    /// The create, in the write Region.
    Write,
    /// The read-back in a Region.
    Read(Region),
}

/// One failed write or read-back, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The item's path, once the write gave it an id.
    pub item: Option<String>,
    #[serde(flatten)]
    pub step: Step,
    pub reason: String,
}

/// One of the two concurrent updates of the last-writer-wins probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LwwWrite {
    /// The Region whose instance the update was sent to.
    pub region: Region,
    /// Its status code, or why there was no response.
    pub outcome: String,
    pub acknowledged: bool,
    /// Refused by the service's write fence (`503` `region-fenced`): its Region's routing
    /// control is OFF, so the write could not collide with the other Region's.
    #[serde(default)]
    pub fenced: bool,
    /// The item's `updated_at` as this write's response returned it.
    pub updated_at: Option<String>,
}

/// What the last-writer-wins probe found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum LastWriterWins {
    /// Not run, and why (no update operation in the document, or not asked for).
    Skipped { reason: String },
    /// The probe could not get to the concurrent writes.
    Failed { reason: String },
    /// Both Regions updated the item at once.
    Done {
        /// The item's path.
        item: String,
        /// The update used, `METHOD path`.
        operation: String,
        writes: Vec<LwwWrite>,
        /// The Region of the write that both Regions ended with (the item's `region`).
        winner: Option<Region>,
        /// The item's `updated_at` in the end.
        final_updated_at: Option<String>,
        /// Whether the winner is the write with the later `updated_at`.
        later_write_won: Option<bool>,
        /// Whether both Regions returned the same item within the replication deadline.
        converged: bool,
        converged_after_seconds: Option<f64>,
    },
}

/// Everything the check did and found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsistencyCheck {
    pub app: AppName,
    pub write_region: Region,
    /// The Regions every item was read back from.
    pub read_regions: Vec<Region>,
    /// The create used, `POST /things`.
    pub create: String,
    /// The read used, `GET /things/{id}`.
    pub read: String,
    /// Creates sent.
    pub sent: u64,
    /// Creates answered with a 2xx and an id.
    pub acknowledged: u64,
    /// Acknowledged items read back intact from every Region.
    pub verified: u64,
    /// Reads sent.
    pub reads: u64,
    /// The longest time from an acknowledgement to the first intact read in the other Region.
    pub worst_replication_delay_seconds: Option<f64>,
    /// Every failed write and read-back.
    pub failures: Vec<Failure>,
    pub last_writer_wins: LastWriterWins,
}

impl ConsistencyCheck {
    /// Every write acknowledged and found intact in both Regions; the last-writer-wins probe,
    /// if run, converged, with both updates acknowledged — or one refused by the write fence
    /// of a Region whose control is OFF (no conflict at all) and the other acknowledged and
    /// winning.
    pub fn passed(&self) -> bool {
        let lww = match &self.last_writer_wins {
            LastWriterWins::Skipped { .. } => true,
            LastWriterWins::Failed { .. } => false,
            LastWriterWins::Done {
                writes,
                converged,
                later_write_won,
                ..
            } => {
                let fenced = writes.iter().any(|w| w.fenced);
                *converged
                    && writes.iter().all(|w| w.acknowledged || w.fenced)
                    && writes.iter().any(|w| w.acknowledged)
                    && (!fenced || *later_write_won == Some(true))
            }
        };
        self.sent > 0
            && self.acknowledged == self.sent
            && self.verified == self.acknowledged
            && self.failures.is_empty()
            && lww
    }

    /// What was sent and read, and what was found, for people.
    pub fn summary(&self) -> String {
        let regions: Vec<&str> = self.read_regions.iter().map(Region::as_str).collect();
        let mut out = format!(
            "{}: {} x {} in {}, {} acknowledged; {} read back from {} ({} reads), {} intact; worst replication delay {}",
            self.app,
            self.sent,
            self.create,
            self.write_region,
            self.acknowledged,
            self.read,
            regions.join(" and "),
            self.reads,
            self.verified,
            self.worst_replication_delay_seconds
                .map_or_else(|| "not observed".into(), |d| format!("{d:.3} s")),
        );
        for f in &self.failures {
            let step = match &f.step {
                Step::Write => "write".to_owned(),
                Step::Read(r) => format!("read in {r}"),
            };
            out += &format!(
                "\n  failed {step} {}: {}",
                f.item.as_deref().unwrap_or("(no id)"),
                f.reason
            );
        }
        out += &match &self.last_writer_wins {
            LastWriterWins::Skipped { reason } => {
                format!("\n  last writer wins: skipped ({reason})")
            }
            LastWriterWins::Failed { reason } => format!("\n  last writer wins: failed ({reason})"),
            LastWriterWins::Done {
                item,
                operation,
                writes,
                winner,
                later_write_won,
                converged,
                converged_after_seconds,
                ..
            } => {
                let sent: Vec<String> = writes
                    .iter()
                    .map(|w| {
                        let fenced = if w.fenced { ", fenced" } else { "" };
                        format!("{} {}{fenced}", w.region, w.outcome)
                    })
                    .collect();
                format!(
                    "\n  last writer wins: {operation} on {item} from both Regions ({}); won: {}{}; {}",
                    sent.join(", "),
                    winner.as_ref().map_or("unknown", Region::as_str),
                    match later_write_won {
                        Some(true) if writes.iter().any(|w| w.fenced) => " (the only write taken)",
                        Some(true) => " (the later write)",
                        Some(false) => " (NOT the later write)",
                        None => "",
                    },
                    match (converged, converged_after_seconds) {
                        (true, Some(s)) => format!("both Regions converged in {s:.3} s"),
                        _ => "the Regions did NOT converge".into(),
                    }
                )
            }
        };
        out
    }
}

/// A failed write.
pub(super) fn failure(item: Option<String>, reason: String) -> Failure {
    Failure {
        item,
        step: Step::Write,
        reason,
    }
}
