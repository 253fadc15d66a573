//! Failover for the multi-Region template: the Route 53 ARC data-plane client (every call
//! rotates over the cluster's endpoints and survives most of them being unreachable), the
//! `failover` CLI's logic, and traffic verification after a shift. The local ARC cluster that
//! stands in for ARC in the local world and in tests is the `local-arc` crate.
//!
//! Invariant: the failover path makes no control-plane call; everything it needs is in the
//! deployment manifest.

pub mod cli;
pub mod client;
pub mod error;
pub mod gate;
pub mod ops;
pub mod prompt;
pub mod verified;
pub mod verify;

pub use client::{Answer, Answered, Client, ClientConfig, ListedControl, require_credentials};
pub use error::{FailoverError, exit};
pub use gate::{DEFAULT_MAX_LAG, GateConfig, GateReport, Reading};
pub use ops::{
    AppStatus, Batch, Change, ControlStatus, InitOutcome, ShiftOptions, ShiftOutcome, Status,
};
pub use verified::{Outcome, Stage, StageName, Verified, VerifyError};
pub use verify::{Prepared, QUORUM, VerifyConfig, prepare, verify, verify_all, verify_shift};
