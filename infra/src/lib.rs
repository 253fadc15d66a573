//! The `infra` binary's library: two targets for one topology.
//!
//! - [`aws`]: CloudFormation synthesis and the ordered deploy and destroy of both Regions;
//! - [`local`]: the local world, the whole architecture on loopback, and its demo.

pub mod aws;
pub mod local;
