//! The timeline's entries, shared by the timeline that records them and the view that carries
//! them to the page.

use serde::Serialize;

/// What an event is about; the page gives each kind a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A routing control changed state, or a flag was published.
    Control,
    /// Route 53's answer or a health check changed.
    Dns,
    /// The probe's traffic to an app moved or started failing.
    Traffic,
    /// An instance, a store or an ARC endpoint changed (faults and their repair).
    Fault,
    /// The ARC cluster's quorum changed.
    Quorum,
    /// The replication lag changed.
    Replication,
    /// An alarm changed state.
    Alarm,
    /// An action from the page succeeded.
    Action,
    /// An action from the page was refused or failed.
    Refused,
}

/// One entry of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEvent {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub kind: EventKind,
    pub text: String,
}
