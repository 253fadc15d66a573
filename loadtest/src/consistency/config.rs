//! What a check is asked to do, and why it could not run at all.

use std::path::PathBuf;
use std::time::Duration;

use topology::{AppName, Region};

use crate::error::ConfigError;

/// What to check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckConfig {
    /// The service to check.
    pub app: AppName,
    /// The Region whose instance receives the writes.
    pub write_region: Region,
    /// How many items to write.
    pub writes: usize,
    /// How long after its acknowledgement an item may take to be readable in both Regions.
    pub replication_deadline: Duration,
    /// Each request's time limit.
    pub request_timeout: Duration,
    /// How often an item not found yet is read again.
    pub read_interval: Duration,
    /// Whether to run the last-writer-wins probe.
    pub last_writer_wins: bool,
    /// PEM files of certificate authorities to trust for `https` URLs, besides the system's.
    pub extra_root_certificates: Vec<PathBuf>,
}

impl CheckConfig {
    /// `writes` items of `app` written in `write_region`, a 5 s replication deadline, and the
    /// last-writer-wins probe.
    pub fn new(app: AppName, write_region: Region, writes: usize) -> Self {
        Self {
            app,
            write_region,
            writes,
            replication_deadline: Duration::from_secs(5),
            request_timeout: Duration::from_secs(2),
            read_interval: Duration::from_millis(100),
            last_writer_wins: true,
            extra_root_certificates: Vec::new(),
        }
    }
}

/// Why the check could not run at all (a failed write or read is a finding, not an error).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("`{0}` is not an app of the manifest")]
    UnknownApp(AppName),
    #[error(
        "`{app}` has no Regional URL for {region} in the manifest: the check writes and reads each Region's instance directly"
    )]
    NoRegionalUrl { app: AppName, region: Region },
    #[error("cannot read `{app}`'s OpenAPI document at {url}: {reason}")]
    Document {
        app: AppName,
        url: String,
        reason: String,
    },
    #[error(
        "`{app}`'s OpenAPI document has no collection with a create and a read by id: {reason}"
    )]
    NoOperations { app: AppName, reason: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
}
