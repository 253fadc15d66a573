//! The topology model and the deployment manifest, as types.
//!
//! `topology.toml` is the one description of the system; the manifest is what a deploy
//! (AWS or local) wrote down about it, and all the failover path needs. Every other crate
//! reads these types instead of parsing the files on its own. This crate has no AWS
//! dependency on purpose: the failover CLI and the local world must stay light.

mod arn;
pub mod auth;
pub mod duration;
pub mod manifest;
mod model;
mod names;
pub mod panels;
pub mod quota;

pub use arn::{ClusterArn, ControlPanelArn, RoutingControlArn, SafetyRuleArn};
pub use auth::AuthSettings;
pub use manifest::{Manifest, ManifestError};
pub use model::{
    AlarmOverrides, AlarmSettings, AlarmThresholds, App, ArcSettings, AwsSettings,
    FailoverSettings, GatewayApp, HealthCheckSettings, Index, LocalSettings, Mechanism, Regions,
    ServiceApp, Table, Topology, TopologyError,
};
pub use names::{AppName, DomainName, NameError, PanelName, Region};
pub use panels::{ControlPanel, PanelId};
