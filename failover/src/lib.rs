//! Failover for the multi-Region template, over either mechanism a deployment uses: the Route
//! 53 ARC data-plane client (every call rotates over the cluster's endpoints and survives most
//! of them being unreachable) or the `health-check` mechanism's flags in CloudWatch (each
//! published into the Region that stays up); [`DataPlane`] drives whichever the manifest
//! names. Also the apps' alarms, the `failover` CLI's logic, and traffic verification after a
//! shift. The local stand-ins used in the local world and in tests are the `local-arc` and
//! `local-cloudwatch` crates.
//!
//! Invariant: the failover path makes no control-plane call; everything it needs is in the
//! deployment manifest.

pub mod alarms;
pub mod cli;
pub mod client;
pub mod cloudwatch;
pub mod error;
pub mod flags;
pub mod gate;
pub mod health_checks;
pub mod ops;
pub mod plan;
pub mod plane;
pub mod prompt;
pub mod verified;
pub mod verify;

pub use client::{Answer, Answered, Client, ClientConfig, ListedControl, require_credentials};
pub use error::{FailoverError, exit};
pub use flags::{FlagShift, FlagsClient};
pub use gate::{DEFAULT_MAX_LAG, GateConfig, GateReport, Reading};
pub use ops::{
    AppStatus, Batch, Change, ControlStatus, InitOutcome, ShiftOptions, ShiftOutcome, Status,
};
pub use plane::{AppState, DataPlane, DeploymentStatus, MoveOutcome};
pub use verified::{Outcome, Stage, StageName, Verified, VerifyError};
pub use verify::{
    Prepared, QUORUM, VerifyConfig, prepare, verify, verify_all, verify_move, verify_moves,
    verify_shift,
};
