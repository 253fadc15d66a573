//! The `infra` binary's library: CloudFormation synthesis and the ordered deploy and destroy
//! of both Regions ([`aws`]). The local world is the `local-world` crate.

pub mod aws;
